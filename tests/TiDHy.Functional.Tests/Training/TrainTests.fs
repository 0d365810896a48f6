/// Tests of `Train`: the pure step, batching, and the epoch loop (progress, validation, best
/// model, cancellation and exact resumption, stateful windows, a falling loss on synthetic data).
module TiDHy.Functional.Tests.TrainTests

open System.Threading
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open Xunit

let private cfg =
    { smallConfig with
        NumEpochs = 100
        GradNorm = false
    }

let private options =
    { Train.defaultFitOptions cfg with
        BatchSize = 4
        Epochs = 6
        Seed = 5
    }

[<Fact>]
let ``Train.step is pure: the same state and batch give the same result, the state unchanged`` () =
    let state = Train.init { cfg with GradNorm = true } (Random.key 1)
    let before = Checkpoint.toBytes { cfg with GradNorm = true } state
    let X = syntheticWindows 2 3 5 cfg.InputDim
    let s1, m1 = Train.step { cfg with GradNorm = true } state X
    let s2, m2 = Train.step { cfg with GradNorm = true } state X
    Assert.Equal(m1, m2)

    Assert.Equal<byte[]>(
        Checkpoint.toBytes { cfg with GradNorm = true } s1,
        Checkpoint.toBytes { cfg with GradNorm = true } s2
    )

    Assert.Equal<byte[]>(before, Checkpoint.toBytes { cfg with GradNorm = true } state)
    Assert.Equal(1, s1.Batch)
    Assert.Equal(1, s1.Optimizer.Step)
    Assert.True(s1.GradNorm.L0.IsSome)

[<Fact>]
let ``A few epochs of Train.fit lower the training loss on a synthetic series`` () =
    let train = syntheticWindows 3 16 8 cfg.InputDim
    let res = Train.fit cfg options train None (Train.init cfg (Random.key 7))
    let curve = res.State.History |> Array.map _.Train.Total

    curve
    |> Array.iteri (fun k v -> report $"fit synthetic training total, epoch {k}" v 0.0)

    Assert.Equal(6, curve.Length)
    Assert.False(res.Cancelled)
    Assert.True(curve[5] < 0.9 * curve[0], $"training totals by epoch: %A{curve}")
    Assert.True(res.State.Best.IsSome)
    Assert.Equal(Array.min curve, res.State.Best.Value.Score)

[<Fact>]
let ``Train.fit reports every batch, validates every k epochs and keeps the best model`` () =
    let train = syntheticWindows 3 10 6 cfg.InputDim
    let valid = syntheticWindows 4 4 6 cfg.InputDim
    let reports = ResizeArray<FitProgress>()

    let res =
        Train.fit
            cfg
            { options with
                Epochs = 5
                ValidateEvery = 2
                Progress = reports.Add
            }
            train
            (Some valid)
            (Train.init cfg (Random.key 7))

    // 10 windows in batches of 4: 3 batches per epoch, the last of 2.
    Assert.Equal(15, reports.Count)
    Assert.All(reports, fun r -> Assert.Equal(3, r.Batches))

    Assert.Equal<int list>(
        [ 1; 3; 4 ],
        [
            for r in res.State.History do
                if r.Validation.IsSome then
                    r.Epoch
        ]
    )

    let validated =
        res.State.History
        |> Array.choose (fun r -> r.Validation |> Option.map (fun v -> r.Epoch, v))

    let bestEpoch, bestScore = validated |> Array.minBy snd
    Assert.Equal(bestEpoch, res.State.Best.Value.Epoch)
    Assert.Equal(bestScore, res.State.Best.Value.Score)
    Assert.Equal(bestScore, Train.validationLoss cfg res.State.Best.Value.Params options.BatchSize valid)

[<Fact>]
let ``A cancelled fit resumes bit for bit where it stopped`` () =
    let train = syntheticWindows 3 10 6 cfg.InputDim
    let start = Train.init cfg (Random.key 7)
    let full = Train.fit cfg { options with Epochs = 3 } train None start
    use cts = new CancellationTokenSource()
    let mutable seen = 0

    let stop (_: FitProgress) =
        seen <- seen + 1

        if seen = 4 then
            cts.Cancel()

    let part =
        Train.fit
            cfg
            { options with
                Epochs = 3
                Progress = stop
                Cancellation = cts.Token
            }
            train
            None
            start

    Assert.True(part.Cancelled)
    Assert.Equal(1, part.State.Epoch)
    Assert.Equal(1, part.State.Batch)
    // Through a checkpoint file and back, then on to the end.
    let reloaded =
        (Checkpoint.ofBytes "memory" (Checkpoint.toBytes cfg part.State)).State

    let rest = Train.fit cfg { options with Epochs = 3 } train None reloaded
    Assert.Equal(full.State.Params, rest.State.Params)
    Assert.Equal(full.State.Optimizer, rest.State.Optimizer)

    Assert.Equal<EpochLosses[]>(full.State.History |> Array.map _.Train, rest.State.History |> Array.map _.Train)

[<Fact>]
let ``Stateful training passes each stream's carry to its next window`` () =
    let scfg = { cfg with Stateful = true }
    Assert.Equal<int[][]>([| [| 0; 3 |]; [| 1; 4 |]; [| 2; 5 |] |], Train.batches scfg 2 0 0 6)

    Assert.Throws<System.ArgumentException>(fun () -> Train.batches scfg 4 0 0 6 |> ignore)
    |> ignore

    let train = syntheticWindows 3 6 5 cfg.InputDim
    let state = Train.init scfg (Random.key 7)

    let s1, _ =
        Train.step scfg state (Array3D.init 2 5 cfg.InputDim (fun b t d -> train[[| 0; 3 |][b], t, d]))

    Assert.True(s1.Carry.IsSome)
    // The second batch starts from the first batch's final state, so it differs from a fresh start.
    let X2 = Array3D.init 2 5 cfg.InputDim (fun b t d -> train[[| 1; 4 |][b], t, d])
    let _, withCarry = Train.step scfg s1 X2
    let _, fresh = Train.step scfg { s1 with Carry = None } X2
    Assert.NotEqual(withCarry.Losses.SpatialLossRHat, fresh.Losses.SpatialLossRHat)

    let res =
        Train.fit
            scfg
            { options with
                Epochs = 2
                BatchSize = 2
            }
            train
            None
            state

    Assert.Equal(2, res.State.History.Length)
    Assert.True(res.State.Carry.IsNone)

[<Fact>]
let ``Each epoch visits every window once, in a seeded order`` () =
    let a = Train.batches cfg 4 9 3 10
    Assert.Equal<int[]>(Array.init 10 id, a |> Array.concat |> Array.sort)
    Assert.Equal<int[][]>(a, Train.batches cfg 4 9 3 10)
    Assert.NotEqual<int[][]>(a, Train.batches cfg 4 9 4 10)
    Assert.Equal<int list>([ 4; 4; 2 ], a |> Array.map Array.length |> Array.toList)

[<Fact>]
let ``Bad training input is an error naming the argument`` () =
    let state = Train.init cfg (Random.key 7)
    let wrongD = syntheticWindows 3 4 5 (cfg.InputDim + 1)

    let ex =
        Assert.Throws<System.ArgumentException>(fun () -> Train.fit cfg options wrongD None state |> ignore)

    Assert.Contains("train", ex.Message)
    let withNaN = syntheticWindows 3 4 5 cfg.InputDim
    withNaN[1, 2, 3] <- nan

    let ex =
        Assert.Throws<System.ArgumentException>(fun () -> Train.fit cfg options withNaN None state |> ignore)

    Assert.Contains("train", ex.Message)

[<Fact>]
let ``With normalize_spatial and normalize_temporal a step leaves unit-norm decoder columns and temporal rows`` () =
    let ncfg =
        { cfg with
            NormalizeSpatial = true
            NormalizeTemporal = true
            LearningRateS = 0.2
            LearningRateT = 0.2
        }

    let s, _ =
        Train.step ncfg (Train.init ncfg (Random.key 4)) (syntheticWindows 1 3 5 cfg.InputDim)

    match s.Params.SpatialDecoder, s.Params.Temporal with
    | LinearDecoder l, FullRank t ->
        for j in 0 .. Array2D.length2 l.Weight - 1 do
            assertCloseScalar $"column {j}" 1e-12 (Numerics.norm l.Weight[*, j]) 1.0

        for k in 0 .. Array2D.length1 t - 1 do
            assertCloseScalar $"row {k}" 1e-12 (Numerics.norm t[k, *]) 1.0
    | _ -> failwith "expected a linear decoder and full-rank temporal"

    let free, _ =
        Train.step cfg (Train.init cfg (Random.key 4)) (syntheticWindows 1 3 5 cfg.InputDim)

    match free.Params.SpatialDecoder with
    | LinearDecoder l -> Assert.True(abs (Numerics.norm l.Weight[*, 0] - 1.0) > 1e-6)
    | _ -> ()

[<Fact>]
let ``A cancelled token stops a fused step between the time steps of its inference; the pooled workspace stays exact``
    ()
    =
    Assert.True(FusedObjective.supports cfg, "the test needs a fused configuration")
    let X = syntheticWindows 5 4 12 cfg.InputDim
    let s0 = Train.init cfg (Random.key 3)
    let before, _ = Train.step cfg s0 X
    use cts = new CancellationTokenSource()
    cts.Cancel()
    // FusedStep checks the token inside the inference's time loop (Train.stepCancellable also before).
    Assert.Throws<System.OperationCanceledException>(fun () -> FusedStep.stepCancellable cts.Token cfg s0 X |> ignore)
    |> ignore

    Assert.Throws<System.OperationCanceledException>(fun () -> Train.stepCancellable cts.Token cfg s0 X |> ignore)
    |> ignore

    // Uncancelled: the same step, bit for bit, on the workspace the cancelled step used.
    let after, _ = Train.stepCancellable CancellationToken.None cfg s0 X

    // The whole state, as a checkpoint's bytes (round-trip numbers).
    Assert.Equal<byte[]>(Checkpoint.toBytes cfg before, Checkpoint.toBytes cfg after)

[<Fact>]
let ``A step under the exponential schedule moves as a constant schedule with the decayed learning rates`` () =
    let X = syntheticWindows 2 3 5 cfg.InputDim
    let start = Train.init cfg (Random.key 3)
    // 250 optimizer steps taken: the next one runs at 0.96^2.5 of the learning rates.
    let state =
        { start with
            Optimizer = { start.Optimizer with Step = 250 }
        }

    let f = System.Math.Pow(0.96, 2.5)

    let decayed =
        { cfg with
            LearningRateSchedule = LearningRateSchedule.Exponential
            ScheduleTransitionSteps = 100
            ScheduleDecay = 0.96
        }

    let constant =
        { cfg with
            LearningRateSchedule = LearningRateSchedule.Constant
            LearningRateS = cfg.LearningRateS * f
            LearningRateT = cfg.LearningRateT * f
            LearningRateH = cfg.LearningRateH * f
        }

    let a, _ = Train.step decayed state X
    let b, _ = Train.step constant state X

    let c, _ =
        Train.step
            { constant with
                LearningRateS = cfg.LearningRateS
            }
            state
            X

    Assert.Equal(b.Params, a.Params)
    // The schedule matters: undecayed rates give other parameters.
    Assert.NotEqual(c.Params, a.Params)

[<Fact>]
let ``A cancelled fit under the exponential staircase schedule resumes bit for bit`` () =
    let scfg =
        { cfg with
            LearningRateSchedule = LearningRateSchedule.ExponentialStaircase
            ScheduleTransitionSteps = 2
            ScheduleDecay = 0.5
        }

    let train = syntheticWindows 3 10 6 cfg.InputDim
    let start = Train.init scfg (Random.key 7)
    let full = Train.fit scfg { options with Epochs = 3 } train None start
    // The schedule is in effect: the default Halving (factor 1 in these epochs) trains otherwise.
    let plain = Train.fit cfg { options with Epochs = 3 } train None start
    Assert.NotEqual(plain.State.Params, full.State.Params)
    // 3 batches per epoch: the last step (the 9th) ran at 0.5^(8 div 2) = 0.0625.
    Assert.Equal(0.0625, (Array.last full.State.History).LearningRateFactor)
    use cts = new CancellationTokenSource()
    let mutable seen = 0

    let stop (_: FitProgress) =
        seen <- seen + 1

        if seen = 5 then
            cts.Cancel()

    let part =
        Train.fit
            scfg
            { options with
                Epochs = 3
                Progress = stop
                Cancellation = cts.Token
            }
            train
            None
            start

    Assert.True(part.Cancelled)

    let stored = Checkpoint.ofBytes "memory" (Checkpoint.toBytes scfg part.State)
    Assert.Equal(scfg, stored.Config)
    let rest = Train.fit scfg { options with Epochs = 3 } train None stored.State
    Assert.Equal(full.State.Params, rest.State.Params)
    Assert.Equal(full.State.Optimizer, rest.State.Optimizer)
