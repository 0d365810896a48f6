using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace TiDHy.Kernels;

/// <summary>
/// The latents of one window's trajectory, row-major, as the training kernel reads them (float64):
/// the inference steps flattened as <c>item = step·Batch + sample</c>. Owned by a
/// <see cref="TrainingKernel{T}"/> and reused from call to call (<see cref="Resize"/>).
/// </summary>
internal sealed class TrainingInputs
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
/// The training kernel without its precision: what TiDHy.Functional calls (<see cref="TrainingKernels.Create"/>).
/// </summary>
internal interface ITrainingKernel
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
}

/// <summary>Creates training kernels.</summary>
internal static class TrainingKernels
{
    /// <summary>A training kernel for <paramref name="shape"/> in float32 or float64.</summary>
    public static ITrainingKernel Create(TrainingShape shape, bool float32) =>
        float32 ? new TrainingKernel<float>(shape) : new TrainingKernel<double>(shape);
}

/// <summary>
/// The parameter gradients of the four terms of the training objective over a window (TiDHy.Functional's
/// <c>Objective.terms</c> is the definition): <c>L_hat</c>, <c>L_bar</c>, <c>temp_weight·L_temp</c> and
/// <c>L_r2</c>, each separately, computed in precision <typeparamref name="T"/> (float or double).
/// <para>
/// Samples are processed in tiles of <see cref="Lanes"/>, laid out feature-major (<c>[feature; lane]</c>)
/// so that every product runs on SIMD vectors across samples. The tiles are cut into <see cref="Chunks"/>
/// contiguous chunks; each chunk accumulates into its own gradient buffer, and the chunks are summed in
/// order, so the result does not depend on the number of threads. Every buffer is owned by the
/// kernel: a call allocates nothing but the task-parallel loop's own bookkeeping. Not thread-safe:
/// one call at a time per instance.
/// </para>
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class TrainingKernel<T> : ITrainingKernel where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Samples per tile.</summary>
    public const int Lanes = 32;
    /// <summary>The fixed number of chunks whose gradients are summed in order.</summary>
    public const int Chunks = 8;

    private static readonly int NV = Lanes / Vector<T>.Count;
    private static readonly T Eps = T.CreateTruncating(ModelConstants.LayerNormEps);
    private static readonly T BceGuard = T.CreateTruncating(ModelConstants.BceGuard);
    private static readonly T Hundred = T.CreateTruncating(-100.0);
    private static readonly T Two = T.CreateTruncating(2.0);

    private readonly TrainingShape s;
    private readonly T[] p;
    private readonly T[] v;
    private readonly Chunk[] chunks;

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

    private readonly ParallelOptions parallel = new();

    /// <summary>The most threads a call uses (-1: as many as the runtime gives); never changes the result.</summary>
    public int MaxThreads
    {
        get => parallel.MaxDegreeOfParallelism;
        set => parallel.MaxDegreeOfParallelism = value;
    }

    public TrainingKernel(TrainingShape shape)
    {
        if (Lanes % Vector<T>.Count != 0)
            throw new PlatformNotSupportedException($"the SIMD width {Vector<T>.Count} does not divide {Lanes}.");
        Layout = new TrainingLayout(shape);
        s = shape;
        p = new T[Layout.Count];
        v = new T[shape.M * shape.R * shape.R];
        Gradients = new double[4 * Layout.Count];
        Parameters = new double[Layout.Count];
        chunks = new Chunk[Chunks];
        for (int c = 0; c < Chunks; c++)
            chunks[c] = new Chunk(shape, Layout.Count);
    }

    /// <summary>
    /// Computes <see cref="Values"/> and <see cref="Gradients"/> at the packed parameters
    /// <paramref name="parameters"/> (<c>[Layout.Count]</c>, float64, rounded to <typeparamref name="T"/>)
    /// for the trajectory in <see cref="Inputs"/>.
    /// </summary>
    public void Run(double[] parameters)
    {
        if (parameters.Length != Layout.Count)
            throw new ArgumentException($"parameters: expected {Layout.Count} values, got {parameters.Length}.", nameof(parameters));
        for (int i = 0; i < p.Length; i++)
            p[i] = T.CreateTruncating(parameters[i]);
        int r = s.R;
        for (int k = 0; k < s.M; k++)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++)
                    v[(k * r + i) * r + j] = s.LowRank
                        ? p[Layout.Temporal + (k * r + i) * 2] * p[Layout.Temporal + (k * r + j) * 2]
                          + p[Layout.Temporal + (k * r + i) * 2 + 1] * p[Layout.Temporal + (k * r + j) * 2 + 1]
                        : p[Layout.Temporal + k * r * r + i * r + j];

        var inp = Inputs;
        int initialTiles = inp.Initial ? (inp.Batch + Lanes - 1) / Lanes : 0;
        int stepTiles = (inp.Steps * inp.Batch + Lanes - 1) / Lanes;
        int tiles = initialTiles + stepTiles;
        T scale = T.One / T.CreateTruncating(inp.Batch);

        Parallel.For(0, Chunks, parallel, c =>
        {
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
        });

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
        Values[2] *= s.TempWeight;
    }

    // ---- tiles ----

    private static void Load(double[] src, int start, int n, int features, T[] dst)
    {
        for (int f = 0; f < features; f++)
            for (int l = 0; l < Lanes; l++)
                dst[f * Lanes + l] = l < n ? T.CreateTruncating(src[(start + l) * features + f]) : T.Zero;
    }

    private void InitialTile(Chunk ch, int start, int n, T scale)
    {
        Load(Inputs.X0, start, n, s.D, ch.X);
        Array.Clear(ch.Z);
        ch.Sums[0] += Decoder(ch, ch.Z, n, scale, 0, null);
    }

    private void StepTile(Chunk ch, int start, int n, T scale)
    {
        var inp = Inputs;
        int R = s.R, M = s.M;
        Load(inp.X, start, n, s.D, ch.X);
        Load(inp.R, start, n, R, ch.R);
        Load(inp.RPrev, start, n, R, ch.RP);
        Load(inp.R2, start, n, s.R2, ch.R2);

        // L_hat: decode(r_t).
        ch.Sums[0] += Decoder(ch, ch.R, n, scale, 0, null);

        // The temporal prediction: wb = relu(hypernet(r2)), P_k = V_k·r_p, r̂ = Σ_k w_k·P_k (+ b ⊙ c).
        MlpForward(Layout.Hyp, ch.R2, ch.Hyp);
        var hout = ch.Hyp.Out;
        for (int i = 0; i < s.O * Lanes; i++)
            ch.Wb[i] = hout[i] > T.Zero ? hout[i] : T.Zero;
        for (int k = 0; k < M; k++)
            Linear(v, k * R * R, -1, R, R, ch.RP, ch.P.AsSpan(k * R * Lanes, R * Lanes));
        var wbV = Vec(ch.Wb);
        var pV = Vec(ch.P);
        var rHatV = Vec(ch.RHat);
        for (int i = 0; i < R; i++)
            for (int q = 0; q < NV; q++)
            {
                var acc = Vector<T>.Zero;
                for (int k = 0; k < M; k++)
                    acc += wbV[k * NV + q] * pV[(k * R + i) * NV + q];
                if (s.DynBias)
                    acc += wbV[(M + i) * NV + q] * new Vector<T>(p[Layout.Bias + i]);
                rHatV[i * NV + q] = acc;
            }

        // L_bar: decode(r̂), with the gradient w.r.t. r̂ passed on to the temporal prediction.
        ch.Sums[1] += Decoder(ch, ch.RHat, n, scale, 1, ch.GRHat);
        Temporal(ch, ch.GRHat, 1);

        // temp_weight·L_temp: the seed −2·temp_weight·scale·(r − r̂) on r̂.
        T c2 = -Two * T.CreateTruncating(s.TempWeight) * scale;
        double temp = 0;
        for (int i = 0; i < R; i++)
            for (int l = 0; l < Lanes; l++)
            {
                int at = i * Lanes + l;
                if (l < n)
                {
                    T d = ch.R[at] - ch.RHat[at];
                    temp += double.CreateTruncating(d * d);
                    ch.GT[at] = c2 * d;
                }
                else
                    ch.GT[at] = T.Zero;
            }
        ch.Sums[2] += temp;
        Temporal(ch, ch.GT, 2);

        // L_r2: R2dec([r_{t−1}, r2_{t−1}]) against r2_t.
        if (s.R2Decoder)
        {
            Load(inp.RPrev, start, n, R, ch.QIn);
            var tail = ch.QIn.AsSpan(R * Lanes);
            for (int f = 0; f < s.R2; f++)
                for (int l = 0; l < Lanes; l++)
                    tail[f * Lanes + l] = l < n ? T.CreateTruncating(inp.R2Prev[(start + l) * s.R2 + f]) : T.Zero;
            MlpForward(Layout.Q, ch.QIn, ch.Q);
            T cq = -Two * scale;
            double r2l = 0;
            for (int i = 0; i < s.R2; i++)
                for (int l = 0; l < Lanes; l++)
                {
                    int at = i * Lanes + l;
                    if (l < n)
                    {
                        T d = ch.R2[at] - ch.Q.Out[at];
                        r2l += double.CreateTruncating(d * d);
                        ch.GQ[at] = cq * d;
                    }
                    else
                        ch.GQ[at] = T.Zero;
                }
            ch.Sums[3] += r2l;
            MlpBackward(Layout.Q, ch.Q, ch.QIn, ch.GQ, ch, ch.Grad.AsSpan(3 * Layout.Count, Layout.Count), null);
        }
    }

    /// <summary>
    /// <c>decode(z)</c> against the tile's <c>x</c>: adds the parameter gradient of
    /// <c>scale·Σ_d ℓ(decode(z)_d, x_d)</c> into gradient <paramref name="term"/>, writes the gradient w.r.t.
    /// <c>z</c> into <paramref name="gz"/> when given, and returns the loss summed over the valid lanes.
    /// </summary>
    private double Decoder(Chunk ch, T[] z, int n, T scale, int term, T[]? gz)
    {
        int D = s.D, R = s.R;
        var acc = ch.Grad.AsSpan(term * Layout.Count, Layout.Count);
        T[] y;
        if (s.Nonlinear)
        {
            MlpForward(Layout.Dec, z, ch.Dec);
            y = ch.Dec.Out;
        }
        else
        {
            Linear(p, Layout.DecW, Layout.DecB, D, R, z, ch.Y);
            y = ch.Y;
        }

        double loss = 0;
        var gy = ch.GY;
        for (int d = 0; d < D; d++)
            for (int l = 0; l < Lanes; l++)
            {
                int at = d * Lanes + l;
                if (l >= n)
                {
                    gy[at] = T.Zero;
                    continue;
                }
                T obs = ch.X[at];
                switch (s.Loss)
                {
                    case KernelLoss.Mse:
                    {
                        T pr = y[at];
                        loss += double.CreateTruncating((pr - obs) * (pr - obs));
                        gy[at] = scale * (Two * (pr - obs));
                        break;
                    }
                    case KernelLoss.Bce:
                    {
                        T pr = T.One / (T.One + T.Exp(-y[at]));
                        T l1 = T.Max(T.Log(pr), Hundred), l0 = T.Max(T.Log(T.One - pr), Hundred);
                        loss += double.CreateTruncating(-(obs * l1 + (T.One - obs) * l0));
                        T dl = (pr - obs) / T.Max(pr * (T.One - pr), BceGuard);
                        gy[at] = scale * dl * (pr * (T.One - pr));
                        break;
                    }
                    default:
                    {
                        T pr = y[at];
                        loss += double.CreateTruncating(pr - obs * T.Log(pr));
                        gy[at] = scale * (T.One - obs / pr);
                        break;
                    }
                }
            }

        if (s.Nonlinear)
            MlpBackward(Layout.Dec, ch.Dec, z, gy, ch, acc, gz);
        else
        {
            AccOuter(acc, Layout.DecW, gy, z, D, R);
            AccSum(acc, Layout.DecB, gy, D);
            if (gz is not null)
                TMul(p, Layout.DecW, D, R, gy, gz);
        }
        return loss;
    }

    /// <summary>
    /// Adds into gradient <paramref name="term"/> the parameter gradient of <c>Σ g·r̂</c> for the tile's
    /// temporal prediction (<c>temporal</c>, <c>temporal_bias</c> and the hypernetwork; <c>r2</c> and
    /// <c>r_p</c> are data).
    /// </summary>
    private void Temporal(Chunk ch, T[] g, int term)
    {
        int R = s.R, M = s.M;
        var acc = ch.Grad.AsSpan(term * Layout.Count, Layout.Count);
        var gV = Vec(g);
        var pV = Vec(ch.P);
        var wbV = Vec(ch.Wb);
        var rpV = Vec(ch.RP);
        var goV = Vec(ch.GOut);
        var tmpV = Vec(ch.Tmp);

        // ∂/∂w_k = g·P_k.
        for (int k = 0; k < M; k++)
            for (int q = 0; q < NV; q++)
            {
                var a = Vector<T>.Zero;
                for (int i = 0; i < R; i++)
                    a += gV[i * NV + q] * pV[(k * R + i) * NV + q];
                goV[k * NV + q] = a;
            }

        if (!s.LowRank)
        {
            // ∂/∂V_k[i, j] = Σ_lanes w_k·g_i·r_p,j.
            for (int k = 0; k < M; k++)
            {
                for (int i = 0; i < R; i++)
                    for (int q = 0; q < NV; q++)
                        tmpV[i * NV + q] = wbV[k * NV + q] * gV[i * NV + q];
                AccOuter(acc, Layout.Temporal + k * R * R, ch.Tmp, ch.RP, R, R);
            }
        }
        else
        {
            // V_k = U_k·U_kᵀ: ∂/∂U_k[i, c] = Σ_lanes w_k·(g_i·(r_p·U_k[:, c]) + r_p,i·(g·U_k[:, c])).
            for (int k = 0; k < M; k++)
                for (int c = 0; c < 2; c++)
                {
                    for (int q = 0; q < NV; q++)
                    {
                        var a = Vector<T>.Zero;
                        var b = Vector<T>.Zero;
                        for (int j = 0; j < R; j++)
                        {
                            var u = new Vector<T>(p[Layout.Temporal + (k * R + j) * 2 + c]);
                            a += rpV[j * NV + q] * u;
                            b += gV[j * NV + q] * u;
                        }
                        tmpV[q] = a * wbV[k * NV + q];
                        tmpV[NV + q] = b * wbV[k * NV + q];
                    }
                    for (int i = 0; i < R; i++)
                    {
                        var sum = Vector<T>.Zero;
                        for (int q = 0; q < NV; q++)
                            sum += gV[i * NV + q] * tmpV[q] + rpV[i * NV + q] * tmpV[NV + q];
                        acc[Layout.Temporal + (k * R + i) * 2 + c] += Vector.Sum(sum);
                    }
                }
        }

        if (s.DynBias)
            for (int i = 0; i < R; i++)
            {
                var sum = Vector<T>.Zero;
                var c = new Vector<T>(p[Layout.Bias + i]);
                for (int q = 0; q < NV; q++)
                {
                    sum += gV[i * NV + q] * wbV[(M + i) * NV + q];
                    goV[(M + i) * NV + q] = gV[i * NV + q] * c;
                }
                acc[Layout.Bias + i] += Vector.Sum(sum);
            }

        // Through the final ReLU, then the hypernetwork's backward.
        var hout = ch.Hyp.Out;
        for (int i = 0; i < s.O * Lanes; i++)
            if (!(hout[i] > T.Zero))
                ch.GOut[i] = T.Zero;
        MlpBackward(Layout.Hyp, ch.Hyp, ch.R2, ch.GOut, ch, acc, null);
    }

    // ---- the MLP ----

    private void MlpForward(in MlpOffsets m, T[] input, Trace t)
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
    private void MlpBackward(in MlpOffsets m, Trace t, T[] input, T[] g, Chunk ch, Span<T> acc, T[]? gIn)
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

    // ---- lane-vectorised linear algebra on [feature; lane] tiles ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Span<Vector<T>> Vec(T[] a) => MemoryMarshal.Cast<T, Vector<T>>(a.AsSpan());

    // Each output element is one sequential sum (over inputs, or over lanes before one horizontal
    // sum); the loops keep four independent sums in flight, which changes no result.

    /// <summary><c>output[o, :] = Σ_i w[o, i]·input[i, :] (+ b[o])</c> for <c>w [o; i]</c> at <paramref name="w"/>.</summary>
    private static void Linear(T[] wts, int w, int b, int o, int i, T[] input, Span<T> output)
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

    private static void Linear(T[] wts, int w, int b, int o, int i, T[] input, T[] output) =>
        Linear(wts, w, b, o, i, input, output.AsSpan());

    /// <summary><c>output[c, :] = Σ_a w[a, c]·g[a, :]</c> for <c>w [o; i]</c>.</summary>
    private static void TMul(T[] wts, int w, int o, int i, T[] g, T[] output)
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
    private static void AccOuter(Span<T> acc, int w, T[] g, T[] x, int o, int i)
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
    private static void AccSum(Span<T> acc, int b, T[] g, int o)
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

    // ---- buffers ----

    /// <summary>One MLP application's trace on a tile.</summary>
    private sealed class Trace(int hid, int output)
    {
        public readonly T[] Pre = new T[hid * Lanes];
        public readonly T[] Unit = new T[hid * Lanes];
        public readonly T[] Ed = new T[hid * Lanes];
        public readonly T[] Act = new T[hid * Lanes];
        public readonly T[] H3 = new T[hid * Lanes];
        public readonly T[] Out = new T[output * Lanes];
        public readonly T[] Sd = new T[Lanes];
    }

    /// <summary>A chunk's gradient buffer, loss sums and tile scratch.</summary>
    private sealed class Chunk
    {
        public readonly T[] Grad;
        public readonly double[] Sums = new double[4];
        public readonly T[] X, Z, R, RP, R2, RHat, Y, GY, GRHat, GT, P, Wb, GOut, Tmp, QIn, GQ, GH, GAct, GX, GPre;
        public readonly Trace Dec, Hyp, Q;

        public Chunk(TrainingShape s, int count)
        {
            Grad = new T[4 * count];
            T[] A(int features) => new T[Math.Max(features, 1) * Lanes];
            int hmax = Math.Max(s.H, s.H2);
            X = A(s.D); Z = A(s.R); R = A(s.R); RP = A(s.R); R2 = A(s.R2); RHat = A(s.R);
            Y = A(s.D); GY = A(s.D); GRHat = A(s.R); GT = A(s.R);
            P = A(s.M * s.R); Wb = A(s.O); GOut = A(s.O); Tmp = A(Math.Max(s.R, 2));
            QIn = A(s.R + s.R2); GQ = A(s.R2);
            GH = A(hmax); GAct = A(hmax); GX = A(hmax); GPre = A(hmax);
            Dec = new Trace(s.Nonlinear ? s.H : 1, s.D);
            Hyp = new Trace(s.H, s.O);
            Q = new Trace(s.R2Decoder ? s.H2 : 1, s.R2);
        }
    }
}
