using System;

namespace TiDHy.Kernels;

/// <summary>The observation loss a kernel handles; <see cref="Any"/> leaves it to run time.</summary>
public enum KernelLoss
{
    /// <summary>Chosen at run time from <see cref="InferenceSettings.Loss"/>.</summary>
    Any = 0,
    /// <summary>Squared error.</summary>
    Mse = 1,
    /// <summary>Binary cross-entropy through a sigmoid decoder output.</summary>
    Bce = 2,
    /// <summary>Poisson negative log-likelihood.</summary>
    Poisson = 3,
}

/// <summary>The spatial decoder a kernel handles.</summary>
public enum KernelDecoder
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary><c>Linear(R→D)</c>.</summary>
    Linear = 1,
    /// <summary><c>Linear(R→H), LayerNorm, ELU, Linear(H→H), Linear(H→D)</c>.</summary>
    Nonlinear = 2,
}

/// <summary>An on/off model option (low rank, dynamic bias, r2 decoder).</summary>
public enum KernelSwitch
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary>The option is off.</summary>
    Off = 1,
    /// <summary>The option is on.</summary>
    On = 2,
}

/// <summary>How inference scales the per-sample data terms.</summary>
public enum KernelScaling
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary>Averaged over the batch (upstream).</summary>
    BatchMean = 1,
    /// <summary>Each sample's own sum.</summary>
    PerSample = 2,
}

/// <summary>When inference stops.</summary>
public enum KernelConvergence
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary>Relative change of the whole batch below tol.</summary>
    Batch = 1,
    /// <summary>Every sample's relative change below tol, one batch-wide stop.</summary>
    AllSamples = 2,
    /// <summary>Each sample stops on its own.</summary>
    PerSample = 3,
}

/// <summary>
/// Declares a fused inference kernel on a <c>static partial class</c>: TiDHy.Generators emits the
/// whole inner loop of MODEL.md's <c>inf</c> and <c>inf_first_step</c> for the named model variant,
/// in float32 and float64. Options left at <c>Any</c> and sizes left at 0 are read at run time;
/// the others become constants. The kernel registers itself with <see cref="KernelRegistry"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class TiDHyKernelAttribute : Attribute
{
    /// <summary>The loss.</summary>
    public KernelLoss Loss { get; set; }
    /// <summary>The spatial decoder.</summary>
    public KernelDecoder Decoder { get; set; }
    /// <summary>Low-rank dynamics matrices.</summary>
    public KernelSwitch LowRank { get; set; }
    /// <summary>The dynamic bias.</summary>
    public KernelSwitch DynBias { get; set; }
    /// <summary>The r2 decoder.</summary>
    public KernelSwitch R2Decoder { get; set; }
    /// <summary>The batch scaling.</summary>
    public KernelScaling Scaling { get; set; }
    /// <summary>The convergence mode.</summary>
    public KernelConvergence Convergence { get; set; }
    /// <summary>input_dim, or 0 for a run-time size.</summary>
    public int D { get; set; }
    /// <summary>r_dim, or 0.</summary>
    public int R { get; set; }
    /// <summary>r2_dim, or 0.</summary>
    public int R2 { get; set; }
    /// <summary>mix_dim, or 0.</summary>
    public int M { get; set; }
    /// <summary>hyper_hid_dim, or 0.</summary>
    public int H { get; set; }
    /// <summary>r2_decoder_hid_dim, or 0.</summary>
    public int H2 { get; set; }
}

/// <summary>A concrete model configuration, as the registry matches it against kernel variants.</summary>
/// <param name="Loss">The loss (not <c>Any</c>).</param>
/// <param name="Decoder">The decoder (not <c>Any</c>).</param>
/// <param name="LowRank">Low-rank dynamics.</param>
/// <param name="DynBias">Dynamic bias.</param>
/// <param name="R2Decoder">The r2 decoder.</param>
/// <param name="Scaling">The batch scaling (not <c>Any</c>).</param>
/// <param name="Convergence">The convergence mode (not <c>Any</c>).</param>
/// <param name="D">input_dim.</param>
/// <param name="R">r_dim.</param>
/// <param name="R2">r2_dim.</param>
/// <param name="M">mix_dim.</param>
/// <param name="H">hyper_hid_dim.</param>
/// <param name="H2">r2_decoder_hid_dim.</param>
public readonly record struct KernelQuery(
    KernelLoss Loss,
    KernelDecoder Decoder,
    bool LowRank,
    bool DynBias,
    bool R2Decoder,
    KernelScaling Scaling,
    KernelConvergence Convergence,
    int D,
    int R,
    int R2,
    int M,
    int H,
    int H2);

/// <summary>What a generated kernel is specialised for: each option is fixed or <c>Any</c>, each size fixed or 0.</summary>
/// <param name="Name">The declaring class's full name.</param>
/// <param name="Loss">The loss.</param>
/// <param name="Decoder">The decoder.</param>
/// <param name="LowRank">Low-rank dynamics.</param>
/// <param name="DynBias">Dynamic bias.</param>
/// <param name="R2Decoder">The r2 decoder.</param>
/// <param name="Scaling">The batch scaling.</param>
/// <param name="Convergence">The convergence mode.</param>
/// <param name="D">input_dim or 0.</param>
/// <param name="R">r_dim or 0.</param>
/// <param name="R2">r2_dim or 0.</param>
/// <param name="M">mix_dim or 0.</param>
/// <param name="H">hyper_hid_dim or 0.</param>
/// <param name="H2">r2_decoder_hid_dim or 0.</param>
public sealed record KernelVariant(
    string Name,
    KernelLoss Loss,
    KernelDecoder Decoder,
    KernelSwitch LowRank,
    KernelSwitch DynBias,
    KernelSwitch R2Decoder,
    KernelScaling Scaling,
    KernelConvergence Convergence,
    int D,
    int R,
    int R2,
    int M,
    int H,
    int H2)
{
    /// <summary>How many options and sizes are fixed: among matching kernels the registry picks the highest.</summary>
    public int Specificity =>
        (Loss != KernelLoss.Any ? 1 : 0) + (Decoder != KernelDecoder.Any ? 1 : 0) + (LowRank != KernelSwitch.Any ? 1 : 0)
        + (DynBias != KernelSwitch.Any ? 1 : 0) + (R2Decoder != KernelSwitch.Any ? 1 : 0) + (Scaling != KernelScaling.Any ? 1 : 0)
        + (Convergence != KernelConvergence.Any ? 1 : 0) + (D != 0 ? 1 : 0) + (R != 0 ? 1 : 0) + (R2 != 0 ? 1 : 0)
        + (M != 0 ? 1 : 0) + (H != 0 ? 1 : 0) + (H2 != 0 ? 1 : 0);

    private static bool Fits(KernelSwitch s, bool v) => s == KernelSwitch.Any || (s == KernelSwitch.On) == v;

    private static bool Fits(int fixedSize, int size) => fixedSize == 0 || fixedSize == size;

    /// <summary>True when this kernel can run the configuration <paramref name="q"/>.</summary>
    public bool Matches(in KernelQuery q) =>
        (Loss == KernelLoss.Any || Loss == q.Loss)
        && (Decoder == KernelDecoder.Any || Decoder == q.Decoder)
        && Fits(LowRank, q.LowRank)
        && Fits(DynBias, q.DynBias)
        && Fits(R2Decoder, q.R2Decoder)
        && (Scaling == KernelScaling.Any || Scaling == q.Scaling)
        && (Convergence == KernelConvergence.Any || Convergence == q.Convergence)
        && Fits(D, q.D)
        && Fits(R, q.R)
        && Fits(R2, q.R2)
        && Fits(M, q.M)
        && Fits(H, q.H)
        && Fits(H2, q.H2);
}
