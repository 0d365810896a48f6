// Your own data from F# (docs/OWN-DATA.md): a CSV series and a label file, split in time,
// normalised with the training part's statistics, trained with the states' decoding as the
// selection, then evaluated on the test part beside the baselines. Build the library first
// (`dotnet build src/TiDHy.Functional -c Release`), then `dotnet fsi examples/own_data.fsx`.
#r "../src/TiDHy.Functional/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/TiDHy.Functional/bin/Release/net10.0/TiDHy.Functional.dll"

open TiDHy.Functional

// 1. The files: [time; features] in the data's own units, and one label per step.
let series = Data.load (__SOURCE_DIRECTORY__ + "/data/series.csv") // [6000; 3]
let labels = Data.loadLabels (__SOURCE_DIRECTORY__ + "/data/states.csv") // [6000; 1]

// 2. Split in time (never at random): 70% training, 15% validation, the last 15% test.
let split = Series.splitFractions 0.7 0.15 series
let labelSplit = Series.splitFractions 0.7 0.15 labels

// 3. Normalise every part with the training part's mean and standard deviation only.
let norm = Series.fitZScore split.Train

let train, validation, test =
    Series.normalise norm split.Train, Series.normalise norm split.Val, Series.normalise norm split.Test

printfn "channel means %A, standard deviations %A (from the training part)" norm.Offset norm.Scale

// 4. A small model; windows of 50 steps starting 25 apart (`Overlap` is that step, a stride).
let cfg =
    { Config.defaults 3 with
        RDim = 4
        R2Dim = 2
        MixDim = 4
        HyperHidDim = 16
        MaxIter = 50
        SequenceLength = 50
        Overlap = 25
        BatchScaling = BatchScaling.PerSample
        LrR = 0.2 / 16.0
        LrR2 = 0.2 / 16.0
    }

let windows (s: float[,]) stride =
    Series.windowsStrided cfg.SequenceLength stride s

let trainWindows = windows train cfg.Overlap
// Validation in consecutive windows, so the monitor can join them into one continuous pass.
let validationWindows = windows validation cfg.SequenceLength
let validationSteps = Array3D.length1 validationWindows * cfg.SequenceLength

let validationLabels =
    Decoding.stateLabels (Array2D.map int labelSplit.Val[0 .. validationSteps - 1, *])

// 5. Train, keeping the epoch whose R2_hat best decodes the validation states on held-out blocks.
let batchSize = 16

let monitoring =
    {
        Every = 2
        Measure = TrainingMonitor.decodingMonitor cfg batchSize validationWindows validationLabels
        Selection = Selection.HighestMetric "r2_hat_accuracy"
        StatesSha256 = None
    }

let fit =
    Train.fitMonitored
        cfg
        { Train.defaultFitOptions cfg with
            BatchSize = batchSize
            Epochs = 6
            Progress = Train.consoleProgress
        }
        monitoring
        trainWindows
        (Some validationWindows)
        (Train.init cfg (Random.key 1))

let best = fit.State.Best.Value
printfn "selected epoch %d of %d" (best.Epoch + 1) fit.State.Epoch

// 6. Evaluate the test part in one continuous pass, and decode its states on held-out blocks,
// beside the raw input, its delay embedding and the untrained model.
let record =
    Evaluate.evaluateSeries cfg best.Params batchSize SeriesEvaluation.Continuous test

let untrained =
    Evaluate.evaluateSeries cfg (Train.init cfg (Random.key 1)).Params batchSize SeriesEvaluation.Continuous test

let steps = Array3D.length2 record.R2Hat

let testLabels =
    Decoding.stateLabels (Array2D.map int labelSplit.Test[0 .. steps - 1, *])

let table =
    Decoding.table
        (Random.key 0)
        Decoding.defaultSettings
        testLabels
        ([
            "R2_hat", Decoding.flatten record.R2Hat
            "W", Decoding.flatten record.W
            "untrained R2_hat", Decoding.flatten untrained.R2Hat
         ]
         @ Decoding.baselineFeatures 10 test[0 .. steps - 1, *])

for row in table.Rows do
    printfn
        "%-18s held-out blocks kNN %.3f linear %.3f | random steps kNN %.3f"
        row.Name
        row.BlockKnn.Mean
        row.BlockLinear.Mean
        row.RandomKnn.Mean

printfn "chance %.3f" table.ChanceBlock

// 7. Timescales without labels: the eigenvalues of V_t, clustered, against the true 25 and 5 steps.
let timescales =
    EffectiveTimescales.labelFree 1.0 0.2 (Some [| 25.0; 5.0 |]) record.Ut

let untrainedTimescales =
    EffectiveTimescales.labelFree 1.0 0.2 (Some [| 25.0; 5.0 |]) untrained.Ut

for name, t in [ "trained", timescales; "untrained", untrainedTimescales ] do
    let c = t.Comparison.Value

    printfn
        "%-9s V_t: %d clusters, %d of 2 true timescales matched, precision %.2f"
        name
        t.Clusters.Centres.Length
        c.Matched
        c.Precision
