/// `EffectiveTimescales` against a NumPy/SciPy restatement of upstream's `utils/analysis.py`
/// (timescales-expected.json, from tests/scripts/make_timescales_expected.py), and
/// `Slds.trueTimescales` against the generator's poles.
///
/// Tolerances: timescales, centres and relative errors to 1e-10 relative, each value against its
/// own (two eigensolvers, MathNet's and LAPACK's, and two least-squares solvers, QR and SVD, agree
/// to rounding on these well-conditioned cases; a 1e-10 relative change in |λ| moves τ by about
/// 1e-10·τ/|log|λ||, at most 1e-6 relative for the clipped |λ| = 0.9999, where the clip makes τ exact).
/// Counts, bins, matches and skipped labels exactly.
module TiDHy.Functional.Tests.Analysis.EffectiveTimescalesTests

open System
open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

let private expectedTs =
    lazy
        (JsonDocument.Parse(
            File.ReadAllText(Path.Combine(repoRoot, "tests", "TiDHy.Functional.Tests", "timescales-expected.json"))
        ))

let private tsCases (name: string) =
    [
        for c in expectedTs.Value.RootElement.GetProperty(name).EnumerateArray() -> c
    ]

let private tsCaseNames (name: string) =
    tsCases name
    |> List.map (fun c -> [| box (c.GetProperty("name").GetString()) |])
    |> List.toSeq

let private tsCase (name: string) (caseName: string) =
    tsCases name
    |> List.find (fun c -> c.GetProperty("name").GetString() = caseName)

/// A number, or NaN for JSON null.
let private numberOrNaN (e: JsonElement) =
    if e.ValueKind = JsonValueKind.Null then
        nan
    else
        e.GetDouble()

/// Fails unless each of `actual` is within `tol` of the same entry of `expected`, relative to that
/// entry (NaN equal to NaN); the lengths must agree.
let private assertEach (what: string) (tol: float) (actual: float[]) (expected: float[]) =
    Assert.True((actual.Length = expected.Length), $"{what}: {actual.Length} values, expected {expected.Length}")

    for i in 0 .. actual.Length - 1 do
        let a, e = actual[i], expected[i]

        if not (Double.IsNaN a && Double.IsNaN e) then
            let err = abs (a - e) / abs e

            if not (err <= tol) then
                Assert.Fail($"{what}[{i}]: {a:R}, expected {e:R} (relative error {err:E3} > {tol:E0})")

let private tol = 1e-10

let spectrumCases () = tsCaseNames "spectrum"

[<Theory>]
[<MemberData(nameof spectrumCases)>]
let ``spectrumTimescales agrees with upstream's definition in NumPy`` (name: string) =
    let c = tsCase "spectrum" name

    let ts =
        EffectiveTimescales.spectrumTimescales (c.GetProperty("dt").GetDouble()) (matrix (c.GetProperty "matrix"))

    assertEach $"spectrum {name}" tol ts (floats (c.GetProperty "timescales"))

let private utOf (c: JsonElement) =
    let s = ints (c.GetProperty "shape")
    let flat = floats (c.GetProperty "ut")

    Array4D.init s[0] s[1] s[2] s[3] (fun a b i j -> flat[((a * s[1] + b) * s[2] + i) * s[3] + j])

let effectiveCases () = tsCaseNames "effective"

[<Theory>]
[<MemberData(nameof effectiveCases)>]
let ``effectiveTimescales pools every non-zero V_t and clusters them as upstream`` (name: string) =
    let c = tsCase "effective" name
    let ut = utOf c
    let dt = c.GetProperty("dt").GetDouble()
    let pooled = EffectiveTimescales.effectiveTimescales dt ut
    assertEach $"effective {name}: pooled" tol pooled (floats (c.GetProperty "pooled"))
    // Upstream keeps the zero V_t of each window's first step: R timescales of −1/log 1e-10 each.
    let windows, r = Array4D.length1 ut, Array4D.length3 ut
    let upstream = floats (c.GetProperty "upstream_pooled")
    Assert.Equal(pooled.Length + windows * r, upstream.Length)

    Assert.Equal(
        windows * r,
        upstream
        |> Array.filter (fun v -> abs (v + 1.0 / log 1e-10) < 1e-12)
        |> Array.length
    )

    let lf = EffectiveTimescales.labelFree dt 0.2 None ut
    Assert.Equal<float[]>(pooled, lf.Timescales)
    Assert.Equal(windows, lf.ZeroSkipped)
    Assert.Equal(windows * (Array4D.length2 ut - 1), lf.Matrices)
    Assert.True(lf.Comparison.IsNone)
    assertEach $"effective {name}: centres" tol lf.Clusters.Centres (floats (c.GetProperty "centres"))
    Assert.Equal<int[]>(ints (c.GetProperty "counts"), lf.Clusters.Counts)

let clusterCases () = tsCaseNames "clusters"

[<Theory>]
[<MemberData(nameof clusterCases)>]
let ``clusterTimescales agrees with upstream's log-space clustering in NumPy`` (name: string) =
    let c = tsCase "clusters" name
    let r = EffectiveTimescales.clusterTimescales (floats (c.GetProperty "timescales"))
    assertEach $"clusters {name}: centres" tol r.Centres (floats (c.GetProperty "centres"))
    Assert.Equal<int[]>(ints (c.GetProperty "counts"), r.Counts)

let compareCases () = tsCaseNames "compare"

[<Theory>]
[<MemberData(nameof compareCases)>]
let ``compareToTruth agrees with upstream's Hungarian comparison in SciPy`` (name: string) =
    let c = tsCase "compare" name

    let r =
        EffectiveTimescales.compareToTruth
            (c.GetProperty("tolerance").GetDouble())
            (floats (c.GetProperty "discovered"))
            (floats (c.GetProperty "truth"))

    let pairs = [ for p in c.GetProperty("pairs").EnumerateArray() -> floats p ]
    Assert.Equal(c.GetProperty("matched").GetInt32(), r.Matched)
    Assert.Equal(pairs.Length, r.Pairs.Length)
    // Pair values are the inputs themselves: exact; the relative error to rounding.
    Assert.Equal<float[]>(pairs |> List.map (fun p -> p[0]) |> List.toArray, r.Pairs |> Array.map _.Discovered)
    Assert.Equal<float[]>(pairs |> List.map (fun p -> p[1]) |> List.toArray, r.Pairs |> Array.map _.True)

    assertEach
        $"compare {name}: relative errors"
        tol
        (r.Pairs |> Array.map _.RelativeError)
        (pairs |> List.map (fun p -> p[2]) |> List.toArray)

    Assert.Equal(c.GetProperty("recovery").GetDouble(), r.Recovery)
    Assert.Equal(c.GetProperty("precision").GetDouble(), r.Precision)
    Assert.Equal(c.GetProperty("recall").GetDouble(), r.Recall)

    assertEach
        $"compare {name}: mean relative error"
        tol
        [| r.MeanRelativeError |]
        [| numberOrNaN (c.GetProperty "mean_relative_error") |]

    Assert.Equal<float[]>(floats (c.GetProperty "false_positives"), r.FalsePositives)
    Assert.Equal<float[]>(floats (c.GetProperty "false_negatives"), r.FalseNegatives)

let perStateCases () = tsCaseNames "per_state"

[<Theory>]
[<MemberData(nameof perStateCases)>]
let ``perStateFit agrees with a NumPy least-squares fit per label`` (name: string) =
    let c = tsCase "per_state" name

    let r =
        EffectiveTimescales.perStateFit
            (c.GetProperty("dt").GetDouble())
            (matrix (c.GetProperty "features"))
            (ints (c.GetProperty "labels"))
            (floats (c.GetProperty "truth"))
            (c.GetProperty("tolerance").GetDouble())

    let fits = [ for f in c.GetProperty("fits").EnumerateArray() -> f ]

    Assert.Equal<int[]>(
        fits |> List.map (fun f -> f.GetProperty("label").GetInt32()) |> List.toArray,
        r.Fits |> Array.map _.Label
    )

    Assert.Equal<int[]>(
        fits
        |> List.map (fun f -> f.GetProperty("transitions").GetInt32())
        |> List.toArray,
        r.Fits |> Array.map _.Transitions
    )

    for f, fit in List.zip fits (List.ofArray r.Fits) do
        assertEach $"per state {name}: label {fit.Label}" tol fit.Timescales (floats (f.GetProperty "timescales"))

    Assert.Equal<int[]>(ints (c.GetProperty "skipped"), r.Skipped)
    assertEach $"per state {name}: pooled" tol r.Pooled (floats (c.GetProperty "pooled"))

    assertEach
        $"per state {name}: nearest"
        tol
        r.Nearest
        [| for v in c.GetProperty("nearest").EnumerateArray() -> numberOrNaN v |]

    Assert.Equal(c.GetProperty("within").GetInt32(), r.Within)

[<Fact>]
let ``perStateFit reports the nearest pooled timescale even when true ones share it`` () =
    // x[t+1] = 0.5·x[t] exactly in both labels: every fit is U = 0.5, τ = 1/log 2.
    let x = Array2D.init 40 1 (fun t _ -> 0.5 ** float (t % 20))
    let labels = Array.init 40 (fun t -> t / 20)
    let tau = -1.0 / log 0.5
    let r = EffectiveTimescales.perStateFit 1.0 x labels [| tau; 2.0 * tau |] 0.2
    Assert.Equal<int[]>([| 0; 1 |], r.Fits |> Array.map _.Label)
    Assert.Equal<int[]>([| 19; 19 |], r.Fits |> Array.map _.Transitions)
    assertEach "pooled" 1e-12 r.Pooled [| tau; tau |]
    assertEach "nearest" 1e-12 r.Nearest [| tau; tau |]
    Assert.Equal(1, r.Within)

[<Fact>]
let ``perStateFit skips a label whose features are rank-deficient`` () =
    // Label 1: the second feature is twice the first, so x0 has rank 1 < 2 features.
    let x =
        Array2D.init 60 2 (fun t j ->
            let v = Math.Sin(float t)

            if t >= 30 && j = 1 then 2.0 * v
            else if j = 1 then Math.Cos(float t * 1.3)
            else v)

    let labels = Array.init 60 (fun t -> t / 30)
    let r = EffectiveTimescales.perStateFit 1.0 x labels [| 3.0 |] 0.2
    Assert.Equal<int[]>([| 0 |], r.Fits |> Array.map _.Label)
    Assert.Equal<int[]>([| 1 |], r.Skipped)

[<Fact>]
let ``compareToTruth matches a rectangular set both ways`` () =
    // Hand-computed: 11 ↔ 10 (0.1), 2.2 ↔ 2 (0.1); 50 has no partner left when truth is shorter.
    let r = EffectiveTimescales.compareToTruth 0.2 [| 11.0; 50.0; 2.2 |] [| 2.0; 10.0 |]
    Assert.Equal(2, r.Matched)
    Assert.Equal<float[]>([| 11.0; 2.2 |], r.Pairs |> Array.map _.Discovered)
    Assert.Equal<float[]>([| 50.0 |], r.FalsePositives)
    Assert.Equal(2.0 / 3.0, r.Precision)
    Assert.Equal(1.0, r.Recall)
    let s = EffectiveTimescales.compareToTruth 0.2 [| 10.5 |] [| 2.0; 10.0; 40.0 |]
    Assert.Equal<float[]>([| 2.0; 40.0 |], s.FalseNegatives)
    Assert.Equal(1.0, s.Precision)
    Assert.Equal(1.0 / 3.0, s.Recovery)

[<Fact>]
let ``componentTimescales pools the stable modes of every V_k, low-rank included`` () =
    for lowRank in [ false; true ] do
        let cfg =
            { Config.defaults 6 with
                LowRankTemp = lowRank
            }

        let p = Init.ofSeed cfg 3
        let vs = Model.dynamicsMatrices p

        let expected =
            vs |> Array.collect (EffectiveTimescales.spectrumTimescales 1.0) |> Array.sort

        Assert.Equal<float[]>(expected, EffectiveTimescales.componentTimescales 1.0 p)
        let lf = EffectiveTimescales.labelFreeComponents 1.0 0.2 (Some [| 5.0 |]) p
        Assert.Equal(vs.Length, lf.Matrices)
        Assert.Equal(expected.Length, lf.Summary.Count)
        Assert.True(lf.Comparison.IsSome)

[<Fact>]
let ``labelFree compares the cluster centres, not the pooled timescales, with the truth`` () =
    let c = tsCase "effective" "3 windows x 5 steps, R 4"
    let ut = utOf c
    let truth = [| 0.5; 2.0; 8.0 |]
    let lf = EffectiveTimescales.labelFree 1.0 0.2 (Some truth) ut
    let direct = EffectiveTimescales.compareToTruth 0.2 lf.Clusters.Centres truth
    let got = lf.Comparison.Value
    Assert.Equal(direct.Matched, got.Matched)
    Assert.Equal<float[]>(direct.Pairs |> Array.map _.Discovered, got.Pairs |> Array.map _.Discovered)
    Assert.Equal<float[]>(direct.FalseNegatives, got.FalseNegatives)
    Assert.Equal(lf.Clusters.Centres.Length, direct.Matched + direct.FalsePositives.Length)
    let s = lf.Summary
    Assert.Equal(lf.Timescales.Length, s.Count)
    Assert.Equal(Array.min lf.Timescales, s.Min)
    Assert.Equal(Array.max lf.Timescales, s.Max)

[<Fact>]
let ``trueTimescales: the demo's six, one per state, equal to the generator's poles`` () =
    let data =
        Slds.generate
            { Slds.defaults with
                TrainLength = 20000
                ValLength = 2000
                TestLength = 2000
            }
            (fst (Random.split (Random.key 1)))

    let ts = Slds.trueTimescales data
    // SCIENCE-NOTES lists them to two decimals.
    let listed = [| 41.96; 5.73; 11.74; 3.79; 77.10; 2.47 |]
    Assert.Equal(6, ts.Length)

    for i in 0..5 do
        Assert.True(abs (ts[i] - listed[i]) < 0.005, $"timescale {i}: {ts[i]}, listed {listed[i]}")
    // The poles exp τ ± 2πi·f of the options: |λ| = √(exp(2τ) + (2πf)²).
    let o = data.Options

    let poles =
        Array.init 6 (fun p ->
            let a = exp o.Timescales[p]
            let w = 2.0 * Math.PI * o.Frequencies[p]
            -1.0 / log (sqrt (a * a + w * w)))

    assertEach "poles" 1e-10 ts poles

[<Fact>]
let ``bad input is refused naming the argument`` () =
    let ut = Array4D.zeroCreate<float> 1 2 2 2
    ut[0, 1, 0, 0] <- nan
    throwsNaming "ut" (fun () -> box (EffectiveTimescales.effectiveTimescales 1.0 ut))
    throwsNaming "ut" (fun () -> box (EffectiveTimescales.effectiveTimescales 1.0 (Array4D.zeroCreate 1 2 2 3)))
    throwsNaming "a" (fun () -> box (EffectiveTimescales.spectrumTimescales 1.0 (Array2D.zeroCreate 2 3)))
    throwsNaming "dt" (fun () -> box (EffectiveTimescales.spectrumTimescales 0.0 (Array2D.zeroCreate 2 2)))
    throwsNaming "timescales" (fun () -> box (EffectiveTimescales.clusterTimescales [| 1.0; infinity |]))
    throwsNaming "timescales" (fun () -> box (EffectiveTimescales.clusterTimescales [| 1.0; -2.0 |]))
    throwsNaming "truth" (fun () -> box (EffectiveTimescales.compareToTruth 0.2 [| 1.0 |] [||]))
    throwsNaming "truth" (fun () -> box (EffectiveTimescales.compareToTruth 0.2 [| 1.0 |] [| 0.0 |]))
    throwsNaming "discovered" (fun () -> box (EffectiveTimescales.compareToTruth 0.2 [| nan |] [| 1.0 |]))
    throwsNaming "tolerance" (fun () -> box (EffectiveTimescales.compareToTruth -0.1 [| 1.0 |] [| 1.0 |]))

    throwsNaming "truth" (fun () ->
        box (EffectiveTimescales.labelFree 1.0 0.2 (Some [| nan |]) (Array4D.zeroCreate 1 2 2 2)))

    let x = Array2D.init 10 2 (fun t j -> float (t + j))
    throwsNaming "labels" (fun () -> box (EffectiveTimescales.perStateFit 1.0 x (Array.zeroCreate 9) [| 1.0 |] 0.2))

    throwsNaming "features" (fun () ->
        box (EffectiveTimescales.perStateFit 1.0 (Array2D.zeroCreate 1 2) [| 0 |] [| 1.0 |] 0.2))

    throwsNaming "features" (fun () ->
        box (EffectiveTimescales.perStateFit 1.0 (Array2D.zeroCreate 10 0) (Array.zeroCreate 10) [| 1.0 |] 0.2))

    x[3, 1] <- nan
    throwsNaming "features" (fun () -> box (EffectiveTimescales.perStateFit 1.0 x (Array.zeroCreate 10) [| 1.0 |] 0.2))
