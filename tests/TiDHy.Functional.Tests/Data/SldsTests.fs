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
