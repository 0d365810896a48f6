/// Progress of long training runs: a live bar (epochs, batches, current losses, time left) on an
/// interactive terminal, plain lines otherwise (a pipe, a file, CI logs).
[<RequireQualifiedAccess>]
module TiDHy.Cli.Progress

open System
open Spectre.Console
open TiDHy.Functional

/// True when standard output is an interactive terminal that can redraw a progress bar.
let interactive () =
    not Console.IsOutputRedirected
    && AnsiConsole.Profile.Capabilities.Interactive
    && AnsiConsole.Profile.Capabilities.Ansi

let private losses (m: StepMetrics) =
    $"total {m.Total:F4} (L_hat {m.Losses.SpatialLossRHat:F4}, L_bar {m.Losses.SpatialLossRBar:F4}, temp {m.Losses.TempLoss:F4})"

/// The time left, from the batches done so far in this run and those still to do.
let private eta (p: FitProgress) (startEpoch: int) =
    let done' = float ((p.Epoch - startEpoch) * p.Batches + p.Batch)
    let total = float ((p.Epochs - startEpoch) * p.Batches)

    if done' <= 0.0 then
        "?"
    else
        let left = p.Elapsed.TotalSeconds / done' * (total - done')
        TimeSpan.FromSeconds(Math.Round left).ToString()

let private epochLine (e: EpochRecord) (epochs: int) =
    let v =
        e.Validation
        |> Option.map (fun v -> $", validation {v:F4}")
        |> Option.defaultValue ""

    $"epoch {e.Epoch + 1}/{epochs}: total {e.Train.Total:F4} (L_hat {e.Train.Losses.SpatialLossRHat:F4}, L_bar {e.Train.Losses.SpatialLossRBar:F4}, temp {e.Train.Losses.TempLoss:F4}){v}, {e.Seconds:F1} s"

/// Runs `work report`, where `work` calls `report` after every batch (a `Train.fit` progress
/// callback), showing progress from `startEpoch` to `epochs`. Interactive: a bar; otherwise one
/// line per epoch with the time left.
let run (startEpoch: int) (epochs: int) (work: (FitProgress -> unit) -> 'a) : 'a =
    if interactive () then
        let mutable result = Unchecked.defaultof<'a>

        AnsiConsole
            .Progress()
            .AutoClear(false)
            .Columns(
                [|
                    TaskDescriptionColumn() :> ProgressColumn
                    ProgressBarColumn()
                    PercentageColumn()
                    ElapsedTimeColumn()
                    RemainingTimeColumn()
                |]
            )
            .Start(fun ctx ->
                let task = ctx.AddTask("training", true, float (max 1 (epochs - startEpoch)))

                result <-
                    work (fun p ->
                        let fraction =
                            float (p.Epoch - startEpoch) + float p.Batch / float (max 1 p.Batches)

                        task.Value <- fraction

                        task.Description <-
                            Markup.Escape
                                $"epoch {p.Epoch + 1}/{p.Epochs} batch {p.Batch}/{p.Batches}: {losses p.Metrics}"

                        match p.Completed with
                        | Some e -> AnsiConsole.WriteLine(epochLine e p.Epochs)
                        | None -> ()))

        result
    else
        work (fun p ->
            match p.Completed with
            | Some e -> printfn "%s, about %s left" (epochLine e p.Epochs) (eta p startEpoch)
            | None -> ())
