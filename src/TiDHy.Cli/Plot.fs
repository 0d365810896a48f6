/// Plots as standalone SVG text: line charts, heat maps and discrete-state rasters. No plotting
/// package is available on this machine, so this is a small writer of its own.
[<RequireQualifiedAccess>]
module TiDHy.Cli.Plot

open System
open System.Globalization
open System.Text

/// One line of a line chart: `Values[i]` is plotted at x = `i`.
type Line =
    {
        /// Legend text.
        Name: string
        /// The y values; NaN leaves a gap.
        Values: float[]
    }

let private palette =
    [|
        "#1f77b4"
        "#d62728"
        "#2ca02c"
        "#ff7f0e"
        "#9467bd"
        "#8c564b"
        "#e377c2"
        "#7f7f7f"
        "#bcbd22"
        "#17becf"
    |]

/// The most points drawn per line; longer lines are averaged in equal bins.
[<Literal>]
let MaxPoints = 1500

let private inv (v: float) =
    v.ToString("0.###", CultureInfo.InvariantCulture)

let private escape (s: string) =
    s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;")

/// `values` averaged in `ceil(n / MaxPoints)`-wide bins (NaNs ignored), with the x of each bin's
/// first point; unchanged when short enough.
let downsample (values: float[]) : (float * float)[] =
    let n = values.Length
    let bin = max 1 ((n + MaxPoints - 1) / MaxPoints)

    Array.init ((n + bin - 1) / bin) (fun b ->
        let part =
            values[b * bin .. min n ((b + 1) * bin) - 1]
            |> Array.filter (Double.IsNaN >> not)

        float (b * bin), (if part.Length = 0 then nan else Array.average part))

let private tickLabel (v: float) =
    if v <> 0.0 && (abs v >= 1e4 || abs v < 1e-2) then
        v.ToString("0.##e0", CultureInfo.InvariantCulture)
    else
        v.ToString("0.###", CultureInfo.InvariantCulture)

let private frame (sb: StringBuilder) (width: int) (height: int) (title: string) =
    sb.Append(
        $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"
    )
    |> ignore

    sb.Append($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n")
    |> ignore

    sb.Append($"<text x=\"{width / 2}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">{escape title}</text>\n")
    |> ignore

/// A line chart `width × height` of `lines` over a shared x axis (the sample index), with axis
/// ticks, labels and a legend. Non-finite values leave gaps; all-NaN input gives an empty frame.
let lines (title: string) (xLabel: string) (yLabel: string) (lines: Line list) : string =
    let width, height = 900, 320
    let left, right, top, bottom = 70.0, 150.0, 28.0, 40.0
    let plotW, plotH = float width - left - right, float height - top - bottom
    let pts = lines |> List.map (fun l -> l.Name, downsample l.Values)

    let finite =
        pts
        |> List.collect (fun (_, p) -> p |> Array.map snd |> Array.filter Double.IsFinite |> Array.toList)

    let xMax =
        lines
        |> List.map (fun l -> float (max 1 (l.Values.Length - 1)))
        |> List.fold max 1.0

    let yMin, yMax =
        match finite with
        | [] -> 0.0, 1.0
        | _ ->
            let lo, hi = List.min finite, List.max finite
            if hi > lo then lo, hi else lo - 0.5, hi + 0.5

    let px x = left + plotW * x / xMax

    let py y =
        top + plotH * (1.0 - (y - yMin) / (yMax - yMin))

    let sb = StringBuilder()
    frame sb width height title

    for k in 0..4 do
        let y = yMin + (yMax - yMin) * float k / 4.0
        let yy = py y

        sb
            .Append(
                $"<line x1=\"{inv left}\" x2=\"{inv (left + plotW)}\" y1=\"{inv yy}\" y2=\"{inv yy}\" stroke=\"#e5e5e5\"/>\n"
            )
            .Append($"<text x=\"{inv (left - 6.0)}\" y=\"{inv (yy + 4.0)}\" text-anchor=\"end\">{tickLabel y}</text>\n")
        |> ignore

        let x = xMax * float k / 4.0

        sb.Append(
            $"<text x=\"{inv (px x)}\" y=\"{inv (top + plotH + 16.0)}\" text-anchor=\"middle\">{tickLabel (Math.Round x)}</text>\n"
        )
        |> ignore

    sb
        .Append(
            $"<rect x=\"{inv left}\" y=\"{inv top}\" width=\"{inv plotW}\" height=\"{inv plotH}\" fill=\"none\" stroke=\"#444\"/>\n"
        )
        .Append(
            $"<text x=\"{inv (left + plotW / 2.0)}\" y=\"{height - 6}\" text-anchor=\"middle\">{escape xLabel}</text>\n"
        )
        .Append(
            $"<text x=\"14\" y=\"{inv (top + plotH / 2.0)}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {inv (top + plotH / 2.0)})\">{escape yLabel}</text>\n"
        )
    |> ignore

    pts
    |> List.iteri (fun i (name, p) ->
        let color = palette[i % palette.Length]
        let path = StringBuilder()
        let mutable pen = false

        for x, y in p do
            if Double.IsFinite y then
                path.Append(if pen then " L" else " M").Append(inv (px x)).Append(',').Append(inv (py y))
                |> ignore

                pen <- true
            else
                pen <- false

        if path.Length > 0 then
            sb.Append(
                $"<path d=\"{path.ToString().Trim()}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.3\"/>\n"
            )
            |> ignore

        let ly = top + 14.0 * float i + 6.0

        sb
            .Append(
                $"<line x1=\"{inv (left + plotW + 10.0)}\" x2=\"{inv (left + plotW + 28.0)}\" y1=\"{inv ly}\" y2=\"{inv ly}\" stroke=\"{color}\" stroke-width=\"2\"/>\n"
            )
            .Append($"<text x=\"{inv (left + plotW + 32.0)}\" y=\"{inv (ly + 4.0)}\">{escape name}</text>\n")
        |> ignore)

    sb.Append("</svg>\n").ToString()

/// A heat map of `values [time; rows]` (one horizontal band per row, time along x, averaged in bins
/// when longer than `MaxPoints`), white at the minimum to dark blue at the maximum.
let heatmap (title: string) (rowLabel: string) (values: float[,]) : string =
    let time, rows = Array2D.length1 values, Array2D.length2 values
    let width, height = 900, max 120 (60 + 14 * rows)
    let left, right, top, bottom = 70.0, 20.0, 28.0, 30.0
    let plotW, plotH = float width - left - right, float height - top - bottom

    let cols =
        Array.init rows (fun r -> downsample (Array.init time (fun t -> values[t, r])))

    let all = cols |> Array.collect (Array.map snd) |> Array.filter Double.IsFinite

    let lo, hi =
        (if all.Length = 0 then
             0.0, 1.0
         else
             Array.min all, Array.max all)

    let span = if hi > lo then hi - lo else 1.0
    let sb = StringBuilder()
    frame sb width height title

    for r in 0 .. rows - 1 do
        let n = cols[r].Length
        let cellW = plotW / float (max 1 n)
        let y = top + plotH * float r / float rows

        cols[r]
        |> Array.iteri (fun i (_, v) ->
            if Double.IsFinite v then
                let a = (v - lo) / span
                let shade = int (255.0 * (1.0 - a))
                let fill = $"rgb({shade},{shade},{min 255 (shade + 60)})"

                sb.Append(
                    $"<rect x=\"{inv (left + cellW * float i)}\" y=\"{inv y}\" width=\"{inv (cellW + 0.3)}\" height=\"{inv (plotH / float rows)}\" fill=\"{fill}\"/>\n"
                )
                |> ignore)

        sb.Append(
            $"<text x=\"{inv (left - 6.0)}\" y=\"{inv (y + plotH / float rows / 2.0 + 4.0)}\" text-anchor=\"end\">{escape rowLabel}{r}</text>\n"
        )
        |> ignore

    sb
        .Append(
            $"<text x=\"{inv (left + plotW / 2.0)}\" y=\"{height - 8}\" text-anchor=\"middle\">time step (0 … {time - 1}); colour range {tickLabel lo} … {tickLabel hi}</text>\n"
        )
        .Append("</svg>\n")
        .ToString()
