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
            Engine = fun device -> TorchBackend.engine (options device)
            Benchmark = TorchBenchmark.run
        }

    Program.main argv
