using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading;

namespace TiDHy.Kernels;

/// <summary>
/// The reusable state of one kernel call that generated kernels build on: a pinned, 64-byte-aligned
/// workspace holding the batch in blocks of <see cref="Lanes"/> samples (structure of arrays: element
/// <c>j</c> of a block's vector <c>v</c> for lane <c>l</c> is at <c>block·BlockStride + (v·Lanes + l)</c>),
/// per-worker scratch, the per-block partial sums of the batch-wide stopping rules, per-block snapshots
/// of the outputs, and the per-lane iteration counts.
/// <para>
/// The batch-wide stopping rules run in groups of <see cref="Group"/> iterations: each worker runs its
/// blocks through the whole group tile by tile (<see cref="TileBlocks"/> blocks whose state stays in
/// cache), keeping each iteration's partial sums and outputs; one barrier per group (partial sums
/// double-buffered by group parity); then every worker finds the first iteration of the group at which
/// the rule stops, and restores its blocks' outputs of that iteration. Each block's arithmetic is the
/// same whatever the group, tile or worker count, so the results are too.
/// </para>
/// Generated kernels keep one instance per calling thread, so calls after the first allocate nothing.
/// Infrastructure for generated kernels.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract unsafe class KernelJob<T> : IWorkerJob where T : unmanaged
{
    /// <summary>
    /// Samples per block at <see cref="KernelLanes.AutomaticBits"/>: one 512-bit vector of
    /// <typeparamref name="T"/>, or one 256-bit vector on CPUs without AVX-512.
    /// </summary>
    public static int Lanes => KernelLanes.Lanes<T>(KernelLanes.AutomaticBits);

    /// <summary>Samples per block of this job: its lane vector's count of <typeparamref name="T"/>.</summary>
    private readonly int lanes;

    /// <summary>A job whose blocks hold <paramref name="lanes"/> samples (16 or 8 float32, 8 or 4 float64).</summary>
    protected KernelJob(int lanes)
    {
        if (lanes != Vector512<T>.Count && lanes != Vector256<T>.Count)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "lanes: one 512-bit or 256-bit vector of samples.");
        this.lanes = lanes;
    }

    private T[] space = [];
    private int origin;
    private int workers = 1;

    private readonly SpinBarrier barrier = new();

    /// <summary>Samples in the call.</summary>
    protected int Batch;

    /// <summary>Blocks of samples, one lane vector each (the last may be partly padding).</summary>
    protected int Blocks;

    /// <summary>The first block.</summary>
    protected T* Blk;

    /// <summary>Elements per block.</summary>
    protected int BlockStride;

    /// <summary>The first worker's scratch.</summary>
    protected T* Scr;

    /// <summary>Elements of scratch per worker.</summary>
    protected int ScratchStride;

    /// <summary>Per-block partial sums: <c>[group parity · Group + iteration in group][block][4]</c>.</summary>
    protected double[] Partials = [];

    /// <summary>The most iterations in one group.</summary>
    public const int MaxGroup = 8;

    /// <summary>Iterations per group of the synchronised loop (1 … <see cref="MaxGroup"/>), chosen per call.</summary>
    protected int Group = 1;

    /// <summary>Blocks per tile: a worker runs one tile through a whole group before the next.</summary>
    protected int TileBlocks = 1;

    /// <summary>The first block's output snapshots: <c>[block][iteration in group][vector][lane]</c>.</summary>
    protected T* Snap;

    /// <summary>Elements of snapshots per block.</summary>
    protected int SnapStride;

    /// <summary>Elements of one snapshot (one iteration's outputs of one block).</summary>
    protected int SnapSize;

    /// <summary>The synchronised loop stopped without a divergence (divergences seen past its stop were speculative).</summary>
    private bool stoppedClean;

    /// <summary>Iterations that updated each lane: <c>[block·lanes + lane]</c> (lanes: this job's samples per block).</summary>
    protected int[] LaneIters = [];

    /// <summary>Per-block results of blockwise (per-sample) convergence: iterations run.</summary>
    protected int[] BlockIters = [];

    /// <summary>Per-block results of blockwise convergence: every lane converged.</summary>
    protected bool[] BlockConverged = [];

    /// <summary>The next block to hand out under dynamic scheduling.</summary>
    protected int NextBlock;

    /// <summary>The call's iteration count (written by worker 0).</summary>
    protected int Iterations;

    /// <summary>Whether the call converged (written by worker 0).</summary>
    protected bool Converged;

    /// <summary>Per block: 0, or the iteration (from 1) after which a lane of the block held a non-finite latent.</summary>
    protected int[] BlockDiverged = [];

    /// <summary>
    /// 0, or the iteration (from 1) of the last divergence recorded in this call. Workers under the
    /// barrier compare it with their own iteration, so a worker that already runs the next iteration
    /// cannot make a slower one stop early.
    /// </summary>
    protected int DivergedFlag;

    /// <summary>The schedule of the current call (<see cref="InferenceSettings.Schedule"/>).</summary>
    private KernelSchedule schedule = KernelSchedule.Automatic;

    int IWorkerJob.Workers
    {
        get => workers;
        set
        {
            workers = value;
            barrier.Reset(value);
            NextBlock = 0;
            ChooseSchedule();
        }
    }

    void IWorkerJob.Abort() => barrier.Abort();

    /// <summary>Runs worker <paramref name="worker"/> (0 … workers−1) of this call to completion.</summary>
    public abstract void RunWorker(int worker);

    /// <summary>
    /// Runs <see cref="RunWorker"/> on up to <see cref="InferenceSettings.Threads"/> workers of
    /// <paramref name="s"/> (0 = every core of the pool), never more than one per block, under its
    /// <see cref="InferenceSettings.Schedule"/>, and returns when all have finished. The stats of the
    /// call (<see cref="Stats"/>) report the workers it ran on.
    /// </summary>
    protected void RunWorkers(InferenceSettings s)
    {
        schedule = s.Schedule;
        int want = s.Threads > 0 ? s.Threads : WorkerPool.Capacity;
        WorkerPool.Run(this, Math.Min(want, Blocks), schedule.WaitForPool);
    }

    /// <summary>Waits until every worker of this call has arrived; <paramref name="localSense"/> is the caller's own flag (start at 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void SignalAndWait(ref int localSense) => barrier.SignalAndWait(ref localSense);

    /// <summary>
    /// The group length and tile size of this call: one iteration per group (no speculation) for a
    /// single worker whose blocks fit in <see cref="KernelSchedule.CacheBytes"/>; else groups of
    /// <see cref="MaxGroup"/> iterations (one barrier per group, and tiles of
    /// <see cref="KernelSchedule.TileBytes"/> that stay in cache through the group).
    /// The call's <see cref="KernelSchedule"/> can fix either.
    /// </summary>
    private void ChooseSchedule()
    {
        long blockBytes = Math.Max((long)BlockStride * sizeof(T), 1);
        long perWorker = (long)((Blocks + workers - 1) / workers) * blockBytes;
        TileBlocks = schedule.TileBlocks > 0 ? schedule.TileBlocks
            : (int)Math.Clamp(schedule.TileBytes / blockBytes, 1, int.MaxValue);
        bool spill = perWorker > schedule.CacheBytes;
        Group = schedule.IterationGroup > 0 ? Math.Min(schedule.IterationGroup, MaxGroup)
            : workers > 1 || spill ? MaxGroup : 1;
    }

    /// <summary>
    /// Sizes the workspace for <paramref name="batch"/> samples and clears it; each block keeps
    /// <see cref="MaxGroup"/> snapshots of <paramref name="snapSize"/> elements.
    /// </summary>
    protected void Prepare(int batch, int blockStride, int scratchStride, int snapSize)
    {
        Batch = batch;
        Blocks = (batch + lanes - 1) / lanes;
        BlockStride = blockStride;
        ScratchStride = scratchStride;
        SnapSize = snapSize;
        SnapStride = MaxGroup * snapSize;
        int cores = WorkerPool.Capacity;
        long need = (long)Blocks * (blockStride + SnapStride) + (long)cores * scratchStride + 64;
        if (need > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch: too large for one kernel call.");
        if (space.Length < need)
        {
            space = GC.AllocateArray<T>((int)need, pinned: true);
            origin = (int)((64 - ((nint)Unsafe.AsPointer(ref space[0]) & 63)) & 63) / sizeof(T);
        }
        Blk = (T*)Unsafe.AsPointer(ref space[origin]);
        Scr = Blk + (long)Blocks * blockStride;
        Snap = Scr + (long)cores * scratchStride;
        new Span<T>(Blk, Blocks * blockStride).Clear();
        if (Partials.Length < 2 * MaxGroup * 4 * Blocks) Partials = new double[2 * MaxGroup * 4 * Blocks];
        if (LaneIters.Length < Blocks * lanes) LaneIters = new int[Blocks * lanes];
        Array.Clear(LaneIters, 0, Blocks * lanes);
        if (BlockIters.Length < Blocks)
        {
            BlockIters = new int[Blocks];
            BlockConverged = new bool[Blocks];
            BlockDiverged = new int[Blocks];
        }
        Array.Clear(BlockDiverged, 0, Blocks);
        DivergedFlag = 0;
        Iterations = 0;
        Converged = false;
        stoppedClean = false;
        Group = 1;
        TileBlocks = 1;
    }

    /// <summary>Copies <paramref name="src"/> <c>[Batch×cols]</c> into vectors <paramref name="vec"/>… of every block.</summary>
    protected void Scatter(ReadOnlySpan<T> src, int cols, int vec)
    {
        for (int s = 0; s < Batch; s++)
        {
            T* dst = Blk + (long)(s / lanes) * BlockStride + vec * lanes + s % lanes;
            var row = src.Slice(s * cols, cols);
            for (int c = 0; c < cols; c++) dst[c * lanes] = row[c];
        }
    }

    /// <summary>Copies vectors <paramref name="vec"/>… of every block into <paramref name="dst"/> <c>[Batch×cols]</c>.</summary>
    protected void Gather(Span<T> dst, int cols, int vec)
    {
        for (int s = 0; s < Batch; s++)
        {
            T* src = Blk + (long)(s / lanes) * BlockStride + vec * lanes + s % lanes;
            var row = dst.Slice(s * cols, cols);
            for (int c = 0; c < cols; c++) row[c] = src[c * lanes];
        }
    }

    /// <summary>Copies the per-lane iteration counts into <paramref name="dst"/> <c>[Batch]</c>.</summary>
    protected void GatherIterations(Span<int> dst) => LaneIters.AsSpan(0, Batch).CopyTo(dst);

    /// <summary>Sets every sample's iteration count to <paramref name="n"/>.</summary>
    protected void FillIterations(int n) => LaneIters.AsSpan(0, Batch).Fill(n);

    /// <summary>Lanes of block <paramref name="b"/> that hold samples.</summary>
    protected int ValidLanes(int b) => Math.Min(lanes, Batch - b * lanes);

    /// <summary>The first and one-past-last block of worker <paramref name="worker"/> under static scheduling.</summary>
    protected (int Start, int End) Range(int worker) =>
        ((int)((long)Blocks * worker / workers), (int)((long)Blocks * (worker + 1) / workers));

    /// <summary>Worker <paramref name="worker"/>'s scratch.</summary>
    protected T* ScratchOf(int worker) => Scr + (long)worker * ScratchStride;

    /// <summary>The partial sums of block <paramref name="b"/> in slot <paramref name="slot"/> (group parity · <see cref="Group"/> + iteration in group).</summary>
    protected Span<double> PartialOf(int slot, int b) => Partials.AsSpan((slot * Blocks + b) * 4, 4);

    /// <summary>Snapshot <paramref name="k"/> (iteration in group) of block <paramref name="b"/>.</summary>
    protected T* SnapOf(int b, int k) => Snap + (long)b * SnapStride + (long)k * SnapSize;

    /// <summary>Copies <paramref name="n"/> elements from <paramref name="src"/> to <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void Copy(T* dst, T* src, int n) => new ReadOnlySpan<T>(src, n).CopyTo(new Span<T>(dst, n));

    /// <summary>
    /// After a group's barrier: the earliest iteration (from 1) after which a block held a non-finite
    /// latent, or <see cref="int.MaxValue"/>. Blocks that diverge stop for the rest of their group, and a
    /// divergence ends the call within its group, so every worker finds the same answer for its group.
    /// </summary>
    protected int FirstDivergence()
    {
        if (Volatile.Read(ref DivergedFlag) == 0) return int.MaxValue;
        int at = int.MaxValue;
        for (int b = 0; b < Blocks; b++)
            if (BlockDiverged[b] > 0) at = Math.Min(at, BlockDiverged[b]);
        return at;
    }

    /// <summary>Worker 0's results of the synchronised loop; a stop that was no divergence discards divergences seen past it.</summary>
    protected void FinishSynced(int iterations, bool converged, bool diverged)
    {
        Iterations = iterations;
        Converged = converged;
        stoppedClean = !diverged;
    }

    /// <summary>
    /// The batch-wide rule: relative changes of <c>r</c> and <c>r2</c> (Frobenius norms over the batch,
    /// summed over the blocks in order) both below <paramref name="tol"/>.
    /// </summary>
    protected bool BatchDecision(int slot, double tol)
    {
        double dr = 0, or = 0, dr2 = 0, or2 = 0;
        var p = Partials.AsSpan(slot * Blocks * 4, Blocks * 4);
        // A block's partial sums are those of a 512-bit block: a 256-bit job adds each pair of its
        // blocks (the two halves of a 512-bit block) in T, as LaneMath.Sum adds the two halves.
        int step = lanes == Vector512<T>.Count ? 1 : 2;
        for (int b = 0; b < Blocks; b += step)
        {
            bool pair = step == 2 && b + 1 < Blocks;
            dr += Half(p, b, 0, pair);
            or += Half(p, b, 1, pair);
            dr2 += Half(p, b, 2, pair);
            or2 += Half(p, b, 3, pair);
        }
        return Math.Sqrt(dr) / (Math.Sqrt(or) + ModelConstants.RelChangeGuard) < tol
            && Math.Sqrt(dr2) / (Math.Sqrt(or2) + ModelConstants.RelChangeGuard) < tol;
    }

    /// <summary>Partial sum <paramref name="q"/> of block <paramref name="b"/>, plus that of block b + 1 in <typeparamref name="T"/> when <paramref name="pair"/>.</summary>
    private static double Half(Span<double> p, int b, int q, bool pair)
    {
        if (!pair) return p[4 * b + q];
        double lo = p[4 * b + q], hi = p[4 * (b + 1) + q];
        return typeof(T) == typeof(float) ? (float)lo + (float)hi : lo + hi;
    }

    /// <summary>The all-samples rule: every block reported all its samples converged (partial slot 0 = 1).</summary>
    protected bool AllDecision(int slot)
    {
        var p = Partials.AsSpan(slot * Blocks * 4, Blocks * 4);
        for (int b = 0; b < Blocks; b++)
            if (p[4 * b] == 0.0) return false;
        return true;
    }

    /// <summary>
    /// The rare path of the divergence check (run only when a lane's squared change is not finite):
    /// whether a lane of <paramref name="lanes"/> holds a non-finite entry in the <paramref name="nR"/>
    /// vectors from <paramref name="r"/> or the <paramref name="nR2"/> vectors from <paramref name="r2"/>
    /// (a squared change of finite values can overflow, which is no divergence).
    /// </summary>
    protected bool LanesNonFinite(T* r, int nR, T* r2, int nR2, ulong lanes) =>
        FirstNonFinite(r, nR, lanes) >= 0 || FirstNonFinite(r2, nR2, lanes) >= 0;

    /// <summary>The first lane of <paramref name="lanes"/> with a non-finite entry in the <paramref name="n"/> vectors from <paramref name="v"/>; -1 if none.</summary>
    private int FirstNonFinite(T* v, int n, ulong lanes)
    {
        int count = this.lanes;
        for (int l = 0; l < count; l++)
        {
            if ((lanes >> l & 1) == 0) continue;
            for (int j = 0; j < n; j++)
            {
                T* e = v + (long)j * count + l;
                bool finite = typeof(T) == typeof(float) ? float.IsFinite(*(float*)e) : double.IsFinite(*(double*)e);
                if (!finite) return l;
            }
        }
        return -1;
    }

    /// <summary>Records that block <paramref name="b"/> held a non-finite latent after iteration <paramref name="iteration"/> (from 1).</summary>
    protected void Diverge(int b, int iteration)
    {
        BlockDiverged[b] = iteration;
        Volatile.Write(ref DivergedFlag, iteration);
    }

    /// <summary>Whether a block diverged at iteration <paramref name="iteration"/> (from 1); after that iteration's barrier every worker sees the same answer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected bool DivergedAt(int iteration) => Volatile.Read(ref DivergedFlag) == iteration;

    /// <summary>
    /// The call's statistics: when a block diverged, the earliest such iteration and, among the blocks
    /// that diverged then (in order), the first sample whose <c>r</c> (vectors from <paramref name="rVec"/>,
    /// <paramref name="nR"/> of them) or else <c>r2</c> (<paramref name="r2Vec"/>, <paramref name="nR2"/>) is
    /// not finite, as the reference path reports it.
    /// </summary>
    protected InferenceStats Stats(int rVec, int nR, int r2Vec, int nR2)
    {
        if (DivergedFlag == 0 || stoppedClean) return new InferenceStats(Iterations, Converged, Workers: workers);
        int at = int.MaxValue;
        for (int b = 0; b < Blocks; b++)
            if (BlockDiverged[b] > 0) at = Math.Min(at, BlockDiverged[b]);
        for (int b = 0; b < Blocks; b++)
        {
            if (BlockDiverged[b] != at) continue;
            T* blk = Blk + (long)b * BlockStride;
            int valid = ValidLanes(b);
            ulong mask = valid >= 64 ? ulong.MaxValue : (1UL << valid) - 1;
            int lr = FirstNonFinite(blk + (long)rVec * lanes, nR, mask);
            int lr2 = FirstNonFinite(blk + (long)r2Vec * lanes, nR2, mask);
            if (lr < 0 && lr2 < 0) continue;
            bool isR = lr >= 0 && (lr2 < 0 || lr <= lr2);
            int lane = isR ? lr : lr2;
            return new InferenceStats(Iterations, false, at, b * lanes + lane, isR ? InferenceQuantity.R : InferenceQuantity.R2, workers);
        }
        throw new InvalidOperationException("A block reported a non-finite latent that its lanes no longer hold.");
    }

    /// <summary>Combines the per-block results of blockwise convergence into the call's results.</summary>
    protected void FinishBlockwise()
    {
        int it = 0;
        bool conv = true;
        for (int b = 0; b < Blocks; b++)
        {
            it = Math.Max(it, BlockIters[b]);
            conv &= BlockConverged[b];
        }
        Iterations = it;
        Converged = conv;
    }

    /// <summary>A 512-bit lane mask with all bits set in the first <paramref name="n"/> lanes.</summary>
    protected static Vector512<T> FirstLanes(int n)
    {
        Span<T> buf = stackalloc T[Vector512<T>.Count];
        MaskOf(n, buf);
        return Vector512.Create((ReadOnlySpan<T>)buf);
    }

    /// <summary>A 256-bit lane mask with all bits set in the first <paramref name="n"/> lanes.</summary>
    protected static Vector256<T> FirstLanes256(int n)
    {
        Span<T> buf = stackalloc T[Vector256<T>.Count];
        MaskOf(n, buf);
        return Vector256.Create((ReadOnlySpan<T>)buf);
    }

    private static void MaskOf(int n, Span<T> buf)
    {
        var ones = Vector128<T>.AllBitsSet.ToScalar();
        for (int i = 0; i < buf.Length; i++) buf[i] = i < n ? ones : default;
    }

    /// <summary>Adds 1 to the iteration count of each lane of block <paramref name="b"/> set in <paramref name="mask"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void CountLanes(int b, Vector512<T> mask) => CountLanes(b, mask.ExtractMostSignificantBits());

    /// <summary>Adds 1 to the iteration count of each lane of block <paramref name="b"/> set in <paramref name="mask"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void CountLanes(int b, Vector256<T> mask) => CountLanes(b, (ulong)mask.ExtractMostSignificantBits());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountLanes(int b, ulong bits)
    {
        int at = b * lanes;
        while (bits != 0)
        {
            int l = System.Numerics.BitOperations.TrailingZeroCount(bits);
            LaneIters[at + l]++;
            bits &= bits - 1;
        }
    }

    /// <summary>Raises <see cref="ArgumentException"/> unless <paramref name="length"/> equals <paramref name="n"/>.</summary>
    protected static void CheckLength(int length, int n, string name)
    {
        if (length != n) throw new ArgumentException($"{name}: expected {n} values, got {length}.", name);
    }
}
