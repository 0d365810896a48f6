module TiDHy.Functional.Tests.InitTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// Every model variant, each flag on in at least one.
let variants =
    [
        smallConfig
        { smallConfig with Loss = LossKind.BCE }
        { smallConfig with
            NonlinDecoder = true
            UseR2Decoder = true
        }
        { smallConfig with
            LowRankTemp = true
            DynBias = true
        }
        { smallConfig with
            DynBias = true
            Loss = LossKind.Poisson
        }
    ]

[<Fact>]
let ``The same seed gives the same parameters and another seed other ones`` () =
    for cfg in variants do
        Assert.Equal(Init.ofSeed cfg 7, Init.ofSeed cfg 7)
        Assert.NotEqual(Init.ofSeed cfg 7, Init.ofSeed cfg 8)

[<Fact>]
let ``Split keys are distinct and deterministic`` () =
    let k = Random.key 42
    let ks = Random.splitN 8 k
    Assert.Equal(8, ks |> Array.distinct |> Array.length)
    Assert.DoesNotContain(k, ks)
    Assert.Equal<Key[]>(ks, Random.splitN 8 (Random.key 42))
    Assert.NotEqual(Random.foldIn 1 k, Random.foldIn 2 k)

[<Fact>]
let ``Normal draws have mean 0 and variance 1`` () =
    let z = Random.normal (Random.key 3) 200_000
    let mean = Array.average z
    let var = z |> Array.averageBy (fun v -> (v - mean) ** 2.0)
    // Standard errors: 1/sqrt(n) ≈ 0.0022 for the mean, sqrt(2/n) ≈ 0.0032 for the variance.
    Assert.InRange(mean, -0.01, 0.01)
    Assert.InRange(var, 0.985, 1.015)

[<Fact>]
let ``Every variant's parameters have the state_dict shapes of its config`` () =
    for cfg in variants do
        let p = Init.ofSeed cfg 1
        Model.checkParams cfg p
        let shapes = ParamLayout.ofParams p |> List.map (fun (n, t) -> n, t.Shape)
        Assert.Equal<(string * int[]) list>(ParamLayout.expected cfg, shapes)

let private gram (rows: float[][]) =
    Array.init rows.Length (fun i ->
        Array.init rows.Length (fun j -> Array.fold2 (fun s a b -> s + a * b) 0.0 rows[i] rows[j]))

let private assertIdentity (g: float[][]) =
    for i in 0 .. g.Length - 1 do
        for j in 0 .. g.Length - 1 do
            Assert.Equal((if i = j then 1.0 else 0.0), g[i][j], 12)

[<Fact>]
let ``Temporal parameters have orthonormal rows`` () =
    match (Init.ofSeed smallConfig 5).Temporal with
    | FullRank t -> assertIdentity (gram (Numerics.rows t))
    | LowRank _ -> failwith "expected full rank"

    match
        (Init.ofSeed
            { smallConfig with
                LowRankTemp = true
                MixDim = 3
            }
            5)
            .Temporal
    with
    | LowRank u ->
        let flat = Array.init 3 (fun k -> Array.init 8 (fun j -> u[k, j / 2, j % 2]))
        assertIdentity (gram flat)
    | FullRank _ -> failwith "expected low rank"

[<Fact>]
let ``Orthogonal init gives orthonormal columns for a tall matrix`` () =
    let q = Init.orthogonal (Random.key 9) 7 3
    let cols = Array.init 3 (fun j -> Array.init 7 (fun i -> q[i, j]))
    assertIdentity (gram cols)

[<Fact>]
let ``Xavier normal has the Glorot standard deviation`` () =
    let w = Init.xavierNormal (Random.key 11) 300 200
    let values = Seq.cast<float> w |> Seq.toArray
    let sd = sqrt (values |> Array.averageBy (fun v -> v * v))
    let expected = sqrt (2.0 / 500.0)
    Assert.InRange(sd / expected, 0.99, 1.01)

[<Fact>]
let ``Linear and LayerNorm defaults follow PyTorch`` () =
    let p =
        Init.ofSeed
            { smallConfig with
                NonlinDecoder = true
            }
            2

    match p.SpatialDecoder with
    | NonlinearDecoder m ->
        let bound = 1.0 / sqrt 8.0
        Assert.All(Seq.cast<float> m.Hidden.Weight, fun v -> Assert.InRange(v, -bound, bound))
        Assert.All(m.Output.Bias.Value, fun v -> Assert.InRange(v, -bound, bound))
        Assert.All(m.Input.Bias.Value, fun v -> Assert.InRange(v, -0.5, 0.5))
        Assert.Equal<float[]>(Array.create 8 1.0, m.Norm.Gamma)
        Assert.Equal<float[]>(Array.zeroCreate 8, m.Norm.Beta)
    | LinearDecoder _ -> failwith "expected a nonlinear decoder"

    Assert.True(p.Hypernet.Output.Bias.IsSome)
    let pb = Init.ofSeed { smallConfig with DynBias = true } 2
    Assert.True(pb.Hypernet.Output.Bias.IsNone)

[<Fact>]
let ``Spatial and temporal normalisation give unit columns and rows`` () =
    let p =
        Init.ofSeed
            { smallConfig with
                NormalizeSpatial = true
                NormalizeTemporal = true
            }
            4

    match p.SpatialDecoder, p.Temporal with
    | LinearDecoder l, FullRank t ->
        for j in 0..3 do
            Assert.Equal(1.0, Numerics.norm (Array.init 6 (fun i -> l.Weight[i, j])), 12)

        for k in 0..4 do
            Assert.Equal(1.0, Numerics.norm (Numerics.row t k), 12)
    | _ -> failwith "unexpected variant"

[<Fact>]
let ``Init rejects an invalid config`` () =
    Assert.Throws<InvalidConfigException>(fun () -> Init.ofSeed { smallConfig with RDim = 0 } 1 |> ignore)
    |> ignore
