/// `Decoding`'s delay embedding, decoder choice and decoding table with its baselines.
module TiDHy.Functional.Tests.Analysis.DecodingTableTests

open TiDHy.Functional
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

[<Fact>]
let ``delayEmbed: row t is [x_t, x_{t-1}, …], edge-padded with row 0`` () =
    let x = array2D [ [ 1.0; 10.0 ]; [ 2.0; 20.0 ]; [ 3.0; 30.0 ]; [ 4.0; 40.0 ] ]

    let expected =
        array2D
            [
                [ 1.0; 10.0; 1.0; 10.0; 1.0; 10.0 ]
                [ 2.0; 20.0; 1.0; 10.0; 1.0; 10.0 ]
                [ 3.0; 30.0; 2.0; 20.0; 1.0; 10.0 ]
                [ 4.0; 40.0; 3.0; 30.0; 2.0; 20.0 ]
            ]

    Assert.Equal<float[,]>(expected, Decoding.delayEmbed 2 x)
    let copy = Decoding.delayEmbed 0 x
    Assert.Equal<float[,]>(x, copy)
    Assert.False(obj.ReferenceEquals(x, copy))
    Assert.Equal(0, Array2D.length1 (Decoding.delayEmbed 3 (Array2D.zeroCreate 0 2)))
    throwsNaming "lags" (fun () -> box (Decoding.delayEmbed -1 x))

[<Fact>]
let ``baselineFeatures: the raw input and its delay embedding, named`` () =
    let x = Array2D.init 30 2 (fun i j -> float (i * 2 + j))
    let features = Decoding.baselineFeatures 10 x
    Assert.Equal<string list>([ "I (raw input)"; "I with 10 lags" ], List.map fst features)
    Assert.Same(x, snd features[0])
    Assert.Equal<float[,]>(Decoding.delayEmbed 10 x, snd features[1])

/// A time series whose label is constant over 40-step segments (a random class each) and whose
/// only feature is time itself: a held-out step's neighbours in time give its label away.
let private leaky () =
    let n = 400
    let segment = Random.uniform01 (Random.key 21) (n / 40)
    let labels = Array.init n (fun t -> int (segment[t / 40] * 4.0))
    labels, Array2D.init n 1 (fun t _ -> float t / float n)

[<Fact>]
let ``decodingScoreWith (Knn k) is decodingScore k; Linear decodes separable labels`` () =
    let labels, x = leaky ()

    for split in Decoding.randomSplits (Random.key 2) 3 400 0.25 do
        Assert.Equal(Decoding.decodingScore 3 x labels split, Decoding.decodingScoreWith (Knn 3) x labels split)

    let splits = Decoding.blockSplits (Random.key 3) 3 400 40 0.25
    Assert.Equal(Decoding.decodingSpread 1 x labels splits, Decoding.decodingSpreadWith (Knn 1) x labels splits)
    // Random splits keep every class in training (block splits could hold out a whole class).
    let separable =
        Array2D.init 400 2 (fun t j -> float (labels[t] * (j + 1)) + 0.01 * float (t % 7))

    let randoms = Decoding.randomSplits (Random.key 4) 3 400 0.25
    let spread = Decoding.decodingSpreadWith (Linear 1.0) separable labels randoms
    Assert.Equal(1.0, spread.Mean)

[<Fact>]
let ``table: every feature on the same splits; random splits leak where blocks do not`` () =
    let labels, time = leaky ()
    let noise = Random.normal (Random.key 5) 400
    let noiseFeature = Array2D.init 400 1 (fun t _ -> noise[t])

    let settings =
        { Decoding.defaultSettings with
            BlockLength = 40
            Splits = 4
        }

    let features =
        [ "time", time; "noise", noiseFeature ]
        @ Decoding.baselineFeatures 2 noiseFeature

    let table = Decoding.table (Random.key 7) settings labels features

    Assert.Equal<string[]>([| "time"; "noise"; "I (raw input)"; "I with 2 lags" |], table.Rows |> Array.map _.Name)

    Assert.Equal(
        (40, 0.25, 4, 3, 1.0, 400),
        (table.BlockLength, table.TestFraction, table.Splits, table.Neighbours, table.C, table.Samples)
    )

    Assert.Equal(labels |> Array.distinct |> Array.length, table.Classes)

    // The splits are drawn once from the key: Random.split key → (block splits, random splits).
    let blockKey, randomKey = Random.split (Random.key 7)
    let blocks = Decoding.blockSplits blockKey 4 400 40 0.25
    let randoms = Decoding.randomSplits randomKey 4 400 0.25
    let row = table.Rows[0]
    Assert.Equal(Decoding.decodingSpreadWith (Knn 3) time labels blocks, row.BlockKnn)
    Assert.Equal(Decoding.decodingSpreadWith (Linear 1.0) time labels blocks, row.BlockLinear)
    Assert.Equal(Decoding.decodingSpreadWith (Knn 3) time labels randoms, row.RandomKnn)
    Assert.Equal(Decoding.decodingSpreadWith (Linear 1.0) time labels randoms, row.RandomLinear)

    for r in table.Rows do
        for s in [ r.BlockKnn; r.BlockLinear ] do
            Assert.Equal(table.ChanceBlock, s.ChanceMean, 15)
            Assert.Equal<int[]>(Array.create 4 120, s.Scores |> Array.map _.TestSize)

        for s in [ r.RandomKnn; r.RandomLinear ] do
            Assert.Equal(table.ChanceRandom, s.ChanceMean, 15)
            Assert.Equal<int[]>(Array.create 4 100, s.Scores |> Array.map _.TestSize)

    // Time itself: kNN on random steps finds each step's neighbours in time, with its label (only
    // the steps at a segment's edge can err); on held-out blocks the neighbours are in other segments.
    Assert.True(row.RandomKnn.Mean > 0.9, $"random {row.RandomKnn.Mean}")
    Assert.True(row.BlockKnn.Mean < row.RandomKnn.Mean - 0.3, $"block {row.BlockKnn.Mean}")
    Assert.Equal(table, Decoding.table (Random.key 7) settings labels features)

[<Fact>]
let ``table: bad input raises ArgumentException naming the argument`` () =
    let labels, time = leaky ()
    let s = Decoding.defaultSettings
    throwsNaming "features" (fun () -> box (Decoding.table (Random.key 1) s labels [ "x", time[0..398, *] ]))
    throwsNaming "features" (fun () -> box (Decoding.table (Random.key 1) s labels []))

    throwsNaming "labels" (fun () ->
        box (Decoding.table (Random.key 1) { s with BlockLength = 201 } labels [ "x", time ]))

    throwsNaming "settings.BlockLength" (fun () ->
        box (Decoding.table (Random.key 1) { s with BlockLength = 0 } labels [ "x", time ]))

    throwsNaming "settings.Splits" (fun () ->
        box (Decoding.table (Random.key 1) { s with Splits = 0 } labels [ "x", time ]))

    throwsNaming "settings.TestFraction" (fun () ->
        box (Decoding.table (Random.key 1) { s with TestFraction = 1.0 } labels [ "x", time ]))

    throwsNaming "settings.C" (fun () -> box (Decoding.table (Random.key 1) { s with C = -1.0 } labels [ "x", time ]))

    throwsNaming "settings.Neighbours" (fun () ->
        box (Decoding.table (Random.key 1) { s with Neighbours = 0 } labels [ "x", time ]))
