using System;
using System.ComponentModel;

namespace TiDHy.Kernels;

/// <summary>
/// What the training objective's backward pass depends on: the sizes, the observation loss, the four
/// model switches and <c>temp_weight</c>. Every other option of the configuration (inference,
/// regularisers, optimiser) leaves the objective's terms unchanged.
/// Infrastructure for generated training kernels.
/// </summary>
/// <param name="D">input_dim.</param>
/// <param name="R">r_dim.</param>
/// <param name="R2">r2_dim.</param>
/// <param name="M">mix_dim.</param>
/// <param name="H">hyper_hid_dim.</param>
/// <param name="H2">r2_decoder_hid_dim.</param>
/// <param name="Loss">The observation loss (concrete).</param>
/// <param name="Nonlinear">The nonlinear spatial decoder.</param>
/// <param name="LowRank">Low-rank dynamics matrices.</param>
/// <param name="DynBias">The dynamic bias.</param>
/// <param name="R2Decoder">The r2 decoder.</param>
/// <param name="TempWeight">temp_weight.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly record struct TrainingShape(
    int D,
    int R,
    int R2,
    int M,
    int H,
    int H2,
    KernelLoss Loss,
    bool Nonlinear,
    bool LowRank,
    bool DynBias,
    bool R2Decoder,
    double TempWeight)
{
    /// <summary>Hypernetwork outputs: M, or M + R with the dynamic bias.</summary>
    public int O => DynBias ? M + R : M;

    /// <summary>The kernels' options of this shape (batch scaling and convergence, which the objective does not read, left at <c>Any</c>).</summary>
    public KernelOptions Options => new(
        Loss, Nonlinear ? KernelDecoder.Nonlinear : KernelDecoder.Linear, KernelOptions.Switch(LowRank), KernelOptions.Switch(DynBias),
        KernelOptions.Switch(R2Decoder), KernelScaling.Any, KernelConvergence.Any);

    /// <summary>Raises <see cref="ArgumentException"/> naming the first impossible field.</summary>
    public void Check()
    {
        if (D < 1 || R < 1 || R2 < 1 || M < 1 || H < 1 || H2 < 1)
            throw new ArgumentException($"shape: every size must be at least 1, got D={D}, R={R}, R2={R2}, M={M}, H={H}, H2={H2}.", "shape");
        if (Loss is not (KernelLoss.Mse or KernelLoss.Bce or KernelLoss.Poisson))
            throw new ArgumentException($"shape: the loss must be Mse, Bce or Poisson, got {Loss}.", "shape");
        if (!double.IsFinite(TempWeight) || TempWeight < 0)
            throw new ArgumentException($"shape: temp_weight must be finite and non-negative, got {TempWeight}.", "shape");
    }
}

/// <summary>
/// The offsets of one MLP (<c>Linear(i→h), LayerNorm(h), ELU, Linear(h→h), Linear(h→o)</c>) in a packed
/// parameter vector: state_dict layers <c>.0</c>, <c>.1</c>, <c>.3</c>, <c>.4</c>; <see cref="B4"/> is -1
/// without an output bias.
/// Infrastructure for generated training kernels.
/// </summary>
/// <param name="In">Inputs.</param>
/// <param name="Hid">Hidden units.</param>
/// <param name="Out">Outputs.</param>
/// <param name="W0">Layer 0's weight <c>[Hid; In]</c>.</param>
/// <param name="B0">Layer 0's bias.</param>
/// <param name="Gamma">The LayerNorm's scale.</param>
/// <param name="Beta">The LayerNorm's shift.</param>
/// <param name="W3">Layer 3's weight <c>[Hid; Hid]</c>.</param>
/// <param name="B3">Layer 3's bias.</param>
/// <param name="W4">Layer 4's weight <c>[Out; Hid]</c>.</param>
/// <param name="B4">Layer 4's bias, or -1.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly record struct MlpOffsets(int In, int Hid, int Out, int W0, int B0, int Gamma, int Beta, int W3, int B3, int W4, int B4);

/// <summary>
/// The packed parameter vector of the training kernel: every tensor row-major, one after another, in
/// upstream's state_dict order (<c>ParamLayout.expected</c> in TiDHy.Functional): <c>temporal</c>,
/// <c>temporal_bias</c>, the spatial decoder, the hypernetwork, the r2 decoder. Gradients share it.
/// Offsets of absent tensors are -1.
/// Infrastructure for generated training kernels.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TrainingLayout
{
    /// <summary>The shape the layout is for.</summary>
    public TrainingShape Shape { get; }
    /// <summary><c>temporal</c>: <c>[M; R·R]</c>, or <c>[M; R; 2]</c> when low rank.</summary>
    public int Temporal { get; }
    /// <summary><c>temporal_bias [R]</c>, or -1.</summary>
    public int Bias { get; }
    /// <summary>The linear decoder's weight <c>[D; R]</c>, or -1.</summary>
    public int DecW { get; } = -1;
    /// <summary>The linear decoder's bias <c>[D]</c>, or -1.</summary>
    public int DecB { get; } = -1;
    /// <summary>The nonlinear decoder (valid when <see cref="TrainingShape.Nonlinear"/>).</summary>
    public MlpOffsets Dec { get; }
    /// <summary>The hypernetwork <c>R2 → H → H → O</c> (no output bias with the dynamic bias).</summary>
    public MlpOffsets Hyp { get; }
    /// <summary>The r2 decoder <c>R+R2 → H2 → H2 → R2</c> (valid when <see cref="TrainingShape.R2Decoder"/>).</summary>
    public MlpOffsets Q { get; }
    /// <summary>The number of parameters.</summary>
    public int Count { get; }

    /// <summary>The layout of <paramref name="shape"/> (checked).</summary>
    public TrainingLayout(TrainingShape shape)
    {
        shape.Check();
        Shape = shape;
        int at = 0;
        int Take(int n) { int o = at; at += n; return o; }
        MlpOffsets Mlp(int i, int h, int o, bool outBias) =>
            new(i, h, o, Take(h * i), Take(h), Take(h), Take(h), Take(h * h), Take(h), Take(o * h), outBias ? Take(o) : -1);

        Temporal = Take(shape.LowRank ? shape.M * shape.R * 2 : shape.M * shape.R * shape.R);
        Bias = shape.DynBias ? Take(shape.R) : -1;
        if (shape.Nonlinear)
            Dec = Mlp(shape.R, shape.H, shape.D, true);
        else
        {
            DecW = Take(shape.D * shape.R);
            DecB = Take(shape.D);
        }
        Hyp = Mlp(shape.R2, shape.H, shape.O, !shape.DynBias);
        if (shape.R2Decoder)
            Q = Mlp(shape.R + shape.R2, shape.H2, shape.R2, true);
        Count = at;
    }
}
