/// The report folder that `tidhy demo`, `train` and `eval` write: SVG plots, `metrics.csv` and one
/// `index.html` that shows them.
[<RequireQualifiedAccess>]
module TiDHy.Cli.Report

open System
open System.Globalization
open System.IO
open System.Text
open TiDHy.Functional

/// An evaluation laid out over time: the record's `[window; T; ·]` arrays with consecutive windows
/// joined, `[time; ·]`.
type Timeline =
    {
        /// The data `[time; D]`.
        Data: float[,]
        /// The reconstruction `decode(r)` `[time; D]`.
        Reconstruction: float[,]
        /// The one-step forecast `decode(r̂)` `[time; D]`.
        Forecast: float[,]
        /// `r` `[time; R]`.
        R: float[,]
        /// `r2` `[time; R2]`.
        R2: float[,]
        /// Mixture weights `W` `[time; M]`.
        W: float[,]
    }

/// Joins the windows of `a [window; T; k]` in order: `[window·T; k]`.
let joinWindows (a: float[,,]) =
    let t = Array3D.length2 a
    Array2D.init (Array3D.length1 a * t) (Array3D.length3 a) (fun i k -> a[i / t, i % t, k])

/// The timeline of an evaluation record of consecutive windows.
let timeline (r: EvaluationRecord) =
    {
        Data = joinWindows r.I
        Reconstruction = joinWindows r.IHat
        Forecast = joinWindows r.IBar
        R = joinWindows r.RHat
        R2 = joinWindows r.R2Hat
        W = joinWindows r.W
    }

let private column (a: float[,]) (k: int) =
    Array.init (Array2D.length1 a) (fun t -> a[t, k])

let private num (v: float) =
    if Double.IsNaN v then
        ""
    else
        v.ToString("R", CultureInfo.InvariantCulture)

/// Writes `text` to `path` atomically (a temporary file, then a rename).
let writeAtomic (path: string) (text: string) =
    let bytes = Encoding.UTF8.GetBytes text
    DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

/// The metrics history as CSV: one row per epoch; an empty `validation` cell when the epoch did not
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
                string h.Epoch
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

/// The plots of a report: `(file name, caption, svg)`.
let plots (history: EpochRecord[]) (tl: Timeline option) (states: float[,] option) =
    [
        if history.Length > 0 then
            let curve f = history |> Array.map f

            yield
                "losses.svg",
                "Training losses by epoch (mean over batches), and the validation objective where it ran",
                Plot.lines
                    "Loss curves"
                    "epoch"
                    "loss"
                    [
                        {
                            Name = "total"
                            Values = curve _.Train.Total
                        }
                        {
                            Name = "L_hat"
                            Values = curve _.Train.Losses.SpatialLossRHat
                        }
                        {
                            Name = "L_bar"
                            Values = curve _.Train.Losses.SpatialLossRBar
                        }
                        {
                            Name = "temp"
                            Values = curve _.Train.Losses.TempLoss
                        }
                        {
                            Name = "validation"
                            Values = curve (fun h -> h.Validation |> Option.defaultValue nan)
                        }
                    ]
        match tl with
        | Some tl ->
            let d = Array2D.length2 tl.Data

            for k in 0 .. min 2 (d - 1) do
                yield
                    $"reconstruction_{k}.svg",
                    $"Feature {k}: data, reconstruction decode(r) and one-step forecast decode(r̂)",
                    Plot.lines
                        $"Feature {k}"
                        "time step"
                        "value"
                        [
                            {
                                Name = "data"
                                Values = column tl.Data k
                            }
                            {
                                Name = "reconstruction"
                                Values = column tl.Reconstruction k
                            }
                            {
                                Name = "forecast"
                                Values = column tl.Forecast k
                            }
                        ]

            let linesOf title prefix (a: float[,]) =
                Plot.lines
                    title
                    "time step"
                    "value"
                    [
                        for k in 0 .. Array2D.length2 a - 1 ->
                            {
                                Name = $"{prefix}{k}"
                                Values = column a k
                            }
                    ]

            yield "r.svg", "The latent r over time", linesOf "r" "r" tl.R
            yield "r2.svg", "The slower latent r2 over time", linesOf "r2" "r2_" tl.R2
            yield "W.svg", "Mixture weights W over time (one band per dynamics matrix)", Plot.heatmap "W" "w" tl.W
        | None -> ()
        match states with
        | Some s ->
            yield
                "states.svg",
                "True discrete states (one band per system), to compare with W",
                Plot.heatmap "True discrete states" "system " s
        | None -> ()
    ]

/// Writes the report into `dir`: each plot as SVG, `metrics.csv` when there is a history, and
/// `index.html` with `title`, the `summary` rows and the plots. Returns the path of `index.html`.
let write
    (dir: string)
    (title: string)
    (summary: (string * string) list)
    (history: EpochRecord[])
    (tl: Timeline option)
    (states: float[,] option)
    =
    Directory.CreateDirectory dir |> ignore
    let ps = plots history tl states

    for name, _, svg in ps do
        writeAtomic (Path.Combine(dir, name)) svg

    if history.Length > 0 then
        writeAtomic (Path.Combine(dir, "metrics.csv")) (metricsCsv history)

    let enc (s: string) = Net.WebUtility.HtmlEncode s
    let sb = StringBuilder()

    sb
        .Append($"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{enc title}</title>\n")
        .Append("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}")
        .Append("table{border-collapse:collapse}td{padding:2px 12px;border-bottom:1px solid #ddd}")
        .Append("figure{margin:1.5em 0}figcaption{color:#555}</style></head><body>\n")
        .Append($"<h1>{enc title}</h1>\n<table>\n")
    |> ignore

    for k, v in summary do
        sb.Append($"<tr><td>{enc k}</td><td>{enc v}</td></tr>\n") |> ignore

    sb.Append("</table>\n") |> ignore

    if history.Length > 0 then
        sb.Append("<p>Per-epoch metrics: <a href=\"metrics.csv\">metrics.csv</a></p>\n")
        |> ignore

    for name, caption, _ in ps do
        sb.Append(
            $"<figure><img src=\"{name}\" alt=\"{enc caption}\"><figcaption>{enc caption}</figcaption></figure>\n"
        )
        |> ignore

    sb.Append("</body></html>\n") |> ignore
    let index = Path.Combine(dir, "index.html")
    writeAtomic index (sb.ToString())
    index
