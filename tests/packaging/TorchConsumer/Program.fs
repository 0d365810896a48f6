// The torch backend from its package: a batch's inf_first_step and one training step on TorchSharp
// (CPU, float64) against the library's reference path. Exits 1 when they differ beyond rounding.
open TiDHy.Functional
open TiDHy.Torch

let cfg =
    { Config.defaults 4 with
        RDim = 3
        R2Dim = 2
        MixDim = 3
        HyperHidDim = 8
        MaxIter = 40
        Backend = Backend.Reference
    }

let p = Init.init cfg (Random.key 3)
let x = Array2D.init 5 4 (fun i j -> sin (0.7 * float (i * 4 + j)))

let maxDiff (a: float[,]) (b: float[,]) =
    Seq.zip (Seq.cast<float> a) (Seq.cast<float> b)
    |> Seq.map (fun (u, v) -> abs (u - v))
    |> Seq.max

let first =
    maxDiff (Inference.inferFirstStep cfg p x).R ((TorchBackend.engine TorchOptions.cpu).InferFirstStep cfg p x).R

let windows =
    Array3D.init 4 6 4 (fun w t d -> cos (0.3 * float (w * 6 + t) + float d))

let state = Train.init cfg (Random.key 4)
let _, expected = Train.step cfg state windows
let _, actual = (TorchBackend.engine TorchOptions.cpu).Step cfg state windows
let loss = abs (expected.Total - actual.Total) / abs expected.Total

printfn
    $"torch consumer: inf_first_step max |torch - reference| = {first:E2}; training step loss relative difference = {loss:E2}"

exit (if first < 1e-9 && loss < 1e-9 then 0 else 1)
