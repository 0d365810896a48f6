/// Tests of the fused backward pass (`FusedObjective`, the training kernels generated per `[TiDHyKernel]` declaration) against the
/// definition `Objective.terms`: the packed layout, every option combination, the reference fixtures'
/// training steps, generated configurations and trajectories (FsCheck), float32 within its bound,
/// independence of the thread count, and the dispatch.
module TiDHy.Functional.Tests.FusedObjectiveTests

open System
open System.IO
open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Functional.Tests.Fixtures
open TiDHy.Functional.Tests.ObjectiveTests
open TiDHy.Kernels
open Xunit

/// float64: the fused pass sums the same products as `Objective.terms` in another order (samples in
/// SIMD lanes, tiles, chunks), so each gradient may differ by rounding only: a few ulp per
/// accumulated product, far below 1e-12 of the gradient's norm for these sizes.
let float64Tol = 1e-12

/// float32: every product and sum in float32 (unit roundoff 6e-8), through up to four layers
/// (decoder MLP, LayerNorm, hypernetwork) and sums over up to a few hundred samples; the error
/// grows like the roundoff times the layers' condition (LayerNorm divides by the standard deviation
/// of the pre-activations) times √(terms summed): 1e-4 of the gradient's norm bounds it with margin
/// on these inputs, and is what float32 inference is held to (1e-3) tightened tenfold.
let float32Tol = 1e-4

/// The largest relative error of the four values and gradients of `a` against `e`: a gradient's
/// error is `‖a − e‖ / ‖e‖` over all its leaves (the absolute error when `e` is zero).
let termsError (a: ObjectiveTerms) (e: ObjectiveTerms) =
    let value (x: float) (y: float) =
        if y = 0.0 then abs x else abs (x - y) / abs y

    List.zip (LossTerms.toList a) (LossTerms.toList e)
    |> List.map (fun (x, y) -> max (value x.Value y.Value) (GradientCheck.paramRelativeError x.Grad y.Grad))
    |> List.max

/// The largest per-leaf error of the gradients, each leaf against the norm of its whole term's
/// gradient (a leaf that is zero in the definition must be zero to rounding).
let leafErrors (a: ObjectiveTerms) (e: ObjectiveTerms) =
    List.zip (LossTerms.toList a) (LossTerms.toList e)
    |> List.collect (fun (x, y) ->
        let scale = max (ParamTree.norm y.Grad) 1e-300
        let ya = ParamTree.leaves y.Grad |> Map.ofList

        ParamTree.leaves x.Grad
        |> List.map (fun (n, d) ->
            let diff = Array.map2 (-) d ya[n]
            n, sqrt (Array.sumBy (fun v -> v * v) diff) / scale))

let private check (what: string) (tol: float) (a: ObjectiveTerms) (e: ObjectiveTerms) =
    let err = termsError a e
    report what err tol
    Assert.True(err <= tol, $"{what}: relative error {err:E3} > {tol:E0}")

[<Fact>]
let ``The kernel's packed layout is ParamLayout.expected's order for every option`` () =
    for c in objectiveCases do
        let cfg = c.Config
        let layout = TrainingLayout(FusedObjective.shape cfg)
        let offs = FusedObjective.offsets cfg

        let total =
            ParamLayout.expected cfg |> List.sumBy (fun (_, s) -> Array.fold (*) 1 s)

        Assert.Equal(total, layout.Count)
        Assert.Equal(offs[ParamNames.Temporal], layout.Temporal)
        Assert.Equal(offs[ParamNames.HypernetInputWeight], layout.Hyp.W0)
        Assert.Equal(offs[ParamNames.layerBias ParamNames.Hypernet ParamNames.NormLayer], layout.Hyp.Beta)
        Assert.Equal(offs[ParamNames.HypernetOutputWeight], layout.Hyp.W4)

        if cfg.DynBias then
            Assert.Equal(offs[ParamNames.TemporalBias], layout.Bias)
            Assert.Equal(-1, layout.Hyp.B4)
        else
            Assert.Equal(offs[ParamNames.layerBias ParamNames.Hypernet ParamNames.OutputLayer], layout.Hyp.B4)

        if cfg.NonlinDecoder then
            Assert.Equal(offs[ParamNames.SpatialDecoderWeight], layout.Dec.W0)
            Assert.Equal(offs[ParamNames.layerBias ParamNames.SpatialDecoder ParamNames.OutputLayer], layout.Dec.B4)
        else
            Assert.Equal(offs[ParamNames.SpatialDecoderWeight], layout.DecW)
            Assert.Equal(offs[ParamNames.SpatialDecoderBias], layout.DecB)

        if cfg.UseR2Decoder then
            Assert.Equal(offs[ParamNames.layerWeight ParamNames.R2Decoder ParamNames.InputLayer], layout.Q.W0)
            Assert.Equal(offs[ParamNames.layerBias ParamNames.R2Decoder ParamNames.OutputLayer], layout.Q.B4)

/// Parameters and a trajectory for `cfg` on which every term is finite (Poisson needs positive
/// predictions).
let private inputsFor (cfg: Config) (batch: int) (steps: int) (initial: bool) =
    firstSmooth
        (string cfg)
        (fun seed -> paramsFor cfg seed, randomTrajectory cfg (seed + 11) batch steps initial)
        (fun (p, traj) -> Objective.values cfg p traj |> LossTerms.toList |> List.forall Double.IsFinite)

[<Fact>]
let ``Fused float64 terms equal Objective.terms for every option, with and without X_0`` () =
    for c in objectiveCases do
        for initial in [ true; false ] do
            // 37 samples × 3 steps: several tiles of 32 lanes, a partial tile, several chunks.
            for batch, steps in [ 2, 3; 37, 3 ] do
                let cfg = c.Config
                let p, traj = inputsFor cfg batch steps initial
                let e = Objective.terms cfg p traj
                let a = FusedObjective.termsWith false cfg p traj
                check $"fused float64 {c} initial={initial} batch={batch}" float64Tol a e

                for n, err in leafErrors a e do
                    Assert.True(err <= float64Tol, $"{c} initial={initial} batch={batch} {n}: {err:E3}")

[<Fact>]
let ``Fused float32 terms are within 1e-4 of Objective.terms for every option`` () =
    for c in objectiveCases do
        let cfg = c.Config
        let p, traj = inputsFor cfg 37 3 true
        let e = Objective.terms cfg p traj
        let a = FusedObjective.termsWith true cfg p traj
        check $"fused float32 {c}" float32Tol a e

[<Fact>]
let ``Fused terms do not depend on the number of threads`` () =
    for c in objectiveCases |> List.filter (fun c -> c.Loss = LossKind.MSE) do
        let cfg = c.Config
        let p, traj = inputsFor cfg 40 9 true

        for float32 in [ false; true ] do
            let run threads =
                let k = TrainingKernels.Create(FusedObjective.shape cfg, float32)
                k.MaxThreads <- threads
                FusedObjective.termsOn k cfg p traj

            let one, many = run 1, run -1

            for a, b in List.zip (LossTerms.toList one) (LossTerms.toList many) do
                Assert.Equal(a.Value, b.Value)

                for (n, x), (_, y) in List.zip (ParamTree.leaves a.Grad) (ParamTree.leaves b.Grad) do
                    Assert.True((x = y), $"{c} float32={float32} {n}: results differ between 1 and many threads")

/// The fixtures' training cases, one row per fixture file.
let fixtureRows () : obj[] seq =
    let rows =
        [
            for file in files referenceDir do
                if (load file).Cases.Keys |> Seq.exists trainingCases.Contains then
                    yield [| box (Path.GetFileNameWithoutExtension file) |]
        ]

    if rows.IsEmpty then
        Seq.singleton [| box $"(no training case in {referenceDir})" |]
    else
        Seq.ofList rows

[<Theory>]
[<MemberData(nameof fixtureRows)>]
let ``On every reference fixture's training windows the fused float64 terms equal Objective.terms`` (fixture: string) =
    let path = Path.Combine(referenceDir, fixture + ".json")
    Assert.True(File.Exists path, $"Reference fixture {path} not found (folder: {referenceDir}).")
    let f = load path

    for name in f.Cases.Keys do
        if trainingCases.Contains name then
            let X = array3 (prop "X" (prop "inputs" f.Cases[name]))

            let cfg =
                { f.Config with
                    Backend = Backend.Fused
                }

            let traj = (Objective.trajectory cfg f.Params None X).Trajectory
            let e = Objective.terms cfg f.Params traj
            check $"{fixture} {name} fused float64" float64Tol (FusedObjective.termsWith false cfg f.Params traj) e
            check $"{fixture} {name} fused float32" float32Tol (FusedObjective.termsWith true cfg f.Params traj) e

/// A generated problem: a configuration over the options the objective depends on, a batch, a
/// number of steps and a seed for the parameters and the trajectory.
type ObjectiveProblem =
    {
        Cfg: Config
        Batch: int
        Steps: int
        Initial: bool
        Seed: int
    }

    override p.ToString() =
        $"seed {p.Seed}, batch {p.Batch}, steps {p.Steps}, initial {p.Initial}, config {ConfigJson.toJson p.Cfg}"

let private problems =
    gen {
        let! seed = Gen.choose (0, 1_000_000)
        let! batch = Gen.choose (1, 40)
        let! steps = Gen.choose (0, 4)
        let! initial = Gen.elements [ false; true ]

        let! model = ConfigGen.model ConfigGen.smallSizes (Config.defaults 1)

        let! tw = Gen.elements [ 0.0; 0.5; 2.0; 7.25 ]

        return
            {
                Cfg = { model with TempWeight = tw }
                Batch = batch
                Steps = steps
                Initial = initial || steps = 0
                Seed = seed
            }
    }

[<Fact>]
let ``Generated configurations and trajectories: fused float64 equals Objective.terms, float32 within 1e-4`` () =
    let property (pr: ObjectiveProblem) =
        let cfg = pr.Cfg
        let p = paramsFor cfg pr.Seed
        let traj = randomTrajectory cfg (pr.Seed + 7) pr.Batch pr.Steps pr.Initial
        let values = Objective.values cfg p traj |> LossTerms.toList

        // Poisson is defined for positive predictions only; such draws are outside the domain.
        if List.forall Double.IsFinite values then
            let e = Objective.terms cfg p traj
            let err64 = termsError (FusedObjective.termsWith false cfg p traj) e
            // float32 is held to its bound where LayerNorm is well conditioned: over 1–3 hidden
            // units, `x − mean` cancels to a few float32 ulp of `x` and is divided by
            // `sqrt(var + 1e-5)` (≥ 3e-3), which amplifies float32's rounding past 1e-4 (seen
            // at H = 2: 1.9e-4). The library's sizes (H = 50) and the float32 inference tests
            // (H ≥ 4) are in the well-conditioned range; float64 is checked at every size.
            let err32 =
                if cfg.HyperHidDim >= 4 && cfg.R2DecoderHidDim >= 4 then
                    termsError (FusedObjective.termsWith true cfg p traj) e
                else
                    0.0

            if not (err64 <= float64Tol && err32 <= float32Tol) then
                failwith $"{pr}: float64 error {err64:E3}, float32 error {err32:E3}"

    FsCheck.Check.One(propertyRuns 300, Prop.forAll (Arb.fromGen problems) property)

[<Fact>]
let ``The dispatch takes the fused pass on fused backends and the definition on Reference`` () =
    let cfg = { smallConfig with UseR2Decoder = true }
    let p, traj = inputsFor cfg 5 3 true
    let e = Objective.terms cfg p traj

    // Reference: the definition itself, bit for bit.
    let reference = FusedObjective.terms { cfg with Backend = Backend.Reference } p traj
    Assert.False(FusedObjective.supports { cfg with Backend = Backend.Reference })

    for a, b in List.zip (LossTerms.toList reference) (LossTerms.toList e) do
        Assert.Equal(b.Value, a.Value)
        Assert.Equal<(string * float[]) list>(ParamTree.leaves b.Grad, ParamTree.leaves a.Grad)

    for backend in [ Backend.Fused; Backend.FusedFloat32 ] do
        let c = { cfg with Backend = backend }
        Assert.True(FusedObjective.supports c)
        let f64 = FusedObjective.terms c p traj
        check $"dispatch {backend}" float64Tol f64 e
        // Not the definition's bits: the fused pass ran (its sums are in another order).
        Assert.False((LossTerms.toList f64 |> List.map _.Grad) = (LossTerms.toList e |> List.map _.Grad))

        let c32 =
            { c with
                TrainingPrecision = TrainingPrecision.Float32
            }

        let f32 = FusedObjective.terms c32 p traj
        check $"dispatch {backend} float32" float32Tol f32 e
        Assert.True(termsError f32 e > 1e-12, "training_precision Float32 ran in float64")

[<Fact>]
let ``An option the fused pass does not know sends a configuration away from its default to the definition`` () =
    // Every option of today is handled: the defaults and any values take the fused pass.
    Assert.Empty(FusedObjective.unhandledOptions smallConfig)

    // An option missing from the list (as one added later would be) routes only non-default values.
    let handled = FusedObjective.handledOptions.Remove "temp_weight"
    Assert.Empty(FusedObjective.unhandledBy handled { smallConfig with TempWeight = 2.0 })

    Assert.Equal<string list>(
        [ "temp_weight" ],
        FusedObjective.unhandledBy handled { smallConfig with TempWeight = 3.0 }
    )

[<Fact>]
let ``Every option the fused pass reads is declared handled or left to the definition, once`` () =
    let read =
        ConfigOptions.all
        |> List.filter (fun o -> FusedObjective.readStages.Contains o.Stage)
        |> List.map _.Key
        |> Set.ofList

    // The stages it reads: a regulariser's or the optimiser's option is not among them.
    Assert.Contains("temp_weight", read)
    Assert.DoesNotContain("cos_eta", read)
    Assert.DoesNotContain("lr_r", read)

    for k in read do
        let handled = FusedObjective.handledOptions.Contains k
        let definition = FusedObjective.definitionOnlyOptions.Contains k

        Assert.True(
            handled <> definition,
            $"{k}: declare it in FusedObjective.handledOptions or definitionOnlyOptions (once)"
        )

    // No declared key outside the stages it reads (a stale or misspelt key).
    Assert.Equal<Set<string>>(read, FusedObjective.handledOptions + FusedObjective.definitionOnlyOptions)

[<Fact>]
let ``SAFE goes to the definition and saturation stays on the fused pass`` () =
    let cfg = { smallConfig with UseR2Decoder = true }
    let p, traj = inputsFor cfg 5 3 true

    // SAFE adds a hypernetwork term the fused pass lacks: the definition runs, bit for bit, and its
    // temporal term differs from the one without SAFE (so the term is really there).
    let safe = { cfg with SparsityWSafe = 0.5 }
    Assert.Equal<string list>([ "sparsity_w_safe" ], FusedObjective.unhandledOptions safe)
    Assert.False(FusedObjective.supports safe)
    let viaDispatch = FusedObjective.terms safe p traj
    let definition = Objective.terms safe p traj

    for a, b in List.zip (LossTerms.toList viaDispatch) (LossTerms.toList definition) do
        Assert.Equal(b.Value, a.Value)
        Assert.Equal<(string * float[]) list>(ParamTree.leaves b.Grad, ParamTree.leaves a.Grad)

    Assert.NotEqual(definition.TempLoss.Value, (Objective.terms cfg p traj).TempLoss.Value)

    // Saturation changes only the inferred trajectory, which the objective takes as data.
    let saturated =
        { cfg with
            SaturateR = Saturation.ScaledTanh
            SaturateR2 = Saturation.Tanh
        }

    Assert.True(FusedObjective.supports saturated)
    check "saturated" float64Tol (FusedObjective.terms saturated p traj) (Objective.terms saturated p traj)

[<Fact>]
let ``The kernel's call allocates nothing per sample or per parameter`` () =
    let cfg =
        { Config.defaults 20 with
            NonlinDecoder = true
            DynBias = true
            UseR2Decoder = true
        }

    let p, traj = inputsFor cfg 37 5 true
    let k = TrainingKernels.Create(FusedObjective.shape cfg, false)
    k.MaxThreads <- 1
    FusedObjective.termsOn k cfg p traj |> ignore
    let before = GC.GetAllocatedBytesForCurrentThread()
    k.Run k.Parameters
    let allocated = GC.GetAllocatedBytesForCurrentThread() - before
    // The gradients alone are 4 × 9,000 float64 values (290 KB). One thread runs the chunks in a
    // loop on this thread, without a parallel loop's bookkeeping (which grew when the thread pool was
    // busy): measured 0 bytes.
    Assert.True(allocated < 4096L, $"Run allocated {allocated} bytes")
