/// `tidhy train --states`: decoding accuracies during training in metrics.csv, selection by them,
/// and the errors for bad states files and options.
module TiDHy.Cli.Tests.MonitorCliTests

open System
open System.IO
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

/// A states file `[time; 2]` with a header: two systems switching every 15 and 7 steps, or `cell t j`.
let private writeStates (dir: string) (name: string) (time: int) (cell: int -> int -> string) =
    let path = Path.Combine(dir, name)

    File.WriteAllLines(path, [ yield "s1,s2"; for t in 0 .. time - 1 -> $"{cell t 0},{cell t 1}" ])

    path

let private switching t j =
    string ((t / (if j = 0 then 15 else 7)) % 2)

let private metricsOf (out: string) =
    let lines = File.ReadAllLines(Path.Combine(out, "metrics.csv"))
    let header = lines[0].Split ','
    header, lines[1..] |> Array.map (fun l -> l.Split ',')

[<Fact>]
let ``train --states writes the decoding accuracies to metrics.csv and --select r2 keeps the best by them`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 200
    let states = writeStates dir "states.csv" 200 switching
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    let code, stdout, err =
        train
            data
            cfg
            out
            [
                "--batch-size"
                "4"
                "--epochs"
                "3"
                "--states"
                states
                "--select"
                "r2"
                "--monitor-every"
                "2"
            ]

    Assert.True((code = 0), $"exit {code}: {stdout}\n{err}")
    let header, rows = metricsOf out
    let r2 = Array.IndexOf(header, "r2_hat_accuracy")
    let w = Array.IndexOf(header, "w_accuracy")
    Assert.True(r2 > 0 && w = r2 + 1, String.Join(",", header))
    Assert.Equal(3, rows.Length)
    // Every 2 epochs and after the last: epochs 2 and 3 (1 and 2 from 0).
    Assert.Equal<string[]>([| ""; "" |], [| rows[0][r2]; rows[0][w] |])

    let accuracy (row: string[]) =
        Double.Parse(row[r2], Globalization.CultureInfo.InvariantCulture)

    for row in rows[1..] do
        for c in [ r2; w ] do
            let v = Double.Parse(row[c], Globalization.CultureInfo.InvariantCulture)
            Assert.InRange(v, 0.0, 1.0)

    let best =
        (Checkpoint.read (Path.Combine(out, Train.LastCheckpoint))).State.Best.Value

    Assert.Equal(TrainingMonitor.R2HatAccuracy, best.Criterion)
    let expected = if accuracy rows[2] > accuracy rows[1] then 2 else 1
    Assert.Equal(expected, best.Epoch)
    Assert.Equal(accuracy rows[best.Epoch], best.Score)
    // train says which epoch it selected (counted from 1) and its score.
    let score = best.Score.ToString("F4", Globalization.CultureInfo.InvariantCulture)
    Assert.Contains($"Selected epoch {best.Epoch + 1} of 3 by the highest r2_hat_accuracy: {score}.", stdout)

    // --val-data: the states are of the validation file.
    let valData = writeSeries dir "valid.csv" 40
    let valStates = writeStates dir "valid-states.csv" 40 switching
    let out2 = Path.Combine(dir, "run2")

    let code, stdout, err =
        run
            [
                "train"
                "--data"
                data
                "--val-data"
                valData
                "--config"
                cfg
                "--out"
                out2
                "--epochs"
                "1"
                "--states"
                valStates
                "--select"
                "w"
            ]

    Assert.True((code = 0), $"exit {code}: {stdout}\n{err}")
    let header, rows = metricsOf out2
    Assert.Contains("w_accuracy", header)
    Assert.NotEqual<string>("", rows[0][Array.IndexOf(header, "w_accuracy")])

    let best =
        (Checkpoint.read (Path.Combine(out2, Train.LastCheckpoint))).State.Best.Value

    Assert.Equal(TrainingMonitor.WAccuracy, best.Criterion)

[<Fact>]
let ``train --states refuses a states file of the wrong length or with non-integer states, naming it`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 200
    let cfg = writeConfig dir ""

    let attempt (states: string) =
        let out = Path.Combine(dir, $"run-{Guid.NewGuid():N}")

        train data cfg out [ "--epochs"; "1"; "--states"; states ]

    let short = writeStates dir "short.csv" 199 switching
    let code, _, err = attempt short
    Assert.Equal(1, code)
    Assert.Contains(short, err)
    Assert.Contains("199 rows", err)

    let fractional =
        writeStates dir "fractional.csv" 200 (fun t j -> if t = 17 && j = 1 then "0.5" else switching t j)

    let code, _, err = attempt fractional
    Assert.Equal(1, code)
    Assert.Contains(fractional, err)
    Assert.Contains("row 18, column 2", err)

    let negative =
        writeStates dir "negative.csv" 200 (fun t j -> if t = 3 then "-1" else switching t j)

    let code, _, err = attempt negative
    Assert.Equal(1, code)
    Assert.Contains(negative, err)

    let code, _, err = attempt (Path.Combine(dir, "missing.csv"))
    Assert.Equal(1, code)
    Assert.Contains("missing.csv", err)

[<Fact>]
let ``--select r2 or w without --states, a bad --select or --monitor-every are usage errors`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 200
    let states = writeStates dir "states.csv" 200 switching

    for extra, fragment in
        [
            [ "--select"; "r2" ], "need --states"
            [ "--select"; "w" ], "need --states"
            [ "--select"; "best"; "--states"; states ], "--select"
            [ "--monitor-every"; "2" ], "--monitor-every needs --states"
            [ "--monitor-every"; "0"; "--states"; states ], "--monitor-every"
            [ "--val-fraction"; "0"; "--states"; states ], "--states"
        ] do
        let out = Path.Combine(dir, $"run-{Guid.NewGuid():N}")
        let code, _, err = run ([ "train"; "--data"; data; "--out"; out ] @ extra)
        Assert.Equal(2, code)
        Assert.Contains(fragment, err)
        Assert.False(Directory.Exists out, $"{out} was created")
