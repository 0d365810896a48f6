/// The `tidhy` commands as a user runs them, on tiny inputs: exit codes, the files written and the
/// messages for bad input. The commands run in-process (`Program.main`) with the console captured;
/// the tests of this module run one after another.
module TiDHy.Cli.Tests.CliTests

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open TiDHy.Cli
open TiDHy.Functional
open Xunit

let private gate = obj ()

/// Runs `command ()` (a command's exit code) with the console captured, one at a time; returns the
/// exit code, standard output and standard error.
let internal captured (command: unit -> int) =
    lock gate (fun () ->
        let out, err = new StringWriter(), new StringWriter()
        let oldOut, oldErr = Console.Out, Console.Error
        Console.SetOut out
        Console.SetError err

        try
            let code = command ()
            code, out.ToString(), err.ToString()
        finally
            Console.SetOut oldOut
            Console.SetError oldErr)

/// Runs `tidhy args` and returns the exit code, standard output and standard error.
let run (args: string list) =
    captured (fun () -> TiDHy.Cli.Program.main (List.toArray args))

/// Runs `tidhy train --data data --config config --out out` and the `extra` arguments.
let train (data: string) (config: string) (out: string) (extra: string list) =
    run ([ "train"; "--data"; data; "--config"; config; "--out"; out ] @ extra)

let internal tempDir () =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-cli-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

/// A small series `[time; 3]` written as CSV with a header.
let internal writeSeries (dir: string) (name: string) (time: int) =
    let path = Path.Combine(dir, name)

    let lines =
        [
            yield "a,b,c"
            for t in 0 .. time - 1 do
                let f = if (t / 15) % 2 = 0 then 0.2 else 0.5

                yield
                    String.Join(
                        ",",
                        [
                            for d in 0..2 ->
                                (sin (f * float t + float d)).ToString("R", Globalization.CultureInfo.InvariantCulture)
                        ]
                    )
        ]

    File.WriteAllLines(path, lines)
    path

let internal writeConfig (dir: string) (extra: string) =
    let path = Path.Combine(dir, $"config-{Guid.NewGuid():N}.json")

    File.WriteAllText(
        path,
        $"""{{"r_dim": 3, "r2_dim": 2, "mix_dim": 4, "hyper_hid_dim": 8, "max_iter": 20, "tol": 0.01,
            "sequence_length": 10, "overlap": 5, "num_epochs": 2{extra}}}"""
    )

    path

let internal expectFiles (dir: string) (names: string list) =
    for n in names do
        Assert.True(File.Exists(Path.Combine(dir, n)), $"{n} missing in {dir}")

/// The report in `dir` is one self-contained page: plotly.js inlined once, no external script, no
/// SVG files beside it, and a chart for each of `titles` (Plotly layout titles).
let internal expectReport (dir: string) (titles: string list) =
    let html = File.ReadAllText(Path.Combine(dir, "index.html"))
    let count (s: string) = html.Split(s).Length - 1
    Assert.Equal(1, count "* plotly.js v")
    Assert.Equal(0, count "<script src=")
    Assert.Empty(Directory.GetFiles(dir, "*.svg"))
    Assert.Equal(titles.Length, count "<figure class=\"chart\">")

    for t in titles do
        Assert.Contains(t, html)

    Assert.Contains("\"format\":\"svg\"", html)

[<Fact>]
let ``Help lists every command and each command's options; a bad command is a usage error`` () =
    let code, out, _ = run [ "--help" ]
    Assert.Equal(0, code)

    for c in [ "demo"; "train"; "eval"; "import-torch" ] do
        Assert.Contains(c, out)

    let code, out, _ = run [ "train"; "--help" ]
    Assert.Equal(0, code)
    Assert.Contains("--data", out)
    Assert.Contains("--resume", out)
    let code, out, _ = run [ "eval"; "--help" ]
    Assert.Equal(0, code)
    Assert.Contains("--model", out)
    let code, _, err = run [ "frobnicate" ]
    Assert.Equal(2, code)
    Assert.Contains("frobnicate", err)
    let code, _, err = run [ "train"; "--out"; "x" ]
    Assert.Equal(2, code)
    Assert.Contains("--data", err)

[<Fact>]
let ``train writes checkpoints, the model, metrics and a report, and resumes only when asked`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 120
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    let code, stdout, err =
        run [ "train"; "--data"; data; "--config"; cfg; "--out"; out; "--batch-size"; "4" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("epoch 2/2", stdout)

    expectFiles
        out
        [
            "config.json"
            "last.tidhy.json"
            "best.tidhy.json"
            "model.json"
            "metrics.csv"
            "index.html"
        ]

    expectReport
        out
        [
            "Loss curves"
            "Data, reconstruction"
            "Latents r and r2"
            "Mixture weights W over time"
        ]

    Assert.Equal(3, File.ReadAllLines(Path.Combine(out, "metrics.csv")).Length)
    let code, _, err = run [ "train"; "--data"; data; "--config"; cfg; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("--resume", err)

    let code, _, err =
        train data cfg out [ "--resume"; "--epochs"; "3"; "--batch-size"; "4" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Equal(4, File.ReadAllLines(Path.Combine(out, "metrics.csv")).Length)
    let read = Checkpoint.read (Path.Combine(out, "last.tidhy.json"))
    let stored, state = read.Config, read.State
    Assert.Equal(3, state.Epoch)
    Assert.Equal(3, stored.InputDim)

[<Fact>]
let ``--backend takes the configuration's engine names: the run records the one named; an unknown name lists them`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 80
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    // The configuration says nothing of the backend (default Fused); --backend names another, in
    // the spellings the configuration's backend key takes.
    let code, _, err =
        train data cfg out [ "--batch-size"; "4"; "--epochs"; "1"; "--backend"; "Reference" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Equal(Backend.Reference, (Checkpoint.read (Path.Combine(out, "last.tidhy.json"))).Config.Backend)
    Assert.Contains("\"backend\": \"Reference\"", File.ReadAllText(Path.Combine(out, "config.json")))

    // Resumed with the same flags, the configuration matches the checkpoint's.
    let code, _, err =
        train data cfg out [ "--resume"; "--batch-size"; "4"; "--epochs"; "2"; "--backend"; "Reference" ]

    Assert.True((code = 0), $"exit {code}: {err}")

    let ev = Path.Combine(dir, "ev")

    let code, _, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(out, "best.tidhy.json")
                "--data"
                data
                "--out"
                ev
                "--backend"
                "FusedFloat32"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")

    let code, _, err =
        train data cfg (Path.Combine(dir, "other")) [ "--backend"; "nosuch" ]

    Assert.Equal(2, code)

    for name in [ "core"; "Reference"; "Fused"; "FusedFloat32" ] do
        Assert.Contains(name, err)

    // The names are the configuration's, case and all; a near miss says which was meant.
    let code, _, err =
        train data cfg (Path.Combine(dir, "other")) [ "--backend"; "fused" ]

    Assert.Equal(2, code)
    Assert.Contains("did you mean Fused?", err)

    Assert.False(Directory.Exists(Path.Combine(dir, "other")))

    // A device goes with a registered backend only.
    let code, _, err =
        train data cfg (Path.Combine(dir, "other")) [ "--backend"; "Fused"; "--device"; "cpu" ]

    Assert.Equal(2, code)
    Assert.Contains("--device", err)

[<Fact>]
let ``eval writes the record as npz and a report, from a checkpoint or a state_dict with its config`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 80
    let cfg = writeConfig dir ""
    let run1 = Path.Combine(dir, "run")

    let code, _, err =
        run [ "train"; "--data"; data; "--config"; cfg; "--out"; run1; "--epochs"; "1" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let out = Path.Combine(dir, "eval")

    let code, stdout, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(run1, "last.tidhy.json")
                "--data"
                data
                "--out"
                out
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    // By default one continuous pass over the 80 steps.
    Assert.Contains("Evaluated continuously: one pass over 80 steps", stdout)
    expectFiles out [ "record.npz"; "metrics.csv"; "index.html" ]

    expectReport
        out
        [
            "Data, reconstruction"
            "Latents r and r2"
            "Mixture weights W over time"
            "Timescales without labels"
        ]

    let entries = Npy.readNpz (Path.Combine(out, "record.npz")) |> Map.ofArray
    Assert.Equal<int[]>([| 1; 80; 3 |], entries["I_hat"].Shape)
    Assert.Equal<int[]>([| 1; 80; 3; 3 |], entries["Ut"].Shape)

    let evalWith (name: string) (extra: string list) =
        run (
            [
                "eval"
                "--model"
                Path.Combine(run1, "last.tidhy.json")
                "--data"
                data
                "--out"
                Path.Combine(dir, name)
            ]
            @ extra
        )

    let recordOf (name: string) =
        Npy.readNpz (Path.Combine(dir, name, "record.npz")) |> Map.ofArray

    // --window: upstream's evaluation, each window from a zero state.
    let code, stdout, err = evalWith "restarting" [ "--window"; "10" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("in 8 windows of 10 steps, each from a zero state", stdout)
    Assert.Equal<int[]>([| 8; 10; 3 |], (Map.find "I_hat" (recordOf "restarting")).Shape)
    // --window with --carry: window by window, the numbers of the continuous pass.
    let code, stdout, err = evalWith "carried" [ "--window"; "20"; "--carry" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("continuously in 4 windows of 20 steps", stdout)
    Assert.Equal<float[]>(entries["R2_hat"].Data, (Map.find "R2_hat" (recordOf "carried")).Data)

    // With --states: the decoding table, the ARHMM baseline and the timescales against the truth.
    let states = Path.Combine(dir, "states.csv")
    File.WriteAllLines(states, Array.init 80 (fun t -> string (t / 10 % 2)))

    let code, stdout, err =
        evalWith "measured" [ "--states"; states; "--true-timescales"; "5, 10.5" ]

    Assert.True((code = 0), $"exit {code}: {err}")

    for line in
        [
            "Decoding the state (2 classes) from 80 evaluated steps: held-out 10-step blocks first"
            "I with 10 lags"
            "untrained R2_hat"
            "ARHMM states (2), matched"
            "V_t, trained"
            "true                   5.0, 10.5"
            "In short: on held-out blocks the model's"
        ] do
        Assert.Contains(line, stdout)

    Assert.Contains("decoding from R2_hat", File.ReadAllText(Path.Combine(dir, "measured", "index.html")))

    // measures.json holds the numbers the table printed: each row's held-out-block kNN and linear
    // accuracy (mean ± std, as printed to 3 decimals), the ARHMM's, and the timescales' counts.
    let measures =
        JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "measured", "measures.json"))).AsObject()

    let decoding = measures["decoding"]
    let rows = decoding["rows"].AsArray() |> Seq.toList
    Assert.Equal(8, rows.Length)

    let f3 (v: JsonNode) =
        v.GetValue<float>().ToString("F3", Globalization.CultureInfo.InvariantCulture)

    let spread (o: JsonNode) (key: string) =
        let std = key + "_std"
        $"{f3 o[key]} ± {f3 o[std]}"

    for row in rows do
        let name = row["name"].GetValue<string>()

        let printed =
            stdout.Split('\n') |> Array.find (fun l -> l.TrimStart().StartsWith(name + " "))

        Assert.Contains(spread row "block_knn", printed)
        Assert.Contains(spread row "block_linear", printed)

    Assert.Contains(spread measures["arhmm"] "matched_accuracy", stdout)

    let vt =
        measures["timescales"].AsArray()
        |> Seq.find (fun t -> t["source"].GetValue<string>() = "V_t, trained")

    Assert.Equal(2, vt["truth"].GetValue<int>())
    let matched = vt["matched"].GetValue<int>()
    Assert.Contains($"recovers {matched} of 2 true", stdout)
    Assert.Equal(80, measures["steps"].GetValue<int>())

    // One state throughout: every decoder is right, and eval says so.
    let oneState = Path.Combine(dir, "one-state.csv")
    File.WriteAllLines(oneState, Array.create 80 "3")
    let code, _, err = evalWith "one-state" [ "--states"; oneState ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("every evaluated step has the same state", err)

    for extra, says in
        [
            [ "--true-timescales"; "5,-1" ], "--true-timescales: '-1'"
            [ "--carry" ], "--carry goes with --window"
            [ "--window"; "81" ], "--window 81: longer than the 80 steps"
            [ "--window"; "0" ], "--window"
        ] do
        let code, _, err = evalWith "bad" extra
        Assert.True((code = 1 || code = 2), $"exit {code} for {extra}: {err}")
        Assert.Contains(says, err)

    let model = Path.Combine(run1, "model.json")
    let out2 = Path.Combine(dir, "eval2")
    let code, _, err = run [ "eval"; "--model"; model; "--data"; data; "--out"; out2 ]
    Assert.Equal(1, code)
    Assert.Contains("--config", err)
    // In a run folder the error names the checkpoint and the configuration beside the state_dict.
    let best = Path.GetFullPath(Path.Combine(run1, "best.tidhy.json"))
    let beside = Path.GetFullPath(Path.Combine(run1, "config.json"))
    Assert.Contains($"--model {best}", err)
    Assert.Contains($"--config {beside}", err)

    let code, _, err =
        run [ "eval"; "--model"; model; "--config"; cfg; "--data"; data; "--out"; out2 ]

    Assert.True((code = 0), $"exit {code}: {err}")

[<Fact>]
let ``train holds out the rounded last fraction and eval evaluates a stateful model continuously`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 59
    let cfg = writeConfig dir ", \"stateful\": true"
    let run1 = Path.Combine(dir, "run")

    // 0.5 × 59 = 29.5 held-out steps round to 30 (Series.splitTail): 29 training steps hold 4
    // windows starting 5 apart, the 30 held out 3 windows of 10.
    let code, stdout, err =
        train data cfg run1 [ "--epochs"; "1"; "--val-fraction"; "0.5"; "--batch-size"; "1" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("4 windows of 10 steps starting 5 apart, 3 validation windows", stdout)
    // 0.1 × 59 = 5.9 rounds to 6 held-out steps, fewer than a window.
    let code, stdout, err =
        train data cfg (Path.Combine(dir, "run2")) [ "--epochs"; "1"; "--batch-size"; "1" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("the held-out 6 steps are fewer than one window of 10", stdout)
    let out = Path.Combine(dir, "eval")

    let code, stdout, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(run1, "best.tidhy.json")
                "--data"
                data
                "--out"
                out
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Evaluated continuously: one pass over 59 steps", stdout)
    let entries = Npy.readNpz (Path.Combine(out, "record.npz")) |> Map.ofArray
    Assert.Equal<int[]>([| 1; 59; 3 |], entries["I_hat"].Shape)

[<Fact>]
let ``import-torch turns an upstream state_dict into a checkpoint that eval uses`` () =
    let dir = tempDir ()

    let fixture =
        Path.Combine(TiDHy.Functional.Tests.TestUtil.referenceDir, "mse_linear.json")

    use doc = JsonDocument.Parse(File.ReadAllText fixture)
    let sd = Path.Combine(dir, "state_dict.json")
    File.WriteAllText(sd, doc.RootElement.GetProperty("params").GetRawText())
    let cfgPath = Path.Combine(dir, "config.json")
    File.WriteAllText(cfgPath, doc.RootElement.GetProperty("config").GetRawText())
    let ckpt = Path.Combine(dir, "imported.tidhy.json")

    let code, stdout, err =
        run [ "import-torch"; "--state-dict"; sd; "--config"; cfgPath; "--out"; ckpt ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Imported", stdout)
    let read = Checkpoint.read ckpt
    let cfg, state = read.Config, read.State

    let expected =
        ParamLayout.toParams cfg (StateDict.ofJsonElement (doc.RootElement.GetProperty "params"))

    Assert.Equal(expected, state.Params)
    // A state_dict that does not fit the configuration names the tensor.
    let wrong = Path.Combine(dir, "wrong.json")

    let cfgNode =
        Nodes.JsonNode.Parse(doc.RootElement.GetProperty("config").GetRawText())

    cfgNode["r_dim"] <- Nodes.JsonValue.Create 5
    File.WriteAllText(wrong, cfgNode.ToJsonString())

    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                sd
                "--config"
                wrong
                "--out"
                ckpt
                "--force"
            ]

    Assert.Equal(1, code)
    Assert.Contains("temporal", err)

[<Fact>]
let ``Bad input gives exit code 1 and a message naming the file, line or key`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    let code, _, err =
        run [ "train"; "--data"; Path.Combine(dir, "missing.csv"); "--out"; out ]

    Assert.Equal(1, code)
    Assert.Contains("missing.csv", err)
    let ragged = Path.Combine(dir, "ragged.csv")
    File.WriteAllLines(ragged, [ "1,2,3"; "4,5"; "6,7,8" ])
    let code, _, err = run [ "train"; "--data"; ragged; "--config"; cfg; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("ragged.csv", err)
    Assert.Contains("2", err)
    let badKey = writeConfig dir ", \"r_dimm\": 3"
    let code, _, err = run [ "train"; "--data"; data; "--config"; badKey; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("r_dimm", err)
    let wrongDim = writeConfig dir ", \"input_dim\": 7"

    let code, _, err =
        run [ "train"; "--data"; data; "--config"; wrongDim; "--out"; out ]

    Assert.Equal(1, code)
    Assert.Contains("input_dim", err)
    let short = writeSeries dir "short.csv" 5

    let code, _, err = train short cfg out [ "--val-fraction"; "0" ]

    Assert.Equal(1, code)
    Assert.Contains("sequence_length", err)
    // The series holds values in [-1, 1]: outside BCE's [0, 1] and Poisson's [0, ∞), named by file.
    for loss in [ "BCE"; "Poisson" ] do
        let lossCfg = writeConfig dir $", \"loss_type\": \"{loss}\""

        let code, _, err = train data lossCfg (Path.Combine(dir, $"out-{loss}")) []

        Assert.Equal(1, code)
        Assert.Contains("series.csv", err)
        Assert.False(File.Exists(Path.Combine(dir, $"out-{loss}", "last.tidhy.json")))

    let corrupt = Path.Combine(dir, "corrupt.tidhy.json")
    File.WriteAllText(corrupt, "TIDHY-CHECKPOINT 1 sha256=00\n{}")
    let code, _, err = run [ "eval"; "--model"; corrupt; "--data"; data; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("corrupt", err)

[<Fact>]
let ``demo writes a report folder`` () =
    let out = Path.Combine(tempDir (), "demo")
    let code, stdout, err = run [ "demo"; "--epochs"; "1"; "--out"; out ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Report:", stdout)
    // The best model is chosen by decoding the validation states from R2_hat (after the last epoch).
    Assert.Contains("Selected the model of epoch 1: the best kNN decoding of the validation states from R2_hat", stdout)
    // The measures: the decoding table (blocks first) with its baselines, the label-free
    // timescales against the truth and the untrained model, the paper's read-out, one sentence.
    for line in
        [
            "Test steps, evaluated continuously"
            "held-out 100-step blocks first"
            "R2_hat "
            "untrained R2_hat"
            "I (raw input)"
            "I with 10 lags"
            "ARHMM posteriors (8 states)"
            "ARHMM states (8), matched"
            "chance "
            "Timescales without labels"
            "V_t, trained"
            "V_t, untrained"
            "ARHMM A_k"
            "The paper's read-out"
            "In short: on held-out blocks the model's"
        ] do
        Assert.Contains(line, stdout)

    let page = File.ReadAllText(Path.Combine(out, "index.html"))
    Assert.Contains("decoding from R2_hat: 100-step blocks kNN", page)
    Assert.Contains("timescales without labels: V_t, trained", page)

    expectFiles out [ "index.html"; "record.npz"; "model.json"; "metrics.csv" ]

    expectReport
        out
        [
            "Loss curves"
            "Data, reconstruction"
            "Latents r and r2"
            "True discrete states (top) and mixture weights W"
            "Decoding accuracy of the state"
            "Timescales without labels"
        ]

[<Fact>]
let ``bench prints one JSON line per implementation and batch size`` () =
    let code, stdout, err = run [ "bench"; "--batch"; "4"; "--json"; "--no-reference" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    let lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    Assert.Equal(3, lines.Length)

    for line in lines do
        use doc = JsonDocument.Parse line
        Assert.Equal(4, doc.RootElement.GetProperty("batch").GetInt32())

    Assert.Contains("\"sample_iterations_per_second\"", lines[1])

    // Each row stands beside the FMA limit measured in the same run: its share is its throughput
    // over that limit, float32 rows against the float32 limit and float64 rows against half of it.
    let limits =
        [
            for line in lines |> Array.filter (fun l -> not (l.Contains "\"skipped\"")) do
                use doc = JsonDocument.Parse line
                let row = doc.RootElement
                let limit = row.GetProperty("fma_limit_sample_iterations_per_second").GetDouble()
                let sips = row.GetProperty("sample_iterations_per_second").GetDouble()
                Assert.True(limit > 0.0 && Double.IsFinite limit, line)
                Assert.Equal(sips / limit, row.GetProperty("share_of_fma_limit").GetDouble(), 12)
                row.GetProperty("impl").GetString(), limit
        ]
        |> Map.ofList

    Assert.Equal(limits["fused-float32"] / 2.0, limits["fused-float64"], 6)
    let code, _, err = run [ "bench"; "--batch"; "0" ]
    Assert.Equal(2, code)
    Assert.Contains("--batch", err)

[<Fact>]
let ``bench train prints a machine line and one JSON line per backend and setting`` () =
    let code, stdout, err =
        run
            [
                "bench"
                "train"
                "--windows"
                "2"
                "--length"
                "4"
                "--steps"
                "1"
                "--impl"
                "fused-float64,fused-float32"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    Assert.Equal(5, lines.Length)

    use machine = JsonDocument.Parse lines[0]
    Assert.True(machine.RootElement.GetProperty("machine").GetProperty("cores").GetInt32() >= 1)

    let cases =
        [
            for line in lines[1..] do
                use doc = JsonDocument.Parse line
                let e = doc.RootElement
                Assert.Equal(2, e.GetProperty("batch").GetInt32())
                Assert.Equal(4, e.GetProperty("length").GetInt32())

                for field in
                    [
                        "seconds_per_step"
                        "ms_per_step"
                        "windows_per_second"
                        "iterations_per_step"
                    ] do
                    let v = e.GetProperty(field).GetDouble()
                    Assert.True(v > 0.0 && Double.IsFinite v, $"{field} = {v} in {line}")

                Assert.True(e.GetProperty("threads").GetInt32() >= 1)

                e.GetProperty("impl").GetString(),
                e.GetProperty("setting").GetString(),
                e.GetProperty("precision").GetString()
        ]

    Assert.Equal<(string * string * string) list>(
        [
            "fused-float64", "fixed", "float64"
            "fused-float32", "fixed", "float32"
            "fused-float64", "converge", "float64"
            "fused-float32", "converge", "float32"
        ],
        cases
    )

    // The fixed setting runs every inference step to max_iter 50: 3 inference steps of a 4-step window.
    use fixedCase = JsonDocument.Parse lines[1]
    Assert.Equal(150.0, fixedCase.RootElement.GetProperty("iterations_per_step").GetDouble())

    for bad in
        [
            [ "--impl"; "fused" ]
            [ "--setting"; "slow" ]
            [ "--length"; "1" ]
            [ "--steps"; "0" ]
        ] do
        let code, _, err = run ([ "bench"; "train" ] @ bad)
        Assert.Equal(2, code)
        Assert.Contains(bad[0], err)

[<Fact>]
let ``bench batch and window counts beyond an array or the memory are usage errors naming the option`` () =
    for args, option in
        [
            [ "bench"; "--batch"; "2147483647"; "--no-reference" ], "--batch"
            [ "bench"; "--batch"; "1,40000000"; "--no-reference" ], "--batch"
            [ "bench"; "train"; "--windows"; "2147483647" ], "--windows"
        ] do
        let code, out, err = run args
        let shown = String.Join(" ", args)
        Assert.True((code = 2), $"{shown}: exit {code}: {err}")
        Assert.StartsWith($"tidhy: {option}: ", err)
        Assert.DoesNotContain("unexpected", err)
        Assert.Equal(1, err.Trim().Split('\n').Length)
        Assert.Equal("", out)

[<Fact>]
let ``import-torch takes the configuration train accepts: input_dim from the state_dict, checked when given`` () =
    let dir = tempDir ()

    let fixture =
        Path.Combine(TiDHy.Functional.Tests.TestUtil.referenceDir, "mse_nonlin_r2dec_sparse.json")

    use doc = JsonDocument.Parse(File.ReadAllText fixture)
    let sd = Path.Combine(dir, "state_dict.json")
    File.WriteAllText(sd, doc.RootElement.GetProperty("params").GetRawText())

    let cfgNode =
        Nodes.JsonNode.Parse(doc.RootElement.GetProperty("config").GetRawText()).AsObject()

    let expectedDim = cfgNode["input_dim"].GetValue<int>()
    // As for train: no input_dim in the file.
    cfgNode.Remove "input_dim" |> ignore
    let cfgPath = Path.Combine(dir, "config.json")
    File.WriteAllText(cfgPath, cfgNode.ToJsonString())
    let ckpt = Path.Combine(dir, "imported.tidhy.json")

    let code, _, err =
        run [ "import-torch"; "--state-dict"; sd; "--config"; cfgPath; "--out"; ckpt ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let stored = Checkpoint.read ckpt
    let cfg, state = stored.Config, stored.State
    Assert.Equal(expectedDim, cfg.InputDim)
    Assert.True(cfg.NonlinDecoder)

    Assert.Equal(
        ParamLayout.toParams cfg (StateDict.ofJsonElement (doc.RootElement.GetProperty "params")),
        state.Params
    )

    // A given input_dim that the state_dict contradicts is an error naming both.
    cfgNode["input_dim"] <- Nodes.JsonValue.Create(expectedDim + 1)
    File.WriteAllText(cfgPath, cfgNode.ToJsonString())
    let other = Path.Combine(dir, "contradicted.tidhy.json")

    let code, _, err =
        run [ "import-torch"; "--state-dict"; sd; "--config"; cfgPath; "--out"; other ]

    Assert.Equal(1, code)
    Assert.Contains($"input_dim = {expectedDim + 1}", err)
    Assert.Contains($"has {expectedDim} observation features", err)
    Assert.False(File.Exists other)

[<Fact>]
let ``Report charts decimate long series keeping spikes, and round to 4 significant digits`` () =
    let values = Array.init 100_003 (fun i -> sin (float i / 500.0))
    values[54_321] <- 7.0
    values[77_777] <- -9.0
    values[99_999] <- nan
    let x, y = TiDHy.Cli.Plots.decimate values
    Assert.InRange(x.Length, 2, TiDHy.Cli.Plots.MaxLinePoints + 2)
    Assert.Equal<int[]>(Array.sort x, x)
    Assert.Contains(54_321, x)
    Assert.Contains(77_777, x)
    Assert.Equal(7.0, y[Array.findIndex ((=) 54_321) x])
    Assert.Equal(-9.0, y[Array.findIndex ((=) 77_777) x])
    let short = [| 1.0; nan; 3.0 |]
    let xs, ys = TiDHy.Cli.Plots.decimate short
    Assert.Equal<int[]>([| 0; 1; 2 |], xs)
    Assert.True(Double.IsNaN ys[1])
    Assert.Equal(0.1235, TiDHy.Cli.Plots.round4 0.123456)
    Assert.Equal(-12346.0, TiDHy.Cli.Plots.round4 -12345.6)
    Assert.Equal(1.235e-7, TiDHy.Cli.Plots.round4 1.23456e-7, 12)

[<Fact>]
let ``train --preset sets the preset's options on the configuration, and an unknown preset is a usage error`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 120
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")

    let code, _, err =
        train data cfg out [ "--batch-size"; "4"; "--epochs"; "1"; "--preset"; "recovery" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let written = ConfigJson.parse (File.ReadAllText(Path.Combine(out, "config.json")))
    // The preset's options are set; the config file's are kept.
    Assert.Equal((0.00003, 0.003, 0.003), (written.LearningRateH, written.LearningRateS, written.LearningRateT))
    Assert.Equal((3, 20, 10), (written.RDim, written.MaxIter, written.SequenceLength))

    Assert.Equal(
        Presets.apply
            "recovery"
            { written with
                LearningRateH = 0.001
                LearningRateS = 0.01
                LearningRateT = 0.01
            },
        written
    )

    let code, _, err =
        train data cfg (Path.Combine(dir, "other")) [ "--preset"; "nosuch" ]

    Assert.Equal(2, code)
    Assert.Contains("--preset", err)
    Assert.Contains("recovery", err)
    Assert.False(Directory.Exists(Path.Combine(dir, "other")))

[<Fact>]
let ``the FMA limit counts 2 700 multiply-adds per sample-iteration of the benchmark's model, and refuses other kinds``
    ()
    =
    // By hand, for D = 20, R = 10, R2 = 5, M = 15, H = 50: the decoder 20·10, the hypernetwork 5·50 and
    // 50·15, the mixture 15·10, each forward and back: 2·(200 + 250 + 750 + 150) = 2 700.
    let cfg = InferenceBenchmark.config Backend.Fused
    Assert.Equal(2700.0, FmaLimit.multiplyAdds cfg)

    for other in
        [
            { cfg with NonlinDecoder = true }
            { cfg with UseR2Decoder = true }
            { cfg with LowRankTemp = true }
            { cfg with DynBias = true }
            { cfg with Loss = LossKind.BCE }
        ] do
        Assert.Throws<ArgumentException>(fun () -> FmaLimit.multiplyAdds other |> ignore)
        |> ignore

    let peak: FmaLimit.Peak =
        {
            Float32LaneFmasPerSecond = 2.7e9
            VectorBits = 512
            Threads = 2
        }

    Assert.Equal(1e6, FmaLimit.sampleIterationsPerSecond peak false cfg, 6)
    Assert.Equal(0.5e6, FmaLimit.sampleIterationsPerSecond peak true cfg, 6)
