namespace TiDHy.Functional

open AnalysisChecks

/// Analyses during training: `decodingMonitor`, the measure of the true states' decoding that
/// `Train.fitMonitored` runs (Training cannot see the analyses, so the monitor is a function passed
/// in), and the names of its metrics.
[<RequireQualifiedAccess>]
module TrainingMonitor =

    /// The monitor metric of `decodingMonitor` for `R2_hat`.
    [<Literal>]
    let R2HatAccuracy = "r2_hat_accuracy"

    /// The monitor metric of `decodingMonitor` for `W`.
    [<Literal>]
    let WAccuracy = "w_accuracy"

    /// The number of random splits `decodingMonitor` averages over.
    [<Literal>]
    let monitorSplits = 5

    /// The measure of a `Monitoring` (`Train.fitMonitored`) that decodes the true states from the
    /// validation windows: for parameters `p`, `Evaluate.evaluateBatched cfg p batchSize validation`
    /// (from a zero state per window, in batches of `batchSize` as training's validation), then the
    /// mean held-out accuracy of `Decoding.knnPredict 3` on `Decoding.flatten R2Hat` and on
    /// `Decoding.flatten W` over `monitorSplits` random 75/25 splits of the steps from the fixed key
    /// `Random.key 0` (the same splits every epoch), as `[R2HatAccuracy, _; WAccuracy, _]`.
    /// `validation [n; T; D]`, `labels [n·T]` the state label of each validation step, window-major
    /// (`Decoding.stateLabels` or `Decoding.jointStates` of the states aligned with the windows).
    /// Raises `ArgumentException` for a label count other than `n·T` or fewer than 8 steps.
    let decodingMonitor
        (cfg: Config)
        (batchSize: int)
        (validation: float[,,])
        (labels: int[])
        : Params -> (string * float) list =
        checkNotNull (nameof validation) validation
        checkNotNull (nameof labels) labels
        let steps = Array3D.length1 validation * Array3D.length2 validation

        if labels.Length <> steps then
            fail (nameof labels) $"expected {steps} labels (one per validation step: windows × T), got {labels.Length}."

        if steps < 8 then
            fail (nameof validation) $"expected at least 8 validation steps to decode from, got {steps}."

        if batchSize < 1 then
            fail (nameof batchSize) $"expected a positive batch size, got {batchSize}."

        let splits = Decoding.randomSplits (Random.key 0) monitorSplits steps 0.25

        fun p ->
            let record = Evaluate.evaluateBatched cfg p batchSize validation

            let accuracy (a: float[,,]) =
                (Decoding.decodingSpread Decoding.defaultNeighbours (Decoding.flatten a) labels splits).Mean

            [ R2HatAccuracy, accuracy record.R2Hat; WAccuracy, accuracy record.W ]
