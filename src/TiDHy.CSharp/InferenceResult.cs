namespace TiDHy.CSharp;

/// <summary>
/// The latents inferred at one time step for a batch of samples
/// (<see cref="TiDHyModel.Infer(double[,], double[,], double[,])"/>,
/// <see cref="TiDHyModel.InferFirstStep(double[,])"/>), with the mixture weights they give.
/// </summary>
public sealed class InferenceResult
{
    private InferenceResult(double[,] r, double[,] r2, double[,]? w, double[,]? b, int iterations, bool converged, int[] sampleIterations)
    {
        R = r;
        R2 = r2;
        W = w;
        B = b;
        Iterations = iterations;
        Converged = converged;
        SampleIterations = sampleIterations;
    }

    /// <summary>Inferred <c>r</c>: <c>[batch, RDimension]</c>.</summary>
    public double[,] R { get; }

    /// <summary>Inferred <c>r2</c>: <c>[batch, R2Dimension]</c> (zeros after <see cref="TiDHyModel.InferFirstStep(double[,])"/>).</summary>
    public double[,] R2 { get; }

    /// <summary>
    /// The mixture weights of the dynamics matrices that the inferred <c>r2</c> gives,
    /// <c>w = hypernet(r2)[0:MixtureDimension]</c>: <c>[batch, MixtureDimension]</c>; null after
    /// <see cref="TiDHyModel.InferFirstStep(double[,])"/>, where no dynamics are used.
    /// </summary>
    public double[,]? W { get; }

    /// <summary>
    /// The dynamic bias weights <c>b = hypernet(r2)[MixtureDimension:]</c>: <c>[batch, RDimension]</c> with
    /// <see cref="TiDHyOptions.DynamicBias"/>; null without it and after <see cref="TiDHyModel.InferFirstStep(double[,])"/>.
    /// </summary>
    public double[,]? B { get; }

    /// <summary>Inference iterations run (at most <see cref="TiDHyOptions.MaxIterations"/>): the most any batch of the call took.</summary>
    public int Iterations { get; }

    /// <summary>True when inference stopped on the tolerance rather than at <see cref="TiDHyOptions.MaxIterations"/>, in every batch of the call.</summary>
    public bool Converged { get; }

    /// <summary>Iterations that updated each sample: <c>[batch]</c>.</summary>
    public int[] SampleIterations { get; }

    /// <summary>The results of consecutive batches joined in order.</summary>
    internal static InferenceResult Join(
        IEnumerable<double[,]> r,
        IEnumerable<double[,]> r2,
        IEnumerable<double[,]>? w,
        IEnumerable<double[,]>? b,
        IEnumerable<(int Iterations, bool Converged, int[] SampleIterations)> counts
    )
    {
        var c = counts.ToArray();
        return new(
            Batches.Join(r.ToArray()),
            Batches.Join(r2.ToArray()),
            w is null ? null : Batches.Join(w.ToArray()),
            b is null ? null : Batches.Join(b.ToArray()),
            c.Max(x => x.Iterations),
            c.All(x => x.Converged),
            c.SelectMany(x => x.SampleIterations).ToArray()
        );
    }
}
