using System;
using System.Threading;

namespace TiDHy.Kernels;

/// <summary>
/// How the synchronised inference loop is scheduled (<see cref="KernelJob{T}"/>): the results never
/// depend on it; tests and benchmarks set it to compare schedules. 0 means chosen per call.
/// </summary>
internal static class KernelSchedule
{
    /// <summary>Iterations per group (1 … <see cref="KernelJob{T}.MaxGroup"/>); 0 = chosen per call.</summary>
    public static int IterationGroup { get; set; }

    /// <summary>Blocks per tile; 0 = as many as fit in <see cref="TileBytes"/>.</summary>
    public static int TileBlocks { get; set; }

    /// <summary>The bytes of block state one worker runs through a group as one tile (default 128 KiB).</summary>
    public static long TileBytes { get; set; } = 128 * 1024;

    /// <summary>
    /// A worker whose blocks hold more bytes than this (default 512 KiB: half a 1 MiB L2) runs them in
    /// tiles; below it, one worker runs one iteration per group (no speculation).
    /// </summary>
    public static long CacheBytes { get; set; } = 512 * 1024;
}

/// <summary>Work split over the cores: <see cref="RunWorker"/> is called once for each worker index.</summary>
internal interface IWorkerJob
{
    /// <summary>The number of workers this run uses (set by <see cref="WorkerPool.Run"/> before any worker starts).</summary>
    int Workers { get; set; }

    /// <summary>Runs worker <paramref name="worker"/> (0 … Workers−1) to completion.</summary>
    void RunWorker(int worker);
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

    /// <summary>Prepares the barrier for <paramref name="count"/> parties, each starting with local sense 0.</summary>
    public void Reset(int count)
    {
        parties = count;
        remaining = count;
        sense = 0;
    }

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
        while (Volatile.Read(ref sense) != s) sw.SpinOnce(-1);
    }
}

/// <summary>
/// Background threads (one fewer than the cores) that run the workers of one job at a time beside the
/// calling thread, which is worker 0. A caller that finds the pool busy runs its job on one worker.
/// </summary>
internal static class WorkerPool
{
    private sealed class PoolThread
    {
        public readonly SemaphoreSlim Go = new(0);
        public IWorkerJob? Job;
        public int Index;
    }

    private static readonly object Gate = new();
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

    private static void Loop(PoolThread pt)
    {
        while (true)
        {
            pt.Go.Wait();
            try
            {
                pt.Job!.RunWorker(pt.Index);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
            pt.Job = null;
            Interlocked.Decrement(ref pending);
        }
    }

    /// <summary>
    /// Runs <paramref name="job"/> on up to <paramref name="wanted"/> workers (fewer when the pool is busy
    /// or smaller) and returns when every worker has finished.
    /// </summary>
    public static void Run(IWorkerJob job, int wanted)
    {
        ArgumentNullException.ThrowIfNull(job);
        int n = Math.Min(Math.Max(wanted, 1), Capacity);
        if (n <= 1 || !Monitor.TryEnter(Gate))
        {
            job.Workers = 1;
            job.RunWorker(0);
            return;
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
            Exception? own = null;
            try
            {
                job.RunWorker(0);
            }
            catch (Exception e)
            {
                own = e;
            }
            var sw = new SpinWait();
            while (Volatile.Read(ref pending) != 0) sw.SpinOnce(-1);
            if (own is not null) throw own;
            if (failure is not null) throw new AggregateException("A kernel worker failed.", failure);
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }
}
