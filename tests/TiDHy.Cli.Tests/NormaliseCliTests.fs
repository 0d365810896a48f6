/// `tidhy train`'s normalisation (a z-score fitted on the training split, stored in the run
/// folder's normalisation.json, applied by `--resume` and `tidhy eval`), `--no-normalise` and its
/// scale warning, `--test-fraction`, and metrics.csv's epochs counted from 1 as train's lines count.
module TiDHy.Cli.Tests.NormaliseCliTests

open System
open System.Globalization
open System.IO
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli
open TiDHy.Cli.Tests.CliTests
open Xunit

let private invariant = CultureInfo.InvariantCulture

/// The series of `writeSeries` (`[time; 3]`), computed here: `sin(f·t + d)`.
let private values (time: int) =
    Array2D.init time 3 (fun t d ->
        let f = if (t / 15) % 2 = 0 then 0.2 else 0.5
        sin (f * float t + float d))

/// Writes `series` as CSV with a header, each value as `map d x` of feature `d`.
let private writeMapped (dir: string) (name: string) (series: float[,]) (map: int -> float -> float) =
    let path = Path.Combine(dir, name)

    File.WriteAllLines(
        path,
        [
            yield "a,b,c"
            for t in 0 .. Array2D.length1 series - 1 ->
                String.Join(",", [ for d in 0..2 -> (map d series[t, d]).ToString("R", invariant) ])
        ]
    )

    path

/// Every feature ×1000 + 500: far from unit scale.
let private scaled (_: int) (x: float) = 1000.0 * x + 500.0

/// metrics.csv of `dir`: the header and the rows' cells.
let private metricsOf (dir: string) =
    let lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"))
    lines[0].Split ',', lines[1..] |> Array.map (fun l -> l.Split ',')

/// metrics.csv's numbers by row, without the wall-clock `seconds` column.
let private losses (dir: string) =
    let header, rows = metricsOf dir
    let seconds = Array.IndexOf(header, "seconds")

    rows
    |> Array.map (fun cells ->
        cells
        |> Array.indexed
        |> Array.filter (fun (j, _) -> j <> seconds)
        |> Array.map (fun (_, c) -> if c = "" then nan else Double.Parse(c, invariant)))

/// Every number in the JSON file `path`, in document order.
let private jsonNumbers (path: string) =
    let rec walk (n: JsonNode) =
        seq {
            match n with
            | :? JsonObject as o ->
                for kv in o do
                    yield! walk kv.Value
            | :? JsonArray as a ->
                for v in a do
                    yield! walk v
            | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.Number -> yield v.GetValue<float>()
            | _ -> ()
        }

    walk (JsonNode.Parse(File.ReadAllText path)) |> Seq.toArray

/// The two series agree to `tol` relative to their magnitude (NaN where both are NaN: a cell that
/// is empty in both files).
let private assertClose (what: string) (tol: float) (expected: float[]) (actual: float[]) =
    Assert.Equal(expected.Length, actual.Length)

    for i in 0 .. expected.Length - 1 do
        let e, a = expected[i], actual[i]

        if not (Double.IsNaN e && Double.IsNaN a) then
            Assert.True(abs (e - a) <= tol * max 1.0 (abs e), $"{what}[{i}]: expected {e:R}, got {a:R}")

// The z-scores of the scaled and the unscaled series differ by float64 rounding only: 1000·x + 500
// is rounded to 2⁻⁵² of its ~1500 (≈ 3e-13 absolute, 3e-16 after dividing by the scale ~700), its
// mean and standard deviation to a few more ulps, so the normalised inputs agree to ~1e-15
// relative. Two epochs of training here carry that to ~5e-16 in the losses and the parameters
// (measured); 1e-12 leaves a factor 1000 for other rounding orders and still tells the same run from
// any other: a different normalisation (fitted on the whole series, or none) changes the losses in
// their first digits.
let private roundingTol = 1e-12

let private trainArgs (data: string) (cfg: string) (out: string) (extra: string list) =
    train data cfg out ([ "--batch-size"; "4" ] @ extra)

/// `tidhy eval --model model --data data --out out` with `extra` options.
let private evalArgs (model: string) (data: string) (out: string) (extra: string list) =
    run ([ "eval"; "--model"; model; "--data"; data; "--out"; out ] @ extra)

let private ok (code: int, stdout: string, err: string) =
    Assert.True((code = 0), $"exit {code}: {stdout}\n{err}")
    stdout, err

[<Fact>]
let ``train z-scores with the training split's statistics: a series ×1000 + 500 trains to the same losses and model``
    ()
    =
    let dir = tempDir ()
    let series = values 120
    let plain = writeMapped dir "plain.csv" series (fun _ x -> x)
    let big = writeMapped dir "big.csv" series scaled
    let cfg = writeConfig dir ""
    let runPlain, runBig = Path.Combine(dir, "plain"), Path.Combine(dir, "big")
    let out, _ = trainArgs plain cfg runPlain [] |> ok
    trainArgs big cfg runBig [] |> ok |> ignore

    // The default --val-fraction 0.1 holds out the last 12 of 120 steps: the normalisation is the
    // mean and population standard deviation of the first 108 only.
    let n = Normalising.read (Path.Combine(runPlain, "normalisation.json"))
    let train = 108

    for d in 0..2 do
        let column = [| for t in 0 .. train - 1 -> series[t, d] |]
        let mean = Array.average column
        let std = sqrt (column |> Array.averageBy (fun x -> (x - mean) ** 2.0))
        Assert.Equal(mean, n.Offset[d], 1e-12)
        Assert.Equal(std, n.Scale[d], 1e-12)
        // Not the whole series' statistics (they differ far beyond the 1e-12 above).
        let whole = Array.average [| for t in 0..119 -> series[t, d] |]
        Assert.True(abs (whole - mean) > 1e-6, $"feature {d + 1}: the whole series' mean {whole} ≈ {mean}")

    Assert.Contains(
        "Normalised: each feature z-scored with the mean and standard deviation of the 108 training steps",
        out
    )

    let nBig = Normalising.read (Path.Combine(runBig, "normalisation.json"))
    assertClose "offset" 1e-12 (n.Offset |> Array.map (scaled 0)) nBig.Offset
    assertClose "scale" 1e-12 (n.Scale |> Array.map ((*) 1000.0)) nBig.Scale

    let lp, lb = losses runPlain, losses runBig
    Assert.Equal(2, lp.Length)

    for e in 0 .. lp.Length - 1 do
        assertClose $"metrics.csv row {e + 1}" roundingTol lp[e] lb[e]

    assertClose
        "model.json"
        roundingTol
        (jsonNumbers (Path.Combine(runPlain, "model.json")))
        (jsonNumbers (Path.Combine(runBig, "model.json")))

    // Without the normalisation the scaled series trains to other losses: the comparison above
    // can fail.
    let runRaw = Path.Combine(dir, "raw")
    trainArgs big cfg runRaw [ "--no-normalise" ] |> ok |> ignore
    Assert.False(File.Exists(Path.Combine(runRaw, "normalisation.json")))
    let lr = losses runRaw
    let raw0, normalised0 = lr[0][1], lb[0][1]
    Assert.True(abs (raw0 - normalised0) > 1e-3 * abs normalised0, $"{raw0} vs {normalised0}")

/// eval's losses (metrics.csv: one row).
let private evalLosses (dir: string) = (losses dir)[0]

[<Fact>]
let ``eval applies the run's stored normalisation; a run folder without one evaluates the data as given`` () =
    let dir = tempDir ()
    let series = values 120
    let big = writeMapped dir "big.csv" series scaled
    let cfg = writeConfig dir ""
    let run1 = Path.Combine(dir, "run")
    trainArgs big cfg run1 [] |> ok |> ignore

    let ev1 = Path.Combine(dir, "eval1")

    let out, _ = evalArgs (Path.Combine(run1, "last.tidhy.json")) big ev1 [] |> ok

    Assert.Contains("Normalised " + big, out)

    // The same model in a folder without normalisation.json (as a run made before it existed)
    // evaluates the data as given: here the series z-scored by this test with the training split's
    // mean and standard deviation (the first 108 of 120 steps).
    let old = Path.Combine(dir, "old")
    Directory.CreateDirectory old |> ignore
    File.Copy(Path.Combine(run1, "last.tidhy.json"), Path.Combine(old, "last.tidhy.json"))
    let bigValues = Array2D.init 120 3 (fun t d -> scaled d series[t, d])

    let z =
        Array2D.init 120 3 (fun t d ->
            let column = [| for s in 0..107 -> bigValues[s, d] |]
            let mean = Array.average column
            let std = sqrt (column |> Array.averageBy (fun x -> (x - mean) ** 2.0))
            (bigValues[t, d] - mean) / std)

    let zPath = writeMapped dir "z.csv" z (fun _ x -> x)
    let ev2 = Path.Combine(dir, "eval2")

    let out2, err2 = evalArgs (Path.Combine(old, "last.tidhy.json")) zPath ev2 [] |> ok

    Assert.DoesNotContain("Normalised", out2)
    Assert.DoesNotContain("far from unit scale", err2)
    assertClose "eval losses" roundingTol (evalLosses ev2) (evalLosses ev1)

    // And the old folder on the raw scaled series: other losses (the data as given), and a warning
    // that names the missing file (a checkpoint moved without its normalisation.json).
    let ev3 = Path.Combine(dir, "eval3")

    let _, err3 = evalArgs (Path.Combine(old, "last.tidhy.json")) big ev3 [] |> ok

    Assert.Contains("is far from unit scale and is not normalised", err3)
    let moved = Path.Combine(old, "last.tidhy.json")
    Assert.Contains($"the folder of {moved} has no normalisation.json", err3)
    let raw, normalised = (evalLosses ev3)[0], (evalLosses ev1)[0]
    Assert.True(abs (raw - normalised) > 1e-3 * abs normalised, $"{raw} vs {normalised}")

[<Fact>]
let ``--no-normalise warns about the feature farthest from unit scale, and not about data near it`` () =
    let dir = tempDir ()
    let series = values 120
    // Only feature 2 is far from unit scale.
    let data =
        writeMapped dir "one.csv" series (fun d x -> if d = 1 then 1000.0 * x + 500.0 else x)

    let cfg = writeConfig dir ""
    let _, err = trainArgs data cfg (Path.Combine(dir, "a")) [ "--no-normalise" ] |> ok

    Assert.Contains(
        "Warning: the training data ("
        + data
        + ") is far from unit scale and is not normalised: feature 2 has mean",
        err
    )

    Assert.Equal(1, err.Split("far from unit scale").Length - 1)
    Assert.Contains("thresholds: |mean| > 10·std, or std outside [0.01, 100]", err)

    // A mean 20 standard deviations from zero with unit-scale spread: feature 3.
    let offset =
        writeMapped dir "offset.csv" series (fun d x -> if d = 2 then x + 20.0 else x)

    let _, err =
        trainArgs offset cfg (Path.Combine(dir, "b")) [ "--no-normalise" ] |> ok

    Assert.Contains("is far from unit scale and is not normalised: feature 3 has mean", err)

    // Near unit scale: no warning; normalised (the default): no warning either.
    let plain = writeMapped dir "plain.csv" series (fun _ x -> x)
    let _, err = trainArgs plain cfg (Path.Combine(dir, "c")) [ "--no-normalise" ] |> ok
    Assert.DoesNotContain("unit scale", err)
    let _, err = trainArgs data cfg (Path.Combine(dir, "d")) [] |> ok
    Assert.DoesNotContain("unit scale", err)

[<Fact>]
let ``--resume keeps the run's normalisation; a run trained without one resumes without`` () =
    let dir = tempDir ()
    let series = values 120
    let big = writeMapped dir "big.csv" series scaled
    let cfg = writeConfig dir ""
    let whole, split = Path.Combine(dir, "whole"), Path.Combine(dir, "split")
    trainArgs big cfg whole [ "--epochs"; "2" ] |> ok |> ignore
    trainArgs big cfg split [ "--epochs"; "1" ] |> ok |> ignore
    let stored = File.ReadAllText(Path.Combine(split, "normalisation.json"))

    let code, _, err =
        train big cfg split [ "--resume"; "--epochs"; "2"; "--no-normalise" ]

    Assert.Equal(1, code)
    Assert.Contains("a resumed run keeps its normalisation: omit --no-normalise", err)

    train big cfg split [ "--resume"; "--epochs"; "2" ] |> ok |> ignore
    Assert.Equal(stored, File.ReadAllText(Path.Combine(split, "normalisation.json")))
    // Resumed, the run is the uninterrupted one (checkpoints resume exactly).
    Assert.Equal<float[][]>(
        losses whole
        |> Array.map (Array.map (fun v -> if Double.IsNaN v then -1.0 else v)),
        losses split
        |> Array.map (Array.map (fun v -> if Double.IsNaN v then -1.0 else v))
    )

    // A run without normalisation.json (--no-normalise, or made before it existed) resumes on the
    // data as given.
    let rawWhole, rawSplit =
        Path.Combine(dir, "rawWhole"), Path.Combine(dir, "rawSplit")

    trainArgs big cfg rawWhole [ "--epochs"; "2"; "--no-normalise" ] |> ok |> ignore
    trainArgs big cfg rawSplit [ "--epochs"; "1"; "--no-normalise" ] |> ok |> ignore
    let out, _ = train big cfg rawSplit [ "--resume"; "--epochs"; "2" ] |> ok
    Assert.Contains("has no normalisation.json: it was trained on the data as given, and resumes so", out)
    Assert.False(File.Exists(Path.Combine(rawSplit, "normalisation.json")))

    Assert.Equal<float[][]>(
        losses rawWhole
        |> Array.map (Array.map (fun v -> if Double.IsNaN v then -1.0 else v)),
        losses rawSplit
        |> Array.map (Array.map (fun v -> if Double.IsNaN v then -1.0 else v))
    )

[<Fact>]
let ``--test-fraction holds out the tail of --data (and of --states) in the run folder, fitted and trained without it``
    ()
    =
    let dir = tempDir ()
    let series = values 150
    let data = writeMapped dir "data.csv" series scaled
    let states = Path.Combine(dir, "states.csv")
    File.WriteAllLines(states, [ yield "s"; for t in 0..149 -> string ((t / 15) % 2) ])
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    let stdout, _ =
        trainArgs data cfg out [ "--test-fraction"; "0.2"; "--states"; states ] |> ok

    // 150 steps: test = round(0.2·150) = 30 (steps 120..149), validation round(0.1·150) = 15
    // (105..119), training 105 (0..104): (105 − 10) / 5 + 1 = 20 windows of 10 steps, 5 apart.
    Assert.Contains("20 windows of 10 steps starting 5 apart", stdout)
    let test = Data.load (Path.Combine(out, "test.npy"))
    Assert.Equal(30, Array2D.length1 test)

    for t in 0..29 do
        for d in 0..2 do
            Assert.Equal(scaled d series[120 + t, d], test[t, d])

    let heldStates = Data.loadLabels (Path.Combine(out, "test_states.npy"))
    Assert.Equal<float[]>([| for t in 120..149 -> float ((t / 15) % 2) |], heldStates[*, 0])

    // The normalisation is the training part's (steps 0..104).
    let n = Normalising.read (Path.Combine(out, "normalisation.json"))
    let mean = Array.average [| for t in 0..104 -> scaled 0 series[t, 0] |]
    Assert.Equal(mean, n.Offset[0], 1e-9)

    // train prints the eval command for the test tail; it runs.
    let model = Path.Combine(out, "best.tidhy.json")
    let testPath = Path.Combine(out, "test.npy")
    let testStates = Path.Combine(out, "test_states.npy")

    Assert.Contains(
        $"Test: the last 30 steps of {data} are held out in {testPath}; evaluate on them with: tidhy eval --model {model} --data {testPath} --states {testStates} --out {out}-test",
        stdout
    )

    let evOut, _ =
        evalArgs model testPath (out + "-test") [ "--states"; Path.Combine(out, "test_states.npy") ]
        |> ok

    Assert.Contains("Normalised " + testPath, evOut)

    // Fractions that leave nothing to train on are a usage error.
    let code, _, err =
        train data cfg (Path.Combine(dir, "bad")) [ "--test-fraction"; "0.5"; "--val-fraction"; "0.5" ]

    Assert.Equal(2, code)
    Assert.Contains("their sum must be below 1", err)

[<Fact>]
let ``metrics.csv counts epochs from 1: the selected epoch train prints is the row with the selected validation loss``
    ()
    =
    let dir = tempDir ()
    let data = writeMapped dir "plain.csv" (values 120) (fun _ x -> x)
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")
    let stdout, _ = trainArgs data cfg out [ "--epochs"; "4" ] |> ok
    let header, rows = metricsOf out
    Assert.Equal<string[]>([| "1"; "2"; "3"; "4" |], rows |> Array.map (fun r -> r[0]))

    let m =
        Text.RegularExpressions.Regex.Match(stdout, @"Selected epoch (\d+) of 4 by the lowest loss [^:]*: ([0-9.]+)\.")

    Assert.True(m.Success, stdout)
    let epoch = int m.Groups[1].Value
    let validation = Array.IndexOf(header, "validation")

    let row = rows |> Array.find (fun r -> r[0] = string epoch)
    let value (r: string[]) = Double.Parse(r[validation], invariant)
    Assert.Equal(m.Groups[2].Value, (value row).ToString("F4", invariant))
    // It is the lowest validation loss of the four.
    Assert.Equal(rows |> Array.map value |> Array.min, value row)

[<Fact>]
let ``train cuts its windows with windowsStrided and the configuration's overlap as the stride, not Series.windows``
    ()
    =
    let dir = tempDir ()
    let data = writeMapped dir "plain.csv" (values 120) (fun _ x -> x)
    // overlap 3: windows 3 apart (Series.windows 10 3 would put them 7 apart).
    let cfg = Path.Combine(dir, "config.json")

    File.WriteAllText(
        cfg,
        """{"r_dim": 3, "r2_dim": 2, "mix_dim": 4, "hyper_hid_dim": 8, "max_iter": 20, "tol": 0.01,
            "sequence_length": 10, "overlap": 3, "num_epochs": 1}"""
    )

    let out = Path.Combine(dir, "run")
    let stdout, _ = trainArgs data cfg out [ "--no-normalise"; "--epochs"; "1" ] |> ok
    // (108 − 10) / 3 + 1 = 33 windows.
    Assert.Contains("33 windows of 10 steps starting 3 apart", stdout)
    let run = (Checkpoint.read (Path.Combine(out, Train.LastCheckpoint))).Run.Value
    // The training part: the first 108 of 120 steps (the last 12 validate).
    let train = (Data.load data)[0..107, *]
    Assert.Equal(Train.fingerprint (Series.windowsStrided 10 3 train), run.TrainSha256)
    Assert.NotEqual<string>(Train.fingerprint (Series.windows 10 3 train), run.TrainSha256)

[<Fact>]
let ``A sweep's normalise key passes --no-normalise to each task's train when false; it defaults to true`` () =
    let dir = tempDir ()
    let data = writeMapped dir "plain.csv" (values 120) (fun _ x -> x)

    let sweep (extra: string) =
        let text = $"""{{"data": "{data}"{extra}}}"""
        SweepFile.ofJson "sweep.json" dir (JsonNode.Parse(text).AsObject())

    let trainOf (s: SweepFile.Sweep) =
        SweepPlan.trainArgs dir s (SweepFile.expand s).Head

    Assert.DoesNotContain("--no-normalise", trainOf (sweep ""))
    Assert.DoesNotContain("--no-normalise", trainOf (sweep """, "normalise": true"""))
    Assert.Contains("--no-normalise", trainOf (sweep """, "normalise": false"""))
    // The manifest's JSON keeps it.
    let off = sweep """, "normalise": false"""
    let json = SweepFile.toJson off
    let written = json["normalise"].GetValue<bool>()
    Assert.False(written)

    let msg =
        try
            sweep """, "normalise": "no" """ |> ignore
            ""
        with TiDHy.Cli.Args.UserError m ->
            m

    Assert.Contains("normalise: expected true or false", msg)
