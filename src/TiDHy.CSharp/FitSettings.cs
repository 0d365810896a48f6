namespace TiDHy.CSharp;

/// <summary>How <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/> trains (the model's own hyperparameters live in <see cref="TiDHyOptions"/>).</summary>
public sealed class FitSettings
{
    /// <summary>Windows per batch (default 16). The last batch of an epoch may be smaller unless the model is stateful.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>
    /// Train until this many epochs are complete in total, counting those of earlier fits, so that
    /// calling <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/> again after a cancellation finishes the same run; null
    /// (the default) uses <see cref="TiDHyOptions.NumEpochs"/>.
    /// </summary>
    public int? Epochs { get; set; }

    /// <summary>Seed of the per-epoch shuffle of the windows (default 0).</summary>
    public int Seed { get; set; }

    /// <summary>Validate every this many epochs and after the last one (default 1); 0 never.</summary>
    public int ValidateEvery { get; set; } = 1;

    /// <summary>
    /// A folder for <c>last.tidhy.json</c> (written after every epoch and on cancellation) and
    /// <c>best.tidhy.json</c> (written when the best model improves); null (the default) writes nothing.
    /// </summary>
    public string? CheckpointDirectory { get; set; }
}
