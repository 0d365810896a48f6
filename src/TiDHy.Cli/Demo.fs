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
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seed _ -> "seed of the data, the model and the shuffle (default 1)."
            | Epochs _ -> "training epochs, >= 1 (default 40)."
            | Out _ -> "report folder (default ./tidhy-demo); never one holding a run's files without --force."
            | Force -> "replace the run files already in the report folder."

/// The demo's data: MODEL.md's SLDS benchmark (with upstream's projection to 20 channels),
/// shortened to 20 000 / 2 000 / 2 000 steps so that the demo runs in a minute or two.
let dataOptions =
    { Slds.defaults with
        TrainLength = 20000
        ValLength = 2000
        TestLength = 2000
    }

/// The demo's model: upstream's defaults for the data's channels, with shorter windows, fewer
/// inference iterations, and `PerSample` batch scaling with the step that upstream's batch mean
/// gives at batch 16 (lr 0.2 / 16), so that inference does not depend on how many windows a batch
/// holds (the last, smaller batches of an epoch and of validation included).
let config (features: int) =
    { Config.defaults features with
        MaxIter = 200
        SequenceLength = 100
        Overlap = 50
        NumEpochs = 100
        BatchScaling = BatchScaling.PerSample
        LrR = 0.2 / 16.0
        LrR2 = 0.2 / 16.0
    }

/// How well the mixture weights track the true discrete states: the joint state of all systems at
/// each step (`K^systems` values) is grouped by the index of the largest mixture weight `W`, and
/// the share of steps whose joint state is the most common one in their group is returned (1 when
/// the dominant weight determines the joint state; the largest joint state's share when it says
/// nothing). `states [time; systems]` covers at least the record's windows.
let purity (record: EvaluationRecord) (states: int[,]) =
    let t = Array3D.length2 record.W
    let steps = Array3D.length1 record.W * t
    let systems = Array2D.length2 states

    let joint i =
        Seq.fold (fun acc s -> acc * (dataOptions.States) + states[i, s]) 0 (seq { 0 .. systems - 1 })

    let dominant i =
        let w = record.W[i / t, i % t, *]
        Array.findIndex ((=) (Array.max w)) w

    let agree =
        [ 0 .. steps - 1 ]
        |> List.groupBy dominant
        |> List.sumBy (fun (_, is) -> is |> List.countBy joint |> List.map snd |> List.max)

    float agree / float steps

/// Runs the demo: prints what it measured and writes a report folder `outDir` (which must not hold
/// a run's files unless `force`); returns the exit code.
let run (seed: int) (epochs: int) (outDir: string) (force: bool) =
    use _lock = Args.lockOutput outDir
    Args.removeRunFiles outDir (Args.guardOutput outDir force)
    let kData, kModel = Random.split (Random.key seed)
    let data = Slds.generate dataOptions kData
    let features = Array2D.length2 data.Train.Observations
    let cfg = config features

    let train =
        Series.windowsStrided cfg.SequenceLength cfg.Overlap data.Train.Observations

    let valid =
        Series.windowsStrided cfg.SequenceLength cfg.SequenceLength data.Val.Observations

    let test =
        Series.windowsStrided cfg.SequenceLength cfg.SequenceLength data.Test.Observations

    printfn
        "TiDHy demo (seed %d): SLDS benchmark, %d systems × %d states, %d channels; %d/%d/%d time steps (train/val/test)."
        seed
        dataOptions.Systems
        dataOptions.States
        features
        dataOptions.TrainLength
        dataOptions.ValLength
        dataOptions.TestLength

    printfn
        "Windows of %d steps: %d for training (starting %d apart), %d for validation, %d for testing."
        cfg.SequenceLength
        (Array3D.length1 train)
        cfg.Overlap
        (Array3D.length1 valid)
        (Array3D.length1 test)

    printfn
        "Model: R=%d, R2=%d, M=%d, H=%d; inference max_iter=%d, tol=%g; GradNorm %b."
        cfg.RDim
        cfg.R2Dim
        cfg.MixDim
        cfg.HyperHidDim
        cfg.MaxIter
        cfg.Tol
        cfg.GradNorm

    let watch = Stopwatch.StartNew()
    let state0 = Train.init cfg kModel
    let untrained = Evaluate.evaluateRecord cfg state0.Params None test
    printfn ""
    printfn "Training %d epochs (batches of 16 windows):" epochs

    let fit =
        Progress.run 0 epochs (fun report ->
            Train.fit
                cfg
                { Train.defaultFitOptions cfg with
                    BatchSize = 16
                    Epochs = epochs
                    Seed = seed
                    ValidateEvery = 5
                    CheckpointDirectory = Some outDir
                    Progress = report
                }
                train
                (Some valid)
                state0)

    let best =
        fit.State.Best |> Option.map _.Params |> Option.defaultValue fit.State.Params

    let record = Evaluate.evaluateRecord cfg best None test
    watch.Stop()
    Output.saveRecord (Path.Combine(outDir, "record.npz")) record
    StateDict.save (Path.Combine(outDir, "model.json")) best
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

    let used = Array3D.length1 test * cfg.SequenceLength
    let purity = purity record data.Test.States
    printfn "  purity of the joint discrete state given the dominant mixture weight: %.3f" purity

    let states =
        Array2D.init used dataOptions.Systems (fun t s -> float data.Test.States[t, s])

    let index =
        Report.write
            outDir
            "TiDHy demo: the SLDS benchmark"
            [
                "seed", string seed
                "data",
                $"{dataOptions.Systems} switching linear systems, {features} channels; {dataOptions.TrainLength}/{dataOptions.ValLength}/{dataOptions.TestLength} steps"
                "model", $"R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, max_iter={cfg.MaxIter}"
                "epochs", string epochs
                "best epoch",
                (fit.State.Best
                 |> Option.map (fun b -> $"{b.Epoch + 1} (validation {b.Score:F4})")
                 |> Option.defaultValue "none")
                "test reconstruction loss (untrained → trained)",
                $"{untrained.SpatialLossRHatAvg:F4} → {record.SpatialLossRHatAvg:F4}"
                "test forecast loss (untrained → trained)",
                $"{untrained.SpatialLossRBarAvg:F4} → {record.SpatialLossRBarAvg:F4}"
                "test temporal loss (untrained → trained)", $"{untrained.TempLossAvg:F4} → {record.TempLossAvg:F4}"
                "purity of the joint discrete state given the dominant W", $"{purity:F3}"
                "time", $"{watch.Elapsed.TotalSeconds:F1} s"
            ]
            fit.State.History
            (Some(Report.timeline record))
            (Some states)

    printfn ""

    printfn
        "%.1f s in all. Report: %s (plots, metrics.csv, record.npz, model.json, checkpoints)"
        watch.Elapsed.TotalSeconds
        index

    if Double.IsFinite record.SpatialLossRHatAvg && Double.IsFinite record.TempLossAvg then
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
