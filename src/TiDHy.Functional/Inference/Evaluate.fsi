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

    /// `evaluateSeriesWindows` with `evaluate` (an engine's evaluation of windows from a zero state,
    /// e.g. `engine.EvaluateRecord cfg p None`): stateful, the windows joined end to end into one
    /// window evaluated at once; otherwise `evaluateBatchedWith` in batches of `batchSize`.
    val evaluateSeriesWindowsWith:
        evaluate: (float[,,] -> EvaluationRecord) -> cfg: Config -> batchSize: int -> X: float[,,] -> EvaluationRecord

    /// `evaluateRecord` (from a zero state) on windows `X [n; T; D]` in batches of `batchSize`
    /// windows (the last may be smaller), joined into one record over all `n` windows: arrays in
    /// window order, averages over all windows, `Iterations` the most any batch took at each step and
    /// `Converged` true where every batch converged. With `BatchScaling.BatchMean` (upstream) each
    /// sample's inference step is `lr/B`, so evaluating in batches of the training batch size keeps
    /// inference as it was in training.
    val evaluateBatched: cfg: Config -> p: Params -> batchSize: int -> X: float[,,] -> EvaluationRecord

    /// The evaluation record of consecutive non-overlapping windows `X [n; T; D]` of one long
    /// series (window `w` holding steps `w·T … w·T + T − 1`, e.g. `Series.windowsStrided T T`).
    /// With `cfg.Stateful` the windows chain exactly like one long series, so they are joined end to
    /// end into one window `[1; n·T; D]` and evaluated in one pass from the first step
    /// (`evaluateRecord` without a carry; `batchSize` is not used): the record's arrays are `[1; n·T; ·]`. Otherwise every
    /// window starts afresh and they are evaluated in batches of `batchSize` windows
    /// (`evaluateBatched`): the arrays are `[n; T; ·]`. `tidhy eval` evaluates a series this way.
    val evaluateSeriesWindows: cfg: Config -> p: Params -> batchSize: int -> X: float[,,] -> EvaluationRecord
