/// The torch backend's rows of `tidhy bench` (from `tidhy-torch`): the workload of
/// `InferenceBenchmark` (a full forward over a window, T = 3, 50 iterations per inference step), timed
/// the same way, through the torch engine's `Forward` in float32 and float64 on the chosen device.
module TiDHy.Torch.Cli.TorchBenchmark

open TiDHy.Functional
open TiDHy.Cli
open TiDHy.Torch

/// Times the torch engine's `Forward` at every batch size, printing one line (or JSON line) each.
let run (device: string) (batches: int list) (asJson: bool) =
    for batch in batches do
        let X = InferenceBenchmark.window batch
        let cfg = InferenceBenchmark.config Backend.Fused
        let p = Init.init cfg (Random.key 0)

        for precision, name in [ Precision.Float32, "torch-float32"; Precision.Float64, "torch-float64" ] do
            let options =
                {
                    Device = device
                    Precision = precision
                }

            let go () =
                (TorchBackend.engine options).Forward cfg p None X |> ignore

            let seconds, runs = InferenceBenchmark.best 1.0 3 50 2.0 go

            let m: InferenceBenchmark.Measurement =
                {
                    Impl = $"{name}@{device}"
                    Batch = batch
                    Seconds = seconds
                    Runs = runs
                }

            printfn
                "%s"
                (if asJson then
                     InferenceBenchmark.json m None
                 else
                     InferenceBenchmark.text m None)
