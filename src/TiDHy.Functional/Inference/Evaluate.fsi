namespace TiDHy.Functional

/// Every array of MODEL.md's evaluation record for a window `[batch; T; ·]`.
type EvaluationRecord =
    {
        /// `Σ_t Σ_d ℓ(I_hat, I)` averaged over the batch.
        SpatialLossRHatAvg: float
        /// `Σ_t Σ_d ℓ(I_bar, I)` averaged over the batch.
        SpatialLossRBarAvg: float
        /// `temp_weight · Σ_t Σ_i (R_hat − R_bar)²` averaged over the batch.
        TempLossAvg: float
        /// One-step-ahead predictions `decode(r̂)`: `[batch; T; D]`.
        IBar: float[,,]
        /// Reconstructions `decode(r)`: `[batch; T; D]`.
        IHat: float[,,]
        /// The data: `[batch; T; D]`.
        I: float[,,]
        /// One-step-ahead latent predictions `r̂` (from the previous `r2`): `[batch; T; R]`.
        RBar: float[,,]
        /// Inferred `r`: `[batch; T; R]`.
        RHat: float[,,]
        /// Inferred `r2`: `[batch; T; R2]`.
        R2Hat: float[,,]
        /// Mixture weights `hypernet(r2)[0:M]`: `[batch; T; M]`.
        W: float[,,]
        /// Dynamics matrices `V_t` used by the predictions: `[batch; T; R; R]`.
        Ut: float[,,,]
        /// Dynamic bias weights `hypernet(r2)[M:]`: `[batch; T; R]`, with `dyn_bias` only.
        B: float[,,] option
        /// `(R_hat − R_bar)²`: `[batch; T; R]`, 0 at `t = 0` without a carry.
        TempLoss: float[,,]
        /// `ℓ(I_hat, I)`: `[batch; T; D]`.
        SpatialLossRHat: float[,,]
        /// `ℓ(I_bar, I)`: `[batch; T; D]`.
        SpatialLossRBar: float[,,]
        /// Inference iterations per time step: `[T]` (at `t = 0` without a carry, the first step's).
        Iterations: int[]
        /// Whether each step's inference converged: `[T]`.
        Converged: bool[]
        /// `r, r2` after the last step: the carry of the next window in stateful mode.
        Final: Carry
    }

/// How a series is evaluated (`Evaluate.evaluateSeries`).
[<RequireQualifiedAccess>]
type SeriesEvaluation =
    /// One pass over every step: the latents `r`, `r2` carried from each step to the next, as the
    /// model runs on a continuous recording (the default of `tidhy eval` and the demo).
    | Continuous
    /// Consecutive windows of `window` steps, the latents carried from each window to the next (the
    /// stateful carry): the record of `Continuous` on the steps the windows cover, computed window by
    /// window.
    | Carried of window: int
    /// Consecutive windows of `window` steps, each from a zero state: upstream's and the paper's
    /// evaluation, whose latents restart every window.
    | Restarting of window: int

/// The record of one evaluation time step: every array `[batch; ·]`.
type EvaluationStep =
    {
        /// `decode(r̂)`: `[batch; D]`.
        IBar: float[,]
        /// `decode(r)`: `[batch; D]`.
        IHat: float[,]
        /// `r̂`: `[batch; R]`.
        RBar: float[,]
        /// `r`: `[batch; R]`.
        RHat: float[,]
        /// `r2`: `[batch; R2]`.
        R2Hat: float[,]
        /// `hypernet(r2)[0:M]`: `[batch; M]`.
        W: float[,]
        /// `V_t`: `[batch; R; R]`.
        Ut: float[,,]
        /// `hypernet(r2)[M:]`: `[batch; R]` (empty without `dyn_bias`).
        B: float[,]
        /// `(r − r̂)²`: `[batch; R]` (0 at the first step, which has no prediction).
        TempLoss: float[,]
        /// Inference iterations.
        Iterations: int
        /// Whether inference converged.
        Converged: bool
    }

/// The evaluation record (MODEL.md "Evaluation record") as a scan over time.
[<RequireQualifiedAccess>]
module Evaluate =

    /// One regular evaluation step from the carry `(r_p, r2)`: the one-step-ahead forecast with the
    /// OLD `r2`, then inference on `x [batch; D]`, then the mixture weights of the NEW `r2`.
    val step: cfg: Config -> p: Params -> carry: Carry -> x: float[,] -> Carry * EvaluationStep

    /// The first step without a carry: `R_bar = 0`, `R2_hat = 0`, `I_bar = decode(0)`,
    /// `r = inf_first_step(x)`, `W = 0`, `Ut = 0`, temporal loss 0. Returns the carry `(r, 0)`.
    val firstStep: cfg: Config -> p: Params -> x: float[,] -> Carry * EvaluationStep

    /// The evaluation record of a window `X [batch; T; D]`. Without a carry (upstream) `t = 0` is
    /// the first step (`inf_first_step`); with a carry (stateful mode) every step is a regular one
    /// from the previous state, so consecutive non-overlapping windows chain like one long series.
    val evaluateRecord: cfg: Config -> p: Params -> init: Carry option -> X: float[,,] -> EvaluationRecord

    /// The evaluation records of consecutive windows `[batch; T; D]` of one series (same batch, in
    /// time order). With `cfg.Stateful` each window starts from the previous one's `Final` carry
    /// (the first with the first step, as upstream); otherwise every window starts afresh.
    val evaluateWindows: cfg: Config -> p: Params -> windows: float[,,] seq -> EvaluationRecord[]

    /// The records of consecutive batches of windows (`parts`: each batch's window count and record, in
    /// window order) joined into one record over all of them: arrays in window order, averages
    /// weighted by the windows, `Iterations` the most any batch took at each step and `Converged`
    /// true where every batch converged. What `evaluateBatched` returns, whichever backend evaluated
    /// the batches.
    val joinBatches: parts: (int * EvaluationRecord)[] -> EvaluationRecord

    /// `evaluate` (a backend's evaluation of a batch of windows from a zero state) on windows
    /// `X [n; T; D]` in batches of `batchSize` (the last may be smaller), after the checks of the
    /// batch size, the windows and the memory one batch needs, joined by `joinBatches`.
    val evaluateBatchedWith:
        evaluate: (float[,,] -> EvaluationRecord) -> cfg: Config -> batchSize: int -> X: float[,,] -> EvaluationRecord

    /// `evaluateRecord` (from a zero state) on windows `X [n; T; D]` in batches of `batchSize`
    /// windows (the last may be smaller), joined into one record over all `n` windows: arrays in
    /// window order, averages over all windows, `Iterations` the most any batch took at each step and
    /// `Converged` true where every batch converged. With `BatchScaling.BatchMean` (upstream) each
    /// sample's inference step is `lr/B`, so evaluating in batches of the training batch size keeps
    /// inference as it was in training.
    val evaluateBatched: cfg: Config -> p: Params -> batchSize: int -> X: float[,,] -> EvaluationRecord

    /// How many identical copies of a series `evaluateSeriesWith` infers side by side in one batch
    /// when it evaluates continuously, so that inference takes the steps it took in training batches
    /// of `batchSize`: with `BatchScaling.BatchMean` (upstream) a batch's data terms are scaled by
    /// `1/B`, so `batchSize` copies; with `PerSample` scaling, 1. Raises `ArgumentException` for a
    /// `batchSize` below 1.
    val replicas: cfg: Config -> batchSize: int -> int

    /// The most steps `evaluateSeriesWith` evaluates at once when it infers several copies of a
    /// series (`replicas` > 1): a continuous pass is then chained over chunks of this many steps,
    /// each from the previous one's carry (the same numbers as one pass), so that memory stays that
    /// of one sample's record.
    [<Literal>]
    val ChunkSteps: int = 1000

    /// How many of a series' `steps` the evaluation `mode` covers: all when continuous, the whole
    /// windows otherwise.
    val evaluatedSteps: mode: SeriesEvaluation -> steps: int -> int

    /// One line saying how `mode` evaluates a series of `steps` steps (and which steps it leaves out),
    /// for a user's output.
    val describe: mode: SeriesEvaluation -> steps: int -> string

    /// The evaluation record of one series `[time; D]`, as `mode` says, with `evaluate` (an engine's
    /// evaluation of windows from a carry, e.g. `engine.EvaluateRecord cfg p`): `Continuous`, one
    /// pass over every step from the first; `Carried w`, the windows of `w` steps one after the
    /// other, each from the previous one's `Final` carry (the numbers of `Continuous` on those
    /// steps); both give records `[1; steps; ·]` whose losses are summed over the whole pass, and
    /// infer `replicas cfg batchSize` copies side by side (in chunks of at most `ChunkSteps` when
    /// more than one). `Restarting w`, the windows of `w` steps each from a zero state in batches of
    /// `batchSize` (`evaluateBatchedWith`), `[n; w; ·]`. Steps after the last whole window are left
    /// out (`evaluatedSteps`). Raises `ArgumentException` for a series whose features are not
    /// `cfg.InputDim`, a non-finite value, a window of less than one step or longer than the series,
    /// and what does not fit in memory.
    val evaluateSeriesWith:
        evaluate: (Carry option -> float[,,] -> EvaluationRecord) ->
        cfg: Config ->
        batchSize: int ->
        mode: SeriesEvaluation ->
        series: float[,] ->
            EvaluationRecord

    /// `evaluateSeriesWith` on the reference path (`evaluateRecord`). `tidhy eval`, the demo and the
    /// training monitor evaluate a series this way, continuously by default.
    val evaluateSeries:
        cfg: Config -> p: Params -> batchSize: int -> mode: SeriesEvaluation -> series: float[,] -> EvaluationRecord
