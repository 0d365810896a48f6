namespace TiDHy.CSharp;

/// <summary>How <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/> trains (the model's own hyperparameters live in <see cref="TiDHyOptions"/>).</summary>
public sealed class FitSettings
{
    /// <summary>Windows per batch (default 16). The last batch of an epoch may be smaller unless the model is stateful.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>
    /// Train until this many epochs are complete in total, counting those of earlier fits, so that
    /// calling <see cref="TiDHyModel.Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/> again after a cancellation finishes the same run; null
    /// (the default) uses <see cref="TiDHyOptions.Epochs"/>.
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

    /// <summary>
    /// The true discrete states of the validation steps, <c>[windows·time, systems]</c> (row
    /// <c>w·time + t</c> is step <c>t</c> of validation window <c>w</c>; non-negative integers), or null
    /// (the default) for no monitoring. With them, the fit decodes the states from the validation
    /// windows' <c>R2_hat</c> and <c>W</c>, evaluated in one continuous pass (kNN, k = 3, 5 fixed splits that
    /// each hold out 25% of the contiguous 100-step blocks, as <c>tidhy train --states</c>) every
    /// <see cref="MonitorEvery"/> epochs and after the last, reported in <see cref="EpochSummary.Monitor"/>
    /// as <c>r2_hat_accuracy</c> and <c>w_accuracy</c>.
    /// </summary>
    public int[,]? ValidationStates { get; set; }

    /// <summary>With <see cref="ValidationStates"/>, decode every this many epochs (and after the last; default 1, at least 1).</summary>
    public int MonitorEvery { get; set; } = 1;

    /// <summary>What picks the best parameters (default: the validation loss); the accuracies need <see cref="ValidationStates"/>.</summary>
    public FitSelection Selection { get; set; } = FitSelection.ValidationLoss;
}

/// <summary>What picks the best parameters of a fit (<see cref="FitSettings.Selection"/>).</summary>
public enum FitSelection
{
    /// <summary>The lowest validation loss (the lowest mean training loss without validation windows).</summary>
    ValidationLoss,
    /// <summary>The highest decoding accuracy of the validation states from <c>R2_hat</c>.</summary>
    R2HatAccuracy,
    /// <summary>The highest decoding accuracy of the validation states from <c>W</c>.</summary>
    WAccuracy,
}
