/// Native memory: a 200-step fit on the torch backend must not grow the process's resident memory.
module TiDHy.Torch.Tests.MemoryTests

open System
open System.Diagnostics
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Torch
open Xunit

let private rss () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    use p = Process.GetCurrentProcess()
    p.Refresh()
    p.WorkingSet64

/// The process's resident memory is shared by every test running at the same time, so this one runs
/// alone: its collection disables parallelisation (xUnit runs it after the parallel tests).
[<CollectionDefinition("resident memory", DisableParallelization = true)>]
type ResidentMemoryCollection() = class end

[<Collection("resident memory")>]
type ResidentMemoryTests() =
    /// Sizes chosen so that a leak is unmistakable: each inference iteration replaces four latent
    /// tensors of 32 × 32 float64 (8 KiB each); 200 steps × 5 inference steps × 10 iterations × 4 × 8 KiB
    /// = 312 MiB if only those leaked (and every step allocates far more temporaries: the autograd
    /// graph of every iteration, the trajectory, the gradients, AdamW's new moments). The bound, 32 MiB,
    /// is a tenth of that smallest leak and leaves room for the allocator's and the GC's own noise.
    [<Fact>]
    member _.``A 200-step fit does not grow the process's native memory``() =
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
        // Warm-up: 20 steps (10 epochs of 2 batches) so that libtorch, the JIT and the allocators settle.
        let warm =
            TorchBackend.fit TorchOptions.cpu cfg { options with Epochs = 10 } windows None state0

        let before = rss ()

        let half =
            TorchBackend.fit TorchOptions.cpu cfg { options with Epochs = 60 } windows None warm.State

        let middle = rss ()

        let fit =
            TorchBackend.fit TorchOptions.cpu cfg { options with Epochs = 110 } windows None half.State

        let after = rss ()
        printfn $"RSS after 100 steps {float middle / 1048576.0:F1} MiB"
        Assert.Equal(110, fit.State.Epoch)
        Assert.Equal(200, fit.State.Optimizer.Step - warm.State.Optimizer.Step)
        let growth = float (after - before) / 1048576.0

        printfn
            $"RSS before {float before / 1048576.0:F1} MiB, after 200 steps {float after / 1048576.0:F1} MiB, growth {growth:F1} MiB"

        Assert.True(growth < 32.0, $"resident memory grew by {growth:F1} MiB over 200 steps (bound 32 MiB)")
