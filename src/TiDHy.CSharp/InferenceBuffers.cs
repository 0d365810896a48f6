namespace TiDHy.CSharp;

/// <summary>
/// Caller-owned results of <see cref="TiDHyModel.InferInto(double[,], double[,], double[,], InferenceBuffers)"/>
/// for a batch of a fixed size: made once by <see cref="TiDHyModel.CreateInferenceBuffers(int)"/> and
/// reused by every later call with that many samples, which overwrites all of it (read it, or copy what
/// you keep, before the next call). The arrays are the ones written; no call replaces them.
/// </summary>
public sealed class InferenceBuffers
{
    internal InferenceBuffers(int batch, int rDimension, int r2Dimension)
    {
        R = new double[batch, rDimension];
        R2 = new double[batch, r2Dimension];
        RHat = new double[batch, rDimension];
        SampleIterations = new int[batch];
    }

    /// <summary>Samples per call: the rows of every array here.</summary>
    public int Batch => SampleIterations.Length;

    /// <summary>Inferred <c>r</c>: <c>[Batch, RDimension]</c>.</summary>
    public double[,] R { get; }

    /// <summary>Inferred <c>r2</c>: <c>[Batch, R2Dimension]</c>.</summary>
    public double[,] R2 { get; }

    /// <summary>
    /// The temporal prediction of <c>r</c> from the previous step's <c>r</c> with the inferred <c>r2</c>
    /// (what training compares <c>r</c> with): <c>[Batch, RDimension]</c>.
    /// </summary>
    public double[,] RHat { get; }

    /// <summary>Iterations that updated each sample: <c>[Batch]</c>.</summary>
    public int[] SampleIterations { get; }

    /// <summary>Inference iterations run in the last call (at most <see cref="TiDHyOptions.MaxIterations"/>): the most any batch of the call took.</summary>
    public int Iterations { get; internal set; }

    /// <summary>True when inference stopped on the tolerance rather than at <see cref="TiDHyOptions.MaxIterations"/> in every batch of the last call.</summary>
    public bool Converged { get; internal set; }
}
