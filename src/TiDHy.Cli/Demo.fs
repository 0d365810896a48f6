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
            | Preset _ -> "set the options of a named preset (recovery: see docs/SWEEP.md) on the demo's configuration."
            | Force -> "replace the run files already in the report folder."

/// The demo's data: MODEL.md's SLDS benchmark (with upstream's projection to 20 channels),
/// shortened to 20 000 / 2 000 / 2 000 steps so that the demo runs in a minute or two.
let dataOptions =
    { Slds.defaults with
        TrainLength = 20000
        ValLength = 2000
        TestLength = 2000
    }

/// The demo's model for the data's channels: `Slds.benchmarkConfig`.
let config (features: int) = Slds.benchmarkConfig features

/// The splits the demo decodes on: 5 seeds, 25% of the test steps held out.
[<Literal>]
let decodingSeeds = 5

/// Relative tolerance of a recovered timescale against the true one.
[<Literal>]
let timescaleTolerance = 0.25

/// What the demo measures of a trained model on the test windows: decoding accuracy of the joint
/// discrete state (kNN, k = 3) from record arrays on random and contiguous-block splits, how well
/// the dynamics `V_t` recover the true timescales, and mixture usage.
type DemoAnalysis =
    {
        /// The number of joint states (`States^Systems`).
        Classes: int
        /// Per record array: its name, the spread over random splits and over block splits.
        Decoding: (string * DecodingSpread * DecodingSpread) list
        /// The length of the contiguous blocks.
        BlockLength: int
        /// Per (system, state, mode): the true timescale and what `V_t` recovers.
        Timescales: StateTimescaleRecovery[]
        /// The same for the untrained model: what matching finds by chance.
        UntrainedTimescales: StateTimescaleRecovery[]
        /// How `W` uses its components.
        Usage: MixtureUsage
    }

/// Measures `record` (of consecutive test windows) against the true states and systems of
/// `data`'s test split, with splits from `key`; `untrained` (the same windows) is the timescales'
/// baseline.
let analyse (key: Key) (data: SldsData) (untrained: EvaluationRecord) (record: EvaluationRecord) =
    let t = Array3D.length2 record.W
    let used = Array3D.length1 record.W * t
    let states = data.Test.States[0 .. used - 1, *]
    let labels = Decoding.jointStates data.Options.States states
    let randomKey, blockKey = Random.split key
    let random = Decoding.randomSplits randomKey decodingSeeds used 0.25
    let blocks = Decoding.blockSplits blockKey decodingSeeds used t 0.25

    let decode (name: string, a: float[,,]) =
        let x = Decoding.flatten a
        name, Decoding.decodingSpread 3 x labels random, Decoding.decodingSpread 3 x labels blocks

    {
        Classes = pown data.Options.States data.Options.Systems
        Decoding =
            [
                "R2_hat", record.R2Hat
                "W", record.W
                "R_hat", record.RHat
                "I (raw input)", record.I
            ]
            |> List.map decode
        BlockLength = t
        Timescales = Timescales.stateTimescaleRecovery timescaleTolerance 1.0 record.Ut states data.Systems
        UntrainedTimescales = Timescales.stateTimescaleRecovery timescaleTolerance 1.0 untrained.Ut states data.Systems
        Usage = Mixture.mixtureUsage (Decoding.flatten record.W)
    }

let private spreadText (s: DecodingSpread) =
    $"{s.Mean:F3} ± {s.Std:F3} [{s.Min:F3}, {s.Max:F3}]"

/// One line on which true timescales the trained `V_t` recovers (`rows`): those within the tolerance
/// on at least half the steps of their state, and the rest, each list by increasing timescale; and
/// how many the untrained model's `V_t` recovers so (`untrained`).
let timescaleSummary (rows: StateTimescaleRecovery[]) (untrained: StateTimescaleRecovery[]) =
    let list (rs: StateTimescaleRecovery[]) =
        rs
        |> Array.sortBy (fun r -> r.True)
        |> Array.map (fun r -> $"{r.True:F1}")
        |> String.concat ", "

    let recovered, missed = rows |> Array.partition (fun r -> r.WithinShare >= 0.5)

    let named (rs: StateTimescaleRecovery[]) =
        if rs.Length = 0 then "" else $" ({list rs})"

    let byUntrained =
        untrained |> Array.filter (fun r -> r.WithinShare >= 0.5) |> Array.length

    $"{recovered.Length} of {rows.Length} true timescales within {100.0 * timescaleTolerance:F0}%% on at least half of their steps{named recovered}; {missed.Length} not{named missed}; the untrained model: {byUntrained} of {untrained.Length}"

/// The analysis as report lines (key, value).
let analysisLines (a: DemoAnalysis) =
    let used = a.Usage.Share |> Array.filter (fun v -> v > 0.01) |> Array.length

    [
        for name, random, blocks in a.Decoding do
            $"kNN decoding of the joint state from {name} (random 75/25 | {a.BlockLength}-step blocks)",
            $"{spreadText random} | {spreadText blocks}; chance {random.ChanceMean:F3} | {blocks.ChanceMean:F3}"
        for e, u in Array.zip a.Timescales a.UntrainedTimescales do
            $"timescale of system {e.System} state {e.State} (steps): true → recovered from V_t (median)",
            $"{e.True:F1} → {e.MedianRecovered:F1}; within {100.0 * timescaleTolerance:F0}%% on {100.0 * e.WithinShare:F0}%% of {e.Steps} steps (untrained: {100.0 * u.WithinShare:F0}%%)"
        "timescales recovered", timescaleSummary a.Timescales a.UntrainedTimescales
        "mixture usage (W)",
        $"{used} of {a.Usage.Share.Length} components above 1%% of the weight; usage entropy {a.Usage.UsageEntropy:F2} nats (log M = {log (float a.Usage.Share.Length):F2})"
    ]

/// Prints the analysis.
let printAnalysis (a: DemoAnalysis) =
    printfn ""

    printfn
        "Decoding the joint discrete state (%d classes) from the test record: kNN (k = 3), 25%% of the steps held out, %d seeds (mean ± std [min, max]):"
        a.Classes
        decodingSeeds

    printfn "  %-15s %-32s %s" "" "random steps" $"contiguous {a.BlockLength}-step blocks"

    for name, random, blocks in a.Decoding do
        printfn "  %-15s %-32s %s" name (spreadText random) (spreadText blocks)

    match a.Decoding with
    | (_, random, blocks) :: _ ->
        printfn "  %-15s %-32s %s" "chance" $"{random.ChanceMean:F3}" $"{blocks.ChanceMean:F3}"
    | [] -> ()

    printfn ""

    printfn
        "Timescales (steps, τ = −1/log|λ|): each true mode against the modes of V_t on the steps its state is active (matched; within %.0f%%):"
        (100.0 * timescaleTolerance)

    for e, u in Array.zip a.Timescales a.UntrainedTimescales do
        printfn
            "  system %d state %d: true %6.1f, recovered (median) %8.1f, within on %3.0f%% of %4d steps (untrained model: %3.0f%%)"
            e.System
            e.State
            e.True
            e.MedianRecovered
            (100.0 * e.WithinShare)
            e.Steps
            (100.0 * u.WithinShare)

    printfn "  %s." (timescaleSummary a.Timescales a.UntrainedTimescales)

    let used = a.Usage.Share |> Array.filter (fun v -> v > 0.01) |> Array.length

    printfn
        "Mixture usage: %d of %d components above 1%% of the weight; usage entropy %.2f nats (log M = %.2f), per step %.2f."
        used
        a.Usage.Share.Length
        a.Usage.UsageEntropy
        (log (float a.Usage.Share.Length))
        a.Usage.MeanStepEntropy

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
            "Stopped at epoch %d, batch %d (checkpoint %s); measuring the model trained so far."
            fit.State.Epoch
            fit.State.Batch
            (Path.Combine(outDir, Train.LastCheckpoint))

    match fit.State.Best with
    | Some b ->
        printfn
            "Selected the model of epoch %d: the best kNN decoding of the validation states from R2_hat (%.3f)."
            (b.Epoch + 1)
            b.Score
    | None -> ()

/// The test windows' losses and inference iterations, untrained → trained (`record`).
let private printTestLosses (test: float[,,]) (untrained: EvaluationRecord) (record: EvaluationRecord) =
    printfn ""
    printfn "Test windows (per window, summed over time, averaged over windows), untrained → trained:"

    let energy =
        (Seq.cast<float> test |> Seq.sumBy (fun v -> v * v))
        / float (Array3D.length1 test)

    printfn "  data energy          ⟨x²⟩                   %10.4f   (the MSE of predicting 0)" energy

    let row (name: string) (a: float) (b: float) =
        printfn "  %-44s %10.4f → %10.4f" name a b

    row "reconstruction loss  ⟨ℓ(decode(r), x)⟩" untrained.SpatialLossRHatAvg record.SpatialLossRHatAvg
    row "forecast loss        ⟨ℓ(decode(r̂), x)⟩" untrained.SpatialLossRBarAvg record.SpatialLossRBarAvg
    row "temporal loss        temp_weight·⟨(r − r̂)²⟩" untrained.TempLossAvg record.TempLossAvg

    printfn
        "  inference iterations per step: mean %.1f, max %d"
        (Array.averageBy float record.Iterations)
        (Array.max record.Iterations)

/// The report's charts of the analysis: decoding accuracies and timescales.
let private analysisCharts (analysis: DemoAnalysis) =
    let decodingChart =
        match analysis.Decoding with
        | (_, random, blocks) :: _ ->
            [
                "kNN decoding of the joint discrete state from each record array (the same numbers as the table above)",
                Plots.decoding
                    [
                        for name, r, b in analysis.Decoding -> name, (r.Mean, r.Std), (b.Mean, b.Std)
                    ]
                    (random.ChanceMean, blocks.ChanceMean)
            ]
        | [] -> []

    let timescaleChart =
        [
            "The true timescales against those recovered from V_t on the test windows, trained and untrained (the same numbers as the table above)",
            Plots.timescales timescaleTolerance analysis.Timescales analysis.UntrainedTimescales
        ]

    decodingChart @ timescaleChart

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
    (analysis: DemoAnalysis)
    (elapsed: TimeSpan)
    =
    let cfg = setup.Config
    let used = Array3D.length1 setup.TestWindows * cfg.SequenceLength

    let states =
        Array2D.init used dataOptions.Systems (fun t s -> float setup.Data.Test.States[t, s])

    Report.writeWith
        (analysisCharts analysis)
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
            "test reconstruction loss (untrained → trained)",
            $"{untrained.SpatialLossRHatAvg:F4} → {record.SpatialLossRHatAvg:F4}"
            "test forecast loss (untrained → trained)",
            $"{untrained.SpatialLossRBarAvg:F4} → {record.SpatialLossRBarAvg:F4}"
            "test temporal loss (untrained → trained)", $"{untrained.TempLossAvg:F4} → {record.TempLossAvg:F4}"
            yield! analysisLines analysis
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

    let untrained =
        Evaluate.evaluateRecord setup.Config state0.Params None setup.TestWindows

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

    let record = Evaluate.evaluateRecord setup.Config best None setup.TestWindows
    Output.saveRecord (Path.Combine(outDir, "record.npz")) record
    StateDict.save (Path.Combine(outDir, "model.json")) best
    printTestLosses setup.TestWindows untrained record

    let analysis =
        analyse (Random.foldIn 2 (Random.key seed)) setup.Data untrained record

    printAnalysis analysis
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
