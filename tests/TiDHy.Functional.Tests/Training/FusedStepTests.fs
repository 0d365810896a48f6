/// Tests of the training step on packed buffers (`FusedStep`, what `Train.step` runs on the fused
/// backends) against the generic step on `Params` values (`Train.stepGeneric`): bit for bit over
/// consecutive steps for every option that enters the step (GradNorm, r2 decoder, low rank, dynamic
/// bias, nonlinear decoder, stateful carry, clipping, normalisations, the optional regularisers,
/// training_precision Float32, float32 inference, the three losses) and generated configurations
/// (FsCheck); the same divergence; and the in-place refill of the inference kernels' weights.
module TiDHy.Functional.Tests.FusedStepTests

open System
open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Kernels
open Xunit

/// `X [batch; T; D]` inside the loss's data domain.
let private windows (loss: LossKind) (seed: int) (batch: int) (time: int) (d: int) =
    let xs = Array.init time (fun t -> observations loss (seed + 11 * t) batch d)
    Array3D.init batch time d (fun b t f -> xs[t][b, f])

let private bits (x: float) = BitConverter.DoubleToInt64Bits x

/// The first difference between two float sequences, bit for bit, as a message; `None` when equal.
let private diffFloats (what: string) (a: float seq) (b: float seq) =
    let a, b = Seq.toArray a, Seq.toArray b

    if a.Length <> b.Length then
        Some $"{what}: {a.Length} values against {b.Length}"
    else
        Array.zip a b
        |> Array.tryFindIndex (fun (x, y) -> bits x <> bits y)
        |> Option.map (fun i -> $"{what}[{i}]: {a[i]:R} against {b[i]:R}")

let private diffTrees (what: string) (a: Params) (b: Params) =
    List.zip (ParamTree.leaves a) (ParamTree.leaves b)
    |> List.tryPick (fun ((n, x), (_, y)) -> diffFloats $"{what} '{n}'" x y)

/// The first difference between two steps' results (state and metrics), bit for bit.
let stepDifference ((s1: TrainState, m1: StepMetrics)) ((s2: TrainState, m2: StepMetrics)) =
    let scalar what (x: float) (y: float) = diffFloats what [ x ] [ y ]

    let gn (a: GradNormStep option) (b: GradNormStep option) =
        match a, b with
        | None, None -> None
        | Some a, Some b ->
            [
                diffFloats "gradnorm.losses" a.Losses b.Losses
                diffFloats "gradnorm.taskGradNorms" a.TaskGradNorms b.TaskGradNorms
                diffFloats "gradnorm.target" a.Target b.Target
                scalar "gradnorm.loss" a.Loss b.Loss
                diffFloats "gradnorm.weightsAfter" a.WeightsAfter b.WeightsAfter
            ]
            |> List.tryPick id
        | _ -> Some "gradnorm: one step has a GradNorm record, the other not"

    [
        diffTrees "params" s1.Params s2.Params
        diffTrees "exp_avg" s1.Optimizer.ExpAvg s2.Optimizer.ExpAvg
        diffTrees "exp_avg_sq" s1.Optimizer.ExpAvgSq s2.Optimizer.ExpAvgSq
        (if s1.Optimizer.Step <> s2.Optimizer.Step then
             Some "optimizer step"
         else
             None)
        (if s1.Batch <> s2.Batch || s1.Epoch <> s2.Epoch then
             Some "batch or epoch"
         else
             None)
        diffFloats "grad_norm.weights" s1.GradNorm.Weights s2.GradNorm.Weights
        (match s1.GradNorm.L0, s2.GradNorm.L0 with
         | Some a, Some b -> diffFloats "grad_norm.l0" a b
         | None, None -> None
         | _ -> Some "grad_norm.l0 set in one state only")
        (match s1.Carry, s2.Carry with
         | Some a, Some b ->
             diffFloats "carry.r" (Seq.cast a.R) (Seq.cast b.R)
             |> Option.orElse (diffFloats "carry.r2" (Seq.cast a.R2) (Seq.cast b.R2))
         | None, None -> None
         | _ -> Some "carry set in one state only")
        diffFloats "losses" (LossTerms.toList m1.Losses) (LossTerms.toList m2.Losses)
        scalar "cos_reg" m1.CosReg m2.CosReg
        scalar "orth_r2" m1.OrthR2 m2.OrthR2
        scalar "regularisers" m1.Regularisers m2.Regularisers
        scalar "total" m1.Total m2.Total
        scalar "grad norm before clip" m1.GradNormBeforeClip m2.GradNormBeforeClip
        gn m1.GradNorm m2.GradNorm
        scalar "mean iterations" m1.MeanIterations m2.MeanIterations
        scalar "max_iter share" m1.MaxIterShare m2.MaxIterShare
    ]
    |> List.tryPick id

/// Runs `steps` consecutive steps on both paths from the same state (each path on its own
/// states) and fails at the first bit that differs. A step that raises must raise the same
/// exception (type and message) on both paths, which ends the run (`Error` of the message); it
/// fails instead unless `mayRaise`. Returns the last fused result.
let checkStepsWith (mayRaise: bool) (what: string) (cfg: Config) (steps: int) (batch: int) (time: int) (seed: int) =
    Assert.True(FusedObjective.supports cfg, $"{what}: the configuration must take the fused step")
    let s0 = Train.initState cfg (paramsFor cfg seed)

    let attempt f =
        try
            Ok(f ())
        with e ->
            Error e

    let rec run k (fused: TrainState) (generic: TrainState) last =
        if k = steps then
            Ok last
        else
            let X = windows cfg.Loss (seed + 1000 * k) batch time cfg.InputDim

            match
                attempt (fun () -> FusedStep.step cfg fused X), attempt (fun () -> Train.stepGeneric cfg generic X)
            with
            | Ok a, Ok e ->
                match stepDifference a e with
                | Some d -> failwith $"{what}, step {k}: {d}"
                | None -> ()

                // Train.step dispatches to the fused step.
                match stepDifference (Train.step cfg fused X) a with
                | Some d -> failwith $"{what}, step {k}: Train.step differs from FusedStep.step: {d}"
                | None -> ()

                run (k + 1) (fst a) (fst e) (Some a)
            | Error a, Error e when a.GetType() = e.GetType() && a.Message = e.Message ->
                if mayRaise then
                    Error e.Message
                else
                    failwith $"{what}, step {k}: both paths raised {e}"
            | a, e -> failwith $"{what}, step {k}: fused gave {a}, generic {e}"

    run 0 s0 s0 None

/// `checkStepsWith false`: every step must succeed.
let checkSteps (what: string) (cfg: Config) (steps: int) (batch: int) (time: int) (seed: int) =
    match checkStepsWith false what cfg steps batch time seed with
    | Ok(Some last) -> last
    | _ -> failwith $"{what}: no step ran"

let private baseCfg = { smallConfig with NumEpochs = 10 }

let private cases: (string * Config) list =
    [
        "defaults (GradNorm)", baseCfg
        "without GradNorm", { baseCfg with GradNorm = false }
        "r2 decoder", { baseCfg with UseR2Decoder = true }
        "r2 decoder without GradNorm",
        { baseCfg with
            UseR2Decoder = true
            GradNorm = false
        }
        "low rank", { baseCfg with LowRankTemp = true }
        "dyn_bias", { baseCfg with DynBias = true }
        "nonlinear decoder", { baseCfg with NonlinDecoder = true }
        "stateful", { baseCfg with Stateful = true }
        "stateful, low rank, r2 decoder, float32 inference",
        { baseCfg with
            Stateful = true
            LowRankTemp = true
            UseR2Decoder = true
            Backend = Backend.FusedFloat32
        }
        "clipping active", { baseCfg with ClipGrad = 1e-3 }
        "normalisations off",
        { baseCfg with
            NormalizeSpatial = false
            NormalizeTemporal = false
        }
        "normalisations on",
        { baseCfg with
            NormalizeSpatial = true
            NormalizeTemporal = true
        }
        "normalisations on, low rank, nonlinear",
        { baseCfg with
            NormalizeSpatial = true
            NormalizeTemporal = true
            LowRankTemp = true
            NonlinDecoder = true
        }
        "L1 regularisers",
        { baseCfg with
            L1Alpha = 0.01
            L1AlphaW = 0.02
            L1AlphaSpat = 0.03
        }
        "orth and nuclear regularisers",
        { baseCfg with
            OrthAlphaSpat = 0.05
            LnucAlpha = 0.01
        }
        "every regulariser, low rank, no GradNorm",
        { baseCfg with
            L1Alpha = 0.01
            L1AlphaW = 0.02
            L1AlphaSpat = 0.03
            OrthAlphaSpat = 0.05
            LnucAlpha = 0.01
            LowRankTemp = true
            GradNorm = false
        }
        "training_precision Float32",
        { baseCfg with
            TrainingPrecision = TrainingPrecision.Float32
        }
        "float32 inference",
        { baseCfg with
            Backend = Backend.FusedFloat32
        }
        "float32 inference and training, r2 decoder",
        { baseCfg with
            Backend = Backend.FusedFloat32
            TrainingPrecision = TrainingPrecision.Float32
            UseR2Decoder = true
        }
        "BCE", { baseCfg with Loss = LossKind.BCE }
        "Poisson, nonlinear decoder",
        { baseCfg with
            Loss = LossKind.Poisson
            NonlinDecoder = true
        }
        "per-sample convergence, weight decay, schedule",
        { baseCfg with
            Convergence = Convergence.PerSample
            BatchScaling = BatchScaling.PerSample
            WeightDecay = 0.01
            NumEpochs = 5
        }
    ]

[<Fact>]
let ``The packed step equals the generic step bit for bit over consecutive steps for every option`` () =
    for what, cfg in cases do
        checkSteps what cfg 4 5 6 3 |> ignore

[<Fact>]
let ``The packed step equals the generic step at the demo's sizes with max_iter reached`` () =
    let cfg =
        { Config.defaults 20 with
            RDim = 10
            R2Dim = 5
            MixDim = 15
            HyperHidDim = 50
            MaxIter = 50
            Tol = 0.0
            Convergence = Convergence.PerSample
            BatchScaling = BatchScaling.PerSample
        }

    let _, m = checkSteps "demo sizes" cfg 3 16 12 9
    Assert.Equal(1.0, m.MaxIterShare)

[<Fact>]
let ``A later epoch's schedule and a step count carried in the state give the same step`` () =
    let cfg = { baseCfg with NumEpochs = 10 }

    let s0 =
        { Train.init cfg (Random.key 4) with
            Epoch = 7
            Batch = 3
        }

    let X = windows cfg.Loss 5 4 6 cfg.InputDim
    let s1 = fst (Train.stepGeneric cfg s0 X)

    match stepDifference (FusedStep.step cfg s1 X) (Train.stepGeneric cfg s1 X) with
    | Some d -> failwith d
    | None -> ()

type StepProblem =
    {
        Cfg: Config
        Batch: int
        Time: int
        Seed: int
    }

    override p.ToString() =
        $"seed {p.Seed}, batch {p.Batch}, time {p.Time}, config {ConfigJson.toJson p.Cfg}"

let private problems =
    gen {
        let! seed = Gen.choose (0, 1_000_000)
        let! batch = Gen.choose (1, 9)
        let! time = Gen.choose (2, 5)

        let! model =
            ConfigGen.model
                { ConfigGen.smallSizes with
                    Input = (1, 6)
                    R = (1, 5)
                    R2Hidden = (1, 6)
                }
                smallConfig

        let! gradNorm = ConfigGen.flag
        let! stateful = ConfigGen.flag
        let! normS = ConfigGen.flag
        let! normT = ConfigGen.flag
        let! clip = Gen.elements [ 1e-2; 1.0; 100.0 ]
        let! l1 = Gen.elements [ 0.0; 0.01 ]
        let! orth = Gen.elements [ 0.0; 0.02 ]
        let! backend = Gen.elements [ Backend.Fused; Backend.FusedFloat32 ]

        let! precision =
            Gen.elements [ TrainingPrecision.Float64; TrainingPrecision.Float32 ]

        let! convergence = ConfigGen.convergence

        return
            {
                Cfg =
                    { model with
                        GradNorm = gradNorm
                        Stateful = stateful
                        NormalizeSpatial = normS
                        NormalizeTemporal = normT
                        ClipGrad = clip
                        L1Alpha = l1
                        L1AlphaW = l1
                        OrthAlphaSpat = orth
                        Backend = backend
                        TrainingPrecision = precision
                        Convergence = convergence
                    }
                Batch = batch
                Time = time
                Seed = seed
            }
    }

[<Fact>]
let ``Generated configurations: the packed step equals the generic step bit for bit over three steps`` () =
    let mutable raised = 0

    // A draw where a step raises (a NaN first loss of Poisson at random parameters, …) must raise
    // alike on both paths.
    let property (pr: StepProblem) =
        match checkStepsWith true (string pr) pr.Cfg 3 pr.Batch pr.Time pr.Seed with
        | Error _ -> raised <- raised + 1
        | Ok _ -> ()

    FsCheck.Check.One(propertyRuns 150, Prop.forAll (Arb.fromGen problems) property)
    report "generated step problems that raised alike on both paths (of 150)" (float raised) 150.0
    Assert.True(raised < 50, $"{raised} of 150 generated problems raised: too few compared results")

[<Fact>]
let ``A step whose inference diverges raises the same TrainingDivergedException on both paths`` () =
    let cfg =
        { smallConfig with
            LrR = 1e6
            MaxIter = 400
            Tol = 0.01
        }

    for backend in [ Backend.Fused; Backend.FusedFloat32 ] do
        let cfg = { cfg with Backend = backend }

        let s0 =
            { Train.init cfg (Random.key 5) with
                Epoch = 1
                Batch = 2
            }

        let X =
            Array3D.init 20 4 cfg.InputDim (fun s t j -> if s = 11 && t = 2 then 1e30 * float (j + 1) else 1e-3)

        let a =
            Assert.Throws<TrainingDivergedException>(fun () -> FusedStep.step cfg s0 X |> ignore)

        let e =
            Assert.Throws<TrainingDivergedException>(fun () -> Train.stepGeneric cfg s0 X |> ignore)

        Assert.Equal(e.Message, a.Message)
        Assert.Contains("inference diverged", a.Message)
        Assert.Contains("epoch 2, batch 3", a.Message)

[<Fact>]
let ``A step whose update overflows raises the same TrainingDivergedException on both paths`` () =
    let cfg =
        { smallConfig with
            LearningRateS = 1.79e308
            LearningRateT = 1.79e308
            LearningRateH = 1.79e308
        }

    let s0 = Train.init cfg (Random.key 1)
    let X = windows cfg.Loss 3 4 5 cfg.InputDim

    let a =
        Assert.Throws<TrainingDivergedException>(fun () -> FusedStep.step cfg s0 X |> ignore)

    let e =
        Assert.Throws<TrainingDivergedException>(fun () -> Train.stepGeneric cfg s0 X |> ignore)

    Assert.Equal(e.Message, a.Message)
    Assert.Contains("params '", a.Message)

[<Fact>]
let ``Bad inputs raise the same exceptions on both paths`` () =
    let cfg = { smallConfig with Loss = LossKind.BCE }
    let s0 = Train.init cfg (Random.key 2)
    let good = windows cfg.Loss 3 4 5 cfg.InputDim
    let outside = Array3D.map id good
    outside[2, 3, 1] <- 1.5
    let nan = Array3D.map id good
    nan[1, 1, 1] <- Double.NaN
    let short = Array3D.zeroCreate 4 1 cfg.InputDim

    for what, X in [ "outside BCE's domain", outside; "NaN", nan; "too short", short ] do
        let a = Record.Exception(fun () -> FusedStep.step cfg s0 X |> ignore)
        let e = Record.Exception(fun () -> Train.stepGeneric cfg s0 X |> ignore)
        Assert.NotNull e
        Assert.NotNull a

        Assert.True(
            (a.GetType() = e.GetType() && a.Message = e.Message),
            $"{what}: fused '{a.Message}', generic '{e.Message}'"
        )

[<Fact>]
let ``An optimizer state that does not fit the parameters raises the same exception on both paths`` () =
    let cfg = smallConfig
    let s0 = Train.init cfg (Random.key 2)
    let X = windows cfg.Loss 3 4 5 cfg.InputDim

    let smaller =
        ParamTree.zerosLike (Init.init { cfg with RDim = cfg.RDim - 1 } (Random.key 3))

    let optimizer = s0.Optimizer

    for cfg, what, o in
        [
            cfg, "first moment of another shape", { optimizer with ExpAvg = smaller }
            cfg, "second moment of another shape", { optimizer with ExpAvgSq = smaller }
            cfg, "negative step count", { optimizer with Step = -5 }
            { cfg with
                LearningRateSchedule = LearningRateSchedule.Exponential
            },
            "negative step count, exponential schedule",
            { optimizer with Step = -5 }
        ] do
        let s = { s0 with Optimizer = o }
        let a = Record.Exception(fun () -> FusedStep.step cfg s X |> ignore)
        let e = Record.Exception(fun () -> Train.stepGeneric cfg s X |> ignore)
        Assert.NotNull e
        Assert.NotNull a

        Assert.True(
            (a.GetType() = e.GetType() && a.Message = e.Message),
            $"{what}: fused '{a.Message}', generic '{e.Message}'"
        )

/// The values of a kernel parameter block (float64 and float32, as float64).
let private values64 (w: KernelWeights<float>) = w.Values.ToArray()

let private values32 (w: KernelWeights<float32>) = w.Values.ToArray() |> Array.map float

[<Fact>]
let ``KernelModel.Refill repacks both blocks in place to what a new model packs`` () =
    for c in ObjectiveTests.objectiveCases do
        let cfg = c.Config
        let p1, p2 = paramsFor cfg 1, paramsFor cfg 2
        let m1 = Fused.model cfg p1
        // A model of its own arrays (Fused.model's share p1's vectors): copy p1's tensors.
        let own (p: Params) =
            let f (m: KernelMlp) =
                KernelMlp(
                    Array.copy m.W0,
                    Array.copy m.B0,
                    Array.copy m.Gamma,
                    Array.copy m.Beta,
                    Array.copy m.W3,
                    Array.copy m.B3,
                    Array.copy m.W4,
                    (if isNull m.B4 then null else Array.copy m.B4)
                )

            let m = Fused.model cfg p

            KernelModel(
                m.Sizes,
                (if isNull m.LinearDecoder then
                     null
                 else
                     Array.copy m.LinearDecoder),
                (if isNull m.LinearDecoderBias then
                     null
                 else
                     Array.copy m.LinearDecoderBias),
                (if isNull m.NonlinearDecoder then
                     null
                 else
                     f m.NonlinearDecoder),
                Array.copy m.Temporal,
                m.LowRank,
                (if isNull m.TemporalBias then
                     null
                 else
                     Array.copy m.TemporalBias),
                f m.Hypernet,
                (if isNull m.R2Decoder then null else f m.R2Decoder)
            )

        let target = own p1
        let d1, s1 = target.Double.Values.Array, target.Single.Values.Array
        let before = values64 target.Double
        Assert.Equal<float>(values64 m1.Double, before)
        Assert.Equal<float>(values32 m1.Single, values32 target.Single)
        // Overwrite every tensor with p2's values, in place, and refill.
        let m2 = Fused.model cfg p2

        let copy (dst: float[]) (src: float[]) =
            if not (isNull dst) then
                Array.blit src 0 dst 0 src.Length

        let copyMlp (dst: KernelMlp) (src: KernelMlp) =
            if not (isNull dst) then
                copy dst.W0 src.W0
                copy dst.B0 src.B0
                copy dst.Gamma src.Gamma
                copy dst.Beta src.Beta
                copy dst.W3 src.W3
                copy dst.B3 src.B3
                copy dst.W4 src.W4
                copy dst.B4 src.B4

        copy target.LinearDecoder m2.LinearDecoder
        copy target.LinearDecoderBias m2.LinearDecoderBias
        copyMlp target.NonlinearDecoder m2.NonlinearDecoder
        copy target.Temporal m2.Temporal
        copy target.TemporalBias m2.TemporalBias
        copyMlp target.Hypernet m2.Hypernet
        copyMlp target.R2Decoder m2.R2Decoder
        target.Refill()
        // The same arrays, now holding what p2's own model packs, bit for bit.
        Assert.Same(d1, target.Double.Values.Array)
        Assert.Same(s1, target.Single.Values.Array)
        Assert.Equal<float>(values64 m2.Double, values64 target.Double)
        Assert.Equal<float>(values32 m2.Single, values32 target.Single)
        // And p1's block differed (the refill changed something).
        Assert.NotEqual<float>(before, values64 target.Double)
