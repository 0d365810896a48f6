/// The BenchmarkDotNet suite: the fused inference kernels called directly (packed weights and
/// preallocated buffers, as `Fused.infer` calls them), a whole `Train.step`, and a placeholder for
/// the training backward pass.
module TiDHy.Benchmarks.Benchmarks

open System
open BenchmarkDotNet.Attributes
open TiDHy.Functional
open TiDHy.Kernels
open TiDHy.Cli

/// Iterations of every inference call below (max_iter 50, tol 0: no early stop).
[<Literal>]
let Iterations = 50

/// The fused inference kernel (`inf`) on the SLDS shape of `tidhy bench` (D = 20, R = 10, R2 = 5,
/// M = 15, H = 50, MSE, linear decoder, BatchMean scaling, Batch convergence), max_iter 50 and tol
/// 0, for float32 and float64 at each batch size. One operation is one iteration of the whole
/// batch (`OperationsPerInvoke` = 50), so sample-iterations per second = Batch / Mean. The call
/// works in the kernel's reusable workspace and the buffers allocated here: allocated bytes per
/// operation should be 0.
[<MemoryDiagnoser>]
type InferenceKernelBenchmarks() =
    let mutable kernel: InferenceKernel = Unchecked.defaultof<_>
    let mutable settings: InferenceSettings = Unchecked.defaultof<_>
    let mutable model: KernelModel = Unchecked.defaultof<_>
    let mutable x32: float32[] = [||]
    let mutable rP32: float32[] = [||]
    let mutable r2i32: float32[] = [||]
    let mutable r32: float32[] = [||]
    let mutable r2o32: float32[] = [||]
    let mutable rHat32: float32[] = [||]
    let mutable x64: float[] = [||]
    let mutable rP64: float[] = [||]
    let mutable r2i64: float[] = [||]
    let mutable r64: float[] = [||]
    let mutable r2o64: float[] = [||]
    let mutable rHat64: float[] = [||]
    let mutable iters: int[] = [||]

    /// Samples per call.
    [<Params(16, 256, 2048)>]
    member val Batch = 16 with get, set

    /// Worker threads at most (0 = one per core, the default).
    member val Threads = 0 with get, set

    /// The synchronised loop's schedule (the automatic choice by default).
    member val Schedule = KernelSchedule.Automatic with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let cfg = InferenceBenchmark.config Backend.Fused
        let p = Init.init cfg (Random.key 0)
        kernel <- Fused.kernel cfg
        settings <- (Fused.settings cfg).WithThreads(this.Threads).WithSchedule(this.Schedule)
        model <- Fused.model cfg p
        let b = this.Batch
        let z = Random.normal (Random.key 1) (b * (cfg.InputDim + cfg.RDim + cfg.R2Dim))
        x64 <- Array.init (b * cfg.InputDim) (fun i -> 0.5 * z[i])
        rP64 <- Array.init (b * cfg.RDim) (fun i -> 0.1 * z[b * cfg.InputDim + i])
        r2i64 <- Array.init (b * cfg.R2Dim) (fun i -> 0.1 * z[b * (cfg.InputDim + cfg.RDim) + i])
        x32 <- Array.map float32 x64
        rP32 <- Array.map float32 rP64
        r2i32 <- Array.map float32 r2i64
        r32 <- Array.zeroCreate (b * cfg.RDim)
        r2o32 <- Array.zeroCreate (b * cfg.R2Dim)
        rHat32 <- Array.zeroCreate (b * cfg.RDim)
        r64 <- Array.zeroCreate (b * cfg.RDim)
        r2o64 <- Array.zeroCreate (b * cfg.R2Dim)
        rHat64 <- Array.zeroCreate (b * cfg.RDim)
        iters <- Array.zeroCreate b

    /// One float32 `inf` call per 50 operations.
    [<Benchmark(OperationsPerInvoke = Iterations)>]
    member this.InferFloat32() =
        kernel.Infer(
            model.Single,
            settings,
            this.Batch,
            ReadOnlySpan x32,
            ReadOnlySpan rP32,
            ReadOnlySpan r2i32,
            Span r32,
            Span r2o32,
            Span rHat32,
            Span iters
        )

    /// One float64 `inf` call per 50 operations.
    [<Benchmark(OperationsPerInvoke = Iterations)>]
    member this.InferFloat64() =
        kernel.Infer(
            model.Double,
            settings,
            this.Batch,
            ReadOnlySpan x64,
            ReadOnlySpan rP64,
            ReadOnlySpan r2i64,
            Span r64,
            Span r2o64,
            Span rHat64,
            Span iters
        )

/// The public inference path: a whole `Forward.forward` over the window of `tidhy bench` (T = 3, so
/// two inference steps of max_iter 50, tol 0, plus the loss terms), float32 and float64, at each
/// batch size. One operation is one iteration of the whole batch (`OperationsPerInvoke` = 100), so
/// sample-iterations per second = Batch / Mean, comparable with `InferenceKernelBenchmarks`. What
/// it allocates is mostly what the result holds (the zero carry `r`, `r2`, each step's `r` and `r2`) and each step's
/// `r̂` (`InferResult.RHat`): (R + R2 + 2·(2R + R2))·8 = 520 bytes per sample and window here.
/// `ForwardInto*` is the same pass written into buffers allocated once (`Forward.forwardInto`): what
/// it allocates should not grow with the batch.
[<MemoryDiagnoser>]
type ForwardBenchmarks() =
    let mutable cfg32: Config = Unchecked.defaultof<_>
    let mutable cfg64: Config = Unchecked.defaultof<_>
    let mutable p: Params = Unchecked.defaultof<_>
    let mutable X: float[,,] = Array3D.zeroCreate 0 0 0
    let mutable buffers32: ForwardBuffers = Unchecked.defaultof<_>
    let mutable buffers64: ForwardBuffers = Unchecked.defaultof<_>

    /// Samples per window.
    [<Params(16, 256, 2048)>]
    member val Batch = 16 with get, set

    [<GlobalSetup>]
    member this.Setup() =
        cfg32 <- InferenceBenchmark.config Backend.FusedFloat32
        cfg64 <- InferenceBenchmark.config Backend.Fused
        p <- Init.init cfg64 (Random.key 0)
        X <- InferenceBenchmark.window this.Batch
        buffers32 <- Forward.buffers cfg32 this.Batch (Array3D.length2 X) false
        buffers64 <- Forward.buffers cfg64 this.Batch (Array3D.length2 X) false

    /// `Forward.forward` with the fused float32 kernels.
    [<Benchmark(OperationsPerInvoke = 2 * Iterations)>]
    member _.ForwardFloat32() = Forward.forward cfg32 p None X

    /// `Forward.forward` with the fused float64 kernels.
    [<Benchmark(OperationsPerInvoke = 2 * Iterations)>]
    member _.ForwardFloat64() = Forward.forward cfg64 p None X

    /// `Forward.forwardInto` with the fused float32 kernels, into buffers allocated once
    /// (`Forward.buffers`): what it allocates should not grow with the batch.
    [<Benchmark(OperationsPerInvoke = 2 * Iterations)>]
    member _.ForwardIntoFloat32() =
        Forward.forwardInto cfg32 p None X buffers32

    /// `Forward.forwardInto` with the fused float64 kernels, into buffers allocated once.
    [<Benchmark(OperationsPerInvoke = 2 * Iterations)>]
    member _.ForwardIntoFloat64() =
        Forward.forwardInto cfg64 p None X buffers64

/// A whole `Train.step` (inference over the window, the objective's gradients, clipping, AdamW,
/// GradNorm) on the demo's shape (16 windows × 100 steps, 20 channels, R = 10, R2 = 5, M = 15,
/// H = 50, GradNorm, PerSample scaling), max_iter 50 and tol 0 (`tidhy bench train`'s `fixed`
/// setting), always from the same state.
[<MemoryDiagnoser>]
type TrainStepBenchmarks() =
    let mutable cfg: Config = Unchecked.defaultof<_>
    let mutable state: TrainState = Unchecked.defaultof<_>
    let mutable windows: float[,,] = Array3D.zeroCreate 0 0 0

    /// The inference backend of the step (a `Backend` case name).
    [<Params("Fused", "FusedFloat32")>]
    member val Backend = "Fused" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        windows <- TrainBenchmark.data 16 100

        cfg <-
            { TrainBenchmark.demoConfig 20 with
                Backend =
                    match this.Backend with
                    | "FusedFloat32" -> Backend.FusedFloat32
                    | _ -> Backend.Fused
                MaxIter = 50
                Tol = 0.0
            }

        state <- Train.init cfg (Random.key 0)

    [<Benchmark>]
    member _.TrainStep() = Train.step cfg state windows

/// The training backward pass: the parameter gradients of the four loss terms for a fixed inference
/// trajectory of the demo's shape (computed once with the fused float64 kernels, max_iter 50, tol 0),
/// by the F# definition `Objective.terms` and by the generated kernels (`FusedObjective.termsWith`).
[<MemoryDiagnoser>]
type BackwardPassBenchmarks() =
    let mutable cfg: Config = Unchecked.defaultof<_>
    let mutable p: Params = Unchecked.defaultof<_>
    let mutable traj: Trajectory = Unchecked.defaultof<_>

    [<GlobalSetup>]
    member _.Setup() =
        let windows = TrainBenchmark.data 16 100

        cfg <-
            { TrainBenchmark.demoConfig 20 with
                MaxIter = 50
                Tol = 0.0
            }

        p <- Init.init cfg (Random.key 0)
        traj <- (Objective.trajectory cfg p None windows).Trajectory

    /// The F# definition of the objective gradients (what `Backend.Reference` trains with).
    [<Benchmark(Baseline = true)>]
    member _.ObjectiveTermsFSharp() = Objective.terms cfg p traj

    /// The generated backward pass in float64 (the kernel `FusedObjective` picks: SldsKernel here).
    [<Benchmark>]
    member _.GeneratedFloat64() =
        FusedObjective.termsWith false cfg p traj

    /// The generated backward pass in float32 (`training_precision = Float32`).
    [<Benchmark>]
    member _.GeneratedFloat32() =
        FusedObjective.termsWith true cfg p traj
