/// `tidhy bench train --upstream DIR`: upstream TiDHy's PyTorch training step timed in the same run
/// as this project's, by the harness bench/upstream/train_step.py (embedded in this program as the
/// resource `train_step.py` and written to a temporary folder when it runs), on the same windows;
/// then, per setting, the ratio of this project's windows per second to upstream's.
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

/// One row of `tidhy bench train` or of the harness, as (impl, setting, windows per second); `None`
/// for a line that is not a JSON object with a string `impl`, a string `setting` and a positive
/// number `windows_per_second` (the machine line, ratio lines, anything else).
let parseRow (line: string) : (string * string * float) option =
    try
        use doc = JsonDocument.Parse line
        let root = doc.RootElement

        let prop (name: string) =
            match root.ValueKind with
            | JsonValueKind.Object ->
                match root.TryGetProperty name with
                | true, v -> Some v
                | _ -> None
            | _ -> None

        match prop "impl", prop "setting", prop "windows_per_second" with
        | Some i, Some s, Some w when
            i.ValueKind = JsonValueKind.String
            && s.ValueKind = JsonValueKind.String
            && w.ValueKind = JsonValueKind.Number
            ->
            let wps = w.GetDouble()

            if wps > 0.0 && Double.IsFinite wps then
                Some(i.GetString(), s.GetString(), wps)
            else
                None
        | _ -> None
    with :? JsonException ->
        None

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

/// The JSON line of a ratio: `{"setting": …, "upstream_windows_per_second": …, "ratio_to_upstream":
/// {"fused-float64": …, …}}`.
let ratioJson (r: Ratio) =
    let quote (s: string) = JsonSerializer.Serialize s

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

/// The windows as float64 little-endian values, windows × length × features, row-major.
let private writeWindows (path: string) (X: float[,,]) =
    use w = new BinaryWriter(File.Create path)

    for i in 0 .. Array3D.length1 X - 1 do
        for t in 0 .. Array3D.length2 X - 1 do
            for d in 0 .. Array3D.length3 X - 1 do
                w.Write X[i, t, d]

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
    withHarness (fun folder script ->
        let X = TrainBenchmark.data windows length
        let data = Path.Combine(folder, "windows.f64")
        writeWindows data X

        let args =
            [
                "--upstream"
                h.Upstream
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
                "--data"
                data
                // upstream's torch on as many threads as the fused kernels' workers (torch's own
                // default here is 1): the ratio compares whole machines, not one core with two
                "--threads"
                string (TrainBenchmark.kernelThreads ())
            ]

        match runHarness h script args true with
        | 0, lines, errors ->
            for e in errors do
                eprintfn "%s" e

            let upstream =
                lines
                |> List.choose parseRow
                |> List.filter (fun (impl, _, _) -> impl = "upstream-pytorch")

            let mine =
                ours |> List.map (fun m -> m.Impl, m.Setting, float m.Batch / m.SecondsPerStep)

            for r in ratios mine upstream do
                printfn "%s" (ratioJson r)

            0
        | code, _, errors -> harnessFailed h code errors)
