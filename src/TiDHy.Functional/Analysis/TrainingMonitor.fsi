namespace TiDHy.Functional

/// Analyses during training: `decodingMonitor`, the measure of the true states' decoding that
/// `Train.fitMonitored` runs (Training cannot see the analyses, so the monitor is a function passed
/// in), and the names of its metrics.
[<RequireQualifiedAccess>]
module TrainingMonitor =

    /// The monitor metric of `decodingMonitor` for `R2_hat`.
    [<Literal>]
    val R2HatAccuracy: string = "r2_hat_accuracy"

    /// The monitor metric of `decodingMonitor` for `W`.
    [<Literal>]
    val WAccuracy: string = "w_accuracy"

    /// The number of random splits `decodingMonitor` averages over.
    [<Literal>]
    val monitorSplits: int = 5

    /// The measure of a `Monitoring` (`Train.fitMonitored`) that decodes the true states from the
    /// validation windows: for parameters `p`, `Evaluate.evaluateBatched cfg p batchSize validation`
    /// (from a zero state per window, in batches of `batchSize` as training's validation), then the
    /// mean held-out accuracy of `Decoding.knnPredict 3` on `Decoding.flatten R2Hat` and on
    /// `Decoding.flatten W` over `monitorSplits` random 75/25 splits of the steps from the fixed key
    /// `Random.key 0` (the same splits every epoch), as `[R2HatAccuracy, _; WAccuracy, _]`.
    /// `validation [n; T; D]`, `labels [n·T]` the state label of each validation step, window-major
    /// (`Decoding.stateLabels` or `Decoding.jointStates` of the states aligned with the windows).
    /// Raises `ArgumentException` for a label count other than `n·T` or fewer than 8 steps.
    val decodingMonitor:
        cfg: Config -> batchSize: int -> validation: float[,,] -> labels: int[] -> (Params -> (string * float) list)
