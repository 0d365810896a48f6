/// Tests of `Optim`: AdamW's update rules, parameter groups, clipping and the epoch schedule.
module TiDHy.Functional.Tests.OptimTests

open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private smallFloat =
    Gen.choose (-100000, 100000) |> Gen.map (fun v -> float v / 1000.0)

let private positive lo hi =
    Gen.choose (1, 1000) |> Gen.map (fun v -> lo + (hi - lo) * float v / 1000.0)

let private check prop =
    FsCheck.Check.One(propertyRuns 100, prop)

/// A parameter tree of `smallConfig` with every value scaled by `c`.
let private tree (seed: int) (c: float) =
    Init.init smallConfig (Random.key seed) |> ParamTree.scale c

[<Fact>]
let ``AdamW with zero gradient and zero weight decay leaves parameters unchanged`` () =
    check (
        Prop.forAll
            (Arb.fromGen (Gen.zip3 (Gen.arrayOf smallFloat) (positive 1e-5 1.0) (Gen.choose (1, 50))))
            (fun (p, lr, step) ->
                let z = Array.zeroCreate p.Length
                let p', m', v' = Optim.adamWTensor Optim.adamWDefaults lr 0.0 step p z z z
                p' = p && Array.forall ((=) 0.0) m' && Array.forall ((=) 0.0) v')
    )

    let p = tree 1 1.0

    let stepped =
        Optim.adamW
            Optim.adamWDefaults
            (Optim.groupOf { smallConfig with WeightDecay = 0.0 })
            (Optim.init p)
            p
            (ParamTree.zerosLike p)

    Assert.Equal(p, stepped.Params)
    Assert.Equal(1, stepped.State.Step)

[<Fact>]
let ``AdamW's first step moves each parameter by the learning rate against its gradient's sign`` () =
    check (
        Prop.forAll (Arb.fromGen (Gen.zip3 smallFloat smallFloat (positive 1e-4 0.1))) (fun (p, g, lr) ->
            let p', _, _ =
                Optim.adamWTensor Optim.adamWDefaults lr 0.0 1 [| p |] [| g |] [| 0.0 |] [| 0.0 |]

            let expected = if abs g > 1e-3 then p - lr * Numerics.sign g else p'[0]
            abs (p'[0] - expected) <= 1e-4 * lr)
    )

[<Fact>]
let ``AdamW's weight decay alone scales parameters by 1 − lr·wd`` () =
    let p = [| 1.5; -2.0; 0.25 |]
    let z = Array.zeroCreate 3
    let p', _, _ = Optim.adamWTensor Optim.adamWDefaults 0.1 0.01 1 p z z z
    Assert.Equal<float[]>(p |> Array.map (fun v -> v * (1.0 - 0.1 * 0.01)), p')

[<Fact>]
let ``AdamW matches the bias-corrected update computed by hand over three steps`` () =
    let h = Optim.adamWDefaults
    let lr, wd = 0.05, 0.1
    let gs = [| 0.3; -1.2; 0.7 |]
    let mutable p, m, v = [| 0.4 |], [| 0.0 |], [| 0.0 |]
    let mutable hp, hm, hv = 0.4, 0.0, 0.0

    for k in 1..3 do
        let g = gs[k - 1]
        let p', m', v' = Optim.adamWTensor h lr wd k p [| g |] m v
        p <- p'
        m <- m'
        v <- v'
        hp <- hp * (1.0 - lr * wd)
        hm <- 0.9 * hm + 0.1 * g
        hv <- 0.999 * hv + 0.001 * g * g
        let mHat = hm / (1.0 - 0.9 ** float k)
        let vHat = hv / (1.0 - 0.999 ** float k)
        hp <- hp - lr * mHat / (sqrt vHat + 1e-8)

    assertCloseScalar "p after 3 steps" 1e-12 p[0] hp

[<Fact>]
let ``Each parameter joins the group of MODEL.md with its learning rate`` () =
    let cfg =
        { smallConfig with
            LearningRateS = 1.0
            LearningRateT = 2.0
            LearningRateH = 3.0
            WeightDecay = 0.5
            DynBias = true
            UseR2Decoder = true
            NonlinDecoder = true
        }

    let p = Init.init cfg (Random.key 2)

    for name, _ in ParamTree.leaves p do
        let g = Optim.groupOf cfg name

        let expected =
            if name.StartsWith "spatial_decoder." then 1.0
            elif name.StartsWith "temporal" then 2.0
            else 3.0

        Assert.Equal(expected, g.LearningRate)
        Assert.Equal(0.5, g.WeightDecay)

    Assert.Throws<System.ArgumentException>(fun () -> Optim.groupOf cfg "decoder.weight" |> ignore)
    |> ignore

[<Fact>]
let ``Clipping never increases the norm and leaves a small gradient alone`` () =
    check (
        Prop.forAll (Arb.fromGen (Gen.zip (positive 1e-3 10.0) (positive 0.1 100.0))) (fun (scale, maxNorm) ->
            let g = tree 5 scale
            let c = Optim.clipGradNorm maxNorm g
            let clipped, before = c.Gradient, c.NormBeforeClip
            let after = ParamTree.norm clipped

            abs (before - ParamTree.norm g) <= 1e-12 * before
            && after <= before
            && after <= maxNorm * (1.0 + 1e-12)
            && (before > maxNorm || clipped = g))
    )

[<Fact>]
let ``The outer learning rates halve every num_epochs div 5 epochs`` () =
    let cfg = { smallConfig with NumEpochs = 100 }

    Assert.Equal<float list>(
        [ 1.0; 1.0; 0.5; 0.5; 0.25; 0.0625 ],
        [ 0; 19; 20; 39; 40; 99 ] |> List.map (Optim.scheduleFactor cfg)
    )

    Assert.Equal(1.0, Optim.scheduleFactor { cfg with NumEpochs = 4 } 3)

[<Fact>]
let ``The exponential schedules decay by 0.96 per 100 optimizer steps, smoothly or as a staircase`` () =
    let cfg =
        { smallConfig with
            LearningRateSchedule = LearningRateSchedule.Exponential
            ScheduleTransitionSteps = 100
            ScheduleDecay = 0.96
        }

    let at (c: Config) =
        [ 0; 99; 100; 250 ] |> List.map (Optim.learningRateFactor c 0)
    // optax exponential_decay (staircase False) is rate^(count / transition_steps) with count the
    // updates already made: 0.96^0, 0.96^0.99, 0.96^1, 0.96^2.5 (values computed apart, in Python).
    let smooth = at cfg

    for expected, actual in List.zip [ 1.0; 0.9603919711471712; 0.96; 0.9029798987795907 ] smooth do
        Assert.Equal(expected, actual, 15)

    // Staircase: rate^(count div transition_steps): 1, 1, 0.96, 0.96² = 0.9216.
    let stairs =
        at
            { cfg with
                LearningRateSchedule = LearningRateSchedule.ExponentialStaircase
            }

    for expected, actual in List.zip [ 1.0; 1.0; 0.96; 0.9216 ] stairs do
        Assert.Equal(expected, actual, 15)

    // Constant: 1 at every step and epoch.
    Assert.Equal<float list>(
        [ 1.0; 1.0; 1.0; 1.0 ],
        at
            { cfg with
                LearningRateSchedule = LearningRateSchedule.Constant
            }
    )

    // Halving (the default, upstream's StepLR) ignores the step count: the epoch rule above.
    let halving = { smallConfig with NumEpochs = 100 }

    for epoch in [ 0; 19; 20; 99 ] do
        for steps in [ 0; 99; 100; 250 ] do
            Assert.Equal(Optim.scheduleFactor halving epoch, Optim.learningRateFactor halving epoch steps)

    Assert.Throws<System.ArgumentException>(fun () -> Optim.learningRateFactor cfg 0 -1 |> ignore)
    |> ignore
