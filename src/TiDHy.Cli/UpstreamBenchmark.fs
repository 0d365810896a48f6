/// `tidhy bench train --upstream DIR`: upstream TiDHy's PyTorch training step timed in the same run
/// as this project's, by the harness bench/upstream/train_step.py (embedded in this program as the
/// resource `train_step.py` and written to a temporary folder when it runs), on the same windows;
/// then, per setting, the ratio of this project's windows per second to upstream's. `tidhy bench
/// --upstream DIR`: the same harness's `--inference` mode times upstream's inference (its model's
/// forward) on `tidhy bench`'s windows; then each of this project's rows' speedup over upstream's
/// row of the same batch size.
module TiDHy.Cli.UpstreamBenchmark

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Text.Json
open TiDHy.Cli.Args

/// The harness's resource name.
let resourceName = "train_step.py"

/// The file of upstream's PyTorch model inside a checkout.
let modelFile = Path.Combine("TiDHy", "models", "TiDHy.py")

/// A user error unless `dir` is a folder holding upstream's PyTorch model (TiDHy/models/TiDHy.py).
let checkUpstreamDir (dir: string) =
    if not (Directory.Exists dir) then
        fail $"--upstream {dir}: no such directory."

    if not (File.Exists(Path.Combine(dir, modelFile))) then
        fail
            $"--upstream {dir}: no TiDHy/models/TiDHy.py there; expected a checkout of github.com/elliottabe/TiDHy's PyTorch-era code (e.g. commit da3d280)."

/// The python to run: `--python` as given (a name without a folder is looked up on PATH), else
/// /usr/bin/python3 where there is one, else python3 on PATH; a user error when there is none.
let resolvePython (given: string option) =
    let onPath (name: string) =
        (Environment.GetEnvironmentVariable "PATH"
         |> Option.ofObj
         |> Option.defaultValue "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        |> Array.map (fun d -> Path.Combine(d, name))
        |> Array.tryFind File.Exists

    match given with
    | Some p when p.Contains(Path.DirectorySeparatorChar) || p.Contains('/') ->
        if File.Exists p then
            p
        else
            fail $"--python {p}: no such file."
    | Some p ->
        match onPath p with
        | Some path -> path
        | None -> fail $"--python {p}: not found on PATH."
    | None when File.Exists "/usr/bin/python3" -> "/usr/bin/python3"
    | None ->
        match onPath "python3" with
        | Some path -> path
        | None -> fail "--upstream: no python3 on PATH (nor /usr/bin/python3); pass --python PATH."

/// `read` applied to the properties of `line` (by name) when it is one JSON object; `None` for any
/// other line.
let private ofObject (line: string) (read: (string -> JsonElement option) -> 'a option) : 'a option =
    try
        use doc = JsonDocument.Parse line
        let root = doc.RootElement

        match root.ValueKind with
        | JsonValueKind.Object ->
            read (fun name ->
                match root.TryGetProperty name with
                | true, v -> Some v
                | _ -> None)
        | _ -> None
    with :? JsonException ->
        None

/// A property's value when it is a positive finite number.
let private positive (v: JsonElement option) =
    match v with
    | Some w when w.ValueKind = JsonValueKind.Number ->
        let x = w.GetDouble()
        if x > 0.0 && Double.IsFinite x then Some x else None
    | _ -> None

/// A property's value when it is a string.
let private text (v: JsonElement option) =
    match v with
    | Some s when s.ValueKind = JsonValueKind.String -> Some(s.GetString())
    | _ -> None

/// A property's value when it is an integer of at least 1.
let private count (v: JsonElement option) =
    match v with
    | Some n when n.ValueKind = JsonValueKind.Number ->
        match n.TryGetInt32() with
        | true, i when i >= 1 -> Some i
        | _ -> None
    | _ -> None

/// One row of `tidhy bench train` or of the harness, as (impl, setting, windows per second); `None`
/// for a line that is not a JSON object with a string `impl`, a string `setting` and a positive
/// number `windows_per_second` (the machine line, ratio lines, anything else).
let parseRow (line: string) : (string * string * float) option =
    ofObject line (fun prop ->
        match text (prop "impl"), text (prop "setting"), positive (prop "windows_per_second") with
        | Some impl, Some setting, Some wps -> Some(impl, setting, wps)
        | _ -> None)

/// The ratios of one setting: this project's windows per second ÷ upstream's, per impl.
type Ratio =
    {
        Setting: string
        UpstreamWindowsPerSecond: float
        /// (impl, our windows per second ÷ upstream's), in the order of `ours`.
        Ratios: (string * float) list
    }

/// For each setting upstream has a row for (in upstream's order), our rows of that setting divided
/// by upstream's windows per second; settings without a row of ours give no ratio.
let ratios (ours: (string * string * float) list) (upstream: (string * string * float) list) =
    [
        for _, setting, up in upstream do
            let mine =
                ours
                |> List.filter (fun (_, s, _) -> s = setting)
                |> List.map (fun (impl, _, wps) -> impl, wps / up)

            if not mine.IsEmpty then
                {
                    Setting = setting
                    UpstreamWindowsPerSecond = up
                    Ratios = mine
                }
    ]

let private inv (v: float) =
    v.ToString("R", CultureInfo.InvariantCulture)

/// A string as a JSON string literal.
let private quote (s: string) = JsonSerializer.Serialize s

/// The JSON line of a ratio: `{"setting": …, "upstream_windows_per_second": …, "ratio_to_upstream":
/// {"fused-float64": …, …}}`.
let ratioJson (r: Ratio) =
    let entries =
        r.Ratios
        |> List.map (fun (impl, ratio) -> $"{quote impl}: {inv ratio}")
        |> fun es -> String.Join(", ", es)

    $"{{\"setting\": {quote r.Setting}, \"upstream_windows_per_second\": {inv r.UpstreamWindowsPerSecond}, \"ratio_to_upstream\": {{{entries}}}}}"

/// The harness's text (the embedded resource).
let harnessText () =
    use s =
        Reflection.Assembly.GetExecutingAssembly().GetManifestResourceStream resourceName

    if isNull s then
        invalidOp $"the resource {resourceName} is missing from this program."

    use r = new StreamReader(s)
    r.ReadToEnd()

/// A checked harness: the python that runs it and the full path of upstream's checkout.
type Harness = { Python: string; Upstream: string }

/// Calls `f folder script` with a new temporary folder holding the harness (`script`); deletes
/// the folder afterwards, whatever happens.
let private withHarness (f: string -> string -> 'a) =
    let folder = Path.Combine(Path.GetTempPath(), $"tidhy-upstream-{Guid.NewGuid():N}")
    Directory.CreateDirectory folder |> ignore

    try
        let script = Path.Combine(folder, resourceName)
        File.WriteAllText(script, harnessText ())
        f folder script
    finally
        Directory.Delete(folder, true)

/// Runs the harness `script` with `args`; echoes standard output's lines (as `echo` says) and
/// returns them, with the exit code and standard error's lines.
let private runHarness (h: Harness) (script: string) (args: string list) (echo: bool) =
    let psi = ProcessStartInfo(h.Python)
    psi.ArgumentList.Add script

    for a in args do
        psi.ArgumentList.Add a

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false

    use p =
        try
            Process.Start psi
        with ex ->
            fail $"--upstream: cannot run {h.Python}: {ex.Message}"

    let errors = Collections.Concurrent.ConcurrentQueue<string>()

    p.ErrorDataReceived.Add(fun e ->
        if not (isNull e.Data) then
            errors.Enqueue e.Data)

    p.BeginErrorReadLine()

    let lines = ResizeArray<string>()
    let mutable line = p.StandardOutput.ReadLine()

    while not (isNull line) do
        if echo then
            printfn "%s" line

        lines.Add line
        line <- p.StandardOutput.ReadLine()

    p.WaitForExit()
    p.ExitCode, List.ofSeq lines, List.ofSeq errors

/// A user error naming the harness's exit code and its last line on standard error.
let private harnessFailed (h: Harness) (code: int) (errors: string list) =
    let last =
        errors
        |> List.filter (fun e -> not (String.IsNullOrWhiteSpace e))
        |> List.tryLast
        |> Option.map (fun e -> $": {e.Trim()}")
        |> Option.defaultValue ""

    fail $"--upstream: the harness ({h.Python} train_step.py) failed with exit code {code}{last}"

/// Checks `dir` and the python and runs the harness's `--check` (upstream's model and training
/// step import with this python's torch); a user error otherwise.
let prepare (dir: string) (python: string option) =
    checkUpstreamDir dir

    let h =
        {
            Python = resolvePython python
            Upstream = Path.GetFullPath dir
        }

    withHarness (fun _ script ->
        match runHarness h script [ "--upstream"; h.Upstream; "--check" ] false with
        | 0, _, _ -> h
        | code, _, errors -> harnessFailed h code errors)

/// Each batch of windows as float64 little-endian values, windows × length × features, row-major,
/// one batch after the other.
let private writeWindows (path: string) (batches: float[,,] list) =
    use w = new BinaryWriter(File.Create path)

    for X in batches do
        for i in 0 .. Array3D.length1 X - 1 do
            for t in 0 .. Array3D.length2 X - 1 do
                for d in 0 .. Array3D.length3 X - 1 do
                    w.Write X[i, t, d]

/// One row of `tidhy bench --json` or of the harness's `--inference` mode.
type InferenceRow =
    {
        Impl: string
        Batch: int
        SecondsPerIteration: float
        SampleIterationsPerSecond: float
        Runs: int
        /// The harness's torch threads and torch version (our rows have neither).
        Threads: int option
        Torch: string option
    }

/// One inference row; `None` for a line that is not a JSON object with a string `impl`, an integer
/// `batch` and `runs` of at least 1 and positive numbers `seconds_per_iteration` and
/// `sample_iterations_per_second` (skipped rows, speedup lines, training rows, anything else).
let parseInferenceRow (line: string) : InferenceRow option =
    ofObject line (fun prop ->
        match
            text (prop "impl"),
            count (prop "batch"),
            positive (prop "seconds_per_iteration"),
            positive (prop "sample_iterations_per_second"),
            count (prop "runs")
        with
        | Some impl, Some batch, Some spi, Some sips, Some runs ->
            Some
                {
                    Impl = impl
                    Batch = batch
                    SecondsPerIteration = spi
                    SampleIterationsPerSecond = sips
                    Runs = runs
                    Threads = count (prop "threads")
                    Torch = text (prop "torch")
                }
        | _ -> None)

/// One of our rows beside upstream's row of the same batch size.
type Speedup =
    {
        Impl: string
        Batch: int
        UpstreamSampleIterationsPerSecond: float
        /// Our sample-iterations per second ÷ upstream's.
        Speedup: float
    }

/// For each of our rows (impl, batch, sample-iterations per second), in order, its speedup over
/// upstream's row of the same batch size (the first such row); rows without one give none.
let speedups (ours: (string * int * float) list) (upstream: (string * int * float) list) =
    [
        for impl, batch, sips in ours do
            match upstream |> List.tryFind (fun (_, b, _) -> b = batch) with
            | Some(_, _, up) ->
                {
                    Impl = impl
                    Batch = batch
                    UpstreamSampleIterationsPerSecond = up
                    Speedup = sips / up
                }
            | None -> ()
    ]

/// The JSON line of a speedup: `{"impl": …, "batch": …, "upstream_sample_iterations_per_second": …,
/// "speedup_vs_upstream": …}`.
let speedupJson (s: Speedup) =
    $"{{\"impl\": {quote s.Impl}, \"batch\": {s.Batch}, \"upstream_sample_iterations_per_second\": {inv s.UpstreamSampleIterationsPerSecond}, \"speedup_vs_upstream\": {inv s.Speedup}}}"

/// The text line of a speedup.
let speedupText (s: Speedup) =
    let times = s.Speedup.ToString("F2", CultureInfo.InvariantCulture)

    $"{s.Impl, -16} batch {s.Batch, 5}: {times, 10}x upstream-pytorch's {s.UpstreamSampleIterationsPerSecond, 14:N0} sample-iterations/s"

/// Runs the harness with `args` on `batches` (written to a file of its temporary folder, `--data`)
/// and as many torch threads as the fused kernels' workers, echoing its standard output when
/// `echo` and passing standard error on; then `f` of its standard output's lines. Exit code 0, or a
/// user error when the harness fails.
let private measureWith
    (h: Harness)
    (batches: float[,,] list)
    (args: string list)
    (echo: bool)
    (f: string list -> unit)
    =
    withHarness (fun folder script ->
        let data = Path.Combine(folder, "windows.f64")
        writeWindows data batches

        let all =
            [ "--upstream"; h.Upstream ]
            @ args
            @ [
                "--data"
                data
                // upstream's torch on as many threads as the fused kernels' workers (torch's own
                // default here is 1): the ratio compares whole machines, not one core with two
                "--threads"
                string (TrainBenchmark.kernelThreads ())
            ]

        match runHarness h script all echo with
        | 0, lines, errors ->
            for e in errors do
                eprintfn "%s" e

            f lines
            0
        | code, _, errors -> harnessFailed h code errors)

/// Runs the harness on the windows of `tidhy bench train` (`TrainBenchmark.data`), printing its
/// rows, then one ratio line per setting against `ours`.
let run
    (h: Harness)
    (windows: int)
    (length: int)
    (steps: int)
    (settings: string list)
    (ours: TrainBenchmark.TrainMeasurement list)
    =
    let X = TrainBenchmark.data windows length

    let args =
        [
            "--windows"
            string windows
            "--length"
            string length
            "--features"
            string (Array3D.length3 X)
            "--steps"
            string steps
            "--setting"
            String.Join(",", settings)
        ]

    measureWith h [ X ] args true (fun lines ->
        let upstream =
            lines
            |> List.choose parseRow
            |> List.filter (fun (impl, _, _) -> impl = "upstream-pytorch")

        let mine =
            ours |> List.map (fun m -> m.Impl, m.Setting, float m.Batch / m.SecondsPerStep)

        for r in ratios mine upstream do
            printfn "%s" (ratioJson r))

/// `tidhy bench --upstream`: runs the harness's `--inference` mode on `tidhy bench`'s windows
/// (`InferenceBenchmark.window`) and model (`InferenceBenchmark.config`: max_iter, tol, lr_r) at each
/// batch size of `ours`, timed as the fused rows are (`InferenceBenchmark.fusedTiming`); prints
/// upstream's rows (its JSON lines, or text lines beside the float32 FMA limit `peak`), then one
/// speedup line per row of `ours`.
let runInference (h: Harness) (asJson: bool) (peak: FmaLimit.Peak) (ours: InferenceBenchmark.Measurement list) =
    let batches = ours |> List.map (fun m -> m.Batch) |> List.distinct
    let cfg = InferenceBenchmark.config TiDHy.Functional.Backend.Fused
    let windows = batches |> List.map InferenceBenchmark.window
    let warmup, minRuns, maxRuns, budget = InferenceBenchmark.fusedTiming

    let args =
        [
            "--inference"
            "--batches"
            String.Join(",", batches)
            "--length"
            string InferenceBenchmark.timeSteps
            "--features"
            string (Array3D.length3 windows.Head)
            "--max-iter"
            string cfg.MaxIter
            "--tol"
            inv cfg.Tol
            "--lr-r"
            inv cfg.LrR
            "--warmup"
            inv warmup
            "--runs"
            string minRuns
            "--max-runs"
            string maxRuns
            "--budget"
            inv budget
        ]

    measureWith h windows args asJson (fun lines ->
        let upstream =
            lines
            |> List.choose parseInferenceRow
            |> List.filter (fun r -> r.Impl = "upstream-pytorch")

        if not asJson then
            let limit = InferenceBenchmark.limitIn peak false

            for r in upstream do
                let m: InferenceBenchmark.Measurement =
                    {
                        Impl = r.Impl
                        Batch = r.Batch
                        Seconds = r.SecondsPerIteration * float ((InferenceBenchmark.timeSteps - 1) * cfg.MaxIter)
                        Runs = r.Runs
                    }

                let torch = r.Torch |> Option.defaultValue "?"
                let threads = r.Threads |> Option.map string |> Option.defaultValue "?"

                printfn "%s  torch %s, %s threads" (InferenceBenchmark.text (Some limit) m None) torch threads

        let mine =
            ours
            |> List.map (fun m -> m.Impl, m.Batch, float m.Batch / InferenceBenchmark.perIteration m)

        let rows =
            upstream |> List.map (fun r -> r.Impl, r.Batch, r.SampleIterationsPerSecond)

        for s in speedups mine rows do
            printfn "%s" (if asJson then speedupJson s else speedupText s))
