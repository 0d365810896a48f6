/// `tidhy reproduce slds` on a tiny size: the sweep file it writes, the run, the report's numbers
/// against the runs' own files, resumption, and the errors for bad options. The run starts `tidhy`
/// as a real process (the local executor starts each task as one).
module TiDHy.Cli.Tests.ReproduceTests

open System
open System.Globalization
open System.IO
open System.Text.Json.Nodes
open TiDHy.Cli.Tests.CliTests
open TiDHy.Cli.Tests.RunSafetyTests
open Xunit

/// `metrics.csv`'s column `name` by epoch (the empty cells left out).
let private metricsColumn (path: string) (name: string) =
    let lines = File.ReadAllLines path |> Array.filter (fun l -> l <> "")
    let header = lines[0].Split ','
    let j = Array.IndexOf(header, name)
    Assert.True(j >= 0, $"{path} has no column {name}: {lines[0]}")

    lines[1..]
    |> Array.choose (fun l ->
        let cells = l.Split ','

        if cells[j] = "" then
            None
        else
            Some(int cells[0], Double.Parse(cells[j], CultureInfo.InvariantCulture)))

let private tiny (out: string) (epochs: int) =
    [
        "reproduce"
        "slds"
        "--out"
        out
        "--lengths"
        "1200,400,400"
        "--epochs"
        string epochs
        "--monitor-every"
        "1"
        "--seeds"
        "10"
    ]

[<Fact>]
let ``reproduce slds trains, monitors, evaluates and reports a tiny SLDS run; the same command again resumes and changes nothing``
    ()
    =
    let out = Path.Combine(tempDir (), "rep")
    let code, stdout, err = finish 900 (start (tiny out 2))
    Assert.True((code = 0), $"exit {code}: {stdout} {err}")

    // The sweep file: the SLDS benchmark at the given lengths, the default preset (the paper's JAX
    // configuration) on full batches, monitored every epoch, selected by R2_hat decoding, fully
    // evaluated.
    let sweep =
        JsonNode.Parse(File.ReadAllText(Path.Combine(out, "reproduce.json"))).AsObject()

    Assert.Equal("slds", sweep["data"].GetValue<string>())
    Assert.Equal("[1200,400,400]", sweep["slds_lengths"].ToJsonString())
    Assert.Equal("[10]", sweep["data_seeds"].ToJsonString())
    Assert.Equal("paper-jax", sweep["preset"].GetValue<string>())
    Assert.Equal("full", sweep["batch_size"].GetValue<string>())
    Assert.Equal("FusedFloat32", sweep["backend"].GetValue<string>())
    Assert.Equal(2, sweep["epochs"].GetValue<int>())
    Assert.Equal(1, sweep["monitor_every"].GetValue<int>())
    Assert.Equal("r2", sweep["select"].GetValue<string>())
    Assert.Equal("full", sweep["evaluate"].GetValue<string>())

    let task = Path.Combine(out, "sweep", "tasks", "0")
    Assert.Contains("--full-batch", File.ReadAllText(Path.Combine(task, "command.txt")))
    let result = Path.Combine(task, "result.json")
    Assert.True(File.Exists result, "no result.json")
    let metrics = Path.Combine(task, "run", "metrics.csv")

    // The report's epochs are the run's monitored epochs, with its own values.
    let report =
        JsonNode.Parse(File.ReadAllText(Path.Combine(out, "reproduction.json"))).AsObject()

    let runs = report["runs"].AsArray()
    Assert.Equal(1, runs.Count)
    let r = runs[0].AsObject()
    Assert.Equal("done", r["state"].GetValue<string>())
    Assert.Equal(10, r["data_seed"].GetValue<int>())
    let epochs = r["monitored_epochs"].AsArray()
    Assert.Equal(2, epochs.Count)

    for name in
        [
            "r2_hat_accuracy"
            "w_accuracy"
            "r_hat_accuracy"
            "raw_input_accuracy"
            "seconds"
        ] do
        let expected = metricsColumn metrics name

        let reported =
            [| for e in epochs -> e["epoch"].GetValue<int>(), e[name].GetValue<float>() |]

        Assert.Equal<(int * float)[]>(expected, reported)

    // The raw input is the same baseline every epoch; every accuracy is a share.
    let raw = metricsColumn metrics "raw_input_accuracy" |> Array.map snd
    Assert.Equal(raw[0], raw[1])

    for name in [ "r2_hat_accuracy"; "w_accuracy"; "r_hat_accuracy"; "raw_input_accuracy" ] do
        for _, v in metricsColumn metrics name do
            Assert.InRange(v, 0.0, 1.0)

    // Seconds per epoch: the mean of the run's epochs.
    let seconds = metricsColumn metrics "seconds" |> Array.averageBy snd
    Assert.Equal(seconds, r["seconds_per_epoch"].GetValue<float>(), 12)

    // The test table holds the selected model's decoding beside the input's and the ARHMM's, as
    // eval measured them (result.json).
    let measured = JsonNode.Parse(File.ReadAllText result)
    let decoding = measured["measures"]["decoding"]
    let rows = decoding["rows"].AsArray()
    let md = File.ReadAllText(Path.Combine(out, "reproduction.md"))

    for row in rows do
        let name = row["name"].GetValue<string>()

        let knn =
            row["block_knn"].GetValue<float>().ToString("F3", CultureInfo.InvariantCulture)

        Assert.Contains($"| {name} | {knn} ± ", md)

    Assert.Contains("I (raw input)", md)
    Assert.Contains("## Validation decoding by epoch: data 10, seed 0", md)
    Assert.Contains("| V_t, untrained | ", md)

    // The same command again: nothing to train, the run's files unchanged.
    let before = File.ReadAllBytes result
    let model = File.ReadAllBytes(Path.Combine(task, "run", "model.json"))
    let code, stdout, err = finish 600 (start (tiny out 2))
    Assert.True((code = 0), $"rerun: exit {code}: {stdout} {err}")
    Assert.Contains("Resuming the reproduction planned in", stdout)
    Assert.Equal<byte[]>(before, File.ReadAllBytes result)
    Assert.Equal<byte[]>(model, File.ReadAllBytes(Path.Combine(task, "run", "model.json")))

    // Other options than the planned ones (more epochs): an error naming the folder, nothing changed.
    let code, _, err = run (tiny out 3)
    Assert.Equal(1, code)
    Assert.Contains($"{out} holds a reproduction planned with other options", err)
    Assert.Contains("\"epochs\": 2", File.ReadAllText(Path.Combine(out, "reproduce.json")))
    Assert.False(File.Exists(Path.Combine(out, "reproduce.json.new")))

    // --report alone rewrites the report.
    File.Delete(Path.Combine(out, "reproduction.md"))
    let code, stdout, err = run [ "reproduce"; "slds"; "--out"; out; "--report" ]
    Assert.True((code = 0), $"--report: exit {code}: {stdout} {err}")
    Assert.True(File.Exists(Path.Combine(out, "reproduction.md")))

[<Fact>]
let ``reproduce slds refuses bad options before it writes anything`` () =
    let dir = tempDir ()

    let refused (extra: string list) (expected: int) (text: string) =
        let out = Path.Combine(dir, Guid.NewGuid().ToString("N"))

        let code, _, err =
            run ([ "reproduce"; "slds"; "--out"; out; "--epochs"; "1" ] @ extra)

        Assert.True((code = expected), $"{extra}: exit {code}: {err}")
        Assert.Contains(text, err)
        Assert.False(Directory.Exists out, $"{extra}: wrote {out}")

    refused [ "--lengths"; "1000,400" ] 2 "--lengths: expected three lengths"
    refused [ "--lengths"; "1000,1,400" ] 2 "--lengths: '1' is not a length"
    refused [ "--seeds"; "10,10" ] 2 "--seeds: a seed is listed twice"
    refused [ "--seeds"; "x" ] 2 "--seeds: 'x' is not a seed"
    refused [ "--preset"; "nope" ] 2 "--preset: no preset 'nope'"
    refused [ "--executor"; "cloud" ] 2 "--executor: expected local or slurm"
    refused [ "--backend"; "fast" ] 2 "--backend fast: not in this program"
    refused [ "--partition"; "p" ] 2 "--partition goes with --executor slurm"
    refused [ "--executor"; "slurm"; "--jobs"; "2" ] 2 "--jobs goes with --executor local"
    refused [ "--report" ] 2 "--report takes only --out"
    refused [ "--monitor-every"; "0" ] 2 "--monitor-every: expected a positive integer"
    refused [ "--lengths"; "1000,150,400" ] 2 "at least one window of 200 steps (preset paper-jax), got 1000 and 150"
    // A full batch that cannot fit this machine: refused before any data are generated.
    refused [ "--lengths"; "2000000000,400,400" ] 1 "more than the"

    // --report where nothing is planned.
    let out = Path.Combine(dir, "none")
    let code, _, err = run [ "reproduce"; "slds"; "--out"; out; "--report" ]
    Assert.Equal(1, code)
    Assert.Contains("no reproduction is planned there", err)

    // A folder that holds something else.
    let busy = Path.Combine(dir, "busy")
    Directory.CreateDirectory busy |> ignore
    File.WriteAllText(Path.Combine(busy, "notes.txt"), "mine")
    let code, _, err = run [ "reproduce"; "slds"; "--out"; busy; "--epochs"; "1" ]
    Assert.Equal(1, code)
    Assert.Contains("is not empty and holds no reproduction", err)
    Assert.Equal<string[]>([| "notes.txt" |], Directory.GetFileSystemEntries busy |> Array.map Path.GetFileName)
