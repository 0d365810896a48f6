module TiDHy.Cli.Program

open System
open Argu
open TiDHy.Cli.Commands
open TiDHy.Functional

/// Runs `f`, turning the library's and the user's errors into one-line messages and exit code 1.
let private guarded (f: unit -> int) =
    try
        f ()
    with
    | UserError msg ->
        eprintfn "tidhy: %s" msg
        1
    | InvalidConfigException errs ->
        eprintfn "tidhy: invalid configuration: %s" (String.Join("; ", errs |> List.map string))
        1
    | CheckpointException msg
    | StateDictException msg
    | DataFormatException msg ->
        eprintfn "tidhy: %s" msg
        1
    | :? ArgumentException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? InvalidOperationException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? IO.IOException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<CliArgs>(programName = "tidhy")

    try
        let args = parser.ParseCommandLine(argv, raiseOnUsage = true)

        match args.GetSubCommand() with
        | CliArgs.Demo a ->
            guarded (fun () ->
                Demo.run
                    (a.GetResult(DemoArgs.Seed, 1))
                    (a.GetResult(DemoArgs.Epochs, 40))
                    (a.GetResult(DemoArgs.Out, "tidhy-demo")))
        | CliArgs.Train a -> guarded (fun () -> train a)
        | CliArgs.Eval a -> guarded (fun () -> eval a)
        | CliArgs.Import_Torch a -> guarded (fun () -> importTorch a)
        | CliArgs.Bench a -> guarded (fun () -> bench a)
    with :? ArguParseException as ex ->
        match ex.ErrorCode with
        | ErrorCode.HelpText ->
            printfn "%s" ex.Message
            0
        | _ ->
            eprintfn "%s" ex.Message
            2
