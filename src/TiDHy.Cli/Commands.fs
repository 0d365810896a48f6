/// The `tidhy` commands: `demo`, `train`, `eval`, `import-torch` and `bench`, their arguments (Argu)
/// and their work. Every command returns an exit code: 0 done, 1 failed (the message names the
/// file, field or value), 2 bad usage, 130 stopped by Ctrl-C after saving a checkpoint.
module TiDHy.Cli.Commands

open System
open System.IO
open System.Text.Json.Nodes
open System.Threading
open Argu
open TiDHy.Functional

type DemoArgs =
    | Seed of int
    | Epochs of int
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seed _ -> "seed of the data, the model and the shuffle (default 1)."
            | Epochs _ -> "training epochs (default 40)."
            | Out _ -> "report folder (default ./tidhy-demo)."

type TrainArgs =
    | [<Mandatory>] Data of file: string
    | Config of file: string
    | [<Mandatory>] Out of dir: string
    | Val_Data of file: string
    | Val_Fraction of float
    | Epochs of int
    | Batch_Size of int
    | Seed of int
    | Validate_Every of int
    | Resume

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "training series [time × features]: .csv (header optional), .npy or .npz."
            | Config _ ->
                "configuration JSON with MODEL.md's names; missing keys take the defaults, input_dim comes from the data."
            | Out _ -> "output folder: config.json, checkpoints, model.json, metrics.csv, plots and index.html."
            | Val_Data _ -> "validation series (default: the last --val-fraction of --data)."
            | Val_Fraction _ ->
                "fraction of the series held out for validation when --val-data is absent (default 0.1; 0 for none)."
            | Epochs _ -> "train until this many epochs are complete (default: the config's num_epochs)."
            | Batch_Size _ -> "windows per batch (default 16)."
            | Seed _ -> "seed of the initialisation and the shuffle (default 0)."
            | Validate_Every _ -> "validate every this many epochs (default 1)."
            | Resume -> "continue from the output folder's last.tidhy.json."

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

type ImportArgs =
    | [<Mandatory>] State_Dict of file: string
    | [<Mandatory>] Config of file: string
    | [<Mandatory>] Out of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | State_Dict _ -> "PyTorch state_dict saved as JSON ({name: {\"shape\": [...], \"data\": [...]}})."
            | Config _ -> "the model's configuration JSON (upstream names)."
            | Out _ -> "the checkpoint to write (*.tidhy.json), usable by train --resume and eval."

type BenchArgs =
    | Batch of sizes: string
    | Json
    | No_Reference
    | Max_Reference_Batch of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batch _ -> "comma-separated batch sizes (default 1,16,256,2048)."
            | Json -> "one JSON line per implementation and batch size."
            | No_Reference -> "skip the slow F# reference path."
            | Max_Reference_Batch _ -> "time the reference path only up to this batch size (default 4096)."

[<RequireQualifiedAccess>]
type CliArgs =
    | [<CliPrefix(CliPrefix.None)>] Demo of ParseResults<DemoArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Eval of ParseResults<EvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Import_Torch of ParseResults<ImportArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Demo _ -> "train and evaluate on a built-in switching series, writing a report."
            | Train _ -> "train a model on a series file."
            | Eval _ -> "evaluate a trained model on a series file."
            | Import_Torch _ -> "turn an upstream PyTorch state_dict (JSON) into a checkpoint."
            | Bench _ -> "time the inference loop: fused float32/float64 kernels against the reference path."

/// A failure the user can fix, reported as one line without a stack trace.
exception UserError of string

let private fail msg = raise (UserError msg)

/// The configuration from `path` (or the defaults) for data with `features` columns: `input_dim`
/// is taken from the data when absent and must match it when present.
let configFor (path: string option) (features: int) : Config =
    match path with
    | None -> Config.defaults features
    | Some path ->
        let text =
            try
                File.ReadAllText path
            with ex ->
                fail $"{path}: cannot be read: {ex.Message}"

        let node =
            try
                JsonNode.Parse text
            with ex ->
                fail $"{path}: not valid JSON: {ex.Message}"

        match node with
        | :? JsonObject as o ->
            match o["input_dim"] with
            | null -> o["input_dim"] <- JsonValue.Create features
            | v when
                v.GetValueKind() = Text.Json.JsonValueKind.Number
                && v.GetValue<int>() <> features
                ->
                fail $"{path}: input_dim = {v} but the data has {features} features."
            | _ -> ()

            try
                ConfigJson.parse (o.ToJsonString())
            with InvalidConfigException errs ->
                let listed = String.Join("; ", errs |> List.map string)
                fail $"{path}: {listed}"
        | _ -> fail $"{path}: expected a JSON object of hyperparameters."

/// Loads a series `[time; features]` from a .csv, .npy or .npz file.
let loadSeries (path: string) : float[,] =
    if not (File.Exists path) then
        fail $"{path}: no such file."

    Data.load path

/// Windows of `cfg.SequenceLength` steps starting `step` apart (upstream's `stack_data`), of a
/// series; an error naming `what` when the series is shorter than one window.
let windowsOf (what: string) (cfg: Config) (step: int) (series: float[,]) =
    if Array2D.length1 series < cfg.SequenceLength then
        fail
            $"{what}: {Array2D.length1 series} time steps, fewer than one window of sequence_length = {cfg.SequenceLength}."

    Series.windowsStrided cfg.SequenceLength step series

/// Installs a Ctrl-C handler for the lifetime of the returned value: the first Ctrl-C cancels `cts`
/// instead of killing the process (training stops after its batch and saves a checkpoint), a second
/// one ends the process.
let cancelOnCtrlC (cts: CancellationTokenSource) =
    let handler =
        ConsoleCancelEventHandler(fun _ e ->
            // The first Ctrl-C stops cleanly; a second one ends the process at once.
            if not cts.IsCancellationRequested then
                e.Cancel <- true
                eprintfn "Stopping after the current batch and saving a checkpoint (Ctrl-C again to quit at once)…"
                cts.Cancel())

    Console.CancelKeyPress.AddHandler handler

    { new IDisposable with
        member _.Dispose() =
            Console.CancelKeyPress.RemoveHandler handler
    }

let private summaryOf (cfg: Config) (state: TrainState) =
    [
        "model",
        $"D={cfg.InputDim}, R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, loss {Config.lossName cfg.Loss}"
        "epochs", string state.Epoch
        match state.Best with
        | Some b -> "best", $"epoch {b.Epoch + 1}, score {b.Score:F6}"
        | None -> ()
    ]

/// `tidhy train`.
let train (args: ParseResults<TrainArgs>) =
    let dataPath = args.GetResult TrainArgs.Data
    let out = args.GetResult TrainArgs.Out
    let series = loadSeries dataPath
    let cfg = configFor (args.TryGetResult TrainArgs.Config) (Array2D.length2 series)

    let trainSeries, validSeries =
        match args.TryGetResult TrainArgs.Val_Data with
        | Some v -> series, Some(loadSeries v)
        | None ->
            let fraction = args.GetResult(TrainArgs.Val_Fraction, 0.1)

            if fraction < 0.0 || fraction >= 1.0 then
                fail $"--val-fraction: expected a fraction in [0, 1), got {fraction}."

            let n = Array2D.length1 series
            let nValid = int (Math.Round(float n * fraction))

            if nValid = 0 then
                series, None
            else
                series[.. n - nValid - 1, *], Some series[n - nValid .., *]

    let trainWindows = windowsOf dataPath cfg cfg.Overlap trainSeries

    let validWindows =
        match validSeries, args.TryGetResult TrainArgs.Val_Data with
        | Some v, None when Array2D.length1 v < cfg.SequenceLength ->
            printfn
                "Note: the held-out %d steps are fewer than one window of %d; training without validation."
                (Array2D.length1 v)
                cfg.SequenceLength

            None
        | Some v, Some file -> Some(windowsOf file cfg cfg.SequenceLength v)
        | Some v, None -> Some(windowsOf "validation data" cfg cfg.SequenceLength v)
        | None, _ -> None

    Directory.CreateDirectory out |> ignore
    let last = Path.Combine(out, Train.LastCheckpoint)

    let state =
        if args.Contains TrainArgs.Resume then
            if not (File.Exists last) then
                fail $"--resume: {last} does not exist."

            try
                Checkpoint.load cfg last
            with CheckpointException msg ->
                fail msg
        elif File.Exists last then
            fail $"{out} already holds {Train.LastCheckpoint}; pass --resume to continue it, or choose another --out."
        else
            Train.init cfg (Random.key (args.GetResult(TrainArgs.Seed, 0)))

    Report.writeAtomic (Path.Combine(out, "config.json")) (ConfigJson.toJson cfg + "\n")

    let options =
        { Train.defaultFitOptions cfg with
            BatchSize = args.GetResult(TrainArgs.Batch_Size, 16)
            Epochs = args.GetResult(TrainArgs.Epochs, cfg.NumEpochs)
            Seed = args.GetResult(TrainArgs.Seed, 0)
            ValidateEvery = args.GetResult(TrainArgs.Validate_Every, 1)
            CheckpointDirectory = Some out
        }

    printfn
        "Training on %s: %d windows of %d steps starting %d apart, %s; epochs %d → %d; output %s"
        dataPath
        (Array3D.length1 trainWindows)
        cfg.SequenceLength
        cfg.Overlap
        (match validWindows with
         | Some v -> $"{Array3D.length1 v} validation windows"
         | None -> "no validation")
        state.Epoch
        options.Epochs
        out

    use cts = new CancellationTokenSource()
    use _ = cancelOnCtrlC cts

    let res =
        Progress.run state.Epoch options.Epochs (fun report ->
            Train.fit
                cfg
                { options with
                    Progress = report
                    Cancellation = cts.Token
                }
                trainWindows
                validWindows
                state)

    let s = res.State
    let best = s.Best |> Option.map _.Params |> Option.defaultValue s.Params
    StateDict.save (Path.Combine(out, "model.json")) best

    let tl =
        validWindows
        |> Option.map (fun v -> Report.timeline (Evaluate.evaluateBatched cfg best options.BatchSize v))

    let index = Report.write out "TiDHy training" (summaryOf cfg s) s.History tl None
    printfn "Report: %s" index

    if res.Cancelled then
        printfn "Stopped at epoch %d, batch %d; checkpoint %s. Resume with --resume." s.Epoch s.Batch last
        130
    else
        printfn "Done: %d epochs; best parameters in %s." s.Epoch (Path.Combine(out, "model.json"))
        0

/// The configuration and parameters of `--model`: a checkpoint, or a state_dict with `--config`.
let private modelOf (path: string) (config: string option) (features: int) =
    if not (File.Exists path) then
        fail $"{path}: no such file."

    let head =
        use f = File.OpenRead path
        let buf = Array.zeroCreate<byte> Checkpoint.Magic.Length
        let n = f.Read(buf, 0, buf.Length)
        Text.Encoding.ASCII.GetString(buf, 0, n)

    if head = Checkpoint.Magic then
        let cfg, state =
            try
                Checkpoint.read path
            with CheckpointException msg ->
                fail msg

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

/// `tidhy eval`.
let eval (args: ParseResults<EvalArgs>) =
    let dataPath = args.GetResult EvalArgs.Data
    let out = args.GetResult EvalArgs.Out
    let series = loadSeries dataPath

    let cfg, p =
        modelOf (args.GetResult EvalArgs.Model) (args.TryGetResult EvalArgs.Config) (Array2D.length2 series)

    let windows = windowsOf dataPath cfg cfg.SequenceLength series

    // Stateful windows chain exactly like one long series, so a stateful model is evaluated on
    // the windows' span as one window.
    let record =
        if cfg.Stateful then
            let n, t = Array3D.length1 windows, cfg.SequenceLength

            Evaluate.evaluateRecord
                cfg
                p
                None
                (Array3D.init 1 (n * t) cfg.InputDim (fun _ i d -> windows[i / t, i % t, d]))
        else
            Evaluate.evaluateBatched cfg p (args.GetResult(EvalArgs.Batch_Size, 16)) windows

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

/// `tidhy import-torch`.
let importTorch (args: ParseResults<ImportArgs>) =
    let sd = args.GetResult ImportArgs.State_Dict
    let cfgPath = args.GetResult ImportArgs.Config

    let text =
        try
            File.ReadAllText cfgPath
        with ex ->
            fail $"{cfgPath}: cannot be read: {ex.Message}"

    let cfg =
        try
            ConfigJson.parse text
        with InvalidConfigException errs ->
            let listed = String.Join("; ", errs |> List.map string)
            fail $"{cfgPath}: {listed}"

    let p =
        try
            StateDict.load cfg sd
        with StateDictException msg ->
            fail msg

    let out = args.GetResult ImportArgs.Out
    Checkpoint.save out cfg (Train.initState cfg p)
    printfn "Imported %s (%d tensors) into %s." sd (ParamLayout.ofParams p).Length out
    0

/// `tidhy bench`: the inference benchmark of bench/TiDHy.Bench (D=20, R=10, R2=5, M=15, H=50, T=3,
/// max_iter=50, tol=0), one line per implementation and batch size.
let bench (args: ParseResults<BenchArgs>) =
    let batches =
        args.GetResult(BenchArgs.Batch, "1,16,256,2048").Split(',')
        |> Array.map (fun s ->
            match Int32.TryParse(s.Trim()) with
            | true, b when b > 0 -> b
            | _ -> fail $"--batch: '{s}' is not a positive batch size.")
        |> List.ofArray

    TiDHy.Bench.InferenceBenchmark.inference
        batches
        (args.Contains BenchArgs.Json)
        (not (args.Contains BenchArgs.No_Reference))
        (args.GetResult(BenchArgs.Max_Reference_Batch, 4096))

    0
