/// A sweep's results gathered into one table and one report page: `tidhy sweep collect DIR`.
/// `results.csv` has one row per task (the grid point, the seeds, the state, the selected epoch, the
/// test losses, the measures of `measures.json`); `index.html` (offline, as the demo's) has a table
/// per grid point (mean ± std over the seeds), the metrics by epoch per grid point (the mean over the
/// seeds, the band from the lowest to the highest seed) and the final measures per grid point.
module TiDHy.Cli.SweepCollect

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json.Nodes
open Plotly.NET
open TiDHy.Cli.SweepFile
open TiDHy.Cli.SweepPlan

let private invariant = CultureInfo.InvariantCulture

/// `name` as a column-name part: lower case, runs of other characters as one `_`.
let slug (name: string) =
    let s =
        Text.RegularExpressions.Regex.Replace(name.ToLowerInvariant(), "[^a-z0-9]+", "_")

    s.Trim '_'

/// A cell's value: a number, or text.
type Cell =
    | Number of float
    | Text of string

let private number (v: JsonNode) =
    match v with
    | :? JsonValue as j ->
        match j.TryGetValue<float>() with
        | true, x -> Some x
        | _ -> None
    | _ -> None

/// The flat `(column, cell)` list of a finished task's `result.json` (after the task's own columns).
let resultCells (r: JsonObject) : (string * Cell) list =
    let get (o: JsonObject) (k: string) =
        match prop o k with
        | Some v -> Some v
        | _ -> None

    let num (o: JsonObject) (k: string) = get o k |> Option.bind number

    let field (column: string) (o: JsonObject) (k: string) =
        match num o k with
        | Some x -> [ column, Number x ]
        | None -> []

    [
        yield! field "epochs" r "epochs"
        yield! field "selected_epoch" r "selected_epoch"
        match get r "selection" with
        | Some v -> "selection", Text(valueText v)
        | None -> ()
        yield! field "selection_score" r "selection_score"
        yield! field "validation_loss" r "validation_loss"
        match get r "test" with
        | Some(:? JsonObject as t) ->
            for kv in t do
                match number kv.Value with
                | Some x -> "test_" + kv.Key, Number x
                | None -> ()
        | _ -> ()
        match get r "measures" with
        | Some(:? JsonObject as m) ->
            match get m "decoding" with
            | Some(:? JsonObject as d) ->
                match get d "rows" with
                | Some(:? JsonArray as rows) ->
                    for row in rows do
                        match row with
                        | :? JsonObject as row ->
                            let name = get row "name" |> Option.map valueText |> Option.defaultValue "?"

                            for k in
                                [
                                    "block_knn"
                                    "block_knn_std"
                                    "block_linear"
                                    "block_linear_std"
                                    "random_knn"
                                    "random_linear"
                                ] do
                                yield! field $"decode_{slug name}_{k}" row k
                        | _ -> ()
                | _ -> ()

                yield! field "chance_block" d "chance_block"
                yield! field "chance_random" d "chance_random"
            | _ -> ()

            match get m "arhmm" with
            | Some(:? JsonObject as a) ->
                yield! field "arhmm_matched_accuracy" a "matched_accuracy"
                yield! field "arhmm_timescales_matched" a "matched"
            | _ -> ()

            match get m "timescales" with
            | Some(:? JsonArray as ts) ->
                for t in ts do
                    match t with
                    | :? JsonObject as t ->
                        let source = get t "source" |> Option.map valueText |> Option.defaultValue "?"
                        yield! field $"timescales_{slug source}_count" t "count"
                        yield! field $"timescales_{slug source}_matched" t "matched"
                        yield! field $"timescales_{slug source}_precision" t "precision"
                    | _ -> ()

                match
                    ts
                    |> Seq.tryPick (function
                        | :? JsonObject as t -> num t "truth"
                        | _ -> None)
                with
                | Some n -> "timescales_truth", Number n
                | None -> ()
            | _ -> ()

            match get m "per_state" with
            | Some(:? JsonObject as p) ->
                yield! field "per_state_r_hat_within" p "r_hat_within"
                yield! field "per_state_raw_input_within" p "raw_input_within"
            | _ -> ()
        | _ -> ()
    ]

/// One task's row: its own columns (task, state, the grid options, the seeds), then its result's.
type Row =
    {
        Task: SweepTask
        State: string
        Cells: (string * Cell) list
    }

/// The rows of every task of `plan`.
let rows (plan: Plan) =
    let queue = SweepSlurm.queueStates plan.Dir

    plan.Tasks
    |> List.map (fun t ->
        let p = pathsOf plan.Dir t.Id
        let state = SweepStatus.stateOf plan queue t

        let result =
            if state = SweepStatus.Done then
                SweepRun.tryReadJson p.Result
                |> Option.map resultCells
                |> Option.defaultValue []
            else
                []

        let seconds =
            SweepRun.tryReadJson (Path.Combine(p.Folder, "timing.json"))
            |> Option.bind (fun o ->
                match prop o "seconds" with
                | Some v -> number v
                | _ -> None)
            |> Option.map (fun s -> "seconds", Number s)
            |> Option.toList

        {
            Task = t
            State = SweepStatus.stateName state
            Cells = result @ seconds
        })

let private cellText =
    function
    | Number x when Double.IsFinite x -> x.ToString("R", invariant)
    | Number _ -> ""
    | Text s -> s

let private csvField (s: string) =
    if s.IndexOfAny([| ','; '"'; '\n'; '\r' |]) >= 0 then
        "\"" + s.Replace("\"", "\"\"") + "\""
    else
        s

/// The table as CSV: `task,state,<grid options>,seed[,data_seed]`, then every result column in the
/// order of first appearance; an empty cell where a task has no value.
let csv (plan: Plan) (rows: Row list) =
    let grid = plan.Sweep.Grid |> List.map fst
    let hasData = not plan.Sweep.DataSeeds.IsEmpty

    let columns = rows |> List.collect (fun r -> List.map fst r.Cells) |> List.distinct

    let sb = StringBuilder()

    let header =
        [ "task"; "state" ]
        @ grid
        @ [ "seed" ]
        @ (if hasData then [ "data_seed" ] else [])
        @ columns

    sb.Append(String.Join(",", header |> List.map csvField)).Append('\n') |> ignore

    for r in rows do
        let cells =
            [
                string r.Task.Id
                r.State
                for k in grid do
                    r.Task.Options
                    |> List.tryFind (fst >> (=) k)
                    |> Option.map (snd >> valueText)
                    |> Option.defaultValue ""
                string r.Task.Seed
                if hasData then
                    r.Task.DataSeed |> Option.map string |> Option.defaultValue ""
                for c in columns do
                    r.Cells
                    |> List.tryFind (fst >> (=) c)
                    |> Option.map (snd >> cellText)
                    |> Option.defaultValue ""
            ]

        sb.Append(String.Join(",", cells |> List.map csvField)).Append('\n') |> ignore

    sb.ToString()

/// The grid points in the plan's order, each with its tasks' rows.
let private byPoint (rows: Row list) =
    rows
    |> List.groupBy (fun r -> pointText r.Task)
    |> List.map (fun (point, rs) -> (if point = "" then "all tasks" else point), rs)

/// Mean and (sample) standard deviation of `xs`; NaN for none.
let meanStd (xs: float list) =
    match xs with
    | [] -> nan, nan
    | [ x ] -> x, 0.0
    | _ ->
        let m = List.average xs
        let v = (xs |> List.sumBy (fun x -> (x - m) * (x - m))) / float (xs.Length - 1)
        m, sqrt v

let private cellValue (column: string) (r: Row) =
    r.Cells
    |> List.tryPick (fun (c, v) ->
        match v with
        | Number x when c = column && Double.IsFinite x -> Some x
        | _ -> None)

/// The columns the summary shows: the selected epoch, the test reconstruction loss, each decoding
/// row's held-out-block kNN and linear accuracy, the ARHMM's, the block chance, and the timescales
/// V_t recovers.
let private summaryColumns (rows: Row list) =
    let present = rows |> List.collect (fun r -> List.map fst r.Cells) |> List.distinct

    present
    |> List.filter (fun c ->
        c = "selected_epoch"
        || c = "test_spatial_loss_rhat_avg"
        || (c.StartsWith "decode_"
            && (c.EndsWith "_block_knn" || c.EndsWith "_block_linear"))
        || c = "arhmm_matched_accuracy"
        || c = "chance_block"
        || c = "timescales_v_t_trained_matched"
        || c = "timescales_v_t_untrained_matched")

/// The metrics by epoch of a task's run (`run/metrics.csv`, whose epochs count from 1): column →
/// values by epoch.
let metricsOf (plan: Plan) (t: SweepTask) : Map<string, (int * float) list> =
    let path = Path.Combine((pathsOf plan.Dir t.Id).Run, "metrics.csv")

    if not (File.Exists path) then
        Map.empty
    else
        let lines = File.ReadAllLines path |> Array.filter (fun l -> l.Trim() <> "")

        if lines.Length < 2 then
            Map.empty
        else
            let header = lines[0].Split ','

            let parsed =
                lines[1..]
                |> Array.map (fun l -> l.Split ',')
                |> Array.filter (fun cells -> cells.Length = header.Length)

            [
                for j in 1 .. header.Length - 1 do
                    let values =
                        parsed
                        |> Array.choose (fun cells ->
                            match
                                Int32.TryParse(cells[0]), Double.TryParse(cells[j], NumberStyles.Float, invariant)
                            with
                            | (true, e), (true, v) when Double.IsFinite v -> Some(e, v)
                            | _ -> None)
                        |> Array.toList

                    if not values.IsEmpty then
                        header[j], values
            ]
            |> Map.ofList

/// The metrics drawn by epoch: the validation objective, the monitored decoding accuracies and the
/// training total.
let private epochMetrics =
    [
        "validation", "validation objective"
        "r2_hat_accuracy", "R2_hat decoding accuracy (validation, held-out blocks)"
        "w_accuracy", "W decoding accuracy (validation, held-out blocks)"
        "r_hat_accuracy", "R_hat decoding accuracy (validation, held-out blocks)"
        "raw_input_accuracy", "raw input decoding accuracy (validation, held-out blocks; the baseline)"
        "total", "training total (mean over batches)"
    ]

/// The grid points' colours (plotly's default sequence), as RGB.
let private palette =
    [|
        31, 119, 180
        255, 127, 14
        44, 160, 44
        214, 39, 40
        148, 103, 189
        140, 86, 75
        227, 119, 194
        127, 127, 127
        188, 189, 34
        23, 190, 207
    |]

/// One chart per metric: for each grid point the mean over its seeds by epoch and the band from the
/// lowest to the highest seed.
let private epochCharts (plan: Plan) (rows: Row list) =
    let metrics =
        rows |> List.map (fun r -> r.Task.Id, metricsOf plan r.Task) |> Map.ofList

    [
        for key, title in epochMetrics do
            let traces =
                [
                    for i, (point, rs) in List.indexed (byPoint rows) do
                        let series = rs |> List.choose (fun r -> metrics[r.Task.Id] |> Map.tryFind key)

                        if not series.IsEmpty then
                            let epochs = series |> List.collect (List.map fst) |> List.distinct |> List.sort

                            let at e =
                                series |> List.choose (List.tryFind (fst >> (=) e) >> Option.map snd)

                            let mean = epochs |> List.map (at >> List.average)
                            let lower = epochs |> List.map (at >> List.min)
                            let upper = epochs |> List.map (at >> List.max)

                            let r, g, b = palette[i % palette.Length]

                            Chart.Range(
                                x = epochs,
                                y = mean,
                                upper = upper,
                                lower = lower,
                                mode = StyleParam.Mode.Lines,
                                Name = $"{point} ({series.Length} seed(s))",
                                LineColor = Color.fromRGB r g b,
                                RangeColor = Color.fromString $"rgba({r},{g},{b},0.2)",
                                UpperName = $"{point}: highest seed",
                                LowerName = $"{point}: lowest seed"
                            )
                ]

            if not traces.IsEmpty then
                $"{title} by epoch: the mean over the seeds of each grid point, the band from the lowest to the highest seed",
                traces
                |> Chart.combine
                |> Chart.withXAxisStyle "epochs trained"
                |> Chart.withYAxisStyle key
                |> Plots.style title 420
    ]

/// The final measures per grid point (mean ± std over its finished seeds), one bar group per
/// measure.
let private measureChart (rows: Row list) =
    let columns =
        summaryColumns rows
        |> List.filter (fun c ->
            c.StartsWith "decode_" && c.EndsWith "_block_knn"
            || c = "arhmm_matched_accuracy")

    if columns.IsEmpty then
        []
    else
        let names =
            columns
            |> List.map (fun c -> c.Replace("decode_", "").Replace("_block_knn", ""))

        [
            "Held-out-block kNN accuracy of each feature on the test series, per grid point (mean ± std over the seeds)",
            [
                for point, rs in byPoint rows do
                    let stats =
                        columns |> List.map (fun c -> rs |> List.choose (cellValue c) |> meanStd)

                    Chart.Column(values = (stats |> List.map fst), Keys = names, Name = point)
                    |> Chart.withYError (TraceObjects.Error.init (Array = (stats |> List.map snd)))
            ]
            |> Chart.combine
            |> Chart.withYAxisStyle "accuracy"
            |> Plots.style "Test decoding accuracy per grid point" 460
        ]

/// The summary table's rows: per grid point, the finished tasks and each summary column's mean ± std.
let private summaryTable (rows: Row list) =
    let columns = summaryColumns rows

    let header = [ "grid point"; "done" ] @ columns

    let body =
        [
            for point, rs in byPoint rows ->
                [
                    point
                    $"""{rs |> List.filter (fun r -> r.State = "done") |> List.length}/{rs.Length}"""
                    for c in columns do
                        match rs |> List.choose (cellValue c) with
                        | [] -> ""
                        | xs ->
                            let m, s = meanStd xs
                            $"{m:F3} ± {s:F3}"
                ]
        ]

    header, body

/// Writes `results.csv` and `index.html` into `out` (a new folder, or one an earlier collect wrote);
/// returns their paths and the rows.
let write (plan: Plan) (out: string) =
    // Never over another report: a folder with an index.html and no results.csv is someone else's.
    if
        File.Exists(Path.Combine(out, "index.html"))
        && not (File.Exists(Path.Combine(out, "results.csv")))
    then
        Args.fail $"{out} holds another report (index.html without results.csv); choose another --out."

    let rows = rows plan
    Directory.CreateDirectory out |> ignore
    let csvPath = Path.Combine(out, "results.csv")
    Report.writeAtomic csvPath (csv plan rows)
    let enc (s: string) = Net.WebUtility.HtmlEncode s
    let header, body = summaryTable rows
    let finished = rows |> List.filter (fun r -> r.State = "done") |> List.length
    let sb = StringBuilder()

    sb
        .Append($"<p>{enc plan.Dir}: {finished} of {rows.Length} tasks done; ")
        .Append("one row per task in <a href=\"results.csv\">results.csv</a>. Epochs are counted from 1.</p>\n")
        .Append("<div style=\"overflow-x:auto\"><table>\n<tr>")
    |> ignore

    for h in header do
        sb.Append($"<th>{enc h}</th>") |> ignore

    sb.Append("</tr>\n") |> ignore

    for cells in body do
        sb.Append("<tr>") |> ignore

        for c in cells do
            sb.Append($"<td>{enc c}</td>") |> ignore

        sb.Append("</tr>\n") |> ignore

    sb.Append("</table></div>\n") |> ignore
    let index = Path.Combine(out, "index.html")

    Report.writeAtomic
        index
        (Report.page $"Sweep {plan.Sweep.Name}" (sb.ToString()) (epochCharts plan rows @ measureChart rows))

    csvPath, index, rows
