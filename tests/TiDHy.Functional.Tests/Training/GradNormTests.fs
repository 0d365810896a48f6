/// Tests of `GradNorm`: the invariants of the task-weight update and its parameter sets.
module TiDHy.Functional.Tests.GradNormTests

open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private positive lo hi =
    Gen.choose (1, 1000) |> Gen.map (fun v -> lo + (hi - lo) * float v / 1000.0)

[<Fact>]
let ``GradNorm keeps the sum of the task weights constant`` () =
    let cfg = { smallConfig with UseR2Decoder = true }
    let p = Init.init cfg (Random.key 8)
    let n = GradNorm.taskCount cfg

    let gen =
        gen {
            let! weights = Gen.arrayOfLength n (positive 0.05 3.0)
            let! scales = Gen.arrayOfLength n (positive 0.01 10.0)
            let! losses = Gen.arrayOfLength n (positive 0.1 50.0)
            let! l0 = Gen.arrayOfLength n (positive 0.1 50.0)
            let! alpha = positive 0.0 2.0
            return weights, scales, losses, l0, alpha
        }

    FsCheck.Check.One(
        propertyRuns 100,
        Prop.forAll (Arb.fromGen gen) (fun (weights, scales, losses, l0, alpha) ->
            let grads = scales |> Array.map (fun c -> ParamTree.scale c p)
            let state = { Weights = weights; L0 = Some l0 }
            let u = GradNorm.update { cfg with GradAlpha = alpha } state losses grads
            let after, step = u.State, u.Step

            abs (Array.sum after.Weights - Array.sum weights) <= 1e-12 * Array.sum weights
            && Array.forall (fun w -> w > 0.0) after.Weights
            && after.Weights = step.WeightsAfter
            && after.L0 = Some l0)
    )

[<Fact>]
let ``On the first step every target is the mean task gradient norm and l0 is the losses`` () =
    let cfg = smallConfig
    let p = Init.init cfg (Random.key 1)
    let grads = [| 1.0; 2.0; 3.0 |] |> Array.map (fun c -> ParamTree.scale c p)
    let losses = [| 4.0; 5.0; 6.0 |]
    let u = GradNorm.update cfg (GradNorm.init cfg) losses grads
    let state, step = u.State, u.Step
    Assert.Equal(Some losses, state.L0)
    let meanG = Array.average step.TaskGradNorms
    assertClose "target" 1e-15 step.Target (Array.create 3 meanG)

    // The weight whose G is above the target falls, the others rise.
    for i in 0..2 do
        let expectedSign = -(Numerics.sign (step.TaskGradNorms[i] - step.Target[i]))
        Assert.Equal(expectedSign, Numerics.sign (step.WeightsAfter[i] - 1.0))

[<Fact>]
let ``Task parameter sets follow MODEL.md`` () =
    Assert.True(GradNorm.inTask 0 "spatial_decoder.0.weight")
    Assert.False(GradNorm.inTask 0 "temporal")
    Assert.True(GradNorm.inTask 1 "temporal")
    Assert.True(GradNorm.inTask 1 "spatial_decoder.4.bias")
    Assert.False(GradNorm.inTask 1 "hypernet.0.weight")
    Assert.True(GradNorm.inTask 2 "hypernet.4.weight")
    Assert.False(GradNorm.inTask 2 "temporal_bias")
    Assert.True(GradNorm.inTask 3 "R2_Decoder.1.bias")
    Assert.False(GradNorm.inTask 3 "hypernet.0.bias")

[<Fact>]
let ``A zero first loss is an error naming the task`` () =
    let p = Init.init smallConfig (Random.key 1)
    let grads = Array.create 3 p

    let ex =
        Assert.Throws<System.InvalidOperationException>(fun () ->
            GradNorm.update smallConfig (GradNorm.init smallConfig) [| 1.0; 0.0; 2.0 |] grads
            |> ignore)

    Assert.Contains("task 1", ex.Message)
