/// `Arhmm`: the forward–backward against a brute-force sum over state paths, EM on data drawn from
/// a known ARHMM (states, dynamics, transitions, timescales recovered; the MAP objective
/// non-decreasing), one state against a least-squares AR fit, degenerate and bad input.
module TiDHy.Functional.Tests.Analysis.ArhmmTests

open System
open MathNet.Numerics.LinearAlgebra
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// `r·R(θ)`: eigenvalues `r·e^{±iθ}`.
let private rotation (r: float) (theta: float) =
    array2D [ [ r * cos theta; -r * sin theta ]; [ r * sin theta; r * cos theta ] ]

/// A known 3-state ARHMM in 2 dimensions: a slow spiral (|λ| = 0.95), a fast spiral (|λ| = 0.8) and
/// a diagonal system (λ = 0.9, 0.5); distinct biases, sticky transitions (0.98 on the diagonal).
let private truth =
    {
        Initial = [| 1.0 / 3.0; 1.0 / 3.0; 1.0 / 3.0 |]
        Transition = Array2D.init 3 3 (fun i j -> if i = j then 0.98 else 0.01)
        Dynamics =
            [|
                rotation 0.95 0.1
                rotation 0.8 0.4
                array2D [ [ 0.9; 0.0 ]; [ 0.0; 0.5 ] ]
            |]
        Bias = [| [| 0.5; 0.0 |]; [| -0.5; 0.5 |]; [| 0.0; -0.5 |] |]
        Covariance =
            [|
                array2D [ [ 0.01; 0.0 ]; [ 0.0; 0.01 ] ]
                array2D [ [ 0.02; 0.005 ]; [ 0.005; 0.01 ] ]
                array2D [ [ 0.015; -0.004 ]; [ -0.004; 0.02 ] ]
            |]
        InitialMean = [| 0.0; 0.0 |]
        InitialCovariance = array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ]
    }

/// The true timescales `−1/log|λ|` (dt = 1), from the eigenvalues the matrices were built with.
let private trueTimescales =
    [| 0.95; 0.8; 0.9; 0.5 |] |> Array.map (fun m -> -1.0 / log m)

let private drawn = lazy (Arhmm.sample (Random.key 7) truth 4000)

let private fitted =
    lazy
        (let x, _ = drawn.Force()

         Arhmm.fit
             (Random.key 11)
             { Arhmm.defaults with
                 States = 3
                 Restarts = 2
             }
             x)

/// The label each fitted state is matched to (Hungarian on all steps).
let private mapping (states: int[]) (labels: int[]) =
    let all = Array.init labels.Length id
    (Arhmm.stateAccuracy { Train = all; Test = all } labels states).Mapping

[<Fact>]
let ``fit recovers the states of a known ARHMM`` () =
    let x, z = drawn.Force()
    let f = fitted.Force()
    let states = Arhmm.mostLikelyStates f.Model x
    Assert.True(Clustering.matchedAccuracy z states > 0.9, $"matched accuracy {Clustering.matchedAccuracy z states}")

    // Matched on training blocks, scored on held-out ones.
    let splits = Decoding.blockSplits (Random.key 3) 5 (Array2D.length1 x) 100 0.25
    let b = Arhmm.baseline 1.0 f.Model x (Some z) splits (Some trueTimescales)
    Assert.Equal(5, b.Accuracies.Length)
    Assert.True(b.AccuracyMean > 0.9, $"block accuracy {b.AccuracyMean}")
    Assert.True(b.ChanceMean < 0.6, $"chance {b.ChanceMean}")
    Assert.Equal(f.LogLikelihood / 4000.0, b.LogLikelihoodPerStep, 9)

    // All four true timescales found within the issue's tolerance 0.2.
    Assert.Equal(4, b.TimescaleComparison.Value.Matched)

[<Fact>]
let ``fit recovers the dynamics and the transition matrix of a known ARHMM`` () =
    let x, z = drawn.Force()
    let f = fitted.Force()
    let m = mapping (Arhmm.mostLikelyStates f.Model x) z
    Assert.Equal<int[]>([| 0; 1; 2 |], Array.sort m)

    for s in 0..2 do
        let k = m[s]
        // About 1300 steps per state, noise sd ≈ 0.1–0.14 and state-conditional spread of x ≥ 0.3:
        // standard errors of the coefficients are about 0.01; 0.05 is five of them.
        let a = f.Model.Dynamics[s]

        for i in 0..1 do
            for j in 0..1 do
                Assert.True(
                    abs (a[i, j] - truth.Dynamics[k][i, j]) < 0.05,
                    $"A[{s}][{i},{j}] = {a[i, j]}, true {truth.Dynamics[k][i, j]}"
                )

        // Standard error of a 0.98 stay probability over ~1300 visits: 0.004; 0.02 is five of them.
        let stay = f.Model.Transition[s, s]
        Assert.True(abs (stay - 0.98) < 0.02, $"P[{s},{s}] = {stay}")

[<Fact>]
let ``the MAP objective never decreases over EM iterations`` () =
    let x, _ = drawn.Force()
    // Too many states (4 for 3) and no early stop: a long, slow EM; the random-block restarts too.
    for r in 0..2 do
        let f =
            Arhmm.fit
                (Random.key (20 + r))
                {
                    States = 4
                    Iterations = 40
                    Restarts = 2
                    Tolerance = 0.0
                }
                x

        let h = f.ObjectiveHistory
        Assert.Equal(f.Iterations + 1, h.Length)

        for i in 1 .. h.Length - 1 do
            // EM with exact M-steps of the MAP objective: non-decreasing up to rounding (1e-8 relative).
            Assert.True(h[i] >= h[i - 1] - 1e-8 * abs h[i - 1], $"objective fell at iteration {i}: {h[i - 1]} → {h[i]}")

        Assert.Equal(f.LogLikelihood, f.LogLikelihoodHistory[h.Length - 1])
        Assert.Equal(f.RestartLogLikelihoods[f.Restart], f.LogLikelihood)
        Assert.Equal(Array.max f.RestartLogLikelihoods, f.LogLikelihood)
        assertCloseScalar "fit's log-likelihood = logLikelihood" 1e-10 (Arhmm.logLikelihood f.Model x) f.LogLikelihood

// ---------------------------------------------------------------- a tiny case, by brute force

let private tiny =
    {
        Initial = [| 0.3; 0.7 |]
        Transition = array2D [ [ 0.9; 0.1 ]; [ 0.25; 0.75 ] ]
        Dynamics =
            [|
                array2D [ [ 0.5; 0.2 ]; [ -0.1; 0.8 ] ]
                array2D [ [ -0.3; 0.0 ]; [ 0.4; 0.6 ] ]
            |]
        Bias = [| [| 0.1; -0.2 |]; [| 0.0; 0.3 |] |]
        Covariance =
            [|
                array2D [ [ 0.5; 0.1 ]; [ 0.1; 0.3 ] ]
                array2D [ [ 0.2; -0.05 ]; [ -0.05; 0.4 ] ]
            |]
        InitialMean = [| 0.2; -0.1 |]
        InitialCovariance = array2D [ [ 1.5; 0.3 ]; [ 0.3; 0.8 ] ]
    }

let private tinyX =
    array2D [ [ 0.3; -0.5 ]; [ 0.4; 0.1 ]; [ -0.2; 0.6 ]; [ 0.5; 0.2 ]; [ 0.1; -0.4 ] ]

/// The Gaussian density, from MathNet's determinant and inverse (not the code under test's Cholesky).
let private density (mean: float[]) (cov: float[,]) (v: float[]) =
    let c = Matrix<float>.Build.DenseOfArray cov
    let e = Vector<float>.Build.DenseOfArray(Array.map2 (-) v mean)
    let q = e * (c.Inverse() * e)
    exp (-0.5 * q) / sqrt ((2.0 * Math.PI) ** float v.Length * c.Determinant())

/// `p(x, z)` for one path `z`.
let private joint (m: ArhmmModel) (x: float[,]) (z: int[]) =
    let mutable p = m.Initial[z[0]] * density m.InitialMean m.InitialCovariance x[0, *]

    for t in 1 .. z.Length - 1 do
        let a = m.Dynamics[z[t]]
        let prev = x[t - 1, *]

        let mean =
            Array.init 2 (fun i -> m.Bias[z[t]][i] + a[i, 0] * prev[0] + a[i, 1] * prev[1])

        p <- p * m.Transition[z[t - 1], z[t]] * density mean m.Covariance[z[t]] x[t, *]

    p

/// All 2^5 paths.
let private paths =
    Array.init 32 (fun code -> Array.init 5 (fun t -> (code >>> (4 - t)) &&& 1))

[<Fact>]
let ``the forward algorithm's log-likelihood is the sum over all state paths`` () =
    let total = paths |> Array.sumBy (joint tiny tinyX)
    // Two evaluations of the same sum of 32 terms: rounding only.
    Assert.Equal(log total, Arhmm.logLikelihood tiny tinyX, 10)

[<Fact>]
let ``posteriors and Viterbi agree with the brute-force path distribution`` () =
    let ps = paths |> Array.map (joint tiny tinyX)
    let total = Array.sum ps
    let post = Arhmm.posteriors tiny tinyX

    for t in 0..4 do
        Assert.Equal(1.0, post[t, 0] + post[t, 1], 12)

        let expected =
            Array.fold2 (fun acc (z: int[]) p -> if z[t] = 1 then acc + p else acc) 0.0 paths ps
            / total

        Assert.Equal(expected, post[t, 1], 10)

    let best = paths[Array.findIndex ((=) (Array.max ps)) ps]
    Assert.Equal<int[]>(best, Arhmm.mostLikelyStates tiny tinyX)

[<Fact>]
let ``posteriors of a fitted model sum to one at every step`` () =
    let x, _ = drawn.Force()
    let post = Arhmm.posteriors (fitted.Force().Model) x

    for t in 0 .. Array2D.length1 post - 1 do
        let s = post[t, 0] + post[t, 1] + post[t, 2]
        Assert.True(abs (s - 1.0) < 1e-12, $"row {t} sums to {s}")

// ---------------------------------------------------------------- one state, timescales, matching

[<Fact>]
let ``one state is the least-squares AR(1) fit`` () =
    let x, _ =
        Arhmm.sample
            (Random.key 5)
            { tiny with
                Initial = [| 1.0; 0.0 |]
                Transition = array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ]
            }
            2000

    let f = Arhmm.fit (Random.key 1) { Arhmm.defaults with States = 1 } x
    let n = 1999
    // Ordinary least squares of x_t on [x_{t−1}, 1] (MathNet's QR).
    let phi =
        Matrix<float>.Build.Dense(n, 3, (fun t j -> if j < 2 then x[t, j] else 1.0))

    let y = Matrix<float>.Build.Dense(n, 2, (fun t j -> x[t + 1, j]))
    let w = phi.QR().Solve(y) // [3; 2]
    let a = f.Model.Dynamics[0]
    // The ridge (1e-6 of the regressors' mean square) moves the coefficients by about 1e-6.
    assertClose "A" 1e-5 [ a[0, 0]; a[0, 1]; a[1, 0]; a[1, 1] ] [ w[0, 0]; w[1, 0]; w[0, 1]; w[1, 1] ]
    assertClose "b" 1e-5 f.Model.Bias[0] [ w[2, 0]; w[2, 1] ]
    let r = y - phi * w
    let cov = r.TransposeThisAndMultiply(r) / float n
    // Σ = (R + λWWᵀ + ψI)/(n + 1): the 1/(n + 1) is 5e-4 of R/n; the rest about 1e-6.
    assertClose "Σ" 1e-3 (Seq.cast<float> f.Model.Covariance[0]) (cov.ToColumnMajorArray() |> Seq.ofArray)
    Assert.Equal<float[]>([| 1.0 |], f.Model.Initial)
    Assert.True(f.Converged)

[<Fact>]
let ``timescales are those of the eigenvalues the dynamics were built with`` () =
    let tau = Arhmm.timescales 1.0 truth
    // Longest first within a state: 1/(−log 0.95), 1/(−log 0.8), then 1/(−log 0.9), 1/(−log 0.5).
    assertClose "timescales" 1e-12 tau trueTimescales
    let doubled = Arhmm.timescales 2.0 truth
    assertClose "dt scales them" 1e-12 doubled (trueTimescales |> Array.map ((*) 2.0))
    // A unit-modulus (λ = 1, exactly), growing (|λ| = 1.1) or zero mode is left out.
    let unstable =
        { truth with
            Dynamics =
                [|
                    array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ]
                    rotation 1.1 0.2
                    array2D [ [ 0.9; 0.0 ]; [ 0.0; 0.0 ] ]
                |]
        }

    assertClose "stable modes only" 1e-12 (Arhmm.timescales 1.0 unstable) [ -1.0 / log 0.9 ]

[<Fact>]
let ``stateAccuracy matches states to labels on the training steps and scores the test steps`` () =
    let truth = [| 0; 0; 0; 1; 1; 1; 2; 2; 2; 2 |]
    let predicted = [| 2; 2; 2; 0; 0; 1; 1; 1; 1; 0 |]

    let split =
        {
            Train = [| 0; 1; 3; 4; 6; 7 |]
            Test = [| 2; 5; 8; 9 |]
        }

    let a = Arhmm.stateAccuracy split truth predicted
    // Training: state 2 → label 0, state 0 → label 1, state 1 → label 2.
    Assert.Equal<int[]>([| 1; 2; 0 |], a.Mapping)
    // Test steps 2, 5, 8, 9: states 2, 1, 1, 0 → labels 0, 2, 2, 1 against 0, 1, 2, 2: two right.
    Assert.Equal(0.5, a.Accuracy)
    Assert.Equal(0.5, a.Chance)
    Assert.Equal(6, a.TrainSize)
    // More states than labels: the extra state is unmatched and wrong.
    let b = Arhmm.stateAccuracy split truth [| 3; 3; 3; 0; 0; 0; 1; 1; 1; 1 |]
    Assert.Equal(-1, b.Mapping[2])
    Assert.Equal(1.0, b.Accuracy)

// ---------------------------------------------------------------- degenerate and bad input

[<Fact>]
let ``a constant dimension or a constant series fits without NaN`` () =
    let x, _ = drawn.Force()
    let oneFlat = Array2D.init 1000 2 (fun t j -> if j = 0 then 5.0 else x[t, 1])
    let allFlat = Array2D.create 500 3 -2.0

    for s, name in [ oneFlat, "one constant column"; allFlat, "constant series" ] do
        let f =
            Arhmm.fit
                (Random.key 2)
                { Arhmm.defaults with
                    States = 2
                    Restarts = 2
                    Iterations = 20
                }
                s

        Assert.True(Double.IsFinite f.LogLikelihood, $"{name}: log-likelihood {f.LogLikelihood}")

        Assert.True(
            f.Model.Covariance
            |> Array.forall (Seq.cast<float> >> Seq.forall Double.IsFinite),
            name
        )

        let post = Arhmm.posteriors f.Model s
        Assert.True(post |> Seq.cast<float> |> Seq.forall Double.IsFinite, name)
        Assert.Equal(Array2D.length1 s, (Arhmm.mostLikelyStates f.Model s).Length)
        // The constant column is predicted exactly: its bias and dynamics reproduce the constant.
        let m = f.Model
        let c = s[0, 0]

        let predicted =
            m.Bias[0][0]
            + (Array.init (Array2D.length2 s) (fun j -> m.Dynamics[0][0, j] * s[0, j])
               |> Array.sum)

        Assert.True(abs (predicted - c) < 1e-6, $"{name}: predicted {predicted}, constant {c}")

let private throws (f: unit -> 'a) (fragment: string) =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    Assert.Contains(fragment, ex.Message)

[<Fact>]
let ``bad input raises a clear ArgumentException`` () =
    let x, _ = drawn.Force()
    let small = x[..199, *]
    throws (fun () -> Arhmm.fit (Random.key 0) { Arhmm.defaults with States = 0 } small) "States: expected >= 1"
    throws (fun () -> Arhmm.fit (Random.key 0) { Arhmm.defaults with Restarts = 0 } small) "Restarts"
    throws (fun () -> Arhmm.fit (Random.key 0) { Arhmm.defaults with Tolerance = nan } small) "Tolerance"
    let withNan = Array2D.copy small
    withNan[17, 1] <- nan
    throws (fun () -> Arhmm.fit (Random.key 0) Arhmm.defaults withNan) "row 17, column 1"
    let withInf = Array2D.copy small
    withInf[3, 0] <- infinity
    throws (fun () -> Arhmm.fit (Random.key 0) Arhmm.defaults withInf) "finite"
    // 3 states of dimension 2 need 3·3 + 2 = 11 steps.
    throws (fun () -> Arhmm.fit (Random.key 0) { Arhmm.defaults with States = 3 } x[..9, *]) "11 time steps"

    Arhmm.fit
        (Random.key 0)
        { Arhmm.defaults with
            States = 3
            Restarts = 1
        }
        x[..10, *]
    |> ignore

    throws (fun () -> Arhmm.fit (Random.key 0) Arhmm.defaults (Array2D.zeroCreate 100 0)) "at least one column"
    throws (fun () -> Arhmm.logLikelihood tiny small[*, 0..0]) "expected 2 columns"
    throws (fun () -> Arhmm.logLikelihood { tiny with Initial = [| 0.5; 0.6 |] } small) "summing to 1"

    throws
        (fun () ->
            Arhmm.logLikelihood
                { tiny with
                    Covariance = [| tiny.Covariance[0]; array2D [ [ 1.0; 2.0 ]; [ 2.0; 1.0 ] ] |]
                }
                small)
        "positive-definite"

    throws (fun () -> Arhmm.stateAccuracy { Train = [| 0 |]; Test = [| 5 |] } [| 0; 1 |] [| 0; 1 |]) "indices in [0, 2)"
