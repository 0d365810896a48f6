/// `dotnet bench/TiDHy.Benchmarks/bin/Release/net10.0/TiDHy.Benchmarks.dll profile-forward`: where the
/// time of the public path (`Forward.forward` on `tidhy bench`'s window) goes beyond the kernel, at
/// B = 256 and 2048 in float32 and float64: each part timed alone, best of several runs after a
/// warm-up, all in one process (compare only figures of one run; other jobs on the machine blur
/// them). The residual is the window's time minus two steps' `Inference.infer` and loss terms.
module TiDHy.Benchmarks.ProfileForward

open System
open System.Diagnostics
open TiDHy.Functional
open TiDHy.Cli

/// Best time of `f` in µs over `n` runs after three warm-up runs.
let time (n: int) (f: unit -> unit) =
    for _ in 1..3 do
        f ()

    let mutable best = infinity

    for _ in 1..n do
        let sw = Stopwatch.StartNew()
        f ()
        best <- min best sw.Elapsed.TotalSeconds

    best * 1e6

/// Prints one line: the window, then each part (per step or per window).
let run (batch: int) (backend: Backend) =
    let cfg = InferenceBenchmark.config backend
    let p = Init.init (InferenceBenchmark.config Backend.Fused) (Random.key 0)
    let X = InferenceBenchmark.window batch
    let n = if batch >= 2048 then 15 else 60
    let xs = Array.init 3 (Forward.timeStep X)
    let c0 = Forward.zeroCarry cfg batch
    let inf1 = Inference.infer cfg p xs[1] c0.R c0.R2
    let k = Fused.kernel cfg
    let s = Fused.settings cfg
    let m = Fused.model cfg p

    let flat (a: float[,]) =
        Array.init a.Length (fun i -> a[i / Array2D.length2 a, i % Array2D.length2 a])

    let x64, r64, r264 = flat xs[1], flat c0.R, flat c0.R2

    let x32, r32, r232 =
        Array.map float32 x64, Array.map float32 r64, Array.map float32 r264

    let o64 = Array.zeroCreate<float>(batch * 10)
    let o264 = Array.zeroCreate<float>(batch * 5)
    let h64 = Array.zeroCreate<float>(batch * 10)
    let o32 = Array.zeroCreate<float32>(batch * 10)
    let o232 = Array.zeroCreate<float32>(batch * 5)
    let h32 = Array.zeroCreate<float32>(batch * 10)
    let it = Array.zeroCreate<int> batch

    let kernelOnly () =
        if backend = Backend.FusedFloat32 then
            k.Infer(
                m.Single,
                s,
                batch,
                ReadOnlySpan x32,
                ReadOnlySpan r32,
                ReadOnlySpan r232,
                Span o32,
                Span o232,
                Span h32,
                Span it
            )
            |> ignore
        else
            k.Infer(
                m.Double,
                s,
                batch,
                ReadOnlySpan x64,
                ReadOnlySpan r64,
                ReadOnlySpan r264,
                Span o64,
                Span o264,
                Span h64,
                Span it
            )
            |> ignore

    let buffers = Forward.buffers cfg batch 3 false
    // forwardInto first, then forward: neither gains from being timed later (tiered compilation).
    let tForwardInto = time n (fun () -> Forward.forwardInto cfg p None X buffers)
    let tForward = time n (fun () -> Forward.forward cfg p None X |> ignore)
    let tInfer = time n (fun () -> Inference.infer cfg p xs[1] c0.R c0.R2 |> ignore)
    let tFusedInfer = time n (fun () -> Fused.infer cfg p xs[1] c0.R c0.R2 |> ignore)
    let tKernel = time n kernelOnly

    let tLoss =
        time n (fun () -> Forward.stepLosses cfg p xs[1] inf1.R inf1.RHat |> ignore)

    let tTimeSteps = time n (fun () -> Array.init 3 (Forward.timeStep X) |> ignore)

    let tChecks =
        time n (fun () ->
            Shape.checkFiniteArray3 "X" X
            Model.checkParams cfg p)

    let tCheckInputs =
        time n (fun () -> Inference.checkInputs cfg p xs[1] c0.R c0.R2 |> ignore)

    // The float32 path's conversions around one kernel call: x, r_p, r2 narrowed, r, r2, r̂ widened.
    let tConvert =
        time n (fun () ->
            Fused.narrow (ReadOnlySpan x64) (Span x32)
            Fused.narrow (ReadOnlySpan r64) (Span r32)
            Fused.narrow (ReadOnlySpan r264) (Span r232)
            Fused.widen (ReadOnlySpan o32) (Span o64)
            Fused.widen (ReadOnlySpan o232) (Span o264)
            Fused.widen (ReadOnlySpan h32) (Span h64))

    let tLhat0 = time n (fun () -> Forward.spatialLossAtZero cfg p xs[0] c0.R |> ignore)

    printfn
        "%A B=%d forward %.0f µs, forwardInto %.0f µs | per step: Inference.infer %.0f = checkInputs %.0f + Fused.infer %.0f (kernel alone %.0f, so packing/convert/copy %.0f; float32 conversions alone %.0f) | stepLosses %.0f | per window: timeStep x3 %.0f, checks %.0f, L_hat0 %.0f | forward - 2*(infer+losses) = %.0f"
        backend
        batch
        tForward
        tForwardInto
        tInfer
        tCheckInputs
        tFusedInfer
        tKernel
        (tFusedInfer - tKernel)
        tConvert
        tLoss
        tTimeSteps
        tChecks
        tLhat0
        (tForward - 2.0 * (tInfer + tLoss))
