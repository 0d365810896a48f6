using System.Globalization;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>The mean training losses of one epoch.</summary>
/// <param name="SpatialLossRHat">Reconstruction loss <c>L_hat</c> of the inferred latents.</param>
/// <param name="SpatialLossRBar">Reconstruction loss <c>L_bar</c> of the predicted latents.</param>
/// <param name="TempLoss">Weighted temporal loss <c>temp_weight·L_temp</c>.</param>
/// <param name="R2Loss">The r2 decoder's loss <c>L_r2</c> (0 without it).</param>
/// <param name="Total">The plain total loss, regularisers included.</param>
public sealed record TrainingLosses(double SpatialLossRHat, double SpatialLossRBar, double TempLoss, double R2Loss, double Total)
{
    internal static TrainingLosses From(F.EpochLosses l) => new(l.Losses.SpatialLossRHat, l.Losses.SpatialLossRBar, l.Losses.TempLoss, l.Losses.R2Loss, l.Total);
}

/// <summary>What one training batch measured.</summary>
/// <param name="SpatialLossRHat">Reconstruction loss <c>L_hat</c> of the inferred latents.</param>
/// <param name="SpatialLossRBar">Reconstruction loss <c>L_bar</c> of the predicted latents.</param>
/// <param name="TempLoss">Weighted temporal loss <c>temp_weight·L_temp</c>.</param>
/// <param name="R2Loss">The r2 decoder's loss <c>L_r2</c> (0 without it).</param>
/// <param name="CosReg">The cosine regulariser of the dynamics matrices, unweighted.</param>
/// <param name="OrthR2">The orthogonality regulariser of the hypernetwork input, unweighted.</param>
/// <param name="Regularisers">The optional regularisers (L1, orthogonality, nuclear norm), weighted and summed; 0 when all are off.</param>
/// <param name="Total">The plain total loss, regularisers included, whatever the GradNorm weights.</param>
/// <param name="GradientNorm">The global gradient norm before clipping.</param>
/// <param name="MeanIterations">Mean inference iterations per time step of the batch.</param>
public sealed record BatchMetrics(
    double SpatialLossRHat,
    double SpatialLossRBar,
    double TempLoss,
    double R2Loss,
    double CosReg,
    double OrthR2,
    double Regularisers,
    double Total,
    double GradientNorm,
    double MeanIterations
)
{
    internal static BatchMetrics From(F.StepMetrics m) =>
        new(
            m.Losses.SpatialLossRHat,
            m.Losses.SpatialLossRBar,
            m.Losses.TempLoss,
            m.Losses.R2Loss,
            m.CosReg,
            m.OrthR2,
            m.Regularisers,
            m.Total,
            m.GradNormBeforeClip,
            m.MeanIterations
        );
}

/// <summary>One completed epoch of the training history.</summary>
/// <param name="Epoch">The epoch, counted from 1 (the <c>n</c>-th epoch of training is <c>n</c>; <see cref="TrainingReport.History"/><c>[n − 1]</c>).</param>
/// <param name="Train">Mean training losses over the epoch's batches.</param>
/// <param name="Validation">The validation objective averaged over the validation windows, when validation ran in this epoch.</param>
/// <param name="LearningRateFactor">The factor of the epoch's learning-rate schedule.</param>
/// <param name="Duration">Wall-clock time of the epoch, validation included.</param>
public sealed record EpochSummary(int Epoch, TrainingLosses Train, double? Validation, double LearningRateFactor, TimeSpan Duration)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);

    /// <summary>
    /// The monitor's metrics at the end of this epoch (<see cref="FitSettings.ValidationStates"/>:
    /// <c>r2_hat_accuracy</c>, <c>w_accuracy</c>), when it ran in this epoch; empty otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, double> Monitor { get; init; } = new Dictionary<string, double>();

    /// <summary>Equal when every value and every monitor metric are equal.</summary>
    public bool Equals(EpochSummary? other) =>
        other is not null
        && Epoch == other.Epoch
        && Train == other.Train
        && Validation.Equals(other.Validation)
        && LearningRateFactor.Equals(other.LearningRateFactor)
        && Duration == other.Duration
        && Monitor.Count == other.Monitor.Count
        && Monitor.All(m => other.Monitor.TryGetValue(m.Key, out var v) && v.Equals(m.Value));

    /// <summary>A hash of the values (the monitor's metrics by their count).</summary>
    public override int GetHashCode() => HashCode.Combine(Epoch, Train, Validation, LearningRateFactor, Duration, Monitor.Count);

    internal static EpochSummary From(F.EpochRecord r) =>
        new(r.Epoch + 1, TrainingLosses.From(r.Train), Interop.Nullable(r.Validation), r.LearningRateFactor, TimeSpan.FromSeconds(r.Seconds))
        {
            Monitor = r.Monitor.ToDictionary(m => m.Item1, m => m.Item2),
        };
}

/// <summary>Progress of <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>, reported after every batch.</summary>
/// <param name="Epoch">The current epoch, counted from 1 (1 to <paramref name="Epochs"/>).</param>
/// <param name="Epochs">The epoch count at which the fit ends.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="Metrics">The metrics of the batch just done.</param>
/// <param name="CompletedEpoch">The epoch just completed, on the last batch of an epoch; null otherwise.</param>
/// <param name="Elapsed">Time since the fit started.</param>
public sealed record TrainingProgress(
    int Epoch,
    int Epochs,
    int Batch,
    int Batches,
    BatchMetrics Metrics,
    EpochSummary? CompletedEpoch,
    TimeSpan Elapsed
)
{
    /// <summary>
    /// One line for a console, e.g. <c>epoch 3/40 batch 57/57: loss 1.234 (L_hat 0.8, L_bar 0.3, temp 0.12, r2 0),
    /// 41 iterations/step, 0:12 elapsed; epoch 3 done: train 1.21, validation 1.33</c>.
    /// </summary>
    /// <returns>The epoch and batch (counted from 1), the batch's losses and mean inference iterations, the
    /// elapsed time and, on an epoch's last batch, the epoch's mean training total and validation
    /// objective.</returns>
    public override string ToString()
    {
        var m = Metrics;
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"epoch {Epoch}/{Epochs} batch {Batch}/{Batches}: loss {m.Total:G4} (L_hat {m.SpatialLossRHat:G4}, L_bar {m.SpatialLossRBar:G4}, temp {m.TempLoss:G4}, r2 {m.R2Loss:G4}), {m.MeanIterations:F0} iterations/step, {Elapsed:h\\:mm\\:ss} elapsed"
        );
        if (CompletedEpoch is { } e)
        {
            var validation = e.Validation is { } v ? string.Create(CultureInfo.InvariantCulture, $", validation {v:G4}") : "";
            line += string.Create(CultureInfo.InvariantCulture, $"; epoch {e.Epoch} done: train {e.Train.Total:G4}{validation}");
        }

        return line;
    }

    internal static TrainingProgress From(F.FitProgress p) =>
        new(
            p.Epoch + 1,
            p.Epochs,
            p.Batch,
            p.Batches,
            BatchMetrics.From(p.Metrics),
            Interop.ValueOrNull(p.Completed) is { } c ? EpochSummary.From(c) : null,
            p.Elapsed
        );
}

/// <summary>The outcome of <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>.</summary>
public sealed class TrainingReport
{
    private TrainingReport(bool cancelled, F.TrainState state)
    {
        Cancelled = cancelled;
        EpochsCompleted = state.Epoch;
        History = Array.AsReadOnly(state.History.Select(EpochSummary.From).ToArray());
        BestEpoch = Interop.ValueOrNull(state.Best)?.Epoch + 1;
        BestScore = Interop.ValueOrNull(state.Best)?.Score;
    }

    /// <summary>True when the fit stopped early because of its cancellation token; a later fit resumes where it stopped.</summary>
    public bool Cancelled { get; }

    /// <summary>Epochs completed in total, earlier fits included.</summary>
    public int EpochsCompleted { get; }

    /// <summary>One summary per completed epoch, earlier fits included, in order.</summary>
    public IReadOnlyList<EpochSummary> History { get; }

    /// <summary>
    /// The epoch of the best parameters, counted from 1 as <see cref="EpochSummary.Epoch"/> is (so
    /// <c>History[BestEpoch - 1]</c> is its summary): the lowest validation objective, the lowest training
    /// total without validation data, or the highest monitor accuracy chosen by <see cref="FitSettings.Selection"/>;
    /// null before the first epoch completes.
    /// </summary>
    public int? BestEpoch { get; }

    /// <summary>The score of the best parameters; null before the first epoch completes.</summary>
    public double? BestScore { get; }

    internal static TrainingReport From(F.FitResult result) => new(result.Cancelled, result.State);
}
