using F = TiDHy.Functional;

namespace TiDHy.CSharp;

// The evaluation of one series: continuous, carried or restarting windows (TiDHyModel.cs holds the rest).
public sealed partial class TiDHyModel
{
    /// <summary>
    /// The evaluation record of one series <c>[time, InputDimension]</c> in one continuous pass: the latents
    /// carried from every step to the next, as the model runs on a recording (<c>tidhy eval</c>'s
    /// default). With upstream's BatchMean scaling the sample infers as it did in batches of
    /// <see cref="TrainingBatchSize"/>. The arrays are <c>[1, time, ·]</c>.
    /// </summary>
    /// <param name="series">The series <c>[time ≥ 1, InputDimension]</c>, finite.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="series"/> has the wrong width or a non-finite entry.</exception>
    public Evaluation EvaluateSeries(double[,] series) => EvaluateSeries(series, 0, true);

    /// <summary>
    /// The evaluation record of one series in consecutive windows of <paramref name="window"/> steps
    /// (the steps after the last whole window are left out): with <paramref name="carry"/> the
    /// latents carried from window to window (the numbers of the continuous pass, <c>[1, n·window, ·]</c>),
    /// otherwise each window from a zero state (upstream's evaluation, <c>[n, window, ·]</c>, in batches
    /// of <see cref="TrainingBatchSize"/>). A <paramref name="window"/> of 0 is one continuous pass.
    /// </summary>
    /// <param name="series">The series <c>[time ≥ window, InputDimension]</c>, finite.</param>
    /// <param name="window">Steps per window, ≥ 0 (0: the whole series).</param>
    /// <param name="carry">Whether the latents carry over from one window to the next.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="window"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="series"/> is shorter than a window, has the wrong width or a non-finite entry.</exception>
    public Evaluation EvaluateSeries(double[,] series, int window, bool carry)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        var mode = window == 0 ? F.SeriesEvaluation.Continuous
            : carry ? F.SeriesEvaluation.NewCarried(window) : F.SeriesEvaluation.NewRestarting(window);
        return Evaluation.From(
            Interop.Call(() => F.Evaluate.evaluateSeries(config, state.Params, TrainingBatchSize, mode, series), null)
        );
    }
}
