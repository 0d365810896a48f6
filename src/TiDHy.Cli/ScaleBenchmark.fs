/// `tidhy bench scale`: the cost of inference (one `Forward.forward` over a batch of windows) and of
/// a training step (one `Train.step`) over a grid of batch sizes (windows) and window lengths (steps),
/// on the demo's model and kind of series (`TrainBenchmark`), timed as `tidhy bench` times
/// (`InferenceBenchmark.timed`: one warm-up call, then calls within a time budget, the best counts),
/// beside the machine's FMA limit measured in the same run (`FmaLimit`). Writes `scale.json` and
/// `scale.html` (Plotly) and prints a text table as it runs.
module TiDHy.Cli.ScaleBenchmark

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Plotly.NET
open Plotly.NET.LayoutObjects
open TiDHy.Functional

/// The precisions, named as on the command line, and the fused backend of each.
let precisions = [ "float32", Backend.FusedFloat32; "float64", Backend.Fused ]

/// What a case times: `inference` (one `Forward.forward`) or `train` (one `Train.step`).
let whats = [ "inference"; "train" ]

/// Channels of the series (the demo's).
let features = 20

/// One case of the grid.
type Case =
    {
        /// The model before the case's length, setting and precision: the demo's, or `--config`'s.
        Model: Config
        What: string
        Precision: string
        Setting: string
        Batch: int
        Length: int
    }

/// The model of a case: its `Model` (`TrainBenchmark.caseConfigOf`) with the case's length, setting and precision.
let config (c: Case) =
    TrainBenchmark.caseConfigOf
        c.Model
        c.Length
        (TrainBenchmark.settings |> List.find (fst >> (=) c.Setting) |> snd)
        (precisions |> List.find (fst >> (=) c.Precision) |> snd)

/// The most sample-iterations one call of a case can run: `Batch` windows × (`Length` − 1) inference
/// steps (without a carry the first step is only decoded) × max_iter; exactly what the `fixed`
/// setting runs.
let estimate (c: Case) =
    float c.Batch * float (c.Length - 1) * float (config c).MaxIter

/// The grid, lengths outermost, then batch sizes, what and precision: each case with `Some
/// estimate` when its estimate exceeds `maxSampleIterations` (skipped), else None.
let plan
    (model: Config)
    (whatNames: string list)
    (precisionNames: string list)
    (settingNames: string list)
    (batches: int list)
    (lengths: int list)
    (maxSampleIterations: float)
    =
    [
        for length in lengths do
            for batch in batches do
                for setting in settingNames do
                    for what in whatNames do
                        for precision in precisionNames do
                            let c =
                                {
                                    Model = model
                                    What = what
                                    Precision = precision
                                    Setting = setting
                                    Batch = batch
                                    Length = length
                                }

                            let e = estimate c
                            c, (if e > maxSampleIterations then Some e else None)
    ]

/// A measured case.
type Row =
    {
        Case: Case
        /// Timed calls (after one warm-up call).
        Calls: int
        /// The fastest timed call.
        SecondsPerCall: float
        /// The mean of the timed calls.
        MeanSecondsPerCall: float
        /// Inference iterations per inference step, mean over the timed calls (max_iter in `fixed`).
        Iterations: float
        /// The FMA limit of the case's model and precision (sample-iterations per second).
        Limit: float
    }

/// Windows × inference steps × iterations of one call.
let sampleIterationsPerCall (r: Row) =
    float r.Case.Batch * float (r.Case.Length - 1) * r.Iterations

let sampleIterationsPerSecond (r: Row) =
    sampleIterationsPerCall r / r.SecondsPerCall

let shareOfLimit (r: Row) = sampleIterationsPerSecond r / r.Limit

/// Milliseconds per window-step: the call's time over `Batch` × `Length`.
let msPerWindowStep (r: Row) =
    1000.0 * r.SecondsPerCall / (float r.Case.Batch * float r.Case.Length)

/// A call of a case on `windows`: returns the mean inference iterations per inference step.
let private runner (c: Case) (windows: float[,,]) : unit -> float =
    let cfg = config c

    match c.What with
    | "inference" ->
        let p = Init.init cfg (Random.key 0)

        fun () ->
            let r = Forward.forward cfg p None windows
            float (Array.sum r.Iterations) / float r.Iterations.Length
    | _ -> TrainBenchmark.stepper cfg windows

/// Times a case: one warm-up call, then calls while `seconds` last (at least one). Once the case
/// has run 5 s, a line on standard error after a call at most every 5 s (progress of long cases).
let measure (peak: FmaLimit.Peak) (seconds: float) (windows: float[,,]) (c: Case) =
    let run = runner c windows
    let clock = Stopwatch.StartNew()
    let calls = ref 0

    let said = ref 0.0

    let tracked () =
        let iterations = run ()
        calls.Value <- calls.Value + 1

        // Once the case has run 5 s, a line at most every 5 s (fast cases make thousands of calls).
        if clock.Elapsed.TotalSeconds > said.Value + 5.0 then
            said.Value <- clock.Elapsed.TotalSeconds

            let elapsed =
                clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)

            eprintfn
                $"  {c.What} {c.Precision} batch {c.Batch} length {c.Length}: call {calls.Value} (the first is the warm-up) done, {elapsed} s"

        iterations

    let timed = InferenceBenchmark.timed 0.0 1 Int32.MaxValue seconds tracked
    let times = Array.map fst timed

    {
        Case = c
        Calls = timed.Length
        SecondsPerCall = Array.min times
        MeanSecondsPerCall = Array.average times
        Iterations = Array.averageBy snd timed
        Limit = FmaLimit.sampleIterationsPerSecond peak (c.Precision = "float64") (config c)
    }

let private num (v: float) = JsonValue.Create v :> JsonNode

let private text (v: string) = JsonValue.Create v :> JsonNode

let private caseFields (c: Case) =
    [
        "what", text c.What
        "precision", text c.Precision
        "setting", text c.Setting
        "batch", num (float c.Batch)
        "length", num (float c.Length)
    ]

let private obj (fields: (string * JsonNode) list) =
    let o = JsonObject()

    for k, v in fields do
        o[k] <- v

    o

/// The JSON object of a measured row.
let rowJson (r: Row) =
    obj (
        caseFields r.Case
        @ [
            "calls", num (float r.Calls)
            "seconds_per_call", num r.SecondsPerCall
            "mean_seconds_per_call", num r.MeanSecondsPerCall
            "iterations_per_inference_step", num r.Iterations
            "sample_iterations_per_call", num (sampleIterationsPerCall r)
            "sample_iterations_per_second", num (sampleIterationsPerSecond r)
            "fma_limit_sample_iterations_per_second", num r.Limit
            "share_of_fma_limit", num (shareOfLimit r)
            "ms_per_window_step", num (msPerWindowStep r)
        ]
    )

let private loadAverage () =
    try
        match Double.TryParse((File.ReadAllText "/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture) with
        | true, v -> num v
        | _ -> null
    with _ ->
        null

/// The whole table: the machine (`machineLine`, `TrainBenchmark.machineLine` taken at the start, and
/// the load average at the end), the FMA limit, the settings, the measured rows and the skipped
/// cases with their estimates.
let json
    (model: Config)
    (machineLine: string)
    (peak: FmaLimit.Peak)
    (seconds: float)
    (maxSampleIterations: float)
    (rows: Row list)
    (skipped: (Case * float) list)
    (complete: bool)
    =
    let machine = (JsonNode.Parse(machineLine)["machine"]).DeepClone().AsObject()

    machine["load_average_1min_at_end"] <- loadAverage ()

    obj
        [
            "machine", machine
            "model", JsonNode.Parse(ConfigJson.toJson model)
            "fma_limit",
            obj
                [
                    "float32_lane_fmas_per_second", num peak.Float32LaneFmasPerSecond
                    "vector_bits", num (float peak.VectorBits)
                    "threads", num (float peak.Threads)
                    "multiply_adds_per_sample_iteration", num (FmaLimit.multiplyAdds model)
                    "float32_sample_iterations_per_second", num (FmaLimit.sampleIterationsPerSecond peak false model)
                    "float64_sample_iterations_per_second", num (FmaLimit.sampleIterationsPerSecond peak true model)
                ]
            "complete", JsonValue.Create complete :> JsonNode
            "seconds_per_case", num seconds
            "max_sample_iterations", num maxSampleIterations
            "rows", JsonArray(rows |> List.map (fun r -> rowJson r :> JsonNode) |> Array.ofList)
            "skipped",
            JsonArray(
                skipped
                |> List.map (fun (c, e) -> obj (caseFields c @ [ "estimated_sample_iterations", num e ]) :> JsonNode)
                |> Array.ofList
            )
        ]

let private g3 (v: float) =
    v.ToString("G3", CultureInfo.InvariantCulture)

let private header =
    String.Format(
        CultureInfo.InvariantCulture,
        "{0,-9} {1,-7} {2,6} {3,6} {4,6} {5,11} {6,13} {7,13} {8,8} {9,14}",
        "what",
        "prec.",
        "batch",
        "length",
        "calls",
        "s/call",
        "sample-it/call",
        "sample-it/s",
        "% limit",
        "ms/window-step"
    )

let private caseText (c: Case) =
    String.Format(CultureInfo.InvariantCulture, "{0,-9} {1,-7} {2,6} {3,6}", c.What, c.Precision, c.Batch, c.Length)

/// One line of the text table.
let rowText (r: Row) =
    String.Format(
        CultureInfo.InvariantCulture,
        "{0} {1,6} {2,11} {3,13} {4,13} {5,8:F2} {6,14}",
        caseText r.Case,
        r.Calls,
        g3 r.SecondsPerCall,
        g3 (sampleIterationsPerCall r),
        g3 (sampleIterationsPerSecond r),
        100.0 * shareOfLimit r,
        g3 (msPerWindowStep r)
    )

let private count (v: float) =
    v.ToString("N0", CultureInfo.InvariantCulture)

/// The line of a skipped case.
let skippedText (c: Case) (e: float) (maxSampleIterations: float) =
    $"{caseText c} skipped: about {count e} sample-iterations a call, over --max-sample-iterations {count maxSampleIterations}"

let private logAxis (title: string) =
    LinearAxis.init (Title = Title.init title, AxisType = StyleParam.AxisType.Log)

/// Time per call (`y = SecondsPerCall`) or throughput against windows × steps, one line per what,
/// precision and length, on log axes; `limits` as dashed horizontal lines.
let private chart (title: string) (yTitle: string) (y: Row -> float) (limits: (string * float) list) (rows: Row list) =
    let xs = rows |> List.map (fun r -> float r.Case.Batch * float r.Case.Length)

    [
        for (what, precision, length), rs in
            rows |> List.groupBy (fun r -> r.Case.What, r.Case.Precision, r.Case.Length) do
            let rs = rs |> List.sortBy _.Case.Batch

            Chart.Line(
                x = (rs |> List.map (fun r -> float r.Case.Batch * float r.Case.Length)),
                y = List.map y rs,
                Name = $"{what} {precision}, {length} steps",
                ShowMarkers = true,
                MultiText = (rs |> List.map (fun r -> $"batch {r.Case.Batch}"))
            )
        if not xs.IsEmpty then
            for name, limit in limits do
                Chart.Line(
                    x = [ List.min xs; List.max xs ],
                    y = [ limit; limit ],
                    Name = name,
                    LineDash = StyleParam.DrawingStyle.Dash
                )
    ]
    |> Chart.combine
    |> Chart.withXAxis (logAxis "windows × steps per call")
    |> Chart.withYAxis (logAxis yTitle)
    |> Plots.style title 520

/// The chart titles of scale.html.
let timeTitle = "Time per call against windows × steps"

let throughputTitle = "Sample-iterations per second against windows × steps"

/// The page: the machine and FMA limit, the table, and the two charts.
let html (table: JsonObject) (limitLine: string) (rows: Row list) (lines: string list) =
    let enc (s: string) = Net.WebUtility.HtmlEncode s

    let limits =
        rows
        |> List.map (fun r -> r.Case.Precision, r.Limit)
        |> List.distinctBy fst
        |> List.map (fun (p, l) -> $"FMA limit, {p}", l)

    let machine = table["machine"].ToJsonString()

    let tableText = String.Join("\n", header :: lines)

    let body =
        $"<p>Machine: <code style=\"overflow-wrap:anywhere\">{enc machine}</code></p>\n<p>{enc limitLine}</p>\n<pre>{enc tableText}</pre>\n<p>The numbers: <a href=\"scale.json\">scale.json</a>. A sample-iteration is one inference iteration of one window at one step; a call runs windows × (steps − 1) × iterations of them.</p>\n"

    Report.page
        "tidhy bench scale"
        body
        [
            "Best time of one call (inference: Forward.forward over the batch; train: one Train.step), log axes",
            chart timeTitle "seconds per call" _.SecondsPerCall [] rows
            "Sample-iterations per second; dashed: the FMA limit of each precision, measured in the same run",
            chart throughputTitle "sample-iterations per second" sampleIterationsPerSecond limits rows
        ]

/// Runs the grid (`plan`'s cases; skipped ones printed with their estimates), printing the text
/// table as it goes, and writes `scale.json` and `scale.html` into `out` (made when missing) after
/// every case, so that an interrupted or failed run keeps the cases it finished (`"complete": false`
/// until the last); returns their paths.
let run
    (model: Config)
    (cases: (Case * float option) list)
    (seconds: float)
    (maxSampleIterations: float)
    (out: string)
    =
    let machine = TrainBenchmark.machineLine ()
    let peak = FmaLimit.measure ()

    let limit double =
        (FmaLimit.sampleIterationsPerSecond peak double model / 1e6).ToString("F1", CultureInfo.InvariantCulture)

    let limitLine =
        $"FMA limit, measured now: {limit false} M sample-iterations/s in float32, {limit true} M in float64 ({peak.Threads} threads, {peak.VectorBits}-bit vectors)"

    printfn "%s" limitLine

    printfn "%s" header
    let lines = ResizeArray<string>()
    let rows = ResizeArray<Row>()
    let skipped = ResizeArray<Case * float>()

    let say (line: string) =
        printfn "%s" line
        Console.Out.Flush()
        lines.Add line

    let jsonPath = Path.Combine(out, "scale.json")
    let htmlPath = Path.Combine(out, "scale.html")

    let save complete =
        Directory.CreateDirectory out |> ignore

        let table =
            json model machine peak seconds maxSampleIterations (List.ofSeq rows) (List.ofSeq skipped) complete

        Report.writeAtomic jsonPath (table.ToJsonString(JsonSerializerOptions(WriteIndented = true)))
        Report.writeAtomic htmlPath (html table limitLine (List.ofSeq rows) (List.ofSeq lines))

    // The windows of a batch size and length, made once for all cases that run on them.
    for (batch, length), group in cases |> List.groupBy (fun (c, _) -> c.Batch, c.Length) do
        let windows = lazy (TrainBenchmark.data batch length)

        for c, skip in group do
            match skip with
            | Some e ->
                skipped.Add((c, e))
                say (skippedText c e maxSampleIterations)
            | None ->
                let r = measure peak seconds windows.Value c
                rows.Add r
                say (rowText r)
                save false

    save true
    printfn $"wrote {jsonPath} and {htmlPath}"
    jsonPath, htmlPath
