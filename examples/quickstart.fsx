// Quickstart: TiDHy from an F# script.
// Build the library once (`dotnet build src/TiDHy.Functional -c Release`, or run the demo), then
// `dotnet fsi examples/quickstart.fsx`.
#r "../src/TiDHy.Functional/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/TiDHy.Functional/bin/Release/net10.0/TiDHy.Functional.dll"

open TiDHy.Functional
Fsi.install fsi // short printers for the library's values in F# Interactive

// A series [time; features]: two sine mixtures whose frequency switches every 60 steps.
let time, features = 480, 4

let series =
    Array2D.init time features (fun t d ->
        let f = if (t / 60) % 2 = 0 then 0.08 else 0.25
        sin (f * float t + float d) + 0.3 * cos (0.5 * f * float t * float (d + 1)))

// Windows [n; T; D] of 40 steps, and a small model.
let T = 40
let X = Array3D.init (time / T) T features (fun w t d -> series[w * T + t, d])

let cfg =
    { Config.defaults features with
        RDim = 6
        R2Dim = 3
        MixDim = 6
        HyperHidDim = 24
        MaxIter = 100
        SequenceLength = T
        Overlap = T
        NumEpochs = 50
    }

// `init` from an explicit key: the same key gives the same parameters.
let state0 = Train.init cfg (Random.key 42)
let before = Evaluate.evaluateRecord cfg state0.Params None X

// Train a few epochs, printing a line per epoch (any `FitProgress -> unit` sees every batch).
let fit =
    Train.fit
        cfg
        { Train.defaultFitOptions cfg with
            BatchSize = 4
            Epochs = 8
            Progress = Train.consoleProgress
        }
        X
        None
        state0

printfn "%s" (Fsi.fitResult fit) // what FSI shows for `fit`

let after = Evaluate.evaluateRecord cfg fit.State.Params None X

printfn
    "reconstruction loss %.4f -> %.4f, forecast loss %.4f -> %.4f"
    before.SpatialLossRHatAvg
    after.SpatialLossRHatAvg
    before.SpatialLossRBarAvg
    after.SpatialLossRBarAvg

// The latent state and the mixture weights of window 0 at step 10: r [R], W [M].
printfn "r = %A" after.RHat[0, 10, *]
printfn "W = %A" after.W[0, 10, *]

if not (after.SpatialLossRHatAvg < before.SpatialLossRHatAvg) then
    failwith "training did not lower the reconstruction loss"
