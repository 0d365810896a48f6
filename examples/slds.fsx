// The SLDS experiment (MODEL.md "The SLDS benchmark data"): three switching linear dynamical
// systems, partially superimposed; train TiDHy and compare what it found (the Analysis modules:
// Decoding, Clustering, Timescales, Mixture) with the true discrete states and timescales. Build
// the library first (`dotnet build src/TiDHy.Functional -c Release`).
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

// The joint discrete state (2³ = 8 combinations) at each test step: what W and r2 should track.
let steps = Array3D.length1 test * cfg.SequenceLength
let states = data.Test.States[0 .. steps - 1, *]
let joint = Decoding.jointStates data.Options.States states

printfn "test reconstruction loss %.4f, forecast loss %.4f" record.SpatialLossRHatAvg record.SpatialLossRBarAvg

// Decoding (upstream's notebooks): kNN with k = 3 on 75/25 splits, random steps and contiguous
// windows, over 3 seeds.
let randomSplits = Decoding.randomSplits (Random.key 42) 3 steps 0.25

let blockSplits =
    Decoding.blockSplits (Random.key 42) 3 steps cfg.SequenceLength 0.25

for name, a in [ "R2_hat", record.R2Hat; "W", record.W; "R_hat", record.RHat; "I", record.I ] do
    let x = Decoding.flatten a
    let r = Decoding.decodingSpread 3 x joint randomSplits
    let b = Decoding.decodingSpread 3 x joint blockSplits

    printfn
        "kNN decoding from %-6s random %.3f ± %.3f (chance %.3f), blocks %.3f ± %.3f (chance %.3f)"
        name
        r.Mean
        r.Std
        r.ChanceMean
        b.Mean
        b.Std
        b.ChanceMean

// Unsupervised agreement: the dominant mixture weight, and k-means of r2 with 8 clusters.
let show (name: string) (a: ClusterAgreement) =
    printfn
        "%-22s matched accuracy %.3f, ARI %.3f, NMI %.3f, V-measure %.3f, purity %.3f"
        name
        a.MatchedAccuracy
        a.AdjustedRand
        a.NormalisedMutualInformation
        a.VMeasure
        a.Purity

show "argmax W:" (Clustering.clusterAgreement joint (Decoding.argmaxLabels (Decoding.flatten record.W)))
let clusters = Clustering.kMeans (Random.key 0) 8 (Decoding.flatten record.R2Hat)
show "k-means of r2 (k = 8):" (Clustering.clusterAgreement joint clusters.Labels)

// Timescales: the true systems' against those of the learned V_k and of V_t over time.
for m in Timescales.sldsModes 1.0 data.Systems do
    let slowest = m.Modes |> Array.head
    printfn "system %d state %d: true timescale %.1f steps" m.System m.State slowest.Timescale

let usage = Mixture.mixtureUsage (Decoding.flatten record.W)

Timescales.componentModes 1.0 fit.State.Params
|> Array.iteri (fun k modes ->
    if usage.Share[k] > 0.05 then
        let taus =
            modes |> Array.map (fun m -> sprintf "%.1f" m.Timescale) |> String.concat ", "

        printfn "V_%d (%.0f%% of the weight): timescales %s" k (100.0 * usage.Share[k]) taus)

for e in Timescales.stateTimescaleRecovery 0.25 1.0 record.Ut states data.Systems do
    printfn
        "system %d state %d: V_t recovers %.1f (median; true %.1f), within 25%% on %.0f%% of its steps"
        e.System
        e.State
        e.MedianRecovered
        e.True
        (100.0 * e.WithinShare)
