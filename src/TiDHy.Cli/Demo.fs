/// `tidhy demo`: TiDHy trained and evaluated on a small instance of the paper's SLDS benchmark
/// (three switching linear dynamical systems, partially superimposed), with a report folder.
module TiDHy.Cli.Demo

open System
open System.Diagnostics
open System.IO
open Argu
open TiDHy.Functional

type DemoArgs =
    | Seed of int
    | Epochs of int
    | Out of dir: string
    | Preset of name: string
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seed _ -> "seed of the data, the model and the shuffle (default 1)."
            | Epochs _ -> "training epochs, >= 1 (default 40)."
            | Out _ -> "report folder (default ./tidhy-demo); never one holding a run's files without --force."
            | Preset _ ->
                "set the options of a named preset (recovery: see docs/SWEEP.md; paper-pytorch, paper-jax) on the demo's configuration."
            | Force -> "replace the run files already in the report folder."

/// The demo's data: docs/MODEL.md's SLDS benchmark (with upstream's projection to 20 channels),
/// shortened to 20 000 / 2 000 / 2 000 steps so that the demo runs in a minute or two.
let dataOptions = Slds.demo

/// The demo's model for the data's channels: `Slds.benchmarkConfig`.
let config (features: int) = Slds.benchmarkConfig features

/// The ARHMM baseline's restarts in the demo: the k-means start and one random one (its random
/// starts end well below the k-means one on this data; `Arhmm.defaults` has 5).
[<Literal>]
let arhmmRestarts = 2

/// The demo's data and the windows it trains, validates and tests on.
type private DemoSetup =
    {
        /// The SLDS series (`dataOptions`).
        Data: SldsData
        /// The series' channels.
        Features: int
        /// The model's configuration (`config`, with `--preset`).
        Config: Config
        /// The training windows (starting `Overlap` apart).
        TrainWindows: float[,,]
        /// The validation windows (consecutive).
        ValidWindows: float[,,]
        /// The test windows (consecutive).
        TestWindows: float[,,]
    }

/// The demo's data from `kData`, its configuration with `preset`, and the windows.
let private setupOf (kData: Key) (preset: Preset option) : DemoSetup =
    let data = Slds.generate dataOptions kData
    let features = Array2D.length2 data.Train.Observations

    let cfg =
        match preset with
        | Some p -> Presets.applyPreset p (config features)
        | None -> config features

    let train =
        Series.windowsStrided cfg.SequenceLength cfg.Overlap data.Train.Observations

    let valid =
        Series.windowsStrided cfg.SequenceLength cfg.SequenceLength data.Val.Observations

    let test =
        Series.windowsStrided cfg.SequenceLength cfg.SequenceLength data.Test.Observations

    {
        Data = data
        Features = features
        Config = cfg
        TrainWindows = train
        ValidWindows = valid
        TestWindows = test
    }

/// The lines that open the demo: the data, the windows and the model.
let private printSetup (seed: int) (s: DemoSetup) =
    let cfg = s.Config

    printfn
        "TiDHy demo (seed %d): SLDS benchmark, %d systems × %d states, %d channels; %d/%d/%d time steps (train/val/test)."
        seed
        dataOptions.Systems
        dataOptions.States
        s.Features
        dataOptions.TrainLength
        dataOptions.ValLength
        dataOptions.TestLength

    printfn
        "Windows of %d steps: %d for training (starting %d apart), %d for validation, %d for testing."
        cfg.SequenceLength
        (Array3D.length1 s.TrainWindows)
        cfg.Overlap
        (Array3D.length1 s.ValidWindows)
        (Array3D.length1 s.TestWindows)

    printfn
        "Model: R=%d, R2=%d, M=%d, H=%d; inference max_iter=%d, tol=%g; GradNorm %b."
        cfg.RDim
        cfg.R2Dim
        cfg.MixDim
        cfg.HyperHidDim
        cfg.MaxIter
        cfg.Tol
        cfg.GradNorm

/// Trains `epochs` epochs from `state0` in batches of 16 windows, with checkpoints in `outDir`,
/// until `cancellation`.
let private train
    (seed: int)
    (epochs: int)
    (outDir: string)
    (s: DemoSetup)
    (state0: TrainState)
    (cancellation: Threading.CancellationToken)
    =
    let cfg, valid = s.Config, s.ValidWindows

    // The best model is the one whose r2 decodes the validation steps' joint states best
    // (TrainingMonitor.decodingMonitor every 5 epochs): validation loss does not track state recovery.
    let validLabels =
        Decoding.jointStates
            s.Data.Options.States
            s.Data.Val.States[0 .. Array3D.length1 valid * cfg.SequenceLength - 1, *]

    Progress.run 0 epochs (fun report ->
        Train.fitMonitored
            cfg
            { Train.defaultFitOptions cfg with
                BatchSize = 16
                Epochs = epochs
                Seed = seed
                ValidateEvery = 5
                CheckpointDirectory = Some outDir
                Progress = report
                Cancellation = cancellation
            }
            {
                Every = 5
                Measure = TrainingMonitor.decodingMonitor cfg 16 valid validLabels
                Selection = HighestMetric TrainingMonitor.R2HatAccuracy
                StatesSha256 = None
            }
            s.TrainWindows
            (Some valid)
            state0)

/// Where training stopped when it was stopped, and which epoch's model was selected.
let private printSelection (outDir: string) (fit: FitResult) =
    if fit.Cancelled then
        printfn
            "Stopped in epoch %d after %d of its batches (checkpoint %s); measuring the model trained so far."
            (fit.State.Epoch + 1)
            fit.State.Batch
            (Path.Combine(outDir, Train.LastCheckpoint))

    match fit.State.Best with
    | Some b ->
        printfn
            "Selected the model of epoch %d: the best kNN decoding of the validation states from R2_hat (held-out blocks of a continuous pass: %.3f)."
            (b.Epoch + 1)
            b.Score
    | None -> ()

/// The test steps' losses per step and inference iterations, untrained → trained (`record`, one
/// continuous pass).
let private printTestLosses (untrained: EvaluationRecord) (record: EvaluationRecord) =
    let steps = float (Array3D.length1 record.I * Array3D.length2 record.I)
    printfn ""
    printfn "Test steps, evaluated continuously (per step, summed over channels), untrained → trained:"

    let energy = (Seq.cast<float> record.I |> Seq.sumBy (fun v -> v * v)) / steps

    printfn "  data energy          ⟨x²⟩                   %10.4f   (the MSE of predicting 0)" energy

    let row (name: string) (a: float) (b: float) =
        printfn "  %-44s %10.4f → %10.4f" name (a / steps) (b / steps)

    let windows = float (Array3D.length1 record.I)

    row
        "reconstruction loss  ⟨ℓ(decode(r), x)⟩"
        (windows * untrained.SpatialLossRHatAvg)
        (windows * record.SpatialLossRHatAvg)

    row
        "forecast loss        ⟨ℓ(decode(r̂), x)⟩"
        (windows * untrained.SpatialLossRBarAvg)
        (windows * record.SpatialLossRBarAvg)

    row "temporal loss        temp_weight·⟨(r − r̂)²⟩" (windows * untrained.TempLossAvg) (windows * record.TempLossAvg)

    printfn
        "  inference iterations per step: mean %.1f, max %d"
        (Array.averageBy float record.Iterations)
        (Array.max record.Iterations)

/// Writes the report folder `outDir` (`Report.writeWith`): the run's summary, the analysis and its
/// charts, the training history of `state`, the test record's timeline and the true states; returns
/// the page's path.
let private writeReport
    (seed: int)
    (epochs: int)
    (outDir: string)
    (preset: Preset option)
    (setup: DemoSetup)
    (state: TrainState)
    (untrained: EvaluationRecord)
    (record: EvaluationRecord)
    (analysis: Measures.Measures)
    (elapsed: TimeSpan)
    =
    let cfg = setup.Config
    let used = Array3D.length1 record.I * Array3D.length2 record.I

    let states =
        Array2D.init used dataOptions.Systems (fun t s -> float setup.Data.Test.States[t, s])

    Report.writeWith
        (Measures.charts analysis)
        outDir
        "TiDHy demo: the SLDS benchmark"
        [
            "seed", string seed
            "data",
            $"{dataOptions.Systems} switching linear systems, {setup.Features} channels; {dataOptions.TrainLength}/{dataOptions.ValLength}/{dataOptions.TestLength} steps"
            "model", $"R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, max_iter={cfg.MaxIter}"
            "epochs", string epochs
            "preset", (preset |> Option.map _.Name |> Option.defaultValue "none")
            "best epoch",
            (state.Best
             |> Option.map (fun b -> $"{b.Epoch + 1} (validation R2_hat decoding {b.Score:F3})")
             |> Option.defaultValue "none")
            "test reconstruction loss per step (untrained → trained)",
            $"{untrained.SpatialLossRHatAvg / float used:F4} → {record.SpatialLossRHatAvg / float used:F4}"
            "test forecast loss per step (untrained → trained)",
            $"{untrained.SpatialLossRBarAvg / float used:F4} → {record.SpatialLossRBarAvg / float used:F4}"
            "test temporal loss per step (untrained → trained)",
            $"{untrained.TempLossAvg / float used:F4} → {record.TempLossAvg / float used:F4}"
            yield! Measures.reportLines analysis
            "time", $"{elapsed.TotalSeconds:F1} s"
        ]
        state.History
        (Some(Report.timeline record))
        (Some states)

/// Runs the demo: prints what it measured and writes a report folder `outDir` (which must not hold
/// a run's files unless `force`); returns the exit code.
let run (seed: int) (epochs: int) (outDir: string) (force: bool) (preset: Preset option) =
    use _lock = RunFolder.lockOutput outDir
    RunFolder.removeRunFiles outDir (RunFolder.guardOutput outDir force)
    let kData, kModel = Random.split (Random.key seed)
    let setup = setupOf kData preset
    printSetup seed setup
    let watch = Stopwatch.StartNew()
    let state0 = Train.init setup.Config kModel

    printfn ""
    printfn "Training %d epochs (batches of 16 windows):" epochs
    // Ctrl-C or SIGTERM stops training after its batch (checkpoint saved); the demo then measures
    // and reports the model trained so far and exits 130 / 143.
    use cts = new System.Threading.CancellationTokenSource()
    use signals = new Signals.StopSignals(cts)
    let fit = train seed epochs outDir setup state0 cts.Token
    printSelection outDir fit

    let best =
        fit.State.Best |> Option.map _.Params |> Option.defaultValue fit.State.Params

    let test = setup.Data.Test.Observations

    let evaluate (p: Params) =
        Evaluate.evaluateSeries setup.Config p 16 SeriesEvaluation.Continuous test

    let record = evaluate best
    let untrained = evaluate state0.Params
    Output.saveRecord (Path.Combine(outDir, "record.npz")) record
    StateDict.save (Path.Combine(outDir, "model.json")) best
    printTestLosses untrained record
    let classes = pown setup.Data.Options.States setup.Data.Options.Systems
    printfn ""

    printfn
        "Fitting the ARHMM baseline (%d states, AR(1) Gaussian emissions, EM, %d restarts) on the %d training steps..."
        classes
        arhmmRestarts
        (Array2D.length1 setup.Data.Train.Observations)

    let arhmmWatch = Stopwatch.StartNew()

    let arhmm =
        Measures.fitArhmm
            (Random.foldIn 3 (Random.key seed))
            classes
            arhmmRestarts
            "the training steps"
            setup.Data.Train.Observations

    printfn
        "  log-likelihood %.3f per training step on %d principal components after %d EM iterations (%.1f s)."
        (arhmm.Fit.LogLikelihood / float (Array2D.length1 setup.Data.Train.Observations))
        (Array2D.length2 arhmm.Projection.Axes)
        arhmm.Fit.Iterations
        arhmmWatch.Elapsed.TotalSeconds

    let analysis =
        Measures.measure
            (Random.foldIn 2 (Random.key seed))
            Decoding.defaultSettings
            (Evaluate.describe SeriesEvaluation.Continuous (Array2D.length1 test))
            best
            state0.Params
            record
            untrained
            (Some arhmm)
            {
                Labels = Some(Decoding.jointStates setup.Data.Options.States setup.Data.Test.States)
                Timescales = Some(Slds.trueTimescales setup.Data)
            }

    Measures.print analysis
    watch.Stop()

    let index =
        writeReport seed epochs outDir preset setup fit.State untrained record analysis watch.Elapsed

    printfn ""

    printfn
        "%.1f s in all. Report: %s (plots, metrics.csv, record.npz, model.json, checkpoints)"
        watch.Elapsed.TotalSeconds
        index

    if fit.Cancelled then
        signals.ExitCode
    elif Double.IsFinite record.SpatialLossRHatAvg && Double.IsFinite record.TempLossAvg then
        0
    else
        1

/// `tidhy demo` with its arguments (`--seed 1`, `--epochs 40`, `--out tidhy-demo` by default);
/// returns the exit code.
let runArgs (args: ParseResults<DemoArgs>) =
    run
        (args.GetResult(DemoArgs.Seed, 1))
        (args.GetResult(DemoArgs.Epochs, 40) |> Args.positive "--epochs")
        (args.GetResult(DemoArgs.Out, "tidhy-demo"))
        (args.Contains DemoArgs.Force)
        (Args.presetOf (args.TryGetResult DemoArgs.Preset))
