/// `Analysis` against scikit-learn and SciPy: the expected values in analysis-expected.json were
/// computed from the same fixed inputs by tests/scripts/make_analysis_expected.py.
module TiDHy.Functional.Tests.AnalysisTests

open System
open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private expected =
    lazy
        (JsonDocument.Parse(
            File.ReadAllText(Path.Combine(repoRoot, "tests", "TiDHy.Functional.Tests", "analysis-expected.json"))
        ))

let private cases (name: string) =
    [ for c in expected.Value.RootElement.GetProperty(name).EnumerateArray() -> c ]

let private floats (e: JsonElement) =
    [| for v in e.EnumerateArray() -> v.GetDouble() |]

let private ints (e: JsonElement) =
    [| for v in e.EnumerateArray() -> v.GetInt32() |]

let private matrix (e: JsonElement) =
    let rows = [| for r in e.EnumerateArray() -> floats r |]
    Array2D.init rows.Length rows[0].Length (fun i j -> rows[i][j])

let private caseNames (name: string) =
    cases name
    |> List.map (fun c -> [| box (c.GetProperty("name").GetString()) |])
    |> List.toSeq

let private case (name: string) (caseName: string) =
    cases name |> List.find (fun c -> c.GetProperty("name").GetString() = caseName)

let knnCases () = caseNames "knn"
let assignmentCases () = caseNames "assignment"
let clusteringCases () = caseNames "clustering"
let modeCases () = caseNames "modes"

[<Theory>]
[<MemberData(nameof knnCases)>]
let ``knnPredict and knnAccuracy agree exactly with scikit-learn's KNeighborsClassifier`` (name: string) =
    let c = case "knn" name
    let k = c.GetProperty("k").GetInt32()
    let trainX = matrix (c.GetProperty "train_x")
    let trainY = ints (c.GetProperty "train_y")
    let testX = matrix (c.GetProperty "test_x")
    let testY = ints (c.GetProperty "test_y")
    Assert.Equal<int[]>(ints (c.GetProperty "predictions"), Decoding.knnPredict k trainX trainY testX)
    let accuracy = c.GetProperty("accuracy").GetDouble()
    Assert.Equal(accuracy, Decoding.knnAccuracyWith k trainX trainY testX testY)

    if k = 3 then
        Assert.Equal(accuracy, Decoding.knnAccuracy trainX trainY testX testY)

[<Fact>]
let ``the kNN cases include equidistant neighbours at the k-th place and tied votes`` () =
    // The tie cases are only worth something if ties occur: count them independently here.
    let c = case "knn" "integer grid 2-D (ties), 4 classes"
    let trainX = matrix (c.GetProperty "train_x")
    let testX = matrix (c.GetProperty "test_x")

    let tiedAtK =
        [ 0 .. Array2D.length1 testX - 1 ]
        |> List.filter (fun q ->
            let d =
                [|
                    for j in 0 .. Array2D.length1 trainX - 1 ->
                        Array.sum (Array.init 2 (fun f -> (testX[q, f] - trainX[j, f]) ** 2.0))
                |]
                |> Array.sort

            d[2] = d[3])

    Assert.True(tiedAtK.Length >= 10, $"only {tiedAtK.Length} queries with a tie at the third place")

[<Theory>]
[<MemberData(nameof assignmentCases)>]
let ``linearSumAssignment agrees with SciPy's linear_sum_assignment`` (name: string) =
    let c = case "assignment" name
    let cost = matrix (c.GetProperty "cost")
    let a = Clustering.linearSumAssignment cost
    let total = c.GetProperty("total").GetDouble()
    assertClose $"assignment {name}: total" 1e-12 [ a.Cost ] [ total ]
    Assert.Equal(min (Array2D.length1 cost) (Array2D.length2 cost), a.Rows.Length)
    Assert.Equal(a.Rows.Length, Array.distinct a.Columns |> Array.length)
    Assert.Equal(a.Cost, Array.map2 (fun r col -> cost[r, col]) a.Rows a.Columns |> Array.sum)

    if not (name.Contains "ties") then // the optimum is unique: the same pairs
        Assert.Equal<int[]>(ints (c.GetProperty "rows"), a.Rows)
        Assert.Equal<int[]>(ints (c.GetProperty "columns"), a.Columns)

[<Theory>]
[<MemberData(nameof clusteringCases)>]
let ``clustering agreement agrees with scikit-learn to 1e-12`` (name: string) =
    let c = case "clustering" name
    let truth = ints (c.GetProperty "truth")
    let pred = ints (c.GetProperty "pred")
    let a = Clustering.clusterAgreement truth pred

    let check (what: string) (key: string) (actual: float) =
        let e = c.GetProperty(key).GetDouble()
        Assert.True(abs (actual - e) <= 1e-12, $"{name}: {what} {actual:R}, scikit-learn {e:R}")

    check "ARI" "adjusted_rand" a.AdjustedRand
    check "ARI (function)" "adjusted_rand" (Clustering.adjustedRandIndex truth pred)
    check "NMI" "nmi" a.NormalisedMutualInformation
    check "NMI (function)" "nmi" (Clustering.normalisedMutualInformation truth pred)
    check "homogeneity" "homogeneity" a.Homogeneity
    check "homogeneity (function)" "homogeneity" (Clustering.homogeneity truth pred)
    check "completeness" "completeness" a.Completeness
    check "completeness (function)" "completeness" (Clustering.completeness truth pred)
    check "V-measure" "v_measure" a.VMeasure
    check "V-measure (function)" "v_measure" (Clustering.vMeasure truth pred)
    check "purity" "purity" a.Purity
    check "purity (function)" "purity" (Clustering.purity truth pred)
    check "matched accuracy" "matched_accuracy" a.MatchedAccuracy
    check "matched accuracy (function)" "matched_accuracy" (Clustering.matchedAccuracy truth pred)

[<Theory>]
[<MemberData(nameof modeCases)>]
let ``modes agree with SciPy's eigvals`` (name: string) =
    let c = case "modes" name

    let m =
        Timescales.modes (c.GetProperty("dt").GetDouble()) (matrix (c.GetProperty "matrix"))

    let re = floats (c.GetProperty "real")
    Assert.Equal(re.Length, m.Length)
    // Two eigensolvers (MathNet's and LAPACK's): agreement to rounding, relative to the largest.
    assertClose $"modes {name}: real parts" 1e-10 (m |> Array.map _.Eigenvalue.Real) re

    assertClose
        $"modes {name}: imaginary parts"
        1e-10
        (m |> Array.map _.Eigenvalue.Imaginary)
        (floats (c.GetProperty "imag"))

    let tau = floats (c.GetProperty "timescales")

    for i in 0 .. m.Length - 1 do
        assertClose $"modes {name}: timescale {i}" 1e-9 [ m[i].Timescale ] [ tau[i] ]

    assertClose $"modes {name}: frequencies" 1e-10 (m |> Array.map _.Frequency) (floats (c.GetProperty "frequencies"))

[<Fact>]
let ``entropy agrees with scipy.stats.entropy`` () =
    for c in cases "entropy" do
        let w = floats (c.GetProperty "weights")
        assertClose "entropy" 1e-12 [ Mixture.entropy w ] [ c.GetProperty("entropy").GetDouble() ]

[<Fact>]
let ``mixtureUsage: mean weight, share and entropies`` () =
    let w =
        array2D [ [ 1.0; 0.0; 0.0 ]; [ 1.0; 1.0; 0.0 ]; [ 0.0; 0.0; 0.0 ]; [ 2.0; 1.0; 0.0 ] ]

    let u = Mixture.mixtureUsage w
    Assert.Equal<float[]>([| 1.0; 0.5; 0.0 |], u.MeanWeight)
    Assert.Equal<float[]>([| 2.0 / 3.0; 1.0 / 3.0; 0.0 |], u.Share)
    // Steps: one component (0), two equal (log 2), none (0 by definition), 2:1.
    let h21 = -(2.0 / 3.0 * log (2.0 / 3.0) + 1.0 / 3.0 * log (1.0 / 3.0))
    assertClose "step entropy" 1e-14 u.StepEntropy [ 0.0; log 2.0; 0.0; h21 ]
    assertClose "usage entropy" 1e-14 [ u.UsageEntropy ] [ h21 ]
    assertClose "mean step entropy" 1e-14 [ u.MeanStepEntropy ] [ (log 2.0 + h21) / 4.0 ]

[<Fact>]
let ``jointStates: system 0 is the most significant digit`` () =
    let states = array2D [ [ 0; 0; 0 ]; [ 1; 0; 1 ]; [ 0; 1; 1 ]; [ 1; 1; 1 ] ]
    Assert.Equal<int[]>([| 0; 5; 3; 7 |], Decoding.jointStates 2 states)
    Assert.Equal<int[]>([| 0; 7; 4 |], Decoding.jointStates 3 (array2D [ [ 0; 0 ]; [ 2; 1 ]; [ 1; 1 ] ]))

[<Fact>]
let ``flatten joins windows in order and argmaxLabels takes the first largest`` () =
    let a = Array3D.init 2 3 2 (fun w t k -> float (100 * w + 10 * t + k))
    let f = Decoding.flatten a
    Assert.Equal(6, Array2D.length1 f)
    Assert.Equal(121.0, f[5, 1])
    Assert.Equal(10.0, f[1, 0])

    Assert.Equal<int[]>(
        [| 1; 0; 2 |],
        Decoding.argmaxLabels (array2D [ [ 0.0; 2.0; 1.0 ]; [ 3.0; 3.0; 1.0 ]; [ 0.0; 0.0; 0.5 ] ])
    )

[<Fact>]
let ``randomSplit holds out ceil(25%) at random, deterministically per key`` () =
    for n in [ 2; 10; 101; 2000 ] do
        let s = Decoding.randomSplit (Random.key 3) n 0.25
        Assert.Equal(int (ceil (0.25 * float n)), s.Test.Length)
        Assert.Equal<int[]>(Array.init n id, Array.append s.Train s.Test |> Array.sort)
        Assert.Equal<int[]>(Array.sort s.Test, s.Test)
        Assert.Equal(s, Decoding.randomSplit (Random.key 3) n 0.25)

    let a = Decoding.randomSplit (Random.key 3) 2000 0.25
    let b = Decoding.randomSplit (Random.key 4) 2000 0.25
    Assert.NotEqual<int[]>(a.Test, b.Test)
    // Random, not contiguous: the test set is spread over the whole range.
    Assert.True(a.Test[0] < 100 && a.Test[a.Test.Length - 1] > 1900)

[<Fact>]
let ``blockSplit holds out whole contiguous blocks`` () =
    let s = Decoding.blockSplit (Random.key 5) 2000 100 0.25
    Assert.Equal(500, s.Test.Length)
    Assert.Equal<int[]>(Array.init 2000 id, Array.append s.Train s.Test |> Array.sort)
    let blocks = s.Test |> Array.map (fun i -> i / 100) |> Array.distinct
    Assert.Equal(5, blocks.Length)

    for b in blocks do
        Assert.Equal<int[]>(Array.init 100 (fun i -> b * 100 + i), s.Test |> Array.filter (fun i -> i / 100 = b))

    let splits = Decoding.blockSplits (Random.key 5) 4 2000 100 0.25
    Assert.Equal(4, splits |> Array.map _.Test |> Array.distinct |> Array.length)

[<Fact>]
let ``decodingSpread: separable classes decode perfectly; chance is the majority share`` () =
    // Two classes far apart on a line, 3 of every 4 steps in class 0.
    let labels = Array.init 400 (fun i -> if i % 4 = 3 then 1 else 0)
    let x = Array2D.init 400 1 (fun i _ -> float (10 * labels[i]) + 0.001 * float i)

    let spread =
        Decoding.decodingSpread 3 x labels (Decoding.randomSplits (Random.key 1) 5 400 0.25)

    Assert.Equal(1.0, spread.Mean)
    Assert.Equal(0.0, spread.Std)
    Assert.Equal(5, spread.Scores.Length)

    for s in spread.Scores do
        Assert.Equal(300, s.TrainSize)
        Assert.Equal(100, s.TestSize)

    Assert.InRange(spread.ChanceMean, 0.6, 0.9)
    Assert.Equal(0.75, Decoding.chance [| 0; 0; 2; 0 |])

[<Fact>]
let ``decodingSpread: mean, population std and extremes of the scores`` () =
    let rng = Random.normal (Random.key 8) 600
    let x = Array2D.init 300 2 (fun i f -> rng[2 * i + f])

    let labels =
        Array.init 300 (fun i -> (if rng[2 * i] > 0.0 then 1 else 0) + (if i % 3 = 0 then 1 else 0))

    let spread =
        Decoding.decodingSpread 3 x labels (Decoding.blockSplits (Random.key 2) 6 300 20 0.25)

    let acc = spread.Scores |> Array.map _.Accuracy
    let mean = Array.average acc
    Assert.Equal(mean, spread.Mean, 15)
    Assert.Equal(sqrt (Array.averageBy (fun a -> (a - mean) ** 2.0) acc), spread.Std, 15)
    Assert.Equal(Array.min acc, spread.Min)
    Assert.Equal(Array.max acc, spread.Max)
    Assert.True(spread.Std > 0.0)

[<Fact>]
let ``kMeans separates clearly separated clusters`` () =
    let centres =
        [|
            [| 0.0; 0.0 |]
            [| 10.0; 0.0 |]
            [| 0.0; 10.0 |]
            [| 10.0; 10.0 |]
            [| 5.0; 20.0 |]
        |]

    let noise = Random.normal (Random.key 9) 1000
    let truth = Array.init 500 (fun i -> (i * 7) % 5)

    let x =
        Array2D.init 500 2 (fun i f -> centres[truth[i]][f] + 0.5 * noise[2 * i + f])

    let km = Clustering.kMeans (Random.key 1) 5 x
    Assert.Equal(1.0, Clustering.matchedAccuracy truth km.Labels)
    Assert.Equal(1.0, Clustering.adjustedRandIndex truth km.Labels)
    Assert.Equal(km, Clustering.kMeans (Random.key 1) 5 x)

[<Fact>]
let ``matchTimescales pairs each true timescale with the nearest free recovered one`` () =
    let m =
        Timescales.matchTimescales 0.1 [| 10.5; 3.0; 100.0; infinity |] [| 4.0; 10.0 |]

    Assert.Equal<int[]>([| 1; 0 |], m.Pairs |> Array.map _.RecoveredIndex)
    Assert.Equal<int[]>([| 0; 1 |], m.Pairs |> Array.map _.TrueIndex)
    Assert.Equal(0.25, m.Pairs[0].RelativeError)
    Assert.False m.Pairs[0].Within
    Assert.Equal(0.05, m.Pairs[1].RelativeError, 15)
    Assert.True m.Pairs[1].Within
    Assert.Equal(1, m.WithinCount)
    // A non-finite recovered timescale is never within tolerance.
    let only = Timescales.matchTimescales 10.0 [| -5.0 |] [| 4.0 |]
    Assert.Equal(0, only.WithinCount)

let private sldsSmall () =
    Slds.generate
        { Slds.defaults with
            TrainLength = 300
            ValLength = 300
            TestLength = 300
            MinStateFraction = 0.0
            Projection = None
        }
        (Random.key 4)

[<Fact>]
let ``sldsModes: the generator's poles exp(τ) ± 2πi·f`` () =
    let data = sldsSmall ()
    let o = data.Options
    let modes = Timescales.sldsModes 1.0 data.Systems
    Assert.Equal(6, modes.Length)

    for m in modes do
        let p = m.System * o.States + m.State
        let a = exp o.Timescales[p]
        let omega = 2.0 * Math.PI * o.Frequencies[p]
        Assert.Equal(1, m.Modes.Length)
        assertClose "SLDS eigenvalue" 1e-12 [ m.Modes[0].Eigenvalue.Real; m.Modes[0].Eigenvalue.Imaginary ] [ a; omega ]
        assertClose "SLDS timescale" 1e-12 [ m.Modes[0].Timescale ] [ -1.0 / log (sqrt (a * a + omega * omega)) ]

[<Fact>]
let ``stateTimescaleRecovery finds the active systems' timescales in V_t, and only those`` () =
    let data = sldsSmall ()
    let states = data.Test.States
    let windows, t, r = 3, 100, 8
    // V_t: the active states' dynamics block-diagonally, plus two fast modes (0.1, −0.2), in a
    // fixed random basis; zero at the first step of each window.
    let z = Random.normal (Random.key 6) (r * r)

    let build (a: float[,]) =
        MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfArray a

    let basis =
        build (Array2D.init r r (fun i j -> z[i * r + j] + (if i = j then 3.0 else 0.0)))

    let ut (scale: float) =
        let u = Array4D.zeroCreate windows t r r

        for w in 0 .. windows - 1 do
            for s in 1 .. t - 1 do
                let step = w * t + s
                let d = Array2D.zeroCreate r r

                for i in 0..2 do
                    let a = data.Systems[i].Dynamics[states[step, i]]

                    for x in 0..1 do
                        for y in 0..1 do
                            d[2 * i + x, 2 * i + y] <- scale * a[x, y]

                d[6, 6] <- 0.1
                d[7, 7] <- -0.2
                let b = basis * build d * basis.Inverse()

                for x in 0 .. r - 1 do
                    for y in 0 .. r - 1 do
                        u[w, s, x, y] <- b[x, y]

        u

    let exact = Timescales.stateTimescaleRecovery 0.01 1.0 (ut 1.0) states data.Systems
    Assert.Equal(6, exact.Length)

    for e in exact do
        Assert.True(e.Steps > 0, $"system {e.System} state {e.State} never active")
        Assert.Equal(1.0, e.WithinShare)
        assertClose "recovered timescale" 1e-8 [ e.MedianRecovered ] [ e.True ]

    Assert.Equal(3 * 99 * 3, exact |> Array.sumBy _.Steps)
    // Dynamics 0.7 times as large: every timescale is off by more than 1%.
    let off = Timescales.stateTimescaleRecovery 0.01 1.0 (ut 0.7) states data.Systems

    for e in off do
        Assert.Equal(0.0, e.WithinShare)

[<Fact>]
let ``modesOverTime: the zero V_t of a window's first step has timescale 0`` () =
    let ut = Array4D.init 1 2 2 2 (fun _ t i j -> if t = 1 && i = j then 0.5 else 0.0)
    let m = Timescales.modesOverTime 1.0 ut
    let slowest = m |> Array.map (fun modes -> modes[0].Timescale)
    assertClose "timescales of 0 and 0.5" 1e-15 slowest [ 0.0; 1.0 / log 2.0 ]

let private throwsNaming (name: string) (f: unit -> obj) =
    let e = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    Assert.Equal(name, e.ParamName)

[<Fact>]
let ``bad input raises ArgumentException naming the argument`` () =
    let x = Array2D.init 5 2 (fun i j -> float (i + j))
    let y = [| 0; 1; 0; 1; 0 |]
    throwsNaming "trainY" (fun () -> box (Decoding.knnPredict 3 x [| 0; 1 |] x))
    throwsNaming "k" (fun () -> box (Decoding.knnPredict 6 x y x))
    throwsNaming "k" (fun () -> box (Decoding.knnPredict 0 x y x))
    throwsNaming "testX" (fun () -> box (Decoding.knnPredict 3 x y (Array2D.zeroCreate 2 3)))
    throwsNaming "testX" (fun () -> box (Decoding.knnPredict 3 x y (Array2D.zeroCreate 0 2)))
    throwsNaming "trainX" (fun () -> box (Decoding.knnPredict 1 (Array2D.zeroCreate 0 2) [||] x))
    throwsNaming "testY" (fun () -> box (Decoding.knnAccuracy x y x [| 1 |]))
    throwsNaming "pred" (fun () -> box (Clustering.adjustedRandIndex [| 0; 1 |] [| 0 |]))
    throwsNaming "truth" (fun () -> box (Clustering.normalisedMutualInformation [||] [||]))
    throwsNaming "labels" (fun () -> box (Decoding.decodingScore 3 x [| 0 |] { Train = [| 0 |]; Test = [| 1 |] }))
    throwsNaming "split.Test" (fun () -> box (Decoding.decodingScore 1 x y { Train = [| 0 |]; Test = [| 9 |] }))
    throwsNaming "testFraction" (fun () -> box (Decoding.randomSplit (Random.key 1) 10 1.0))
    throwsNaming "blockLength" (fun () -> box (Decoding.blockSplit (Random.key 1) 10 6 0.25))
    throwsNaming "cost" (fun () -> box (Clustering.linearSumAssignment (array2D [ [ 1.0; nan ] ])))
    throwsNaming "a" (fun () -> box (Timescales.modes 1.0 (Array2D.zeroCreate 2 3)))
    throwsNaming "truth" (fun () -> box (Timescales.matchTimescales 0.1 [| 1.0 |] [| -1.0 |]))
    throwsNaming "weights" (fun () -> box (Mixture.entropy [| 1.0; -1.0 |]))
    throwsNaming "k" (fun () -> box (Clustering.kMeans (Random.key 1) 6 x))
    throwsNaming "states" (fun () -> box (Decoding.jointStates 2 (array2D [ [ 0; 2 ] ])))

[<Fact>]
let ``jointStates refuses systems whose joint states do not fit an int, and reaches Int32.MaxValue when they do`` () =
    // 31 binary systems: joint states 0 … 2^31 − 1 = Int32.MaxValue, all of them representable.
    Assert.Equal<int[]>([| Int32.MaxValue; 0 |], Decoding.jointStates 2 (Array2D.init 2 31 (fun t _ -> 1 - t)))
    // 19 systems of 3 states: 3^19 = 1162261467 joint states.
    Assert.Equal<int[]>([| 1162261466 |], Decoding.jointStates 3 (Array2D.create 1 19 2))

    // 32 and 40 binary systems, 20 of 3 states (3^20 = 3486784401): too many for an int, even
    // when the states seen are all 0.
    for k, systems in [ 2, 32; 2, 40; 3, 20; 1000, 4 ] do
        let ex =
            Assert.Throws<ArgumentException>(fun () -> Decoding.jointStates k (Array2D.zeroCreate 3 systems) |> ignore)

        Assert.Equal("states", ex.ParamName)
        Assert.Contains($"{systems} systems of {k} states", ex.Message)
        Assert.Contains(string Int32.MaxValue, ex.Message)

[<Fact>]
let ``matchTimescales refuses a NaN recovered timescale and a tolerance that is not finite and non-negative`` () =
    for tol in [ nan; -0.1; infinity; -infinity ] do
        throwsNaming "tolerance" (fun () -> box (Timescales.matchTimescales tol [| 1.0 |] [| 1.0 |]))

    for truth in [ nan; infinity; 0.0; -2.0 ] do
        throwsNaming "truth" (fun () -> box (Timescales.matchTimescales 0.1 [| 1.0 |] [| 4.0; truth |]))

    throwsNaming "recovered" (fun () -> box (Timescales.matchTimescales 0.1 [| 4.0; nan |] [| 4.0 |]))
    // What `modes` reports for a unit-modulus (infinite) or unstable (negative) mode stays accepted,
    // never within tolerance.
    let m = Timescales.matchTimescales 0.1 [| -infinity; -3.0 |] [| 4.0 |]
    Assert.Equal(0, m.WithinCount)

[<Fact>]
let ``stateTimescaleRecovery refuses a bad tolerance even when no step is matched`` () =
    let data = sldsSmall ()
    // Every V_t zero: nothing is matched, the tolerance is still checked.
    let ut = Array4D.zeroCreate 1 3 2 2

    for tol in [ nan; -1.0; infinity ] do
        throwsNaming "tolerance" (fun () ->
            box (
                Timescales.stateTimescaleRecovery tol 1.0 ut data.Train.States data.Systems
                |> ignore
            ))
