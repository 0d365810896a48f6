using System;
using System.Collections.Generic;

namespace TiDHy.Kernels;

/// <summary>
/// Every generated kernel of the loaded assemblies (each registers itself from a module initializer
/// emitted by TiDHy.Generators). <see cref="Find"/> returns the most specific kernel that matches a
/// configuration; among equally specific ones, the one registered last (an application's own variant
/// wins over the library's).
/// </summary>
public static class KernelRegistry
{
    private static readonly object Gate = new();
    private static InferenceKernel[] kernels = [];

    /// <summary>Adds a kernel (idempotent).</summary>
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
    public static IReadOnlyList<InferenceKernel> All => kernels;

    /// <summary>The most specific registered kernel that can run <paramref name="q"/>, or null.</summary>
    public static InferenceKernel? Find(in KernelQuery q)
    {
        InferenceKernel? best = null;
        int bestScore = -1;
        foreach (var k in kernels)
        {
            if (!k.Variant.Matches(q)) continue;
            int s = k.Variant.Specificity;
            if (s >= bestScore)
            {
                best = k;
                bestScore = s;
            }
        }
        return best;
    }
}
