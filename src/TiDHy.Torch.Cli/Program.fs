/// `tidhy-torch`: `tidhy` with the torch backend registered as `--backend torch`.
module TiDHy.Torch.Cli.Program

open TiDHy.Torch
open TiDHy.Cli

let private options (device: string) = TorchOptions.onDevice device

[<EntryPoint>]
let main argv =
    Backends.register
        {
            Name = "torch"
            DefaultDevice = "cpu"
            CheckDevice =
                fun device ->
                    match TorchDevice.problem device with
                    | Some(DeviceProblem.Unknown why) -> Args.usage $"--device {why}"
                    | Some(DeviceProblem.Unavailable why) -> Args.fail $"--device {why}"
                    | None -> ()
            CheckConfig =
                fun cfg ->
                    try
                        TorchSupport.check cfg |> ignore
                    with :? System.NotSupportedException as ex ->
                        Args.fail $"--backend torch: {ex.Message}"
            Fit =
                fun device cfg fitOptions monitoring train validation state ->
                    match monitoring with
                    | Some m -> TorchBackend.fitMonitored (options device) cfg fitOptions m train validation state
                    | None -> TorchBackend.fit (options device) cfg fitOptions train validation state
            EvaluateBatched =
                fun device cfg p batchSize X -> TorchBackend.evaluateBatched (options device) cfg p batchSize X
            EvaluateSeriesWindows =
                fun device cfg p batchSize X -> TorchBackend.evaluateSeriesWindows (options device) cfg p batchSize X
            Benchmark = TorchBenchmark.run
        }

    Program.main argv
