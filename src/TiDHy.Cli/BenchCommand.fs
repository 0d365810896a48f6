/// `tidhy bench`: the inference benchmark (`InferenceBenchmark`), `tidhy bench train`, the
/// training-step benchmark (`TrainBenchmark`; bench/TiDHy.Bench runs both too), and `tidhy bench
/// scale`, both over a grid of batch sizes and window lengths (`ScaleBenchmark`).
module TiDHy.Cli.BenchCommand

open System
open Argu
open TiDHy.Cli.Args

type TrainBenchArgs =
    | Windows of int
    | Length of int
    | Steps of int
    | Warmup of seconds: float
    | Impl of names: string
    | Setting of names: string
    | Upstream of dir: string
    | Python of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Windows _ -> "windows per batch, >= 1 (default 16, the demo's batch)."
            | Length _ -> "steps per window, >= 2 (default 100, the demo's sequence_length)."
            | Steps _ -> "measured training steps per case after the warm-up, >= 1 (default 3)."
            | Warmup _ ->
                "warm-up per case before the measured steps: one step, then steps until this many seconds have passed, >= 0 (default 1; the runtime optimises the kernels' hot code during about the first second of calls)."
            | Impl _ -> "comma-separated backends: reference, fused-float64, fused-float32 (default all)."
            | Setting _ ->
                "comma-separated settings: fixed (max_iter 50, tol 0), converge (max_iter 200, tol 0.01) (default both)."
            | Upstream _ ->
                "also time upstream TiDHy's PyTorch training step (a checkout of its PyTorch-era code, e.g. commit da3d280) on the same windows and as many threads as the kernels use, then print each setting's ratio_to_upstream."
            | Python _ ->
                "the python (with torch) that runs --upstream's harness (default /usr/bin/python3, else python3 on PATH)."

type ScaleBenchArgs =
    | Batches of sizes: string
    | Lengths of steps: string
    | What of names: string
    | Precision of names: string
    | [<CustomCommandLine("--setting")>] Scale_Setting of names: string
    | Seconds of float
    | Max_Sample_Iterations of float
    | Out of dir: string
    | [<CustomCommandLine("--config")>] Scale_Config of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batches _ -> "comma-separated batch sizes in windows, >= 1 (default 1,16,256,2048,10000)."
            | Lengths _ -> "comma-separated window lengths in steps, >= 2 (default 50,100,200,1000)."
            | What _ ->
                "comma-separated: inference (one Forward.forward over the batch), train (one Train.step) (default both)."
            | Precision _ -> "comma-separated: float32, float64 (the fused kernels; default float32)."
            | Scale_Setting _ ->
                "comma-separated settings: fixed (max_iter 50, tol 0), converge (the model's own max_iter and tol: the demo's 200 and 0.01) (default fixed)."
            | Seconds _ ->
                "time per case after one warm-up call, >= 0; at least one timed call, the best counts (default 1)."
            | Max_Sample_Iterations _ ->
                "skip (and print) the cases whose one call would run more sample-iterations (windows x (steps - 1) x max_iter) (default 2.5e7)."
            | Out _ -> "the folder of scale.json and scale.html (default bench-scale)."
            | Scale_Config _ ->
                "the model to time, a configuration file as tidhy train's (keys it lacks take the library's defaults; default the demo's model); the benchmark's kind of model only (MSE, linear decoder, full rank, no dynamic bias, no r2 decoder)."

type BenchArgs =
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainBenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Scale of ParseResults<ScaleBenchArgs>
    | Batch of sizes: string
    | Json
    | No_Reference
    | Max_Reference_Batch of int
    | Device of string
    | [<CustomCommandLine("--upstream")>] Inference_Upstream of dir: string
    | [<CustomCommandLine("--python")>] Inference_Python of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Train _ -> "time ordinary Train.step calls on the demo's shape instead (JSON lines)."
            | Scale _ ->
                "time inference and training steps over batch sizes and window lengths instead (scale.json, scale.html)."
            | Batch _ -> "comma-separated batch sizes (default 1,16,256,2048)."
            | Json -> "one JSON line per implementation and batch size."
            | No_Reference -> "skip the slow F# reference path."
            | Max_Reference_Batch _ -> "time the reference path only up to this batch size, >= 0 (default 4096)."
            | Device _ -> "the device of registered backends' rows (tidhy-torch: cpu, cuda:N; default cpu)."
            | Inference_Upstream _ ->
                "also time upstream TiDHy's PyTorch inference (its model's forward; a checkout of its PyTorch-era code, e.g. commit da3d280) on the same windows and as many threads as the kernels use, then print each row's speedup_vs_upstream."
            | Inference_Python _ ->
                "the python (with torch) that runs --upstream's harness (default /usr/bin/python3, else python3 on PATH)."

/// Splits a comma-separated list of names, each one of `allowed`; a usage error naming `option` otherwise.
let private names (option: string) (allowed: string list) (value: string) =
    let all = String.Join(", ", allowed)

    value.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
    |> List.ofArray
    |> function
        | [] -> usage $"{option}: expected a comma-separated list of {all}."
        | ns ->
            for n in ns do
                if not (List.contains n allowed) then
                    usage $"{option}: '{n}' is not one of {all}."

            ns

/// A usage error naming `option` unless `batch` windows of `length` steps of `features` values fit
/// an array and `cfg`'s memory estimate (`Config.checkMemory`) fits the machine.
let private checkSize (option: string) (cfg: TiDHy.Functional.Config) (batch: int) (length: int) (features: int) =
    let values = int64 batch * int64 length * int64 features

    if values > int64 Array.MaxLength then
        usage
            $"{option}: {batch} windows of {length} steps x {features} features hold {values} values, more than an array holds ({Array.MaxLength})."

    try
        TiDHy.Functional.Config.checkMemory cfg batch length
    with :? ArgumentException as ex ->
        let suffix = $" (Parameter '{ex.ParamName}')"
        usage $"{option}: {ex.Message.Replace(suffix, String.Empty)}"

/// A usage error naming `option` unless `windows` windows of `length` steps of the demo's series
/// (`TrainBenchmark.data`: the series behind them, half a window apart, and the windows themselves)
/// fit, for `cfg` (`checkSize`).
let private checkWindows (option: string) (cfg: TiDHy.Functional.Config) (windows: int) (length: int) =
    checkSize option cfg windows length ScaleBenchmark.features

    if int64 (windows - 1) * int64 (TrainBenchmark.stride length) + int64 length > int64 Int32.MaxValue then
        usage $"{option}: {windows} windows of {length} steps need a series longer than 2^31 steps."

/// The settings `--setting` names (`TrainBenchmark.settings`).
let private settingNames (value: string) =
    value |> names "--setting" (List.map fst TrainBenchmark.settings)

/// `tidhy bench train`: one JSON line describing the machine, then one per backend and setting; with
/// `--upstream`, upstream's rows and one ratio line per setting after them (`UpstreamBenchmark`).
let runTrain (args: ParseResults<TrainBenchArgs>) =
    let windows = args.GetResult(Windows, 16) |> positive "--windows"
    let length = args.GetResult(Length, 100)

    if length < 2 then
        usage $"--length: expected an integer >= 2, got {length}."

    let steps = args.GetResult(Steps, 3) |> positive "--steps"
    let warmup = args.GetResult(Warmup, 1.0)

    if not (warmup >= 0.0 && Double.IsFinite warmup) then
        usage $"--warmup: expected a finite number of seconds >= 0, got {warmup}."

    checkWindows "--windows" (TrainBenchmark.demoConfig ScaleBenchmark.features) windows length

    let impls =
        args.GetResult(Impl, "reference,fused-float64,fused-float32")
        |> names "--impl" (List.map fst TrainBenchmark.impls)

    let settings = args.GetResult(Setting, "fixed,converge") |> settingNames

    if args.Contains Python && not (args.Contains Upstream) then
        usage "--python: goes with --upstream."

    // Upstream's checkout, the python and its torch are checked before this project's rows run.
    let upstream =
        args.TryGetResult Upstream
        |> Option.map (fun dir -> UpstreamBenchmark.prepare dir (args.TryGetResult Python))

    let ours = TrainBenchmark.trainMeasured windows length warmup steps impls settings

    match upstream with
    | Some h -> UpstreamBenchmark.run h windows length steps settings ours
    | None -> 0

/// `tidhy bench scale`: the grid's cases, checked before anything runs (those that run must fit the
/// machine), then `ScaleBenchmark.run`.
let runScale (args: ParseResults<ScaleBenchArgs>) =
    let batches =
        args.GetResult(Batches, "1,16,256,2048,10000")
        |> integers "--batches" 1 "positive batch size"

    let lengths =
        args.GetResult(Lengths, "50,100,200,1000")
        |> integers "--lengths" 2 "window length of at least 2 steps"

    let whats =
        args.GetResult(What, "inference,train") |> names "--what" ScaleBenchmark.whats

    let precisions =
        args.GetResult(Precision, "float32")
        |> names "--precision" (List.map fst ScaleBenchmark.precisions)

    let settings = args.GetResult(Scale_Setting, "fixed") |> settingNames

    let seconds = args.GetResult(Seconds, 1.0)

    if not (seconds >= 0.0 && Double.IsFinite seconds) then
        usage $"--seconds: expected a number >= 0, got {seconds}."

    let most = args.GetResult(Max_Sample_Iterations, 2.5e7)

    if not (most > 0.0) then
        usage $"--max-sample-iterations: expected a number > 0, got {most}."

    // The model: `--config`'s (keys it lacks take the library's defaults, as `tidhy train --config`),
    // else the demo's; the FMA limit counts the multiply-adds of the benchmark's kind of model only.
    let model =
        match args.TryGetResult Scale_Config with
        | None -> TrainBenchmark.demoConfig ScaleBenchmark.features
        | Some path ->
            let cfg = Inputs.configFor (Some path) ScaleBenchmark.features

            try
                FmaLimit.multiplyAdds cfg |> ignore
            with :? ArgumentException ->
                usage
                    $"--config: {path} is not the benchmark's kind of model (MSE, a linear decoder, full-rank dynamics, no dynamic bias, no r2 decoder), whose FMA limit bench scale counts."

            cfg

    let cases =
        ScaleBenchmark.plan
            model
            (List.distinct whats)
            (List.distinct precisions)
            (List.distinct settings)
            (List.distinct batches)
            (List.distinct lengths)
            most

    for c, skip in cases do
        if skip.IsNone then
            checkWindows "--batches" (ScaleBenchmark.config c) c.Batch c.Length

    let out = args.GetResult(Out, "bench-scale")
    RunFolder.checkFolderTarget "--out" out
    ScaleBenchmark.run model cases seconds most out |> ignore

    0

/// `tidhy bench`: the inference benchmark (D=20, R=10, R2=5, M=15, H=50, T=3, max_iter=50, tol=0),
/// one line per implementation and batch size, or `tidhy bench train`; returns the exit code.
let run (args: ParseResults<BenchArgs>) =
    // --device goes to the registered backends' rows: checked before anything runs.
    match args.TryGetResult BenchArgs.Device, Backends.registered () with
    | Some d, _ when args.Contains BenchArgs.Train || args.Contains BenchArgs.Scale ->
        usage
            $"--device {d}: bench train and bench scale time the core, on the CPU; --device goes with bench's backend rows."
    | Some d, [] ->
        usage
            $"--device {d}: this program has no backend that takes a device (the core runs on the CPU); the torch rows come from `tidhy-torch bench`."
    | Some d, backends ->
        for b in backends do
            b.CheckDevice d
    | None, _ -> ()

    // --upstream and --python go with the inference rows; bench train has its own.
    if args.Contains Inference_Upstream || args.Contains Inference_Python then
        if args.Contains BenchArgs.Train || args.Contains BenchArgs.Scale then
            usage
                "--upstream, --python: after `bench train` they time upstream's training step; bench scale has no upstream rows."

        if not (args.Contains Inference_Upstream) then
            usage "--python: goes with --upstream."

    match args.TryGetResult BenchArgs.Train, args.TryGetResult BenchArgs.Scale with
    | Some t, _ -> runTrain t
    | None, Some s -> runScale s
    | None, None ->
        let batches =
            args.GetResult(BenchArgs.Batch, "1,16,256,2048")
            |> integers "--batch" 1 "positive batch size"

        for b in batches do
            checkSize
                "--batch"
                (InferenceBenchmark.config TiDHy.Functional.Backend.Fused)
                b
                InferenceBenchmark.timeSteps
                20

        let maxReference =
            args.GetResult(BenchArgs.Max_Reference_Batch, 4096)
            |> nonNegative "--max-reference-batch"

        // Upstream's checkout, the python and its torch are checked before this project's rows run.
        let upstream =
            args.TryGetResult Inference_Upstream
            |> Option.map (fun dir -> UpstreamBenchmark.prepare dir (args.TryGetResult Inference_Python))

        let asJson = args.Contains BenchArgs.Json

        let peak, ours =
            InferenceBenchmark.inference batches asJson (not (args.Contains BenchArgs.No_Reference)) maxReference

        // Registered backends (tidhy-torch: the torch backend) time the same workload.
        for b in Backends.registered () do
            b.Benchmark (args.GetResult(BenchArgs.Device, b.DefaultDevice)) batches asJson

        match upstream with
        | Some h -> UpstreamBenchmark.runInference h asJson peak ours
        | None -> 0
