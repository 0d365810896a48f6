using System;

namespace TiDHy.Kernels;

/// <summary>
/// The MLP shape used three times by TiDHy (<c>Linear(i→h), LayerNorm(h), ELU, Linear(h→h), Linear(h→o)</c>),
/// float64, row-major PyTorch layouts.
/// </summary>
/// <param name="W0">.0.weight [h×i].</param>
/// <param name="B0">.0.bias [h].</param>
/// <param name="Gamma">.1.weight [h].</param>
/// <param name="Beta">.1.bias [h].</param>
/// <param name="W3">.3.weight [h×h].</param>
/// <param name="B3">.3.bias [h].</param>
/// <param name="W4">.4.weight [o×h].</param>
/// <param name="B4">.4.bias [o], or null (the hypernetwork with a dynamic bias).</param>
internal sealed record KernelMlp(double[] W0, double[] B0, double[] Gamma, double[] Beta, double[] W3, double[] B3, double[] W4, double[]? B4);

/// <summary>
/// A TiDHy parameter set in float64 with the state_dict layouts of MODEL.md, the input from which
/// <see cref="KernelWeights{T}"/> packs a kernel's parameter block.
/// </summary>
internal sealed class KernelModel
{
    /// <summary>Creates a model description; shapes are checked against the sizes.</summary>
    /// <param name="sizes">D, R, R2, M, H, H2 (all positive).</param>
    /// <param name="linearDecoder">spatial_decoder.0 [D×R] and bias [D] when the decoder is linear, else null.</param>
    /// <param name="linearDecoderBias">spatial_decoder.0.bias [D] when linear.</param>
    /// <param name="nonlinearDecoder">The nonlinear decoder MLP (i = R, o = D), else null.</param>
    /// <param name="temporal">temporal: [M×R·R] full rank, or [M×R×2] low rank.</param>
    /// <param name="lowRank">True when <paramref name="temporal"/> holds the low-rank factors.</param>
    /// <param name="temporalBias">temporal_bias [R], or null without dyn_bias.</param>
    /// <param name="hypernet">The hypernetwork MLP (i = R2, o = M or M+R).</param>
    /// <param name="r2Decoder">The r2 decoder MLP (i = R+R2, h = H2, o = R2), or null.</param>
    public KernelModel(
        KernelSizes sizes,
        double[]? linearDecoder, double[]? linearDecoderBias, KernelMlp? nonlinearDecoder,
        double[] temporal, bool lowRank, double[]? temporalBias, KernelMlp hypernet, KernelMlp? r2Decoder)
    {
        Sizes = sizes;
        LinearDecoder = linearDecoder; LinearDecoderBias = linearDecoderBias; NonlinearDecoder = nonlinearDecoder;
        Temporal = temporal ?? throw new ArgumentNullException(nameof(temporal));
        LowRank = lowRank; TemporalBias = temporalBias;
        Hypernet = hypernet ?? throw new ArgumentNullException(nameof(hypernet));
        R2Decoder = r2Decoder;
        Check();
    }

    /// <summary>The sizes.</summary>
    public KernelSizes Sizes { get; }
    private int D => Sizes.D;
    private int R => Sizes.R;
    private int R2 => Sizes.R2;
    private int M => Sizes.M;
    private int H => Sizes.H;
    private int H2 => Sizes.H2;
    /// <summary>Hypernetwork outputs: M, or M+R with a dynamic bias.</summary>
    public int O => TemporalBias is null ? M : M + R;
    /// <summary>Linear decoder weight [D×R] or null.</summary>
    public double[]? LinearDecoder { get; }
    /// <summary>Linear decoder bias [D] or null.</summary>
    public double[]? LinearDecoderBias { get; }
    /// <summary>Nonlinear decoder or null.</summary>
    public KernelMlp? NonlinearDecoder { get; }
    /// <summary>temporal.</summary>
    public double[] Temporal { get; }
    /// <summary>Low-rank dynamics.</summary>
    public bool LowRank { get; }
    /// <summary>temporal_bias [R] or null.</summary>
    public double[]? TemporalBias { get; }
    /// <summary>The hypernetwork.</summary>
    public KernelMlp Hypernet { get; }
    /// <summary>The r2 decoder or null.</summary>
    public KernelMlp? R2Decoder { get; }

    private KernelWeights<float>? single;
    private KernelWeights<double>? dbl;

    /// <summary>The packed float32 parameter block (built once).</summary>
    public KernelWeights<float> Single => single ??= KernelWeights<float>.Pack(this);

    /// <summary>The packed float64 parameter block (built once).</summary>
    public KernelWeights<double> Double => dbl ??= KernelWeights<double>.Pack(this);

    /// <summary>
    /// Packs the blocks already built (<see cref="Single"/>, <see cref="Double"/>) again, in place, after the
    /// caller overwrote this model's tensors (the arrays it was made with) with new values: the blocks then
    /// hold what a new model of these values would pack, and no block is allocated.
    /// </summary>
    internal void Refill()
    {
        single?.Refill(this);
        dbl?.Refill(this);
    }

    private static void Need(double[]? a, int n, string name)
    {
        if (a is null) throw new ArgumentException($"{name}: missing.", name);
        if (a.Length != n) throw new ArgumentException($"{name}: expected {n} values, got {a.Length}.", name);
    }

    // The error messages name the state_dict leaves as TiDHy.Functional's ParamNames (Core/ParamNames.fs),
    // their one source of truth, writes them: this project cannot reference the F# library, so the names
    // are repeated here, and the test ParamNamesTests checks that every one agrees.
    private static void NeedMlp(KernelMlp mlp, int i, int h, int o, bool bias, string name)
    {
        Need(mlp.W0, h * i, name + ".0.weight");
        Need(mlp.B0, h, name + ".0.bias");
        Need(mlp.Gamma, h, name + ".1.weight");
        Need(mlp.Beta, h, name + ".1.bias");
        Need(mlp.W3, h * h, name + ".3.weight");
        Need(mlp.B3, h, name + ".3.bias");
        Need(mlp.W4, o * h, name + ".4.weight");
        if (bias) Need(mlp.B4, o, name + ".4.bias");
        else if (mlp.B4 is not null) throw new ArgumentException($"{name}.4.bias: must be absent with dyn_bias.", name);
    }

    private void Check()
    {
        foreach (var (n, v) in new[] { ("D", D), ("R", R), ("R2", R2), ("M", M), ("H", H), ("H2", H2) })
            if (v <= 0) throw new ArgumentOutOfRangeException(n, v, $"{n}: must be positive.");
        if ((LinearDecoder is null) == (NonlinearDecoder is null))
            throw new ArgumentException("Exactly one of linearDecoder and nonlinearDecoder must be given.");
        if (LinearDecoder is not null)
        {
            Need(LinearDecoder, D * R, "spatial_decoder.0.weight");
            Need(LinearDecoderBias, D, "spatial_decoder.0.bias");
        }
        if (NonlinearDecoder is not null) NeedMlp(NonlinearDecoder, R, H, D, true, "spatial_decoder");
        Need(Temporal, LowRank ? M * R * 2 : M * R * R, "temporal");
        if (TemporalBias is not null) Need(TemporalBias, R, "temporal_bias");
        NeedMlp(Hypernet, R2, H, O, TemporalBias is null, "hypernet");
        if (R2Decoder is not null) NeedMlp(R2Decoder, R + R2, H2, R2, true, "R2_Decoder");
    }
}
