// The SLDS experiment (MODEL.md "The SLDS benchmark data"): three switching linear dynamical
// systems, partially superimposed; train TiDHy and compare its mixture weights W with the true
// discrete states. Build the library first (`dotnet build src/TiDHy.Functional -c Release`).
// `dotnet fsi examples/slds.fsx [trainLength] [epochs]` (defaults 2000 and 4: a small size).
#r "../src/TiDHy.Functional/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/TiDHy.Functional/bin/Release/net10.0/TiDHy.Functional.dll"

open TiDHy.Functional

let args = fsi.CommandLineArgs |> Array.skip 1
let trainLength = if args.Length > 0 then int args[0] else 2000
let epochs = if args.Length > 1 then int args[1] else 4

let data =
    Slds.generate
        { Slds.defaults with
            TrainLength = trainLength
            ValLength = 500
            TestLength = 500
        }
        (Random.key 0)

// With upstream's random projection the observations have 20 channels.
let features = Array2D.length2 data.Train.Observations

let cfg =
    { Config.defaults features with
        MaxIter = 100
        SequenceLength = 100
        Overlap = 50
        NumEpochs = 100
    }

let windows step (s: float[,]) =
    Series.windowsStrided cfg.SequenceLength step s

let train = windows cfg.Overlap data.Train.Observations
let test = windows cfg.SequenceLength data.Test.Observations
printfn "%d channels; %d training windows, %d test windows" features (Array3D.length1 train) (Array3D.length1 test)

let fit =
    Train.fit
        cfg
        { Train.defaultFitOptions cfg with
            BatchSize = 8
            Epochs = epochs
            Progress =
                fun p ->
                    p.Completed
                    |> Option.iter (fun e -> printfn "epoch %d: total %.4f" (e.Epoch + 1) e.Train.Total)
        }
        train
        None
        (Train.init cfg (Random.key 1))

let record = Evaluate.evaluateRecord cfg fit.State.Params None test

// The joint discrete state (2³ = 8 combinations) at each test step, beside the dominant mixture weight.
let steps = Array3D.length1 test * cfg.SequenceLength

let joint t =
    Seq.sum (seq { for s in 0 .. Array2D.length2 data.Test.States - 1 -> data.Test.States[t, s] <<< s })

let dominant t =
    let w = record.W[t / cfg.SequenceLength, t % cfg.SequenceLength, *]
    Array.findIndex ((=) (Array.max w)) w

// How well the dominant weight predicts the joint state: the share of steps whose joint state is
// the most common one for their dominant weight (1 would be a perfect match).
let agreement =
    [ 0 .. steps - 1 ]
    |> List.groupBy dominant
    |> List.sumBy (fun (_, ts) -> ts |> List.countBy joint |> List.map snd |> List.max)
    |> fun n -> float n / float steps

printfn "test reconstruction loss %.4f, forecast loss %.4f" record.SpatialLossRHatAvg record.SpatialLossRBarAvg
printfn "purity of the joint discrete state given the dominant mixture weight: %.3f" agreement
