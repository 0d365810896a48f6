/// Tests of `Checkpoint`: exact round trips, and clear errors that leave an existing checkpoint
/// intact for truncated, corrupted or foreign files.
module TiDHy.Functional.Tests.CheckpointTests

open System
open System.IO
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private cfg =
    { smallConfig with
        UseR2Decoder = true
        DynBias = true
        Stateful = true
    }

/// A state after two GradNorm steps in stateful mode, with a history and a best model.
let private trainedState () =
    let X = TestInputs.syntheticWindows 1 2 5 cfg.InputDim
    let s0 = Train.init cfg (Random.key 3)
    let s1, _ = Train.step cfg s0 X
    let s2, _ = Train.step cfg s1 X

    { s2 with
        History =
            [|
                {
                    Epoch = 0
                    Train =
                        {
                            Losses =
                                {
                                    SpatialLossRHat = 1.0 / 3.0
                                    SpatialLossRBar = 2.0
                                    TempLoss = 0.1
                                    R2Loss = nan
                                }
                            Total = 7.25
                            MaxIterShare = 0.25
                        }
                    Validation = Some 0.3
                    LearningRateFactor = 1.0
                    Seconds = 0.5
                    Monitor = [ "r2_hat_accuracy", 0.75; "w_accuracy", 1.0 / 3.0 ]
                }
            |]
        Best =
            Some
                {
                    Params = s1.Params
                    Epoch = 0
                    Score = 0.3
                    Criterion = BestModel.LossCriterion
                }
    }

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-ckpt-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

[<Fact>]
let ``A checkpoint round trip restores the whole training state exactly`` () =
    let s = trainedState ()
    let dir = tempDir ()
    let path = Path.Combine(dir, "a.tidhy.json")
    Checkpoint.save path cfg s
    let read = Checkpoint.read path
    let stored, back = read.Config, read.State
    Assert.Equal(cfg, stored)
    Assert.Equal(s.Params, back.Params)
    Assert.Equal(s.Optimizer, back.Optimizer)
    Assert.Equal(s.GradNorm, back.GradNorm)
    Assert.Equal(s.Carry, back.Carry)
    Assert.Equal(s.Epoch, back.Epoch)
    Assert.Equal(s.Batch, back.Batch)
    Assert.Equal(s.Best, back.Best)
    Assert.Equal(s.History[0].Train.Losses.SpatialLossRHat, back.History[0].Train.Losses.SpatialLossRHat)
    Assert.True(Double.IsNaN back.History[0].Train.Losses.R2Loss)
    Assert.Equal<byte[]>(Checkpoint.toBytes cfg s, Checkpoint.toBytes cfg back)
    // Training continues identically from the loaded state.
    let X = TestInputs.syntheticWindows 2 2 5 cfg.InputDim
    let a, ma = Train.step cfg s X
    let b, mb = Train.step cfg (Checkpoint.load cfg path) X
    Assert.Equal(ma, mb)
    Assert.Equal<byte[]>(Checkpoint.toBytes cfg a, Checkpoint.toBytes cfg b)
    Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"))

let private expectError (path: string) (fragment: string) =
    let ex =
        Assert.Throws<CheckpointException>(fun () -> Checkpoint.load cfg path |> ignore)

    Assert.Contains(path, ex.Message)
    Assert.Contains(fragment, ex.Message)

[<Fact>]
let ``Truncated, corrupted, foreign and missing files give clear errors`` () =
    let dir = tempDir ()
    let bytes = Checkpoint.toBytes cfg (trainedState ())
    let truncated = Path.Combine(dir, "truncated.tidhy.json")
    File.WriteAllBytes(truncated, bytes[.. bytes.Length / 2])
    expectError truncated "truncated or corrupted"
    let corrupted = Path.Combine(dir, "corrupted.tidhy.json")
    let flipped = Array.copy bytes
    let i = Array.LastIndexOf(flipped, byte '7')
    flipped[i] <- byte '8'
    File.WriteAllBytes(corrupted, flipped)
    expectError corrupted "truncated or corrupted"
    let empty = Path.Combine(dir, "empty.tidhy.json")
    File.WriteAllBytes(empty, [||])
    expectError empty "not a TiDHy checkpoint"
    let other = Path.Combine(dir, "other.json")
    File.WriteAllText(other, "{\"r_dim\": 4}\n")
    expectError other "not a TiDHy checkpoint"
    expectError (Path.Combine(dir, "missing.tidhy.json")) "cannot be read"
    let good = Path.Combine(dir, "good.tidhy.json")
    File.WriteAllBytes(good, bytes)

    let ex =
        Assert.Throws<CheckpointException>(fun () ->
            Checkpoint.load { cfg with RDim = 5; TempWeight = 3.0 } good |> ignore)

    Assert.Contains("another configuration", ex.Message)
    Assert.Contains("r_dim: 4 in the checkpoint, 5 here", ex.Message)
    Assert.Contains("temp_weight", ex.Message)

[<Fact>]
let ``A failed save leaves the existing checkpoint intact`` () =
    let dir = tempDir ()
    let path = Path.Combine(dir, "last.tidhy.json")
    let s = trainedState ()
    Checkpoint.save path cfg s
    let before = File.ReadAllBytes path
    // Parameters that do not fit the configuration are rejected before anything is written.
    Assert.ThrowsAny<exn>(fun () -> Checkpoint.save path { cfg with RDim = 5 } s)
    |> ignore

    Assert.Equal<byte[]>(before, File.ReadAllBytes path)
    // A target that cannot be replaced (a directory of that name) fails without touching the old file.
    let blocked = Path.Combine(dir, "blocked")
    Directory.CreateDirectory blocked |> ignore
    Assert.ThrowsAny<exn>(fun () -> Checkpoint.save blocked cfg s) |> ignore
    Assert.Equal<byte[]>(before, File.ReadAllBytes path)
    Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"))

[<Fact>]
let ``Train.fit writes the last and best checkpoints, which load back`` () =
    let c =
        { cfg with
            Stateful = false
            GradNorm = false
        }

    let dir = tempDir ()
    let train = TestInputs.syntheticWindows 3 6 5 c.InputDim

    let res =
        Train.fit
            c
            { Train.defaultFitOptions c with
                BatchSize = 3
                Epochs = 2
                CheckpointDirectory = Some dir
            }
            train
            None
            (Train.init c (Random.key 1))

    let last = Checkpoint.load c (Path.Combine(dir, Train.LastCheckpoint))
    Assert.Equal(res.State.Params, last.Params)
    Assert.Equal(2, last.Epoch)
    let best = Checkpoint.load c (Path.Combine(dir, Train.BestCheckpoint))
    Assert.Equal(res.State.Best.Value.Params, best.Best.Value.Params)

[<Fact>]
let ``A GradNorm l0 of the wrong length is named as the malformed field`` () =
    let dir = tempDir ()
    let s = trainedState ()
    Assert.True(s.GradNorm.L0.IsSome)

    for l0 in [ [| 1.0 |]; Array.create (s.GradNorm.Weights.Length + 1) 1.0 ] do
        let path = Path.Combine(dir, "short-l0.tidhy.json")

        File.WriteAllBytes(
            path,
            Checkpoint.toBytes
                cfg
                { s with
                    GradNorm = { s.GradNorm with L0 = Some l0 }
                }
        )

        expectError path $"grad_norm.l0 has {l0.Length} entries, expected {s.GradNorm.Weights.Length}"
