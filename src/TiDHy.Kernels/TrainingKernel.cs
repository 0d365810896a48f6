using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using System.ComponentModel;

namespace TiDHy.Kernels;

/// <summary>
/// The latents of one window's trajectory, row-major, as the training kernel reads them (float64):
/// the inference steps flattened as <c>item = step·Batch + sample</c>. Owned by a
/// <see cref="TrainingKernel{T}"/> and reused from call to call (<see cref="Resize"/>). Infrastructure for
/// generated training kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TrainingInputs
{
    /// <summary>Samples per step.</summary>
    public int Batch { get; private set; }
    /// <summary>Inference steps.</summary>
    public int Steps { get; private set; }
    /// <summary>Whether the upstream <c>X_0</c> term (decoded from <c>r = 0</c>) is present.</summary>
    public bool Initial { get; private set; }
    /// <summary><c>X_0 [Batch; D]</c> (when <see cref="Initial"/>).</summary>
    public double[] X0 = [];
    /// <summary><c>x_t [Steps·Batch; D]</c>.</summary>
    public double[] X = [];
    /// <summary><c>r_t [Steps·Batch; R]</c>.</summary>
    public double[] R = [];
    /// <summary><c>r_{t−1} [Steps·Batch; R]</c>.</summary>
    public double[] RPrev = [];
    /// <summary><c>r2_t [Steps·Batch; R2]</c>.</summary>
    public double[] R2 = [];
    /// <summary><c>r2_{t−1} [Steps·Batch; R2]</c> (read only with the r2 decoder).</summary>
    public double[] R2Prev = [];

    private static void Ensure(ref double[] a, int n)
    {
        if (a.Length < n)
            a = new double[n];
    }

    /// <summary>Sets the sizes, growing the arrays when needed (their contents are then to be written).</summary>
    public void Resize(TrainingShape s, int batch, int steps, bool initial)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch: expected at least one sample.");
        if (steps < 0)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps: expected a non-negative count.");
        Batch = batch;
        Steps = steps;
        Initial = initial;
        int n = steps * batch;
        if (initial)
            Ensure(ref X0, batch * s.D);
        Ensure(ref X, n * s.D);
        Ensure(ref R, n * s.R);
        Ensure(ref RPrev, n * s.R);
        Ensure(ref R2, n * s.R2);
        Ensure(ref R2Prev, n * s.R2);
    }
}

/// <summary>
/// A training kernel without its precision: what TiDHy.Functional calls (<see cref="TrainingKernels.Create"/>).
/// Infrastructure for generated training kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface ITrainingKernel
{
    /// <summary>The packed layout of the parameters and of each gradient.</summary>
    TrainingLayout Layout { get; }
    /// <summary>The trajectory, to be written before <see cref="Run"/>.</summary>
    TrainingInputs Inputs { get; }
    /// <summary>A buffer of <c>[Layout.Count]</c> for the caller to pack the parameters into.</summary>
    double[] Parameters { get; }
    /// <summary>After <see cref="Run"/>: the four gradients, <c>[4; Layout.Count]</c> in term order.</summary>
    double[] Gradients { get; }
    /// <summary>After <see cref="Run"/>: the four values in term order.</summary>
    double[] Values { get; }
    /// <summary>Computes the values and gradients at the packed parameters <c>[Layout.Count]</c>.</summary>
    void Run(double[] parameters);
    /// <summary>The most threads a call uses (-1: as many as the runtime gives); never changes the result.</summary>
    int MaxThreads { get; set; }
    /// <summary>The generated kernel's variant name.</summary>
    string VariantName { get; }
}

/// <summary>Creates training kernels: the generated pass of the most specific registered kernel.</summary>
internal static class TrainingKernels
{
    /// <summary>The most specific registered kernel whose training pass runs <paramref name="shape"/>.</summary>
    public static InferenceKernel Find(TrainingShape shape) =>
        KernelRegistry.FindTraining(shape)
        ?? throw new InvalidOperationException($"No registered generated kernel runs the training pass of {shape}.");

    /// <summary>A training kernel for <paramref name="shape"/> in float32 or float64.</summary>
    public static ITrainingKernel Create(TrainingShape shape, bool float32) => Find(shape).CreateTraining(shape, float32);
}

/// <summary>
/// The runtime half of a generated training kernel: the parameter gradients of the four terms of the
/// training objective over a window (TiDHy.Functional's <c>Objective.terms</c> is the definition):
/// <c>L_hat</c>, <c>L_bar</c>, <c>temp_weight·L_temp</c> and <c>L_r2</c>, each separately, computed in
/// precision <typeparamref name="T"/> (float or double). TiDHy.Generators emits, for each
/// <c>[TiDHyKernel]</c> declaration, a subclass whose tile code has the declaration's options resolved
/// and sizes as constants; this class owns the buffers, the chunk scheduling and the reduction.
/// <para>
/// Samples are processed in tiles of <see cref="Lanes"/>, laid out feature-major (<c>[feature; lane]</c>)
/// so that every product runs on SIMD vectors across samples. The tiles are cut into <see cref="Chunks"/>
/// contiguous chunks; each chunk accumulates into its own gradient buffer, and the chunks are summed in
/// order, so the result does not depend on the number of threads. Every buffer is owned by the
/// kernel: a call allocates nothing but the task-parallel loop's own bookkeeping. Not thread-safe:
/// one call at a time per instance. Infrastructure for generated training kernels.
/// </para>
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class TrainingKernel<T> : ITrainingKernel where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Samples per tile.</summary>
    public const int Lanes = 32;
    /// <summary>The fixed number of chunks whose gradients are summed in order.</summary>
    public const int Chunks = 8;

    /// <summary>The parameters in <typeparamref name="T"/>, packed as <see cref="Layout"/>.</summary>
    protected readonly T[] P;
    /// <summary>The full dynamics matrices <c>V_k [M; R; R]</c> (filled by <see cref="PrepareTemporal"/>).</summary>
    protected readonly T[] V;
    private readonly TrainingChunk<T>[] chunks;
    private readonly ParallelOptions parallel = new();

    /// <summary>The shape the kernel is for.</summary>
    protected TrainingShape Shape { get; }
    /// <summary>The packed layout of the parameters and of each gradient.</summary>
    public TrainingLayout Layout { get; }
    /// <summary>The trajectory, to be written before <see cref="Run"/>.</summary>
    public TrainingInputs Inputs { get; } = new();
    /// <summary>A buffer of <c>[Layout.Count]</c> for the caller to pack the parameters into.</summary>
    public double[] Parameters { get; }
    /// <summary>After <see cref="Run"/>: the four gradients, <c>[4; Layout.Count]</c> in term order.</summary>
    public double[] Gradients { get; }
    /// <summary>After <see cref="Run"/>: the four values in term order (<c>L_temp</c> weighted by <c>temp_weight</c>).</summary>
    public double[] Values { get; } = new double[4];
    /// <summary>The generated kernel's variant name.</summary>
    public abstract string VariantName { get; }

    /// <summary>The most threads a call uses (-1: as many as the runtime gives); never changes the result.</summary>
    public int MaxThreads
    {
        get => parallel.MaxDegreeOfParallelism;
        set => parallel.MaxDegreeOfParallelism = value;
    }

    /// <summary>Allocates every buffer for <paramref name="shape"/>.</summary>
    protected TrainingKernel(TrainingShape shape)
    {
        if (Lanes % Vector<T>.Count != 0)
            throw new PlatformNotSupportedException($"the SIMD width {Vector<T>.Count} does not divide {Lanes}.");
        Layout = new TrainingLayout(shape);
        Shape = shape;
        P = new T[Layout.Count];
        V = new T[shape.M * shape.R * shape.R];
        Gradients = new double[4 * Layout.Count];
        Parameters = new double[Layout.Count];
        chunks = new TrainingChunk<T>[Chunks];
        for (int c = 0; c < Chunks; c++)
            chunks[c] = new TrainingChunk<T>(shape, Layout.Count);
    }

    /// <summary>Fills <see cref="V"/> from <see cref="P"/>.</summary>
    protected abstract void PrepareTemporal();

    /// <summary>The <c>X_0</c> term on samples <c>[start, start + n)</c>.</summary>
    protected abstract void InitialTile(TrainingChunk<T> ch, int start, int n, T scale);

    /// <summary>The four terms on flattened items <c>[start, start + n)</c>.</summary>
    protected abstract void StepTile(TrainingChunk<T> ch, int start, int n, T scale);

    /// <summary>Every chunk on the thread pool (at most <see cref="MaxThreads"/> at once).</summary>
    private void RunChunks(int tiles, int initialTiles, T scale) =>
        Parallel.For(0, Chunks, parallel, c => RunChunk(c, tiles, initialTiles, scale));

    /// <summary>Chunk <paramref name="c"/>'s share of the <paramref name="tiles"/> tiles into its own gradients and sums.</summary>
    private void RunChunk(int c, int tiles, int initialTiles, T scale)
    {
        var inp = Inputs;
        var ch = chunks[c];
        Array.Clear(ch.Grad);
        Array.Clear(ch.Sums);
        int first = (int)((long)tiles * c / Chunks), last = (int)((long)tiles * (c + 1) / Chunks);
        for (int t = first; t < last; t++)
        {
            if (t < initialTiles)
                InitialTile(ch, t * Lanes, Math.Min(Lanes, inp.Batch - t * Lanes), scale);
            else
            {
                int start = (t - initialTiles) * Lanes;
                StepTile(ch, start, Math.Min(Lanes, inp.Steps * inp.Batch - start), scale);
            }
        }
    }

    /// <summary>
    /// Computes <see cref="Values"/> and <see cref="Gradients"/> at the packed parameters
    /// <paramref name="parameters"/> (<c>[Layout.Count]</c>, float64, rounded to <typeparamref name="T"/>)
    /// for the trajectory in <see cref="Inputs"/>.
    /// </summary>
    public void Run(double[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Length != Layout.Count)
            throw new ArgumentException($"parameters: expected {Layout.Count} values, got {parameters.Length}.", nameof(parameters));
        for (int i = 0; i < P.Length; i++)
            P[i] = T.CreateTruncating(parameters[i]);
        PrepareTemporal();

        var inp = Inputs;
        int initialTiles = inp.Initial ? (inp.Batch + Lanes - 1) / Lanes : 0;
        int stepTiles = (inp.Steps * inp.Batch + Lanes - 1) / Lanes;
        int tiles = initialTiles + stepTiles;
        T scale = T.One / T.CreateTruncating(inp.Batch);

        // One thread runs the chunks in a loop on the calling thread: no parallel loop's bookkeeping,
        // whose allocations grow when the thread pool is busy. The chunks and their reduction are the
        // same either way.
        if (parallel.MaxDegreeOfParallelism == 1)
        {
            for (int c = 0; c < Chunks; c++) RunChunk(c, tiles, initialTiles, scale);
        }
        else
            RunChunks(tiles, initialTiles, scale);

        int n = Layout.Count;
        for (int j = 0; j < 4 * n; j++)
        {
            double sum = 0;
            for (int c = 0; c < Chunks; c++)
                sum += double.CreateTruncating(chunks[c].Grad[j]);
            Gradients[j] = sum;
        }
        double sc = 1.0 / inp.Batch;
        for (int k = 0; k < 4; k++)
        {
            double sum = 0;
            for (int c = 0; c < Chunks; c++)
                sum += chunks[c].Sums[k];
            Values[k] = sum * sc;
        }
        Values[2] *= Shape.TempWeight;
    }
}

/// <summary>
/// The lane-vectorised primitives of the training kernels on <c>[feature; lane]</c> tiles of
/// <see cref="TrainingKernel{T}.Lanes"/> lanes. Infrastructure for generated training kernels.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class TrainingLanes<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int Lanes = TrainingKernel<T>.Lanes;
    private static readonly int NV = Lanes / Vector<T>.Count;
    private static readonly T Eps = T.CreateTruncating(ModelConstants.LayerNormEps);

    /// <summary>A tile as SIMD vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<Vector<T>> Vec(T[] a) => MemoryMarshal.Cast<T, Vector<T>>(a.AsSpan());

    /// <summary>Rows <c>[start, start + n)</c> of <c>src [·; features]</c> (float64) into the tile <paramref name="dst"/>, zero in the unused lanes.</summary>
    public static void Load(double[] src, int start, int n, int features, T[] dst)
    {
        for (int f = 0; f < features; f++)
            for (int l = 0; l < Lanes; l++)
                dst[f * Lanes + l] = l < n ? T.CreateTruncating(src[(start + l) * features + f]) : T.Zero;
    }

    /// <summary>The MLP's forward pass on a tile (<c>Model.mlp</c>), keeping its trace in <paramref name="t"/>.</summary>
    public static void MlpForward(T[] p, in MlpOffsets m, T[] input, TrainingTrace<T> t)
    {
        Linear(p, m.W0, m.B0, m.Hid, m.In, input, t.Pre);
        int h = m.Hid;
        T inv = T.One / T.CreateTruncating(h);
        var pre = Vec(t.Pre);
        var unit = Vec(t.Unit);
        var sd = Vec(t.Sd);
        for (int q = 0; q < NV; q++)
        {
            var sum = Vector<T>.Zero;
            for (int j = 0; j < h; j++)
                sum += pre[j * NV + q];
            var mean = sum * inv;
            var ss = Vector<T>.Zero;
            for (int j = 0; j < h; j++)
            {
                var d = pre[j * NV + q] - mean;
                ss += d * d;
            }
            var sdq = Vector.SquareRoot(ss * inv + new Vector<T>(Eps));
            sd[q] = sdq;
            for (int j = 0; j < h; j++)
                unit[j * NV + q] = (pre[j * NV + q] - mean) / sdq;
        }
        for (int j = 0; j < h; j++)
        {
            T gamma = p[m.Gamma + j], beta = p[m.Beta + j];
            for (int l = 0; l < Lanes; l++)
            {
                int at = j * Lanes + l;
                T x = t.Unit[at] * gamma + beta;
                if (x > T.Zero)
                {
                    t.Act[at] = x;
                    t.Ed[at] = T.One;
                }
                else
                {
                    T e = T.Exp(x);
                    t.Act[at] = e - T.One;
                    t.Ed[at] = e;
                }
            }
        }
        Linear(p, m.W3, m.B3, h, h, t.Act, t.H3);
        Linear(p, m.W4, m.B4, m.Out, h, t.H3, t.Out);
    }

    /// <summary>
    /// The MLP's reverse-mode rule (<c>Model.mlpBackward</c>): adds the parameter gradient of
    /// <c>Σ g·mlp(input)</c> into <paramref name="acc"/>, and the gradient w.r.t. the input into
    /// <paramref name="gIn"/> when given. <paramref name="g"/> is not changed.
    /// </summary>
    public static void MlpBackward(T[] p, in MlpOffsets m, TrainingTrace<T> t, T[] input, T[] g, TrainingChunk<T> ch, Span<T> acc, T[]? gIn)
    {
        int h = m.Hid;
        AccOuter(acc, m.W4, g, t.H3, m.Out, h);
        if (m.B4 >= 0)
            AccSum(acc, m.B4, g, m.Out);
        TMul(p, m.W4, m.Out, h, g, ch.GH);
        AccOuter(acc, m.W3, ch.GH, t.Act, h, h);
        AccSum(acc, m.B3, ch.GH, h);
        TMul(p, m.W3, h, h, ch.GH, ch.GAct);

        var gAct = Vec(ch.GAct);
        var ed = Vec(t.Ed);
        var unit = Vec(t.Unit);
        var gx = Vec(ch.GX);
        for (int j = 0; j < h; j++)
        {
            var gamma = new Vector<T>(p[m.Gamma + j]);
            var sg = Vector<T>.Zero;
            var sb = Vector<T>.Zero;
            for (int q = 0; q < NV; q++)
            {
                var gn = gAct[j * NV + q] * ed[j * NV + q];
                sg += gn * unit[j * NV + q];
                sb += gn;
                gx[j * NV + q] = gn * gamma;
            }
            acc[m.Gamma + j] += Vector.Sum(sg);
            acc[m.Beta + j] += Vector.Sum(sb);
        }

        // LayerNorm's VJP: (gx − mean(gx) − x̂·mean(gx·x̂)) / sd.
        T inv = T.One / T.CreateTruncating(h);
        var sd = Vec(t.Sd);
        var gPre = Vec(ch.GPre);
        for (int q = 0; q < NV; q++)
        {
            var mg = Vector<T>.Zero;
            var mgx = Vector<T>.Zero;
            for (int j = 0; j < h; j++)
            {
                mg += gx[j * NV + q];
                mgx += gx[j * NV + q] * unit[j * NV + q];
            }
            mg *= inv;
            mgx *= inv;
            for (int j = 0; j < h; j++)
                gPre[j * NV + q] = (gx[j * NV + q] - mg - unit[j * NV + q] * mgx) / sd[q];
        }
        AccOuter(acc, m.W0, ch.GPre, input, h, m.In);
        AccSum(acc, m.B0, ch.GPre, h);
        if (gIn is not null)
            TMul(p, m.W0, h, m.In, ch.GPre, gIn);
    }

    // Each output element is one sequential sum (over inputs, or over lanes before one horizontal
    // sum); the loops keep four independent sums in flight, which changes no result.

    /// <summary><c>output[o, :] = Σ_i w[o, i]·input[i, :] (+ b[o])</c> for <c>w [o; i]</c> at <paramref name="w"/>.</summary>
    public static void Linear(T[] wts, int w, int b, int o, int i, T[] input, Span<T> output)
    {
        var vin = MemoryMarshal.Cast<T, Vector<T>>(input.AsSpan());
        var vout = MemoryMarshal.Cast<T, Vector<T>>(output);
        int q4 = NV - NV % 4;
        for (int a = 0; a < o; a++)
        {
            int row = w + a * i;
            for (int q = 0; q < q4; q += 4)
            {
                Vector<T> a0 = Vector<T>.Zero, a1 = Vector<T>.Zero, a2 = Vector<T>.Zero, a3 = Vector<T>.Zero;
                for (int c = 0; c < i; c++)
                {
                    var wc = new Vector<T>(wts[row + c]);
                    int at = c * NV + q;
                    a0 += wc * vin[at];
                    a1 += wc * vin[at + 1];
                    a2 += wc * vin[at + 2];
                    a3 += wc * vin[at + 3];
                }
                if (b >= 0)
                {
                    var bv = new Vector<T>(wts[b + a]);
                    a0 += bv; a1 += bv; a2 += bv; a3 += bv;
                }
                int o0 = a * NV + q;
                vout[o0] = a0; vout[o0 + 1] = a1; vout[o0 + 2] = a2; vout[o0 + 3] = a3;
            }
            for (int q = q4; q < NV; q++)
            {
                var acc = Vector<T>.Zero;
                for (int c = 0; c < i; c++)
                    acc += new Vector<T>(wts[row + c]) * vin[c * NV + q];
                if (b >= 0)
                    acc += new Vector<T>(wts[b + a]);
                vout[a * NV + q] = acc;
            }
        }
    }

    /// <summary>The same product into an array.</summary>
    public static void Linear(T[] wts, int w, int b, int o, int i, T[] input, T[] output) =>
        Linear(wts, w, b, o, i, input, output.AsSpan());

    /// <summary><c>output[c, :] = Σ_a w[a, c]·g[a, :]</c> for <c>w [o; i]</c>.</summary>
    public static void TMul(T[] wts, int w, int o, int i, T[] g, T[] output)
    {
        var vg = Vec(g);
        var vout = Vec(output);
        int q4 = NV - NV % 4;
        for (int c = 0; c < i; c++)
        {
            for (int q = 0; q < q4; q += 4)
            {
                Vector<T> a0 = Vector<T>.Zero, a1 = Vector<T>.Zero, a2 = Vector<T>.Zero, a3 = Vector<T>.Zero;
                for (int a = 0; a < o; a++)
                {
                    var wc = new Vector<T>(wts[w + a * i + c]);
                    int at = a * NV + q;
                    a0 += wc * vg[at];
                    a1 += wc * vg[at + 1];
                    a2 += wc * vg[at + 2];
                    a3 += wc * vg[at + 3];
                }
                int o0 = c * NV + q;
                vout[o0] = a0; vout[o0 + 1] = a1; vout[o0 + 2] = a2; vout[o0 + 3] = a3;
            }
            for (int q = q4; q < NV; q++)
            {
                var acc = Vector<T>.Zero;
                for (int a = 0; a < o; a++)
                    acc += new Vector<T>(wts[w + a * i + c]) * vg[a * NV + q];
                vout[c * NV + q] = acc;
            }
        }
    }

    /// <summary><c>acc[w + a·i + c] += Σ_lanes g[a, :]·x[c, :]</c>.</summary>
    public static void AccOuter(Span<T> acc, int w, T[] g, T[] x, int o, int i)
    {
        var vg = Vec(g);
        var vx = Vec(x);
        int c4 = i - i % 4;
        for (int a = 0; a < o; a++)
        {
            int row = w + a * i;
            for (int c = 0; c < c4; c += 4)
            {
                Vector<T> s0 = Vector<T>.Zero, s1 = Vector<T>.Zero, s2 = Vector<T>.Zero, s3 = Vector<T>.Zero;
                for (int q = 0; q < NV; q++)
                {
                    var gv = vg[a * NV + q];
                    s0 += gv * vx[c * NV + q];
                    s1 += gv * vx[(c + 1) * NV + q];
                    s2 += gv * vx[(c + 2) * NV + q];
                    s3 += gv * vx[(c + 3) * NV + q];
                }
                acc[row + c] += Vector.Sum(s0);
                acc[row + c + 1] += Vector.Sum(s1);
                acc[row + c + 2] += Vector.Sum(s2);
                acc[row + c + 3] += Vector.Sum(s3);
            }
            for (int c = c4; c < i; c++)
            {
                var sum = Vector<T>.Zero;
                for (int q = 0; q < NV; q++)
                    sum += vg[a * NV + q] * vx[c * NV + q];
                acc[row + c] += Vector.Sum(sum);
            }
        }
    }

    /// <summary><c>acc[b + a] += Σ_lanes g[a, :]</c>.</summary>
    public static void AccSum(Span<T> acc, int b, T[] g, int o)
    {
        var vg = Vec(g);
        for (int a = 0; a < o; a++)
        {
            var sum = Vector<T>.Zero;
            for (int q = 0; q < NV; q++)
                sum += vg[a * NV + q];
            acc[b + a] += Vector.Sum(sum);
        }
    }

}

/// <summary>One MLP application's trace on a tile. Infrastructure for generated training kernels.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TrainingTrace<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int Lanes = TrainingKernel<T>.Lanes;
    /// <summary>Layer 0's output.</summary>
    public readonly T[] Pre;
    /// <summary>The normalised units.</summary>
    public readonly T[] Unit;
    /// <summary>ELU's derivative.</summary>
    public readonly T[] Ed;
    /// <summary>ELU's output.</summary>
    public readonly T[] Act;
    /// <summary>Layer 3's output.</summary>
    public readonly T[] H3;
    /// <summary>The output.</summary>
    public readonly T[] Out;
    /// <summary>The LayerNorm's standard deviation per lane.</summary>
    public readonly T[] Sd = new T[Lanes];

    /// <summary>Buffers for <paramref name="hid"/> hidden units and <paramref name="output"/> outputs.</summary>
    public TrainingTrace(int hid, int output)
    {
        Pre = new T[hid * Lanes];
        Unit = new T[hid * Lanes];
        Ed = new T[hid * Lanes];
        Act = new T[hid * Lanes];
        H3 = new T[hid * Lanes];
        Out = new T[output * Lanes];
    }
}

/// <summary>A chunk's gradient buffer, loss sums and tile scratch. Infrastructure for generated training kernels.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TrainingChunk<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int Lanes = TrainingKernel<T>.Lanes;
#pragma warning disable CS1591 // scratch tiles, named as in the generated code
    public readonly T[] Grad;
    public readonly double[] Sums = new double[4];
    public readonly T[] X, Z, R, RP, R2, RHat, Y, GY, GRHat, GT, P, Wb, GOut, Tmp, QIn, GQ, GH, GAct, GX, GPre;
    public readonly TrainingTrace<T> Dec, Hyp, Q;
#pragma warning restore CS1591

    /// <summary>Buffers for <paramref name="s"/> and a parameter vector of <paramref name="count"/>.</summary>
    public TrainingChunk(TrainingShape s, int count)
    {
        Grad = new T[4 * count];
        T[] A(int features) => new T[Math.Max(features, 1) * Lanes];
        int hmax = Math.Max(s.H, s.H2);
        X = A(s.D); Z = A(s.R); R = A(s.R); RP = A(s.R); R2 = A(s.R2); RHat = A(s.R);
        Y = A(s.D); GY = A(s.D); GRHat = A(s.R); GT = A(s.R);
        P = A(s.M * s.R); Wb = A(s.O); GOut = A(s.O); Tmp = A(Math.Max(s.R, 2));
        QIn = A(s.R + s.R2); GQ = A(s.R2);
        GH = A(hmax); GAct = A(hmax); GX = A(hmax); GPre = A(hmax);
        Dec = new TrainingTrace<T>(s.Nonlinear ? s.H : 1, s.D);
        Hyp = new TrainingTrace<T>(s.H, s.O);
        Q = new TrainingTrace<T>(s.R2Decoder ? s.H2 : 1, s.R2);
    }
}
