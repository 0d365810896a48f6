/// `Decoding` against scikit-learn (`KNeighborsClassifier`: analysis-expected.json, from
/// tests/scripts/make_analysis_expected.py): kNN, labels, splits, decoding spread.
module TiDHy.Functional.Tests.Analysis.DecodingTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

let knnCases () = caseNames "knn"

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
