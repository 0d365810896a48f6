using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
    public static Vector512<float> Exp(Vector512<float> x) => ExpFrom(Vector512.Min(Vector512.Max(x, Vector512.Create(-87.3f)), Vector512.Create(88.7f)));

    /// <summary>
    /// <see cref="Exp(Vector512{float})"/> of an argument that is not positive (the ELU's <c>exp(min(x, 0))</c>): the same
    /// bits for every argument ≤ 0 (NaN gives NaN), without the upper clamp, which is the identity there.
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x) => ExpFrom(Vector512.Max(x, Vector512.Create(-87.3f)));

    /// <summary>The part of <see cref="Exp(Vector512{float})"/> after the clamp.</summary>
    [MethodImpl(Inline)]
    private static Vector512<float> ExpFrom(Vector512<float> x)
    {
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
    public static Vector512<double> Exp(Vector512<double> x) => ExpFrom(Vector512.Min(Vector512.Max(x, Vector512.Create(-708.0)), Vector512.Create(709.0)));

    /// <summary>
    /// <see cref="Exp(Vector512{double})"/> of an argument that is not positive (the ELU's <c>exp(min(x, 0))</c>): the same
    /// bits for every argument ≤ 0 (NaN gives NaN), without the upper clamp, which is the identity there.
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector512<double> ExpNonPositive(Vector512<double> x) => ExpFrom(Vector512.Max(x, Vector512.Create(-708.0)));

    /// <summary>The part of <see cref="Exp(Vector512{double})"/> after the clamp.</summary>
    [MethodImpl(Inline)]
    private static Vector512<double> ExpFrom(Vector512<double> x)
    {
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
    public static Vector256<float> Exp(Vector256<float> x) => ExpFrom(Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.7f)));

    /// <summary>
    /// <see cref="Exp(Vector256{float})"/> of an argument that is not positive (the ELU's <c>exp(min(x, 0))</c>): the same
    /// bits for every argument ≤ 0 (NaN gives NaN), without the upper clamp, which is the identity there.
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x) => ExpFrom(Vector256.Max(x, Vector256.Create(-87.3f)));

    /// <summary>The part of <see cref="Exp(Vector256{float})"/> after the clamp.</summary>
    [MethodImpl(Inline)]
    private static Vector256<float> ExpFrom(Vector256<float> x)
    {
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
    public static Vector256<double> Exp(Vector256<double> x) => ExpFrom(Vector256.Min(Vector256.Max(x, Vector256.Create(-708.0)), Vector256.Create(709.0)));

    /// <summary>
    /// <see cref="Exp(Vector256{double})"/> of an argument that is not positive (the ELU's <c>exp(min(x, 0))</c>): the same
    /// bits for every argument ≤ 0 (NaN gives NaN), without the upper clamp, which is the identity there.
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector256<double> ExpNonPositive(Vector256<double> x) => ExpFrom(Vector256.Max(x, Vector256.Create(-708.0)));

    /// <summary>The part of <see cref="Exp(Vector256{double})"/> after the clamp.</summary>
    [MethodImpl(Inline)]
    private static Vector256<double> ExpFrom(Vector256<double> x)
    {
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
    /// <see cref="ExpNonPositive(Vector512{float})"/> of two vectors (the ELU loop's pair of hidden units).
    /// </summary>
    [MethodImpl(Inline)]
    public static void ExpNonPositive(Vector512<float> x, Vector512<float> y, out Vector512<float> ex, out Vector512<float> ey)
    {
        ex = ExpNonPositive(x);
        ey = ExpNonPositive(y);
    }

    /// <summary><see cref="ExpNonPositive(Vector512{double})"/> of two vectors.</summary>
    [MethodImpl(Inline)]
    public static void ExpNonPositive(Vector512<double> x, Vector512<double> y, out Vector512<double> ex, out Vector512<double> ey)
    {
        ex = ExpNonPositive(x);
        ey = ExpNonPositive(y);
    }

    /// <summary>
    /// <see cref="ExpNonPositive(Vector256{float})"/> of two vectors, their operations interleaved: the
    /// same operations per lane, so the same bits, but the polynomial's two chains of dependent FMAs
    /// side by side (on 256-bit lanes a chain waiting alone leaves the FMA units idle).
    /// </summary>
    [MethodImpl(Inline)]
    public static void ExpNonPositive(Vector256<float> x, Vector256<float> y, out Vector256<float> ex, out Vector256<float> ey)
    {
        x = Vector256.Max(x, Vector256.Create(-87.3f));
        y = Vector256.Max(y, Vector256.Create(-87.3f));
        var kx = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        var ky = Vector256.Round(y * Vector256.Create(1.44269504088896341f));
        var rx = Vector256.FusedMultiplyAdd(kx, Vector256.Create(-0.693359375f), x);
        var ry = Vector256.FusedMultiplyAdd(ky, Vector256.Create(-0.693359375f), y);
        rx = Vector256.FusedMultiplyAdd(kx, Vector256.Create(2.12194440e-4f), rx);
        ry = Vector256.FusedMultiplyAdd(ky, Vector256.Create(2.12194440e-4f), ry);
        var px = Vector256.Create(1.0f / 5040.0f);
        var py = px;
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0f / 720.0f));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0f / 720.0f));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0f / 120.0f));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0f / 120.0f));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0f / 24.0f));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0f / 24.0f));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0f / 6.0f));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0f / 6.0f));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(0.5f));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(0.5f));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256<float>.One);
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256<float>.One);
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256<float>.One);
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256<float>.One);
        ex = px * Vector256.ShiftLeft((kx + Vector256.Create(RoundF)).AsInt32() + Vector256.Create(127), 23).AsSingle();
        ey = py * Vector256.ShiftLeft((ky + Vector256.Create(RoundF)).AsInt32() + Vector256.Create(127), 23).AsSingle();
    }

    /// <summary><see cref="ExpNonPositive(Vector256{float}, Vector256{float}, out Vector256{float}, out Vector256{float})"/> in float64.</summary>
    [MethodImpl(Inline)]
    public static void ExpNonPositive(Vector256<double> x, Vector256<double> y, out Vector256<double> ex, out Vector256<double> ey)
    {
        x = Vector256.Max(x, Vector256.Create(-708.0));
        y = Vector256.Max(y, Vector256.Create(-708.0));
        var kx = Vector256.Round(x * Vector256.Create(1.4426950408889634));
        var ky = Vector256.Round(y * Vector256.Create(1.4426950408889634));
        var rx = Vector256.FusedMultiplyAdd(kx, Vector256.Create(-6.93147180369123816490e-01), x);
        var ry = Vector256.FusedMultiplyAdd(ky, Vector256.Create(-6.93147180369123816490e-01), y);
        rx = Vector256.FusedMultiplyAdd(kx, Vector256.Create(-1.90821492927058770002e-10), rx);
        ry = Vector256.FusedMultiplyAdd(ky, Vector256.Create(-1.90821492927058770002e-10), ry);
        var px = Vector256.Create(1.0 / 6227020800.0);
        var py = px;
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 479001600.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 479001600.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 39916800.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 39916800.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 3628800.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 3628800.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 362880.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 362880.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 40320.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 40320.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 5040.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 5040.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 720.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 720.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 120.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 120.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 24.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 24.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(1.0 / 6.0));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(1.0 / 6.0));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256.Create(0.5));
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256.Create(0.5));
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256<double>.One);
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256<double>.One);
        px = Vector256.FusedMultiplyAdd(px, rx, Vector256<double>.One);
        py = Vector256.FusedMultiplyAdd(py, ry, Vector256<double>.One);
        ex = px * Vector256.ShiftLeft((kx + Vector256.Create(RoundD)).AsInt64() + Vector256.Create(1023L), 52).AsDouble();
        ey = py * Vector256.ShiftLeft((ky + Vector256.Create(RoundD)).AsInt64() + Vector256.Create(1023L), 52).AsDouble();
    }

    /// <summary>
    /// <c>mask ? a : b</c> per lane, for a mask whose lanes are all ones or all zeros (a comparison's
    /// result): one blend instruction with AVX (the runtime's <c>ConditionalSelect</c> is three bitwise
    /// operations on 256-bit vectors), the same bits.
    /// </summary>
    [MethodImpl(Inline)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> a, Vector256<float> b) =>
        Avx.IsSupported ? Avx.BlendVariable(b, a, mask) : Vector256.ConditionalSelect(mask, a, b);

    /// <summary><see cref="Select(Vector256{float}, Vector256{float}, Vector256{float})"/> in float64.</summary>
    [MethodImpl(Inline)]
    public static Vector256<double> Select(Vector256<double> mask, Vector256<double> a, Vector256<double> b) =>
        Avx.IsSupported ? Avx.BlendVariable(b, a, mask) : Vector256.ConditionalSelect(mask, a, b);

    /// <summary><c>mask ? a : b</c> per lane on 512-bit vectors (one ternary-logic instruction with AVX-512).</summary>
    [MethodImpl(Inline)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(mask, a, b);

    /// <summary><c>mask ? a : b</c> per lane on 512-bit vectors (one ternary-logic instruction with AVX-512).</summary>
    [MethodImpl(Inline)]
    public static Vector512<double> Select(Vector512<double> mask, Vector512<double> a, Vector512<double> b) => Vector512.ConditionalSelect(mask, a, b);

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
