/// The inference benchmark behind `tidhy bench` and `dotnet run -c Release --project bench/TiDHy.Bench
/// -- inference --batch 1,16,256,2048 --json` (bench/TiDHy.Bench compiles this file too, so both
/// print the same measurements): the time of a full `Forward.forward` over a window (T = 3,
/// max_iter = 50, tol = 0, so every inference step runs exactly 50 iterations) divided by
/// (T − 1)·max_iter, best of several runs after a warm-up, for the fused float32 and float64
/// kernels and the F# reference path, each beside the machine's FMA limit measured in the same run
/// (`FmaLimit`). With `--upstream`, `tidhy bench` times upstream's PyTorch inference on the same
/// windows in the same run (`UpstreamBenchmark.runInference`); this file holds no upstream figure.
module TiDHy.Cli.InferenceBenchmark

open System
open System.Diagnostics
open System.Globalization
open TiDHy.Functional

/// The workload: D = 20, R = 10, R2 = 5, M = 15, H = 50, MSE, linear decoder, full rank, no bias, no
/// r2 decoder, BatchMean scaling, Batch convergence, T = 3, max_iter = 50, tol = 0, lr 0.02.
let config (backend: Backend) =
    { Config.defaults 20 with
        MaxIter = 50
        Tol = 0.0
        LrR = 0.02
        LrR2 = 0.02
        Backend = backend
    }

let timeSteps = 3

/// The window `[batch; T; D]` of 0.5·N(0, 1) draws from a fixed seed.
let window (batch: int) =
    let z = Random.normal (Random.key 1) (batch * timeSteps * 20)
    Array3D.init batch timeSteps 20 (fun b t d -> 0.5 * z[(b * timeSteps + t) * 20 + d])

type Measurement =
    {
        Impl: string
        Batch: int
        Seconds: float
        Runs: int
    }

/// The measured calls of `run` after a warm-up of `warmup` seconds (at least one call, so that the
/// runtime's tiered compilation has optimised the code): at least `minRuns`, and more while the total
/// stays under `budget` seconds (at most `maxRuns`); each call's wall time and result, in order.
let timed (warmup: float) (minRuns: int) (maxRuns: int) (budget: float) (run: unit -> 'a) =
    let w = Stopwatch.StartNew()
    run () |> ignore

    while w.Elapsed.TotalSeconds < warmup do
        run () |> ignore

    let total = Stopwatch.StartNew()
    let calls = ResizeArray<float * 'a>()

    while calls.Count < minRuns
          || (calls.Count < maxRuns && total.Elapsed.TotalSeconds < budget) do
        let sw = Stopwatch.StartNew()
        let result = run ()
        calls.Add((sw.Elapsed.TotalSeconds, result))

    calls.ToArray()

/// Best wall time of `run` over the calls `timed` measures, and their number.
let best (warmup: float) (minRuns: int) (maxRuns: int) (budget: float) (run: unit -> unit) =
    let calls = timed warmup minRuns maxRuns budget run
    (calls |> Array.map fst |> Array.min), calls.Length

let inv (v: float) =
    v.ToString("R", CultureInfo.InvariantCulture)

let perIteration (m: Measurement) =
    m.Seconds / float ((timeSteps - 1) * 50)

/// The FMA limit of the benchmark model in a precision (`FmaLimit.sampleIterationsPerSecond`):
/// float64 (`double`) or float32.
let limitIn (peak: FmaLimit.Peak) (double: bool) =
    FmaLimit.sampleIterationsPerSecond peak double (config Backend.Fused)

/// One JSON line; `limit` is the FMA limit of the row's precision (sample-iterations per second), or
/// None where it does not apply (a GPU).
let json (limit: float option) (m: Measurement) (reference: Measurement option) =
    let spi = perIteration m
    let sips = float m.Batch / spi

    let vsLimit =
        match limit with
        | Some l -> $", \"fma_limit_sample_iterations_per_second\": {inv l}, \"share_of_fma_limit\": {inv (sips / l)}"
        | None -> ""

    let vsReference =
        match reference with
        | Some r when r.Impl <> m.Impl -> $", \"speedup_vs_reference\": {inv (perIteration r / spi)}"
        | _ -> ""

    $"{{\"impl\": \"{m.Impl}\", \"batch\": {m.Batch}, \"seconds_per_iteration\": {inv spi}, \"sample_iterations_per_second\": {inv sips}, \"forward_seconds\": {inv m.Seconds}, \"runs\": {m.Runs}, \"cores\": {Environment.ProcessorCount}{vsLimit}{vsReference}}}"

/// One line of text; `limit` as for `json`.
let text (limit: float option) (m: Measurement) (reference: Measurement option) =
    let spi = perIteration m
    let sips = float m.Batch / spi

    let vs =
        match reference with
        | Some r when r.Impl <> m.Impl -> $"  {perIteration r / spi, 8:F1}x the reference"
        | _ -> ""

    let ofLimit =
        match limit with
        | Some l ->
            let percent = (100.0 * sips / l).ToString("F1", CultureInfo.InvariantCulture)
            $"  {percent, 5} percent of the FMA limit"
        | None -> ""

    $"{m.Impl, -16} batch {m.Batch, 5}: {spi * 1e6, 10:F2} µs/iteration  {sips, 14:N0} sample-iterations/s{ofLimit}  ({m.Runs} runs){vs}"

/// How the fused kernels' rows are timed (`best`'s warm-up seconds, least and most runs, and budget
/// seconds); `tidhy bench --upstream` times upstream's forward the same way.
let fusedTiming = 1.0, 5, 200, 2.0

let impls =
    [
        "reference", Backend.Reference
        "fused-float32", Backend.FusedFloat32
        "fused-float64", Backend.Fused
    ]

/// Times every implementation at every batch size. The reference path is slow (seconds per forward
/// at batch 2048): it runs once as a warm-up and once to three times more within two seconds.
/// Returns the FMA limit measured and the rows measured, in order.
let inference (batches: int list) (asJson: bool) (withReference: bool) (maxReferenceBatch: int) =
    let peak = FmaLimit.measure ()

    if not asJson then
        let limit double =
            FmaLimit.sampleIterationsPerSecond peak double (config Backend.Fused) / 1e6

        printfn
            "FMA limit, measured now: %.1f G float32 lane-FMAs/s (%d threads, %d-bit vectors) / %.0f multiply-adds per sample-iteration = %.1f M sample-iterations/s in float32, %.1f M in float64"
            (peak.Float32LaneFmasPerSecond / 1e9)
            peak.Threads
            peak.VectorBits
            (FmaLimit.multiplyAdds (config Backend.Fused))
            (limit false)
            (limit true)

    let measured = ResizeArray<Measurement>()

    for batch in batches do
        let X = window batch
        let p = Init.init (config Backend.Fused) (Random.key 0)
        let mutable reference = None

        for name, backend in impls do
            let cfg = config backend
            let run () = Forward.forward cfg p None X |> ignore

            if backend = Backend.Reference && (not withReference || batch > maxReferenceBatch) then
                let why =
                    if withReference then
                        $"batch above {maxReferenceBatch} (--max-reference-batch)"
                    else
                        "--no-reference"

                if asJson then
                    printfn $"{{\"impl\": \"{name}\", \"batch\": {batch}, \"skipped\": \"{why}\"}}"
                else
                    printfn $"{name, -16} batch {batch, 5}: skipped ({why})"
            else
                let warmup, minRuns, maxRuns, budget =
                    if backend = Backend.Reference then
                        0.0, 1, 3, 2.0
                    else
                        fusedTiming

                let seconds, runs = best warmup minRuns maxRuns budget run

                let m =
                    {
                        Impl = name
                        Batch = batch
                        Seconds = seconds
                        Runs = runs
                    }

                if backend = Backend.Reference then
                    reference <- Some m

                measured.Add m

                let limit = Some(limitIn peak (backend <> Backend.FusedFloat32))

                printfn
                    "%s"
                    (if asJson then
                         json limit m reference
                     else
                         text limit m reference)

    peak, List.ofSeq measured
