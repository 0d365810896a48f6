using System;
using System.ComponentModel;
using System.Threading;

namespace TiDHy.Kernels;

/// <summary>
/// How one call's synchronised inference loop is scheduled (<see cref="KernelJob{T}"/>), passed per call in
/// <see cref="InferenceSettings.Schedule"/>: the results never depend on it; tests and benchmarks set it
/// to compare schedules. 0 means chosen per call. Infrastructure for generated kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record KernelSchedule
{
    /// <summary>The automatic choice of every setting.</summary>
    public static KernelSchedule Automatic { get; } = new();

    /// <summary>Iterations per group (1 … <see cref="KernelJob{T}.MaxGroup"/>); 0 = chosen per call.</summary>
    public int IterationGroup { get; init; }

    /// <summary>Blocks per tile; 0 = as many as fit in <see cref="TileBytes"/>.</summary>
    public int TileBlocks { get; init; }

    /// <summary>The bytes of block state one worker runs through a group as one tile (default 128 KiB).</summary>
    public long TileBytes { get; init; } = 128 * 1024;

    /// <summary>
    /// A worker whose blocks hold more bytes than this (default 512 KiB: half a 1 MiB L2) runs them in
    /// tiles; below it, one worker runs one iteration per group (no speculation).
    /// </summary>
    public long CacheBytes { get; init; } = 512 * 1024;

    /// <summary>
    /// Wait for the worker pool when another call holds it, instead of running on the calling thread
    /// alone (the default), so that the call gets the workers it asks for; for tests that compare
    /// worker counts. A call made from inside a kernel worker must not set it.
    /// </summary>
    public bool WaitForPool { get; init; }

    /// <summary>
    /// The width of the job's lanes in bits: 256 or 512; 0 = <see cref="KernelLanes.AutomaticBits"/> (512
    /// with AVX-512, else 256). For tests and benchmarks that compare the two.
    /// </summary>
    public int LaneBits { get; init; }

    /// <summary>Raises <see cref="ArgumentException"/> naming the first impossible setting.</summary>
    public void Validate()
    {
        if (IterationGroup < 0) throw new ArgumentException($"KernelSchedule.IterationGroup = {IterationGroup}: must be >= 0.");
        if (TileBlocks < 0) throw new ArgumentException($"KernelSchedule.TileBlocks = {TileBlocks}: must be >= 0.");
        if (TileBytes < 1) throw new ArgumentException($"KernelSchedule.TileBytes = {TileBytes}: must be >= 1.");
        if (CacheBytes < 0) throw new ArgumentException($"KernelSchedule.CacheBytes = {CacheBytes}: must be >= 0.");
        if (LaneBits is not (0 or 256 or 512)) throw new ArgumentException($"KernelSchedule.LaneBits = {LaneBits}: must be 0 (automatic), 256 or 512.");
    }
}

/// <summary>Work split over the cores: <see cref="RunWorker"/> is called once for each worker index.</summary>
internal interface IWorkerJob
{
    /// <summary>The number of workers this run uses (set by <see cref="WorkerPool.Run"/> before any worker starts).</summary>
    int Workers { get; set; }

    /// <summary>Runs worker <paramref name="worker"/> (0 … Workers−1) to completion.</summary>
    void RunWorker(int worker);

    /// <summary>A worker failed: the others must stop waiting for it (<see cref="SpinBarrier.Abort"/>) and return.</summary>
    void Abort();
}

/// <summary>Raised to the workers waiting at a barrier that another worker of the same call abandoned by failing.</summary>
internal sealed class BarrierAbortedException : Exception
{
    public BarrierAbortedException()
        : base("Another worker of the kernel call failed.")
    {
    }
}

/// <summary>
/// A sense-reversing spinning barrier for the workers of one job: inference with a batch-wide stopping
/// rule meets here once per iteration. Waiters spin, then yield, never sleep.
/// </summary>
internal sealed class SpinBarrier
{
    private int remaining;
    private int sense;
    private int parties = 1;
    private volatile bool aborted;

    /// <summary>Prepares the barrier for <paramref name="count"/> parties, each starting with local sense 0.</summary>
    public void Reset(int count)
    {
        parties = count;
        remaining = count;
        sense = 0;
        aborted = false;
    }

    /// <summary>
    /// A party will never arrive (its worker failed): every waiter, now and later, raises
    /// <see cref="BarrierAbortedException"/> instead of waiting for it.
    /// </summary>
    public void Abort() => aborted = true;

    /// <summary>Waits until every party has arrived; <paramref name="localSense"/> is the caller's own flag.</summary>
    public void SignalAndWait(ref int localSense)
    {
        int s = localSense ^ 1;
        localSense = s;
        if (Interlocked.Decrement(ref remaining) == 0)
        {
            remaining = parties;
            Volatile.Write(ref sense, s);
            return;
        }
        var sw = new SpinWait();
        while (Volatile.Read(ref sense) != s)
        {
            if (aborted) throw new BarrierAbortedException();
            sw.SpinOnce(-1);
        }
    }
}

/// <summary>
/// Background threads (one fewer than the cores) that run the workers of one job at a time beside the
/// calling thread, which is worker 0. A caller that finds the pool busy runs its job on one worker
/// (or, with <see cref="KernelSchedule.WaitForPool"/>, waits for it). A worker that fails aborts the
/// job's barrier, so that the others return instead of waiting for it; the call then raises the
/// failure and the pool is free for the next.
/// </summary>
internal static class WorkerPool
{
    private sealed class PoolThread
    {
        public readonly SemaphoreSlim Go = new(0);
        public IWorkerJob? Job;
        public int Index;
    }

    /// <summary>Held by the call that runs on the pool (not re-entrant: a holder's own calls fall back too).</summary>
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly PoolThread[] Threads = Start();
    private static int pending;
    private static Exception? failure;

    /// <summary>Worker threads available to one job, the caller included.</summary>
    public static int Capacity => Threads.Length + 1;

    private static int ConfiguredThreads()
    {
        var env = Environment.GetEnvironmentVariable("TIDHY_KERNEL_THREADS");
        if (int.TryParse(env, out int n) && n >= 1) return n;
        return Environment.ProcessorCount;
    }

    private static PoolThread[] Start()
    {
        int n = Math.Max(0, ConfiguredThreads() - 1);
        var ts = new PoolThread[n];
        for (int i = 0; i < n; i++)
        {
            var pt = new PoolThread();
            ts[i] = pt;
            var t = new Thread(() => Loop(pt)) { IsBackground = true, Name = $"TiDHy kernel worker {i + 1}" };
            t.Start();
        }
        return ts;
    }

    /// <summary>Records the first real failure of a job (not the aborts it caused) and aborts the job.</summary>
    private static void Fail(IWorkerJob job, Exception e)
    {
        if (e is not BarrierAbortedException) Interlocked.CompareExchange(ref failure, e, null);
        job.Abort();
    }

    private static void Loop(PoolThread pt)
    {
        while (true)
        {
            pt.Go.Wait();
            var job = pt.Job!;
            try
            {
                job.RunWorker(pt.Index);
            }
            catch (Exception e)
            {
                Fail(job, e);
            }
            pt.Job = null;
            Interlocked.Decrement(ref pending);
        }
    }

    /// <summary>
    /// Holds the pool until disposed, as a running call does: calls meanwhile run on one worker (or wait
    /// for it, with <see cref="KernelSchedule.WaitForPool"/>). For tests of that fallback.
    /// </summary>
    public static IDisposable Hold()
    {
        Gate.Wait();
        return new Release();
    }

    private sealed class Release : IDisposable
    {
        private int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) Gate.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="job"/> on up to <paramref name="wanted"/> workers (fewer when the pool is smaller,
    /// or busy and <paramref name="wait"/> is false) and returns the number it ran on when every worker has
    /// finished. Raises the first worker's failure, after every other worker has returned.
    /// </summary>
    public static int Run(IWorkerJob job, int wanted, bool wait = false)
    {
        ArgumentNullException.ThrowIfNull(job);
        int n = Math.Min(Math.Max(wanted, 1), Capacity);
        if (n <= 1 || !Gate.Wait(wait ? Timeout.Infinite : 0))
        {
            job.Workers = 1;
            job.RunWorker(0);
            return 1;
        }
        try
        {
            job.Workers = n;
            failure = null;
            Volatile.Write(ref pending, n - 1);
            for (int i = 1; i < n; i++)
            {
                var pt = Threads[i - 1];
                pt.Job = job;
                pt.Index = i;
                pt.Go.Release();
            }
            try
            {
                job.RunWorker(0);
            }
            catch (Exception e)
            {
                Fail(job, e);
            }
            var sw = new SpinWait();
            while (Volatile.Read(ref pending) != 0) sw.SpinOnce(-1);
            if (failure is not null)
            {
                var e = failure;
                failure = null;
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
            }
            return n;
        }
        finally
        {
            Gate.Release();
        }
    }
}
