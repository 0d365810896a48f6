/// The machine's arithmetic limit for the inference benchmark, measured in the same run as the
/// benchmark: the fused multiply-add throughput of all cores (a loop of independent SIMD FMAs, the
/// widest vectors the runtime accelerates), divided by the multiply-adds of one sample-iteration of
/// the benchmark's model. No kernel can run faster than this limit; a row's share of it says how much
/// of the machine a path uses. bench/TiDHy.Bench compiles this file too.
module TiDHy.Cli.FmaLimit

open System
open System.Diagnostics
open System.Runtime.Intrinsics
open System.Threading
open TiDHy.Functional

/// The multiply-adds of the weight matrices in one inference iteration of one sample, for the
/// benchmark's kind of model (MSE, linear decoder, full-rank dynamics, no dynamic bias, no r2
/// decoder): the decoder `D·R` forward and back, the hypernetwork `R2·H` and `H·M` forward and back
/// (its two last layers, with no nonlinearity between them, act as one `H → M` map in the kernels), and
/// the mixture `Σ_k w_k·(V_k·r_p)` with `M·R` forward and back (`V_k·r_p` is computed once per call,
/// not per iteration). LayerNorm, ELU, the update and the convergence sums are left out, so the
/// limit is an upper bound. Raises ArgumentException for a configuration of another kind.
let multiplyAdds (cfg: Config) : float =
    if
        cfg.Loss <> LossKind.MSE
        || cfg.NonlinDecoder
        || cfg.LowRankTemp
        || cfg.DynBias
        || cfg.UseR2Decoder
    then
        invalidArg
            (nameof cfg)
            "multiplyAdds counts the benchmark's kind of model only: MSE, a linear decoder, full-rank dynamics, no dynamic bias, no r2 decoder."

    let d, r, r2, m, h =
        float cfg.InputDim, float cfg.RDim, float cfg.R2Dim, float cfg.MixDim, float cfg.HyperHidDim

    2.0 * (d * r + r2 * h + h * m + m * r)

/// What `measure` found: fused multiply-adds per second of single-precision lanes over all cores.
type Peak =
    {
        /// float32 lane-FMAs per second, all cores together.
        Float32LaneFmasPerSecond: float
        /// The vector width the loop used, in bits (512, 256 or 128).
        VectorBits: int
        /// The threads that ran the loop (one per logical core).
        Threads: int
    }

// Twelve independent accumulators hide the FMA latency (4 cycles) on two pipes.
let private loop512 (iterations: int) =
    let a = Vector512.Create 1.0000001f
    let b = Vector512.Create 0.9999999f
    let mutable x0 = Vector512.Create 0.1f
    let mutable x1 = Vector512.Create 0.2f
    let mutable x2 = Vector512.Create 0.3f
    let mutable x3 = Vector512.Create 0.4f
    let mutable x4 = Vector512.Create 0.5f
    let mutable x5 = Vector512.Create 0.6f
    let mutable x6 = Vector512.Create 0.7f
    let mutable x7 = Vector512.Create 0.8f
    let mutable x8 = Vector512.Create 0.9f
    let mutable x9 = Vector512.Create 1.0f
    let mutable x10 = Vector512.Create 1.1f
    let mutable x11 = Vector512.Create 1.2f

    for _ in 1..iterations do
        x0 <- Vector512.FusedMultiplyAdd(x0, a, b)
        x1 <- Vector512.FusedMultiplyAdd(x1, a, b)
        x2 <- Vector512.FusedMultiplyAdd(x2, a, b)
        x3 <- Vector512.FusedMultiplyAdd(x3, a, b)
        x4 <- Vector512.FusedMultiplyAdd(x4, a, b)
        x5 <- Vector512.FusedMultiplyAdd(x5, a, b)
        x6 <- Vector512.FusedMultiplyAdd(x6, a, b)
        x7 <- Vector512.FusedMultiplyAdd(x7, a, b)
        x8 <- Vector512.FusedMultiplyAdd(x8, a, b)
        x9 <- Vector512.FusedMultiplyAdd(x9, a, b)
        x10 <- Vector512.FusedMultiplyAdd(x10, a, b)
        x11 <- Vector512.FusedMultiplyAdd(x11, a, b)

    // Keep the results alive.
    Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11)

let private loop256 (iterations: int) =
    let a = Vector256.Create 1.0000001f
    let b = Vector256.Create 0.9999999f
    let mutable x0 = Vector256.Create 0.1f
    let mutable x1 = Vector256.Create 0.2f
    let mutable x2 = Vector256.Create 0.3f
    let mutable x3 = Vector256.Create 0.4f
    let mutable x4 = Vector256.Create 0.5f
    let mutable x5 = Vector256.Create 0.6f
    let mutable x6 = Vector256.Create 0.7f
    let mutable x7 = Vector256.Create 0.8f
    let mutable x8 = Vector256.Create 0.9f
    let mutable x9 = Vector256.Create 1.0f
    let mutable x10 = Vector256.Create 1.1f
    let mutable x11 = Vector256.Create 1.2f

    for _ in 1..iterations do
        x0 <- Vector256.FusedMultiplyAdd(x0, a, b)
        x1 <- Vector256.FusedMultiplyAdd(x1, a, b)
        x2 <- Vector256.FusedMultiplyAdd(x2, a, b)
        x3 <- Vector256.FusedMultiplyAdd(x3, a, b)
        x4 <- Vector256.FusedMultiplyAdd(x4, a, b)
        x5 <- Vector256.FusedMultiplyAdd(x5, a, b)
        x6 <- Vector256.FusedMultiplyAdd(x6, a, b)
        x7 <- Vector256.FusedMultiplyAdd(x7, a, b)
        x8 <- Vector256.FusedMultiplyAdd(x8, a, b)
        x9 <- Vector256.FusedMultiplyAdd(x9, a, b)
        x10 <- Vector256.FusedMultiplyAdd(x10, a, b)
        x11 <- Vector256.FusedMultiplyAdd(x11, a, b)

    Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11)

/// The vector width the FMA loop uses: 512 bits where the CPU has AVX-512 (even where the runtime
/// reports `Vector512.IsHardwareAccelerated` false, to avoid clock throttling: the instructions, and
/// the kernels' `Vector512` code, still run as 512-bit ones), else the widest the runtime
/// accelerates (128-bit vectors run the 256-bit loop's code in two halves, so that case counts 128).
let vectorBits () =
    if Vector512.IsHardwareAccelerated || X86.Avx512F.IsSupported then
        512
    elif Vector256.IsHardwareAccelerated then
        256
    else
        128

/// Measures the float32 FMA throughput of all logical cores at once: each core runs the FMA loop
/// `iterations` times (12 independent 16-lane FMAs per iteration with 512-bit vectors), after a
/// warm-up run, started together; the best of `repeats` wall times counts. A fraction of a second
/// with the defaults; the machine should be otherwise idle, as for any benchmark.
let measureWith (iterations: int) (repeats: int) : Peak =
    let bits = vectorBits ()
    let threads = Environment.ProcessorCount

    let run () =
        match bits with
        | 512 -> loop512 iterations
        | _ -> loop256 iterations

    let once () =
        use start = new Barrier(threads + 1)
        let sinks = Array.zeroCreate<float32> threads

        let workers =
            Array.init threads (fun i ->
                let t =
                    Thread(
                        (fun () ->
                            start.SignalAndWait()
                            sinks[i] <- run ()
                            start.SignalAndWait()),
                        IsBackground = true
                    )

                t.Start()
                t)

        start.SignalAndWait()
        let sw = Stopwatch.StartNew()
        start.SignalAndWait()
        let seconds = sw.Elapsed.TotalSeconds

        for w in workers do
            w.Join()

        if Array.exists Single.IsNaN sinks then
            failwith "FMA loop: NaN"

        seconds

    once () |> ignore // warm-up: the JIT's optimised code, the cores' clocks
    let seconds = Seq.init repeats (fun _ -> once ()) |> Seq.min
    let lanes = if bits = 512 then 16.0 else 8.0

    {
        Float32LaneFmasPerSecond = float threads * float iterations * 12.0 * lanes / seconds
        VectorBits = bits
        Threads = threads
    }

/// `measureWith` at its defaults: 20 million loop iterations per core (about 0.1 s on a core with two
/// 512-bit FMA pipes), best of 3.
let measure () = measureWith 20_000_000 3

/// The limit in sample-iterations per second of `cfg`'s benchmark model in float32 (`double =
/// false`) or float64 (half the lanes): lane-FMAs per second over `multiplyAdds cfg`.
let sampleIterationsPerSecond (peak: Peak) (double: bool) (cfg: Config) =
    let lanes =
        if double then
            peak.Float32LaneFmasPerSecond / 2.0
        else
            peak.Float32LaneFmasPerSecond

    lanes / multiplyAdds cfg
