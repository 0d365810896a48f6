/// `tidhy eval`: evaluates a trained model on a series file, writing the evaluation record, metrics
/// and a report.
module TiDHy.Cli.EvalCommand

open System.IO
open System.Threading
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Inputs
open TiDHy.Cli.RunFolder
open TiDHy.Cli.Signals

type EvalArgs =
    | [<Mandatory>] Model of file: string
    | [<Mandatory>] Data of file: string
    | [<Mandatory>] Out of dir: string
    | Config of file: string
    | States of file: string
    | Batch_Size of int
    | Window of steps: int
    | Carry
    | True_Timescales of list: string
    | Seed of int
    | Force
    | Backend of name: string
    | Device of string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Force -> "replace the run files already in the output folder."
            | Window _ ->
                "evaluate in consecutive windows of this many steps, each from a zero state (upstream's and the paper's evaluation; the latents restart every window). Default: one continuous pass over the series."
            | True_Timescales _ ->
                "the true timescales of the data's dynamics, in steps, comma-separated (e.g. 41.96,5.73,11.74): the label-free timescales are matched to them (within 20%)."
            | Seed _ ->
                "seed of the decoding splits, the untrained model the measures compare with and the ARHMM baseline's restarts (default 0)."
            | Carry ->
                "with --window: carry the latents from each window to the next (the stateful carry): the same numbers as the default continuous pass, computed window by window."
            | Backend _ ->
                "the engine, named as the configuration's backend key names it: Reference, Fused or FusedFloat32; core (default: the configuration's own); or torch (in tidhy-torch only; docs/BACKENDS.md)."
            | Device _ -> "with --backend torch: cpu (default), cuda or cuda:N."
            | Batch_Size _ ->
                "the training batch size, >= 1 (default 16, train's default): windows per inference batch with --window; with upstream's batch_scaling BatchMean, a continuous pass infers as in batches of this size."
            | Model _ ->
                "a checkpoint (*.tidhy.json) or a state_dict JSON (then --config is needed). When its folder holds normalisation.json (written by tidhy train), --data is normalised with it first, as the model was trained."
            | Data _ -> "series [time × features] to evaluate: .csv, .npy, .npz or .h5 (file.h5:/path/to/dataset)."
            | Out _ ->
                "output folder: record.npz, record.h5, metrics.csv (the losses), measures.json (the measures the report shows) and index.html."
            | Config _ -> "configuration JSON, for a state_dict model."
            | States _ ->
                "true discrete states [time × systems] (.csv, .npy or .npz): plotted beside W, decoded from the record beside the baselines (raw input, its delay embedding, the untrained model, an ARHMM fitted to the series), and matched to the ARHMM's states."

/// The configuration and parameters of `--model`: a checkpoint (its best parameters when it has
/// them), or a state_dict with `--config`.
let private modelOf (path: string) (config: string option) (features: int) =
    if not (File.Exists path) then
        fail $"{path}: no such file."

    if isBlank path then
        fail $"{path}: the file is empty; --model takes a checkpoint (*.tidhy.json) or a state_dict JSON."

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
        | None ->
            // A run folder's model.json (the best parameters as a state_dict) has its config.json
            // and checkpoints beside it: say so.
            let beside (name: string) =
                let p = Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), name)
                if File.Exists p then Some p else None

            let hint =
                match beside "best.tidhy.json", beside "config.json" with
                | Some best, Some cfg -> $" (tidhy train's folder: --model {best}, or --config {cfg})"
                | None, Some cfg -> $" (--config {cfg}?)"
                | _ -> ""

            fail $"{path} is a state_dict, not a checkpoint: pass its --config too{hint}."
        | Some c ->
            let cfg = configFor (Some c) features

            try
                cfg, StateDict.load cfg path
            with StateDictException msg ->
                fail msg

/// The files `eval` writes into its output folder, in the order it writes them (the report last).
let EvalFiles =
    [ "record.npz"; "record.h5"; "metrics.csv"; "measures.json"; "index.html" ]

/// The name of the staging folder that `eval` writes its files into, inside the output folder,
/// before it moves them into place: `.tidhy-eval` + `DataFile.TempMarker` + 32 hex digits.
let private stagingName () =
    ".tidhy-eval" + DataFile.TempMarker + System.Guid.NewGuid().ToString "N"

/// Removes the staging folders that a killed `eval` left in `dir` (names of `stagingName`); call it
/// with the folder's lock held.
let private removeStaging (dir: string) =
    for d in Directory.EnumerateDirectories dir |> Seq.toArray do
        let name = Path.GetFileName d

        if
            name.StartsWith(".tidhy-eval", System.StringComparison.Ordinal)
            && DataFile.isTemporary name
        then
            try
                Directory.Delete(d, true)
            with :? IOException ->
                ()

/// `tidhy eval` stopped by `stop` (a Ctrl-C or SIGTERM in `run`) returning `stopCode ()`: checked
/// after evaluating and before each file is written. The files are written into a staging folder
/// inside `--out` and moved into place only once all are written, so a stopped (or failed) eval
/// leaves `--out` as it was: no record without its report, no temporary file, nothing a rerun
/// trips over (a killed one leaves its staging folder, which the next eval removes). `written name`
/// runs after each file of `EvalFiles` is staged (a test stops there).
let runWith (stop: CancellationToken) (stopCode: unit -> int) (written: string -> unit) (args: ParseResults<EvalArgs>) =
    let batchSize = args.GetResult(EvalArgs.Batch_Size, 16) |> positive "--batch-size"

    let backend =
        Backends.resolve (args.TryGetResult EvalArgs.Backend) (args.TryGetResult EvalArgs.Device)

    let dataPath = args.GetResult EvalArgs.Data
    let out = args.GetResult EvalArgs.Out
    use _lock = lockOutput out
    removeStaging out
    let replaced = guardOutput out (args.Contains EvalArgs.Force)
    let series = loadSeries dataPath
    let modelPath = args.GetResult EvalArgs.Model

    let cfg, p =
        modelOf modelPath (args.TryGetResult EvalArgs.Config) (Array2D.length2 series)

    // The normalisation that `tidhy train` fitted for the model (`normalisation.json` beside it).
    let series =
        match Normalising.tryRead (Path.GetDirectoryName(Path.GetFullPath modelPath)) with
        | Some n ->
            printfn
                "Normalised %s with %s (the training split's z-score, as the model was trained)."
                dataPath
                (Path.Combine(Path.GetDirectoryName modelPath, Normalising.FileName))

            Normalising.apply dataPath n series
        | None ->
            // A model trained on normalised data whose checkpoint was moved without its
            // normalisation.json would see the raw data here: say so when the data is far from
            // unit scale.
            Normalising.scaleWarning
                dataPath
                $"the folder of {modelPath} has no {Normalising.FileName}: if the model was trained on normalised data, put that file from its run folder beside the checkpoint, else eval sees another scale than training did."
                series
            |> Option.iter (eprintfn "%s")

            series

    let cfg = Backends.configure backend cfg

    let mode =
        match args.TryGetResult EvalArgs.Window, args.Contains EvalArgs.Carry with
        | None, false -> SeriesEvaluation.Continuous
        | None, true -> fail "--carry goes with --window (the default evaluation is already continuous)."
        | Some w, carry ->
            let w = positive "--window" w

            if w > Array2D.length1 series then
                fail $"--window {w}: longer than the {Array2D.length1 series} steps of {dataPath}."

            if carry then
                SeriesEvaluation.Carried w
            else
                SeriesEvaluation.Restarting w

    Data.checkDomain cfg dataPath series
    let engine = Backends.engineOf backend cfg

    let record =
        try
            Evaluate.evaluateSeriesWith (engine.EvaluateRecord cfg p) cfg batchSize mode series
        with :? System.ArgumentException as ex ->
            // The series' own problems (too long for the memory, non-finite values): one line.
            let suffix = $" (Parameter '{ex.ParamName}')"
            fail $"{dataPath}: {ex.Message.Replace(suffix, System.String.Empty)}"

    let steps = Evaluate.evaluatedSteps mode (Array2D.length1 series)
    let windows = record.I

    let losses =
        [
            "reconstruction loss", record.SpatialLossRHatAvg
            "forecast loss", record.SpatialLossRBarAvg
            "temporal loss", record.TempLossAvg
        ]

    // Nothing non-finite reaches a record or a report.
    match losses |> List.tryFind (snd >> System.Double.IsFinite >> not) with
    | Some(name, v) ->
        fail
            $"{dataPath}: inference diverged: the {name} is {v} ({100.0 * Train.maxIterShare cfg.MaxIter record.Iterations:F1}%% of inference steps stopped at max_iter = {cfg.MaxIter}); nothing written. Lower lr_r / lr_r2."
    | None -> ()

    let states =
        args.TryGetResult EvalArgs.States
        |> Option.map (fun f ->
            let s = loadStates f

            if Array2D.length1 s < steps then
                fail $"{f}: {Array2D.length1 s} time steps, fewer than the {steps} evaluated."

            s[.. steps - 1, *])

    let share = Train.maxIterShare cfg.MaxIter record.Iterations
    let seed = args.GetResult(EvalArgs.Seed, 0)

    let trueTimescales =
        args.TryGetResult EvalArgs.True_Timescales
        |> Option.map (fun text ->
            let values =
                text.Split(',', System.StringSplitOptions.TrimEntries)
                |> Array.map (fun v ->
                    match
                        System.Double.TryParse(
                            v,
                            System.Globalization.NumberStyles.Float,
                            System.Globalization.CultureInfo.InvariantCulture
                        )
                    with
                    | true, x when System.Double.IsFinite x && x > 0.0 -> x
                    | _ ->
                        fail
                            $"--true-timescales: '{v}' is not a positive number of steps (expected e.g. 41.96,5.73,11.74).")

            values)

    // The measures: the label-free timescales always; with --states, the decoding table and the
    // ARHMM baseline (fitted to the evaluated steps without their labels).
    let labels =
        states
        |> Option.map (fun s ->
            if
                Seq.cast<float> s
                |> Seq.exists (fun v -> not (v >= 0.0 && v = floor v && v < 1e9))
            then
                fail "--states: every state must be a non-negative integer."

            let labels = Decoding.stateLabels (Array2D.map int s)

            if Array.forall ((=) labels[0]) labels then
                eprintfn
                    "Warning: every evaluated step has the same state in --states: every decoder is right (accuracy 1.0) whatever the model learned."

            labels)

    let p0 = Train.init cfg (Random.key seed) |> _.Params

    let untrained =
        Evaluate.evaluateSeriesWith (engine.EvaluateRecord cfg p0) cfg batchSize mode series

    let arhmm =
        labels
        |> Option.map (fun l ->
            let k = Array.max l + 1
            let x = Decoding.flatten record.I

            printfn
                "Fitting the ARHMM baseline (%d states, one per distinct state label) to the %d evaluated steps..."
                k
                (Array2D.length1 x)

            try
                Measures.fitArhmm
                    (Random.foldIn 3 (Random.key seed))
                    k
                    Arhmm.defaults.Restarts
                    "the evaluated steps (without their labels)"
                    x
            with :? System.ArgumentException as ex ->
                fail $"{dataPath}: the ARHMM baseline cannot be fitted: {ex.Message}")

    let settings =
        { Decoding.defaultSettings with
            BlockLength = max 1 (min Decoding.defaultSettings.BlockLength (min steps Measures.MaxDecodedSteps / 8))
        }

    let measures =
        Measures.measure
            (Random.foldIn 2 (Random.key seed))
            settings
            (Evaluate.describe mode (Array2D.length1 series))
            p
            p0
            record
            untrained
            arhmm
            {
                Labels = labels
                Timescales = trueTimescales
            }

    let summary =
        [
            "data",
            $"{dataPath}: {Array2D.length1 series} steps, evaluated {Evaluate.describe mode (Array2D.length1 series)}"
            "reconstruction loss", $"{record.SpatialLossRHatAvg:F6}"
            "forecast loss", $"{record.SpatialLossRBarAvg:F6}"
            "temporal loss", $"{record.TempLossAvg:F6}"
            "inference steps stopped at max_iter", $"{100.0 * share:F1}%% (max_iter {cfg.MaxIter})"
        ]

    let write (dir: string) (name: string) =
        let path = Path.Combine(dir, name)

        match name with
        | "record.npz" -> Output.saveRecord path record
        | "record.h5" -> Output.saveRecordHdf5 path record
        | "metrics.csv" ->
            Report.writeAtomic
                path
                $"spatial_loss_rhat_avg,spatial_loss_rbar_avg,temp_loss_avg,max_iter_share\n{record.SpatialLossRHatAvg:R},{record.SpatialLossRBarAvg:R},{record.TempLossAvg:R},{share:R}\n"
        | "measures.json" -> Report.writeAtomic path (MeasuresJson.toText measures)
        | _ ->
            Report.writeWith
                (Measures.charts measures)
                dir
                "TiDHy evaluation"
                (summary @ Measures.reportLines measures)
                [||]
                (Some(Report.timeline record))
                states
            |> ignore

    let staging = Path.Combine(out, stagingName ())

    let placed =
        try
            Directory.CreateDirectory staging |> ignore

            let staged =
                EvalFiles
                |> List.forall (fun name ->
                    not stop.IsCancellationRequested
                    && (write staging name
                        written name
                        true))
                && not stop.IsCancellationRequested

            // Every file is written: move them into place, the report last. A signal from here on
            // is not checked (the moves are renames); a second one still ends the process at once.
            if staged then
                for name in EvalFiles do
                    File.Move(Path.Combine(staging, name), Path.Combine(out, name), true)

            staged
        finally
            if Directory.Exists staging then
                Directory.Delete(staging, true)

    if not placed then
        printfn "Stopped before the evaluation's files were in place: nothing written to %s." out
        stopCode ()
    else
        // What --force replaces that this eval did not write (the SVG plots of earlier versions);
        // never a run's checkpoints, configuration or weights.
        removeRunFiles
            out
            (replaced
             |> List.filter (fun f ->
                 not (
                     List.contains f [ "config.json"; "last.tidhy.json"; "best.tidhy.json"; "model.json" ]
                     || List.contains f EvalFiles
                 )))

        printfn "Evaluated %s." (Evaluate.describe mode (Array2D.length1 series))

        printfn
            "Losses per window (summed over time, averaged over windows): reconstruction %.6f, forecast %.6f, temporal %.6f. Record: %s; report: %s"
            record.SpatialLossRHatAvg
            record.SpatialLossRBarAvg
            record.TempLossAvg
            (Path.Combine(out, "record.npz"))
            (Path.Combine(out, "index.html"))

        Output.reportMaxIter "the" cfg.MaxIter share
        Measures.print measures

        // The loss of predicting 0 (each window's sum of squares, averaged): an objective a thousand
        // times larger than that has exploded.
        let energy =
            (Seq.cast<float> windows |> Seq.sumBy (fun v -> v * v))
            / float (Array3D.length1 windows)

        for name, v in losses do
            if v > 1000.0 * max energy 1.0 then
                eprintfn
                    "Warning: the %s exploded: %g, more than 1000 times the data's energy %g (the loss of predicting 0); inference diverges (lower lr_r / lr_r2)."
                    name
                    v
                    energy

        0

/// `tidhy eval`; returns the exit code. Ctrl-C or SIGTERM stops it before its files are in place
/// (`runWith`), with exit code 130 or 143; a second signal ends the process at once.
let run (args: ParseResults<EvalArgs>) =
    use cts = new CancellationTokenSource()

    use signals =
        new StopSignals(cts, "stopping; the evaluation's files are not put in place")

    runWith cts.Token (fun () -> signals.ExitCode) ignore args
