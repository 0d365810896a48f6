// Sweep training (issue 22 item 6): trains the demo's model on the demo's data (SLDS seed 1,
// 20 000 / 2 000 / 2 000 steps) with the options given as key=value, and saves the parameters
// every EVERY epochs to OUT/NAME/epoch-E.json (state_dict JSON), with the configuration as
// OUT/NAME/config.json. No measuring here: `sweep-measure.fsx` measures the saved models.
//   dotnet fsi sweep-train.fsx NAME EPOCHS EVERY [key=value ...]
// env: TIDHY_SWEEP_BIN (the Release build), TIDHY_SWEEP_OUT (default ./sweep-runs),
//      TIDHY_SWEEP_MODEL_SEED (the model's and the shuffle's seed; default 1, the demo's).
#I "../../src/TiDHy.Cli/bin/Release/net10.0"
#r "MathNet.Numerics.dll"
#r "TiDHy.Kernels.dll"
#r "TiDHy.Functional.dll"

open System
open System.IO
open TiDHy.Functional

let args = fsi.CommandLineArgs |> Array.skip 1
let name, epochs, every = args[0], int args[1], int args[2]
let seed = 1
let kData, kDemoModel = Random.split (Random.key seed)

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
let batch = 16

let train0 =
    Series.windowsStrided cfg.SequenceLength cfg.Overlap data.Train.Observations
// Stateful training runs batch streams over consecutive windows: a multiple of the batch.
let train =
    if cfg.Stateful then
        let n = Array3D.length1 train0 / batch * batch
        train0[0 .. n - 1, *, *]
    else
        train0

let valid = Series.windowsStrided 100 100 data.Val.Observations

let dir =
    Path.Combine(
        (match Environment.GetEnvironmentVariable "TIDHY_SWEEP_OUT" with
         | null
         | "" -> "sweep-runs"
         | d -> d),
        name
    )

Directory.CreateDirectory dir |> ignore
File.WriteAllText(Path.Combine(dir, "config.json"), ConfigJson.toJson cfg)
let watch = Diagnostics.Stopwatch.StartNew()
let mutable measured = 0

let fit =
    Train.fitMonitored
        cfg
        { Train.defaultFitOptions cfg with
            BatchSize = batch
            Epochs = epochs
            Seed = modelSeed
            ValidateEvery = every
        }
        {
            Every = every
            Measure =
                fun p ->
                    measured <- measured + 1
                    let e = min epochs (measured * every)
                    StateDict.save (Path.Combine(dir, $"epoch-{e}.json")) p
                    printfn "%s epoch %d saved at %.0f s" name e watch.Elapsed.TotalSeconds
                    Console.Out.Flush()
                    [ "saved", float e ]
            Selection = ValidationLoss
            StatesSha256 = None
        }
        train
        (Some valid)
        (Train.init cfg kModel)

printfn
    "%s done: %d epochs, %.0f s, %d windows of %d (stride %d)%s"
    name
    fit.State.Epoch
    watch.Elapsed.TotalSeconds
    (Array3D.length1 train)
    cfg.SequenceLength
    cfg.Overlap
    (if cfg.Stateful then ", stateful" else "")
