/// The report folder that `tidhy demo`, `train` and `eval` write: `metrics.csv` and one
/// self-contained `index.html` with interactive Plotly charts (see `Plots`).
[<RequireQualifiedAccess>]
module TiDHy.Cli.Report

open System
open System.Globalization
open System.IO
open System.Text
open Plotly.NET
open TiDHy.Functional

/// An evaluation laid out over time (see `Plots.Timeline`).
type Timeline = Plots.Timeline

/// The timeline of an evaluation record of consecutive windows.
let timeline (r: EvaluationRecord) : Timeline = Plots.timeline r

let private num (v: float) =
    if Double.IsNaN v then
        ""
    else
        v.ToString("R", CultureInfo.InvariantCulture)

/// Writes `text` to `path` atomically (a temporary file, then a rename).
let writeAtomic (path: string) (text: string) =
    let bytes = Encoding.UTF8.GetBytes text
    DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

/// The metrics history as CSV: one row per epoch, the `epoch` column counted from 1 (the first
/// epoch is 1; `EpochRecord.Epoch` + 1); an empty `validation` cell when the epoch did not
/// validate; `max_iter_share` the share of the epoch's inference steps that stopped at `max_iter`;
/// then one column per monitor metric (`EpochRecord.Monitor`, in order of first appearance), empty
/// where the monitor did not run.
let metricsCsv (history: EpochRecord[]) =
    let monitored =
        history
        |> Seq.collect (fun h -> List.map fst h.Monitor)
        |> Seq.distinct
        |> Seq.toList

    let sb =
        StringBuilder(
            "epoch,spatial_loss_rhat,spatial_loss_rbar,temp_loss,r2_losses,total,validation,learning_rate_factor,seconds,max_iter_share"
            + String.Join("", monitored |> List.map (fun m -> "," + m))
            + "\n"
        )

    for h in history do
        let cells =
            [
                // Counted from 1, as train's lines count ("epoch 1/…", "Selected epoch N").
                string (h.Epoch + 1)
                num h.Train.Losses.SpatialLossRHat
                num h.Train.Losses.SpatialLossRBar
                num h.Train.Losses.TempLoss
                num h.Train.Losses.R2Loss
                num h.Train.Total
                h.Validation |> Option.map num |> Option.defaultValue ""
                num h.LearningRateFactor
                num h.Seconds
                num h.Train.MaxIterShare
                for m in monitored do
                    List.tryFind (fst >> (=) m) h.Monitor
                    |> Option.map (snd >> num)
                    |> Option.defaultValue ""
            ]

        sb.Append(String.Join(",", cells)).Append('\n') |> ignore

    sb.ToString()

/// The charts of a report: `(caption, chart)`.
let charts (history: EpochRecord[]) (tl: Timeline option) (states: float[,] option) =
    [
        if history.Length > 0 then
            yield
                "Training losses by epoch (mean over batches), and the validation objective where it ran",
                Plots.losses history
        match tl with
        | Some tl ->
            yield
                "Data, reconstruction decode(r) and one-step forecast decode(r̂); the menu picks the feature",
                Plots.series tl

            yield "The latent r and the slower latent r2 over time", Plots.latents tl

            yield
                (match states with
                 | Some _ -> "Mixture weights W (one row per dynamics matrix) under the true discrete states"
                 | None -> "Mixture weights W over time (one row per dynamics matrix)"),
                Plots.mixture tl states
        | None -> ()
    ]

/// A self-contained page (plotly.js inlined once, so that it works offline): `title`, the HTML
/// `body` (already encoded), then each `(caption, chart)` as a figure.
let page (title: string) (body: string) (charts: (string * GenericChart) list) =
    let enc (s: string) = Net.WebUtility.HtmlEncode s
    let sb = StringBuilder()

    sb
        .Append($"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{enc title}</title>\n")
        .Append("<style>body{font-family:sans-serif;max-width:1140px;margin:2em auto;color:#222}")
        .Append("table{border-collapse:collapse}td,th{padding:2px 12px;border-bottom:1px solid #ddd;text-align:left}")
        .Append("figure{margin:1.5em 0}figcaption{color:#555}</style>\n<script type=\"text/javascript\">")
        .Append(Plots.plotlyJs ())
        .Append("</script></head><body>\n")
        .Append($"<h1>{enc title}</h1>\n")
        .Append(body)
    |> ignore

    for caption, chart in charts do
        sb
            .Append("<figure class=\"chart\">")
            .Append(Plots.fragment chart)
            .Append($"<figcaption>{enc caption}</figcaption></figure>\n")
        |> ignore

    sb.Append("</body></html>\n").ToString()

/// Writes the report into `dir`: `metrics.csv` when there is a history, and one self-contained
/// `index.html` (plotly.js inlined once, so it works offline) with `title`, the `summary` rows, the
/// report's charts and then `extra` `(caption, chart)`. Returns the path of `index.html`.
let writeWith
    (extra: (string * GenericChart) list)
    (dir: string)
    (title: string)
    (summary: (string * string) list)
    (history: EpochRecord[])
    (tl: Timeline option)
    (states: float[,] option)
    =
    Directory.CreateDirectory dir |> ignore
    let cs = charts history tl states @ extra

    if history.Length > 0 then
        writeAtomic (Path.Combine(dir, "metrics.csv")) (metricsCsv history)

    let enc (s: string) = Net.WebUtility.HtmlEncode s
    let body = StringBuilder("<table>\n")

    for k, v in summary do
        body.Append($"<tr><td>{enc k}</td><td>{enc v}</td></tr>\n") |> ignore

    body.Append("</table>\n") |> ignore

    if history.Length > 0 then
        body.Append("<p>Per-epoch metrics: <a href=\"metrics.csv\">metrics.csv</a></p>\n")
        |> ignore

    let index = Path.Combine(dir, "index.html")
    writeAtomic index (page title (body.ToString()) cs)
    index

/// `writeWith` without extra charts.
let write dir title summary history tl states =
    writeWith [] dir title summary history tl states
