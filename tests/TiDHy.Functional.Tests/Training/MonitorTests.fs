/// Tests of analyses during training (`Train.fitMonitored`, `Monitoring`, `Selection`): metrics
/// recorded every k epochs and after the last, selection of the best model by a monitor metric,
/// checkpoints with metrics (and without, as older files), exact resumption with a monitor, and
/// `TrainingMonitor.decodingMonitor`.
module TiDHy.Functional.Tests.MonitorTests

open System
open System.Security.Cryptography
open System.Text
open System.Threading
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private cfg =
    { smallConfig with
        NumEpochs = 100
        GradNorm = false
    }

let private options =
    { Train.defaultFitOptions cfg with
        BatchSize = 4
        Epochs = 5
        Seed = 5
    }

let private train = TestInputs.syntheticWindows 3 8 6 cfg.InputDim
let private valid = TestInputs.syntheticWindows 4 3 6 cfg.InputDim

/// A metric that depends on the parameters alone: the sum of every leaf.
let private paramSum (p: Params) =
    ParamTree.leaves p |> List.sumBy (snd >> Array.sum)

[<Fact>]
let ``A monitor runs every k epochs and after the last, and its metrics join the history`` () =
    let mutable calls = 0

    let monitoring =
        {
            Every = 2
            Measure =
                fun p ->
                    calls <- calls + 1
                    [ "calls", float calls; "sum", paramSum p ]
            Selection = ValidationLoss
            StatesSha256 = None
        }

    let res =
        Train.fitMonitored cfg options monitoring train (Some valid) (Train.init cfg (Random.key 7))

    Assert.Equal(3, calls)

    Assert.Equal<(int * float) list>(
        [ 1, 1.0; 3, 2.0; 4, 3.0 ],
        [
            for r in res.State.History do
                match r.Monitor with
                | [ ("calls", c); ("sum", _) ] -> r.Epoch, c
                | [] -> ()
                | other -> failwith $"unexpected metrics %A{other}"
        ]
    )

    // The metric is of the epoch's final parameters: the last epoch's are the returned ones.
    Assert.Equal(paramSum res.State.Params, snd (Array.last res.State.History).Monitor[1])
    // Selection by the validation loss is unchanged by the monitor.
    let plain = Train.fit cfg options train (Some valid) (Train.init cfg (Random.key 7))
    Assert.Equal(plain.State.Best, res.State.Best)
    Assert.Equal(BestModel.LossCriterion, res.State.Best.Value.Criterion)
    Assert.All(plain.State.History, fun r -> Assert.Empty r.Monitor)

[<Fact>]
let ``Selecting by a monitor metric keeps the model of the epoch where it is highest`` () =
    // The score rises to its peak at the 3rd call (epoch 2), then falls; it is independent of the
    // losses, so only the monitor can pick epoch 2.
    let measured = ResizeArray<Params>()

    let monitoring =
        {
            Every = 1
            Measure =
                fun p ->
                    measured.Add p
                    let c = float measured.Count
                    [ "score", -(c - 3.0) * (c - 3.0); "other", c ]
            Selection = HighestMetric "score"
            StatesSha256 = None
        }

    let res =
        Train.fitMonitored cfg options monitoring train (Some valid) (Train.init cfg (Random.key 7))

    let best = res.State.Best.Value
    Assert.Equal(2, best.Epoch)
    Assert.Equal(0.0, best.Score)
    Assert.Equal("score", best.Criterion)
    Assert.Equal(measured[2], best.Params)
    Assert.NotEqual(measured[4], best.Params)

    // Without validation data too.
    measured.Clear()

    let res2 =
        Train.fitMonitored cfg options monitoring train None (Train.init cfg (Random.key 7))

    Assert.Equal(2, res2.State.Best.Value.Epoch)

[<Fact>]
let ``A fit with a monitor resumes bit for bit, metrics and best model through a checkpoint`` () =
    let monitoring =
        {
            Every = 2
            Measure = fun p -> [ "sum", paramSum p; "neg", -(paramSum p) ]
            Selection = HighestMetric "neg"
            StatesSha256 = None
        }

    let start = Train.init cfg (Random.key 7)
    let full = Train.fitMonitored cfg options monitoring train (Some valid) start
    use cts = new CancellationTokenSource()
    let mutable seen = 0

    let stop (_: FitProgress) =
        seen <- seen + 1

        if seen = 7 then
            cts.Cancel()

    let part =
        Train.fitMonitored
            cfg
            { options with
                Progress = stop
                Cancellation = cts.Token
            }
            monitoring
            train
            (Some valid)
            start

    Assert.True(part.Cancelled)
    Assert.Equal(3, part.State.Epoch)
    Assert.Equal(1, part.State.Batch)
    Assert.Empty(part.State.History[0].Monitor)
    Assert.Equal(2, part.State.History[1].Monitor.Length)
    Assert.Equal("neg", part.State.Best.Value.Criterion)

    let bytes = Checkpoint.toBytes cfg part.State
    let reloaded = (Checkpoint.ofBytes "memory" bytes).State
    Assert.Equal<(string * float) list>(part.State.History[1].Monitor, reloaded.History[1].Monitor)
    Assert.Equal(part.State.Best, reloaded.Best)
    Assert.Equal<byte[]>(bytes, Checkpoint.toBytes cfg reloaded)

    let rest = Train.fitMonitored cfg options monitoring train (Some valid) reloaded
    Assert.Equal(full.State.Params, rest.State.Params)
    Assert.Equal(full.State.Optimizer, rest.State.Optimizer)
    Assert.Equal(full.State.Best, rest.State.Best)

    Assert.Equal<(string * float) list[]>(
        full.State.History |> Array.map _.Monitor,
        rest.State.History |> Array.map _.Monitor
    )

    Assert.Equal<EpochLosses[]>(full.State.History |> Array.map _.Train, rest.State.History |> Array.map _.Train)

/// `bytes` re-signed after `edit` of the JSON body (the header's SHA-256 recomputed).
let private reSigned (edit: string -> string) (bytes: byte[]) =
    let nl = Array.IndexOf(bytes, byte '\n')
    let body = Encoding.UTF8.GetBytes(edit (Encoding.UTF8.GetString bytes[nl + 1 ..]))
    let hex = Convert.ToHexString(SHA256.HashData body).ToLowerInvariant()
    Array.append (Encoding.ASCII.GetBytes $"{Checkpoint.Magic} {Checkpoint.Version} sha256={hex}\n") body

[<Fact>]
let ``Checkpoints without monitor metrics or a criterion, as older ones, still load`` () =
    let res =
        Train.fit cfg { options with Epochs = 2 } train (Some valid) (Train.init cfg (Random.key 7))

    let bytes = Checkpoint.toBytes cfg res.State
    let text = Encoding.UTF8.GetString bytes
    Assert.Contains("\"monitor\": {}", text)
    Assert.Contains("\"criterion\": \"loss\"", text)

    let old =
        bytes
        |> reSigned (fun body ->
            body.Replace(",\n      \"monitor\": {}", "").Replace("\n    \"criterion\": \"loss\",", ""))

    let oldText = Encoding.UTF8.GetString old
    Assert.DoesNotContain("monitor", oldText)
    Assert.DoesNotContain("criterion", oldText)
    let back = (Checkpoint.ofBytes "old" old).State
    Assert.All(back.History, fun h -> Assert.Empty h.Monitor)
    Assert.Equal(res.State.Best, back.Best)
    Assert.Equal<byte[]>(bytes, Checkpoint.toBytes cfg back)

[<Fact>]
let ``Resuming with another criterion replaces the best model at the first monitored epoch`` () =
    let byLoss =
        Train.fit cfg { options with Epochs = 2 } train (Some valid) (Train.init cfg (Random.key 7))

    Assert.Equal(BestModel.LossCriterion, byLoss.State.Best.Value.Criterion)

    let monitoring =
        {
            Every = 1
            Measure = fun _ -> [ "m", -1000.0 ]
            Selection = HighestMetric "m"
            StatesSha256 = None
        }

    let res =
        Train.fitMonitored cfg { options with Epochs = 3 } monitoring train (Some valid) byLoss.State

    Assert.Equal(2, res.State.Best.Value.Epoch)
    Assert.Equal("m", res.State.Best.Value.Criterion)
    Assert.Equal(-1000.0, res.State.Best.Value.Score)

[<Fact>]
let ``Bad monitors are refused by name`` () =
    let run (m: Monitoring) =
        Train.fitMonitored cfg { options with Epochs = 1 } m train (Some valid) (Train.init cfg (Random.key 7))
        |> ignore

    let ok =
        {
            Every = 1
            Measure = fun _ -> [ "a", 1.0 ]
            Selection = ValidationLoss
            StatesSha256 = None
        }

    let every = Assert.Throws<ArgumentException>(fun () -> run { ok with Every = 0 })
    Assert.Contains("monitoring.Every", every.Message)

    let missing =
        Assert.Throws<ArgumentException>(fun () ->
            run
                { ok with
                    Selection = HighestMetric "b"
                })

    Assert.Contains("'b'", missing.Message)
    Assert.Contains("a", missing.Message)

    let twice =
        Assert.Throws<ArgumentException>(fun () ->
            run
                { ok with
                    Measure = fun _ -> [ "a", 1.0; "a", 2.0 ]
                })

    Assert.Contains("'a' appears twice", twice.Message)

    let nan =
        Assert.Throws<TrainingDivergedException>(fun () ->
            run
                { ok with
                    Measure = fun _ -> [ "a", nan ]
                })

    Assert.Contains("monitor metric 'a'", nan.Message)

[<Fact>]
let ``stateLabels numbers distinct state rows in order of first appearance`` () =
    let states = array2D [ [ 1; 0 ]; [ 0; 1 ]; [ 1; 0 ]; [ 2; 2 ]; [ 0; 1 ] ]
    Assert.Equal<int[]>([| 0; 1; 0; 2; 1 |], Decoding.stateLabels states)
    // The same partition as jointStates.
    let joint = Decoding.jointStates 3 states
    Assert.Equal<int[]>([| 3; 1; 3; 8; 1 |], joint)

[<Fact>]
let ``decodingMonitor decodes the validation steps' states from R2_hat and W`` () =
    let p = Init.init cfg (Random.key 3)
    let steps = 3 * 6
    // Labels that follow the windows: window 0, 1, 2.
    let labels = Array.init steps (fun i -> i / 6)
    let measure = TrainingMonitor.decodingMonitor cfg 2 valid labels
    let metrics = measure p

    Assert.Equal<string list>(
        [ "r2_hat_accuracy"; "w_accuracy"; "r_hat_accuracy"; "raw_input_accuracy" ],
        List.map fst metrics
    )

    // The same as decoding the evaluation record by hand on the fixed splits.
    let series =
        Array2D.init steps (Array3D.length3 valid) (fun i d -> valid[i / 6, i % 6, d])

    let record = Evaluate.evaluateSeries cfg p 2 SeriesEvaluation.Continuous series

    // 18 steps: blocks of 18 / 8 = 2 steps, 25% of the 9 blocks held out.
    Assert.Equal(2, TrainingMonitor.blockLength steps)

    let splits =
        Decoding.blockSplits (Random.key 0) TrainingMonitor.monitorSplits steps 2 0.25

    let expected (a: float[,,]) =
        (Decoding.decodingSpread 3 (Decoding.flatten a) labels splits).Mean

    Assert.Equal(expected record.R2Hat, List.item 0 metrics |> snd)
    Assert.Equal(expected record.W, List.item 1 metrics |> snd)
    Assert.Equal(expected record.RHat, List.item 2 metrics |> snd)
    // The raw input: the validation windows themselves, step by step.
    let rawSteps =
        Array3D.init 1 steps (Array3D.length3 valid) (fun _ i d -> valid[i / 6, i % 6, d])

    Assert.Equal(expected rawSteps, List.item 3 metrics |> snd)
    // The raw input's does not move with the parameters; the latents' do.
    let other = measure (Init.init cfg (Random.key 4))
    Assert.Equal(List.item 3 metrics |> snd, List.item 3 other |> snd)
    Assert.All(metrics, fun (_, v) -> Assert.InRange(v, 0.0, 1.0))
    // Deterministic: the same parameters give the same metrics.
    Assert.Equal<(string * float) list>(metrics, measure p)

    let wrong =
        Assert.Throws<ArgumentException>(fun () -> TrainingMonitor.decodingMonitor cfg 2 valid labels[1..] |> ignore)

    Assert.Contains("expected 18 labels", wrong.Message)

[<Fact>]
let ``decodingMonitor as the monitor of a fit selects by the R2_hat accuracy`` () =
    let labels = Array.init (3 * 6) (fun i -> (i / 3) % 2)

    let monitoring =
        {
            Every = 1
            Measure = TrainingMonitor.decodingMonitor cfg options.BatchSize valid labels
            Selection = HighestMetric TrainingMonitor.R2HatAccuracy
            StatesSha256 = None
        }

    let res =
        Train.fitMonitored cfg { options with Epochs = 3 } monitoring train (Some valid) (Train.init cfg (Random.key 7))

    let accuracies =
        res.State.History
        |> Array.map (fun h -> h.Monitor |> List.find (fst >> (=) TrainingMonitor.R2HatAccuracy) |> snd)

    let bestEpoch = Array.IndexOf(accuracies, Array.max accuracies)
    Assert.Equal(bestEpoch, res.State.Best.Value.Epoch)
    Assert.Equal(Array.max accuracies, res.State.Best.Value.Score)
