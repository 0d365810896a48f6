using F = TiDHy.Functional;

namespace TiDHy.CSharp;

// Inference at one time step into caller-owned buffers (TiDHyModel.cs holds the rest).
public sealed partial class TiDHyModel
{
    /// <summary>
    /// Buffers for <see cref="InferInto(double[,], double[,], double[,], InferenceBuffers)"/> on
    /// <paramref name="batch"/> samples of this model: allocate them once and pass them to every call.
    /// </summary>
    /// <param name="batch">Samples per call (rows of <c>x</c>).</param>
    /// <returns>Zeroed buffers <c>R</c>, <c>R2</c>, <c>RHat</c> and <c>SampleIterations</c> of <paramref name="batch"/> rows.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is not positive.</exception>
    public InferenceBuffers CreateInferenceBuffers(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        return new(batch, config.RDim, config.R2Dim);
    }

    /// <summary>
    /// <see cref="Infer(double[,], double[,], double[,])"/> written into <paramref name="result"/>, bit for bit
    /// (in batches of <see cref="TrainingBatchSize"/> samples), without copying rows or allocating arrays
    /// that grow with the batch (with the fused backends). The mixture weights are not computed: use
    /// <see cref="Infer(double[,], double[,], double[,])"/> or <see cref="DynamicsAt(double[,])"/> for them.
    /// </summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>, where inference of <c>r2</c> starts: <c>[batch, R2Dimension]</c>.</param>
    /// <param name="result">Buffers from <see cref="CreateInferenceBuffers(int)"/> for <c>batch</c> samples; overwritten.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry, or <paramref name="result"/> holds another batch size or another model's dimensions; the message names the array, the expected shape and the given one.</exception>
    public void InferInto(double[,] x, double[,] previousR, double[,] previousR2, InferenceBuffers result) =>
        InferInto(x, previousR, previousR2, result, TrainingBatchSize);

    /// <summary>
    /// <see cref="InferInto(double[,], double[,], double[,], InferenceBuffers)"/> in batches of <paramref name="batchSize"/>
    /// samples: bit for bit <see cref="Infer(double[,], double[,], double[,], int)"/> with the same batch size.
    /// </summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>: <c>[batch, R2Dimension]</c>.</param>
    /// <param name="result">Buffers from <see cref="CreateInferenceBuffers(int)"/> for <c>batch</c> samples; overwritten.</param>
    /// <param name="batchSize">Samples per inference batch (the last may be smaller).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry, or <paramref name="result"/> does not fit; the message names it.</exception>
    public void InferInto(double[,] x, double[,] previousR, double[,] previousR2, InferenceBuffers result, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(previousR);
        ArgumentNullException.ThrowIfNull(previousR2);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Batches.RequireRows(x, previousR, nameof(previousR));
        Batches.RequireRows(x, previousR2, nameof(previousR2));
        var n = x.GetLength(0);
        Batches.RequireShape(result.R, n, config.RDim, "result.R", nameof(result));
        Batches.RequireShape(result.R2, n, config.R2Dim, "result.R2", nameof(result));
        Batches.RequireShape(result.RHat, n, config.RDim, "result.RHat", nameof(result));
        var (iterations, converged) = Interop.Call(
            () =>
                F.Inference.inferInto(
                    config,
                    state.Params,
                    x,
                    previousR,
                    previousR2,
                    batchSize,
                    result.R,
                    result.R2,
                    result.RHat,
                    result.SampleIterations
                ),
            null,
            ("x", nameof(x)),
            ("rP", nameof(previousR)),
            ("r2", nameof(previousR2))
        );
        result.Iterations = iterations;
        result.Converged = converged;
    }
}
