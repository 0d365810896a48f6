namespace TiDHy.Functional

/// The outer optimisation of MODEL.md ("One outer training step", GradNorm) as a pure step, and the
/// epoch loop over windows.
[<RequireQualifiedAccess>]
module Train =

    /// A fresh training state: parameters `p`, a fresh AdamW, GradNorm weights 1, epoch 0.
    val initState: cfg: Config -> p: Params -> TrainState

    /// `initState cfg (Init.init cfg key)`.
    val init: cfg: Config -> key: Key -> TrainState

    /// The parameter group of each leaf, with the learning rate scaled for the optimizer step that
    /// follows `steps` steps in epoch `epoch` (`Optim.learningRateFactor`).
    val groups: cfg: Config -> epoch: int -> steps: int -> (string -> ParamGroup)

    /// The objective of one batch and the network gradient that a training step follows, before
    /// clipping: `Σ` of every term's gradient, or `Σ a_i·∂L_i/∂θ` with `grad_norm` (`a` the
    /// current GradNorm weights). In stateful mode the window starts from `state.Carry`.
    /// `X [batch; T; D]`.
    val objective: cfg: Config -> state: TrainState -> X: float[,,] -> StepObjective

    /// The SHA-256 (lower-case hex) of windows `[n; T; D]`: their shape and values as little-endian
    /// int32 and float64, so two window arrays have the same fingerprint exactly when they are equal
    /// bit for bit. `TrainingRun` records it so that a resumed fit can check its data.
    val fingerprint: windows: float[,,] -> string

    /// The mean of inference's per-step iteration counts `iterations` (0 for none): `StepMetrics.MeanIterations`.
    val meanIterations: iterations: int[] -> float

    /// The share of `iterations` (inference iterations per step) that reached `maxIter`, from 0 to 1
    /// (0 for none): `StepMetrics.MaxIterShare`.
    val maxIterShare: maxIter: int -> iterations: int[] -> float

    /// `step` on the generic path (`objective` on `Params` values), whatever the backend: the
    /// definition the packed step (`FusedStep.step`) is tested against.
    val internal stepGeneric: cfg: Config -> state: TrainState -> X: float[,,] -> TrainState * StepMetrics

    /// One outer training step on a batch of windows `X [batch; T; D]`: inference over the window,
    /// the objective's gradients (`objective`), clipping, one AdamW step (rates of epoch
    /// `state.Epoch`), GradNorm's update with `grad_norm`, and upstream's normalisations. Pure:
    /// returns the new state (with `Batch` advanced) and the step's metrics. Raises
    /// `TrainingDivergedException` (epoch `state.Epoch`, batch `state.Batch`) when the step's loss or
    /// anything in the new state (`Checkpoint.nonFinite`) is NaN or infinite. With a fused backend
    /// (`FusedObjective.supports`) the step runs on packed, reused buffers (the same results, bit for
    /// bit, with almost no allocation besides the returned records).
    val step: cfg: Config -> state: TrainState -> X: float[,,] -> TrainState * StepMetrics

    /// `step`, checking `cancel` between the time steps of the window's inference on a fused
    /// backend (before the step on the others): raises `OperationCanceledException`, with nothing of
    /// the step returned, once it is cancelled. The same results as `step` otherwise.
    val internal stepCancellable:
        cancel: System.Threading.CancellationToken ->
        cfg: Config ->
        state: TrainState ->
        X: float[,,] ->
            TrainState * StepMetrics

    /// Options of `fit` with defaults: batches of 16, `cfg.NumEpochs` epochs, seed 0, validation
    /// every epoch, no checkpoint folder, no progress callback, no cancellation.
    val defaultFitOptions: cfg: Config -> FitOptions

    /// The order in which epoch `epoch` visits `n` windows: a permutation of `0 … n−1` drawn from
    /// `seed` and `epoch` alone, so a resumed fit repeats it.
    val epochOrder: seed: int -> epoch: int -> n: int -> int[]

    /// The window indices of each batch of epoch `epoch` for `n` windows. Without `cfg.Stateful`:
    /// `epochOrder` cut into batches of `batchSize` (the last may be smaller). With it: the windows
    /// are `batchSize` consecutive streams of `n / batchSize` windows, and batch `k` holds window `k`
    /// of every stream, so each sample's carry passes to its next window; `n` must then be a
    /// multiple of `batchSize`.
    val batches: cfg: Config -> batchSize: int -> seed: int -> epoch: int -> n: int -> int[][]

    /// The validation objective of `p` on windows `[n; T; D]`: `L_hat + L_bar + temp_weight·L_temp + L_r2`
    /// of each window (from a zero state), averaged over the windows; evaluated in batches of
    /// `batchSize`, the last one smaller. With `BatchScaling.BatchMean` (upstream) each sample's
    /// inference step is `lr/B`, so a smaller last batch takes larger steps than training did; use
    /// `BatchScaling.PerSample` (with `lr` divided by the training batch size) for results that do
    /// not depend on the batch.
    val validationLoss: cfg: Config -> p: Params -> batchSize: int -> windows: float[,,] -> float

    /// The file name of the latest checkpoint in `FitOptions.CheckpointDirectory`.
    [<Literal>]
    val LastCheckpoint: string = "last.tidhy.json"

    /// The file name of the best model's checkpoint in `FitOptions.CheckpointDirectory`.
    [<Literal>]
    val BestCheckpoint: string = "best.tidhy.json"

    /// The core's engine for `backend`: the reference path (`Backend.Reference`) or the generated
    /// fused kernels in float64 (`Backend.Fused`) or float32 (`Backend.FusedFloat32`); its `Check`
    /// sets the configuration's `backend` to it. `fit cfg` is `fitOn (engine cfg.Backend) cfg`.
    val engine: backend: Backend -> Engine

    /// `fit` on any engine (`engine`, `TorchBackend.engine`): the same epochs, batches, validation,
    /// best model, history, progress, cancellation and checkpoints, with every step run by the
    /// engine's training session (`Engine.Open`), which keeps the parameters, AdamW's moments and
    /// the carry where it computes (a device for torch) and hands the host a copy at the end of each
    /// epoch. Checkpoints of one engine resume on any other.
    val fitOn:
        engine: Engine ->
        cfg: Config ->
        options: FitOptions ->
        monitoring: Monitoring option ->
        train: float[,,] ->
        validation: float[,,] option ->
        state: TrainState ->
            FitResult

    /// Trains from `state` on the windows `train [n; T; D]` until `options.Epochs` epochs are
    /// complete: each epoch runs `step` on the batches of `batches` (seeded shuffle, or stateful
    /// streams), then validates on `validation [m; T'; D]` every `ValidateEvery` epochs and after the
    /// last, records the epoch in `History` and keeps the best parameters (lowest validation
    /// objective, or lowest mean training total without validation data). With a checkpoint folder,
    /// `last.tidhy.json` is written after every epoch and when cancelled, `best.tidhy.json` whenever
    /// the best improves. Cancellation stops the batch in progress at its next time step on a fused
    /// backend (after it on the others) and drops it; the returned state resumes
    /// exactly where it stopped (same shuffle, same batch). Checkpoints record the `TrainingRun`
    /// (batch size, seed, `fingerprint` of the windows). Raises `TrainingDivergedException` (an
    /// `InvalidOperationException`) naming the epoch, batch and quantity when a step's loss, the
    /// state after a step (`step`) or a validation loss is NaN or infinite (or validation's inference
    /// diverges, `InferenceDivergedException`), before anything of that step reaches a checkpoint: the
    /// last checkpoints stay as they were.
    val fit:
        cfg: Config ->
        options: FitOptions ->
        train: float[,,] ->
        validation: float[,,] option ->
        state: TrainState ->
            FitResult

    /// `fit` with analyses during training: after every `monitoring.Every`-th epoch and after the
    /// last, `monitoring.Measure` runs on the epoch's final parameters and its metrics are recorded
    /// in the epoch's `EpochRecord.Monitor` (and so in the checkpoints); `monitoring.Selection`
    /// picks the best model: `ValidationLoss` as `fit`, or `HighestMetric name` the highest value of
    /// that metric over the monitored epochs (`BestModel.Criterion` is the name; a best model of
    /// another criterion, e.g. from a resumed checkpoint, is replaced by the first monitored epoch).
    /// A resumed fit continues bit for bit when `Measure` depends only on the parameters. Raises
    /// `ArgumentException` for `Every < 1`, a metric name given twice or a selected metric the
    /// monitor does not measure, and `TrainingDivergedException` for a NaN or infinite metric or an
    /// inference that diverges in the monitor.
    val fitMonitored:
        cfg: Config ->
        options: FitOptions ->
        monitoring: Monitoring ->
        train: float[,,] ->
        validation: float[,,] option ->
        state: TrainState ->
            FitResult

    /// A ready `FitOptions.Progress` for scripts and consoles: one line per completed epoch, e.g.
    /// `epoch 3/40: train 1.234 (L_hat 0.81, L_bar 0.30, temp 0.12, r2 0), validation 1.33, 41 it/step, 2.1 s`
    /// (epochs from 1; the iterations are the epoch's last batch's mean per inference step).
    /// `{ Train.defaultFitOptions cfg with Progress = Train.consoleProgress }`.
    val consoleProgress: p: FitProgress -> unit
