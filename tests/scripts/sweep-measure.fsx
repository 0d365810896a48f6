// Sweep measurement (issue 22 item 6): for a run of sweep-train.fsx (its config.json and its
// epoch-E.json parameters), selects the epoch by the validation measure (TrainingMonitor.decodingMonitor:
// a continuous pass over the 2 000 validation steps, kNN on held-out 100-step blocks of R2_hat),
// and on the 2 000 test steps, evaluated continuously, prints for the selected and the last epoch:
// the decoding table (blocks first; R2_hat, W, R_hat, the raw input and its 10-lag embedding) and
// the label-free V_t timescales against the truth and against the untrained model.
//   dotnet fsi sweep-measure.fsx RUNDIR [modelSeed]
#I "../../src/TiDHy.Cli/bin/Release/net10.0"
#r "MathNet.Numerics.dll"
#r "TiDHy.Kernels.dll"
#r "TiDHy.Functional.dll"

open System
open System.IO
open TiDHy.Functional

let args = fsi.CommandLineArgs |> Array.skip 1
let dir = args[0]
let modelSeed = if args.Length > 1 then int args[1] else 1
let kData, kDemoModel = Random.split (Random.key 1)

let kModel =
    if modelSeed = 1 then
        kDemoModel
    else
        snd (Random.split (Random.key modelSeed))

let data =
    Slds.generate
        { Slds.defaults with
            TrainLength = 20000
            ValLength = 2000
            TestLength = 2000
        }
        kData

let cfg = ConfigJson.parse (File.ReadAllText(Path.Combine(dir, "config.json")))
let truth = Slds.trueTimescales data
let valid = Series.windowsStrided 100 100 data.Val.Observations
let valLabels = Decoding.jointStates data.Options.States data.Val.States
let testLabels = Decoding.jointStates data.Options.States data.Test.States
let monitor = TrainingMonitor.decodingMonitor cfg 16 valid valLabels

let eval (p: Params) (series: float[,]) =
    Evaluate.evaluateSeries cfg p 16 SeriesEvaluation.Continuous series

let p0 = Init.init cfg kModel
let untrained = eval p0 data.Test.Observations
let untrainedTs = EffectiveTimescales.labelFree 1.0 0.2 (Some truth) untrained.Ut

let epochs =
    Directory.GetFiles(dir, "epoch-*.json")
    |> Array.map (fun f -> int (Path.GetFileNameWithoutExtension(f).Substring 6), f)
    |> Array.sortBy fst

let scored =
    epochs
    |> Array.map (fun (e, f) ->
        let p = StateDict.load cfg f
        let m = monitor p
        printfn "%s epoch %d: val block kNN R2_hat %.3f, W %.3f" (Path.GetFileName dir) e (snd m[0]) (snd m[1])
        Console.Out.Flush()
        e, f, snd m[0], snd m[1])

let selected = scored |> Array.maxBy (fun (_, _, r2, _) -> r2)
let last = scored[scored.Length - 1]

for (e, f, vr2, vw) in (if selected = last then [ last ] else [ selected; last ]) do
    let p = StateDict.load cfg f
    let r = eval p data.Test.Observations
    let input = Decoding.flatten r.I

    let table =
        Decoding.table
            (Random.key 2)
            Decoding.defaultSettings
            testLabels
            ([
                "R2_hat", Decoding.flatten r.R2Hat
                "W", Decoding.flatten r.W
                "R_hat", Decoding.flatten r.RHat
             ]
             @ Decoding.baselineFeatures Decoding.defaultLags input)

    let ts = EffectiveTimescales.labelFree 1.0 0.2 (Some truth) r.Ut

    let row name =
        table.Rows |> Array.find (fun x -> x.Name = name)

    let b (name: string) =
        let x = row name in $"{x.BlockKnn.Mean:F3} / {x.BlockLinear.Mean:F3}"

    let c = ts.Comparison.Value
    let u = untrainedTs.Comparison.Value
    let usage = Mixture.mixtureUsage (Decoding.flatten r.W)
    let comps = usage.Share |> Array.filter (fun v -> v > 0.01) |> Array.length

    printfn
        "| %s | %s%d | %.3f / %.3f | %s | %s | %s | %s | %s | %d (%.2f) / %d (%.2f) | %d |"
        (Path.GetFileName dir)
        (if (e, f, vr2, vw) = selected then "selected " else "last ")
        e
        vr2
        vw
        (b "R2_hat")
        (b "W")
        (b "R_hat")
        (b "I (raw input)")
        (b "I with 10 lags")
        c.Matched
        c.Precision
        u.Matched
        u.Precision
        comps

    printfn
        "   V_t clusters: %s; matched: %s; random kNN R2_hat %.3f; chance block %.3f"
        (ts.Clusters.Centres
         |> Array.map (fun v -> v.ToString "F1")
         |> String.concat ", ")
        (c.Pairs
         |> Array.map (fun p -> $"{p.True:F1}->{p.Discovered:F1}")
         |> String.concat ", ")
        (row "R2_hat").RandomKnn.Mean
        table.ChanceBlock

    Console.Out.Flush()
