namespace TiDHy.CSharp;

/// <summary>Which implementation runs inference (and so training and evaluation).</summary>
public enum InferenceBackend
{
    /// <summary>Generated fused kernels in float64, equal to the reference to rounding (the default).</summary>
    Fused,

    /// <summary>Generated fused kernels in float32: faster, results within about 1e-3 of float64.</summary>
    FusedFloat32,

    /// <summary>The F# reference path in float64: the definition the kernels are tested against; slow.</summary>
    Reference,
}
