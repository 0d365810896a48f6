/// The training-step benchmark behind `tidhy bench train` and `dotnet run -c Release --project
/// bench/TiDHy.Bench -- train` (bench/TiDHy.Bench compiles this file too): the wall time of ordinary
/// `Train.step` calls on the demo's shape (16 windows × 100 steps of the 20-channel SLDS series,
/// R = 10, R2 = 5, M = 15, H = 50, GradNorm, PerSample scaling) for each backend, in two settings:
/// `fixed` (max_iter 50, tol 0: every inference step runs exactly 50 iterations) and `converge`
/// (the demo's max_iter 200, tol 0.01). One JSON line per case, after one line describing the machine.
module TiDHy.Cli.TrainBenchmark

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Runtime.InteropServices
open TiDHy.Functional

/// The demo's model configuration for `features` channels (`Slds.benchmarkConfig`, as `Demo.config`).
let demoConfig (features: int) = Slds.benchmarkConfig features

/// The inference settings of a case: `fixed` (max_iter 50, tol 0) or `converge` (the demo's).
let settings =
    [
        "fixed", (fun (c: Config) -> { c with MaxIter = 50; Tol = 0.0 })
        "converge", id
    ]

/// The backends, named as in `tidhy bench`.
let impls =
    [
        "reference", Backend.Reference
        "fused-float64", Backend.Fused
        "fused-float32", Backend.FusedFloat32
    ]

/// The step between window starts: half a window, as in the demo (100 steps, overlap 50).
let stride (length: int) = max 1 (length / 2)

/// `windows` windows of `length` steps of the demo's kind of series (SLDS benchmark, projected to
/// 20 channels, normalised), from a fixed seed.
let data (windows: int) (length: int) =
    let steps = (windows - 1) * stride length + length

    let options =
        { Slds.defaults with
            TrainLength = max 1000 steps
            ValLength = 200
            TestLength = 200
        }

    let d = Slds.generate options (Random.key 1)
    let all = Series.windowsStrided length (stride length) d.Train.Observations
    all[0 .. windows - 1, *, *]

let private inv (v: float) =
    v.ToString("R", CultureInfo.InvariantCulture)

let private str (s: string) =
    "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\""

/// The CPU's model name (from /proc/cpuinfo where there is one).
let cpuName () =
    try
        File.ReadLines "/proc/cpuinfo"
        |> Seq.tryFind (fun l -> l.StartsWith "model name")
        |> Option.map (fun l -> l.Substring(l.IndexOf(':') + 1).Trim())
        |> Option.defaultValue "unknown"
    with _ ->
        "unknown"

/// Worker threads the kernels use: `TIDHY_KERNEL_THREADS` when set, else one per core.
let kernelThreads () =
    match Int32.TryParse(Environment.GetEnvironmentVariable "TIDHY_KERNEL_THREADS") with
    | true, n when n >= 1 -> n
    | _ -> Environment.ProcessorCount

/// One JSON line describing the machine.
let machineLine () =
    let load =
        try
            (File.ReadAllText "/proc/loadavg").Split(' ')[0]
        with _ ->
            "null"

    $"{{\"machine\": {{\"cpu\": {str (cpuName ())}, \"cores\": {Environment.ProcessorCount}, \"os\": {str RuntimeInformation.OSDescription}, \"runtime\": {str RuntimeInformation.FrameworkDescription}, \"avx512\": {Runtime.Intrinsics.Vector512.IsHardwareAccelerated.ToString().ToLowerInvariant()}, \"load_average_1min\": {load}}}}}"

/// The measurement of one case.
type TrainMeasurement =
    {
        Impl: string
        Backend: Backend
        Setting: string
        Batch: int
        Length: int
        MaxIter: int
        Tol: float
        Steps: int
        /// Mean wall time of the measured steps.
        SecondsPerStep: float
        /// The fastest measured step.
        BestSeconds: float
        /// Mean over the measured steps of the inference iterations per inference step.
        MeanIterations: float
    }

/// `model` with a case's window length (windows half a window apart, `stride`), backend and setting (`adjust`).
let caseConfigOf (model: Config) (length: int) (adjust: Config -> Config) (backend: Backend) =
    adjust
        { model with
            Backend = backend
            SequenceLength = length
            Overlap = stride length
        }

/// The configuration of a case: the demo's model for `features` channels on `backend`, windows of
/// `length` steps half a window apart, with a setting's `adjust`.
let caseConfig (features: int) (length: int) (adjust: Config -> Config) (backend: Backend) =
    caseConfigOf (demoConfig features) length adjust backend

/// Consecutive steps a `stepper` takes from one fresh model before it starts again from the same fresh
/// model: one batch trained on over and over diverges after about 90 steps at the demo's learning
/// rates, and a benchmark that runs longer than that must still time ordinary steps.
let restartEvery = 40

/// One `Train.step` on `windows` per call, each from the state the one before left, the first (and
/// every `restartEvery`-th after it) from a fresh state of `cfg`'s model; a call returns the step's
/// mean inference iterations per inference step.
let stepper (cfg: Config) (windows: float[,,]) =
    let fresh = Train.init cfg (Random.key 0)
    let state = ref fresh
    let taken = ref 0

    fun () ->
        if taken.Value = restartEvery then
            state.Value <- fresh
            taken.Value <- 0

        let next, metrics = Train.step cfg state.Value windows
        state.Value <- next
        taken.Value <- taken.Value + 1
        metrics.MeanIterations

/// Times `steps` `Train.step` calls of a `stepper` on the demo's model, after a warm-up of one step
/// and then steps until `warmup` seconds have passed (the first step packs the kernels' parameters;
/// the runtime compiles the hot code again, optimised, during about the first second of calls).
let measure
    (windows: float[,,])
    (warmup: float)
    (steps: int)
    (setting: string, adjust: Config -> Config)
    (impl: string, backend: Backend)
    =
    let length = Array3D.length2 windows
    let cfg = caseConfig (Array3D.length3 windows) length adjust backend
    let calls = InferenceBenchmark.timed warmup steps steps 0.0 (stepper cfg windows)
    let times = Array.map fst calls

    {
        Impl = impl
        Backend = backend
        Setting = setting
        Batch = Array3D.length1 windows
        Length = length
        MaxIter = cfg.MaxIter
        Tol = cfg.Tol
        Steps = steps
        SecondsPerStep = Array.average times
        BestSeconds = Array.min times
        MeanIterations = Array.averageBy snd calls
    }

/// The JSON line of a measurement: `windows_per_second` is batch / seconds_per_step;
/// `iterations_per_step` is the inference iterations of one step (mean per inference step × T − 1).
let json (m: TrainMeasurement) =
    let iterationsPerStep = Math.Round(m.MeanIterations * float (m.Length - 1), 3)

    let precision =
        if m.Backend = Backend.FusedFloat32 then
            "float32"
        else
            "float64"

    let threads =
        if m.Backend = Backend.Reference then
            1
        else
            kernelThreads ()

    $"{{\"impl\": {str m.Impl}, \"backend\": {str (string m.Backend)}, \"setting\": {str m.Setting}, \"batch\": {m.Batch}, \"length\": {m.Length}, \"max_iter\": {m.MaxIter}, \"tol\": {inv m.Tol}, \"precision\": {str precision}, \"threads\": {threads}, \"steps\": {m.Steps}, \"seconds_per_step\": {inv m.SecondsPerStep}, \"ms_per_step\": {inv (1000.0 * m.SecondsPerStep)}, \"best_seconds_per_step\": {inv m.BestSeconds}, \"windows_per_second\": {inv (float m.Batch / m.SecondsPerStep)}, \"mean_iterations\": {inv m.MeanIterations}, \"iterations_per_step\": {inv iterationsPerStep}}}"

/// Runs every case of `implNames` × `settingNames` on `windows` windows of `length` steps, `warmup`
/// seconds of warm-up and `steps` measured steps each, printing the machine line and one JSON line per case as it finishes;
/// returns the measurements.
let trainMeasured
    (windows: int)
    (length: int)
    (warmup: float)
    (steps: int)
    (implNames: string list)
    (settingNames: string list)
    =
    let X = data windows length
    printfn "%s" (machineLine ())

    [
        for setting in settings |> List.filter (fun (n, _) -> List.contains n settingNames) do
            for impl in impls |> List.filter (fun (n, _) -> List.contains n implNames) do
                let m = measure X warmup steps setting impl
                printfn "%s" (json m)
                m
    ]

/// `trainMeasured` without the measurements.
let train
    (windows: int)
    (length: int)
    (warmup: float)
    (steps: int)
    (implNames: string list)
    (settingNames: string list)
    =
    trainMeasured windows length warmup steps implNames settingNames |> ignore
