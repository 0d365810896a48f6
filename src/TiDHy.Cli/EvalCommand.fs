/// `tidhy eval`: evaluates a trained model on a series file, writing the evaluation record, metrics
/// and a report.
module TiDHy.Cli.EvalCommand

open System.IO
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args

type EvalArgs =
    | [<Mandatory>] Model of file: string
    | [<Mandatory>] Data of file: string
    | [<Mandatory>] Out of dir: string
    | Config of file: string
    | States of file: string
    | Batch_Size of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batch_Size _ ->
                "windows per inference batch (default 16, train's default; with upstream's batch_scaling BatchMean inference depends on it)."
            | Model _ -> "a checkpoint (*.tidhy.json) or a state_dict JSON (then --config is needed)."
            | Data _ -> "series [time × features] to evaluate: .csv, .npy or .npz."
            | Out _ -> "output folder: record.npz, metrics.csv, plots and index.html."
            | Config _ -> "configuration JSON, for a state_dict model."
            | States _ -> "true discrete states [time × systems] to plot beside W (.csv, .npy or .npz)."

/// The configuration and parameters of `--model`: a checkpoint (its best parameters when it has
/// them), or a state_dict with `--config`.
let private modelOf (path: string) (config: string option) (features: int) =
    if not (File.Exists path) then
        fail $"{path}: no such file."

    if Checkpoint.isCheckpoint path then
        let stored =
            try
                Checkpoint.read path
            with CheckpointException msg ->
                fail msg

        let cfg, state = stored.Config, stored.State

        if cfg.InputDim <> features then
            fail $"{path}: the model has input_dim = {cfg.InputDim} but the data has {features} features."

        cfg, state.Best |> Option.map _.Params |> Option.defaultValue state.Params
    else
        match config with
        | None -> fail $"{path} is a state_dict, not a checkpoint: pass its --config too."
        | Some c ->
            let cfg = configFor (Some c) features

            try
                cfg, StateDict.load cfg path
            with StateDictException msg ->
                fail msg

/// `tidhy eval`; returns the exit code.
let run (args: ParseResults<EvalArgs>) =
    let dataPath = args.GetResult EvalArgs.Data
    let out = args.GetResult EvalArgs.Out
    let series = loadSeries dataPath

    let cfg, p =
        modelOf (args.GetResult EvalArgs.Model) (args.TryGetResult EvalArgs.Config) (Array2D.length2 series)

    let windows = windowsOf dataPath cfg cfg.SequenceLength series

    let record =
        Evaluate.evaluateSeriesWindows cfg p (args.GetResult(EvalArgs.Batch_Size, 16)) windows

    Directory.CreateDirectory out |> ignore
    Output.saveRecord (Path.Combine(out, "record.npz")) record

    let states =
        args.TryGetResult EvalArgs.States
        |> Option.map (fun f ->
            let s = loadSeries f
            let used = Array3D.length1 windows * cfg.SequenceLength

            if Array2D.length1 s < used then
                fail $"{f}: {Array2D.length1 s} time steps, fewer than the {used} evaluated."

            s[.. used - 1, *])

    let summary =
        [
            "data", $"{dataPath}: {Array3D.length1 windows} windows of {cfg.SequenceLength} steps"
            "reconstruction loss", $"{record.SpatialLossRHatAvg:F6}"
            "forecast loss", $"{record.SpatialLossRBarAvg:F6}"
            "temporal loss", $"{record.TempLossAvg:F6}"
        ]

    Report.writeAtomic
        (Path.Combine(out, "metrics.csv"))
        $"spatial_loss_rhat_avg,spatial_loss_rbar_avg,temp_loss_avg\n{record.SpatialLossRHatAvg:R},{record.SpatialLossRBarAvg:R},{record.TempLossAvg:R}\n"

    let index =
        Report.write out "TiDHy evaluation" summary [||] (Some(Report.timeline record)) states

    printfn
        "Evaluated %d windows: reconstruction %.6f, forecast %.6f, temporal %.6f. Record: %s; report: %s"
        (Array3D.length1 windows)
        record.SpatialLossRHatAvg
        record.SpatialLossRBarAvg
        record.TempLossAvg
        (Path.Combine(out, "record.npz"))
        index

    0
