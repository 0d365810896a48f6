/// Tests of `training_precision`: a float32 fit's losses track the float64 fit's on a short
/// demo-shaped fit, and a float32 step stores float32 values.
module TiDHy.Functional.Tests.TrainingPrecisionTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// The demo's model (`tidhy demo`, `Slds.benchmarkConfig`): D = 20 and upstream's sizes (R = 10,
/// R2 = 5, M = 15, H = 50), windows of 100 steps, 200 inference iterations, `PerSample` scaling,
/// GradNorm on.
let private demoConfig = Slds.benchmarkConfig 20

let private fit (cfg: Config) (X: float[,,]) (steps: int) =
    let mutable s = Train.init cfg (Random.key 1)

    [|
        for _ in 1..steps do
            let s', m = Train.step cfg s X
            s <- s'
            yield m.Total
    |],
    s

[<Fact>]
let ``A float32 fit's losses track the float64 fit's on a demo-shaped fit`` () =
    // 16 windows of 100 steps: one demo batch, 12 steps; inference in float64 in both fits, so the
    // difference is training's precision alone (backward pass, parameters, moments).
    let X = TestInputs.syntheticWindows 7 16 100 20

    let cfg =
        { demoConfig with
            Backend = Backend.Fused
        }

    let l64, _ = fit cfg X 12

    let l32, s32 =
        fit
            { cfg with
                TrainingPrecision = TrainingPrecision.Float32
            }
            X
            12

    let rel i = abs (l32[i] - l64[i]) / abs l64[i]

    // The first steps differ by float32's rounding carried through one inference each (measured
    // here below 1e-8; bound 1e-5). Later the rounding compounds through the inner optimisation,
    // whose stopping rule is discrete: once one sample stops an iteration earlier or later the fits
    // part by up to about 1e-2 (measured here: at most 7e-8 over 12 steps; on noisier windows,
    // 4e-3 at step 8 and 1.2e-2 at step 19). Bound: 2e-2 over 12 steps.
    for i in 0..3 do
        report $"float32 fit step {i}" (rel i) 1e-5
        Assert.True(rel i <= 1e-5, $"step {i}: float32 {l32[i]} vs float64 {l64[i]} ({rel i:E2})")

    for i in 0..11 do
        report $"float32 fit step {i}" (rel i) 2e-2
        Assert.True(rel i <= 2e-2, $"step {i}: float32 {l32[i]} vs float64 {l64[i]} ({rel i:E2})")

    // Both fits learn: the loss falls by more than half.
    Assert.True(l32[11] < 0.5 * l32[0], $"float32 fit: {l32[0]} -> {l32[11]}")
    Assert.True(l64[11] < 0.5 * l64[0], $"float64 fit: {l64[0]} -> {l64[11]}")

    // Parameters and moments are stored as float32 values.
    let isSingle (p: Params) =
        ParamTree.leaves p
        |> List.forall (fun (_, d) -> d |> Array.forall (fun x -> float (float32 x) = x))

    Assert.True(isSingle s32.Params)
    Assert.True(isSingle s32.Optimizer.ExpAvg)
    Assert.True(isSingle s32.Optimizer.ExpAvgSq)

[<Fact>]
let ``Float64 precision keeps float64 parameters`` () =
    let cfg = { smallConfig with GradNorm = false }
    let X = TestInputs.syntheticWindows 3 4 6 cfg.InputDim
    let s, _ = Train.step cfg (Train.init cfg (Random.key 2)) X

    Assert.True(
        ParamTree.leaves s.Params
        |> List.exists (fun (_, d) -> d |> Array.exists (fun x -> float (float32 x) <> x))
    )
