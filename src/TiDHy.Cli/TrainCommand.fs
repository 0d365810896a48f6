/// `tidhy train`: trains a model on a series file, writing checkpoints, the best weights as a
/// state_dict, metrics and a report.
module TiDHy.Cli.TrainCommand

open System.IO
open System.Threading
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Inputs
open TiDHy.Cli.RunFolder
open TiDHy.Cli.Signals

type TrainArgs =
    | [<Mandatory>] Data of file: string
    | Config of file: string
    | Preset of name: string
    | [<Mandatory>] Out of dir: string
    | Val_Data of file: string
    | Val_Fraction of float
    | Epochs of int
    | Batch_Size of int
    | Full_Batch
    | Seed of int
    | Validate_Every of int
    | States of file: string
    | Select of criterion: string
    | Monitor_Every of int
    | Resume
    | Force
    | Backend of name: string
    | Device of string
    | No_Normalise
    | Test_Fraction of float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | No_Normalise ->
                "train on the data as given. By default (with loss_type MSE) each feature is z-scored with the mean and standard deviation of the training split only, stored in the output folder's normalisation.json, which --resume and tidhy eval (on a model of this folder) apply; without it a warning names a feature far from unit scale (|mean| > 10·std, or std outside [0.01, 100])."
            | Test_Fraction _ ->
                "fraction of --data held out at its end as a test series, in [0, 1) (default 0: none): never trained or validated on, written to the output folder as test.npy (and test_states.npy with --states, when they are rows of --data); the validation is then the part before it. Evaluate the selected model on it with tidhy eval --model OUT/best.tidhy.json --data OUT/test.npy."
            | Data _ ->
                "training series [time × features]: .csv (header optional), .npy, .npz or .h5 (file.h5:/path/to/dataset)."
            | Config _ ->
                "configuration JSON with upstream's option names (docs/MODEL.md, docs/CLI.md); missing keys take the defaults, input_dim comes from the data."
            | Preset _ ->
                "set the options of a named preset on the configuration (--config or the defaults): recovery (docs/SWEEP.md), paper-pytorch or paper-jax (upstream's two SLDS configurations; train them with --full-batch)."
            | Out _ ->
                "output folder: config.json, checkpoints, model.json, metrics.csv (rewritten after each epoch), plots and index.html."
            | Val_Data _ -> "validation series (default: the last --val-fraction of --data)."
            | Val_Fraction _ ->
                "fraction of the series held out for validation when --val-data is absent, in [0, 1) (default 0.1; 0 for none); with --test-fraction, the part just before the test tail."
            | Epochs _ -> "train until this many epochs are complete, >= 1 (default: the config's num_epochs)."
            | Batch_Size _ -> "windows per batch, >= 1 (default 16; with --resume the checkpoint's)."
            | Full_Batch ->
                "every training window in one batch (upstream JAX's batch_size null; one optimizer step per epoch), recorded as --batch-size <the window count>; the memory it needs is checked before training starts."
            | Seed _ -> "seed of the initialisation and the shuffle (default 0; with --resume the checkpoint's)."
            | Validate_Every _ -> "validate every this many epochs, >= 0 (default 1; 0 only after the last)."
            | States _ ->
                "true discrete states [time × systems] (integers >= 0; .csv, .npy or .npz), one row per step of --val-data, or of --data when the validation is its held-out tail (sliced like the data): the validation steps' states are decoded (kNN, k = 3) from R2_hat, W, R_hat and the raw input every --monitor-every epochs, into metrics.csv's r2_hat_accuracy, w_accuracy, r_hat_accuracy and raw_input_accuracy."
            | Select _ ->
                "the best model: loss (lowest validation loss; default), r2 (highest r2_hat_accuracy) or w (highest w_accuracy); r2 and w need --states."
            | Monitor_Every _ -> "with --states, decode every this many epochs, >= 1 (and after the last; default 1)."
            | Resume ->
                "continue from the output folder's last.tidhy.json (same data, batch size and seed; its configuration unless --config is given)."
            | Force -> "replace the run files an earlier run left in the output folder and start afresh."
            | Backend _ ->
                "the engine, named as the configuration's backend key names it: Reference, Fused or FusedFloat32; core (default: the configuration's own); or torch (in tidhy-torch only; docs/BACKENDS.md)."
            | Device _ -> "with --backend torch: cpu (default), cuda or cuda:N."

let private summaryOf (cfg: Config) (state: TrainState) =
    [
        "model",
        $"D={cfg.InputDim}, R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, loss {Config.lossName cfg.Loss}"
        "epochs", string state.Epoch
        match state.Best with
        | Some b -> "best", $"epoch {b.Epoch + 1}, {b.Criterion} {b.Score:F6}"
        | None -> ()
        match Array.tryLast state.History with
        | Some h ->
            "inference steps stopped at max_iter (last epoch)",
            $"{100.0 * h.Train.MaxIterShare:F1}%% (max_iter {cfg.MaxIter})"
        | None -> ()
    ]

let private short (sha: string) = sha[..11]

/// `--resume`: the checkpoint `last`, checked against what this run would train on: the
/// configuration (when `--config` is given), the training and validation windows, the batch size
/// and the seed (when given), and the `--states` it decodes (`states`, their fingerprint; checked
/// when the checkpoint records one); each mismatch is an error naming it.
let private checkResume
    (last: string)
    (stored: StoredCheckpoint)
    (given: int option * int option)
    (trainWindows: float[,,])
    (validWindows: float[,,] option)
    (states: string option)
    =
    match stored.Run with
    | None -> ()
    | Some run ->
        let batchSize, seed = given

        match batchSize with
        | Some b when b <> run.BatchSize ->
            fail
                $"--resume: {last} was trained with --batch-size {run.BatchSize}, not {b}; omit --batch-size to keep it."
        | _ -> ()

        match seed with
        | Some sd when sd <> run.Seed ->
            fail $"--resume: {last} was trained with --seed {run.Seed}, not {sd}; omit --seed to keep it."
        | _ -> ()

        let here = Train.fingerprint trainWindows

        if here <> run.TrainSha256 then
            fail
                $"--resume: {last} was trained on other data: the training windows here (SHA-256 {short here}…) differ from the checkpoint's ({short run.TrainSha256}…); use the same --data, --val-data / --val-fraction, --test-fraction and configuration."

        let hereVal = validWindows |> Option.map Train.fingerprint

        if hereVal <> run.ValidationSha256 then
            let show = Option.map (fun h -> $"SHA-256 {short h}…") >> Option.defaultValue "none"

            fail
                $"--resume: {last} was validated on other data: the validation windows here ({show hereVal}) differ from the checkpoint's ({show run.ValidationSha256}); use the same --val-data / --val-fraction and --test-fraction."

        match run.StatesSha256, states with
        | Some h, Some here when h <> here ->
            fail
                $"--resume: {last} was monitored with other states: the validation steps' --states here (SHA-256 {short here}…) differ from the checkpoint's ({short h}…); use the same --states file, or start a new run."
        | Some h, None ->
            fail
                $"--resume: {last} was monitored with --states (SHA-256 {short h}…); pass the same --states to continue it."
        | _ -> ()

/// The options of `tidhy train`, checked before any file is read or written (`optionsOf`).
type private TrainOptions =
    {
        /// `--data`.
        DataPath: string
        /// `--out`.
        Out: string
        /// `--config`.
        ConfigPath: string option
        /// `--preset`.
        Preset: Preset option
        /// `--val-data`.
        ValData: string option
        /// `--val-fraction` (default 0.1).
        Fraction: float
        /// `--batch-size`, when given.
        BatchSizeGiven: int option
        /// `--full-batch`.
        FullBatch: bool
        /// `--epochs`, when given.
        EpochsGiven: int option
        /// `--seed`, when given.
        SeedGiven: int option
        /// `--validate-every` (default 1).
        ValidateEvery: int
        /// `--states`.
        StatesPath: string option
        /// `--select`.
        SelectBy: Selection
        /// `--monitor-every`, when given.
        MonitorEvery: int option
        /// `--resume`.
        Resume: bool
        /// `--force`.
        Force: bool
        /// `--backend` and `--device` (`Backends.resolve`): `Core None` for the configuration's backend.
        BackendOn: Backends.Choice
        /// Not `--no-normalise`.
        Normalise: bool
        /// `--test-fraction` (default 0).
        TestFraction: float
    }

/// The options of `tidhy train`: usage errors first, before any file is read or written.
let private optionsOf (args: ParseResults<TrainArgs>) : TrainOptions =
    let backend =
        Backends.resolve (args.TryGetResult TrainArgs.Backend) (args.TryGetResult TrainArgs.Device)

    let batchSizeGiven =
        args.TryGetResult TrainArgs.Batch_Size |> Option.map (positive "--batch-size")

    if args.Contains TrainArgs.Full_Batch && batchSizeGiven.IsSome then
        usage "--full-batch and --batch-size: give one of them."

    let epochsGiven =
        args.TryGetResult TrainArgs.Epochs |> Option.map (positive "--epochs")

    let seedGiven = args.TryGetResult TrainArgs.Seed

    let validateEvery =
        args.GetResult(TrainArgs.Validate_Every, 1) |> nonNegative "--validate-every"

    let fraction = args.GetResult(TrainArgs.Val_Fraction, 0.1)

    if not (fraction >= 0.0 && fraction < 1.0) then
        usage $"--val-fraction: expected a fraction in [0, 1), got {fraction}."

    if args.Contains TrainArgs.Val_Fraction && args.Contains TrainArgs.Val_Data then
        usage "--val-fraction and --val-data exclude each other."

    let testFraction = args.GetResult(TrainArgs.Test_Fraction, 0.0)

    if not (testFraction >= 0.0 && testFraction < 1.0) then
        usage $"--test-fraction: expected a fraction in [0, 1), got {testFraction}."

    if not (args.Contains TrainArgs.Val_Data) && fraction + testFraction >= 1.0 then
        usage
            $"--val-fraction {fraction} and --test-fraction {testFraction} leave nothing to train on: their sum must be below 1."

    let statesPath = args.TryGetResult TrainArgs.States

    let selection =
        match args.TryGetResult TrainArgs.Select with
        | None
        | Some "loss" -> ValidationLoss
        | Some "r2" -> HighestMetric TrainingMonitor.R2HatAccuracy
        | Some "w" -> HighestMetric TrainingMonitor.WAccuracy
        | Some other -> usage $"--select: expected loss, r2 or w, got '{other}'."

    if selection <> ValidationLoss && statesPath.IsNone then
        usage "--select r2 and --select w decode the true states: they need --states."

    let monitorEvery =
        args.TryGetResult TrainArgs.Monitor_Every
        |> Option.map (positive "--monitor-every")

    if monitorEvery.IsSome && statesPath.IsNone then
        usage "--monitor-every needs --states."

    if statesPath.IsSome && fraction = 0.0 && not (args.Contains TrainArgs.Val_Data) then
        usage "--states decodes the validation data: it needs --val-data or a --val-fraction above 0."

    let preset = presetOf (args.TryGetResult TrainArgs.Preset)
    let resume = args.Contains TrainArgs.Resume

    if resume && args.Contains TrainArgs.Force then
        usage "--resume and --force exclude each other."

    {
        DataPath = args.GetResult TrainArgs.Data
        Out = args.GetResult TrainArgs.Out
        ConfigPath = args.TryGetResult TrainArgs.Config
        Preset = preset
        ValData = args.TryGetResult TrainArgs.Val_Data
        Fraction = fraction
        BatchSizeGiven = batchSizeGiven
        FullBatch = args.Contains TrainArgs.Full_Batch
        EpochsGiven = epochsGiven
        SeedGiven = seedGiven
        ValidateEvery = validateEvery
        StatesPath = statesPath
        SelectBy = selection
        MonitorEvery = monitorEvery
        Resume = resume
        Force = args.Contains TrainArgs.Force
        BackendOn = backend
        Normalise = not (args.Contains TrainArgs.No_Normalise)
        TestFraction = testFraction
    }

/// The run files of the output folder that `--force` replaces (`guardOutput`; none with
/// `--resume`, which needs the folder's last checkpoint `last`); an error when the folder holds a
/// checkpoint and neither `--resume` nor `--force` is given.
let private replacedFiles (o: TrainOptions) (last: string) =
    if o.Resume then
        if not (File.Exists last) then
            fail $"--resume: {last} does not exist."

        []
    elif File.Exists last && not o.Force then
        fail
            $"{o.Out} already holds {Train.LastCheckpoint}; pass --resume to continue it, --force to replace the run, or choose another --out."
    else
        guardOutput o.Out o.Force

/// With `--resume`, the checkpoint `last`; errors name what is wrong with it.
let private storedCheckpoint (o: TrainOptions) (last: string) =
    if o.Resume then
        try
            Some(Checkpoint.read last)
        with CheckpointException msg ->
            fail msg
    else
        None

/// The configuration of the run for data with `features` columns: `--config` (or the defaults)
/// with `--preset`, or the resumed checkpoint's (`stored`); with `--resume`, errors name what
/// would change the checkpoint's configuration.
let private configOf (o: TrainOptions) (last: string) (stored: StoredCheckpoint option) (features: int) =
    let withPreset (cfg: Config) =
        match o.Preset with
        | Some p -> Presets.applyPreset p cfg
        | None -> cfg

    // --preset's options, then the engine --backend names (the configuration records it).
    let chosen (cfg: Config) =
        withPreset cfg |> Backends.configure o.BackendOn

    match stored, o.ConfigPath with
    | Some st, None ->
        if st.Config.InputDim <> features then
            fail $"--resume: {last} has input_dim = {st.Config.InputDim} but {o.DataPath} has {features} features."

        // --preset without --config applies to the checkpoint's configuration: accepted when
        // it changes nothing there (the run was made with it), refused otherwise.
        match o.Preset with
        | None -> Backends.configure o.BackendOn st.Config
        | Some p ->
            match Checkpoint.differences (withPreset st.Config) st.Config with
            | [] -> Backends.configure o.BackendOn st.Config
            | diffs ->
                let listed = System.String.Join("; ", diffs)

                fail
                    $"--resume: --preset {p.Name} would change the configuration of {last}: {listed}; a resumed run keeps its configuration (omit --preset, or start a new run with --force)."
    | Some st, path ->
        let cfg = configFor path features |> chosen

        match Checkpoint.differences cfg st.Config with
        | [] -> cfg
        | diffs ->
            let listed = System.String.Join("; ", diffs)
            let given = path |> Option.defaultValue "the defaults"
            let given = o.Preset |> Option.fold (fun g p -> $"{g} with --preset {p.Name}") given
            fail $"--resume: {last} was made for another configuration than {given}: {listed}"
    | None, path -> configFor path features |> chosen

/// What a run trains on, cut from the series (`TrainOptions`, `inputsOf`).
type private TrainInputs =
    {
        /// The training windows.
        TrainWindows: float[,,]
        /// The validation windows, if any.
        ValidWindows: float[,,] option
        /// With `--states`: the validation windows, their steps' state labels and the states'
        /// fingerprint (`Inputs.validationLabels`).
        Decoded: (float[,,] * (int[] * string)) option
    }

/// The parts of `--data` (`series`, `[time; features]`) in time order: training, validation (the
/// `--val-data` series instead when given) and the `--test-fraction` tail.
type private Parts =
    {
        /// The training part, `[time − v − test; features]`.
        Train: float[,]
        /// The validation series: `--val-data`, or the `v = round(fraction·time)` steps before the
        /// test tail (none when `v` rounds to 0).
        Valid: float[,] option
        /// The first step of the validation part within `--data` (without `--val-data`).
        ValidStart: int
        /// The test tail, `round(test_fraction·time)` steps (none when that rounds to 0).
        Test: float[,] option
        /// The first step of the test tail within `--data`.
        TestStart: int
    }

/// The parts of `series` (`--data`): lengths rounded to the nearest integer, ties to even, as
/// `Series.splitTail` rounds (the same split as before `--test-fraction` when it is 0).
let private partsOf (o: TrainOptions) (series: float[,]) : Parts =
    let time = Array2D.length1 series
    let test = int (System.Math.Round(float time * o.TestFraction))

    let valid =
        match o.ValData with
        | Some _ -> 0
        | None -> int (System.Math.Round(float time * o.Fraction))

    let s = Series.splitLengths (time - valid - test) valid test series

    {
        Train = s.Train
        Valid =
            match o.ValData with
            | Some v -> Some(loadSeries v)
            | None when valid = 0 -> None
            | None -> Some s.Val
        ValidStart = time - valid - test
        Test = if test = 0 then None else Some s.Test
        TestStart = time - test
    }

/// The normalisation of the run: with `--resume`, the one stored in the output folder (none for a
/// run trained without); otherwise, unless `--no-normalise` is given or the loss is not MSE (whose
/// data domain z-scores would leave), a z-score fitted to the training part `train` only.
let private normalisationOf (o: TrainOptions) (cfg: Config) (resumed: bool) (train: float[,]) =
    if resumed then
        match Normalising.tryRead o.Out, o.Normalise with
        | Some _, false ->
            fail
                $"--resume: {o.Out} was trained on normalised data ({Normalising.FileName}); a resumed run keeps its normalisation: omit --no-normalise."
        | None, true ->
            printfn
                "Note: %s has no %s: it was trained on the data as given, and resumes so."
                o.Out
                Normalising.FileName

            None
        | n, _ -> n
    elif not o.Normalise || Array2D.length1 train = 0 then
        None
    elif cfg.Loss <> LossKind.MSE then
        printfn
            "Note: loss_type %A takes the data on its own scale: not normalised (z-scores would leave the loss's data domain)."
            cfg.Loss

        None
    else
        Data.checkDomain cfg o.DataPath train
        Some(Series.fitZScore train)

/// The training and validation windows of the parts of `series` (`--data`), normalised by `norm`,
/// and, with `--states`, the labels of the validation steps.
let private inputsOf
    (o: TrainOptions)
    (cfg: Config)
    (series: float[,])
    (parts: Parts)
    (norm: Normalisation option)
    : TrainInputs =
    let normalised what =
        match norm with
        | Some n -> Normalising.apply what n
        | None -> id

    let trainSeries = parts.Train |> normalised o.DataPath

    let validSeries =
        parts.Valid |> Option.map (normalised (defaultArg o.ValData o.DataPath))

    let trainWindows = windowsOf o.DataPath cfg cfg.Overlap trainSeries

    let validWindows =
        match validSeries, o.ValData with
        | Some v, None when Array2D.length1 v < cfg.SequenceLength ->
            printfn
                "Note: the held-out %d steps are fewer than one window of %d; training without validation."
                (Array2D.length1 v)
                cfg.SequenceLength

            None
        | Some v, Some file -> Some(windowsOf file cfg cfg.SequenceLength v)
        | Some v, None -> Some(windowsOf "validation data" cfg cfg.SequenceLength v)
        | None, _ -> None

    let monitoring =
        o.StatesPath
        |> Option.map (fun path ->
            let v =
                match validWindows with
                | Some v -> v
                | None ->
                    fail
                        $"--states {path}: there are no validation windows to decode (the held-out part is shorter than one window); use --val-data or a larger --val-fraction."

            let labels =
                validationLabels
                    path
                    o.ValData
                    o.DataPath
                    (Array2D.length1 series)
                    parts.ValidStart
                    (validSeries |> Option.map Array2D.length1 |> Option.defaultValue 0)
                    (Array3D.length1 v * cfg.SequenceLength)

            v, labels)

    {
        TrainWindows = trainWindows
        ValidWindows = validWindows
        Decoded = monitoring
    }

/// The fit's options and the state it starts from (the resumed checkpoint's, checked against this
/// run by `checkResume`, or a new one), after the checks the fit would make before its first batch.
let private startOf
    (o: TrainOptions)
    (cfg: Config)
    (last: string)
    (stored: StoredCheckpoint option)
    (inputs: TrainInputs)
    =
    let statesSha = inputs.Decoded |> Option.map (snd >> snd)

    let run = stored |> Option.bind _.Run

    let windows = Array3D.length1 inputs.TrainWindows

    // --full-batch: one batch of every training window.
    let batchSizeGiven = if o.FullBatch then Some windows else o.BatchSizeGiven

    stored
    |> Option.iter (fun st ->
        checkResume last st (batchSizeGiven, o.SeedGiven) inputs.TrainWindows inputs.ValidWindows statesSha)

    let batchSize =
        batchSizeGiven
        |> Option.orElse (run |> Option.map _.BatchSize)
        |> Option.defaultValue 16

    let seed =
        o.SeedGiven |> Option.orElse (run |> Option.map _.Seed) |> Option.defaultValue 0

    let state =
        match stored with
        | Some st -> st.State
        | None -> Train.init cfg (Random.key seed)

    // The checks the fit would make before its first batch, made here, before the run that --force
    // replaces is touched.
    if cfg.Stateful && windows % batchSize <> 0 then
        fail
            $"--batch-size {batchSize}: stateful training needs a window count that is a multiple of the batch size, but {o.DataPath} gives {windows} training windows; choose a batch size that divides {windows}."

    Train.batches cfg batchSize seed state.Epoch windows |> ignore

    match o.BackendOn with
    | Backends.Registered(b, _) -> b.CheckConfig cfg
    | Backends.Core _ -> Config.checkMemory cfg (min windows batchSize) cfg.SequenceLength

    let options =
        { Train.defaultFitOptions cfg with
            BatchSize = batchSize
            Epochs = defaultArg o.EpochsGiven cfg.NumEpochs
            Seed = seed
            ValidateEvery = o.ValidateEvery
            CheckpointDirectory = Some o.Out
        }

    options, state

/// The test tail `--test-fraction` holds out, in the output folder.
[<Literal>]
let TestFile = "test.npy"

/// The `--states` rows of the test tail, in the output folder (when `--states` has a row per step
/// of `--data`).
[<Literal>]
let TestStatesFile = "test_states.npy"

/// Writes the test tail (`TestFile`, the data as given: `tidhy eval` normalises it) and, when
/// `--states` has one row per step of `--data`, its states (`TestStatesFile`).
let private writeTest (o: TrainOptions) (parts: Parts) =
    parts.Test
    |> Option.iter (fun test ->
        Data.save (Path.Combine(o.Out, TestFile)) test

        match o.StatesPath, o.ValData with
        | Some path, None ->
            let states = loadStates path
            Data.save (Path.Combine(o.Out, TestStatesFile)) states[parts.TestStart .., *]
        | _ -> ())

/// The line that starts training: the data, its windows, the epochs and the output folder.
let private printStart (o: TrainOptions) (cfg: Config) (inputs: TrainInputs) (state: TrainState) (options: FitOptions) =
    printfn
        "Training on %s: %d windows of %d steps starting %d apart, %s; epochs %d → %d; output %s"
        o.DataPath
        (Array3D.length1 inputs.TrainWindows)
        cfg.SequenceLength
        cfg.Overlap
        (match inputs.ValidWindows with
         | Some v -> $"{Array3D.length1 v} validation windows"
         | None -> "no validation")
        state.Epoch
        options.Epochs
        o.Out

/// The fit from `state` with a progress display, on the chosen backend, monitored when `--states`
/// is given; stops on `cancellation`, calls `settle` once an epoch has its checkpoint written, and
/// rewrites `metrics.csv` after each epoch.
let private fit
    (o: TrainOptions)
    (cfg: Config)
    (inputs: TrainInputs)
    (state: TrainState)
    (options: FitOptions)
    (cancellation: CancellationToken)
    (settle: unit -> unit)
    =
    Progress.run state.Epoch options.Epochs (fun report ->
        let options =
            { options with
                // A completed epoch has its checkpoint written.
                Progress =
                    fun p ->
                        if p.Completed.IsSome then
                            settle ()

                        // metrics.csv grows with each epoch (what `tidhy sweep status` counts).
                        p.CompletedState
                        |> Option.iter (fun s ->
                            Report.writeAtomic (Path.Combine(o.Out, "metrics.csv")) (Report.metricsCsv s.History))

                        report p
                Cancellation = cancellation
            }

        let m =
            inputs.Decoded
            |> Option.map (fun (v, (labels, sha)) ->
                {
                    Every = defaultArg o.MonitorEvery 1
                    Measure = TrainingMonitor.decodingMonitor cfg options.BatchSize v labels
                    Selection = o.SelectBy
                    StatesSha256 = Some sha
                })

        Train.fitOn (Backends.engineOf o.BackendOn cfg) cfg options m inputs.TrainWindows inputs.ValidWindows state)

/// Writes the best parameters of `s` (model.json) and the report, then warns when too many
/// inference steps stopped at max_iter or the training objective exploded.
let private writeResults (o: TrainOptions) (cfg: Config) (inputs: TrainInputs) (options: FitOptions) (s: TrainState) =
    let best = s.Best |> Option.map _.Params |> Option.defaultValue s.Params
    StateDict.save (Path.Combine(o.Out, "model.json")) best

    let tl =
        inputs.ValidWindows
        |> Option.map (fun v ->
            Evaluate.evaluateBatchedWith
                ((Backends.engineOf o.BackendOn cfg).EvaluateRecord cfg best None)
                cfg
                options.BatchSize
                v
            |> Report.timeline)

    let index = Report.write o.Out "TiDHy training" (summaryOf cfg s) s.History tl None
    printfn "Report: %s" index

    match Array.tryLast s.History with
    | Some h ->
        Output.reportMaxIter "the last epoch's" cfg.MaxIter h.Train.MaxIterShare

        let first = s.History[0].Train.Total

        if h.Train.Total > 1000.0 * abs first && s.History.Length > 1 then
            eprintfn
                "Warning: the training objective exploded: %g in the last epoch, %g in the first; lower the learning rates."
                h.Train.Total
                first
    | None -> ()

/// The line that names the selected model (`best.tidhy.json`, `model.json`): its epoch, counted from 1
/// as the progress lines count, and the score that selected it.
let selectionLine (s: TrainState) =
    s.Best
    |> Option.map (fun b ->
        let by =
            if b.Criterion = BestModel.LossCriterion then
                "the lowest loss (validation, or the training total without validation data)"
            else
                $"the highest {b.Criterion}"

        let score =
            b.Score.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)

        $"Selected epoch {b.Epoch + 1} of {s.Epoch} by {by}: {score}.")

/// `tidhy train` stopped by `stop` (a Ctrl-C or SIGTERM in `run`, or in the sweep task that runs
/// it) returning `stopCode ()`: before training starts nothing is written; during training it
/// stops after the current batch and saves a checkpoint. Returns the exit code.
let runWith (stop: CancellationToken) (stopCode: unit -> int) (args: ParseResults<TrainArgs>) =
    let o = optionsOf args
    use _lock = lockOutput o.Out
    let last = Path.Combine(o.Out, Train.LastCheckpoint)
    let replaced = replacedFiles o last
    let series = loadSeries o.DataPath
    let stored = storedCheckpoint o last
    let cfg = configOf o last stored (Array2D.length2 series)
    let parts = partsOf o series
    let norm = normalisationOf o cfg stored.IsSome parts.Train
    let inputs = inputsOf o cfg series parts norm

    if norm.IsNone && cfg.Loss = LossKind.MSE then
        Normalising.scaleWarning
            $"the training data ({o.DataPath})"
            "the model's learning rates and priors assume unit scale; train without --no-normalise to z-score it."
            parts.Train
        |> Option.iter (eprintfn "%s")

    let options, state = startOf o cfg last stored inputs

    if stop.IsCancellationRequested then
        printfn "Stopped before training started; nothing was written."
        stopCode ()
    else

        // The replaced run is set aside until the new one has written its first checkpoint, and put
        // back if it fails before.
        setAside o.Out replaced
        Report.writeAtomic (Path.Combine(o.Out, "config.json")) (ConfigJson.toJson cfg + "\n")

        if stored.IsNone then
            norm |> Option.iter (Normalising.write o.Out)
            writeTest o parts

        printStart o cfg inputs state options

        norm
        |> Option.iter (fun _ ->
            printfn
                "Normalised: each feature z-scored with the mean and standard deviation of the %d training steps (%s; tidhy eval applies it)."
                (Array2D.length1 parts.Train)
                (Path.Combine(o.Out, Normalising.FileName)))

        let res = whileReplacing o.Out replaced (fit o cfg inputs state options stop)
        let s = res.State
        writeResults o cfg inputs options s
        selectionLine s |> Option.iter (printfn "%s")

        parts.Test
        |> Option.iter (fun test ->
            let states =
                if File.Exists(Path.Combine(o.Out, TestStatesFile)) then
                    $" --states {Path.Combine(o.Out, TestStatesFile)}"
                else
                    ""

            printfn
                "Test: the last %d steps of %s are held out in %s; evaluate on them with: tidhy eval --model %s --data %s%s --out %s"
                (Array2D.length1 test)
                o.DataPath
                (Path.Combine(o.Out, TestFile))
                (Path.Combine(o.Out, Train.BestCheckpoint))
                (Path.Combine(o.Out, TestFile))
                states
                (Path.TrimEndingDirectorySeparator o.Out + "-test"))

        if res.Cancelled then
            printfn
                "Stopped in epoch %d after %d of its batches; checkpoint %s. Resume with --resume."
                (s.Epoch + 1)
                s.Batch
                last

            stopCode ()
        else
            printfn "Done: %d epochs; best parameters in %s." s.Epoch (Path.Combine(o.Out, "model.json"))
            0

/// `tidhy train`; returns the exit code. Ctrl-C or SIGTERM stops it (`runWith`) with exit code 130
/// or 143; a second signal ends the process at once.
let run (args: ParseResults<TrainArgs>) =
    use cts = new CancellationTokenSource()
    use signals = new StopSignals(cts)
    runWith cts.Token (fun () -> signals.ExitCode) args
