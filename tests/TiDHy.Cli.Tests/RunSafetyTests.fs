/// Runs are never lost or mixed, and nothing fails silently: overwrite refusal, the output folder's
/// lock, SIGTERM, checked resumption, divergence, usage errors and one-line errors for malformed
/// files. The lock, signal and kill tests run `tidhy` as a real process (`dotnet tidhy.dll`).
module TiDHy.Cli.Tests.RunSafetyTests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json.Nodes
open System.Security.Cryptography
open System.Threading
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

/// The built program beside the tests.
let internal cliDll = Path.Combine(AppContext.BaseDirectory, "tidhy.dll")

/// Starts `dotnet tidhy.dll args` with standard output and error collected.
let internal start (args: string list) =
    let psi = ProcessStartInfo("dotnet", UseShellExecute = false)
    psi.ArgumentList.Add cliDll

    for a in args do
        psi.ArgumentList.Add a

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    let out, err = StringBuilder(), StringBuilder()
    let p = new Process(StartInfo = psi)

    p.OutputDataReceived.Add(fun e ->
        if e.Data <> null then
            lock out (fun () -> out.AppendLine e.Data |> ignore))

    p.ErrorDataReceived.Add(fun e ->
        if e.Data <> null then
            lock err (fun () -> err.AppendLine e.Data |> ignore))

    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p, out, err

/// Waits for `p` (at most `seconds`) and returns its exit code, output and error.
let internal finish (seconds: int) (p: Process, out: StringBuilder, err: StringBuilder) =
    if not (p.WaitForExit(seconds * 1000)) then
        p.Kill true
        failwith $"tidhy did not end within {seconds} s: {out} {err}"

    p.WaitForExit()
    p.ExitCode, string out, string err

/// Waits until `cond` holds (at most `seconds`).
let internal waitFor (seconds: float) (cond: unit -> bool) =
    let w = Stopwatch.StartNew()

    while not (cond ()) && w.Elapsed.TotalSeconds < seconds do
        Thread.Sleep 20

    Assert.True(cond (), $"condition not met within {seconds} s")

let internal signal (name: string) (pid: int) =
    use k = Process.Start("kill", [ "-s"; name; string pid ])
    k.WaitForExit()

let private tempFiles (dir: string) =
    (if Directory.Exists dir then
         Directory.GetFiles dir
     else
         [||])
    |> Array.filter (Path.GetFileName >> DataFile.isTemporary)

/// A tiny run: `train` on 60 steps of 3 features, windows of 10, batches of 4 (a few milliseconds
/// per epoch), for `epochs` epochs into `out`.
let private tinyTrain (dir: string) (out: string) (epochs: int) (extra: string list) =
    let data = Path.Combine(dir, "series.csv")

    if not (File.Exists data) then
        writeSeries dir "series.csv" 60 |> ignore

    let cfg = Path.Combine(dir, "tiny.json")

    if not (File.Exists cfg) then
        File.WriteAllText(
            cfg,
            """{"r_dim": 2, "r2_dim": 2, "mix_dim": 2, "hyper_hid_dim": 4, "max_iter": 10, "tol": 0.01, "sequence_length": 10, "overlap": 10, "num_epochs": 2}"""
        )

    [
        "train"
        "--data"
        data
        "--config"
        cfg
        "--out"
        out
        "--batch-size"
        "4"
        "--val-fraction"
        "0"
        "--epochs"
        string epochs
        yield! extra
    ]

[<Fact>]
let ``SIGTERM stops training after the batch, saves the checkpoint and exits 143`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let p, o, e = start (tinyTrain dir out 100000 [])
    waitFor 60.0 (fun () -> File.Exists(Path.Combine(out, "last.tidhy.json")))
    signal "TERM" p.Id
    let code, stdout, err = finish 60 (p, o, e)
    Assert.True((code = 143), $"exit {code}: {stdout} {err}")
    Assert.Contains("Stopped in epoch", stdout)
    let stored = Checkpoint.read (Path.Combine(out, "last.tidhy.json"))
    // The epoch it stopped in counted from 1 (State.Epoch counts the completed ones).
    Assert.Contains($"Stopped in epoch {stored.State.Epoch + 1} after {stored.State.Batch} of its batches;", stdout)
    Assert.Empty(tempFiles out)

[<Fact>]
let ``SIGTERM stops the demo's training after the batch; it still measures and reports that model and exits 143`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "demo")
    let p, o, e = start [ "demo"; "--epochs"; "100000"; "--out"; out ]
    waitFor 120.0 (fun () -> File.Exists(Path.Combine(out, "last.tidhy.json")))
    signal "TERM" p.Id
    // The demo measures the model after the signal: the decoding table and the ARHMM fit take minutes on 2 cores; 600 s guards against a hang.
    let code, stdout, err = finish 600 (p, o, e)
    Assert.True((code = 143), $"exit {code}: {stdout} {err}")
    let stored = Checkpoint.read (Path.Combine(out, "last.tidhy.json"))
    Assert.Contains($"Stopped in epoch {stored.State.Epoch + 1} after {stored.State.Batch} of its batches", stdout)
    Assert.Contains("Decoding the state (8 classes)", stdout)
    Assert.True(File.Exists(Path.Combine(out, "index.html")), "no report")
    Assert.True(File.Exists(Path.Combine(out, "model.json")), "no model")
    Assert.Empty(tempFiles out)

/// The files and folders in `dir` other than the lock file, sorted.
let private entries (dir: string) =
    Directory.GetFileSystemEntries dir
    |> Array.map Path.GetFileName
    |> Array.filter ((<>) TiDHy.Cli.RunFolder.LockFile)
    |> Array.sort
    |> Array.toList

/// Each file's name and bytes in `dir`.
let private contents (dir: string) =
    Directory.GetFiles dir
    |> Array.sort
    |> Array.map (fun f -> Path.GetFileName f, File.ReadAllBytes f)
    |> Array.toList

/// A trained tiny model (`tinyTrain`, 1 epoch) in `dir`/run, and `eval` arguments on its series.
let private evalSetup (dir: string) =
    let code, _, err = run (tinyTrain dir (Path.Combine(dir, "run")) 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")

    fun (out: string) (extra: string list) ->
        [
            "--model"
            Path.Combine(dir, "run", "last.tidhy.json")
            "--data"
            Path.Combine(dir, "series.csv")
            "--out"
            out
            yield! extra
        ]

/// `eval args` in-process with a stop token that `stopAt name` cancels once `name` is written (as
/// Ctrl-C or SIGTERM would), exiting 143 when stopped.
let private evalStoppedAfter (stopAt: string option) (args: string list) =
    use cts = new CancellationTokenSource()

    let parsed =
        Argu.ArgumentParser
            .Create<TiDHy.Cli.EvalCommand.EvalArgs>(programName = "tidhy eval")
            .ParseCommandLine(List.toArray args)

    if stopAt = Some "" then
        cts.Cancel()

    captured (fun () ->
        TiDHy.Cli.EvalCommand.runWith
            cts.Token
            (fun () -> 143)
            (fun name ->
                if Some name = stopAt then
                    cts.Cancel())
            parsed)

[<Fact>]
let ``An eval stopped before or between any of its writes leaves its folder as it was, and the rerun succeeds`` () =
    let dir = tempDir ()
    let evalArgs = evalSetup dir

    // "" stops before the first write; then after each file (the last: before the files move).
    for stopAt in "" :: TiDHy.Cli.EvalCommand.EvalFiles do
        let out = Path.Combine(dir, $"eval-{stopAt}")
        let code, stdout, err = evalStoppedAfter (Some stopAt) (evalArgs out [])
        Assert.True((code = 143), $"stopped after '{stopAt}': exit {code}: {stdout} {err}")
        Assert.Contains("nothing written", stdout)
        // No record without its report, no temporary file or folder: the new folder, which held
        // nothing but the lock, is removed.
        Assert.False(Directory.Exists out, $"stopped after '{stopAt}': {out} left")
        let code, _, err = run ("eval" :: evalArgs out [])
        Assert.True((code = 0), $"rerun after '{stopAt}': exit {code}: {err}")
        Assert.Equal<string list>(TiDHy.Cli.EvalCommand.EvalFiles |> List.sort, entries out)

    // With --force over a complete eval, a stopped one leaves the earlier files, byte for byte.
    let out = Path.Combine(dir, "eval-force")
    let code, _, err = run ("eval" :: evalArgs out [])
    Assert.True((code = 0), $"exit {code}: {err}")
    let before = contents out

    for stopAt in "" :: TiDHy.Cli.EvalCommand.EvalFiles do
        let code, _, err =
            evalStoppedAfter (Some stopAt) (evalArgs out [ "--force"; "--batch-size"; "3" ])

        Assert.True((code = 143), $"--force stopped after '{stopAt}': exit {code}: {err}")
        Assert.Equal<(string * byte[]) list>(before, contents out)
        Assert.Equal<string list>(TiDHy.Cli.EvalCommand.EvalFiles |> List.sort, entries out)

    // Not stopped, --force replaces them (another batch size, another record).
    let code, _, err =
        evalStoppedAfter None (evalArgs out [ "--force"; "--batch-size"; "3" ])

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.NotEqual<(string * byte[]) list>(before, contents out)
    Assert.Equal<string list>(TiDHy.Cli.EvalCommand.EvalFiles |> List.sort, entries out)

[<Fact>]
let ``A train stopped before training starts writes nothing and exits with the stop code; a replaced run stays as it was``
    ()
    =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")

    let stoppedTrain (args: string list) =
        use cts = new CancellationTokenSource()
        cts.Cancel()

        let parsed =
            Argu.ArgumentParser
                .Create<TiDHy.Cli.TrainCommand.TrainArgs>(programName = "tidhy train")
                .ParseCommandLine(args |> List.tail |> List.toArray)

        captured (fun () -> TiDHy.Cli.TrainCommand.runWith cts.Token (fun () -> 143) parsed)

    // A new run: the folder it made is removed again (it held nothing but the lock).
    let code, stdout, err = stoppedTrain (tinyTrain dir out 1 [])
    Assert.True((code = 143), $"exit {code}: {stdout} {err}")
    Assert.Contains("Stopped before training started; nothing was written.", stdout)
    Assert.False(Directory.Exists out, "the new, empty output folder was left")
    // Over a complete run with --force: its files stay byte for byte.
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")
    let before = contents out
    let code, stdout, err = stoppedTrain (tinyTrain dir out 2 [ "--force" ])
    Assert.True((code = 143), $"--force: exit {code}: {stdout} {err}")
    Assert.Equal<(string * byte[]) list>(before, contents out)

[<Fact>]
let ``A staging folder a killed eval left is removed by the next eval, which then succeeds`` () =
    let dir = tempDir ()
    let evalArgs = evalSetup dir
    let out = Path.Combine(dir, "eval")
    let stale = Path.Combine(out, $".tidhy-eval.tmp-{Guid.NewGuid():N}")
    Directory.CreateDirectory stale |> ignore
    File.WriteAllText(Path.Combine(stale, "record.npz"), "half a record")
    let mine = Path.Combine(out, ".tidhy-eval-notes")
    Directory.CreateDirectory mine |> ignore
    let code, _, err = run ("eval" :: evalArgs out [])
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.False(Directory.Exists stale, "the stale staging folder is still there")
    Assert.True(Directory.Exists mine)

[<Fact>]
let ``SIGTERM during eval exits 143 and puts none of its files in place; the rerun succeeds`` () =
    let dir = tempDir ()
    let evalArgs = evalSetup dir
    let out = Path.Combine(dir, "eval")
    // --states is a named pipe: eval reads it after evaluating and before writing anything, and
    // the writer's open returns once eval has opened it. SIGTERM then, the states after it.
    let fifo = Path.Combine(dir, "states.csv")

    do
        use mk = Process.Start("mkfifo", [ fifo ])
        mk.WaitForExit()
        Assert.Equal(0, mk.ExitCode)

    let p, o, e = start ("eval" :: evalArgs out [ "--states"; fifo ])

    let opening =
        Tasks.Task.Run(fun () -> new FileStream(fifo, FileMode.Open, FileAccess.Write))

    if not (opening.Wait(TimeSpan.FromSeconds 120.0)) then
        p.Kill true
        p.WaitForExit()
        failwith $"eval never opened --states: {o} {e}"

    signal "TERM" p.Id
    waitFor 60.0 (fun () -> (lock e (fun () -> string e)).Contains "SIGTERM: stopping")

    do
        use w = new StreamWriter(opening.Result)
        w.WriteLine "state"

        for t in 0..59 do
            w.WriteLine(string (t / 15 % 2))

    let code, stdout, err = finish 120 (p, o, e)
    Assert.True((code = 143), $"exit {code}: {stdout} {err}")
    Assert.Contains("nothing written", stdout)
    Assert.False(Directory.Exists out, $"{out} left")
    let code, _, err = run ("eval" :: evalArgs out [])
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Equal<string list>(TiDHy.Cli.EvalCommand.EvalFiles |> List.sort, entries out)

[<Fact>]
let ``A second process on the same output folder fails at once while the first holds it`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let first = start (tinyTrain dir out 100000 [])
    let p, _, _ = first
    waitFor 60.0 (fun () -> File.Exists(Path.Combine(out, "last.tidhy.json")))

    try
        let code, _, err = finish 60 (start (tinyTrain dir out 1 [ "--resume" ]))
        Assert.Equal(1, code)
        Assert.Contains("in use by another tidhy process", err)
        let code, _, err = finish 60 (start (tinyTrain dir out 1 [ "--force" ]))
        Assert.Equal(1, code)
        Assert.Contains("in use by another tidhy process", err)
        Assert.False(p.HasExited, "the first process ended")
    finally
        p.Kill true
        p.WaitForExit()

[<Fact>]
let ``Killed at random moments twenty times, training never leaves an unloadable checkpoint or a pile of temp files``
    ()
    =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let rng = Random 13
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")

    for i in 1..20 do
        let p, _, _ = start (tinyTrain dir out 100000 [ "--resume" ])
        Thread.Sleep(300 + rng.Next 1200)
        p.Kill true
        p.WaitForExit()
        let last = Path.Combine(out, "last.tidhy.json")

        let stored = Checkpoint.read last
        Assert.True(stored.State.Epoch >= 1)

        // A killed writer leaves at most the temporary files of the writes in flight; the next
        // start removes them.
        let temps = tempFiles out
        let listed = String.Join(", ", temps)
        Assert.True(temps.Length <= 2, $"round {i}: {temps.Length} temporary files: {listed}")

[<Fact>]
let ``Temporary files a killed writer left are removed when the next run takes the folder`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")
    let stale = Path.Combine(out, $"last.tidhy.json.tmp-{Guid.NewGuid():N}")
    File.WriteAllText(stale, "half a checkpoint")
    let notes = Path.Combine(out, "notes.tmp-keep")
    File.WriteAllText(notes, "mine")
    let code, _, err = run (tinyTrain dir out 2 [ "--resume" ])
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.False(File.Exists stale, "the stale temporary file is still there")
    Assert.True(File.Exists notes)

[<Fact>]
let ``Every command refuses an output that holds a run's files unless told --force`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")

    let snapshot () =
        Directory.GetFiles out
        |> Array.filter (fun f -> Path.GetFileName f <> ".tidhy.lock")
        |> Array.sort
        |> Array.map (fun f -> f, File.ReadAllBytes f)

    let before = snapshot ()
    let data = Path.Combine(dir, "series.csv")
    let last = Path.Combine(out, "last.tidhy.json")
    let code, _, err = run [ "eval"; "--model"; last; "--data"; data; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("--force", err)
    let model = Path.Combine(out, "model.json")
    let cfg = Path.Combine(out, "config.json")

    let code, _, err =
        run [ "import-torch"; "--state-dict"; model; "--config"; cfg; "--out"; last ]

    Assert.Equal(1, code)
    Assert.Contains("--force", err)
    let code, _, err = run [ "demo"; "--epochs"; "1"; "--out"; out ]
    Assert.Equal(1, code)
    Assert.Contains("--force", err)
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.Equal(1, code)
    Assert.Contains("--resume", err)
    Assert.Equal<(string * byte[])[]>(before, snapshot ())
    // An evaluation folder is a run's folder too.
    let ev = Path.Combine(dir, "eval")
    let code, _, err = run [ "eval"; "--model"; last; "--data"; data; "--out"; ev ]
    Assert.True((code = 0), $"exit {code}: {err}")
    let code, _, err = run (tinyTrain dir ev 1 [])
    Assert.Equal(1, code)
    Assert.Contains("--force", err)
    // --force replaces.
    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                model
                "--config"
                cfg
                "--out"
                last
                "--force"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")

    let code, _, err =
        run [ "eval"; "--model"; last; "--data"; data; "--out"; out; "--force" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.True(File.Exists(Path.Combine(out, "record.npz")))
    // eval --force replaces its own files, never the run's checkpoints or weights.
    Assert.True(File.Exists(Path.Combine(out, "best.tidhy.json")))
    Assert.True(File.Exists model)

[<Fact>]
let ``Bad option values are usage errors, exit 2, before any file is read or written`` () =
    let dir = tempDir ()
    let missing = Path.Combine(dir, "missing.csv")
    let out = Path.Combine(dir, "never")

    let cases =
        [
            [ "train"; "--data"; missing; "--out"; out; "--batch-size"; "0" ]
            [ "train"; "--data"; missing; "--out"; out; "--batch-size"; "-4" ]
            [ "train"; "--data"; missing; "--out"; out; "--epochs"; "-3" ]
            [ "train"; "--data"; missing; "--out"; out; "--epochs"; "0" ]
            [ "train"; "--data"; missing; "--out"; out; "--val-fraction"; "NaN" ]
            [ "train"; "--data"; missing; "--out"; out; "--val-fraction"; "1" ]
            [ "train"; "--data"; missing; "--out"; out; "--val-fraction"; "-0.1" ]
            [ "train"; "--data"; missing; "--out"; out; "--val-fraction"; "Infinity" ]
            [ "train"; "--data"; missing; "--out"; out; "--validate-every"; "-1" ]
            [ "train"; "--data"; missing; "--out"; out; "--resume"; "--force" ]
            [
                "eval"
                "--model"
                missing
                "--data"
                missing
                "--out"
                out
                "--batch-size"
                "0"
            ]
            [ "demo"; "--epochs"; "-1"; "--out"; out ]
            [ "demo"; "--epochs"; "0"; "--out"; out ]
            [ "bench"; "--batch"; "0" ]
            [ "bench"; "--batch"; "4,x" ]
            [ "bench"; "--max-reference-batch"; "-1"; "--batch"; "1" ]
        ]

    for args in cases do
        let code, _, err = run args
        let shown = String.Join(" ", args)
        Assert.True((code = 2), $"{shown}: exit {code}: {err}")
        Assert.False(Directory.Exists out, $"{shown}: created {out}")

[<Fact>]
let ``--resume refuses other data, batch size or seed, and without --config uses the checkpoint's configuration`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let code, _, err = run (tinyTrain dir out 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")
    let other = writeSeries dir "other.csv" 70
    let args = tinyTrain dir out 2 [ "--resume" ]

    let withData d =
        args |> List.map (fun a -> if a.EndsWith "series.csv" then d else a)

    let code, _, err = run (withData other)
    Assert.Equal(1, code)
    Assert.Contains("other data", err)
    let code, _, err = run (args |> List.map (fun a -> if a = "4" then "2" else a))
    Assert.Equal(1, code)
    Assert.Contains("--batch-size 4", err)
    let code, _, err = run (args @ [ "--seed"; "3" ])
    Assert.Equal(1, code)
    Assert.Contains("--seed", err)

    let code, _, err =
        run (args |> List.filter (fun a -> a <> "--val-fraction" && a <> "0"))

    Assert.Equal(1, code)
    Assert.Contains("other data", err)
    // Without --config nor --batch-size: the checkpoint's configuration and batch size.
    let bare =
        [
            "train"
            "--data"
            Path.Combine(dir, "series.csv")
            "--out"
            out
            "--val-fraction"
            "0"
            "--epochs"
            "2"
            "--resume"
        ]

    let code, _, err = run bare
    Assert.True((code = 0), $"exit {code}: {err}")
    let stored = Checkpoint.read (Path.Combine(out, "last.tidhy.json"))
    Assert.Equal(2, stored.State.Epoch)
    Assert.Equal(2, stored.Config.RDim)
    Assert.Equal(Some 4, stored.Run |> Option.map _.BatchSize)

let private divergingConfig (dir: string) (lr: string) =
    let path = Path.Combine(dir, $"diverging-{Guid.NewGuid():N}.json")

    File.WriteAllText(
        path,
        $"""{{"r_dim": 3, "r2_dim": 2, "mix_dim": 4, "hyper_hid_dim": 8, "max_iter": 20, "tol": 0.01, "sequence_length": 10,
             "overlap": 5, "learning_rate_s": {lr}, "learning_rate_t": {lr}, "learning_rate_h": {lr}}}"""
    )

    path

[<Fact>]
let ``A run whose last step diverges exits 1 naming epoch, batch and quantity, and writes no NaN`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 120
    let out = Path.Combine(dir, "run")

    let code, stdout, err =
        train data (divergingConfig dir "1.79e308") out [ "--batch-size"; "32"; "--epochs"; "1"; "--val-fraction"; "0" ]

    Assert.True((code = 1), $"exit {code}: {stdout} {err}")
    Assert.Contains("diverged at epoch 1, batch 1", err)
    Assert.Contains("params", err)
    Assert.DoesNotContain("Done", stdout)

    for f in Directory.GetFiles out do
        let text = File.ReadAllText f
        Assert.False(text.Contains "NaN" || text.Contains "Infinity", $"{f} holds a non-finite value")

    Assert.False(File.Exists(Path.Combine(out, "model.json")))
    // A NaN validation loss stops the run too, instead of an empty cell.
    let out2 = Path.Combine(dir, "run2")

    let code, stdout, err =
        train data (divergingConfig dir "1e300") out2 [ "--batch-size"; "32"; "--epochs"; "2" ]

    Assert.True((code = 1), $"exit {code}: {stdout} {err}")
    Assert.Contains("validation loss", err)
    Assert.False(File.Exists(Path.Combine(out2, "metrics.csv")))
    Assert.False(File.Exists(Path.Combine(out2, "last.tidhy.json")))

/// The checkpoint `path` with its body changed by `edit` under a valid checksum.
let private rewriteCheckpoint (path: string) (target: string) (edit: JsonObject -> unit) =
    let bytes = File.ReadAllBytes path
    let nl = Array.IndexOf(bytes, byte '\n')

    let body =
        JsonNode.Parse(Encoding.UTF8.GetString(bytes, nl + 1, bytes.Length - nl - 1)).AsObject()

    edit body
    let text = Encoding.UTF8.GetBytes(body.ToJsonString())
    let sha = Convert.ToHexString(SHA256.HashData text).ToLowerInvariant()
    File.WriteAllBytes(target, Array.append (Encoding.ASCII.GetBytes $"TIDHY-CHECKPOINT 1 sha256={sha}\n") text)

let private oneLine (err: string) =
    Assert.True(err.Trim().Length > 0 && not (err.Trim().Contains '\n'), $"not one line: {err}")

[<Fact>]
let ``Malformed files and unwritable folders give one line naming the file and field, exit 1`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let run1 = Path.Combine(dir, "run")
    let code, _, err = run (tinyTrain dir run1 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")
    let last = Path.Combine(run1, "last.tidhy.json")
    let n = ref 0

    let outDir () =
        n.Value <- n.Value + 1
        Path.Combine(dir, $"out{n.Value}")

    for field, value in [ "epoch", "1.5"; "batch", "-1"; "step", "2147483648" ] do
        let bad = Path.Combine(dir, $"bad-{field}.tidhy.json")

        rewriteCheckpoint last bad (fun o ->
            if field = "step" then
                let opt = o["optimizer"].AsObject()
                opt["step"] <- JsonNode.Parse value
            else
                o[field] <- JsonNode.Parse value)

        let code, _, err =
            run [ "eval"; "--model"; bad; "--data"; data; "--out"; outDir () ]

        Assert.True((code = 1), $"{field}: exit {code}: {err}")
        Assert.Contains(bad, err)
        Assert.Contains(field, err)
        oneLine err

    let dup = Path.Combine(dir, "dup.json")

    File.WriteAllText(
        dup,
        """{"r_dim": 3, "r_dim": 4, "r2_dim": 2, "mix_dim": 4, "hyper_hid_dim": 8, "sequence_length": 10, "overlap": 5}"""
    )

    let code, _, err =
        run [ "train"; "--data"; data; "--config"; dup; "--out"; outDir () ]

    Assert.Equal(1, code)
    Assert.Contains("dup.json", err)
    Assert.Contains("r_dim", err)
    oneLine err
    let frac = writeConfig dir ", \"input_dim\": 3.5"

    let code, _, err =
        run [ "train"; "--data"; data; "--config"; frac; "--out"; outDir () ]

    Assert.Equal(1, code)
    Assert.Contains(frac, err)
    Assert.Contains("input_dim", err)
    oneLine err
    let fracDim = writeConfig dir ", \"r_dim\": 2.5"

    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                Path.Combine(run1, "model.json")
                "--config"
                fracDim
                "--out"
                Path.Combine(dir, "i.tidhy.json")
            ]

    Assert.Equal(1, code)
    Assert.Contains(fracDim, err)
    oneLine err
    // A state_dict naming one tensor twice.
    let sd = File.ReadAllText(Path.Combine(run1, "model.json"))
    let first = sd.IndexOf "\n  \""
    let line = sd.Substring(first + 1, sd.IndexOf('\n', first + 1) - first - 1)
    let dupSd = Path.Combine(dir, "dup-sd.json")
    File.WriteAllText(dupSd, sd.Insert(first + 1, line + "\n"))

    let code, _, err =
        run
            [
                "eval"
                "--model"
                dupSd
                "--config"
                Path.Combine(run1, "config.json")
                "--data"
                data
                "--out"
                outDir ()
            ]

    Assert.Equal(1, code)
    Assert.Contains("dup-sd.json", err)
    Assert.Contains(line.Trim().Split(':').[0].Trim('"'), err)
    oneLine err
    // An output folder that cannot be created (sysfs is read-only, for root too).
    let code, _, err = run (tinyTrain dir $"/sys/tidhy-{Guid.NewGuid():N}" 1 [])
    Assert.Equal(1, code)
    Assert.Contains("/sys/tidhy-", err)
    oneLine err
    // A directory given as the series.
    let code, _, err = run [ "train"; "--data"; dir; "--out"; outDir () ]
    Assert.Equal(1, code)
    Assert.Contains(dir, err)
    oneLine err

[<Fact>]
let ``eval and train report the share of inference steps at max_iter, and eval warns when the objective explodes`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let run1 = Path.Combine(dir, "run")
    let code, stdout, err = run (tinyTrain dir run1 1 [])
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("stopped at max_iter = 10", stdout)
    Assert.Contains("max_iter_share", File.ReadAllLines(Path.Combine(run1, "metrics.csv"))[0])
    let exploding = Path.Combine(dir, "exploding.json")

    File.WriteAllText(
        exploding,
        File
            .ReadAllText(Path.Combine(dir, "tiny.json"))
            .Replace("\"tol\": 0.01", "\"tol\": 0, \"lr_r\": 50, \"lr_r2\": 50")
    )

    let ev = Path.Combine(dir, "eval")

    let code, stdout, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(run1, "model.json")
                "--config"
                exploding
                "--data"
                data
                "--out"
                ev
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("100.0% of the inference steps stopped at max_iter = 10", stdout)
    Assert.Contains("Warning: the reconstruction loss exploded", err)
    let metrics = File.ReadAllLines(Path.Combine(ev, "metrics.csv"))
    Assert.EndsWith("max_iter_share", metrics[0])
    Assert.EndsWith(",1", metrics[1])
    Assert.Contains("stopped at max_iter", File.ReadAllText(Path.Combine(ev, "index.html")))

[<Fact>]
let ``A command refused after taking its output folder's lock leaves no folder behind, and an existing one as it was``
    ()
    =
    let dir = tempDir ()
    let missing = Path.Combine(dir, "missing.csv")
    let fresh = Path.Combine(dir, "new")
    let out = Path.Combine(fresh, "run")

    let cases (out: string) =
        [
            [ "train"; "--data"; missing; "--out"; out ]
            [ "eval"; "--model"; missing; "--data"; missing; "--out"; out ]
            [
                "import-torch"
                "--state-dict"
                missing
                "--config"
                missing
                "--out"
                Path.Combine(out, "m.tidhy.json")
            ]
        ]

    for args in cases out do
        let code, _, err = run args
        let shown = String.Join(" ", args)
        Assert.True((code = 1), $"{shown}: exit {code}: {err}")
        Assert.Contains("missing.csv", err)
        // Neither the run folder nor the folder above it, both made by the command, is left.
        Assert.False(Directory.Exists fresh, $"{shown}: left {fresh}")

    // A folder that existed keeps what it held (the lock file, which the command made, stays).
    let existing = Path.Combine(dir, "existing")
    Directory.CreateDirectory existing |> ignore
    File.WriteAllText(Path.Combine(existing, "notes.txt"), "kept")

    for args in cases existing do
        let code, _, err = run args
        Assert.True((code = 1), $"exit {code}: {err}")
        Assert.Equal<string list>([ "notes.txt" ], entries existing)
        Assert.Equal("kept", File.ReadAllText(Path.Combine(existing, "notes.txt")))

[<Fact>]
let ``An --out that cannot be written is refused at once, naming --out, and nothing is written`` () =
    let dir = tempDir ()
    let file = Path.Combine(dir, "a-file")
    File.WriteAllText(file, "kept")
    let sweep = Path.Combine(dir, "sweep.json")
    File.WriteAllText(sweep, """{"name": "t", "data": "slds", "base": {"epochs": 1}, "seeds": [1]}""")

    let commands (out: string) =
        [
            [ "sweep"; "plan"; sweep; "--out"; out ]
            [ "reproduce"; "slds"; "--out"; out; "--epochs"; "1" ]
            [ "bench"; "scale"; "--batches"; "1"; "--lengths"; "5"; "--out"; out ]
        ]

    for out, says in
        [
            file, "is a file; --out names a folder"
            Path.Combine(file, "below"), $"{file} is a file, not a folder"
            "/proc/tidhy-test/out", "cannot be written: /proc takes no new file"
        ] do
        for args in commands out do
            let code, stdout, err = run args
            let shown = String.Join(" ", args)
            Assert.True((code = 1), $"{shown}: exit {code}: {err}")
            let first = err.Trim().Split('\n')[0]
            Assert.Equal($"tidhy: --out {out}: {says}", first.TrimEnd('.'))
            Assert.Equal("", stdout.Trim())

    Assert.Equal("kept", File.ReadAllText file)
    Assert.Equal<string list>([ "a-file"; "sweep.json" ], entries dir)
