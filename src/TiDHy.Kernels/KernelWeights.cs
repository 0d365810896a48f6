using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TiDHy.Kernels;

/// <summary>
/// A kernel's parameter block in precision <typeparamref name="T"/> (float or double): every tensor in one
/// pinned, 64-byte-aligned array, at the offsets below (-1 when absent). Two consecutive linear layers
/// with no nonlinearity between them (<c>.3</c> then <c>.4</c> of each MLP) are composed into one
/// (<c>W4·W3</c>, <c>W4·b3 + b4</c>, computed in float64), and the matrices whose transposed products the
/// analytic gradients need are also stored transposed.
/// </summary>
/// <para>Infrastructure for generated kernels: TiDHy.Functional packs it, generated code reads it.</para>
/// <typeparam name="T">float or double.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed unsafe class KernelWeights<T> where T : unmanaged
{
    private readonly T[] data;
    private readonly int origin;

    /// <summary>The sizes of the packed model.</summary>
    public KernelSizes Sizes { get; private init; }
    /// <summary>Hypernetwork outputs (M, or M+R with the dynamic bias).</summary>
    public int O { get; private init; }
    /// <summary>
    /// The options the packed model fixes: its decoder, low rank, dynamic bias and r2 decoder (loss,
    /// scaling and convergence are <c>Any</c>: the parameters do not decide them).
    /// </summary>
    public KernelOptions Options { get; private init; }

#pragma warning disable CS1591 // offsets are documented as a group in the class summary
    public int DecW { get; private init; } = -1;
    public int DecWT { get; private init; } = -1;
    public int DecB { get; private init; } = -1;
    public int Dec0W { get; private init; } = -1;
    public int Dec0WT { get; private init; } = -1;
    public int Dec0B { get; private init; } = -1;
    public int DecGamma { get; private init; } = -1;
    public int DecBeta { get; private init; } = -1;
    public int DecOW { get; private init; } = -1;
    public int DecOWT { get; private init; } = -1;
    public int DecOB { get; private init; } = -1;
    public int Temporal { get; private init; } = -1;
    public int C { get; private init; } = -1;
    public int Hyp0W { get; private init; } = -1;
    public int Hyp0WT { get; private init; } = -1;
    public int Hyp0B { get; private init; } = -1;
    public int HypGamma { get; private init; } = -1;
    public int HypBeta { get; private init; } = -1;
    public int HypOW { get; private init; } = -1;
    public int HypOWT { get; private init; } = -1;
    public int HypOB { get; private init; } = -1;
    public int Q0W { get; private init; } = -1;
    public int Q0B { get; private init; } = -1;
    public int QGamma { get; private init; } = -1;
    public int QBeta { get; private init; } = -1;
    public int QOW { get; private init; } = -1;
    public int QOB { get; private init; } = -1;
#pragma warning restore CS1591

    private KernelWeights(T[] data, int origin, List<double[]> parts, Scratch scratch)
    {
        this.data = data;
        this.origin = origin;
        this.parts = parts;
        this.scratch = scratch;
    }

    /// <summary>The first element of the block; stable for the object's lifetime (the array is pinned).</summary>
    public T* Pointer => (T*)Unsafe.AsPointer(ref data[origin]);

    /// <summary>The block's values from its first element, in the pinned array that holds them (tests compare packings through it).</summary>
    internal ArraySegment<T> Values => new(data, origin, data.Length - 64 / sizeof(T));

    private static T Cast(double v) =>
        typeof(T) == typeof(float) ? (T)(object)(float)v
        : typeof(T) == typeof(double) ? (T)(object)v
        : throw new NotSupportedException($"KernelWeights<{typeof(T).Name}>: only float and double.");

    /// <summary>Reusable scratch arrays handed out in call order (new ones while <c>reuse</c> is empty).</summary>
    private sealed class Scratch
    {
        private readonly List<double[]> arrays = [];
        private int next;

        public void Restart() => next = 0;

        public double[] Get(int n, bool clear)
        {
            if (next < arrays.Count)
            {
                var a = arrays[next++];
                if (clear) Array.Clear(a);
                return a;
            }
            var fresh = new double[n];
            arrays.Add(fresh);
            next++;
            return fresh;
        }
    }

    private static double[] Transpose(double[] a, int rows, int cols, Scratch scratch)
    {
        var t = scratch.Get(a.Length, clear: false);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[j * rows + i] = a[i * cols + j];
        return t;
    }

    /// <summary>W4·W3 [o×h] and W4·b3 + b4 [o] of an MLP's last two layers.</summary>
    private static (double[] W, double[] B) Compose(KernelMlp mlp, int h, int o, Scratch scratch)
    {
        var w = scratch.Get(o * h, clear: true);
        var b = scratch.Get(o, clear: true);
        for (int i = 0; i < o; i++)
        {
            double bi = mlp.B4 is null ? 0.0 : mlp.B4[i];
            for (int k = 0; k < h; k++)
            {
                double w4 = mlp.W4[i * h + k];
                bi += w4 * mlp.B3[k];
                for (int j = 0; j < h; j++) w[i * h + j] += w4 * mlp.W3[k * h + j];
            }
            b[i] = bi;
        }
        return (w, b);
    }

    // Refill's state: the model's parts in block order (the same arrays each time) and their scratch.
    private readonly List<double[]> parts;
    private readonly Scratch scratch;

    /// <summary>
    /// The tensors of <paramref name="m"/> in block order into <paramref name="parts"/> (cleared first),
    /// transposed and composed ones in arrays from <paramref name="scratch"/>; returns each tensor's
    /// offset in a block (aligned to <paramref name="align"/> values) and the block's length.
    /// </summary>
    private static int[] Parts(KernelModel m, List<double[]> parts, Scratch scratch, int align, out int length)
    {
        parts.Clear();
        scratch.Restart();
        int len = 0;
        int Add(double[] a)
        {
            int at = len;
            parts.Add(a);
            len += (a.Length + align - 1) / align * align;
            return at;
        }

        int decW = -1, decWT = -1, decB = -1, dec0W = -1, dec0WT = -1, dec0B = -1, decG = -1, decBeta = -1, decOW = -1, decOWT = -1, decOB = -1;
        if (m.LinearDecoder is not null)
        {
            decW = Add(m.LinearDecoder);
            decWT = Add(Transpose(m.LinearDecoder, m.Sizes.D, m.Sizes.R, scratch));
            decB = Add(m.LinearDecoderBias!);
        }
        else
        {
            var n = m.NonlinearDecoder!;
            var (ow, ob) = Compose(n, m.Sizes.H, m.Sizes.D, scratch);
            dec0W = Add(n.W0);
            dec0WT = Add(Transpose(n.W0, m.Sizes.H, m.Sizes.R, scratch));
            dec0B = Add(n.B0);
            decG = Add(n.Gamma);
            decBeta = Add(n.Beta);
            decOW = Add(ow);
            decOWT = Add(Transpose(ow, m.Sizes.D, m.Sizes.H, scratch));
            decOB = Add(ob);
        }
        int temporal = Add(m.Temporal);
        int c = m.TemporalBias is null ? -1 : Add(m.TemporalBias);
        var hy = m.Hypernet;
        var (how, hob) = Compose(hy, m.Sizes.H, m.O, scratch);
        int hyp0W = Add(hy.W0), hyp0WT = Add(Transpose(hy.W0, m.Sizes.H, m.Sizes.R2, scratch)), hyp0B = Add(hy.B0);
        int hypG = Add(hy.Gamma), hypBeta = Add(hy.Beta);
        int hypOW = Add(how), hypOWT = Add(Transpose(how, m.O, m.Sizes.H, scratch)), hypOB = Add(hob);
        int q0W = -1, q0B = -1, qG = -1, qBeta = -1, qOW = -1, qOB = -1;
        if (m.R2Decoder is { } q)
        {
            var (qow, qob) = Compose(q, m.Sizes.H2, m.Sizes.R2, scratch);
            q0W = Add(q.W0); q0B = Add(q.B0); qG = Add(q.Gamma); qBeta = Add(q.Beta); qOW = Add(qow); qOB = Add(qob);
        }

        length = len;
        return [decW, decWT, decB, dec0W, dec0WT, dec0B, decG, decBeta, decOW, decOWT, decOB, temporal, c,
                hyp0W, hyp0WT, hyp0B, hypG, hypBeta, hypOW, hypOWT, hypOB, q0W, q0B, qG, qBeta, qOW, qOB];
    }

    /// <summary>Writes <see cref="parts"/> into the block (converted to <typeparamref name="T"/>).</summary>
    private void Write(int align)
    {
        int at = origin;
        foreach (var p in parts)
        {
            for (int i = 0; i < p.Length; i++) data[at + i] = Cast(p[i]);
            at += (p.Length + align - 1) / align * align;
        }
    }

    /// <summary>
    /// Packs <paramref name="m"/> again into this block, in place, after its tensors' values changed
    /// (the same sizes and structure as when packed): the same values as a new <see cref="Pack"/>,
    /// without allocating (the transposed and composed tensors reuse this block's scratch arrays).
    /// </summary>
    internal void Refill(KernelModel m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.Sizes != Sizes || m.O != O || (m.NonlinearDecoder is not null) != (DecOW >= 0)
            || m.LowRank != (Options.LowRank == KernelSwitch.On) || (m.TemporalBias is not null) != (C >= 0)
            || (m.R2Decoder is not null) != (Q0W >= 0))
            throw new ArgumentException("m: a model of another size or structure than this block's.", nameof(m));
        Parts(m, parts, scratch, 64 / sizeof(T), out _);
        Write(64 / sizeof(T));
    }

    /// <summary>Packs <paramref name="m"/> into a new parameter block.</summary>
    internal static KernelWeights<T> Pack(KernelModel m)
    {
        ArgumentNullException.ThrowIfNull(m);
        int align = 64 / sizeof(T);
        var parts = new List<double[]>();
        var scratch = new Scratch();
        var o = Parts(m, parts, scratch, align, out int length);

        var data = GC.AllocateArray<T>(length + align, pinned: true);
        int origin = (int)((64 - ((nint)Unsafe.AsPointer(ref data[0]) & 63)) & 63) / sizeof(T);
        var w = new KernelWeights<T>(data, origin, parts, scratch)
        {
            Sizes = m.Sizes, O = m.O,
            Options = new KernelOptions(
                KernelLoss.Any,
                m.NonlinearDecoder is not null ? KernelDecoder.Nonlinear : KernelDecoder.Linear,
                KernelOptions.Switch(m.LowRank),
                KernelOptions.Switch(m.TemporalBias is not null),
                KernelOptions.Switch(m.R2Decoder is not null),
                KernelScaling.Any,
                KernelConvergence.Any),
            DecW = o[0], DecWT = o[1], DecB = o[2], Dec0W = o[3], Dec0WT = o[4], Dec0B = o[5],
            DecGamma = o[6], DecBeta = o[7], DecOW = o[8], DecOWT = o[9], DecOB = o[10],
            Temporal = o[11], C = o[12],
            Hyp0W = o[13], Hyp0WT = o[14], Hyp0B = o[15], HypGamma = o[16], HypBeta = o[17],
            HypOW = o[18], HypOWT = o[19], HypOB = o[20],
            Q0W = o[21], Q0B = o[22], QGamma = o[23], QBeta = o[24], QOW = o[25], QOB = o[26],
        };
        w.Write(align);
        return w;
    }
}
