// The kernels' options and sizes: one definition, compiled into TiDHy.Kernels (public) and linked into
// TiDHy.Generators (internal, BUILDING_SOURCE_GENERATOR), so that the attribute, the registry, the
// run-time settings and the generator's spec all use these types and compare enum values.
using System;

namespace TiDHy.Kernels;

/// <summary>The observation loss a kernel handles; <see cref="Any"/> leaves it to run time.</summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
enum KernelLoss
{
    /// <summary>Chosen at run time from the settings.</summary>
    Any = 0,
    /// <summary>Squared error.</summary>
    Mse = 1,
    /// <summary>Binary cross-entropy through a sigmoid decoder output.</summary>
    Bce = 2,
    /// <summary>Poisson negative log-likelihood.</summary>
    Poisson = 3,
}

/// <summary>The spatial decoder a kernel handles.</summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
enum KernelDecoder
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary><c>Linear(R→D)</c>.</summary>
    Linear = 1,
    /// <summary><c>Linear(R→H), LayerNorm, ELU, Linear(H→H), Linear(H→D)</c>.</summary>
    Nonlinear = 2,
}

/// <summary>An on/off model option (low rank, dynamic bias, r2 decoder).</summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
enum KernelSwitch
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary>The option is off.</summary>
    Off = 1,
    /// <summary>The option is on.</summary>
    On = 2,
}

/// <summary>How inference scales the per-sample data terms.</summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
enum KernelScaling
{
    /// <summary>Chosen at run time.</summary>
    Any = 0,
    /// <summary>Averaged over the batch (upstream).</summary>
    BatchMean = 1,
    /// <summary>Each sample's own sum.</summary>
    PerSample = 2,
}

/// <summary>When inference stops.</summary>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
enum KernelConvergence
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
/// The model options of a kernel: what a kernel is specialised for (each option fixed, or <c>Any</c>
/// for a run-time choice), or, with every option concrete, the options of one configuration (the
/// registry's query and the run-time settings).
/// </summary>
/// <param name="Loss">loss_type.</param>
/// <param name="Decoder">The spatial decoder (nonlin_decoder).</param>
/// <param name="LowRank">low_rank_temp.</param>
/// <param name="DynBias">dyn_bias.</param>
/// <param name="R2Decoder">use_r2_decoder.</param>
/// <param name="Scaling">The batch scaling of the data terms.</param>
/// <param name="Convergence">The convergence mode.</param>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
readonly record struct KernelOptions(
    KernelLoss Loss,
    KernelDecoder Decoder,
    KernelSwitch LowRank,
    KernelSwitch DynBias,
    KernelSwitch R2Decoder,
    KernelScaling Scaling,
    KernelConvergence Convergence)
{
    /// <summary>The switch for an on/off option.</summary>
    public static KernelSwitch Switch(bool on) => on ? KernelSwitch.On : KernelSwitch.Off;

    /// <summary>How many options are fixed (not <c>Any</c>).</summary>
    public int FixedCount =>
        (Loss != KernelLoss.Any ? 1 : 0) + (Decoder != KernelDecoder.Any ? 1 : 0) + (LowRank != KernelSwitch.Any ? 1 : 0)
        + (DynBias != KernelSwitch.Any ? 1 : 0) + (R2Decoder != KernelSwitch.Any ? 1 : 0) + (Scaling != KernelScaling.Any ? 1 : 0)
        + (Convergence != KernelConvergence.Any ? 1 : 0);

    /// <summary>True when no option is <c>Any</c>.</summary>
    public bool IsConcrete => FixedCount == 7;

    /// <summary>True when these options (fixed or <c>Any</c>) admit the concrete options <paramref name="c"/>.</summary>
    public bool Covers(in KernelOptions c) =>
        (Loss == KernelLoss.Any || Loss == c.Loss)
        && (Decoder == KernelDecoder.Any || Decoder == c.Decoder)
        && (LowRank == KernelSwitch.Any || LowRank == c.LowRank)
        && (DynBias == KernelSwitch.Any || DynBias == c.DynBias)
        && (R2Decoder == KernelSwitch.Any || R2Decoder == c.R2Decoder)
        && (Scaling == KernelScaling.Any || Scaling == c.Scaling)
        && (Convergence == KernelConvergence.Any || Convergence == c.Convergence);
}

/// <summary>
/// The sizes of a kernel (each fixed, or 0 for a run-time size), or, all positive, of one configuration.
/// </summary>
/// <param name="D">input_dim.</param>
/// <param name="R">r_dim.</param>
/// <param name="R2">r2_dim.</param>
/// <param name="M">mix_dim.</param>
/// <param name="H">hyper_hid_dim.</param>
/// <param name="H2">r2_decoder_hid_dim.</param>
#if BUILDING_SOURCE_GENERATOR
internal
#else
public
#endif
readonly record struct KernelSizes(int D, int R, int R2, int M, int H, int H2)
{
    /// <summary>How many sizes are fixed (not 0).</summary>
    public int FixedCount =>
        (D != 0 ? 1 : 0) + (R != 0 ? 1 : 0) + (R2 != 0 ? 1 : 0) + (M != 0 ? 1 : 0) + (H != 0 ? 1 : 0) + (H2 != 0 ? 1 : 0);

    private static bool Fits(int fixedSize, int size) => fixedSize == 0 || fixedSize == size;

    /// <summary>True when these sizes (fixed or 0) admit the concrete sizes <paramref name="c"/>.</summary>
    public bool Covers(in KernelSizes c) =>
        Fits(D, c.D) && Fits(R, c.R) && Fits(R2, c.R2) && Fits(M, c.M) && Fits(H, c.H) && Fits(H2, c.H2);
}
