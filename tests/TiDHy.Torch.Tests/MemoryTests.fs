/// Native memory: a 200-step fit on the torch backend must not keep what its steps allocated.
///
/// The process's resident memory is not the measure: it moves with what the allocator keeps for
/// reuse (per-thread arenas, fragmentation left by earlier tests) and failed on a leak-free fit
/// when the whole suite ran (73–75 MiB against a 32 MiB bound). TorchSharp's count of live tensors
/// (`torch.Tensor.TotalCount`) is not one either: it counts each gradient that `autograd.grad`
/// returns empty for an unused leaf (a handle of 0) and never uncounts it, so it grows on a fit
/// that leaks nothing. The measure is the C heap's bytes in use (glibc's `mallinfo2`: allocated
/// chunks plus mapped blocks, free chunks and the top of each arena not counted), where libtorch
/// allocates CPU tensors and the autograd graph: what a step keeps, through a tensor handle or
/// only natively, stays in it.
module TiDHy.Torch.Tests.MemoryTests

open System
open System.Runtime.InteropServices
open TiDHy.Functional
open TiDHy.Torch
open Xunit

/// glibc's `struct mallinfo2` (every field a `size_t`).
[<Struct; StructLayout(LayoutKind.Sequential)>]
type MallInfo2 =
    val Arena: unativeint
    val OrdBlks: unativeint
    val SmBlks: unativeint
    val HBlks: unativeint
    val HBlkHd: unativeint
    val UsmBlks: unativeint
    val FsmBlks: unativeint
    val UordBlks: unativeint
    val FordBlks: unativeint
    val KeepCost: unativeint

[<DllImport("libc.so.6", EntryPoint = "mallinfo2")>]
extern MallInfo2 private mallinfo2()

/// The C heap's bytes in use, after every unreachable tensor has been finalized.
let private heapInUse () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    let m = mallinfo2 ()
    int64 m.UordBlks + int64 m.HBlkHd

let private mib (bytes: int64) = float bytes / 1048576.0

/// The heap is process-wide, so this runs alone: its collection disables
/// parallelisation (xUnit runs it after the parallel tests of this assembly; other test assemblies
/// run in processes of their own).
[<CollectionDefinition("process-wide memory", DisableParallelization = true)>]
type ProcessMemoryCollection() = class end

[<Collection("process-wide memory")>]
type NativeMemoryTests() =
    /// Sizes chosen so that a leak is unmistakable: each inference iteration replaces four latent
    /// tensors of 32 × 32 float64 (8 KiB each); 200 steps × 5 inference steps × 10 iterations × 4 × 8 KiB
    /// = 312 MiB if only those leaked (and a step allocates far more: the autograd graph of every
    /// iteration, the trajectory, the gradients, AdamW's new moments). The bound, 8 MiB over 100 and
    /// over 200 steps, is a fortieth of that; leak-free, the heap in use moves by well under 1 MiB.
    [<Fact>]
    member _.``A 200-step fit keeps none of its steps' native memory``() =
        let cfg =
            { Config.defaults 16 with
                RDim = 32
                R2Dim = 4
                MixDim = 8
                HyperHidDim = 32
                MaxIter = 10
                Tol = 1e-12
                NumEpochs = 1000
            }

        let windows =
            Array3D.init 64 6 16 (fun w t d -> sin (0.3 * float (w * 6 + t) + float d))

        let options =
            { Train.defaultFitOptions cfg with
                BatchSize = 32
                ValidateEvery = 0
            }

        let state0 = Train.init cfg (Random.key 3)
        // Warm-up: 20 steps (10 epochs of 2 batches) so that libtorch and the backend's held constants exist.
        let warm =
            Train.fitOn (TorchBackend.engine TorchOptions.cpu) cfg { options with Epochs = 10 } None windows None state0

        let heap0 = heapInUse ()

        let half =
            Train.fitOn
                (TorchBackend.engine TorchOptions.cpu)
                cfg
                { options with Epochs = 60 }
                None
                windows
                None
                warm.State

        let heap1 = heapInUse ()

        let fit =
            Train.fitOn
                (TorchBackend.engine TorchOptions.cpu)
                cfg
                { options with Epochs = 110 }
                None
                windows
                None
                half.State

        let heap2 = heapInUse ()
        Assert.Equal(110, fit.State.Epoch)
        Assert.Equal(200, fit.State.Optimizer.Step - warm.State.Optimizer.Step)

        printfn $"C heap in use {mib heap0:F2} / {mib heap1:F2} / {mib heap2:F2} MiB (after warm-up / 100 / 200 steps)"

        for steps, heap in [ 100, heap1; 200, heap2 ] do
            let growth = mib (heap - heap0)

            Assert.True(growth < 8.0, $"the C heap in use grew by {growth:F1} MiB over {steps} steps (bound 8 MiB)")
