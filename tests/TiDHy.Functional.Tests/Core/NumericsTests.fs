/// Properties of the elementwise ops of `Numerics` and the observation losses of `Loss`: each forward
/// rule against the mathematics it stands for, each derivative rule against central differences.
module TiDHy.Functional.Tests.NumericsTests

open System
open FsCheck
open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// Runs a property; a counterexample fails the test.
let private check (property: Property) = Check.One(propertyRuns 100, property)

/// Runs a cheap scalar property on more cases than the default hundred.
let private checkMany (property: Property) = Check.One(propertyRuns 1000, property)

/// Finite floats uniform on [lo, hi), at a resolution of 2⁻⁵³·(hi − lo).
let private floatIn (lo: float) (hi: float) =
    Gen.choose64 (0L, (1L <<< 53) - 1L)
    |> Gen.map (fun i -> lo + (hi - lo) * (float i / 9007199254740992.0))

/// `(f(x + h) − f(x − h)) / 2h`.
let private centralDifference (f: float -> float) (h: float) (x: float) = (f (x + h) - f (x - h)) / (2.0 * h)

/// `|a − b| ≤ tol·(1 + |b|)`.
let private near (tol: float) (a: float) (b: float) = abs (a - b) <= tol * (1.0 + abs b)

// ---------------------------------------------------------------------------------------------
// Soft threshold

/// A threshold `λ ≥ 0` (sometimes exactly 0) and a value `v`, sometimes exactly 0 or `±λ`.
let private thresholdAndValue =
    gen {
        let! lambda = Gen.frequency [ 1, Gen.constant 0.0; 6, floatIn 0.0 5.0 ]

        let! v =
            Gen.frequency
                [
                    8, floatIn -10.0 10.0
                    1, Gen.constant 0.0
                    1, Gen.elements [ lambda; -lambda ]
                    1, floatIn -1e-3 1e-3 |> Gen.map (fun d -> lambda + d)
                ]

        return lambda, v
    }

[<Fact>]
let ``soft threshold keeps the sign of its input or gives zero`` () =
    Prop.forAll (Arb.fromGen thresholdAndValue) (fun (lambda, v) ->
        let s = Numerics.softThreshold lambda v
        s = 0.0 || Math.Sign s = Math.Sign v)
    |> checkMany

[<Fact>]
let ``soft threshold shrinks the magnitude by exactly lambda above lambda and gives zero otherwise`` () =
    Prop.forAll (Arb.fromGen thresholdAndValue) (fun (lambda, v) ->
        let s = Numerics.softThreshold lambda v

        if abs v > lambda then
            s = (if v > 0.0 then v - lambda else v + lambda)
        else
            s = 0.0)
    |> checkMany

[<Fact>]
let ``soft threshold is non-expansive`` () =
    let cases =
        gen {
            let! lambda, a = thresholdAndValue

            let! b =
                Gen.oneof [ floatIn -10.0 10.0; floatIn -0.5 0.5 |> Gen.map (fun d -> a + d) ]

            return lambda, a, b
        }

    Prop.forAll (Arb.fromGen cases) (fun (lambda, a, b) ->
        let sa = Numerics.softThreshold lambda a
        let sb = Numerics.softThreshold lambda b
        abs (sa - sb) <= abs (a - b) + 1e-14 * (1.0 + abs a + abs b + lambda))
    |> checkMany

/// The objective whose minimiser the soft threshold is: `0.5·(y − v)² + λ·|y|`.
let private proxObjective lambda v y =
    0.5 * (y - v) * (y - v) + lambda * abs y

[<Fact>]
let ``soft threshold minimises the proximal objective of lambda times the absolute value`` () =
    let cases =
        gen {
            let! lambda, v = thresholdAndValue
            let! near = Gen.arrayOfLength 20 (floatIn -1.0 1.0)
            let! far = Gen.arrayOfLength 10 (floatIn -15.0 15.0)
            return lambda, v, near, far
        }

    Prop.forAll (Arb.fromGen cases) (fun (lambda, v, nearOffsets, far) ->
        let s = Numerics.softThreshold lambda v
        let best = proxObjective lambda v s
        // Candidates: points around the result, points anywhere, zero and v itself.
        let ys =
            Array.concat
                [
                    nearOffsets |> Array.map (fun d -> s + d)
                    far
                    [| 0.0; v; v - lambda; v + lambda |]
                ]

        ys
        |> Array.forall (fun y ->
            let other = proxObjective lambda v y
            best <= other + 1e-12 * (1.0 + abs other)))
    |> check

[<Fact>]
let ``soft threshold satisfies the optimality condition of the proximal map`` () =
    // 0 ∈ s − v + λ·∂|s|: v − s = λ·sign(s) when s ≠ 0, and |v| ≤ λ when s = 0.
    Prop.forAll (Arb.fromGen thresholdAndValue) (fun (lambda, v) ->
        let s = Numerics.softThreshold lambda v

        if s <> 0.0 then
            abs (v - s - lambda * float (Math.Sign s)) <= 1e-14 * (1.0 + abs v + lambda)
        else
            abs v <= lambda)
    |> checkMany

// ---------------------------------------------------------------------------------------------
// Losses

/// A probability strictly inside (0, 1), away from the clamp of the logs.
let private probability = floatIn 1e-6 (1.0 - 1e-6)

[<Fact>]
let ``mse is nonnegative and zero exactly when pred equals obs`` () =
    let cases =
        Gen.frequency
            [
                3, Gen.zip (floatIn -100.0 100.0) (floatIn -100.0 100.0)
                1, floatIn -100.0 100.0 |> Gen.map (fun x -> x, x)
            ]

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let l = Loss.mse pred obs
        l >= 0.0 && ((l = 0.0) = (pred = obs)))
    |> checkMany

[<Fact>]
let ``bce with obs in the unit interval is nonnegative and at most the clamp of 100`` () =
    let obs = Gen.frequency [ 1, Gen.elements [ 0.0; 1.0 ]; 2, floatIn 0.0 1.0 ]

    // Predictions include the ends, where a log is −∞ and the clamp at −100 applies.
    let pred =
        Gen.frequency [ 1, Gen.elements [ 0.0; 1.0; 1e-300; 1.0 - 1e-16 ]; 4, floatIn 0.0 1.0 ]

    Prop.forAll (Arb.fromGen (Gen.zip pred obs)) (fun (pred, obs) ->
        let l = Loss.bce pred obs
        l >= 0.0 && l <= 100.0 + 1e-12)
    |> checkMany

[<Fact>]
let ``bce with binary obs is zero only for a perfect prediction`` () =
    let cases =
        Gen.zip (Gen.elements [ 0.0; 1.0 ]) (Gen.oneof [ floatIn 0.0 1.0; Gen.elements [ 0.0; 1.0 ] ])

    Prop.forAll (Arb.fromGen cases) (fun (obs, pred) ->
        let l = Loss.bce pred obs
        l >= 0.0 && ((l = 0.0) = (pred = obs)))
    |> checkMany

[<Fact>]
let ``bce is minimal at pred equal to obs`` () =
    // bce(p, o) − bce(o, o) is the Kullback–Leibler divergence KL(o ‖ p) ≥ 2·(p − o)² (Pinsker).
    let cases =
        gen {
            let! obs = floatIn 1e-4 (1.0 - 1e-4)

            let! pred =
                Gen.oneof
                    [
                        probability
                        floatIn -1e-3 1e-3 |> Gen.map (fun d -> min (1.0 - 1e-6) (max 1e-6 (obs + d)))
                    ]

            return pred, obs
        }

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let l = Loss.bce pred obs
        let lMin = Loss.bce obs obs
        let tol = 1e-12 * (1.0 + lMin)

        l >= lMin - tol
        && (abs (pred - obs) <= 1e-3 || l - lMin >= 2.0 * (pred - obs) * (pred - obs) - tol))
    |> checkMany

[<Fact>]
let ``poisson is minimal at pred equal to obs`` () =
    // ℓ(p, o) − ℓ(o, o) = o·(x − 1 − log x) with x = p/o, which is ≥ 0 and 0 only at x = 1.
    let cases =
        gen {
            let! obs = floatIn 1e-3 100.0

            let! pred =
                Gen.oneof [ floatIn 1e-3 100.0; floatIn 0.9 1.1 |> Gen.map (fun x -> obs * x) ]

            return pred, obs
        }

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let l = Loss.poisson pred obs
        let lMin = Loss.poisson obs obs
        let tol = 1e-12 * (1.0 + abs pred + abs (obs * log pred) + abs (obs * log obs))
        let x = pred / obs
        l >= lMin - tol && (abs (x - 1.0) <= 0.01 || l - lMin > 4e-5 * obs - tol))
    |> checkMany

[<Fact>]
let ``mse derivative matches a central difference`` () =
    let cases = Gen.zip (floatIn -50.0 50.0) (floatIn -50.0 50.0)

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let fd = centralDifference (fun p -> Loss.mse p obs) 1e-4 pred
        near 1e-8 (Loss.mseDerivative pred obs) fd)
    |> checkMany

[<Fact>]
let ``bce derivative matches a central difference`` () =
    let cases =
        Gen.zip (floatIn 0.01 0.99) (Gen.oneof [ floatIn 0.0 1.0; Gen.elements [ 0.0; 1.0 ] ])

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let fd = centralDifference (fun p -> Loss.bce p obs) 1e-6 pred
        near 1e-5 (Loss.bceDerivative pred obs) fd)
    |> checkMany

[<Fact>]
let ``poisson derivative matches a central difference`` () =
    let cases =
        Gen.zip (floatIn 0.01 50.0) (Gen.oneof [ floatIn 0.0 50.0; Gen.constant 0.0 ])

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        let fd = centralDifference (fun p -> Loss.poisson p obs) 1e-6 pred
        near 1e-5 (Loss.poissonDerivative pred obs) fd)
    |> checkMany

[<Fact>]
let ``each loss derivative is zero at pred equal to obs`` () =
    let cases = Gen.zip (floatIn -50.0 50.0) probability

    Prop.forAll (Arb.fromGen cases) (fun (x, p) ->
        Loss.mseDerivative x x = 0.0
        && Loss.bceDerivative p p = 0.0
        && Loss.poissonDerivative (abs x + 1e-3) (abs x + 1e-3) = 0.0)
    |> checkMany

[<Fact>]
let ``element and derivative pick the loss of each kind`` () =
    let cases = Gen.zip probability probability

    Prop.forAll (Arb.fromGen cases) (fun (pred, obs) ->
        [
            LossKind.MSE, Loss.mse, Loss.mseDerivative
            LossKind.BCE, Loss.bce, Loss.bceDerivative
            LossKind.Poisson, Loss.poisson, Loss.poissonDerivative
        ]
        |> List.forall (fun (kind, f, df) ->
            Loss.element kind pred obs = f pred obs
            && Loss.derivative kind pred obs = df pred obs))
    |> check

// ---------------------------------------------------------------------------------------------
// LayerNorm

/// The biased variance of `v`, two-pass.
let private variance (v: float[]) =
    let m = Array.average v
    (v |> Array.sumBy (fun x -> (x - m) * (x - m))) / float v.Length

/// Vectors of 2 to 16 entries at scales from 1e-3 to 1e2 around an offset; now and then constant.
let private layerNormInput =
    gen {
        let! n = Gen.choose (2, 16)
        let! logScale = floatIn -3.0 2.0
        let! offset = floatIn -5.0 5.0
        let! u = Gen.arrayOfLength n (floatIn -1.0 1.0)
        let! constant = Gen.frequency [ 1, Gen.constant true; 9, Gen.constant false ]

        return
            if constant then
                Array.create n offset
            else
                u |> Array.map (fun x -> offset + 10.0 ** logScale * x)
    }

let private unitNorm (v: float[]) =
    Numerics.layerNorm (Array.create v.Length 1.0) (Array.zeroCreate v.Length) v

[<Fact>]
let ``layer norm output has mean zero and variance var over var plus eps`` () =
    Prop.forAll (Arb.fromGen layerNormInput) (fun v ->
        let y = unitNorm v
        let var = variance v

        abs (Array.average y) <= 1e-9
        && abs (variance y - var / (var + Numerics.LayerNormEps)) <= 1e-9)
    |> check

[<Fact>]
let ``layer norm output of a spread-out vector has unit variance up to eps`` () =
    let spread = layerNormInput |> Gen.filter (fun v -> variance v >= 1e-2)

    Prop.forAll (Arb.fromGen spread) (fun v ->
        let varY = variance (unitNorm v)
        // var/(var + eps) ≥ 1 − eps/var ≥ 1 − 1e-3 for var ≥ 1e-2.
        varY <= 1.0 + 1e-12 && varY >= 1.0 - 1e-3)
    |> check

[<Fact>]
let ``layer norm ignores a shift of its input`` () =
    let cases =
        Gen.zip (layerNormInput |> Gen.filter (fun v -> variance v >= 1e-2)) (floatIn -100.0 100.0)

    Prop.forAll (Arb.fromGen cases) (fun (v, c) ->
        let y = unitNorm v
        let yShifted = unitNorm (v |> Array.map (fun x -> x + c))
        Array.forall2 (fun a b -> abs (a - b) <= 1e-9) y yShifted)
    |> check

/// `(gamma, beta, v, g)`: a LayerNorm of 2 to 10 features at a point with some spread, and an output gradient.
let private layerNormVjpCase =
    gen {
        let! n = Gen.choose (2, 10)
        let! gamma = Gen.arrayOfLength n (floatIn -2.0 2.0)
        let! beta = Gen.arrayOfLength n (floatIn -1.0 1.0)

        let! v =
            Gen.arrayOfLength n (floatIn -3.0 3.0)
            |> Gen.filter (fun v -> variance v >= 0.05)

        let! g = Gen.arrayOfLength n (floatIn -1.0 1.0)
        return gamma, beta, v, g
    }

[<Fact>]
let ``layer norm vjp matches central differences`` () =
    Prop.forAll (Arb.fromGen layerNormVjpCase) (fun (gamma, beta, v, g) ->
        let vjp = Numerics.layerNormVjp gamma v g

        let objective (u: float[]) =
            Array.fold2 (fun s gi yi -> s + gi * yi) 0.0 g (Numerics.layerNorm gamma beta u)

        let fd =
            Array.init v.Length (fun i ->
                let at (x: float) =
                    objective (Array.mapi (fun j vj -> if j = i then x else vj) v)

                centralDifference at 1e-5 v[i])

        let scale = 1.0 + (vjp |> Array.map abs |> Array.max)

        vjp.Length = v.Length
        && Array.forall2 (fun a b -> abs (a - b) <= 1e-7 * scale) vjp fd)
    |> check

[<Fact>]
let ``layer norm vjp sums to zero because a shift leaves the output unchanged`` () =
    Prop.forAll (Arb.fromGen layerNormVjpCase) (fun (gamma, _, v, g) ->
        let vjp = Numerics.layerNormVjp gamma v g
        let scale = 1.0 + (vjp |> Array.map abs |> Array.max)
        abs (Array.sum vjp) <= 1e-12 * scale * float v.Length)
    |> check

// ---------------------------------------------------------------------------------------------
// Activations

/// Points in [−8, 8] at least 1e-3 away from the kink at 0.
let private awayFromZero =
    floatIn 1e-3 8.0
    |> Gen.zip (Gen.elements [ -1.0; 1.0 ])
    |> Gen.map (fun (s, x) -> s * x)

[<Fact>]
let ``elu derivative matches a central difference away from zero`` () =
    Prop.forAll (Arb.fromGen awayFromZero) (fun v ->
        near 1e-7 (Numerics.eluDerivative v) (centralDifference Numerics.elu 1e-6 v))
    |> checkMany

[<Fact>]
let ``elu and its derivative are continuous at zero`` () =
    Assert.Equal(0.0, Numerics.elu 0.0)
    Assert.True(abs (Numerics.elu -1e-9 - Numerics.elu 1e-9) < 1e-8)
    Assert.True(abs (Numerics.eluDerivative -1e-9 - Numerics.eluDerivative 1e-9) < 1e-8)

[<Fact>]
let ``sigmoid derivative from its output matches a central difference`` () =
    Prop.forAll (Arb.fromGen (floatIn -20.0 20.0)) (fun v ->
        let fd = centralDifference Numerics.sigmoid 1e-5 v
        abs (Numerics.sigmoidDerivativeOfOutput (Numerics.sigmoid v) - fd) <= 1e-9)
    |> checkMany

[<Fact>]
let ``relu derivative matches a central difference away from zero`` () =
    Prop.forAll (Arb.fromGen awayFromZero) (fun v ->
        abs (Numerics.reluDerivative v - centralDifference Numerics.relu 1e-6 v) <= 1e-8)
    |> checkMany

[<Fact>]
let ``relu derivative at zero is zero as in PyTorch`` () =
    Assert.Equal(0.0, Numerics.reluDerivative 0.0)
    Assert.Equal(0.0, Numerics.relu 0.0)
