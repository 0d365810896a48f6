/// `tidhy sweep`: the sweep file's checks, the grid's expansion, the manifest and `--extend`, the
/// SLURM script's text, the queue's parsing, and tiny sweeps run to the end: a task run in this
/// process, a failed one, the local executor (a real process), a task stopped by SIGTERM and resumed
/// to the same result as an uninterrupted one, status and collect. The one-node SLURM test is
/// tests/slurm/check-sweep.sh.
module TiDHy.Cli.Tests.SweepTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open TiDHy.Cli
open TiDHy.Cli.Args
open TiDHy.Cli.Tests.CliTests
open TiDHy.Cli.Tests.RunSafetyTests
open Xunit

let private parse (json: string) =
    SweepFile.ofJson "sweep.json" (Path.GetTempPath()) (JsonNode.Parse(json).AsObject())

/// The one-line error `f` raises.
let private userError (f: unit -> 'a) =
    try
        f () |> ignore
        failwith "expected an error"
    with UserError msg ->
        msg

[<Fact>]
let ``The grid expands to every combination, the last option fastest, then data seeds, then seeds`` () =
    let s =
        parse
            """{"data": "slds", "grid": {"lr_r": [0.1, 0.2], "r2_dim": [2, 3, 4]},
                "seeds": [7, 8], "data_seeds": [1, 2]}"""

    let tasks = SweepFile.expand s
    Assert.Equal(2 * 3 * 2 * 2, tasks.Length)
    Assert.Equal<int list>([ 0..23 ], tasks |> List.map _.Id)

    let show (t: SweepFile.SweepTask) =
        $"{SweepFile.pointText t}|{t.DataSeed.Value}|{t.Seed}"

    Assert.Equal("lr_r=0.1, r2_dim=2|1|7", show tasks[0])
    Assert.Equal("lr_r=0.1, r2_dim=2|1|8", show tasks[1])
    Assert.Equal("lr_r=0.1, r2_dim=2|2|7", show tasks[2])
    Assert.Equal("lr_r=0.1, r2_dim=3|1|7", show tasks[4])
    Assert.Equal("lr_r=0.2, r2_dim=2|1|7", show tasks[12])
    Assert.Equal("lr_r=0.2, r2_dim=4|2|8", show tasks[23])
    // No grid: one point; no seeds: seed 0; SLDS data without data_seeds: data seed 1.
    let one = SweepFile.expand (parse """{"data": "slds"}""")
    Assert.Equal("|1|0", show one.Head)
    Assert.Equal(1, one.Length)

[<Fact>]
let ``A sweep file reads back from its normalised JSON to the same sweep`` () =
    let s =
        parse
            """{"name": "x", "data": "slds", "slds_lengths": [300, 100, 100], "config": {"r_dim": 3},
                "preset": "recovery", "grid": {"lr_r": [0.1, 0.2], "use_r2_decoder": [true, false]},
                "seeds": [1, 2], "data_seeds": [3], "epochs": 5, "batch_size": 8, "validate_every": 2,
                "monitor_every": 2, "select": "w", "evaluate": "losses",
                "resources": {"cpus": 2, "memory": "3G", "time": "1-00:00:00"}}"""

    let text = (SweepFile.toJson s).ToJsonString()
    let again = SweepFile.ofJson "manifest" "/" (JsonNode.Parse(text).AsObject())
    Assert.Equal(text, (SweepFile.toJson again).ToJsonString())
    Assert.Equal(8, again.BatchSize)
    Assert.Equal<int list>([ 3 ], again.DataSeeds)
    Assert.Equal(Some "3G", again.Resources.Memory)
    Assert.Equal("losses", again.Evaluate)
    Assert.False(again.FullBatch)
    // "full": every training window in one batch (train --full-batch), read back as written.
    let full =
        parse """{"name": "x", "data": "slds", "slds_lengths": [300, 100, 100], "batch_size": "full"}"""

    Assert.True(full.FullBatch)
    let fullText = (SweepFile.toJson full).ToJsonString()
    Assert.Contains("\"batch_size\":\"full\"", fullText)
    Assert.True((SweepFile.ofJson "manifest" "/" (JsonNode.Parse(fullText).AsObject())).FullBatch)

    let args =
        SweepPlan.trainArgs
            "/sweep"
            full
            {
                Id = 0
                Options = []
                Seed = 0
                DataSeed = Some 1
            }

    Assert.Contains("--full-batch", args)
    Assert.DoesNotContain("--batch-size", args)

[<Fact>]
let ``A sweep file's mistakes are one-line errors naming the key`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60

    let cases =
        [
            """{"data": "slds", "epoch": 3}""", "unknown key 'epoch'"
            """{"data": "slds", "seeds": [1, 1]}""", "seeds: the seed 1 is listed twice"
            """{"data": "slds", "seeds": []}""", "seeds: expected at least one seed"
            """{"data": "slds", "grid": {"lr_r": 0.1}}""", "grid.lr_r: expected a non-empty array"
            """{"data": "slds", "grid": {"lr_r": [0.1, 0.1]}}""", "grid.lr_r: the value 0.1 is listed twice"
            """{"data": "slds", "grid": {"input_dim": [3]}}""", "grid.input_dim: input_dim comes from the data"
            """{"data": "slds", "epochs": 0}""", "epochs: expected an integer >= 1"
            """{"data": "slds", "batch_size": "all"}""", "batch_size: expected an integer >= 1 or \"full\""
            """{"data": "slds", "batch_size": 0}""", "batch_size: expected an integer >= 1"
            """{"data": "slds", "select": "best"}""", "select: expected loss, r2 or w"
            """{"data": "slds", "evaluate": "some"}""", "evaluate: expected full, losses or none"
            """{"data": "slds", "preset": "fast"}""", "preset: no preset 'fast'"
            """{"data": "slds", "resources": {"time": "2 hours"}}""", "resources.time: expected SLURM's --time form"
            """{"data": "slds", "resources": {"memory": "lots"}}""", "resources.memory"
            """{"data": "slds", "resources": {"cpus": 0}}""", "resources.cpus: expected an integer >= 1"
            """{"data": "slds", "resources": {"gpus": 1}}""", "resources: unknown key 'gpus'"
            """{"data": "slds", "name": "my sweep"}""", "name: expected letters"
            """{"data": "slds", "test_data": "x.csv"}""", "test_data: not with \"data\": \"slds\""
            """{"data": "slds", "slds_lengths": [100, 1, 100]}""", "slds_lengths: expected three lengths >= 2"
            """{"seeds": [1]}""", "data: missing"
            """{"data": "no-such-file.csv"}""", "data: "
            $$"""{"data": "{{data}}", "data_seeds": [1]}""", "data_seeds: only with \"data\": \"slds\""
            $$"""{"data": "{{data}}", "select": "r2"}""", "select: r2 and w decode the validation steps' true states"
            $$"""{"data": "{{data}}", "val_data": "{{data}}", "val_fraction": 0.2}""",
            "val_data and val_fraction exclude each other"
            $$"""{"data": "{{data}}", "true_timescales": [5.0]}""", "true_timescales: "
            $$"""{"data": "{{data}}", "slds_lengths": [5, 5, 5]}""", "slds_lengths: only with"
        ]

    for json, expected in cases do
        let msg =
            userError (fun () -> SweepFile.ofJson "sweep.json" dir (JsonNode.Parse(json).AsObject()))

        Assert.True(msg.Contains expected, $"{json}: expected '{expected}' in: {msg}")
        Assert.StartsWith("sweep.json: ", msg)

/// A tiny sweep file in `dir` on a 60-step series of 3 features (also the test data), 3 epochs
/// unless `extra` (more keys) says otherwise.
let private tinySweep (dir: string) (extra: string) =
    let data = Path.Combine(dir, "series.csv")

    if not (File.Exists data) then
        writeSeries dir "series.csv" 60 |> ignore

    let path = Path.Combine(dir, $"sweep-{Guid.NewGuid():N}.json")

    let epochs =
        if extra.Contains "\"epochs\"" then
            ""
        else
            "\"epochs\": 3, "

    File.WriteAllText(
        path,
        $$"""{"name": "tiny", "data": "series.csv", "test_data": "series.csv", "val_fraction": 0.25,
             "config": {"r_dim": 2, "r2_dim": 2, "mix_dim": 2, "hyper_hid_dim": 4, "max_iter": 10, "tol": 0.01,
                        "sequence_length": 10, "overlap": 5},
             "batch_size": 4, {{epochs}}"evaluate": "losses"{{extra}}}"""
    )

    path

[<Fact>]
let ``plan writes the manifest and one folder per task with its configuration and commands; it never overwrites`` () =
    let dir = tempDir ()
    let file = tinySweep dir """, "grid": {"lr_r": [0.05, 0.3]}, "seeds": [1, 2]"""
    let out = Path.Combine(dir, "sweep")
    let code, stdout, err = run [ "sweep"; "plan"; file; "--out"; out ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Planned 4 task(s) of sweep 'tiny'", stdout)
    let plan = SweepPlan.read out
    Assert.Equal(4, plan.Tasks.Length)

    for t in plan.Tasks do
        let p = SweepPlan.pathsOf out t.Id
        let cfg = JsonNode.Parse(File.ReadAllText p.Config)
        // The grid value, the base options and input_dim from the data.
        Assert.Equal((if t.Id < 2 then 0.05 else 0.3), cfg["lr_r"].GetValue<float>())
        Assert.Equal(2, cfg["r_dim"].GetValue<int>())
        Assert.Equal(3, cfg["input_dim"].GetValue<int>())
        let command = File.ReadAllText p.Command
        let series = Path.Combine(dir, "series.csv")
        Assert.Contains($"tidhy train --data {series} --config {p.Config}", command)
        Assert.Contains($"--seed {t.Seed} --batch-size 4", command)
        Assert.Contains("--val-fraction 0.25", command)
        Assert.Contains($"tidhy eval --model {p.Last}", command)

    // Deterministic: the same file planned elsewhere gives the same tasks and configurations.
    let again = Path.Combine(dir, "again")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; file; "--out"; again ]))

    let tasksOf (d: string) =
        let manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "manifest.json")))
        manifest["tasks"].ToJsonString()

    Assert.Equal(tasksOf out, tasksOf again)

    for t in plan.Tasks do
        let a, b =
            (SweepPlan.pathsOf out t.Id).Config, (SweepPlan.pathsOf again t.Id).Config

        Assert.Equal(File.ReadAllText a, File.ReadAllText b)

    // The same folder again: refused; --extend with the same file adds nothing.
    let code, _, err = run [ "sweep"; "plan"; file; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("already holds a planned sweep; pass --extend", err)
    let code, stdout, _ = run [ "sweep"; "plan"; file; "--out"; out; "--extend" ]
    Assert.Equal(0, code)
    Assert.Contains("Planned 0 task(s) (now 4)", stdout)
    // A folder that holds something else: refused.
    let other = Path.Combine(dir, "other")
    Directory.CreateDirectory other |> ignore
    File.WriteAllText(Path.Combine(other, "notes.txt"), "mine")
    let code, _, err = run [ "sweep"; "plan"; file; "--out"; other ]
    Assert.Equal(1, code)
    Assert.Contains("is not empty and holds no sweep", err)

[<Fact>]
let ``plan --extend adds grid values and seeds with new numbers; it refuses any other change`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "sweep")
    let first = tinySweep dir """, "grid": {"lr_r": [0.05, 0.3]}, "seeds": [1]"""
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; first; "--out"; out ]))
    let before = SweepPlan.read out
    let more = tinySweep dir """, "grid": {"lr_r": [0.05, 0.3, 0.1]}, "seeds": [1, 2]"""
    let code, stdout, err = run [ "sweep"; "plan"; more; "--out"; out; "--extend" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Planned 4 task(s) (now 6)", stdout)
    let after = SweepPlan.read out
    // The first tasks keep their numbers; the new ones follow in the grid's order.
    let show (t: SweepFile.SweepTask) =
        $"{t.Id}:{SweepFile.pointText t}|{t.Seed}"

    Assert.Equal<string list>(before.Tasks |> List.map show, after.Tasks |> List.take 2 |> List.map show)

    Assert.Equal<string list>(
        [ "2:lr_r=0.05|2"; "3:lr_r=0.3|2"; "4:lr_r=0.1|1"; "5:lr_r=0.1|2" ],
        after.Tasks |> List.skip 2 |> List.map show
    )

    for extra, expected in
        [
            """, "grid": {"lr_r": [0.05, 0.3]}, "seeds": [1], "validate_every": 2""", "differs from the planned sweep"
            """, "grid": {"lr_r": [0.05]}, "seeds": [1, 2]""", "never drops a value or seed"
            """, "grid": {"lr_r": [0.05, 0.3], "r_dim": [2]}, "seeds": [1, 2]""",
            "the grid's options must stay the same"
        ] do
        let code, _, err =
            run [ "sweep"; "plan"; tinySweep dir extra; "--out"; out; "--extend" ]

        Assert.Equal(1, code)
        Assert.Contains(expected, err)

    Assert.Equal(6, (SweepPlan.read out).Tasks.Length)

[<Fact>]
let ``plan checks every task's configuration first and writes nothing for an invalid one`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "sweep")
    let file = tinySweep dir """, "grid": {"r_dim": [2, 0]}"""
    let code, _, err = run [ "sweep"; "plan"; file; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("task 1 (r_dim=0): invalid configuration", err)
    Assert.False(Directory.Exists out, "the failed plan left its folder")
    // A key given twice, at the top or inside the grid.
    for json, key in
        [
            """{"data": "slds", "epochs": 3, "epochs": 4}""", "epochs"
            """{"data": "slds", "grid": {"lr_r": [1], "lr_r": [2]}}""", "grid.lr_r"
        ] do
        let twice = Path.Combine(dir, $"twice-{Guid.NewGuid():N}.json")
        File.WriteAllText(twice, json)
        let code, _, err = run [ "sweep"; "plan"; twice; "--out"; out ]
        Assert.Equal(1, code)
        Assert.Contains($"{key} is given twice", err)

    // A window longer than the training steps (45 of the 60: a quarter is held out).
    let code, _, err =
        run
            [
                "sweep"
                "plan"
                tinySweep dir """, "grid": {"sequence_length": [10, 50]}"""
                "--out"
                out
            ]

    Assert.Equal(1, code)
    Assert.Contains("task 1 (sequence_length=50): sequence_length = 50 is longer than the 45 training steps", err)
    // The SLDS benchmark's validation states are decoded: its validation steps must hold a window.
    let short = Path.Combine(dir, "short.json")
    File.WriteAllText(short, """{"data": "slds", "slds_lengths": [300, 50, 50]}""")
    let code, _, err = run [ "sweep"; "plan"; short; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("task 0: sequence_length = 100 is longer than the 50 validation steps", err)
    Assert.False(Directory.Exists out, "the failed plan left its folder")
    // An unknown option in the grid is named too.
    let code, _, err =
        run [ "sweep"; "plan"; tinySweep dir """, "grid": {"lr_rr": [1]}"""; "--out"; out ]

    Assert.Equal(1, code)
    Assert.Contains("lr_rr", err)

[<Fact>]
let ``The SLURM array lists the tasks as ranges`` () =
    Assert.Equal("0-3,5,7-9", SweepSlurm.arrayRanges [ 9; 0; 1; 2; 3; 5; 7; 8; 3 ])
    Assert.Equal("4", SweepSlurm.arrayRanges [ 4 ])
    Assert.Equal("0,2,4", SweepSlurm.arrayRanges [ 4; 2; 0 ])

[<Fact>]
let ``The SLURM script asks for the sweep's resources, requeues, signals before the time limit and runs the task command``
    ()
    =
    let s =
        parse """{"name": "demo-seeds", "data": "slds", "resources": {"cpus": 4, "memory": "8G", "time": "02:00:00"}}"""

    let o: SweepSlurm.SlurmOptions =
        {
            Partition = Some "gpu"
            Account = Some "lab"
            MaxParallel = Some 3
            Extra = [ "--qos=long"; "--constraint=avx512" ]
            Setup = [ "module load dotnet/10" ]
            Tidhy = "tidhy"
            SignalSeconds = 120
        }

    let dir = "/shared/my sweeps/demo"
    let text = SweepSlurm.scriptText dir s [ 0; 1; 2; 3; 5 ] o
    let lines = text.Split('\n') |> Array.toList

    for expected in
        [
            "#!/bin/bash"
            "#SBATCH --job-name=tidhy-demo-seeds"
            "#SBATCH --array=0-3,5%3"
            "#SBATCH --cpus-per-task=4"
            "#SBATCH --mem=8G"
            "#SBATCH --time=02:00:00"
            "#SBATCH --output=/shared/my sweeps/demo/tasks/%a/slurm-%A_%a.out"
            "#SBATCH --open-mode=append"
            "#SBATCH --requeue"
            "#SBATCH --signal=B:USR1@120"
            "#SBATCH --partition=gpu"
            "#SBATCH --account=lab"
            "#SBATCH --qos=long"
            "#SBATCH --constraint=avx512"
            "export TIDHY_KERNEL_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\""
            "tidhy sweep run '/shared/my sweeps/demo' --task \"$task\" &"
            "trap on_time_limit USR1"
        ] do
        Assert.True(List.contains expected lines, $"missing line: {expected}\n{text}")

    // The #SBATCH lines come before the first command; the setup before the task.
    let index (l: string) = List.findIndex ((=) l) lines
    let lastSbatch = lines |> List.findIndexBack (fun l -> l.StartsWith "#SBATCH")
    Assert.True(lastSbatch < index "module load dotnet/10")
    Assert.True(index "module load dotnet/10" < index "tidhy sweep run '/shared/my sweeps/demo' --task \"$task\" &")
    // Without the optional options none of their lines.
    let plain =
        SweepSlurm.scriptText
            "/d"
            (parse """{"data": "slds"}""")
            [ 0 ]
            { o with
                Partition = None
                Account = None
                MaxParallel = None
                Extra = []
                Setup = []
            }

    Assert.Contains("#SBATCH --array=0\n", plain)

    for absent in [ "--partition"; "--account"; "--mem"; "--time"; "%3" ] do
        Assert.DoesNotContain(absent, plain)

    // The options the script sets are refused in --extra-sbatch; a folder with white space too
    // (SLURM's --output cannot name it).
    let spaced = Path.Combine(tempDir (), "my sweep")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; tinySweep (tempDir ()) ""; "--out"; spaced ]))

    for extra, expected in
        [
            "--array=0-9", "--array is set by"
            "-o x.out", "-o is set by"
            "qos", "'qos' is not an sbatch option"
        ] do
        let code, _, err =
            run
                [
                    "sweep"
                    "submit"
                    spaced
                    "--executor"
                    "slurm"
                    "--extra-sbatch"
                    extra
                    "--dry-run"
                ]

        Assert.Equal(2, code)
        Assert.Contains(expected, err)

    let code, _, err =
        run [ "sweep"; "submit"; spaced; "--executor"; "slurm"; "--dry-run" ]

    Assert.Equal(1, code)
    Assert.Contains("cannot name a path with white space", err)
    // --dry-run writes the script into the sweep folder and prints it; it submits nothing.
    let plain = Path.Combine(tempDir (), "sweep")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; tinySweep (tempDir ()) ""; "--out"; plain ]))

    let code, stdout, err =
        run
            [
                "sweep"
                "submit"
                plain
                "--executor"
                "slurm"
                "--dry-run"
                "--tidhy"
                "tidhy"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let script = Path.Combine(plain, "slurm", "submit-1.sbatch")
    Assert.Contains(File.ReadAllText script, stdout)
    Assert.Contains("#SBATCH --array=0\n", stdout)
    Assert.Contains($"tidhy sweep run {plain} --task", stdout)
    Assert.False(File.Exists(SweepSlurm.jobsFile plain))
    // bash reads the script.
    let path = Path.Combine(tempDir (), "submit.sbatch")
    File.WriteAllText(path, text)
    use p = Process.Start("bash", [ "-n"; path ])
    p.WaitForExit()
    Assert.Equal(0, p.ExitCode)

[<Fact>]
let ``squeue's lines are read for the sweep's jobs only`` () =
    let text =
        "12_0|RUNNING|None\n12_3|PENDING|JobArrayTaskLimit\n13_1|PENDING|BeginTime\n99_2|RUNNING|None\nbad line\n12_[4-7%2]|PENDING|JobArrayTaskLimit\n"

    let q = SweepSlurm.parseQueue [ "12"; "13" ] text

    Assert.Equal<(int * (string * string)) list>(
        [
            0, ("RUNNING", "None")
            1, ("PENDING", "BeginTime")
            3, ("PENDING", "JobArrayTaskLimit")
        ],
        Map.toList q
    )

[<Fact>]
let ``collect reads a result's losses and measures into columns`` () =
    let r =
        JsonNode
            .Parse(
                """{"id": 3, "options": {"lr_r": 0.1}, "seed": 2, "epochs": 40, "selected_epoch": 10,
                    "selection": "r2_hat_accuracy", "selection_score": 0.5, "validation_loss": 12.5,
                    "test": {"spatial_loss_rhat_avg": 1.25, "temp_loss_avg": 0.5},
                    "measures": {"decoding": {"chance_block": 0.2, "rows": [
                        {"name": "R2_hat", "block_knn": 0.3, "block_knn_std": 0.1, "block_linear": 0.25},
                        {"name": "I with 10 lags", "block_knn": 0.4, "random_knn": 0.9}]},
                      "arhmm": {"matched_accuracy": 0.8},
                      "timescales": [{"source": "V_t, trained", "count": 50, "matched": 4, "truth": 6, "precision": 0.1}],
                      "per_state": {"r_hat_within": 5, "raw_input_within": 6}}}"""
            )
            .AsObject()

    let cells = SweepCollect.resultCells r |> Map.ofList

    let num k =
        match cells[k] with
        | SweepCollect.Number x -> x
        | _ -> nan

    for k, v in
        [
            "epochs", 40.0
            "selected_epoch", 10.0
            "selection_score", 0.5
            "validation_loss", 12.5
            "test_spatial_loss_rhat_avg", 1.25
            "test_temp_loss_avg", 0.5
            "decode_r2_hat_block_knn", 0.3
            "decode_r2_hat_block_knn_std", 0.1
            "decode_r2_hat_block_linear", 0.25
            "decode_i_with_10_lags_block_knn", 0.4
            "decode_i_with_10_lags_random_knn", 0.9
            "chance_block", 0.2
            "arhmm_matched_accuracy", 0.8
            "timescales_v_t_trained_count", 50.0
            "timescales_v_t_trained_matched", 4.0
            "timescales_v_t_trained_precision", 0.1
            "timescales_truth", 6.0
            "per_state_r_hat_within", 5.0
            "per_state_raw_input_within", 6.0
        ] do
        Assert.Equal(v, num k)

    Assert.Equal(SweepCollect.Text "r2_hat_accuracy", cells["selection"])
    Assert.False(cells.ContainsKey "decode_r2_hat_random_knn")
    Assert.Equal<float * float>((2.0, 1.0), SweepCollect.meanStd [ 1.0; 2.0; 3.0 ])

[<Fact>]
let ``A task runs to result.json, is skipped once done, and a failed one says why in status`` () =
    let dir = tempDir ()
    let states = Path.Combine(dir, "states.csv")
    // Too few rows: the task's train refuses the states file.
    File.WriteAllLines(states, Array.create 10 "0")
    let file = tinySweep dir $""", "seeds": [1, 2], "grid": {{"lr_r": [0.1]}}"""
    let out = Path.Combine(dir, "sweep")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; file; "--out"; out ]))
    let code, stdout, err = run [ "sweep"; "run"; out; "--task"; "1" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Task 1 done", stdout)
    let p = SweepPlan.pathsOf out 1
    let result = JsonNode.Parse(File.ReadAllText p.Result)
    Assert.Equal(3, result["epochs"].GetValue<int>())
    Assert.Equal(2, result["seed"].GetValue<int>())
    Assert.Equal(0.1, (result["options"]["lr_r"]).GetValue<float>())
    // The test losses are eval's.
    let evalMetrics =
        (File.ReadAllLines(Path.Combine(p.Eval, "metrics.csv"))[1]).Split(',')

    Assert.Equal(
        Double.Parse(evalMetrics[0], Globalization.CultureInfo.InvariantCulture),
        (result["test"]["spatial_loss_rhat_avg"]).GetValue<float>()
    )

    Assert.True((result["measures"]["timescales"]).AsArray().Count > 0)
    // Done: the rerun runs nothing.
    let code, stdout, _ = run [ "sweep"; "run"; out; "--task"; "1" ]
    Assert.Equal(0, code)
    Assert.Contains("is done", stdout)
    let code, _, err = run [ "sweep"; "run"; out; "--task"; "2" ]
    Assert.Equal(1, code)
    Assert.Contains("--task 2: the sweep in", err)
    let code, stdout, _ = run [ "sweep"; "status"; out ]
    Assert.Equal(0, code)
    Assert.Contains("2 tasks: 1 done, 1 not started", stdout)

    // A task that fails: its states file is too short.
    let bad = tinySweep dir """, "states": "states.csv", "seeds": [5]"""
    let badOut = Path.Combine(dir, "bad")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; bad; "--out"; badOut ]))
    let code, _, err = run [ "sweep"; "run"; badOut; "--task"; "0" ]
    Assert.Equal(1, code)
    let failed = JsonNode.Parse(File.ReadAllText((SweepPlan.pathsOf badOut 0).Failed))
    Assert.Equal("train", failed["stage"].GetValue<string>())
    let message = failed["message"].GetValue<string>()
    Assert.Contains("states.csv", message)
    Assert.Contains(message, err)
    let _, stdout, _ = run [ "sweep"; "status"; badOut ]
    Assert.Contains("1 tasks: 0 done, 1 failed", stdout)
    Assert.Contains($"train exit 1: {message}", stdout)

[<Fact>]
let ``The local executor runs the tasks in their own processes; collect gathers them`` () =
    let dir = tempDir ()
    let file = tinySweep dir """, "grid": {"lr_r": [0.05, 0.3]}, "seeds": [1, 2]"""
    let out = Path.Combine(dir, "sweep")
    Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; file; "--out"; out ]))
    // The SLURM options are refused with the local executor.
    let code, _, err = run [ "sweep"; "submit"; out; "--partition"; "x" ]
    Assert.Equal(2, code)
    Assert.Contains("--partition goes with --executor slurm", err)
    let code, stdout, err = finish 600 (start [ "sweep"; "submit"; out; "--jobs"; "2" ])
    Assert.True((code = 0), $"exit {code}: {stdout} {err}")
    // The cores shared between the 2 tasks.
    let threads = max 1 (Environment.ProcessorCount / 2)
    Assert.Contains($"2 at a time with {threads} kernel thread(s) each", stdout)
    Assert.Contains("Sweep 'tiny': 4 of 4 tasks done", stdout)

    for i in 0..3 do
        let p = SweepPlan.pathsOf out i
        Assert.True(File.Exists p.Result, $"task {i} has no result")
        Assert.Contains($"--task {i}", File.ReadAllText p.Log)

    // Again: nothing to run.
    let code, stdout, _ = finish 120 (start [ "sweep"; "submit"; out ])
    Assert.Equal(0, code)
    Assert.Contains("Running 0 of the 4 tasks", stdout)
    let code, stdout, err = run [ "sweep"; "collect"; out ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Collected 4 of 4 tasks", stdout)
    let csv = File.ReadAllLines(Path.Combine(out, "collect", "results.csv"))
    Assert.Equal(5, csv.Length)
    Assert.StartsWith("task,state,lr_r,seed,epochs,selected_epoch,", csv[0])
    Assert.StartsWith("2,done,0.3,1,3,", csv[3])
    // Each row's test loss is its task's.
    let header = csv[0].Split(',')
    let column = Array.findIndex ((=) "test_spatial_loss_rhat_avg") header

    for i in 0..3 do
        let r = JsonNode.Parse(File.ReadAllText((SweepPlan.pathsOf out i).Result))

        Assert.Equal(
            (r["test"]["spatial_loss_rhat_avg"]).GetValue<float>(),
            Double.Parse((csv[i + 1].Split(','))[column], Globalization.CultureInfo.InvariantCulture)
        )

    // collect never writes over another report.
    let code, _, err =
        run [ "sweep"; "collect"; out; "--out"; (SweepPlan.pathsOf out 0).Run ]

    Assert.Equal(1, code)
    Assert.Contains("holds another report", err)
    // ... nor over a file, refused naming --out.
    let code, _, err =
        run [ "sweep"; "collect"; out; "--out"; (SweepPlan.pathsOf out 0).Result ]

    Assert.Equal(1, code)
    Assert.StartsWith("tidhy: --out", err)
    Assert.Contains("is a file", err)
    let html = File.ReadAllText(Path.Combine(out, "collect", "index.html"))
    Assert.Contains("validation objective by epoch", html)
    Assert.Contains("lr_r=0.05 (2 seed(s))", html)

[<Fact>]
let ``A task stopped by SIGTERM resumes to the same result as an uninterrupted one`` () =
    let dir = tempDir ()
    let file = tinySweep dir """, "epochs": 400"""
    let whole, parts = Path.Combine(dir, "whole"), Path.Combine(dir, "parts")

    for out in [ whole; parts ] do
        Assert.Equal(0, (fun (c, _, _) -> c) (run [ "sweep"; "plan"; file; "--out"; out ]))

    let code, _, err = run [ "sweep"; "run"; whole; "--task"; "0" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    // The same task in a process, stopped once it has a checkpoint, then run again.
    let p = SweepPlan.pathsOf parts 0
    let proc, out, errs = start [ "sweep"; "run"; parts; "--task"; "0" ]
    waitFor 120.0 (fun () -> File.Exists p.Last)
    // Frozen while the checks below run, so that SIGTERM reaches it during training whatever the
    // machine's speed (400 epochs of this tiny task take about a second): the signal waits for SIGCONT.
    signal "STOP" proc.Id
    // A second process on the running task stops at once and writes nothing.
    let code, _, err = run [ "sweep"; "run"; parts; "--task"; "0" ]
    Assert.Equal(1, code)
    Assert.Contains("is in use by another tidhy process", err)
    Assert.False(File.Exists p.Failed)
    signal "TERM" proc.Id
    signal "CONT" proc.Id
    let code, stdout, stderr = finish 120 (proc, out, errs)
    Assert.True((code = 143), $"exit {code}: {stdout} {stderr}")
    Assert.Contains("Task 0 stopped during train (exit 143)", stdout)
    Assert.False(File.Exists p.Result)
    let _, status, _ = run [ "sweep"; "status"; parts ]
    Assert.Contains("1 tasks: 0 done, 1 stopped", status)
    let code, stdout, err = run [ "sweep"; "run"; parts; "--task"; "0" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("attempt 2", stdout)
    Assert.DoesNotContain("epochs 0 → 400", stdout)
    let w = SweepPlan.pathsOf whole 0
    Assert.Equal(File.ReadAllText w.Result, File.ReadAllText p.Result)

    Assert.Equal(
        File.ReadAllText(Path.Combine(w.Run, "model.json")),
        File.ReadAllText(Path.Combine(p.Run, "model.json"))
    )

    let timing = JsonNode.Parse(File.ReadAllText(Path.Combine(p.Folder, "timing.json")))
    Assert.Equal(2, timing["attempts"].GetValue<int>())
