namespace TiDHy.Functional

open System
open System.Globalization

/// Short text for the library's main values in F# Interactive, where `%A` would print hundreds of
/// lines for a `TrainState` and `[|rank=3|]` for a `float[,,]`. One line in a script registers them:
///
/// ```fsharp
/// TiDHy.Functional.Fsi.install fsi
/// ```
///
/// after which `Config`, `Params`, `TrainState`, `FitResult`, `EvaluationRecord`, `InferResult`,
/// `FirstStepResult`, `ForwardResult` and `float[,]` / `float[,,]` / `float[,,,]` values print as a
/// few lines with their shapes and key numbers. Each text is also a function here (`Fsi.array3`,
/// `Fsi.trainState`, …) for use outside FSI.
[<RequireQualifiedAccess>]
module Fsi =

    let private num (v: float) =
        v.ToString("G4", CultureInfo.InvariantCulture)

    let private dims (a: Array) =
        Shape.show (Seq.init a.Rank a.GetLength)

    /// `min …  mean …  max …` of the finite values, with the count of the others.
    let private stats (values: float seq) =
        let mutable n, nonFinite, lo, hi, sum = 0, 0, infinity, -infinity, 0.0

        for v in values do
            if Double.IsFinite v then
                n <- n + 1
                lo <- min lo v
                hi <- max hi v
                sum <- sum + v
            else
                nonFinite <- nonFinite + 1

        let finite =
            if n = 0 then
                "no finite value"
            else
                $"min {num lo}  mean {num (sum / float n)}  max {num hi}"

        if nonFinite > 0 then
            $"{finite}  ({nonFinite} NaN or infinite)"
        else
            finite

    let private values (a: Array) = Seq.cast<float> a

    let private head (count: int) (a: Array) =
        let shown = values a |> Seq.truncate count |> Seq.map num |> String.concat " "
        if a.Length > count then shown + " …" else shown

    /// A `float[,]`: the whole matrix when it is at most 8 × 10, else its shape, statistics and
    /// first values.
    let array2 (a: float[,]) : string =
        let rows, cols = Array2D.length1 a, Array2D.length2 a

        if rows <= 8 && cols <= 10 then
            let cells = Array2D.map num a
            let width = cells |> Seq.cast<string> |> Seq.fold (fun w s -> max w s.Length) 1

            let lines =
                [
                    for i in 0 .. rows - 1 ->
                        "  "
                        + String.Join("  ", [| for j in 0 .. cols - 1 -> cells[i, j].PadLeft width |])
                ]

            String.Join("\n", $"float{dims a}" :: lines)
        else
            $"float{dims a}  {stats (values a)}\n  first: {head 8 a}"

    /// A `float[,,]`: its shape, statistics and first values.
    let array3 (a: float[,,]) : string =
        $"float{dims a}  {stats (values a)}\n  first: {head 8 a}"

    /// A `float[,,,]`: its shape, statistics and first values.
    let array4 (a: float[,,,]) : string =
        $"float{dims a}  {stats (values a)}\n  first: {head 8 a}"

    /// A `Config`: the sizes and loss, then every option that differs from the defaults (upstream's names).
    let config (cfg: Config) : string =
        let defaults = ConfigJson.fields (Config.defaults cfg.InputDim) |> Map.ofList

        let changed =
            ConfigJson.fields cfg
            |> List.filter (fun (k, v) -> Map.tryFind k defaults <> Some v)
            |> List.map (fun (k, v) -> $"{k} {v}")

        let decoder = if cfg.NonlinDecoder then "MLP" else "linear"

        let head =
            $"Config: input_dim {cfg.InputDim}, r_dim {cfg.RDim}, r2_dim {cfg.R2Dim}, mix_dim {cfg.MixDim}, "
            + $"hyper_hid_dim {cfg.HyperHidDim}; {Config.lossName cfg.Loss}, {decoder} decoder, backend {cfg.Backend}"

        if changed.IsEmpty then
            head + "\n  every other option at its default"
        else
            head + "\n  not default: " + String.Join(", ", changed)

    /// Lines of at most about 100 characters from `items` joined by ", ".
    let private wrap (indent: string) (items: string list) =
        let lines = ResizeArray<string>()
        let mutable line = ""

        for item in items do
            if line <> "" && line.Length + item.Length > 96 then
                lines.Add(line + ",")
                line <- item
            elif line = "" then
                line <- item
            else
                line <- line + ", " + item

        if line <> "" then
            lines.Add line

        lines |> Seq.map (fun l -> indent + l) |> String.concat "\n"

    /// `Params`: the tensor count, values and norm, then each tensor's name and shape.
    let parameters (p: Params) : string =
        let tensors = ParamLayout.ofParams p
        let count = tensors |> List.sumBy (fun (_, t) -> t.Data.Length)

        let norm =
            sqrt (tensors |> List.sumBy (fun (_, t) -> t.Data |> Array.sumBy (fun v -> v * v)))

        $"Params: {tensors.Length} tensors, {count} values, norm {num norm}\n"
        + wrap "  " (tensors |> List.map (fun (n, t) -> n + " " + Shape.show t.Shape))

    let private epochLine (e: EpochRecord) =
        let validation =
            match e.Validation with
            | Some v -> $", validation {num v}"
            | None -> ""

        $"epoch {e.Epoch + 1}: train {num e.Train.Total}{validation}"

    /// A `TrainState`: progress, parameters, the last epoch and the best model.
    let trainState (s: TrainState) : string =
        let tensors = ParamLayout.ofParams s.Params
        let count = tensors |> List.sumBy (fun (_, t) -> t.Data.Length)

        let last =
            match Array.tryLast s.History with
            | Some e -> "last " + epochLine e
            | None -> "no epoch completed"

        let best =
            match s.Best with
            | Some b -> $"best: epoch {b.Epoch + 1}, score {num b.Score}"
            | None -> "no best model yet"

        let gradNorm =
            match s.GradNorm.L0 with
            | Some _ -> "\n  GradNorm weights " + String.Join(" ", s.GradNorm.Weights |> Array.map num)
            | None -> ""

        $"TrainState: {s.Epoch} epochs and {s.Batch} batches done, {s.Optimizer.Step} AdamW steps, {count} parameters\n"
        + $"  {last}; {best}"
        + gradNorm

    /// A `FitResult`: whether it finished, then its state.
    let fitResult (r: FitResult) : string =
        let how = if r.Cancelled then "cancelled" else "finished"
        $"FitResult: {how}\n  " + (trainState r.State).Replace("\n", "\n  ")

    let private iterationLine (iterations: int[]) (converged: bool[]) =
        if iterations.Length = 0 then
            "no inference step"
        else
            let mean = Array.averageBy float iterations
            let ok = converged |> Array.filter id |> Array.length

            $"{iterations.Length} inference steps: iterations mean {num mean}, max {Array.max iterations}; "
            + $"converged {ok}/{converged.Length}"

    /// An `EvaluationRecord`: its size, average losses, inference iterations and array shapes.
    let evaluationRecord (r: EvaluationRecord) : string =
        let b =
            match r.B with
            | Some b -> $"; b {dims b}"
            | None -> ""

        $"EvaluationRecord: {Array3D.length1 r.I} windows × {Array3D.length2 r.I} steps; per window "
        + $"L_hat {num r.SpatialLossRHatAvg}, L_bar {num r.SpatialLossRBarAvg}, temp {num r.TempLossAvg}\n"
        + $"  {iterationLine r.Iterations r.Converged}\n"
        + $"  I, I_hat, I_bar {dims r.I}; R_hat, R_bar {dims r.RHat}; R2_hat {dims r.R2Hat}; W {dims r.W}; Ut {dims r.Ut}{b}"

    let private sampleLine (iterations: int) (sample: int[]) =
        if sample.Length > 0 && Array.exists (fun i -> i <> iterations) sample then
            $" (per sample {Array.min sample}…{Array.max sample})"
        else
            ""

    /// An `InferResult`: batch, iterations and the latents' shapes and sizes.
    let inferResult (r: InferResult) : string =
        let conv = if r.Converged then "converged" else "not converged"

        $"InferResult: batch {Array2D.length1 r.R}, {r.Iterations} iterations{sampleLine r.Iterations r.SampleIterations}, {conv}\n"
        + $"  r {dims r.R} {stats (values r.R)}\n  r2 {dims r.R2} {stats (values r.R2)}\n  r_hat {dims r.RHat}"

    /// A `FirstStepResult`: batch, iterations and `r`.
    let firstStepResult (r: FirstStepResult) : string =
        let conv = if r.Converged then "converged" else "not converged"

        $"FirstStepResult: batch {Array2D.length1 r.R}, {r.Iterations} iterations{sampleLine r.Iterations r.SampleIterations}, {conv}\n"
        + $"  r {dims r.R} {stats (values r.R)}"

    /// A `ForwardResult`: the objective's terms and the inference iterations.
    let forwardResult (r: ForwardResult) : string =
        let l = r.Losses

        $"ForwardResult: L_hat {num l.SpatialLossRHat}, L_bar {num l.SpatialLossRBar}, temp {num l.TempLoss}, r2 {num l.R2Loss}; "
        + $"batch {Array2D.length1 r.RFirst}\n  {iterationLine r.Iterations r.Converged}"

    let private register (fsi: obj) (f: 'T -> string) =
        let add =
            match fsi with
            | null -> nullArg (nameof fsi)
            | o -> o.GetType().GetMethod "AddPrinter"

        if isNull add then
            invalidArg (nameof fsi) "fsi: expected F# Interactive's `fsi` object (it has no AddPrinter method)."

        add.MakeGenericMethod(typeof<'T>).Invoke(fsi, [| box f |]) |> ignore

    /// Registers the printers with F# Interactive: pass the script's `fsi` object
    /// (`TiDHy.Functional.Fsi.install fsi`). Works with `#r` of the built dll and with
    /// `#r "nuget: TiDHy.Functional"`.
    let install (fsi: obj) : unit =
        register fsi array2
        register fsi array3
        register fsi array4
        register fsi config
        register fsi parameters
        register fsi trainState
        register fsi fitResult
        register fsi evaluationRecord
        register fsi inferResult
        register fsi firstStepResult
        register fsi forwardResult
