/// Tests of `Regularisers`: each gradient against central differences, for both temporal ranks and
/// both decoder kinds, and the invariants of the cosine regulariser.
module TiDHy.Functional.Tests.RegularisersTests

open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit


let private variants =
    [
        for nonlin in [ false; true ] do
            for lowRank in [ false; true ] do
                for dynBias in [ false; true ] do
                    { smallConfig with
                        NonlinDecoder = nonlin
                        LowRankTemp = lowRank
                        DynBias = dynBias
                        UseR2Decoder = nonlin
                    }
    ]

let private regularisers: (string * (Params -> Term)) list =
    [
        "cos_reg", Regularisers.cosReg
        "orth_r2", Regularisers.orthR2
        "L1 temporal", Regularisers.l1Temporal
        "L1 hypernet.4.weight", Regularisers.l1HypernetOutput
        "L1 spatial", Regularisers.l1Spatial
        "orth spatial", Regularisers.orthSpatial
        "nuclear", Regularisers.nuclear
    ]

/// `p` with N(0, 0.3²) noise added to every value: away from the orthogonal initialisation, where
/// every cosine is 0 and `|cos|` has its kink.
let private jitter (seed: int) (p: Params) =
    let mutable k = seed

    ParamTree.mapN
        (fun _ leaves ->
            k <- k + 1
            Array.map2 (fun v z -> v + 0.3 * z) leaves[0] (Random.normal (Random.key k) leaves[0].Length))
        [| p |]

[<Fact>]
let ``Every regulariser gradient matches central differences for both ranks and decoders`` () =
    for cfg in variants do
        let p = Init.init cfg (Random.key 17) |> jitter 100

        for name, f in regularisers do
            let numerical = GradientCheck.paramGradients (fun q -> [| (f q).Value |]) p
            let err = GradientCheck.paramRelativeError (f p).Grad numerical[0]

            let what =
                $"{name} nonlin={cfg.NonlinDecoder} lowrank={cfg.LowRankTemp} dyn_bias={cfg.DynBias}"

            report $"regulariser gradient {what}" err GradientCheck.tolerance
            Assert.True(err <= GradientCheck.tolerance, $"{what}: relative error {err:E3}")

[<Fact>]
let ``The weighted core and optional regularisers are the weighted sums of their parts`` () =
    let cfg =
        { smallConfig with
            CosEta = 0.7
            OrthAlphaR2 = 1.3
            L1Alpha = 0.1
            L1AlphaW = 0.2
            L1AlphaSpat = 0.3
            OrthAlphaSpat = 0.4
            LnucAlpha = 0.5
        }

    let p = Init.init cfg (Random.key 3)
    let regs = Regularisers.core cfg p
    let core, cosV, orthV = regs.Term, regs.CosReg, regs.OrthR2
    assertCloseScalar "core" 1e-14 core.Value (0.7 * cosV + 1.3 * orthV)
    let opt = Regularisers.optional cfg p

    let expected =
        0.1 * (Regularisers.l1Temporal p).Value
        + 0.2 * (Regularisers.l1HypernetOutput p).Value
        + 0.3 * (Regularisers.l1Spatial p).Value
        + 0.4 * (Regularisers.orthSpatial p).Value
        + 0.5 * (Regularisers.nuclear p).Value

    assertCloseScalar "optional" 1e-14 opt.Value expected

    let numerical =
        GradientCheck.paramGradients (fun q -> [| (Regularisers.optional cfg q).Value |]) p

    Assert.True(
        GradientCheck.paramRelativeError opt.Grad numerical[0]
        <= GradientCheck.tolerance
    )

    let off = Regularisers.optional smallConfig p
    Assert.Equal(0.0, off.Value)
    Assert.Equal(0.0, ParamTree.norm off.Grad)

[<Fact>]
let ``cos_reg of upstream's orthogonal initialisation is zero`` () =
    let p = Init.init smallConfig (Random.key 9)
    Assert.True((Regularisers.cosReg p).Value < 1e-12)

[<Fact>]
let ``The cosine sum is between 0 and the number of pairs and ignores positive row scales`` () =
    let gen =
        gen {
            let! n = Gen.choose (2, 6)
            let! len = Gen.choose (1, 5)

            let! rows =
                Gen.arrayOfLength
                    n
                    (Gen.arrayOfLength len (Gen.choose (-1000, 1000) |> Gen.map (fun v -> float v / 100.0)))

            let! scales =
                Gen.arrayOfLength n (Gen.choose (1, 1000) |> Gen.map (fun v -> float v / 100.0))

            return rows, scales
        }

    FsCheck.Check.One(
        propertyRuns 100,
        Prop.forAll (Arb.fromGen gen) (fun (rows, scales) ->
            let v, _ = Regularisers.cosineSum rows
            let n = float rows.Length
            let scaled = Array.map2 (fun (r: float[]) c -> Array.map ((*) c) r) rows scales
            let allLarge = rows |> Array.forall (fun r -> Numerics.norm r > 1e-2)

            v >= 0.0
            && v <= n * (n - 1.0) / 2.0 + 1e-12
            && (not allLarge
                || abs (fst (Regularisers.cosineSum scaled) - v) <= 1e-9 * max 1.0 v))
    )

[<Fact>]
let ``The nuclear norm of a low-rank V_k equals the sum of its singular values`` () =
    let cfg = { smallConfig with LowRankTemp = true }
    let p = Init.init cfg (Random.key 4)

    let bySvd =
        Model.dynamicsMatrices p
        |> Array.sumBy (fun v -> MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfArray(v).Svd(false).S.Sum())

    assertCloseScalar "nuclear" 1e-12 (Regularisers.nuclear p).Value bySvd

// SAFE (upstream JAX's hypernetwork_sparsity_regularization), against hand computations: the
// sigmoids below are σ(−2) = 1/(1 + e²), σ(0) = 1/2, σ(2), σ(4), written out as numbers.
let private sigmoidMinus2 = 0.11920292202211755
let private sigmoid2 = 0.8807970779778823
let private sigmoid4 = 0.9820137900379085

[<Fact>]
let ``SAFE of one mixture-weight vector equals a hand computation, whatever the order of the weights`` () =
    // w = [3, 1, 0, 0], ρ = 0.25, M = 4: ρM = 1, rank weights σ(2(i − 1)) = σ(−2), σ(0), σ(2), σ(4);
    // q = [3, 1, 1e-8, 1e-8], S = 4 + 2e-8, sorted p = [3, 1, 1e-8, 1e-8] / S.
    let s = 4.0 + 2e-8
    let value = (3.0 * sigmoidMinus2 + 0.5 + 1e-8 * (sigmoid2 + sigmoid4)) / s
    // ∂/∂w_k = (c_rank(k) − value) / S where w_k > 1e-8, else 0.
    let g3, g1 = (sigmoidMinus2 - value) / s, (0.5 - value) / s

    for w, expected in
        [
            [| 3.0; 1.0; 0.0; 0.0 |], [| g3; g1; 0.0; 0.0 |]
            [| 0.0; 1.0; 0.0; 3.0 |], [| 0.0; g1; 0.0; g3 |]
            [| 0.0; -2.0; 1.0; 3.0 |], [| 0.0; 0.0; g1; g3 |]
        ] do
        let v, g = Regularisers.safeRow 0.25 w
        Assert.Equal(value, v, 15)
        Assert.Equal(0.0, relError g expected, 12)

[<Fact>]
let ``SAFE of one component is the constant σ(−2ρ) with a gradient of exactly 0`` () =
    // M = 1: p = q/Σq = [1] for every w, floored or not. (q = 0.3 and 1.1 are weights where
    // computing c·q/q leaves an ulp: c − c·q/q ≠ 0 in float64.)
    for ratio in [ 0.25; 0.6 ] do
        let c = 1.0 / (1.0 + exp (2.0 * ratio))

        for w in [ 0.3; 1.1; 0.5161269736; 2.9; 1e-9; -0.4 ] do
            let v, g = Regularisers.safeRow ratio [| w |]
            Assert.Equal(c, v, 15)
            Assert.Equal<float[]>([| 0.0 |], g)

[<Fact>]
let ``SAFE routes the gradient of tied weights by index, lower index first`` () =
    // w = [1, 1], ρ = 0.5, M = 2: ρM = 1, rank weights σ(−2), σ(0); S = 2; value (σ(−2) + 1/2)/2.
    let v, g = Regularisers.safeRow 0.5 [| 1.0; 1.0 |]
    let value = (sigmoidMinus2 + 0.5) / 2.0
    Assert.Equal(value, v, 15)
    Assert.Equal((sigmoidMinus2 - value) / 2.0, g[0], 15)
    Assert.Equal((0.5 - value) / 2.0, g[1], 15)

[<Fact>]
let ``SAFE of a vector of equal weights over all M is the mean rank weight, and one active weight scores the top rank``
    ()
    =
    // Uniform p = 1/M: the value is the mean of σ(2(i − ρM)); a single active weight: p = [1, ~0…].
    let m, ratio = 6, 0.5
    let uniform, gU = Regularisers.safeRow ratio (Array.create m 0.7)
    let weights = Array.init m (fun i -> 1.0 / (1.0 + exp (-2.0 * (float i - 3.0))))
    Assert.Equal(Array.average weights, uniform, 14)
    // Moving weight between equal entries changes the value only through the rank weights.
    Assert.Equal(0.0, Array.sum gU, 14)
    let single, _ = Regularisers.safeRow ratio [| 0.0; 0.0; 5.0; 0.0; 0.0; 0.0 |]
    let s = 5.0 + 5e-8
    let expected = (5.0 * weights[0] + 1e-8 * Array.sum weights[1..]) / s
    Assert.Equal(expected, single, 14)
    Assert.True(single < uniform, "collapse onto one component should score below a uniform mixture at ρ = 0.5")

[<Fact>]
let ``SAFE's gradient matches central differences away from ties and the floor`` () =
    let w = [| 0.9; 0.05; 2.3; 0.013; 1.4; 0.31; 0.7 |]
    let _, g = Regularisers.safeRow 0.3 w

    let numerical =
        GradientCheck.centralDifference (fun v -> fst (Regularisers.safeRow 0.3 v)) w

    Assert.True(relError g numerical < GradientCheck.tolerance, $"%A{g} vs %A{numerical}")
