using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TiDHy.Kernels;

/// <summary>
/// Elementwise functions on sample lanes that the generated kernels inline. The runtime's
/// <c>Vector512.Exp</c> is not inlined and starts as unoptimised tier-0 code, which slows the first
/// second of every process threefold; these are compiled fully optimised into their callers.
/// Infrastructure for generated kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LaneMath
{
    private const MethodImplOptions Inline = MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization;

    // 2^k without a float-to-integer conversion: k is a whole number (|k| ≤ 1023), so k + 1.5·2^23
    // (1.5·2^52) is exact and its bits are the magic's bits plus k; the magic's low 9 (12) bits are
    // zero and k + 127 (k + 1023) fits in them, so shifting the bits plus the bias left by 23 (52)
    // gives the same exponent bits as converting k. AVX2 has no vector double-to-long conversion
    // (.NET ran four scalar conversions through the stack per vector), and ConvertToInt32 adds a
    // saturation fix-up of four instructions.
    private const float RoundF = 12582912.0f;
    private const double RoundD = 6755399441055744.0;

    /// <summary>
    /// <c>exp(x)</c> in float32 to about 1 ulp: <c>x = k·ln2 + r</c> with <c>|r| ≤ ln2/2</c> (Cody–Waite),
    /// a degree-7 Taylor polynomial for <c>exp(r)</c>, and <c>2^k</c> from the exponent bits (of <c>k + 1.5·2^23</c>, with no conversion). Arguments are
    /// clamped to [−87.3, 88.7] (results stay finite and normal).
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-87.3f)), Vector512.Create(88.7f));
        var k = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.0f / 5040.0f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0f / 720.0f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0f / 120.0f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0f / 24.0f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0f / 6.0f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        var scale = Vector512.ShiftLeft((k + Vector512.Create(RoundF)).AsInt32() + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    /// <summary>
    /// <c>exp(x)</c> in float64 to a few ulp: Cody–Waite reduction as above and a degree-13 Taylor
    /// polynomial. Arguments are clamped to [−708, 709].
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector512<double> Exp(Vector512<double> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-708.0)), Vector512.Create(709.0));
        var k = Vector512.Round(x * Vector512.Create(1.4426950408889634));
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-6.93147180369123816490e-01), x);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-1.90821492927058770002e-10), r);
        var p = Vector512.Create(1.0 / 6227020800.0);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 479001600.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 39916800.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 3628800.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 362880.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 40320.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 5040.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 720.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 120.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 24.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 6.0));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        var scale = Vector512.ShiftLeft((k + Vector512.Create(RoundD)).AsInt64() + Vector512.Create(1023L), 52).AsDouble();
        return p * scale;
    }
    /// <summary><see cref="Exp(Vector512{float})"/> on 256-bit lanes: the same operations, so the same bits per lane.</summary>
    [MethodImpl(Inline)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.7f));
        var k = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.0f / 5040.0f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0f / 720.0f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0f / 120.0f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0f / 24.0f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0f / 6.0f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        var scale = Vector256.ShiftLeft((k + Vector256.Create(RoundF)).AsInt32() + Vector256.Create(127), 23).AsSingle();
        return p * scale;
    }

    /// <summary><see cref="Exp(Vector512{double})"/> on 256-bit lanes: the same operations, so the same bits per lane.</summary>
    [MethodImpl(Inline)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-708.0)), Vector256.Create(709.0));
        var k = Vector256.Round(x * Vector256.Create(1.4426950408889634));
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-6.93147180369123816490e-01), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-1.90821492927058770002e-10), r);
        var p = Vector256.Create(1.0 / 6227020800.0);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 479001600.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 39916800.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 3628800.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 362880.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 40320.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 5040.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 720.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 120.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 24.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 6.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        var scale = Vector256.ShiftLeft((k + Vector256.Create(RoundD)).AsInt64() + Vector256.Create(1023L), 52).AsDouble();
        return p * scale;
    }

    /// <summary>
    /// The sum of a block's lanes in a fixed order on every CPU: each 256-bit half summed by
    /// <c>Vector256.Sum</c>, then the halves added (so two 256-bit blocks give the same sum).
    /// </summary>
    [MethodImpl(Inline)]
    public static float Sum(Vector512<float> v) => Vector256.Sum(v.GetLower()) + Vector256.Sum(v.GetUpper());

    /// <inheritdoc cref="Sum(Vector512{float})"/>
    [MethodImpl(Inline)]
    public static double Sum(Vector512<double> v) => Vector256.Sum(v.GetLower()) + Vector256.Sum(v.GetUpper());

    /// <summary>A 256-bit block's lanes summed by <c>Vector256.Sum</c>: one half of <see cref="Sum(Vector512{float})"/>.</summary>
    [MethodImpl(Inline)]
    public static float Sum(Vector256<float> v) => Vector256.Sum(v);

    /// <inheritdoc cref="Sum(Vector256{float})"/>
    [MethodImpl(Inline)]
    public static double Sum(Vector256<double> v) => Vector256.Sum(v);
}
