/// `dotnet bench/TiDHy.Benchmarks/bin/Release/net10.0/TiDHy.Benchmarks.dll kernel [--threads N]
/// [--batch 16,256,2048] [--seconds S]`: a quick stopwatch measurement of the fused inference kernels
/// (the workload of `InferenceKernelBenchmarks`), best of repeated calls, in million
/// sample-iterations per second, without BenchmarkDotNet's start-up; for profiling runs. It also
/// reports the process's CPU time per call (mean): on a shared machine, where a thread is often
/// descheduled, CPU time measures one thread's work better than wall time (with several workers it
/// includes their spinning at the barrier).
module TiDHy.Benchmarks.KernelThroughput

open System
open System.Diagnostics
open TiDHy.Benchmarks.Benchmarks

/// Prints one line per precision and batch size: the best time of one 50-iteration call over
/// `seconds` of calls, and sample-iterations per second.
let run (batches: int list) (threads: int) (schedule: TiDHy.Kernels.KernelSchedule) (seconds: float) =
    for batch in batches do
        let b =
            InferenceKernelBenchmarks(Batch = batch, Threads = threads, Schedule = schedule)

        b.Setup()

        for name, call in
            [
                "float32", (fun () -> b.InferFloat32() |> ignore)
                "float64", (fun () -> b.InferFloat64() |> ignore)
            ] do
            call ()
            let total = Stopwatch.StartNew()
            let cpu0 = Process.GetCurrentProcess().TotalProcessorTime
            let mutable best = infinity
            let mutable calls = 0

            while total.Elapsed.TotalSeconds < seconds || calls < 3 do
                let sw = Stopwatch.StartNew()
                call ()
                best <- min best sw.Elapsed.TotalSeconds
                calls <- calls + 1

            let sips = float batch * float Iterations / best

            let cpu =
                (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds
                / float calls

            printfn
                "{\"precision\": \"%s\", \"batch\": %d, \"threads\": %d, \"seconds_per_call\": %g, \"calls\": %d, \"m_sample_iterations_per_second\": %.2f, \"cpu_seconds_per_call\": %g, \"m_sample_iterations_per_cpu_second\": %.2f}"
                name
                batch
                threads
                best
                calls
                (sips / 1e6)
                cpu
                (float batch * float Iterations / cpu / 1e6)
