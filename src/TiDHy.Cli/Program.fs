/// The `tidhy` program: parses the command line (Argu) and runs one command (one module each),
/// turning errors into one-line messages. Exit codes: 0 done, 1 failed, 2 bad usage, 130 / 143
/// stopped by Ctrl-C / SIGTERM after saving a checkpoint.
module TiDHy.Cli.Program

open System
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Demo
open TiDHy.Cli.DataCommand
open TiDHy.Cli.TrainCommand
open TiDHy.Cli.EvalCommand
open TiDHy.Cli.ImportTorchCommand
open TiDHy.Cli.BenchCommand
open TiDHy.Cli.BaselineCommand
open TiDHy.Cli.SweepCommand
open TiDHy.Cli.ReproduceCommand

[<RequireQualifiedAccess>]
type CliArgs =
    | [<CliPrefix(CliPrefix.None)>] Demo of ParseResults<DemoArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Eval of ParseResults<EvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Import_Torch of ParseResults<ImportArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Baseline of ParseResults<BaselineArgs>
    | [<CliPrefix(CliPrefix.None)>] Sweep of ParseResults<SweepArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Demo _ -> "train and evaluate on a built-in switching series, writing a report."
            | Data _ ->
                "write a benchmark data set to a file (data slds: the paper's SLDS data at --scale demo or paper, as HDF5)."
            | Train _ -> "train a model on a series file."
            | Eval _ -> "evaluate a trained model on a series file."
            | Import_Torch _ -> "turn an upstream PyTorch state_dict (JSON) into a checkpoint."
            | Bench _ ->
                "time the inference loop (fused float32/float64 kernels against the reference path), or training steps (bench train)."
            | Baseline _ -> "fit a baseline model to a series file (baseline arhmm: an autoregressive HMM)."
            | Sweep _ ->
                "many training runs from one sweep file: plan, submit (here, or to SLURM as a job array), status, collect."
            | Reproduce _ ->
                "a published experiment in one command (reproduce slds: the paper's SLDS benchmark over data seeds, trained, monitored and scored on held-out blocks, one report)."

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<CliArgs>(programName = "tidhy")

    try
        let args = parser.ParseCommandLine(argv, raiseOnUsage = true)

        match args.GetSubCommand() with
        | CliArgs.Demo a -> guarded (fun () -> Demo.runArgs a)
        | CliArgs.Data a -> guarded (fun () -> DataCommand.run a)
        | CliArgs.Train a -> guarded (fun () -> TrainCommand.run a)
        | CliArgs.Eval a -> guarded (fun () -> EvalCommand.run a)
        | CliArgs.Import_Torch a -> guarded (fun () -> ImportTorchCommand.run a)
        | CliArgs.Bench a -> guarded (fun () -> BenchCommand.run a)
        | CliArgs.Baseline a -> guarded (fun () -> BaselineCommand.run a)
        | CliArgs.Sweep a -> guarded (fun () -> SweepCommand.run a)
        | CliArgs.Reproduce a -> guarded (fun () -> ReproduceCommand.run a)
    with :? ArguParseException as ex ->
        match ex.ErrorCode with
        | ErrorCode.HelpText ->
            printfn "%s" ex.Message
            0
        | _ ->
            eprintfn "%s" ex.Message
            2
