/// The report's interactive charts (Plotly.NET): public, so that an F# Interactive user gets the same
/// chart with `|> Chart.show`, e.g. `Plots.losses history |> Chart.show`. Long series are decimated
/// (a min/max envelope per bin) so that the page stays small and responsive; zoom and hover work on
/// every chart, and the chart menu's image download writes SVG.
module TiDHy.Cli.Plots

open System
open System.IO
open Plotly.NET
open Plotly.NET.LayoutObjects
open Plotly.NET.ConfigObjects
open Plotly.NET.TraceObjects
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

/// The most points a line keeps; longer lines keep each bin's minimum and maximum in time order.
[<Literal>]
let MaxLinePoints = 4000

/// The most time columns a heat map keeps; longer ones are averaged in equal bins.
[<Literal>]
let MaxHeatmapColumns = 2000

/// The chart width in pixels.
[<Literal>]
let Width = 1100

let private column (a: float[,]) (k: int) =
    Array.init (Array2D.length1 a) (fun t -> a[t, k])

/// `v` rounded to 4 significant digits (to a whole number from 10^4 up): what a chart shows, in
/// fewer characters on the page.
let round4 (v: float) =
    if Double.IsFinite v && v <> 0.0 then
        Math.Round(v, max 0 (min 15 (3 - int (floor (log10 (abs v))))))
    else
        v

/// `values` (plotted at x = index) reduced to at most about `MaxLinePoints` points: in equal bins,
/// each bin's minimum and maximum in time order, so that spikes survive; unchanged when short.
/// NaN values are kept as gaps.
let decimate (values: float[]) : int[] * float[] =
    let n = values.Length

    if n <= MaxLinePoints then
        Array.init n id, values
    else
        let bin = (n + MaxLinePoints / 2 - 1) / (MaxLinePoints / 2)

        [|
            for b in 0 .. (n - 1) / bin do
                let lo, hi = b * bin, min n ((b + 1) * bin) - 1
                let idx = [| lo..hi |] |> Array.filter (fun i -> not (Double.IsNaN values[i]))

                if idx.Length = 0 then
                    yield lo, nan
                else
                    let iMin = idx |> Array.minBy (fun i -> values[i])
                    let iMax = idx |> Array.maxBy (fun i -> values[i])

                    for i in List.sort (List.distinct [ iMin; iMax ]) do
                        yield i, values[i]
        |]
        |> Array.unzip

/// `values [time; rows]` as heat-map rows `[rows][columns]` with the time of each column, averaged
/// in equal bins when longer than `MaxHeatmapColumns`.
let private heatRows (values: float[,]) =
    let time, rows = Array2D.length1 values, Array2D.length2 values
    let bin = max 1 ((time + MaxHeatmapColumns - 1) / MaxHeatmapColumns)
    let cols = (time + bin - 1) / bin

    let z =
        Array.init rows (fun r ->
            Array.init cols (fun c ->
                let part =
                    [| c * bin .. min time ((c + 1) * bin) - 1 |]
                    |> Array.map (fun t -> values[t, r])
                    |> Array.filter (Double.IsNaN >> not)

                if part.Length = 0 then nan else round4 (Array.average part)))

    z, Array.init cols (fun c -> c * bin)

let private config =
    Config.init (
        Responsive = true,
        Displaylogo = false,
        ToImageButtonOptions = ToImageButtonOptions.init (Format = StyleParam.ImageFormat.SVG, Filename = "tidhy")
    )

/// `chart` with `title`, the report's width and `height`, and the report's chart menu.
let style (title: string) (height: int) (chart: GenericChart) =
    chart
    |> Chart.withTitle title
    |> Chart.withSize (Width, height)
    |> Chart.withConfig config

let private line (name: string) (values: float[]) =
    let x, y = decimate values
    Chart.Line(x = x, y = Array.map round4 y, Name = name)

/// The training losses by epoch (each term's mean over batches, and the total), with the validation
/// objective where it ran.
let losses (history: EpochRecord[]) : GenericChart =
    // Counted from 1, as metrics.csv and the progress lines count.
    let epochs = history |> Array.map (fun h -> h.Epoch + 1)

    let curve name (f: EpochRecord -> float) =
        Chart.Line(x = epochs, y = Array.map f history, Name = name, ShowMarkers = (history.Length < 50))

    [
        curve "total" _.Train.Total
        curve "L_hat (reconstruction)" _.Train.Losses.SpatialLossRHat
        curve "L_bar (forecast)" _.Train.Losses.SpatialLossRBar
        curve "temporal" _.Train.Losses.TempLoss
        curve "r2" _.Train.Losses.R2Loss
        curve "validation" (fun h -> h.Validation |> Option.defaultValue nan)
    ]
    |> Chart.combine
    |> Chart.withXAxisStyle "epoch"
    |> Chart.withYAxisStyle "loss"
    |> style "Loss curves: training terms (mean over batches) and validation" 420

/// The data against the reconstruction `decode(r)` and the one-step forecast `decode(r̂)`, one
/// feature at a time: the dropdown picks the feature (three traces per feature).
let series (tl: Timeline) : GenericChart =
    let d = Array2D.length2 tl.Data

    let traces =
        [
            for k in 0 .. d - 1 do
                for name, a in
                    [
                        "data", tl.Data
                        "reconstruction", tl.Reconstruction
                        "forecast", tl.Forecast
                    ] do
                    line $"{name} (feature {k})" (column a k)
                    |> Chart.withTraceInfo (
                        Visible =
                            (if k = 0 then
                                 StyleParam.Visible.True
                             else
                                 StyleParam.Visible.False)
                    )
        ]

    let button k =
        let visible = DynamicObj.DynamicObj()
        visible.SetProperty("visible", Array.init (3 * d) (fun i -> i / 3 = k))

        UpdateMenuButton.init (Label = $"feature {k}", Method = StyleParam.UpdateMethod.Restyle, Args = [ visible ])

    let menu =
        UpdateMenu.init (
            Buttons = [ for k in 0 .. d - 1 -> button k ],
            X = 0.0,
            XAnchor = StyleParam.XAnchorPosition.Left,
            Y = 1.15,
            YAnchor = StyleParam.YAnchorPosition.Top
        )

    traces
    |> Chart.combine
    |> Chart.withUpdateMenus [ menu ]
    |> Chart.withXAxisStyle "time step"
    |> Chart.withYAxisStyle "value"
    |> style $"Data, reconstruction decode(r) and forecast decode(r̂) ({d} features: pick one)" 450

/// The latents over time: `r` (top) and the slower `r2` (bottom) on a shared time axis.
let latents (tl: Timeline) : GenericChart =
    let lines prefix (a: float[,]) =
        [ for k in 0 .. Array2D.length2 a - 1 -> line $"{prefix}{k}" (column a k) ]
        |> Chart.combine

    [
        lines "r" tl.R |> Chart.withYAxisStyle "r"
        lines "r2_" tl.R2 |> Chart.withYAxisStyle "r2"
    ]
    |> Chart.SingleStack(Pattern = StyleParam.LayoutGridPattern.Coupled)
    |> Chart.withXAxisStyle "time step"
    |> style "Latents r and r2 over time" 600

let private heatmap (name: string) (rowLabel: string) (values: float[,]) (colorBar: ColorBar option) =
    let z, x = heatRows values

    Chart.Heatmap(
        zData = z,
        X = x,
        Y = [ for r in 0 .. Array2D.length2 values - 1 -> $"{rowLabel}{r}" ],
        Name = name,
        ShowScale = colorBar.IsSome,
        ?ColorBar = colorBar,
        ColorScale = StyleParam.Colorscale.Viridis
    )

/// The mixture weights `W` as a heat map (one row per dynamics matrix), under the true discrete
/// states when given, on a shared time axis.
let mixture (tl: Timeline) (states: float[,] option) : GenericChart =
    match states with
    | Some s ->
        // The colour bar belongs to W (the bottom half); the states' colours are their values.
        let bar =
            ColorBar.init (Title = Title.init "W", Len = 0.5, Y = 0.0, YAnchor = StyleParam.VerticalAlign.Bottom)

        [
            heatmap "true states" "system " s None |> Chart.withYAxisStyle "true state"
            heatmap "W" "w" tl.W (Some bar) |> Chart.withYAxisStyle "W"
        ]
        |> Chart.SingleStack(Pattern = StyleParam.LayoutGridPattern.Coupled)
        |> Chart.withXAxisStyle "time step"
        |> style "True discrete states (top) and mixture weights W (bottom)" 560
    | None ->
        heatmap "W" "w" tl.W (Some(ColorBar.init (Title = Title.init "W")))
        |> Chart.withYAxisStyle "W"
        |> Chart.withXAxisStyle "time step"
        |> style "Mixture weights W over time (one row per dynamics matrix)" 360

/// The decoding table's accuracies (mean ± std over splits) per feature: kNN and the linear decoder
/// on held-out blocks (the first measure), then on random steps (optimistic), with chance.
let decoding (table: DecodingTable) : GenericChart =
    let names = table.Rows |> Array.map _.Name |> Array.toList

    let bars label (pick: DecodingRow -> DecodingSpread) =
        let spreads = table.Rows |> Array.map pick

        Chart.Column(values = (spreads |> Array.map _.Mean), Keys = names, Name = label)
        |> Chart.withYError (Error.init (Array = (spreads |> Array.map _.Std)))

    [
        bars $"{table.BlockLength}-step blocks, kNN" _.BlockKnn
        bars $"{table.BlockLength}-step blocks, linear" _.BlockLinear
        bars "random steps, kNN (optimistic)" _.RandomKnn
        bars "random steps, linear (optimistic)" _.RandomLinear
        for label, chance in
            [
                "chance (blocks)", table.ChanceBlock
                "chance (random steps)", table.ChanceRandom
            ] do
            Chart.Line(
                x = names,
                y = List.replicate names.Length chance,
                Name = label,
                LineDash = StyleParam.DrawingStyle.Dash
            )
    ]
    |> Chart.combine
    |> Chart.withYAxisStyle "accuracy"
    |> style "Decoding accuracy of the state from each feature (mean ± std over splits)" 460

/// Timescales read without labels: for each source (name, timescales), its cluster centres (log
/// axis), with the true timescales as dashed lines when known.
let timescaleClusters (sources: (string * float[]) list) (truth: float[] option) : GenericChart =
    let names = sources |> List.map fst

    [
        for name, centres in sources do
            Chart.Point(
                x = List.replicate centres.Length name,
                y = (centres |> Array.map round4),
                Name = name,
                ShowLegend = false
            )
        for t in defaultArg truth [||] do
            Chart.Line(
                x = names,
                y = List.replicate names.Length (round4 t),
                Name = $"true {t:F1}",
                LineDash = StyleParam.DrawingStyle.Dash,
                ShowLegend = false
            )
    ]
    |> Chart.combine
    |> Chart.withYAxis (LinearAxis.init (Title = Title.init "timescale (steps)", AxisType = StyleParam.AxisType.Log))
    |> style "Timescales without labels: cluster centres of each source (dashed: the true timescales)" 460

/// plotly.js as shipped inside Plotly.NET (inlined once per page, so the page works offline).
let plotlyJs () =
    let asm = typeof<GenericChart>.Assembly
    let name = $"Plotly.NET.plotly-{Globals.PLOTLYJS_VERSION}.min.js"

    use s =
        match asm.GetManifestResourceStream name with
        | null -> failwith $"plotly.js ({name}) is missing from Plotly.NET"
        | s -> s

    use r = new StreamReader(s)
    r.ReadToEnd()

/// One chart as an HTML fragment (its div and the script that draws it); the page must load
/// plotly.js first.
let fragment (chart: GenericChart) = GenericChart.toChartHTML chart
