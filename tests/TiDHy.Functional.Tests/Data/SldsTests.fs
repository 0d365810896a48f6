/// Tests of `Slds`: shapes, reproducibility, the 45% rule, stickiness, superposition, projection,
/// normalisation and the dynamics' eigenvalues.
module TiDHy.Functional.Tests.SldsTests

open System
open TiDHy.Functional
open Xunit

let private small =
    { Slds.defaults with
        TrainLength = 3000
        ValLength = 1500
        TestLength = 1500
    }

let private raw =
    { small with
        Projection = None
        Normalise = false
    }

let private column (m: 'a[,]) j =
    Array.init (Array2D.length1 m) (fun t -> m[t, j])

let private maxAbs (m: float[,]) j =
    column m j |> Array.map abs |> Array.max

[<Fact>]
let ``The splits have the lengths and widths of the options`` () =
    let d = Slds.generate small (Random.key 10)

    for s, t in [ d.Train, 3000; d.Val, 1500; d.Test, 1500 ] do
        Assert.Equal<int[]>([| t; 20 |], Shape.ofMatrix s.Observations)
        Assert.Equal(t, Array2D.length1 s.States)
        Assert.Equal(3, Array2D.length2 s.States)
        Assert.Equal<int[]>([| t; 6 |], Shape.ofMatrix s.Latents)
        Assert.Equal<int[]>([| t; 9 |], Shape.ofMatrix s.Emissions)

    Assert.Equal(20, Slds.channels small)
    Assert.Equal(5, Slds.superimposedChannels small)
    Assert.Equal(5, Slds.channels raw)
    Assert.Equal<int[]>([| 5; 20 |], Shape.ofMatrix d.Projection.Value)
    Assert.Equal(3, d.Systems.Length)

[<Fact>]
let ``The same key gives the same data and another key other data`` () =
    let a = Slds.generate small (Random.key 4)
    let b = Slds.generate small (Random.key 4)
    let c = Slds.generate small (Random.key 5)
    Assert.Equal<float[,]>(a.Train.Observations, b.Train.Observations)
    Assert.Equal<int[,]>(a.Test.States, b.Test.States)
    Assert.Equal<float[,]>(a.Val.Latents, b.Val.Latents)
    Assert.NotEqual<float[,]>(a.Train.Observations, c.Train.Observations)

[<Fact>]
let ``Every discrete state of every system covers at least 45 percent of each split`` () =
    for seed in 0..4 do
        let d = Slds.generate small (Random.key seed)

        for s in [ d.Train; d.Val; d.Test ] do
            for i in 0..2 do
                let f = Slds.stateFractions 2 (column s.States i)
                Assert.True(Array.forall (fun x -> x >= 0.45) f, $"seed {seed}, system {i}: fractions %A{f}")

[<Fact>]
let ``The switching rate matches the sticky transition matrix`` () =
    let d = Slds.generate { raw with TrainLength = 40000 } (Random.key 2)

    let expected = 1.0 - 1.0 / 1.025 // diagonal 0.975 renormalised by the row sum 1.025

    for sys in d.Systems do
        Assert.Equal(1.0 / 1.025, sys.Transitions[0, 0], 12)
        Assert.Equal(expected, sys.Transitions[1, 0], 12)

    for i in 0..2 do
        let z = column d.Train.States i

        let switches =
            Array.pairwise z |> Array.filter (fun (a, b) -> a <> b) |> Array.length

        let rate = float switches / float (z.Length - 1)
        Assert.True(abs (rate - expected) < 0.15 * expected, $"system {i}: switching rate {rate}, expected {expected}")

[<Fact>]
let ``Without projection the first channels are sums over systems and the rest stay apart`` () =
    let d = Slds.generate raw (Random.key 1)
    let e = d.Train.Emissions
    let y = d.Train.Observations
    Assert.Equal<int[]>([| 3000; 5 |], Shape.ofMatrix y)

    for t in 0..50..2999 do
        Assert.Equal(e[t, 0] + e[t, 3] + e[t, 6], y[t, 0], 12)
        Assert.Equal(e[t, 1] + e[t, 4] + e[t, 7], y[t, 1], 12)
        Assert.Equal(e[t, 2], y[t, 2])
        Assert.Equal(e[t, 5], y[t, 3])
        Assert.Equal(e[t, 8], y[t, 4])

[<Fact>]
let ``Superposition follows the column order of upstream's mixing matrix`` () =
    // two systems of 3 channels, overlap 1: [s0c0 + s1c0, s0c1, s0c2, s1c1, s1c2]
    let e = array2D [ [ 1.0; 2.0; 3.0; 10.0; 20.0; 30.0 ] ]
    Assert.Equal<float[,]>(array2D [ [ 11.0; 2.0; 3.0; 20.0; 30.0 ] ], Slds.superpose 2 3 1 e)
    Assert.Equal<float[,]>(e, Slds.superpose 2 3 0 e)
    Assert.Equal<float[,]>(array2D [ [ 11.0; 22.0; 33.0 ] ], Slds.superpose 2 3 3 e)

    Assert.Throws<ArgumentException>(fun () -> Slds.superpose 2 3 4 e |> ignore)
    |> ignore

[<Fact>]
let ``The projection is one matrix shared by the splits`` () =
    let o = { small with Normalise = false }
    let d = Slds.generate o (Random.key 3)
    let r = d.Projection.Value

    for s in [ d.Train; d.Test ] do
        let sup = Slds.superpose 3 3 2 s.Emissions

        for t in [ 0; 777; 1499 ] do
            for c in [ 0; 7; 19 ] do
                let expected = Seq.sum (seq { for k in 0..4 -> sup[t, k] * r[k, c] })
                Assert.Equal(expected, s.Observations[t, c], 9)

[<Fact>]
let ``Normalisation scales every channel and latent to a maximum absolute value of one per split`` () =
    let d = Slds.generate small (Random.key 6)

    for s in [ d.Train; d.Val; d.Test ] do
        for c in 0..19 do
            Assert.Equal(1.0, maxAbs s.Observations c, 12)

        for j in 0..5 do
            Assert.Equal(1.0, maxAbs s.Latents j, 12)

    let r = Slds.generate raw (Random.key 6)
    Assert.True(maxAbs r.Train.Observations 0 > 1.0)

[<Fact>]
let ``Each dynamics matrix has the eigenvalues exp tau plus or minus 2 pi i f`` () =
    let d = Slds.generate small (Random.key 9)

    for i in 0..2 do
        for k in 0..1 do
            let a = d.Systems[i].Dynamics[k]
            let p = 2 * i + k
            let re = exp Slds.defaults.Timescales[p]
            let im = 2.0 * Math.PI * Slds.defaults.Frequencies[p]
            Assert.Equal(2.0 * re, a[0, 0] + a[1, 1], 10)
            Assert.Equal(re * re + im * im, a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0], 10)

            for b in d.Systems[i].Biases[k] do
                Assert.InRange(b, -1.0, 1.0)

[<Fact>]
let ``An unreachable state-coverage rule stops after MaxAttempts with a clear error`` () =
    // 101 bins cannot be split 50.5% / 50.5%
    let o =
        { raw with
            TrainLength = 101
            MinStateFraction = 0.5
            MaxAttempts = 20
        }

    let e =
        Assert.Throws<InvalidOperationException>(fun () -> Slds.generate o (Random.key 0) |> ignore)

    Assert.Contains("system 0", e.Message)
    Assert.Contains("train", e.Message)
    Assert.Contains("20 draws", e.Message)
    Assert.Contains("MinStateFraction", e.Message)

[<Fact>]
let ``Invalid options are all listed by name`` () =
    let o =
        { small with
            Systems = 0
            Overlap = 4
            Stickiness = 1.5
            MinStateFraction = 0.6
            Projection = Some 0
        }

    let errs = Slds.validate o
    Assert.Equal(5 + 2, errs.Length) // Timescales and Frequencies no longer match Systems·States

    let e =
        Assert.Throws<ArgumentException>(fun () -> Slds.generate o (Random.key 0) |> ignore)

    for name in
        [
            "Systems"
            "Overlap"
            "Stickiness"
            "MinStateFraction"
            "Projection"
            "Timescales"
        ] do
        Assert.Contains(name, e.Message)

    Assert.Empty(Slds.validate Slds.defaults)

// The paper's scale, checked against upstream's generator (da3d280, TiDHy/datasets/datasets.py,
// `partial_superposition_SLDS`, and conf/dataset/SLDS.yaml): the values below are copied from there,
// not from `Slds.defaults`.
let private upstreamTau = [| -0.025; -0.25; -0.1; -0.5; -0.015; -0.75 |]
let private upstreamFreq = [| 0.0075; 0.05; 0.025; 0.075; 0.01; 0.075 |]

/// The paper-scale data of seed 10 (the paper's first data seed), generated once for these tests.
let private paperData = lazy (Slds.generate (Slds.ofScale "paper") (Random.key 10))

[<Fact>]
let ``The paper scale has upstream's sizes and parameters, the demo scale a tenth of its training steps`` () =
    let p = Slds.ofScale "paper"
    Assert.Equal((3, 2, 3, 2), (p.Systems, p.States, p.ObsDim, p.Overlap))
    Assert.Equal((200000, 50000, 50000), (p.TrainLength, p.ValLength, p.TestLength))
    Assert.Equal((Some 20, true, 0.975, 0.45), (p.Projection, p.Normalise, p.Stickiness, p.MinStateFraction))
    Assert.Equal<float[]>(upstreamTau, p.Timescales)
    Assert.Equal<float[]>(upstreamFreq, p.Frequencies)
    let d = Slds.ofScale "demo"
    Assert.Equal((20000, 2000, 2000), (d.TrainLength, d.ValLength, d.TestLength))

    Assert.Equal(
        { p with
            TrainLength = 20000
            ValLength = 2000
            TestLength = 2000
        },
        d
    )

    let ex = Assert.Throws<ArgumentException>(fun () -> Slds.ofScale "huge" |> ignore)

    Assert.Contains("\"demo\" or \"paper\"", ex.Message)

[<Fact>]
let ``At paper scale the splits have upstream's lengths and 20 channels`` () =
    let d = paperData.Value

    for s, n in [ d.Train, 200000; d.Val, 50000; d.Test, 50000 ] do
        Assert.Equal((n, 20), (Array2D.length1 s.Observations, Array2D.length2 s.Observations))
        Assert.Equal((n, 3), (Array2D.length1 s.States, Array2D.length2 s.States))
        Assert.Equal((n, 6), (Array2D.length1 s.Latents, Array2D.length2 s.Latents))
        Assert.Equal((n, 9), (Array2D.length1 s.Emissions, Array2D.length2 s.Emissions))

[<Fact>]
let ``At paper scale the discrete states stay as long as upstream's transition matrix says`` () =
    // Upstream: P = 0.975·I + 0.025, rows divided by their sums (1.025 for two states), so a state
    // stays with p = 1/1.025 and its dwell time is geometric with mean 1/(1 − p) = 41 steps and
    // standard deviation sqrt(p)/(1 − p) = 40.5.
    let p = 1.0 / 1.025
    let meanDwell = 41.0
    let sdDwell = sqrt p / (1.0 - p)
    let d = paperData.Value
    let mutable stays = 0L
    let mutable pairs = 0L
    let dwells = ResizeArray<int>()

    for s in [ d.Train; d.Val; d.Test ] do
        for i in 0..2 do
            let z = column s.States i

            for t in 1 .. z.Length - 1 do
                pairs <- pairs + 1L

                if z[t] = z[t - 1] then
                    stays <- stays + 1L

            // Whole runs only: the first and the last run of a series are cut by its ends.
            let starts =
                [|
                    for t in 1 .. z.Length - 1 do
                        if z[t] <> z[t - 1] then
                            t
                |]

            for k in 1 .. starts.Length - 1 do
                dwells.Add(starts[k] - starts[k - 1])

    // The share of steps that stay: within 3 standard errors of p (binomial, 9·10⁵ pairs: 4.9e-4),
    // which tells p = 0.97561 from an unrenormalised 0.975.
    let stay = float stays / float pairs
    let seStay = sqrt (p * (1.0 - p) / float pairs)
    Assert.True(abs (stay - p) < 3.0 * seStay, $"stay share {stay}, expected {p} ± {3.0 * seStay}")
    // The mean dwell time: within 3 standard errors of 41 (about 22 000 runs: ±0.82 steps).
    let mean = Seq.averageBy float dwells
    let se = sdDwell / sqrt (float dwells.Count)

    Assert.True(
        abs (mean - meanDwell) < 3.0 * se,
        $"mean dwell {mean} over {dwells.Count} runs, expected 41 ± {3.0 * se}"
    )

[<Fact>]
let ``At paper scale each state's dynamics have upstream's eigenvalues exp tau plus or minus 2 pi i f`` () =
    let d = paperData.Value

    for i in 0..2 do
        for k in 0..1 do
            let pIndex = 2 * i + k
            let re = exp upstreamTau[pIndex]
            let im = 2.0 * Math.PI * upstreamFreq[pIndex]

            let eig =
                MathNet.Numerics.LinearAlgebra.Matrix<float>.Build
                    .DenseOfArray(d.Systems[i].Dynamics[k])
                    .Evd()
                    .EigenValues.ToArray()
                |> Array.sortBy _.Imaginary

            Assert.Equal(re, eig[0].Real, 10)
            Assert.Equal(-im, eig[0].Imaginary, 10)
            Assert.Equal(re, eig[1].Real, 10)
            Assert.Equal(im, eig[1].Imaginary, 10)

[<Fact>]
let ``At paper scale each observation channel's noise has its variance eta`` () =
    // y = C·x + d + v with v ~ N(0, η) per channel (ssm's Gaussian emissions, η = exp(−1 + N(0, 1))):
    // the residual of y on (x, 1) by least squares has variance η (the latents' per-split scaling
    // does not change the residual). 200 000 steps: the sample variance's standard error is
    // η·sqrt(2/n) = 0.32% of η; the tolerance is 4 of them.
    let d = paperData.Value
    let s = d.Train
    let n = Array2D.length1 s.Latents

    for i in 0..2 do
        let design =
            MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.Dense(
                n,
                3,
                fun t j -> if j < 2 then s.Latents[t, 2 * i + j] else 1.0
            )

        for c in 0..2 do
            let y =
                MathNet.Numerics.LinearAlgebra.Vector<float>.Build.Dense(n, fun t -> s.Emissions[t, 3 * i + c])

            let beta = design.QR().Solve(y)
            let residual = y - design * beta
            let variance = residual.DotProduct(residual) / float (n - 3)
            let eta = d.Systems[i].EmissionNoiseVariances[c]
            let tol = 4.0 * eta * sqrt (2.0 / float n)

            Assert.True(
                abs (variance - eta) < tol,
                $"system {i}, channel {c}: residual variance {variance}, η {eta} ± {tol}"
            )

[<Fact>]
let ``The HDF5 file holds the splits, the true states and latents, and the systems, readable by train's reader`` () =
    let d = Slds.generate small (Random.key 4)
    let dir = TiDHy.Functional.Tests.TestUtil.tempDir ()
    let path = IO.Path.Combine(dir, "slds.h5")
    Slds.writeHdf5 path d
    Assert.Equal(d.Train.Observations, Data.load (path + ":/train/observations"))
    Assert.Equal(d.Val.Observations, Data.load (path + ":/val/observations"))
    Assert.Equal(Array2D.map float d.Val.States, Data.loadLabels (path + ":/val/states"))
    Assert.Equal(d.Test.Latents, Data.load (path + ":/test/latents"))
    Assert.Equal(d.Train.Emissions, Data.load (path + ":/train/emissions"))
    Assert.Equal(d.Projection.Value, Data.load (path + ":/projection"))
    let a = Hdf5.read path "/systems/1/dynamics"
    Assert.Equal<int[]>([| 2; 2; 2 |], a.Shape)
    Assert.Equal(d.Systems[1].Dynamics[1][0, 1], a.Data[4 + 1])
    let eta = Hdf5.read path "/systems/2/emission_noise_variances"
    Assert.Equal<float[]>(d.Systems[2].EmissionNoiseVariances, eta.Data)
    Assert.Equal<float[]>(Slds.trueTimescales d, (Hdf5.read path "/true_timescales").Data)
    IO.Directory.Delete(dir, true)
