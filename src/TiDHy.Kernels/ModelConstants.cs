// The constants and rules of MODEL.md that the reference path (F#, TiDHy.Functional) and the generated
// kernels (C#) share: defined once here, used by name by both (the generator links this file and emits
// references to these fields, never a second literal).
using System;

namespace TiDHy.Kernels;

/// <summary>
/// MODEL.md's constants shared by the reference path and the generated kernels, and the step-size
/// schedule of <c>r</c>.
/// </summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
static class ModelConstants
{
    /// <summary>Nesterov momentum of inference's inner SGD (MODEL.md step 4).</summary>
    public const double NesterovMomentum = 0.9;

    /// <summary>AdamW's first-moment decay β1 (PyTorch's default; <c>inf_first_step</c> and training).</summary>
    public const double AdamBeta1 = 0.9;

    /// <summary>AdamW's second-moment decay β2 (PyTorch's default).</summary>
    public const double AdamBeta2 = 0.999;

    /// <summary>AdamW's denominator floor eps (PyTorch's default).</summary>
    public const double AdamEps = 1e-8;

    /// <summary>The weight decay of <c>inf_first_step</c>'s AdamW (PyTorch's default).</summary>
    public const double FirstStepWeightDecay = 0.01;

    /// <summary>LayerNorm's epsilon (PyTorch's default).</summary>
    public const double LayerNormEps = 1e-5;

    /// <summary>The guard of the relative change <c>‖a − a_old‖ / (‖a_old‖ + 1e-16)</c> (MODEL.md step 6).</summary>
    public const double RelChangeGuard = 1e-16;

    /// <summary>The floor of <c>p·(1 − p)</c> in the BCE derivative (PyTorch's BCELoss).</summary>
    public const double BceGuard = 1e-12;

    /// <summary>
    /// The step size of <c>r</c> at iteration <paramref name="i"/> (from 0), MODEL.md step 4:
    /// <c>lrR·0.5^k</c>, <c>k</c> the number of milestones <c>m, 2m, … &lt; maxIter</c> that are
    /// <c>≤ i</c>, with <c>m = maxIter div 10</c>.
    /// </summary>
    public static double RStepSize(double lrR, int maxIter, int i)
    {
        if (maxIter < 10) throw new ArgumentOutOfRangeException(nameof(maxIter), maxIter, "maxIter: must be at least 10.");
        if (i < 0) throw new ArgumentOutOfRangeException(nameof(i), i, "i: must be >= 0.");
        int m = maxIter / 10;
        int k = Math.Min(i / m, (maxIter - 1) / m);
        double half = 1.0;
        for (int j = 0; j < k; j++) half *= 0.5;
        return lrR * half;
    }
}
