/// The fused kernels under concurrent callers. The worker pool runs one call at a time on all its
/// workers; a call that finds it busy runs on its own thread alone. Either way the results are the
/// ones a call made alone gets, bit for bit, and a worker that fails does not leave the others
/// waiting for it.
module TiDHy.Functional.Tests.ConcurrencyTests

open System
open System.Threading
open System.Threading.Tasks
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Functional.Tests.KernelVariantTests
open TiDHy.Kernels
open Xunit

/// Calls of several shapes, kernels, run-time paths and batch sizes (each call runs float64 and
/// float32, `inf` and `inf_first_step`): the tests' small shape (its own fixed-size kernel), the SLDS
/// shape (SldsKernel), a shape only the general kernel runs, per-sample convergence.
let private calls () =
    let slds =
        { Config.defaults 20 with
            RDim = 10
            R2Dim = 5
            MixDim = 15
            HyperHidDim = 50
            MaxIter = 40
            Tol = 1e-4
        }

    let general =
        { smallConfig with
            NonlinDecoder = true
            DynBias = true
        }

    let perSample =
        { smallConfig with
            Convergence = Convergence.PerSample
            BatchScaling = BatchScaling.PerSample
        }

    [|
        for cfg in [ smallConfig; slds; general; perSample ] do
            for batch in [ 5; 37; 100; 300 ] do
                cfg, paramsFor cfg 3, batch
    |]

/// One call's outputs (stats without the worker count, and bits) on up to `threads` workers, and the
/// worker counts its four calls ran on.
let private run (threads: int) (cfg: Config, p: Params, batch: int) =
    let results =
        inferenceBitsWith ((Fused.settings cfg).WithThreads threads) (Fused.kernel cfg) cfg p batch

    [ for what, (st, bits) in results -> what, withoutWorkers st, bits ], [ for _, (st, _) in results -> st.Workers ]

let private describe (cfg: Config, _, batch: int) =
    $"{(Fused.kernel cfg).Variant.Name}, {cfg.Convergence}, batch {batch}"

[<Fact>]
let ``Concurrent calls of mixed shapes and precisions give the bits of the same calls made one at a time`` () =
    let cs = calls ()
    let alone = cs |> Array.map (run 0 >> fst)
    // Every call four times, interleaved, from up to eight threads at once.
    let order = Array.init (4 * cs.Length) (fun i -> (i * 7) % cs.Length)

    let concurrent = Array.zeroCreate order.Length

    Parallel.For(
        0,
        order.Length,
        ParallelOptions(MaxDegreeOfParallelism = 8),
        fun i -> concurrent[i] <- run 0 cs[order[i]] |> fst
    )
    |> ignore

    for i, c in Array.indexed order do
        Assert.True((concurrent[i] = alone[c]), $"{describe cs[c]}: a concurrent call differs from the call made alone")

[<Fact>]
let ``While the worker pool is held, calls run on their own thread alone and give the bits of calls on every worker``
    ()
    =
    let cs = calls ()
    // Waiting for the pool: these calls run on as many workers as they ask for.
    let wait (cfg: Config, p, batch) =
        let settings =
            (Fused.settings cfg).WithThreads(2).WithSchedule(KernelSchedule(WaitForPool = true))

        [
            for what, (st, bits) in inferenceBitsWith settings (Fused.kernel cfg) cfg p batch ->
                what, withoutWorkers st, bits
        ]

    let pooled = cs |> Array.map wait

    let held =
        use _ = WorkerPool.Hold()
        cs |> Array.map (run 2)

    for c, (outputs, workers) in Array.indexed held do
        Assert.True(
            (workers |> List.forall ((=) 1)),
            $"{describe cs[c]}: ran on {workers} workers while the pool was held"
        )

        Assert.True(
            (outputs = pooled[c]),
            $"{describe cs[c]}: the call on one worker differs from the call on the pool"
        )

/// A job whose last worker fails while the others wait for it at the barrier, as a kernel call's
/// workers meet there once per group of iterations.
type private FailingJob() =
    let barrier = SpinBarrier()
    let mutable workers = 1

    interface IWorkerJob with
        member _.Workers
            with get () = workers
            and set v =
                workers <- v
                barrier.Reset v

        member _.RunWorker(worker: int) =
            if worker = workers - 1 then
                raise (InvalidOperationException "worker failed on purpose")

            let mutable sense = 0
            barrier.SignalAndWait(&sense)

        member _.Abort() = barrier.Abort()

[<Fact>]
let ``A worker that fails releases the others from the barrier; the call raises its error and the pool serves the next call``
    ()
    =
    let job = FailingJob()
    // The pool is shared with the tests running beside this one: wait for it, so that the job runs on
    // every worker. Bounded only so that a regression shows as a failure, not as a hung test run.
    let call =
        Task.Run(fun () -> Assert.Throws<InvalidOperationException>(fun () -> WorkerPool.Run(job, 2, true) |> ignore))

    Assert.True(call.Wait(TimeSpan.FromMinutes 2.0), "the call still waits for its failed worker")
    Assert.Equal("worker failed on purpose", call.Result.Message)
    // The pool is free again: a kernel call that waits for it gets every worker it asks for.
    let cfg, p, batch = (calls ())[1]

    let settings =
        (Fused.settings cfg).WithThreads(2).WithSchedule(KernelSchedule(WaitForPool = true))

    let next =
        Task.Run(fun () -> inferenceBitsWith settings (Fused.kernel cfg) cfg p batch)

    Assert.True(next.Wait(TimeSpan.FromMinutes 2.0), "the next call waits for a pool that the failed call still holds")

    for what, (st, _) in next.Result do
        Assert.Equal(min 2 WorkerPool.Capacity, st.Workers)
        Assert.True(st.Iterations > 1, $"{what}: ran {st.Iterations} iteration(s)")
