/// Tests of `Evaluate.evaluateBatched`: a batched evaluation is the records of its batches, joined.
module TiDHy.Functional.Tests.EvaluateTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private windows (n: int) =
    let z = randomMatrix 31 1.0 (n * 6) smallConfig.InputDim
    Array3D.init n 6 smallConfig.InputDim (fun w t d -> z[w * 6 + t, d])

[<Fact>]
let ``A batched evaluation joins the records of its batches`` () =
    let p = Init.init smallConfig (Random.key 4)
    let X = windows 5
    let joined = Evaluate.evaluateBatched smallConfig p 2 X

    let parts =
        [ 0, 1; 2, 3; 4, 4 ]
        |> List.map (fun (a, b) -> a, Evaluate.evaluateRecord smallConfig p None X[a..b, *, *])

    for a, r in parts do
        for w in 0 .. Array3D.length1 r.W - 1 do
            Assert.Equal<float[,]>(r.W[w, *, *], joined.W[a + w, *, *])
            Assert.Equal<float[,]>(r.IHat[w, *, *], joined.IHat[a + w, *, *])
            Assert.Equal<float[,,]>(r.Ut[w, *, *, *], joined.Ut[a + w, *, *, *])
            Assert.Equal<float[]>(Numerics.row r.Final.R w, Numerics.row joined.Final.R (a + w))

    let expected =
        (parts
         |> List.sumBy (fun (_, r) -> float (Array3D.length1 r.W) * r.SpatialLossRHatAvg))
        / 5.0

    assertCloseScalar "average" 1e-14 joined.SpatialLossRHatAvg expected

    Assert.Equal<int[]>(
        Array.init 6 (fun t -> parts |> List.map (fun (_, r) -> r.Iterations[t]) |> List.max),
        joined.Iterations
    )

    let whole = Evaluate.evaluateBatched smallConfig p 8 X
    Assert.Equal<float[,,]>((Evaluate.evaluateRecord smallConfig p None X).W, whole.W)

    Assert.Throws<System.ArgumentException>(fun () -> Evaluate.evaluateBatched smallConfig p 0 X |> ignore)
    |> ignore
