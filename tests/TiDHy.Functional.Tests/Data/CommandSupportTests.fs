/// Tests of the library functions the `tidhy` commands use: `Series.splitTail` (the held-out
/// validation tail), `Evaluate.evaluateSeriesWindows` (a long series through stateful windows) and
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
let ``A stateful series evaluates as one window and a regular one in batches`` () =
    let z = randomMatrix 41 1.0 (3 * 5) smallConfig.InputDim
    let X = Array3D.init 3 5 smallConfig.InputDim (fun w t d -> z[w * 5 + t, d])
    let p = Init.init smallConfig (Random.key 6)

    let regular = Evaluate.evaluateSeriesWindows smallConfig p 2 X
    Assert.Equal<float[,,]>((Evaluate.evaluateBatched smallConfig p 2 X).W, regular.W)
    Assert.Equal<int[]>([| 3; 5; smallConfig.MixDim |], Shape.ofArray3 regular.W)

    let cfg = { smallConfig with Stateful = true }
    let stateful = Evaluate.evaluateSeriesWindows cfg p 2 X

    let whole =
        Evaluate.evaluateRecord cfg p None (Array3D.init 1 15 cfg.InputDim (fun _ i d -> z[i, d]))

    Assert.Equal<int[]>([| 1; 15; cfg.MixDim |], Shape.ofArray3 stateful.W)
    Assert.Equal<float[,,]>(whole.W, stateful.W)
    Assert.Equal<float[,,]>(whole.IHat, stateful.IHat)
    Assert.Equal(whole.SpatialLossRHatAvg, stateful.SpatialLossRHatAvg)

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
