/// The torch backend's rows of `tidhy bench` (from `tidhy-torch`): the workload of
/// `InferenceBenchmark` (a full forward over a window, T = 3, 50 iterations per inference step), timed
/// the same way, through the torch engine's `Forward` in float32 and float64 on the chosen device.
module TiDHy.Torch.Cli.TorchBenchmark

open TiDHy.Functional
open TiDHy.Cli
open TiDHy.Torch

/// Times the torch engine's `Forward` at every batch size, printing one line (or JSON line) each.
/// On the CPU each row stands beside the machine's FMA limit in its precision, measured once here
/// (`FmaLimit`); on a GPU the CPU's limit does not apply.
let run (device: string) (batches: int list) (asJson: bool) =
    let peak = if device = "cpu" then Some(FmaLimit.measure ()) else None

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

            let limit =
                peak
                |> Option.map (fun pk -> InferenceBenchmark.limitIn pk (precision = Precision.Float64))

            printfn
                "%s"
                (if asJson then
                     InferenceBenchmark.json limit m None
                 else
                     InferenceBenchmark.text limit m None)
