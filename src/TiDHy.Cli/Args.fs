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

/// Loads a series `[time; features]` from a .csv, .npy, .npz or .h5 file (`file.h5:/dataset`).
let loadSeries (path: string) : float[,] =
    let file, _ = Data.splitDatasetPath path

    if not (File.Exists file) then
        fail $"{file}: no such file."

    Data.load path

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

/// The name of the lock file a command holds in its output folder while it runs.
[<Literal>]
let LockFile = ".tidhy.lock"

/// Takes the exclusive lock of the output folder `dir` (created when missing) for the lifetime of
/// the returned value: the file `.tidhy.lock` in it, opened with `FileShare.None` (an advisory
/// `flock` on Unix), which the system releases when the process ends, however it ends. A second
/// `tidhy` process on the same folder fails at once naming it. With the lock held, the temporary
/// files that a killed writer left (`DataFile.removeTemporaries`) are removed.
let lockOutput (dir: string) : IDisposable =
    try
        Directory.CreateDirectory dir |> ignore
    with
    | :? IOException
    | :? UnauthorizedAccessException as ex -> fail $"{dir}: cannot create the output folder: {ex.Message}"

    let path = Path.Combine(dir, LockFile)

    let stream =
        try
            new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
        with
        | :? UnauthorizedAccessException as ex -> fail $"{dir}: the output folder is not writable: {ex.Message}"
        | :? IOException ->
            fail
                $"{dir} is in use by another tidhy process (it holds {path}); wait for it to finish or choose another --out."

    let removed = DataFile.removeTemporaries dir

    if removed > 0 then
        eprintfn "Removed %d temporary file(s) left in %s by an interrupted run." removed dir

    stream

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
/// the files that `--force` replaces (removed by `removeRunFiles` once every check has passed).
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

/// Stops a long command cleanly on Ctrl-C (SIGINT) or SIGTERM, for the lifetime of the value: the
/// first signal cancels `cts` instead of ending the process (training stops after its batch and
/// saves a checkpoint); a second one ends the process at once. `ExitCode` is 130 after Ctrl-C and
/// 143 after SIGTERM (128 + the signal number, as a shell reports a process the signal ended).
type StopSignals(cts: CancellationTokenSource) =
    let mutable exitCode = 130

    let stop (code: int) (name: string) =
        if cts.IsCancellationRequested then
            false
        else
            exitCode <- code
            eprintfn "%s: stopping after the current batch and saving a checkpoint (again to quit at once)…" name
            cts.Cancel()
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

/// The share of `iterations` (inference iterations per step) that reached `maxIter`, from 0 to 1.
let maxIterShare (maxIter: int) (iterations: int[]) =
    if iterations.Length = 0 then
        0.0
    else
        float (iterations |> Array.filter (fun i -> i >= maxIter) |> Array.length)
        / float iterations.Length

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
