/// `tidhy baseline arhmm` as a user runs it: on a series drawn from a known ARHMM with its states,
/// on a separate training series, and on bad input.
module TiDHy.Cli.Tests.BaselineCliTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

/// Two states in 2 dimensions: a slow spiral and a fast diagonal system, distinct biases, sticky.
let private model =
    {
        Initial = [| 0.5; 0.5 |]
        Transition = array2D [ [ 0.98; 0.02 ]; [ 0.02; 0.98 ] ]
        Dynamics =
            [|
                array2D [ [ 0.9 * cos 0.2; -0.9 * sin 0.2 ]; [ 0.9 * sin 0.2; 0.9 * cos 0.2 ] ]
                array2D [ [ 0.6; 0.0 ]; [ 0.0; 0.3 ] ]
            |]
        Bias = [| [| 0.5; 0.0 |]; [| -0.5; 0.5 |] |]
        Covariance =
            [|
                array2D [ [ 0.01; 0.0 ]; [ 0.0; 0.01 ] ]
                array2D [ [ 0.02; 0.0 ]; [ 0.0; 0.02 ] ]
            |]
        InitialMean = [| 0.0; 0.0 |]
        InitialCovariance = array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ]
    }

/// A series of `length` steps from `seed` and its states, written as `name.csv` and `name-states.csv`.
let private write (dir: string) (name: string) (seed: int) (length: int) =
    let x, z = Arhmm.sample (Random.key seed) model length
    let data = Path.Combine(dir, $"{name}.csv")
    let states = Path.Combine(dir, $"{name}-states.csv")
    Data.save data x
    Data.save states (Array2D.init length 1 (fun t _ -> float z[t]))
    data, states

[<Fact>]
let ``baseline arhmm scores the states of a known ARHMM on held-out blocks and writes arhmm.json`` () =
    let dir = tempDir ()
    let data, states = write dir "series" 1 1500
    let out = Path.Combine(dir, "out")

    let code, stdout, err =
        run
            [
                "baseline"
                "arhmm"
                "--data"
                data
                "--states"
                states
                "--restarts"
                "2"
                "--out"
                out
            ]

    Assert.True((code = 0), err)
    Assert.Contains("K = 2 states", stdout) // from the distinct labels
    Assert.Contains("State accuracy on held-out 100-step blocks (5 splits, 25% held out", stdout)
    Assert.Contains("Log-likelihood per step", stdout)
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(out, "arhmm.json")))
    let root = doc.RootElement
    // Two well-separated regimes, 1500 steps: the states are found (well above chance).
    Assert.True(root.GetProperty("accuracy_mean").GetDouble() > 0.9, stdout)
    Assert.Equal(5, root.GetProperty("accuracies").GetArrayLength())
    Assert.Equal(1500, root.GetProperty("viterbi_states").GetArrayLength())
    // Timescales of the stable modes: 1/(−log 0.9) (a pair), 1/(−log 0.6), 1/(−log 0.3).
    let tau =
        root.GetProperty("timescales").EnumerateArray()
        |> Seq.map _.GetDouble()
        |> Seq.sort
        |> Seq.toArray

    let expected = [| 0.3; 0.6; 0.9 |] |> Array.map (fun l -> -1.0 / log l)
    Assert.Equal(3, tau.Length)

    for t, e in Array.zip tau expected do
        // Fitted from ~750 noisy steps per state: within 20% (the issue's matching tolerance).
        Assert.True(abs (t - e) / e < 0.2, $"timescale {t}, true {e}")

[<Fact>]
let ``baseline arhmm fits on --train and scores --data; without --states it needs --k`` () =
    let dir = tempDir ()
    let train, _ = write dir "train" 2 1000
    let data, _ = write dir "data" 3 600

    let code, stdout, err =
        run
            [
                "baseline"
                "arhmm"
                "--data"
                data
                "--train"
                train
                "--k"
                "2"
                "--restarts"
                "1"
            ]

    Assert.True((code = 0), err)
    Assert.Contains($"fitted on {train} (1000 steps, 2 features, on their 2 principal components)", stdout)
    Assert.Contains($"Log-likelihood per step on {data}", stdout)
    Assert.DoesNotContain("State accuracy", stdout)
    let code, help, _ = run [ "--help" ]
    Assert.Equal(0, code)
    Assert.Contains("baseline", help)
    let code, help, _ = run [ "baseline"; "arhmm"; "--help" ]
    Assert.Equal(0, code)
    Assert.Contains("--block-length", help)
    let code, _, err = run [ "baseline"; "arhmm"; "--data"; data ]
    Assert.Equal(2, code)
    Assert.Contains("--k: required without --states", err)

[<Fact>]
let ``baseline arhmm on bad input: a missing file, --k 0, a short series, a constant series`` () =
    let dir = tempDir ()
    let data, states = write dir "series" 4 300
    let missing = Path.Combine(dir, "nope.csv")
    let code, _, err = run [ "baseline"; "arhmm"; "--data"; missing; "--k"; "2" ]
    Assert.Equal(1, code)
    Assert.Contains("nope.csv: no such file", err)
    let code, _, err = run [ "baseline"; "arhmm"; "--data"; data; "--k"; "0" ]
    Assert.Equal(2, code)
    Assert.Contains("--k: expected a positive integer, got 0", err)
    // 100 states of dimension 2 need 302 steps.
    let code, _, err = run [ "baseline"; "arhmm"; "--data"; data; "--k"; "100" ]
    Assert.Equal(1, code)
    Assert.Contains("302 time steps", err)
    Assert.Contains(data, err)
    let short = Path.Combine(dir, "short-states.csv")
    Data.save short (Array2D.create 10 1 0.0)
    let code, _, err = run [ "baseline"; "arhmm"; "--data"; data; "--states"; short ]
    Assert.Equal(1, code)
    Assert.Contains("one row per step", err)
    // A constant series: fitted without NaN (the covariance floor).
    let flat = Path.Combine(dir, "flat.npy")
    Data.save flat (Array2D.create 200 2 3.0)

    let code, stdout, err =
        run
            [
                "baseline"
                "arhmm"
                "--data"
                flat
                "--k"
                "2"
                "--restarts"
                "1"
                "--iterations"
                "5"
            ]

    Assert.True((code = 0), err)
    Assert.DoesNotContain("NaN", stdout)
    // An --out that cannot be a folder fails before the fit (no log-likelihood printed), the file kept.
    let aFile = Path.Combine(dir, "a-file")
    File.WriteAllText(aFile, "kept")

    for out, says in [ aFile, "is a file"; Path.Combine(aFile, "sub"), "is a file, not a folder" ] do
        let code, stdout, err =
            run [ "baseline"; "arhmm"; "--data"; data; "--states"; states; "--out"; out ]

        Assert.Equal(1, code)
        Assert.StartsWith("tidhy: --out", err)
        Assert.Contains(says, err)
        Assert.DoesNotContain("Log-likelihood", stdout)

    Assert.Equal("kept", File.ReadAllText aFile)

[<Fact>]
let ``Principal axes of a long series (60 000 steps) are its covariance's eigenvectors, with no steps-by-steps matrix``
    ()
    =
    // Independent channels with standard deviations 3, 2 and 1: the axes are the unit vectors in that
    // order, up to sign. A full SVD of the rows needed a 60 000 × 60 000 matrix: an OverflowException.
    let n = 60000
    let z = Random.normal (Random.key 3) (n * 3)
    let scale = [| 3.0; 2.0; 1.0 |]
    let x = Array2D.init n 3 (fun i j -> scale[j] * z[i * 3 + j])
    let p = TiDHy.Cli.Measures.principalAxes 3 x
    Assert.Equal(3, Array2D.length2 p.Axes)

    for j in 0..2 do
        Assert.InRange(abs p.Axes[j, j], 0.999, 1.0)
