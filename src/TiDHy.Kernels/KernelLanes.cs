using System;
using System.ComponentModel;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TiDHy.Kernels;

/// <summary>
/// The width of the generated inference jobs' lanes: 512-bit vectors (blocks of 16 float32 or 8 float64
/// samples) on CPUs with AVX-512, 256-bit vectors (blocks of 8 or 4) on CPUs with AVX2 alone, where .NET
/// runs <c>Vector512</c> code as calls rather than instructions (about 20 times slower). Each sample's
/// arithmetic is the same at both widths, and so are the results (the batch-wide stopping rule sums a
/// 512-bit block's two halves as two 256-bit blocks). Infrastructure for generated kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelLanes
{
    /// <summary>The environment variable that fixes <see cref="AutomaticBits"/> for a process: <c>256</c> or <c>512</c>.</summary>
    public const string Variable = "TIDHY_KERNEL_LANE_BITS";

    /// <summary>
    /// The width a call with <see cref="KernelSchedule.LaneBits"/> 0 runs at: <see cref="Variable"/> when set,
    /// else 512 when the CPU has AVX-512 (even when .NET prefers 256-bit vectors there) or
    /// <c>Vector512</c> is accelerated, else 256 when <c>Vector256</c> is, else 512.
    /// </summary>
    /// <exception cref="InvalidOperationException">The variable holds something else than 256 or 512.</exception>
    public static int AutomaticBits => automatic.Value;

    // Lazy, so that a bad value of the variable raises its own message at each call, not a type initializer's.
    private static readonly Lazy<int> automatic = new(() => Detect(Environment.GetEnvironmentVariable(Variable)));

    /// <summary>The width of <see cref="AutomaticBits"/> given the variable's value (null when unset).</summary>
    internal static int Detect(string? variable)
    {
        if (!string.IsNullOrWhiteSpace(variable))
        {
            return variable.Trim() switch
            {
                "256" => 256,
                "512" => 512,
                _ => throw new InvalidOperationException($"{Variable}={variable}: expected 256 or 512."),
            };
        }
        if (Avx512F.IsSupported || Vector512.IsHardwareAccelerated) return 512;
        return Vector256.IsHardwareAccelerated ? 256 : 512;
    }

    /// <summary>The width a call with <paramref name="schedule"/> runs at.</summary>
    public static int Bits(KernelSchedule schedule) => schedule.LaneBits == 0 ? AutomaticBits : schedule.LaneBits;

    /// <summary>Whether a call with <paramref name="settings"/> runs the 512-bit jobs.</summary>
    public static bool Wide(InferenceSettings settings) => Bits(settings.Schedule) == 512;

    /// <summary>Samples per block of <typeparamref name="T"/> at <paramref name="bits"/>.</summary>
    public static int Lanes<T>(int bits) where T : unmanaged => bits == 512 ? Vector512<T>.Count : Vector256<T>.Count;
}
