namespace TiDHy.Functional

open System
open System.Threading

/// What one training step measured.
type StepMetrics =
    {
        /// `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2` (0 without the r2 decoder).
        Losses: LossTerms<float>
        /// `cos_reg` (unweighted).
        CosReg: float
        /// `orth_r2` (unweighted).
        OrthR2: float
        /// The optional regularisers, weighted and summed (0 when all are off).
        Regularisers: float
        /// `L_hat + L_bar + temp_weight·L_temp + L_r2 + cos_eta·cos_reg + Orth_alpha_r2·orth_r2`
        /// + the optional regularisers: the plain loss, whatever the GradNorm weights.
        Total: float
        /// The global gradient norm before clipping.
        GradNormBeforeClip: float
        /// The GradNorm update of this step (`None` without `grad_norm`).
        GradNorm: GradNormStep option
        /// Mean inference iterations per inference step of the window.
        MeanIterations: float
        /// The share of the window's inference steps that stopped at `max_iter` without converging
        /// (0 to 1).
        MaxIterShare: float
    }

/// The mean training losses of one epoch (batch metrics averaged over its batches).
type EpochLosses =
    {
        /// `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2`.
        Losses: LossTerms<float>
        /// The plain total loss (`StepMetrics.Total`).
        Total: float
        /// The mean over the batches of `StepMetrics.MaxIterShare`: the share of inference steps
        /// that stopped at `max_iter` (0 in checkpoints written before it was recorded).
        MaxIterShare: float
    }

/// Operations on `EpochLosses`.
[<RequireQualifiedAccess>]
module EpochLosses =

    /// All losses 0.
    let zero: EpochLosses =
        {
            Losses = LossTerms.zero
            Total = 0.0
            MaxIterShare = 0.0
        }

/// One epoch of the metrics history.
type EpochRecord =
    {
        /// The epoch, counted from 0 (the first epoch is 0); printed and written to metrics.csv as
        /// `Epoch + 1`.
        Epoch: int
        /// Mean training losses over the epoch's batches.
        Train: EpochLosses
        /// The validation objective `L_hat + L_bar + temp_weight·L_temp + L_r2`, per window averaged
        /// over the validation windows, when validation ran in this epoch.
        Validation: float option
        /// The outer learning-rate factor of the schedule (`lr_schedule`) at the epoch's last step.
        LearningRateFactor: float
        /// Wall-clock seconds of the epoch (validation and monitor included).
        Seconds: float
        /// The metrics of `Monitoring.Measure` on the parameters at the end of the epoch, as
        /// `(name, value)` pairs, when the monitor ran in this epoch; empty otherwise (and in
        /// checkpoints written before monitors existed).
        Monitor: (string * float) list
    }

/// The best parameters seen by `Train.fit`.
type BestModel =
    {
        /// The parameters at the end of `Epoch`.
        Params: Params
        /// The epoch they are from, counted from 0 as `EpochRecord.Epoch` (the `History` entry with the
        /// same `Epoch`); people see `Epoch + 1`, as the progress lines, `tidhy train`'s "Selected epoch
        /// N" and metrics.csv's `epoch` column count.
        Epoch: int
        /// The score that made them best: the validation objective, or the epoch's mean training
        /// total when there is no validation data (criterion `BestModel.LossCriterion`, lower is
        /// better); or the value of the monitor metric named by `Criterion` (higher is better).
        Score: float
        /// What `Score` is: `"loss"` (`BestModel.LossCriterion`), or the name of a monitor metric
        /// (`Selection.HighestMetric`). Checkpoints written before it was recorded read `"loss"`.
        Criterion: string
    }

/// Operations on `BestModel`.
[<RequireQualifiedAccess>]
module BestModel =

    /// The criterion of `Selection.ValidationLoss`: the validation objective, or the mean training
    /// total without validation data; lower is better.
    [<Literal>]
    let LossCriterion = "loss"

/// Everything training carries from step to step; a checkpoint stores it whole.
type TrainState =
    {
        /// The model parameters.
        Params: Params
        /// The outer AdamW state.
        Optimizer: AdamWState
        /// GradNorm's task weights and first losses (unused without `grad_norm`).
        GradNorm: GradNormState
        /// Completed epochs.
        Epoch: int
        /// Completed batches of the current epoch.
        Batch: int
        /// The latent state after the last batch, passed to the next batch in stateful mode.
        Carry: Carry option
        /// Sums of the batch losses of the current epoch so far (`Batch` of them).
        Running: EpochLosses
        /// One record per completed epoch.
        History: EpochRecord[]
        /// The best parameters so far.
        Best: BestModel option
    }

/// Training diverged: a step or a validation produced a NaN or infinite `Quantity` (a loss, a
/// parameter tensor, an AdamW moment, a GradNorm weight or `l0`, the validation loss) in epoch
/// `Epoch`, batch `Batch` (both from 0; `Batch` is the epoch's batch count for the validation loss).
/// `Train.fit` raises it before the state reaches a checkpoint, so the last checkpoints stay valid.
/// An `InvalidOperationException`, so that callers catching that keep working.
type TrainingDivergedException(epoch: int, batch: int, quantity: string, value: float) =
    inherit
        InvalidOperationException(
            $"Training diverged at epoch {epoch + 1}, batch {batch + 1} (counting from 1): {quantity} is {value}. Lower the learning rates (learning_rate_s/t/h, lr_r, lr_r2) or clip_grad; the last valid checkpoints are unchanged."
        )

    /// The epoch, from 0.
    member _.Epoch = epoch
    /// The batch of the epoch, from 0.
    member _.Batch = batch
    /// The quantity that became non-finite, e.g. `params 'temporal'` or `validation loss`.
    member _.Quantity = quantity
    /// Its first non-finite value.
    member _.Value = value

/// Inference that diverged while training, reported as `TrainingDivergedException` (by every
/// engine's training step).
[<RequireQualifiedAccess>]
module TrainingDivergence =

    /// What diverged when inference did, as `TrainingDivergedException` names it.
    let inferenceQuantity (ex: TiDHy.Kernels.InferenceDivergedException) =
        let latent =
            if ex.Quantity = TiDHy.Kernels.InferenceQuantity.R2 then
                "r2"
            else
                "r"

        $"{latent} of sample {ex.Sample} after {ex.Operation} iteration {ex.Iteration} (inference diverged)"

    /// `f ()`, with inference's divergence raised as `TrainingDivergedException` naming the epoch,
    /// the batch and `what` was being computed.
    let guardInference (epoch: int) (batch: int) (what: string) (f: unit -> 'a) =
        try
            f ()
        with :? TiDHy.Kernels.InferenceDivergedException as ex ->
            raise (TrainingDivergedException(epoch, batch, $"{what} ({inferenceQuantity ex})", nan))

/// What a fit trained on, recorded in its checkpoints (`Checkpoint.saveWith`) so that a resumed fit
/// can be checked against it.
type TrainingRun =
    {
        /// Windows per batch.
        BatchSize: int
        /// Seed of the per-epoch shuffle.
        Seed: int
        /// `Train.fingerprint` of the training windows (SHA-256, hex).
        TrainSha256: string
        /// `Train.fingerprint` of the validation windows, when there are any.
        ValidationSha256: string option
        /// The monitor's `Monitoring.StatesSha256` (the true states it decodes), when it has one;
        /// `None` also for checkpoints written before it was recorded.
        StatesSha256: string option
    }

/// The objective of one training batch and the gradient a step follows (`Train.objective`).
type StepObjective =
    {
        /// The objective's four terms with their gradients.
        Terms: ObjectiveTerms
        /// `cos_reg` (unweighted).
        CosReg: float
        /// `orth_r2` (unweighted).
        OrthR2: float
        /// The optional regularisers, weighted and summed.
        Regularisers: float
        /// The plain total loss (`StepMetrics.Total`).
        Total: float
        /// GradNorm's task losses with their unweighted gradients (`None` without `grad_norm`).
        Tasks: Term[] option
        /// The network gradient before clipping, shaped like the parameters.
        Gradient: Params
        /// The forward pass (inference included) over the window.
        Forward: ForwardResult
    }

/// Progress of `Train.fit`, reported after every batch.
type FitProgress =
    {
        /// The current epoch, from 0.
        Epoch: int
        /// The epoch at which the fit ends (exclusive).
        Epochs: int
        /// Batches done in this epoch.
        Batch: int
        /// Batches per epoch.
        Batches: int
        /// The metrics of the batch just done.
        Metrics: StepMetrics
        /// The epoch just completed, on the last batch of an epoch.
        Completed: EpochRecord option
        /// The training state at the end of the epoch just completed (what the fit returns if it
        /// ends there, and what `last.tidhy.json` holds with a checkpoint folder), on the last batch
        /// of an epoch: a caller whose fit then fails (a progress callback that throws, a divergence
        /// in a later epoch) keeps the epochs completed.
        CompletedState: TrainState option
        /// Time since the fit started.
        Elapsed: TimeSpan
    }

/// Options of `Train.fit` (hyperparameters of the model itself live in `Config`).
type FitOptions =
    {
        /// Windows per batch (the last batch of an epoch may be smaller unless stateful).
        BatchSize: int
        /// Train until this many epochs are complete (counting those already in the state).
        Epochs: int
        /// Seed of the per-epoch shuffle of the windows.
        Seed: int
        /// Validate every this many epochs (and after the last); 0 never.
        ValidateEvery: int
        /// A folder for `last.tidhy.json` (after every epoch and on cancellation) and
        /// `best.tidhy.json` (when the best model improves); `None` writes nothing.
        CheckpointDirectory: string option
        /// Called after every batch.
        Progress: FitProgress -> unit
        /// Checked before every batch and, on a fused backend, between the time steps of a batch's
        /// inference: a cancelled fit drops the batch in progress and stops where it began.
        Cancellation: CancellationToken
    }

/// How `Train.fitMonitored` picks its best model.
type Selection =
    /// The lowest validation objective (the lowest mean training total without validation data),
    /// as `Train.fit` does.
    | ValidationLoss
    /// The highest value of the monitor metric of this name, on the epochs the monitor ran.
    | HighestMetric of string

/// Analyses during training (`Train.fitMonitored`): a function of the parameters run at the end of
/// every `Every`-th epoch and after the last, whose named metrics (e.g. decoding accuracies on the
/// validation data, `TrainingMonitor.decodingMonitor`) join the epoch's `EpochRecord.Monitor`, and the
/// criterion that picks the best model.
type Monitoring =
    {
        /// Measure every this many epochs (and after the last), >= 1.
        Every: int
        /// The metrics of the parameters at the end of an epoch, as `(name, value)` pairs with
        /// distinct names and finite values. It must not depend on anything but its argument (and
        /// fixed data) for a resumed fit to record the same values.
        Measure: Params -> (string * float) list
        /// What picks the best model.
        Selection: Selection
        /// A fingerprint of the fixed data `Measure` compares with (e.g. `Train.fingerprint` of the
        /// true states a decoding monitor decodes), recorded in the checkpoints
        /// (`TrainingRun.StatesSha256`) so that a resumed fit can be checked against it; `None` records none.
        StatesSha256: string option
    }

/// The result of `Train.fit`.
type FitResult =
    {
        /// The state at the end (or where the fit was cancelled): resume by passing it back.
        State: TrainState
        /// True when the fit stopped because of the cancellation token.
        Cancelled: bool
    }
