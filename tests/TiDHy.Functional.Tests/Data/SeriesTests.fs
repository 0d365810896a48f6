/// Tests of `Series`: window counts and contents, splits, normalisation and its inverse, checks.
module TiDHy.Functional.Tests.SeriesTests

open System
open FsCheck.FSharp
open TiDHy.Functional
open Xunit

/// `[time; features]` with entry `(t, j) = 100·t + j`, so every entry names its position.
let private ramp time features =
    Array2D.init time features (fun t j -> float (100 * t + j))

[<Fact>]
let ``Consecutive windows start length minus overlap apart and hold consecutive steps`` () =
    let w = Series.windows 5 2 (ramp 14 2)
    // starts 0, 3, 6, 9: the window at 9 ends at 13, the last step
    Assert.Equal<int[]>([| 4; 5; 2 |], Shape.ofArray3 w)

    for b in 0..3 do
        for t in 0..4 do
            for j in 0..1 do
                Assert.Equal(float (100 * (3 * b + t) + j), w[b, t, j])

[<Fact>]
let ``A tail that does not fill a window is dropped and counted`` () =
    let s = ramp 16 1
    let w = Series.windows 5 2 s
    Assert.Equal(4, Array3D.length1 w)
    Assert.Equal(4, Series.windowCount 5 2 16)
    Assert.Equal(2, Series.droppedSteps 5 2 16)
    Assert.Equal(0, Series.droppedSteps 5 2 14)
    Assert.Equal(3, Series.droppedSteps 5 2 3)
    Assert.Equal(0, Series.windowCount 5 2 4)

[<Fact>]
let ``Window count and dropped steps account for every step`` () =
    let gen =
        gen {
            let! length = Gen.choose (1, 12)
            let! overlap = Gen.choose (0, length - 1)
            let! time = Gen.choose (length, 80)
            return length, overlap, time
        }

    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen gen) (fun (length, overlap, time) ->
            let n = Series.windowCount length overlap time
            let w = Series.windows length overlap (ramp time 1)
            let covered = (n - 1) * (length - overlap) + length

            Array3D.length1 w = n
            && covered + Series.droppedSteps length overlap time = time
            && Series.droppedSteps length overlap time < length - overlap
            && w[n - 1, length - 1, 0] = float (100 * (covered - 1)))
    )

[<Fact>]
let ``Strided windows reproduce upstream's stacking with its overlap as the stride`` () =
    // upstream stack_data(x, 200, overlap=20): windows start 20 apart
    let w = Series.windowsStrided 4 3 (ramp 11 1)
    Assert.Equal<int[]>([| 3; 4; 1 |], Shape.ofArray3 w)
    Assert.Equal(600.0, w[2, 0, 0])
    Assert.Equal(Series.windowCount 4 1 11, Series.windowCountStrided 4 3 11)

[<Fact>]
let ``windows takes the shared steps, not Config.Overlap: the configuration's overlap is windowsStrided's stride`` () =
    let series = ramp 40 1
    // windows L s = windowsStrided L (L − s): windows share s steps.
    Assert.Equal<float[,,]>(Series.windowsStrided 10 7 series, Series.windows 10 3 series)
    Assert.Equal(Series.windowCountStrided 10 7 40, Series.windowCount 10 3 40)
    // The configuration's overlap is the step between window starts (upstream's stack_data).
    let cfg =
        { Config.defaults 1 with
            SequenceLength = 10
            Overlap = 3
        }

    let overlap = ConfigOptions.all |> List.find (fun o -> o.Key = "overlap")
    Assert.Equal("Overlap", overlap.Property)
    Assert.Contains("the step between the starts of consecutive training windows", overlap.Doc)
    let training = Series.windowsStrided cfg.SequenceLength cfg.Overlap series
    // Starts 0, 3, 6, …, 30: 11 windows.
    Assert.Equal(11, Array3D.length1 training)
    Assert.Equal<float[]>([| for w in 0..10 -> float (100 * 3 * w) |], training[*, 0, 0])
    // The trap: windows with cfg.Overlap starts windows 7 apart (0, 7, …, 28: 5 windows), not
    // training's.
    let trap = Series.windows cfg.SequenceLength cfg.Overlap series
    Assert.Equal(5, Array3D.length1 trap)
    Assert.Equal(700.0, trap[1, 0, 0])

[<Fact>]
let ``Bad window arguments are rejected with their names and values`` () =
    let s = ramp 10 2
    let e1 = Assert.Throws<ArgumentException>(fun () -> Series.windows 5 5 s |> ignore)
    Assert.Contains("shared", e1.Message)
    Assert.Contains("got 5", e1.Message)
    let e2 = Assert.Throws<ArgumentException>(fun () -> Series.windows 0 0 s |> ignore)
    Assert.Contains("length", e2.Message)
    let e3 = Assert.Throws<ArgumentException>(fun () -> Series.windows 11 1 s |> ignore)
    Assert.Contains("10 time steps", e3.Message)
    let e4 = Assert.Throws<ArgumentException>(fun () -> Series.windows 3 -1 s |> ignore)
    Assert.Contains("shared", e4.Message)

[<Fact>]
let ``Splits by length are consecutive and must cover the series exactly`` () =
    let s = ramp 10 2
    let split = Series.splitLengths 6 3 1 s
    Assert.Equal(6, Array2D.length1 split.Train)
    Assert.Equal(600.0, split.Val[0, 0])
    Assert.Equal(901.0, split.Test[0, 1])

    let e =
        Assert.Throws<ArgumentException>(fun () -> Series.splitLengths 6 3 0 s |> ignore)

    Assert.Contains("9", e.Message)
    Assert.Contains("10 time steps", e.Message)

    Assert.Throws<ArgumentException>(fun () -> Series.splitLengths -1 10 1 s |> ignore)
    |> ignore

[<Fact>]
let ``Splits by fraction give the test part the remainder`` () =
    let s = ramp 11 1
    let split = Series.splitFractions 0.5 0.25 s
    Assert.Equal(5, Array2D.length1 split.Train)
    Assert.Equal(2, Array2D.length1 split.Val)
    Assert.Equal(4, Array2D.length1 split.Test)
    Assert.Equal(1000.0, split.Test[3, 0])

    let e =
        Assert.Throws<ArgumentException>(fun () -> Series.splitFractions 0.8 0.3 s |> ignore)

    Assert.Contains("exceeds 1", e.Message)

    Assert.Throws<ArgumentException>(fun () -> Series.splitFractions nan 0.3 s |> ignore)
    |> ignore

let private genSeries =
    gen {
        let! t = Gen.choose (2, 20)
        let! d = Gen.choose (1, 5)
        let! v = Gen.arrayOfLength (t * d) (Gen.choose (-100000, 100000))
        return Array2D.init t d (fun i j -> float v[i * d + j] / 997.0)
    }

let private close (a: float[,]) (b: float[,]) =
    Seq.forall2 (fun (x: float) y -> abs (x - y) <= 1e-9 * (1.0 + abs y)) (Seq.cast<float> a) (Seq.cast<float> b)

[<Fact>]
let ``Z-score normalisation has zero mean and unit deviation and inverts`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genSeries) (fun s ->
            let norm = Series.fitZScore s
            let z = Series.normalise norm s
            let t = Array2D.length1 s

            let stats j =
                let col = Array.init t (fun i -> z[i, j])
                let m = Array.average col
                m, sqrt (col |> Array.averageBy (fun v -> (v - m) ** 2.0))

            let ok =
                [ 0 .. Array2D.length2 s - 1 ]
                |> List.forall (fun j ->
                    let m, sd = stats j
                    abs m < 1e-9 && (abs (sd - 1.0) < 1e-9 || (sd = 0.0 && norm.Scale[j] = 1.0)))

            ok && close (Series.denormalise norm z) s)
    )

[<Fact>]
let ``Max-abs normalisation scales each feature to a maximum of one and inverts`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genSeries) (fun s ->
            let norm = Series.fitMaxAbs s
            let z = Series.normalise norm s

            let maxes =
                [ 0 .. Array2D.length2 s - 1 ]
                |> List.map (fun j -> Seq.max (seq { for i in 0 .. Array2D.length1 s - 1 -> abs z[i, j] }))

            List.forall (fun m -> abs (m - 1.0) < 1e-12 || m = 0.0) maxes
            && Array.forall ((=) 0.0) norm.Offset
            && close (Series.denormalise norm z) s)
    )

[<Fact>]
let ``A fitted normalisation applies to other data and checks its feature count`` () =
    let train = array2D [ [ 1.0; -4.0 ]; [ 3.0; 2.0 ] ]
    let norm = Series.fitMaxAbs train
    let test = Series.normalise norm (array2D [ [ 6.0; 8.0 ] ])
    Assert.Equal(2.0, test[0, 0])
    Assert.Equal(2.0, test[0, 1])
    let z = Series.fitZScore (array2D [ [ 5.0 ]; [ 5.0 ] ])
    Assert.Equal(1.0, z.Scale[0])

    let e =
        Assert.Throws<ArgumentException>(fun () -> Series.normalise norm (array2D [ [ 1.0 ] ]) |> ignore)

    Assert.Contains("1 features", e.Message)

[<Fact>]
let ``checkSeries names the argument and the position of a non-finite entry`` () =
    let s = array2D [ [ 1.0; 2.0 ]; [ 3.0; nan ] ]
    let e = Assert.Throws<ArgumentException>(fun () -> Series.checkSeries "data" s)
    Assert.Contains("data", e.Message)
    Assert.Contains("time 1", e.Message)
    Assert.Contains("feature 1", e.Message)

    let e2 =
        Assert.Throws<ArgumentException>(fun () -> Series.checkSeries "data" (Array2D.zeroCreate 0 3))

    Assert.Contains("[0; 3]", e2.Message)
    Series.checkSeries "data" (array2D [ [ 1.0 ] ])

[<Fact>]
let ``Windows too large for an array or the memory are refused before allocating, with the sizes`` () =
    // 200000 steps (1.6 MB) cut into 100001 windows of 100000 steps: 10^10 values, 80 GB.
    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            Series.windowsStrided 100_000 1 (Array2D.zeroCreate 200_000 1) |> ignore)

    Assert.Equal("series", ex.ParamName)
    Assert.Contains("100001 windows of 100000 steps (1 apart) x 1 features", ex.Message)
    Assert.Contains("10000100000 values, more than a .NET array holds", ex.Message)
    // Within an array but beyond a memory budget: 600000 steps in windows of 1000 steps, 1 apart
    // (the 4.8 MB .npy with sequence_length 1000), 4.8 GB against 4 GiB.
    match Series.windowsSizeError 1000 1 600_000 1 (4L <<< 30) with
    | Some reason ->
        Assert.Contains("599001 windows of 1000 steps", reason)
        Assert.Contains("4792008000 bytes", reason)
        Assert.Contains("4294967296 bytes", reason)
    | None -> failwith "expected a refusal"

    Assert.Equal(None, Series.windowsSizeError 1000 1 600_000 1 (5L <<< 30))
    Assert.Equal(None, Series.windowsSizeError 4 3 11 1 1024L)
