/// Tests of the library functions the `tidhy` commands use: `Series.splitTail` (the held-out
/// validation tail), `Evaluate.evaluateSeries` (a series continuously, carried or restarting) and
/// `Checkpoint.isCheckpoint` (the header probe).
module TiDHy.Functional.Tests.CommandSupportTests

open System
open System.IO
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// `[time; features]` with entry `(t, j) = 100·t + j`, so every entry names its position.
let private ramp time features =
    Array2D.init time features (fun t j -> float (100 * t + j))

[<Fact>]
let ``The tail split holds out the rounded last fraction and drops nothing`` () =
    let s = ramp 25 2
    let split = Series.splitTail 0.1 s
    let train, valid = split.Train, split.Val
    // round(2.5) = 2 (ties to even)
    Assert.Equal((23, 2), (Array2D.length1 train, Array2D.length2 train))
    Assert.Equal((2, 2), (Array2D.length1 valid, Array2D.length2 valid))
    Assert.Equal<float[,]>(s[..22, *], train)
    Assert.Equal<float[,]>(s[23.., *], valid)
    // round(3.5) = 4, round(0.4) = 0
    Assert.Equal(4, Array2D.length1 (Series.splitTail 0.1 (ramp 35 1)).Val)
    Assert.Equal(0, Array2D.length1 (Series.splitTail 0.1 (ramp 4 1)).Val)
    Assert.Equal<float[,]>(ramp 4 1, (Series.splitTail 0.0 (ramp 4 1)).Train)
    // splitFractions floors instead: 0.9·25 → 22 training steps, 0.1·25 → 2 validation, 1 test step
    let f = Series.splitFractions 0.9 0.1 s
    Assert.Equal(22, Array2D.length1 f.Train)
    Assert.Equal(1, Array2D.length1 f.Test)

    for bad in [ -0.1; 1.0; nan ] do
        Assert.Throws<ArgumentException>(fun () -> Series.splitTail bad s |> ignore)
        |> ignore

[<Fact>]
let ``A series evaluates continuously, carried window to window, or restarting each window`` () =
    let z = randomMatrix 41 1.0 (3 * 5 + 2) smallConfig.InputDim
    let X = Array3D.init 3 5 smallConfig.InputDim (fun w t d -> z[w * 5 + t, d])
    let p = Init.init smallConfig (Random.key 6)

    let cfg =
        { smallConfig with
            BatchScaling = BatchScaling.PerSample
        }

    // Restarting: the whole windows from a zero state, in batches (the 2 trailing steps dropped).
    let restarting = Evaluate.evaluateSeries cfg p 2 (SeriesEvaluation.Restarting 5) z

    Assert.Equal<float[,,]>((Evaluate.evaluateBatched cfg p 2 X).W, restarting.W)
    Assert.Equal<int[]>([| 3; 5; cfg.MixDim |], Shape.ofArray3 restarting.W)

    // Continuous: one window over every step.
    let continuous = Evaluate.evaluateSeries cfg p 2 SeriesEvaluation.Continuous z

    let whole =
        Evaluate.evaluateRecord cfg p None (Array3D.init 1 17 cfg.InputDim (fun _ i d -> z[i, d]))

    Assert.Equal<int[]>([| 1; 17; cfg.MixDim |], Shape.ofArray3 continuous.W)
    Assert.Equal<float[,,]>(whole.W, continuous.W)
    Assert.Equal(whole.SpatialLossRHatAvg, continuous.SpatialLossRHatAvg)

    // Carried: window after window from the previous carry is the continuous record on the
    // 15 steps the windows cover, bit for bit (losses summed over windows: to rounding).
    let carried = Evaluate.evaluateSeries cfg p 2 (SeriesEvaluation.Carried 5) z

    let first15 =
        Evaluate.evaluateSeries cfg p 2 SeriesEvaluation.Continuous z[0..14, *]

    Assert.Equal<int[]>([| 1; 15; cfg.MixDim |], Shape.ofArray3 carried.W)

    for a, b in
        [
            first15.W, carried.W
            first15.R2Hat, carried.R2Hat
            first15.RHat, carried.RHat
            first15.IBar, carried.IBar
            first15.TempLoss, carried.TempLoss
        ] do
        Assert.Equal<float[,,]>(a, b)

    Assert.Equal<float[,,,]>(first15.Ut, carried.Ut)
    Assert.Equal<int[]>(first15.Iterations, carried.Iterations)
    Assert.Equal(first15.SpatialLossRHatAvg, carried.SpatialLossRHatAvg, 1e-12)
    Assert.Equal(first15.TempLossAvg, carried.TempLossAvg, 1e-12)
    Assert.Equal<float[,]>(first15.Final.R2, carried.Final.R2)

    Assert.Equal(15, Evaluate.evaluatedSteps (SeriesEvaluation.Restarting 5) 17)
    Assert.Equal(17, Evaluate.evaluatedSteps SeriesEvaluation.Continuous 17)
    Assert.Contains("the last 2 steps", Evaluate.describe (SeriesEvaluation.Carried 5) 17)
    Assert.Contains("zero state", Evaluate.describe (SeriesEvaluation.Restarting 5) 17)

    for bad in [ SeriesEvaluation.Restarting 0; SeriesEvaluation.Carried 18 ] do
        Assert.Throws<ArgumentException>(fun () -> Evaluate.evaluateSeries cfg p 2 bad z |> ignore)
        |> ignore

    Assert.Throws<ArgumentException>(fun () ->
        Evaluate.evaluateSeries cfg p 2 SeriesEvaluation.Continuous z[*, 1..] |> ignore)
    |> ignore

[<Fact>]
let ``A continuous pass under BatchMean infers as a training batch does, in chunks`` () =
    // Upstream's BatchMean scales a batch's data terms by 1/B: a series evaluated continuously is
    // inferred as 4 identical copies in one batch, so each step is the step a batch of 4 takes.
    let cfg =
        { smallConfig with
            BatchScaling = BatchScaling.BatchMean
            L1InfR = 0.01
            L1InfR2 = 0.02
            L1InfW = 0.03
        }

    Assert.Equal(4, Evaluate.replicas cfg 4)

    Assert.Equal(
        1,
        Evaluate.replicas
            { cfg with
                BatchScaling = BatchScaling.PerSample
            }
            4
    )

    Assert.Throws<ArgumentException>(fun () -> Evaluate.replicas cfg 0 |> ignore)
    |> ignore

    let p = Init.init cfg (Random.key 8)
    let steps = Evaluate.ChunkSteps + 3
    let z = randomMatrix 43 1.0 steps cfg.InputDim
    let alone = Evaluate.evaluateSeries cfg p 4 SeriesEvaluation.Continuous z
    Assert.Equal<int[]>([| 1; steps; cfg.RDim |], Shape.ofArray3 alone.RHat)
    // The first chunk: a batch of 4 copies from the first step.
    let copies (a: int) (b: int) =
        Array3D.init 4 (b - a) cfg.InputDim (fun _ t d -> z[a + t, d])

    let first = Evaluate.evaluateRecord cfg p None (copies 0 Evaluate.ChunkSteps)
    Assert.Equal<float[,,]>(first.RHat[0..0, *, *], alone.RHat[*, 0 .. Evaluate.ChunkSteps - 1, *])
    // The rest from the first chunk's carry.
    let rest =
        Evaluate.evaluateRecord cfg p (Some first.Final) (copies Evaluate.ChunkSteps steps)

    Assert.Equal<float[,,]>(rest.R2Hat[0..0, *, *], alone.R2Hat[*, Evaluate.ChunkSteps .., *])
    // One sample at batch 1 steps 4 times further and ends elsewhere.
    let plain =
        Evaluate.evaluateRecord cfg p None (Array3D.init 1 20 cfg.InputDim (fun _ t d -> z[t, d]))

    Assert.NotEqual<float[,,]>(plain.RHat, alone.RHat[*, 0..19, *])

[<Fact>]
let ``A checkpoint is recognised by its header and other files are not`` () =
    let dir = Directory.CreateTempSubdirectory("tidhy-probe-")

    try
        let cfg = smallConfig
        let ckpt = Path.Combine(dir.FullName, "a.tidhy.json")
        Checkpoint.save ckpt cfg (Train.init cfg (Random.key 1))
        Assert.True(Checkpoint.isCheckpoint ckpt)

        let sd = Path.Combine(dir.FullName, "model.json")
        StateDict.save sd (Init.init cfg (Random.key 1))
        Assert.False(Checkpoint.isCheckpoint sd)

        let short = Path.Combine(dir.FullName, "short")
        File.WriteAllText(short, "TIDHY")
        Assert.False(Checkpoint.isCheckpoint short)

        let empty = Path.Combine(dir.FullName, "empty")
        File.WriteAllBytes(empty, [||])
        Assert.False(Checkpoint.isCheckpoint empty)

        Assert.ThrowsAny<IOException>(fun () -> Checkpoint.isCheckpoint (Path.Combine(dir.FullName, "none")) |> ignore)
        |> ignore
    finally
        dir.Delete true
