using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>The latents inferred at one time step for a batch of samples (<see cref="TiDHyModel.Infer"/>).</summary>
public sealed class InferenceResult
{
    private InferenceResult(double[,] r, double[,] r2, int iterations, bool converged, int[] sampleIterations)
    {
        R = r;
        R2 = r2;
        Iterations = iterations;
        Converged = converged;
        SampleIterations = sampleIterations;
    }

    /// <summary>Inferred <c>r</c>: <c>[batch, RDim]</c>.</summary>
    public double[,] R { get; }

    /// <summary>Inferred <c>r2</c>: <c>[batch, R2Dim]</c> (zeros after <see cref="TiDHyModel.InferFirstStep"/>).</summary>
    public double[,] R2 { get; }

    /// <summary>Inference iterations run (at most <see cref="TiDHyOptions.MaxIter"/>).</summary>
    public int Iterations { get; }

    /// <summary>True when inference stopped on the tolerance rather than at <see cref="TiDHyOptions.MaxIter"/>.</summary>
    public bool Converged { get; }

    /// <summary>Iterations that updated each sample: <c>[batch]</c>.</summary>
    public int[] SampleIterations { get; }

    internal static InferenceResult From(F.InferResult r) => new(r.R, r.R2, r.Iterations, r.Converged, r.SampleIterations);

    internal static InferenceResult From(F.FirstStepResult r, int r2Dim) =>
        new(r.R, new double[r.R.GetLength(0), r2Dim], r.Iterations, r.Converged, r.SampleIterations);
}
