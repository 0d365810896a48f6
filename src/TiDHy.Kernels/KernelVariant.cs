using System;

namespace TiDHy.Kernels;

/// <summary>
/// Declares a fused inference kernel on a <c>static partial class</c>: TiDHy.Generators emits the
/// whole inner loop of MODEL.md's <c>inf</c> and <c>inf_first_step</c> for the named model variant,
/// in float32 and float64, and the training objective's backward pass (<see cref="InferenceKernel.CreateTraining"/>)
/// for the same variant. Options left at <c>Any</c> and sizes left at 0 are read at run time;
/// the others become constants. The kernel registers itself with <see cref="KernelRegistry"/>.
/// The named arguments fill <see cref="Options"/> and <see cref="Sizes"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class TiDHyKernelAttribute : Attribute
{
    /// <summary>The options this declaration fixes (<c>Any</c> where left to run time).</summary>
    public KernelOptions Options { get; private set; }

    /// <summary>The sizes this declaration fixes (0 where left to run time).</summary>
    public KernelSizes Sizes { get; private set; }

    /// <summary>The loss.</summary>
    public KernelLoss Loss { get => Options.Loss; set => Options = Options with { Loss = value }; }
    /// <summary>The spatial decoder.</summary>
    public KernelDecoder Decoder { get => Options.Decoder; set => Options = Options with { Decoder = value }; }
    /// <summary>Low-rank dynamics matrices.</summary>
    public KernelSwitch LowRank { get => Options.LowRank; set => Options = Options with { LowRank = value }; }
    /// <summary>The dynamic bias.</summary>
    public KernelSwitch DynBias { get => Options.DynBias; set => Options = Options with { DynBias = value }; }
    /// <summary>The r2 decoder.</summary>
    public KernelSwitch R2Decoder { get => Options.R2Decoder; set => Options = Options with { R2Decoder = value }; }
    /// <summary>The batch scaling.</summary>
    public KernelScaling Scaling { get => Options.Scaling; set => Options = Options with { Scaling = value }; }
    /// <summary>The convergence mode.</summary>
    public KernelConvergence Convergence { get => Options.Convergence; set => Options = Options with { Convergence = value }; }
    /// <summary>input_dim, or 0 for a run-time size.</summary>
    public int D { get => Sizes.D; set => Sizes = Sizes with { D = value }; }
    /// <summary>r_dim, or 0.</summary>
    public int R { get => Sizes.R; set => Sizes = Sizes with { R = value }; }
    /// <summary>r2_dim, or 0.</summary>
    public int R2 { get => Sizes.R2; set => Sizes = Sizes with { R2 = value }; }
    /// <summary>mix_dim, or 0.</summary>
    public int M { get => Sizes.M; set => Sizes = Sizes with { M = value }; }
    /// <summary>hyper_hid_dim, or 0.</summary>
    public int H { get => Sizes.H; set => Sizes = Sizes with { H = value }; }
    /// <summary>r2_decoder_hid_dim, or 0.</summary>
    public int H2 { get => Sizes.H2; set => Sizes = Sizes with { H2 = value }; }
}

/// <summary>What a generated kernel is specialised for: each option fixed or <c>Any</c>, each size fixed or 0.</summary>
/// <param name="Name">The declaring class's full name.</param>
/// <param name="Options">The options.</param>
/// <param name="Sizes">The sizes.</param>
public sealed record KernelVariant(string Name, KernelOptions Options, KernelSizes Sizes)
{
    /// <summary>How many options and sizes are fixed: among matching kernels the registry picks the highest.</summary>
    public int Specificity => Options.FixedCount + Sizes.FixedCount;

    /// <summary>True when this kernel can run a configuration with the concrete <paramref name="options"/> and <paramref name="sizes"/>.</summary>
    public bool Matches(in KernelOptions options, in KernelSizes sizes) => Options.Covers(options) && Sizes.Covers(sizes);
}
