/// Tests of `Inference`: the analytic gradients against central differences for every option,
/// the independence of samples under per-sample scaling and convergence, the stopping rules and
/// the step-size schedule, and the rejection of bad input.
module TiDHy.Functional.Tests.InferenceTests

open System
open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open Xunit

// ---------------------------------------------------------------------------------------------
// Gradient checks


/// One combination of the options that the inference objective depends on.
type GradientCase =
    {
        Loss: LossKind
        NonlinDecoder: bool
        LowRankTemp: bool
        DynBias: bool
        UseR2Decoder: bool
        /// `L1_inf_w`, `L1_inf_r`, `L1_inf_r2`.
        L1: float * float * float
        BatchScaling: BatchScaling
    }

    override c.ToString() =
        let w, r, r2 = c.L1
        let decoder = if c.NonlinDecoder then "nonlin" else "linear"
        let temporal = if c.LowRankTemp then "lowrank" else "full"

        $"{Config.lossName c.Loss} decoder={decoder} temporal={temporal} dyn_bias={c.DynBias} "
        + $"r2_decoder={c.UseR2Decoder} L1(w,r,r2)=({w},{r},{r2}) scaling={c.BatchScaling}"

/// Every combination of the options for one loss: decoder, temporal rank, dynamic bias, r2
/// decoder, each L1 term alone and all three together, and both batch scalings.
let gradientCases (loss: LossKind) =
    [
        for nonlin in [ false; true ] do
            for lowRank in [ false; true ] do
                for dynBias in [ false; true ] do
                    for r2Dec in [ false; true ] do
                        for l1 in [ 0.0, 0.0, 0.0; 0.3, 0.0, 0.0; 0.0, 0.2, 0.0; 0.0, 0.0, 0.25; 0.3, 0.2, 0.25 ] do
                            for scaling in [ BatchScaling.BatchMean; BatchScaling.PerSample ] do
                                {
                                    Loss = loss
                                    NonlinDecoder = nonlin
                                    LowRankTemp = lowRank
                                    DynBias = dynBias
                                    UseR2Decoder = r2Dec
                                    L1 = l1
                                    BatchScaling = scaling
                                }
    ]

let private caseConfig (c: GradientCase) =
    let w, r, r2 = c.L1

    { smallConfig with
        Loss = c.Loss
        NonlinDecoder = c.NonlinDecoder
        LowRankTemp = c.LowRankTemp
        DynBias = c.DynBias
        UseR2Decoder = c.UseR2Decoder
        L1InfW = w
        L1InfR = r
        L1InfR2 = r2
        BatchScaling = c.BatchScaling
    }

/// The relative errors `(∂L/∂r, ∂L/∂r2)` of `Inference.gradient` against central differences of
/// `Inference.objective` for one case, at a batch of 3 where the objective is smooth. With the r2
/// decoder, `target` is its prediction at another iterate, held constant.
let inferenceGradientErrors (c: GradientCase) =
    let cfg = caseConfig c
    let b = 3

    let make seed =
        let p = paramsFor cfg seed
        let r = awayFromZero (seed + 3) 0.6 0.1 b cfg.RDim
        let r2 = awayFromZero (seed + 4) 0.6 0.1 b cfg.R2Dim
        p, r, r2

    let p, r, r2 =
        firstSmooth (string c) make (fun (p, r, r2) -> objectiveSmoothAt cfg p r r2)

    let seed = 7
    let x = observations cfg.Loss (seed + 1) b cfg.InputDim
    let rP = randomMatrix (seed + 2) 1.0 b cfg.RDim

    let target =
        if cfg.UseR2Decoder then
            Some(
                Model.r2Decode cfg p (randomMatrix (seed + 5) 0.6 b cfg.RDim) (randomMatrix (seed + 6) 0.6 b cfg.R2Dim)
            )
        else
            None

    let objective r r2 =
        Inference.objective cfg p x rP target r r2

    let g = Inference.gradient cfg p x rP target r r2
    let gR, gR2 = g.GradR, g.GradR2
    let nR = GradientCheck.centralDifferenceMatrix (fun r -> objective r r2) r
    let nR2 = GradientCheck.centralDifferenceMatrix (fun r2 -> objective r r2) r2

    GradientCheck.relativeError (GradientCheck.flatten gR) (GradientCheck.flatten nR),
    GradientCheck.relativeError (GradientCheck.flatten gR2) (GradientCheck.flatten nR2)

/// One first-step case: loss, nonlinear decoder, batch scaling, and `r` random or 0.
type FirstStepCase =
    {
        Loss: LossKind
        NonlinDecoder: bool
        BatchScaling: BatchScaling
        AtZero: bool
    }

    override c.ToString() =
        let decoder = if c.NonlinDecoder then "nonlin" else "linear"
        let r = if c.AtZero then "0" else "random"
        $"{Config.lossName c.Loss} decoder={decoder} scaling={c.BatchScaling} r={r}"

/// Every first-step case for one loss.
let firstStepCases (loss: LossKind) =
    [
        for nonlin in [ false; true ] do
            for scaling in [ BatchScaling.BatchMean; BatchScaling.PerSample ] do
                for atZero in [ false; true ] do
                    {
                        Loss = loss
                        NonlinDecoder = nonlin
                        BatchScaling = scaling
                        AtZero = atZero
                    }
    ]

/// The relative error of `Inference.firstStepGradient` against central differences of
/// `Inference.firstStepObjective` for one case, at a batch of 3 where the objective is smooth.
let firstStepGradientError (c: FirstStepCase) =
    let cfg =
        { smallConfig with
            Loss = c.Loss
            NonlinDecoder = c.NonlinDecoder
            BatchScaling = c.BatchScaling
        }

    let b = 3

    let make seed =
        let p = paramsFor cfg seed

        let r =
            if c.AtZero then
                Array2D.zeroCreate b cfg.RDim
            else
                randomMatrix (seed + 3) 0.6 b cfg.RDim

        p, r

    let p, r = firstSmooth (string c) make (fun (p, r) -> decoderSmoothAt cfg p r)
    let x = observations cfg.Loss 8 b cfg.InputDim
    let g = Inference.firstStepGradient cfg p x r

    let n =
        GradientCheck.centralDifferenceMatrix (Inference.firstStepObjective cfg p x) r

    GradientCheck.relativeError (GradientCheck.flatten g) (GradientCheck.flatten n)

let private assertAllWithin (what: string) (errors: (string * float) list) =
    let bad = errors |> List.filter (fun (_, e) -> not (e <= GradientCheck.tolerance))

    if not bad.IsEmpty then
        let lines = bad |> List.map (fun (c, e) -> $"  {c}: {e:E3}")

        Assert.Fail(
            $"{what}: relative error above {GradientCheck.tolerance:E0} in\n"
            + String.Join("\n", lines)
        )

[<Theory>]
[<InlineData("MSE")>]
[<InlineData("BCE")>]
[<InlineData("Poisson")>]
let ``The analytic inference gradient matches central differences of the objective for every option combination``
    (loss: string)
    =
    let cases = gradientCases (Config.parseLoss loss)
    Assert.Equal(2 * 2 * 2 * 2 * 5 * 2, cases.Length)

    cases
    |> List.collect (fun c ->
        let eR, eR2 = inferenceGradientErrors c
        [ $"{c} d/dr", eR; $"{c} d/dr2", eR2 ])
    |> assertAllWithin "inference gradient"

[<Theory>]
[<InlineData("MSE")>]
[<InlineData("BCE")>]
[<InlineData("Poisson")>]
let ``The analytic first-step gradient matches central differences of the first-step objective`` (loss: string) =
    firstStepCases (Config.parseLoss loss)
    |> List.map (fun c -> string c, firstStepGradientError c)
    |> assertAllWithin "first-step gradient"

[<Fact>]
let ``Central differences are exact to rounding on a quadratic and leave their input untouched`` () =
    let a = array2D [ [ 2.0; 0.5 ]; [ 0.5; 3.0 ] ]

    let f (v: float[,]) =
        v[0, 0] * v[0, 0] * a[0, 0] + v[0, 0] * v[0, 1] + 1.5 * v[0, 1] * v[0, 1]

    let x = array2D [ [ 0.7; -1.3 ] ]
    let before = Array2D.copy x
    let g = GradientCheck.centralDifferenceMatrix f x
    assertClose "gradient" 1e-9 (GradientCheck.flatten g) [ 2.0 * 2.0 * 0.7 - 1.3; 0.7 + 3.0 * -1.3 ]
    Assert.Equal<float>(GradientCheck.flatten before, GradientCheck.flatten x)

    let gs =
        GradientCheck.centralDifferenceMatrices (fun vs -> f vs[0] + 2.0 * vs[1][0, 0]) [| x; array2D [ [ 5.0 ] ] |]

    assertClose "first of two" 1e-9 (GradientCheck.flatten gs[0]) (GradientCheck.flatten g)
    assertClose "second of two" 1e-9 (GradientCheck.flatten gs[1]) [ 2.0 ]

[<Fact>]
let ``The gradient check notices a gradient that is off by a small term`` () =
    let c = (gradientCases LossKind.MSE).Head
    let cfg = caseConfig c
    let p = paramsFor cfg 3
    let x = observations cfg.Loss 4 2 cfg.InputDim
    let rP = randomMatrix 5 1.0 2 cfg.RDim
    let r = awayFromZero 6 0.6 0.1 2 cfg.RDim
    let r2 = awayFromZero 7 0.6 0.1 2 cfg.R2Dim
    let gR = (Inference.gradient cfg p x rP None r r2).GradR

    let wrong =
        gR |> Array2D.mapi (fun i j g -> if i = 1 && j = 2 then g * (1.0 + 1e-4) else g)

    let n =
        GradientCheck.centralDifferenceMatrix (fun r -> Inference.objective cfg p x rP None r r2) r

    Assert.True(
        GradientCheck.relativeError (GradientCheck.flatten gR) (GradientCheck.flatten n)
        <= GradientCheck.tolerance
    )

    Assert.True(
        GradientCheck.relativeError (GradientCheck.flatten wrong) (GradientCheck.flatten n) > GradientCheck.tolerance
    )

// ---------------------------------------------------------------------------------------------
// Per-sample independence

/// Per-sample scaling and convergence, with a step size and tolerance at which the samples of a
/// batch converge at different iterations.
let private independentConfig =
    { smallConfig with
        BatchScaling = BatchScaling.PerSample
        Convergence = Convergence.PerSample
        MaxIter = 100
        Tol = 1e-2
        LrR = 0.1
        LrR2 = 0.1
    }

let private sameBits (a: float[]) (b: float[]) =
    a.Length = b.Length
    && Array.forall2 (fun (u: float) v -> BitConverter.DoubleToInt64Bits u = BitConverter.DoubleToInt64Bits v) a b

let private assertSameRow (what: string) (expected: float[,]) (i: int) (actual: float[,]) (j: int) =
    let e, a = Numerics.row expected i, Numerics.row actual j

    if not (sameBits e a) then
        Assert.Fail($"{what}: row {j} is %A{a}, expected (row {i} alone) %A{e}")

/// Checks that each sample of `x` inferred in the batch equals the sample inferred alone (bitwise,
/// iteration counts included) and that the permutation `perm` of the batch permutes the results,
/// for `Inference.infer` and `Inference.inferFirstStep`. Returns the batch results.
let private checkIndependence (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) (perm: int[]) =
    let b = Array2D.length1 x
    let batch = Inference.infer cfg p x rP r2
    let first = Inference.inferFirstStep cfg p x

    for s in 0 .. b - 1 do
        let one = rowsOf [| s |]
        let alone = Inference.infer cfg p (one x) (one rP) (one r2)
        assertSameRow $"r of sample {s}" alone.R 0 batch.R s
        assertSameRow $"r2 of sample {s}" alone.R2 0 batch.R2 s
        Assert.Equal(alone.Iterations, batch.SampleIterations[s])
        let firstAlone = Inference.inferFirstStep cfg p (one x)
        assertSameRow $"first-step r of sample {s}" firstAlone.R 0 first.R s
        Assert.Equal(firstAlone.Iterations, first.SampleIterations[s])

    Assert.Equal(Array.max batch.SampleIterations, batch.Iterations)
    Assert.Equal(Array.max first.SampleIterations, first.Iterations)

    let permuted =
        Inference.infer cfg p (rowsOf perm x) (rowsOf perm rP) (rowsOf perm r2)

    let firstPermuted = Inference.inferFirstStep cfg p (rowsOf perm x)

    for i in 0 .. b - 1 do
        assertSameRow $"permuted r" batch.R perm[i] permuted.R i
        assertSameRow $"permuted r2" batch.R2 perm[i] permuted.R2 i
        assertSameRow $"permuted first-step r" first.R perm[i] firstPermuted.R i

    Assert.Equal<int[]>(Array.map (fun k -> batch.SampleIterations[k]) perm, permuted.SampleIterations)
    Assert.Equal<int[]>(Array.map (fun k -> first.SampleIterations[k]) perm, firstPermuted.SampleIterations)
    batch, first

[<Fact>]
let ``With per-sample scaling and convergence each sample stops on its own and equals its inference alone`` () =
    let cfg = independentConfig
    let p = Init.init cfg (Random.key 1)
    let b = 5
    let x = randomMatrix 2 1.0 b cfg.InputDim
    let rP = randomMatrix 3 1.0 b cfg.RDim
    let r2 = randomMatrix 4 0.5 b cfg.R2Dim
    let batch, first = checkIndependence cfg p x rP r2 [| 3; 0; 4; 2; 1 |]

    Assert.True((Array.distinct batch.SampleIterations).Length > 1, $"%A{batch.SampleIterations}")
    Assert.True((Array.distinct first.SampleIterations).Length > 1, $"%A{first.SampleIterations}")
    Assert.True(batch.Converged && batch.Iterations < cfg.MaxIter)
    Assert.True(first.Converged && first.Iterations < cfg.MaxIter)

type private IndependenceCase =
    {
        Seed: int
        Permutation: int[]
        NonlinDecoder: bool
        LowRankTemp: bool
        DynBias: bool
        UseR2Decoder: bool
    }

[<Fact>]
let ``With per-sample scaling and convergence a batch's results are its samples' results alone, permuted with it`` () =
    let cases =
        gen {
            let! seed = Gen.choose (0, 1_000_000)
            let! b = Gen.choose (2, 4)
            let! perm = Gen.shuffle [ 0 .. b - 1 ]
            let! nonlin = Gen.elements [ false; true ]
            let! lowRank = Gen.elements [ false; true ]
            let! dynBias = Gen.elements [ false; true ]
            let! r2Dec = Gen.elements [ false; true ]

            return
                {
                    Seed = seed
                    Permutation = perm
                    NonlinDecoder = nonlin
                    LowRankTemp = lowRank
                    DynBias = dynBias
                    UseR2Decoder = r2Dec
                }
        }

    let property (c: IndependenceCase) =
        let cfg =
            { independentConfig with
                NonlinDecoder = c.NonlinDecoder
                LowRankTemp = c.LowRankTemp
                DynBias = c.DynBias
                UseR2Decoder = c.UseR2Decoder
            }

        let b = c.Permutation.Length
        let p = Init.init cfg (Random.key c.Seed)
        let x = randomMatrix (c.Seed + 1) 1.0 b cfg.InputDim
        let rP = randomMatrix (c.Seed + 2) 1.0 b cfg.RDim
        let r2 = randomMatrix (c.Seed + 3) 0.5 b cfg.R2Dim
        checkIndependence cfg p x rP r2 c.Permutation |> ignore

    FsCheck.Check.One(propertyRuns 25, Prop.forAll (Arb.fromGen cases) property)

// ---------------------------------------------------------------------------------------------
// Convergence and the step-size schedule

let private inputs (cfg: Config) (seed: int) (b: int) =
    paramsFor cfg seed,
    randomMatrix (seed + 1) 1.0 b cfg.InputDim,
    randomMatrix (seed + 2) 1.0 b cfg.RDim,
    randomMatrix (seed + 3) 0.5 b cfg.R2Dim

let private allConvergences =
    [ Convergence.Batch; Convergence.AllSamples; Convergence.PerSample ]

[<Fact>]
let ``With Batch or AllSamples convergence every sample runs the loop's iteration count`` () =
    for convergence in [ Convergence.Batch; Convergence.AllSamples ] do
        for tol in [ 1e-2; 1e-3 ] do
            for seed in 1..3 do
                let cfg =
                    { smallConfig with
                        Convergence = convergence
                        Tol = tol
                        MaxIter = 80
                    }

                let p, x, rP, r2 = inputs cfg seed 4
                let res = Inference.infer cfg p x rP r2
                Assert.Equal<int[]>(Array.create 4 res.Iterations, res.SampleIterations)
                let first = Inference.inferFirstStep cfg p x
                Assert.Equal<int[]>(Array.create 4 first.Iterations, first.SampleIterations)

[<Fact>]
let ``With tol = 0 inference runs exactly max_iter iterations and does not converge`` () =
    for convergence in allConvergences do
        let cfg =
            { smallConfig with
                Convergence = convergence
                Tol = 0.0
                MaxIter = 25
            }

        let p, x, rP, r2 = inputs cfg 11 3
        let res = Inference.infer cfg p x rP r2
        Assert.Equal(25, res.Iterations)
        Assert.False(res.Converged)
        Assert.Equal<int[]>([| 25; 25; 25 |], res.SampleIterations)
        let first = Inference.inferFirstStep cfg p x
        Assert.Equal(25, first.Iterations)
        Assert.False(first.Converged)
        Assert.Equal<int[]>([| 25; 25; 25 |], first.SampleIterations)

/// `r` starts at 0, so the first relative change is `‖r₁‖ / 1e-16`, about 1e15; the second is of
/// order 1. A tolerance between the two stops after the second iteration, one above both after the first.
[<Fact>]
let ``With a huge tolerance inference stops after the second iteration, or the first when tol exceeds 1e16 times r's first move``
    ()
    =
    for convergence in allConvergences do
        for tol, iterations in [ 1e6, 2; 1e300, 1 ] do
            let cfg =
                { smallConfig with
                    Convergence = convergence
                    Tol = tol
                }

            let p, x, rP, r2 = inputs cfg 12 3
            let res = Inference.infer cfg p x rP r2
            Assert.Equal(iterations, res.Iterations)
            Assert.True(res.Converged)
            Assert.Equal<int[]>(Array.create 3 iterations, res.SampleIterations)
            let first = Inference.inferFirstStep cfg p x
            Assert.Equal(iterations, first.Iterations)
            Assert.True(first.Converged)
            Assert.Equal<int[]>(Array.create 3 iterations, first.SampleIterations)

[<Fact>]
let ``The r step size with max_iter 30 halves every 3 iterations, ending at lr times 0.5 to the 9th`` () =
    let cfg =
        { smallConfig with
            MaxIter = 30
            LrR = 0.2
        }

    let expected = Array.init 30 (fun i -> 0.2 * 0.5 ** float (i / 3))
    Assert.Equal<float[]>(expected, Array.init 30 (Inference.rStepSize cfg))
    Assert.Equal(0.2, Inference.rStepSize cfg 2)
    Assert.Equal(0.1, Inference.rStepSize cfg 3)
    Assert.Equal(0.2 * 0.5 ** 9.0, Inference.rStepSize cfg 27)
    Assert.Equal(0.2 * 0.5 ** 9.0, Inference.rStepSize cfg 29)

[<Fact>]
let ``The r step size with max_iter 25 halves every 2 iterations, 12 times`` () =
    let cfg =
        { smallConfig with
            MaxIter = 25
            LrR = 0.3
        }

    let expected = Array.init 25 (fun i -> 0.3 * 0.5 ** float (i / 2))
    Assert.Equal<float[]>(expected, Array.init 25 (Inference.rStepSize cfg))
    Assert.Equal(0.3, Inference.rStepSize cfg 1)
    Assert.Equal(0.15, Inference.rStepSize cfg 2)
    Assert.Equal(0.3 * 0.5 ** 12.0, Inference.rStepSize cfg 24)

[<Fact>]
let ``The r step size is lr_r times 0.5 to the number of milestones m, 2m, ... below max_iter that are at most i`` () =
    let cases =
        gen {
            let! maxIter = Gen.choose (10, 3000)
            let! i = Gen.choose (0, maxIter - 1)
            let! lr = Gen.elements [ 0.2; 0.05; 1.0 ]
            return maxIter, i, lr
        }

    let property (maxIter: int, i: int, lr: float) =
        let cfg =
            { smallConfig with
                MaxIter = maxIter
                LrR = lr
            }

        let m = maxIter / 10

        let milestones =
            [ m..m .. maxIter - 1 ] |> List.filter (fun ms -> ms <= i) |> List.length

        Assert.Equal(lr * 0.5 ** float milestones, Inference.rStepSize cfg i)

    FsCheck.Check.One(propertyRuns 200, Prop.forAll (Arb.fromGen cases) property)

// ---------------------------------------------------------------------------------------------
// Bad input

let private badInputConfig = { smallConfig with UseR2Decoder = true }

let private assertArgumentException (name: string) (contains: string list) (f: unit -> unit) =
    let e = Assert.ThrowsAny<ArgumentException>(Action f)
    Assert.Equal(name, e.ParamName)

    for s in contains do
        Assert.Contains(s, e.Message)

[<Fact>]
let ``Inference rejects an x with a NaN or an infinity with an ArgumentException naming x`` () =
    let cfg = smallConfig
    let p, x, rP, r2 = inputs cfg 21 3

    for bad in [ nan; infinity; -infinity ] do
        let xBad = Array2D.copy x
        xBad[1, 2] <- bad
        assertArgumentException "x" [ "entry 8" ] (fun () -> Inference.infer cfg p xBad rP r2 |> ignore)
        assertArgumentException "x" [ "entry 8" ] (fun () -> Inference.inferFirstStep cfg p xBad |> ignore)

[<Fact>]
let ``Inference rejects r_p and r2 whose shapes differ from x's batch or the configuration, naming the argument`` () =
    let cfg = smallConfig
    let p, x, rP, r2 = inputs cfg 22 3
    let infer x rP r2 () = Inference.infer cfg p x rP r2 |> ignore
    assertArgumentException "rP" [ "[3; 4]"; "[2; 4]" ] (infer x (rowsOf [| 0; 1 |] rP) r2)
    assertArgumentException "rP" [ "[3; 4]"; "[3; 5]" ] (infer x (randomMatrix 1 1.0 3 5) r2)
    assertArgumentException "r2" [ "[3; 3]"; "[4; 3]" ] (infer x rP (rowsOf [| 0; 1; 2; 0 |] r2))
    assertArgumentException "x" [ "[2; 7]"; "6]" ] (infer (randomMatrix 1 1.0 2 7) rP r2)

    assertArgumentException "x" [] (fun () -> Inference.inferFirstStep cfg p (randomMatrix 1 1.0 3 5) |> ignore)

    let r = randomMatrix 23 1.0 2 cfg.RDim
    assertArgumentException "r" [ "[3; 4]"; "[2; 4]" ] (fun () -> Inference.objective cfg p x rP None r r2 |> ignore)

    assertArgumentException "r" [ "[3; 4]"; "[2; 4]" ] (fun () -> Inference.firstStepGradient cfg p x r |> ignore)

[<Fact>]
let ``The objective and its gradient with use_r2_decoder and no target raise an ArgumentException naming target`` () =
    let cfg = badInputConfig
    let p, x, rP, r2 = inputs cfg 24 2
    let r = randomMatrix 25 1.0 2 cfg.RDim
    assertArgumentException "target" [] (fun () -> Inference.objective cfg p x rP None r r2 |> ignore)
    assertArgumentException "target" [] (fun () -> Inference.gradient cfg p x rP None r r2 |> ignore)
    let target = Some(Model.r2Decode cfg p r r2)
    Assert.True(Double.IsFinite(Inference.objective cfg p x rP target r r2))

[<Fact>]
let ``A target without the r2 decoder is rejected naming target`` () =
    let cfg = smallConfig
    let p, x, rP, r2 = inputs cfg 26 2
    let r = randomMatrix 27 1.0 2 cfg.RDim
    let target = Some(Array2D.create 2 cfg.R2Dim 5.0)

    assertArgumentException "target" [ "use_r2_decoder" ] (fun () ->
        Inference.objective cfg p x rP target r r2 |> ignore)

    assertArgumentException "target" [ "use_r2_decoder" ] (fun () ->
        Inference.gradient cfg p x rP target r r2 |> ignore)

[<Fact>]
let ``Inference with an invalid configuration fails at once instead of running`` () =
    let cfg = smallConfig
    let p, x, rP, r2 = inputs cfg 28 2
    let bad = { cfg with MaxIter = 5 }

    let ex =
        Assert.Throws<InvalidConfigException>(fun () -> Inference.infer bad p x rP r2 |> ignore)

    Assert.Contains("max_iter = 5", ex.Message)

    Assert.Throws<InvalidConfigException>(fun () -> Inference.inferFirstStep bad p x |> ignore)
    |> ignore

    Assert.Throws<InvalidConfigException>(fun () -> Inference.infer { cfg with Tol = nan } p x rP r2 |> ignore)
    |> ignore

    assertArgumentException "cfg" [ "max_iter = 5" ] (fun () -> Inference.rStepSize bad 3 |> ignore)
