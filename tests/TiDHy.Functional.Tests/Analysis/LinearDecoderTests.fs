/// `LinearDecoder` against scikit-learn (linear-expected.json, from tests/scripts/make_linear_expected.py)
/// and properties that need no fixture: the gradient against central differences, separable data,
/// invariance to the order of the rows, a single class, bad input.
module TiDHy.Functional.Tests.Analysis.LinearDecoderTests

open System
open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

let private linearExpected =
    lazy
        (JsonDocument.Parse(
            File.ReadAllText(Path.Combine(repoRoot, "tests", "TiDHy.Functional.Tests", "linear-expected.json"))
        ))

let private linearCase (name: string) =
    linearExpected.Value.RootElement.GetProperty("linear").EnumerateArray()
    |> Seq.find (fun c -> c.GetProperty("name").GetString() = name)

let linearCases () =
    linearExpected.Value.RootElement.GetProperty("linear").EnumerateArray()
    |> Seq.map (fun c -> [| box (c.GetProperty("name").GetString()) |])
    |> Seq.toList
    |> List.toSeq

/// scikit-learn's coef_ and intercept_ as `[K; d]` and `[K]` (its binary row expanded to the
/// symmetric pair), the intercepts centred as `LinearModel.Intercepts` are.
let private symmetric (coef: float[,]) (intercept: float[]) =
    let coef, intercept =
        if Array2D.length1 coef = 1 then
            Array2D.init 2 (Array2D.length2 coef) (fun k j -> if k = 0 then -coef[0, j] else coef[0, j]),
            [| -intercept[0]; intercept[0] |]
        else
            coef, intercept

    let mean = Array.average intercept
    coef, intercept |> Array.map (fun b -> b - mean)

let private maxAbs (xs: float seq) = xs |> Seq.map abs |> Seq.max

let private cells (a: float[,]) = Seq.cast<float> a

let private maxDiff (a: float[,]) (b: float[,]) =
    Seq.map2 (fun x y -> abs (x - y)) (cells a) (cells b) |> Seq.max

[<Theory>]
[<MemberData(nameof linearCases)>]
let ``fit equals scikit-learn's StandardScaler + LogisticRegression(multinomial, lbfgs)`` (name: string) =
    let c = linearCase name
    let trainX = matrix (c.GetProperty "train_x")
    let testX = matrix (c.GetProperty "test_x")

    let model =
        LinearDecoder.fit (c.GetProperty("c").GetDouble()) trainX (ints (c.GetProperty "train_y"))

    Assert.Equal<int[]>(ints (c.GetProperty "classes"), model.Classes)
    // The scaler: the same formulas, so equal to rounding (1e-12 relative).
    for ours, theirs in
        [
            model.Scaler.Mean, floats (c.GetProperty "mean")
            model.Scaler.Scale, floats (c.GetProperty "scale")
        ] do
        Array.iter2 (fun (a: float) b -> Assert.True(abs (a - b) <= 1e-12 * max 1.0 (abs b), $"{a} vs {b}")) ours theirs

    let optCoef, optIntercept =
        symmetric (matrix (c.GetProperty "optimum_coef")) (floats (c.GetProperty "optimum_intercept"))

    let skCoef, skIntercept =
        symmetric (matrix (c.GetProperty "coef")) (floats (c.GetProperty "intercept"))

    let scale = maxAbs (Seq.append (cells optCoef) optIntercept)
    let ourProba = LinearDecoder.predictProbabilities model testX
    let optProba = matrix (c.GetProperty "optimum_proba")
    let skProba = matrix (c.GetProperty "proba")

    // Against the optimum (newton-cg, max |gradient / C| <= 1e-8): both minimise the same strictly
    // convex objective to a relative gradient of 1e-10 or better, so they agree to 1e-6 of the
    // largest parameter (observed: about 1e-9) and probabilities to 1e-6.
    let coefError =
        max
            (maxDiff model.Coefficients optCoef)
            (Array.map2 (fun a b -> abs (a - b)) model.Intercepts optIntercept |> Array.max)

    Assert.True(coefError <= 1e-6 * scale, $"coefficients {coefError / scale:E2} (relative) from the optimum")
    Assert.True(maxDiff ourProba optProba <= 1e-6, $"probabilities {maxDiff ourProba optProba:E2} from the optimum's")

    // Against lbfgs, which stops on SciPy's ftol short of the optimum (up to 2.5e-4 relative on these
    // cases): within twice its own distance from the optimum, plus the 1e-6 above.
    let skDistance =
        max (maxDiff skCoef optCoef) (Array.map2 (fun a b -> abs (a - b)) skIntercept optIntercept |> Array.max)

    let skCoefError =
        max
            (maxDiff model.Coefficients skCoef)
            (Array.map2 (fun a b -> abs (a - b)) model.Intercepts skIntercept |> Array.max)

    Assert.True(
        skCoefError <= 2.0 * skDistance + 1e-6 * scale,
        $"coefficients {skCoefError:E2} from lbfgs's, which is {skDistance:E2} from the optimum"
    )

    Assert.True(maxDiff ourProba skProba <= 2.0 * maxDiff skProba optProba + 1e-6)

    // Predictions: identical, except on rows whose two most probable classes are within 1e-6.
    let predicted = LinearDecoder.predict model testX

    let nearTie i =
        let p =
            Array.init (Array2D.length2 optProba) (fun k -> optProba[i, k])
            |> Array.sortDescending

        p[0] - p[1] < 1e-6

    for expected in
        [
            ints (c.GetProperty "predictions")
            ints (c.GetProperty "optimum_predictions")
        ] do
        for i in 0 .. predicted.Length - 1 do
            if not (nearTie i) then
                Assert.Equal(expected[i], predicted[i])

    let accuracy =
        LinearDecoder.accuracy model.C trainX (ints (c.GetProperty "train_y")) testX (ints (c.GetProperty "test_y"))

    if not (Seq.exists nearTie [ 0 .. predicted.Length - 1 ]) then
        Assert.Equal(c.GetProperty("accuracy").GetDouble(), accuracy)

[<Fact>]
let ``the fixture's delay-embedded case is Decoding.delayEmbed of its random walk`` () =
    let c = linearCase "delay-embedded random walk, 3 channels x 6, 4 classes"

    let embedded =
        Decoding.delayEmbed (c.GetProperty("lags").GetInt32()) (matrix (c.GetProperty "walk"))

    let trainX = matrix (c.GetProperty "train_x")
    let testX = matrix (c.GetProperty "test_x")
    let n = Array2D.length1 trainX

    Assert.Equal(n + Array2D.length1 testX, Array2D.length1 embedded)
    Assert.Equal(Array2D.length2 trainX, Array2D.length2 embedded)

    for i in 0 .. Array2D.length1 embedded - 1 do
        for j in 0 .. Array2D.length2 embedded - 1 do
            Assert.Equal((if i < n then trainX[i, j] else testX[i - n, j]), embedded[i, j])

// ---------------------------------------------------------------- properties

/// Gaussian blobs: `n` rows, `d` columns, labels `0 … k − 1` in turn, class centres `separation`
/// standard normal draws apart.
let private blobs (seed: int) (n: int) (d: int) (k: int) (separation: float) =
    let key = Random.key seed
    let kc, kn = Random.split key
    let centres = Random.normal kc (k * d)
    let noise = Random.normal kn (n * d)
    let y = Array.init n (fun i -> i % k)
    Array2D.init n d (fun i j -> separation * centres[y[i] * d + j] + noise[i * d + j]), y

[<Fact>]
let ``objective: the gradient equals central differences; at zero the value is C·n·log K`` () =
    let x, y = blobs 3 40 5 4 1.0
    let key = Random.key 4
    let w0 = Random.normal key 20
    let coefficients = Array2D.init 4 5 (fun k j -> 0.5 * w0[k * 5 + j])
    let intercepts = [| 0.3; -0.2; 0.1; 0.7 |]
    let c = 0.7
    let _, gw, gb = LinearDecoder.objective c x y coefficients intercepts
    let h = 1e-5

    let value (w: float[,]) (b: float[]) =
        let f, _, _ = LinearDecoder.objective c x y w b
        f

    // Central differences: error O(h²·f''') ≈ 1e-10 and rounding ≈ 1e-16·f/h ≈ 1e-10; 1e-6 relative.
    for k in 0..3 do
        for j in 0..4 do
            let plus = Array2D.copy coefficients
            let minus = Array2D.copy coefficients
            plus[k, j] <- plus[k, j] + h
            minus[k, j] <- minus[k, j] - h
            let numeric = (value plus intercepts - value minus intercepts) / (2.0 * h)

            Assert.True(
                abs (numeric - gw[k, j]) <= 1e-6 * max 1.0 (abs numeric),
                $"W[{k},{j}]: {gw[k, j]} vs {numeric}"
            )

        let plus = Array.copy intercepts
        let minus = Array.copy intercepts
        plus[k] <- plus[k] + h
        minus[k] <- minus[k] - h
        let numeric = (value coefficients plus - value coefficients minus) / (2.0 * h)
        Assert.True(abs (numeric - gb[k]) <= 1e-6 * max 1.0 (abs numeric), $"b[{k}]: {gb[k]} vs {numeric}")

    // At zero every probability is 1/K.
    let f0 = value (Array2D.zeroCreate 4 5) (Array.zeroCreate 4)
    Assert.Equal(c * 40.0 * log 4.0, f0, 12)

[<Fact>]
let ``objective stays finite for huge scores (log-sum-exp)`` () =
    let x = array2D [ [ 1000.0 ]; [ -1000.0 ] ]

    let f, gw, gb =
        LinearDecoder.objective 1.0 x [| 0; 1 |] (array2D [ [ 1.0 ]; [ -1.0 ] ]) [| 0.0; 0.0 |]
    // Both rows are classified right with margin 2000: the loss is exp(−2000) ≈ 0, the value the penalty.
    Assert.Equal(1.0, f)
    Assert.Equal(1.0, gw[0, 0])
    Assert.Equal(0.0, gb[0])

[<Fact>]
let ``separable data: the penalty keeps the weights finite, the fit is at a stationary point`` () =
    let x, y = blobs 5 120 2 2 20.0

    let norms =
        [ 0.1; 1.0; 10.0 ]
        |> List.map (fun c ->
            let m = LinearDecoder.fit c x y
            Assert.Equal<int[]>(y, LinearDecoder.predict m x)
            // The objective's gradient at the returned parameters (recomputed independently).
            let z = LinearDecoder.standardise m.Scaler x
            let f, gw, gb = LinearDecoder.objective c z y m.Coefficients m.Intercepts
            let g = sqrt (Seq.sumBy (fun v -> v * v) (Seq.append (Seq.cast<float> gw) gb))
            Assert.True(g <= 1e-7 * max 1.0 f, $"C = {c}: gradient {g:E2}, objective {f}")
            Assert.Equal(g, m.GradientNorm, 1e-12)
            // The optimum's columns sum to 0 over the classes (the penalty's symmetry).
            for j in 0..1 do
                Assert.True(abs (m.Coefficients[0, j] + m.Coefficients[1, j]) <= 1e-8)

            sqrt (Seq.sumBy (fun v -> v * v) (Seq.cast<float> m.Coefficients)))

    // Less regularisation, larger weights: the data alone would send them to infinity.
    Assert.True(norms[0] < norms[1] && norms[1] < norms[2], $"%A{norms}")

[<Fact>]
let ``the order of the rows does not change the fit beyond the optimiser's tolerance`` () =
    let x, y = blobs 6 150 4 3 0.8
    let perm = Random.permutation (Random.key 9) 150
    let px = Array2D.init 150 4 (fun i j -> x[perm[i], j])
    let py = perm |> Array.map (fun i -> y[i])
    let a = LinearDecoder.fit 1.0 x y
    let b = LinearDecoder.fit 1.0 px py
    let scale = maxAbs (cells a.Coefficients)
    // Both within a relative gradient of 1e-10 of the same optimum: 1e-7 of the largest weight.
    Assert.True(maxDiff a.Coefficients b.Coefficients <= 1e-7 * scale)
    Array.iter2 (fun (u: float) v -> Assert.True(abs (u - v) <= 1e-7 * scale)) a.Intercepts b.Intercepts
    Assert.True(abs (Array.sum a.Intercepts) <= 1e-12)

[<Fact>]
let ``a single class is predicted with probability 1; any integer labels`` () =
    let x, _ = blobs 7 10 3 2 1.0
    let m = LinearDecoder.fit 1.0 x (Array.create 10 -5)
    Assert.Equal<int[]>([| -5 |], m.Classes)
    Assert.Equal<int[]>(Array.create 4 -5, LinearDecoder.predict m (Array2D.init 4 3 (fun i j -> float (i - j))))
    Assert.Equal(1.0, (LinearDecoder.predictProbabilities m x)[3, 0])
    let labels = Array.init 10 (fun i -> if i % 2 = 0 then 1000 else -3)
    Assert.Equal<int[]>([| -3; 1000 |], (LinearDecoder.fit 1.0 x labels).Classes)

[<Fact>]
let ``bad input raises ArgumentException naming the argument`` () =
    let x, y = blobs 8 12 2 3 1.0

    let withValue v =
        Array2D.init 12 2 (fun i j -> if i = 4 && j = 1 then v else x[i, j])

    throwsNaming "trainX" (fun () -> box (LinearDecoder.fit 1.0 (withValue nan) y))
    throwsNaming "trainX" (fun () -> box (LinearDecoder.fit 1.0 (withValue infinity) y))
    throwsNaming "trainY" (fun () -> box (LinearDecoder.fit 1.0 x y[1..]))
    throwsNaming "trainX" (fun () -> box (LinearDecoder.fit 1.0 (Array2D.zeroCreate 0 2) [||]))
    throwsNaming "c" (fun () -> box (LinearDecoder.fit 0.0 x y))
    throwsNaming "c" (fun () -> box (LinearDecoder.fit nan x y))
    let m = LinearDecoder.fit 1.0 x y
    throwsNaming "x" (fun () -> box (LinearDecoder.predict m (Array2D.zeroCreate 2 3)))
    throwsNaming "x" (fun () -> box (LinearDecoder.predict m (withValue -infinity)))
    throwsNaming "testY" (fun () -> box (LinearDecoder.accuracy 1.0 x y x y[2..]))
    throwsNaming "y" (fun () -> box (LinearDecoder.objective 1.0 x (Array.create 12 5) m.Coefficients m.Intercepts))
