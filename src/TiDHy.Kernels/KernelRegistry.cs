using System;
using System.Collections.Generic;
using System.ComponentModel;

namespace TiDHy.Kernels;

/// <summary>
/// Every generated kernel of the loaded assemblies (each registers itself from a module initializer
/// emitted by TiDHy.Generators). <see cref="Find"/> returns the most specific kernel that matches a
/// configuration; among equally specific ones, the one registered last (an application's own variant
/// wins over the library's). Infrastructure for generated kernels: TiDHy.Functional chooses a kernel
/// for a configuration with it.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelRegistry
{
    private static readonly object Gate = new();
    private static InferenceKernel[] kernels = [];

    /// <summary>Adds a kernel (idempotent). Infrastructure for generated kernels.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void Register(InferenceKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        lock (Gate)
        {
            if (Array.IndexOf(kernels, kernel) >= 0) return;
            var next = new InferenceKernel[kernels.Length + 1];
            kernels.CopyTo(next, 0);
            next[^1] = kernel;
            kernels = next;
        }
    }

    /// <summary>The registered kernels, in registration order.</summary>
    internal static IReadOnlyList<InferenceKernel> All => kernels;

    /// <summary>The most specific registered kernel that can run the concrete <paramref name="options"/> and <paramref name="sizes"/>, or null.</summary>
    internal static InferenceKernel? Find(in KernelOptions options, in KernelSizes sizes)
    {
        InferenceKernel? best = null;
        int bestScore = -1;
        foreach (var k in kernels)
        {
            if (!k.Variant.Matches(options, sizes)) continue;
            int s = k.Variant.Specificity;
            if (s >= bestScore)
            {
                best = k;
                bestScore = s;
            }
        }
        return best;
    }

    /// <summary>
    /// The most specific registered kernel whose training pass runs <paramref name="shape"/>, or null. The
    /// training objective does not depend on the batch scaling or the convergence mode, so those are not
    /// matched and do not count towards specificity; among equally specific kernels, the one registered last.
    /// </summary>
    internal static InferenceKernel? FindTraining(in TrainingShape shape)
    {
        var o = shape.Options;
        var z = new KernelSizes(shape.D, shape.R, shape.R2, shape.M, shape.H, shape.H2);
        InferenceKernel? best = null;
        int bestScore = -1;
        foreach (var k in kernels)
        {
            var v = k.Variant;
            var query = o with { Scaling = v.Options.Scaling, Convergence = v.Options.Convergence };
            if (!v.Matches(query, z)) continue;
            var fixedOptions = v.Options with { Scaling = KernelScaling.Any, Convergence = KernelConvergence.Any };
            int s = fixedOptions.FixedCount + v.Sizes.FixedCount;
            if (s >= bestScore)
            {
                best = k;
                bestScore = s;
            }
        }
        return best;
    }
}
