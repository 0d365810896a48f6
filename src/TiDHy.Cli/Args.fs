/// What the `tidhy` commands share: the one-line user error and usage error, checks of numeric
/// options, reading a configuration and a series with errors naming the file, cutting windows, the
/// output folder's lock and overwrite guard, and Ctrl-C / SIGTERM handling. Every command returns an
/// exit code: 0 done, 1 failed (the message names the file, field or value), 2 bad usage (before any
/// file is read or written), 130 stopped by Ctrl-C and 143 stopped by SIGTERM after saving a checkpoint.
module TiDHy.Cli.Args

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open System.Text.Json.Nodes
open System.Threading
open TiDHy.Functional

/// A failure the user can fix, reported as one line without a stack trace (exit code 1).
exception UserError of string

/// A bad option value, reported as one line (exit code 2) before any file is read or written.
exception UsageError of string

/// Raises a `UserError` with `msg`.
let fail msg = raise (UserError msg)

/// Raises a `UsageError` with `msg`.
let usage msg = raise (UsageError msg)

/// `value` when it is at least 1; a usage error naming `option` otherwise.
let positive (option: string) (value: int) =
    if value < 1 then
        usage $"{option}: expected a positive integer, got {value}."

    value

/// `value` when it is at least 0; a usage error naming `option` otherwise.
let nonNegative (option: string) (value: int) =
    if value < 0 then
        usage $"{option}: expected an integer >= 0, got {value}."

    value

/// The configuration JSON at `path` (upstream's names), parsed; errors name the file.
let readConfig (path: string) : Config =
    let text =
        try
            File.ReadAllText path
        with ex ->
            fail $"{path}: cannot be read: {ex.Message}"

    try
        ConfigJson.parse text
    with InvalidConfigException errs ->
        let listed = String.Join("; ", errs |> List.map string)
        fail $"{path}: {listed}"

/// The configuration from `path` (or the defaults) for data with `features` columns: `input_dim`
/// is taken from the data when absent and must match it when present. Errors (unreadable file,
/// invalid JSON, a key given twice, a value of the wrong type or out of range) name the file and key.
let configFor (path: string option) (features: int) : Config =
    match path with
    | None -> Config.defaults features
    | Some path ->
        let text =
            try
                File.ReadAllText path
            with ex ->
                fail $"{path}: cannot be read: {ex.Message}"

        let parsed (text: string) =
            try
                ConfigJson.parse text
            with InvalidConfigException errs ->
                let listed = String.Join("; ", errs |> List.map string)
                fail $"{path}: {listed}"

        let props =
            try
                use doc = JsonDocument.Parse text

                if doc.RootElement.ValueKind <> JsonValueKind.Object then
                    fail $"{path}: expected a JSON object of hyperparameters."

                doc.RootElement.EnumerateObject()
                |> Seq.map (fun p -> p.Name, p.Value.Clone())
                |> Seq.toList
            with :? JsonException as ex ->
                fail $"{path}: not valid JSON: {ex.Message}"

        if props |> List.countBy fst |> List.exists (fun (_, n) -> n > 1) then
            parsed text // ConfigJson names the duplicate key
        else
            match props |> List.tryFind (fst >> (=) "input_dim") with
            | None ->
                let o = JsonNode.Parse(text).AsObject()
                o["input_dim"] <- JsonValue.Create features
                parsed (o.ToJsonString())
            | Some(_, v) ->
                let mutable d = 0

                if not (v.ValueKind = JsonValueKind.Number && v.TryGetInt32(&d)) then
                    fail
                        $"{path}: input_dim = {v.GetRawText()}: expected an integer (the data has {features} features)."

                if d <> features then
                    fail $"{path}: input_dim = {d} but the data has {features} features."

                parsed text

/// True when the file at `path` is empty or holds only white space (read up to its first 4 KiB that
/// are not white space).
let isBlank (path: string) =
    use s = File.OpenRead path
    let buffer = Array.zeroCreate<byte> 4096
    let mutable blank = true
    let mutable n = s.Read(buffer, 0, buffer.Length)

    while blank && n > 0 do
        for i in 0 .. n - 1 do
            match buffer[i] with
            | 32uy
            | 9uy
            | 10uy
            | 13uy -> ()
            | _ -> blank <- false

        n <- if blank then s.Read(buffer, 0, buffer.Length) else 0

    blank

/// `path` when its file exists (the part before a dataset path such as `file.h5:/x`); else an error.
let private existing (path: string) =
    let file, _ = Data.splitDatasetPath path

    if not (File.Exists file) then
        fail $"{file}: no such file."

    path

/// Loads a series `[time; features]` from a .csv, .npy, .npz or .h5 file (`file.h5:/dataset`).
let loadSeries (path: string) : float[,] = Data.load (existing path)

/// `loadSeries` for a `--states` file of integer labels (`Data.loadLabels`).
let loadStates (path: string) : float[,] = Data.loadLabels (existing path)

/// Windows `[count; sequence_length; features]` of `cfg.SequenceLength` steps starting `step` apart
/// (upstream's `stack_data`), of a series `[time; features]`; an error naming `what` when the series
/// is shorter than one window or holds values outside the loss's domain (`Data.checkDomain`).
let windowsOf (what: string) (cfg: Config) (step: int) (series: float[,]) =
    Data.checkDomain cfg what series

    if Array2D.length1 series < cfg.SequenceLength then
        fail
            $"{what}: {Array2D.length1 series} time steps, fewer than one window of sequence_length = {cfg.SequenceLength}."

    try
        Series.windowsStrided cfg.SequenceLength step series
    with :? ArgumentException as ex ->
        // Too many windows for the memory: one line naming the file.
        let suffix = $" (Parameter '{ex.ParamName}')"
        fail $"{what}: {ex.Message.Replace(suffix, String.Empty)}"

/// The files a command writes into a run or report folder: checkpoints, configuration, weights,
/// metrics, the evaluation record, the report, and the SVG plots that reports of earlier versions held.
let isRunFile (name: string) =
    match name with
    | "config.json"
    | "last.tidhy.json"
    | "best.tidhy.json"
    | "model.json"
    | "metrics.csv"
    | "record.npz"
    | "record.h5"
    | "index.html"
    | "losses.svg"
    | "r.svg"
    | "r2.svg"
    | "W.svg"
    | "states.svg" -> true
    | n ->
        n.StartsWith("reconstruction_", StringComparison.Ordinal)
        && n.EndsWith(".svg", StringComparison.Ordinal)

/// The run files (`isRunFile`) already in `dir`, sorted.
let runFilesIn (dir: string) =
    if Directory.Exists dir then
        Directory.EnumerateFiles dir
        |> Seq.map Path.GetFileName
        |> Seq.filter isRunFile
        |> Seq.sort
        |> Seq.toList
    else
        []

/// Fails when the output folder `dir` already holds a run's files and `force` is not set; returns
/// the files that `--force` replaces (once every check has passed: removed by `removeRunFiles`, or
/// set aside by `setAside` until the new run has its first checkpoint).
let guardOutput (dir: string) (force: bool) =
    match runFilesIn dir with
    | [] -> []
    | files when force -> files
    | files ->
        let shown = String.Join(", ", files |> List.truncate 4)

        let more =
            if files.Length > 4 then
                $" and {files.Length - 4} more"
            else
                ""

        fail
            $"{dir} already holds a run's files ({shown}{more}); pass --force to replace them, or choose another --out."

/// Removes `files` from `dir` (what `--force` replaces).
let removeRunFiles (dir: string) (files: string list) =
    for f in files do
        File.Delete(Path.Combine(dir, f))

/// The folder, inside a run folder, that holds the run `train --force` replaces until the new run
/// has written its first checkpoint (`setAside`).
[<Literal>]
let ReplacedFolder = ".tidhy-replaced"

/// Written into `ReplacedFolder` once every replaced file is in it.
[<Literal>]
let private ReplacedMarker = ".complete"

let private replacedFiles (backup: string) =
    Directory.GetFiles backup
    |> Array.map Path.GetFileName
    |> Array.filter ((<>) ReplacedMarker)
    |> Array.sort

/// Deletes the replaced run kept in `dir` (the new run has its first checkpoint): its files, then
/// the marker, then the folder, so that an interruption leaves a state `recoverReplaced` reads right.
let commitReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        for f in replacedFiles backup do
            File.Delete(Path.Combine(backup, f))

        File.Delete(Path.Combine(backup, ReplacedMarker))
        Directory.Delete backup

/// Moves the replaced run kept in `dir` back into `dir` (the new run failed or was killed before its
/// first checkpoint), removing the run files that the new run wrote meanwhile (its config.json).
let restoreReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        let kept = replacedFiles backup

        // Without the marker the files were still being moved aside: those in `dir` are the
        // replaced run's too, and the new run has written nothing.
        if File.Exists(Path.Combine(backup, ReplacedMarker)) then
            for f in Directory.GetFiles dir |> Array.map Path.GetFileName do
                if isRunFile f && not (Array.contains f kept) then
                    File.Delete(Path.Combine(dir, f))

        for f in kept do
            File.Move(Path.Combine(backup, f), Path.Combine(dir, f), true)

        File.Delete(Path.Combine(backup, ReplacedMarker))
        Directory.Delete backup

/// Settles a replacement that a killed `train --force` left in `dir` (under the lock): when the new
/// run had written its first checkpoint, the replaced run is deleted; otherwise it is restored.
let recoverReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        if
            File.Exists(Path.Combine(backup, ReplacedMarker))
            && File.Exists(Path.Combine(dir, "last.tidhy.json"))
        then
            commitReplaced dir

            eprintfn
                "Removed the run that an interrupted --force replaced in %s (the new run had written its first checkpoint)."
                dir
        else
            restoreReplaced dir
            eprintfn "Restored the run in %s that an interrupted --force was replacing." dir

/// Moves `files` (what `--force` replaces, `guardOutput`) of `dir` into its `ReplacedFolder`, where
/// they stay until `commitReplaced` deletes them (the new run has written its first checkpoint) or
/// `restoreReplaced` puts them back (it failed before); a process killed in between leaves them for
/// `recoverReplaced`, which the next `lockOutput` of the folder runs.
let setAside (dir: string) (files: string list) =
    if not files.IsEmpty then
        let backup = Path.Combine(dir, ReplacedFolder)
        Directory.CreateDirectory backup |> ignore

        for f in files do
            File.Move(Path.Combine(dir, f), Path.Combine(backup, f), true)

        File.WriteAllText(Path.Combine(backup, ReplacedMarker), "")

/// The name of the lock file a command holds in its output folder while it runs.
[<Literal>]
let LockFile = ".tidhy.lock"

/// Takes the exclusive lock of the output folder `dir` (created when missing) for the lifetime of
/// the returned value: the file `.tidhy.lock` in it, opened with `FileShare.None` (an advisory
/// `flock` on Unix), which the system releases when the process ends, however it ends. A second
/// `tidhy` process on the same folder fails at once naming it. A lock file that is a symbolic link
/// is refused (never followed). With the lock held, the temporary files that a killed writer left
/// (`DataFile.removeTemporaries`) are removed, and a replacement that a killed `train --force` left
/// is settled (`recoverReplaced`).
let lockOutput (dir: string) : IDisposable =
    try
        Directory.CreateDirectory dir |> ignore
    with
    | :? IOException
    | :? UnauthorizedAccessException as ex -> fail $"{dir}: cannot create the output folder: {ex.Message}"

    let path = Path.Combine(dir, LockFile)

    // A lock planted as a symbolic link would be followed: its target created or truncated
    // elsewhere. Refuse it, before opening and again once open (a link made in between).
    let refuseLink () =
        match FileInfo(path).LinkTarget with
        | null -> ()
        | target ->
            fail
                $"{path} is a symbolic link (to {target}); tidhy does not follow it: remove it, or choose another --out."

    refuseLink ()

    let stream =
        try
            new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
        with
        | :? UnauthorizedAccessException as ex -> fail $"{dir}: the output folder is not writable: {ex.Message}"
        | :? IOException ->
            fail
                $"{dir} is in use by another tidhy process (it holds {path}); wait for it to finish or choose another --out."

    try
        refuseLink ()
    with _ ->
        stream.Dispose()
        reraise ()

    let removed = DataFile.removeTemporaries dir

    if removed > 0 then
        eprintfn "Removed %d temporary file(s) left in %s by an interrupted run." removed dir

    recoverReplaced dir
    stream

/// Stops a long command cleanly on Ctrl-C (SIGINT) or SIGTERM, for the lifetime of the value: the
/// first signal cancels `cts` instead of ending the process (training stops and saves a
/// checkpoint) and prints `stopping` (by default what training does); a second one ends the
/// process at once. `ExitCode` is 130 after Ctrl-C and 143 after SIGTERM (128 + the signal number,
/// as a shell reports a process the signal ended).
type StopSignals(cts: CancellationTokenSource, ?stopping: string) =
    let mutable exitCode = 130

    let stopping = defaultArg stopping "stopping and saving a checkpoint"

    let stop (code: int) (name: string) =
        if cts.IsCancellationRequested then
            false
        else
            exitCode <- code
            cts.Cancel()
            eprintfn "%s: %s (again to quit at once)…" name stopping
            true

    let ctrlC =
        ConsoleCancelEventHandler(fun _ e ->
            if stop 130 "Ctrl-C" then
                e.Cancel <- true)

    let term =
        PosixSignalRegistration.Create(
            PosixSignal.SIGTERM,
            fun ctx ->
                if stop 143 "SIGTERM" then
                    ctx.Cancel <- true
        )

    do Console.CancelKeyPress.AddHandler ctrlC

    /// 130 after Ctrl-C, 143 after SIGTERM.
    member _.ExitCode = exitCode

    interface IDisposable with
        member _.Dispose() =
            Console.CancelKeyPress.RemoveHandler ctrlC
            term.Dispose()

/// The share of inference steps that stop at `max_iter` above which the commands warn.
[<Literal>]
let MaxIterWarning = 0.1

/// Prints how many inference steps stopped at `max_iter` (`share`), and a warning on standard error
/// when more than `MaxIterWarning` of them did.
let reportMaxIter (what: string) (maxIter: int) (share: float) =
    printfn "Inference: %.1f%% of %s inference steps stopped at max_iter = %d." (100.0 * share) what maxIter

    if share > MaxIterWarning then
        eprintfn
            "Warning: %.1f%% of %s inference steps stopped at max_iter = %d without converging; the results are unreliable (raise max_iter or tol, or lower lr_r / lr_r2)."
            (100.0 * share)
            what
            maxIter
