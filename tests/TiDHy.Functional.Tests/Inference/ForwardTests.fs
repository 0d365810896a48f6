module TiDHy.Functional.Tests.ForwardTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private window (seed: int) (batch: int) (time: int) (d: int) =
    let z = Random.normal (Random.key seed) (batch * time * d)
    Array3D.init batch time d (fun b t j -> 0.5 * z[(b * time + t) * d + j])

let private slice (X: float[,,]) (t0: int) (t1: int) =
    Array3D.init (Array3D.length1 X) (t1 - t0) (Array3D.length3 X) (fun b t j -> X[b, t0 + t, j])

let private flat3 (a: float[,,]) = Seq.cast<float> a |> Seq.toArray

[<Fact>]
let ``Forward is the scan of its step function`` () =
    let cfg = { smallConfig with UseR2Decoder = true }
    let p = Init.ofSeed cfg 1
    let X = window 2 3 5 6
    let res = Forward.forward cfg p None X
    let c0 = Forward.zeroCarry cfg 3
    let lHat0 = Loss.batch cfg.Loss (Model.decode cfg p c0.R) (Forward.timeStep X 0)

    let final, steps =
        Forward.scan (Forward.step cfg p) c0 [ for t in 1..4 -> Forward.timeStep X t ]

    Assert.Equal(lHat0 + (steps |> Array.sumBy _.Losses.SpatialLossRHat), res.Losses.SpatialLossRHat)
    Assert.Equal(cfg.TempWeight * (steps |> Array.sumBy _.Losses.TempLoss), res.Losses.TempLoss)
    Assert.Equal(steps |> Array.sumBy _.Losses.R2Loss, res.Losses.R2Loss)
    Assert.True(res.Losses.R2Loss > 0.0)
    Assert.Equal(final, res.Final)
    Assert.Equal<int[]>(steps |> Array.map _.Iterations, res.Iterations)

[<Fact>]
let ``Stateful windows chain like one long series`` () =
    let cfg = { smallConfig with Stateful = true }
    let p = Init.ofSeed cfg 3
    let X = window 4 2 8 6

    let start =
        {
            R = randomMatrix 5 0.3 2 4
            R2 = randomMatrix 6 0.3 2 3
        }

    let whole = Evaluate.evaluateRecord cfg p (Some start) X
    let first = Evaluate.evaluateRecord cfg p (Some start) (slice X 0 4)
    let second = Evaluate.evaluateRecord cfg p (Some first.Final) (slice X 4 8)
    Assert.Equal<float[]>(flat3 (slice whole.RHat 0 4), flat3 first.RHat)
    Assert.Equal<float[]>(flat3 (slice whole.RHat 4 8), flat3 second.RHat)
    Assert.Equal<float[]>(flat3 (slice whole.W 4 8), flat3 second.W)
    Assert.Equal(whole.Final, second.Final)
    let fWhole = Forward.forward cfg p (Some start) X
    let f1 = Forward.forward cfg p (Some start) (slice X 0 4)
    let f2 = Forward.forward cfg p (Some f1.Final) (slice X 4 8)

    assertCloseScalar
        "L_hat"
        1e-12
        (f1.Losses.SpatialLossRHat + f2.Losses.SpatialLossRHat)
        fWhole.Losses.SpatialLossRHat

    assertCloseScalar "L_temp" 1e-12 (f1.Losses.TempLoss + f2.Losses.TempLoss) fWhole.Losses.TempLoss
    Assert.Equal(fWhole.Final, f2.Final)
    Assert.Equal(8, fWhole.Iterations.Length)

[<Fact>]
let ``The evaluation record's first step has no prediction`` () =
    let cfg = { smallConfig with DynBias = true }
    let p = Init.ofSeed cfg 2
    let X = window 7 2 4 6
    let record = Evaluate.evaluateRecord cfg p None X

    for b in 0..1 do
        for i in 0..3 do
            Assert.Equal(0.0, record.TempLoss[b, 0, i])
            Assert.Equal(0.0, record.RBar[b, 0, i])
            Assert.Equal(0.0, record.B.Value[b, 0, i])

        for k in 0..4 do
            Assert.Equal(0.0, record.W[b, 0, k])

    Assert.Equal(4, record.Iterations.Length)
    Assert.Equal<float[]>(flat3 X, flat3 record.I)
    // Later steps do predict: W comes from the inferred r2 and is not all zero.
    Assert.Contains(Seq.cast<float> record.W[*, 1.., *], fun v -> v > 0.0)

[<Fact>]
let ``Bad windows are rejected naming the argument`` () =
    let p = Init.ofSeed smallConfig 1

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Forward.forward smallConfig p None (window 1 2 1 6) |> ignore)

    Assert.Equal("X", ex.ParamName)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Forward.forward smallConfig p None (window 1 2 3 5) |> ignore)

    Assert.Contains("expected shape [batch >= 1; time >= 2; 6], got [2; 3; 5]", ex.Message)
    let X = window 1 2 3 6
    X[1, 2, 3] <- nan

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Evaluate.evaluateRecord smallConfig p None X |> ignore)

    Assert.Equal("X", ex.ParamName)
    Assert.Contains("NaN", ex.Message)

    let carry =
        {
            R = Array2D.zeroCreate 3 4
            R2 = Array2D.zeroCreate 2 3
        }

    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            Forward.forward smallConfig p (Some carry) (window 1 2 3 6) |> ignore)

    Assert.Equal("init.R", ex.ParamName)

[<Fact>]
let ``Params of another config are rejected`` () =
    let p = Init.ofSeed smallConfig 1

    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            Forward.forward { smallConfig with MixDim = 6 } p None (window 1 2 3 6)
            |> ignore)

    Assert.Equal("p", ex.ParamName)

[<Fact>]
let ``Window sequences carry the state only in stateful mode`` () =
    let p = Init.ofSeed smallConfig 8
    let X = window 9 2 9 6
    let parts = [ slice X 0 3; slice X 3 6; slice X 6 9 ]

    for stateful in [ false; true ] do
        let cfg = { smallConfig with Stateful = stateful }
        let records = Evaluate.evaluateWindows cfg p parts
        let results = Forward.forwardWindows cfg p parts
        let first = Evaluate.evaluateRecord cfg p None parts[0]
        Assert.Equal<float[]>(flat3 first.RHat, flat3 records[0].RHat)

        let expectedSecond =
            Evaluate.evaluateRecord cfg p (if stateful then Some first.Final else None) parts[1]

        Assert.Equal<float[]>(flat3 expectedSecond.RHat, flat3 records[1].RHat)
        let f0 = Forward.forward cfg p None parts[0]
        let f1 = Forward.forward cfg p (if stateful then Some f0.Final else None) parts[1]
        Assert.Equal(f1.Losses.SpatialLossRHat, results[1].Losses.SpatialLossRHat)
        Assert.Equal(3, results.Length)
        // Stateful mode runs inference at every step of the later windows, upstream's mode at T − 1.
        Assert.Equal((if stateful then 3 else 2), results[2].Iterations.Length)
