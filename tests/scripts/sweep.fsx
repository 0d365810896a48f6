// The science sweep (docs/SWEEP.md): trains the demo's model on the demo's data (SLDS seed 1,
// 20 000 / 2 000 / 2 000 steps, windows of 100, batch 16, GradNorm, PerSample scaling) with the
// backend and options given as `key=value` arguments, and every `every` epochs decodes the joint
// discrete state (kNN k = 3) from R2_hat and W on the validation windows (the selection metric)
// and on the test windows: 100-step windows (random 75/25 and 100-step-block splits) and 1000-step
// windows (random splits). Prints one CSV row per monitored epoch, then the epoch that the
// validation r2 decoding selects.
//
// usage (after `dotnet build src/TiDHy.Cli -c Release`):
//   dotnet fsi tests/scripts/sweep.fsx NAME EPOCHS EVERY [key=value ...]
// e.g. `dotnet fsi tests/scripts/sweep.fsx safe0.1 200 10 sparsity_w_safe=0.1`; the model and the
// shuffle come from seed 1 (the demo's) or from TIDHY_SWEEP_MODEL_SEED.
#I "../../src/TiDHy.Cli/bin/Release/net10.0"
#r "MathNet.Numerics.dll"
#r "TiDHy.Kernels.dll"
#r "TiDHy.Functional.dll"

open System
open TiDHy.Functional

let args = fsi.CommandLineArgs |> Array.skip 1
let name, epochs, every = args[0], int args[1], int args[2]

let seed = 1
let kData, kDemoModel = Random.split (Random.key seed)

// TIDHY_SWEEP_MODEL_SEED=s (default 1, the demo's) draws the model and the batches' shuffle from
// seed s on the same data: the spread between training runs.
let modelSeed =
    match Environment.GetEnvironmentVariable "TIDHY_SWEEP_MODEL_SEED" with
    | null
    | "" -> seed
    | s -> int s

let kModel =
    if modelSeed = seed then
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

let features = Array2D.length2 data.Train.Observations

let demo =
    { Slds.benchmarkConfig features with
        Backend = Backend.FusedFloat32
    }

let setOption (cfg: Config) (kv: string) =
    let i = kv.IndexOf '='
    let key, text = kv[.. i - 1], kv[i + 1 ..]
    let o = ConfigOptions.find key

    let value: obj =
        match o.Kind with
        | OptionKind.Int -> box (int text)
        | OptionKind.Float -> box (float text)
        | OptionKind.Bool -> box (bool.Parse text)
        | OptionKind.Enum cases -> ConfigOptions.parseCase o cases text

    ConfigOptions.set o value cfg

let cfg = args[3..] |> Array.fold setOption demo |> Config.validateOrThrow

let windows len step (x: float[,]) = Series.windowsStrided len step x
let train = windows cfg.SequenceLength cfg.Overlap data.Train.Observations
let valid = windows cfg.SequenceLength cfg.SequenceLength data.Val.Observations
let test100 = windows 100 100 data.Test.Observations
let test1000 = windows 1000 1000 data.Test.Observations

let labelsOf (states: int[,]) n =
    Decoding.jointStates data.Options.States states[0 .. n - 1, *]

let valLabels =
    labelsOf data.Val.States (Array3D.length1 valid * Array3D.length2 valid)

let testLabels = labelsOf data.Test.States 2000
let valMonitor = TrainingMonitor.decodingMonitor cfg 16 valid valLabels
let random = Decoding.randomSplits (Random.key 7) 5 2000 0.25
let blocks = Decoding.blockSplits (Random.key 8) 5 2000 100 0.25

let acc (a: float[,,]) splits =
    (Decoding.decodingSpread 3 (Decoding.flatten a) testLabels splits).Mean

let measure (p: Params) =
    let r100 = Evaluate.evaluateRecord cfg p None test100
    let r1000 = Evaluate.evaluateRecord cfg p None test1000
    let usage = Mixture.mixtureUsage (Decoding.flatten r100.W)

    [
        yield! valMonitor p |> List.map (fun (n, v) -> "val_" + n, v)
        "t100_r2", acc r100.R2Hat random
        "t100_w", acc r100.W random
        "t100_r2_blk", acc r100.R2Hat blocks
        "t100_w_blk", acc r100.W blocks
        "t1000_r2", acc r1000.R2Hat random
        "t1000_w", acc r1000.W random
        "t1000_r2_blk", acc r1000.R2Hat blocks
        "t1000_w_blk", acc r1000.W blocks
        "w_components", float (usage.Share |> Array.filter (fun v -> v > 0.01) |> Array.length)
    ]

let watch = Diagnostics.Stopwatch.StartNew()
let mutable header = false

let options =
    { Train.defaultFitOptions cfg with
        BatchSize = 16
        Epochs = epochs
        Seed = modelSeed
        ValidateEvery = every
    }

let fit =
    Train.fitMonitored
        cfg
        options
        {
            Every = every
            Measure =
                fun p ->
                    let m = measure p

                    if not header then
                        printfn "run,seconds,%s" (String.Join(",", m |> List.map fst))
                        header <- true

                    printfn
                        "%s,%.0f,%s"
                        name
                        watch.Elapsed.TotalSeconds
                        (String.Join(",", m |> List.map (fun (_, v) -> v.ToString("F3"))))

                    Console.Out.Flush()
                    m
            Selection = HighestMetric("val_" + TrainingMonitor.R2HatAccuracy)
            StatesSha256 = None
        }
        train
        (Some valid)
        (Train.init cfg kModel)

match fit.State.Best with
| Some b ->
    let row = fit.State.History |> Array.find (fun e -> e.Epoch = b.Epoch)

    printfn
        "%s selected epoch %d: %s"
        name
        (b.Epoch + 1)
        (String.Join(" ", row.Monitor |> List.map (fun (n, v) -> $"{n}={v:F3}")))
| None -> printfn "%s: no best model" name

printfn "%s done in %.0f s" name watch.Elapsed.TotalSeconds
