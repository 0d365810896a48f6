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

    /// The monitor metric of `decodingMonitor` for `R_hat`.
    [<Literal>]
    val RHatAccuracy: string = "r_hat_accuracy"

    /// The monitor metric of `decodingMonitor` for the raw validation input (the baseline the
    /// latents must beat; the same every epoch).
    [<Literal>]
    val RawInputAccuracy: string = "raw_input_accuracy"

    /// The number of block splits `decodingMonitor` averages over.
    [<Literal>]
    val monitorSplits: int = 5

    /// The length of the held-out blocks of `decodingMonitor` on `steps` validation steps: 100 steps,
    /// or `steps / 8` (at least 1) when that is shorter, so that there are at least 8 blocks.
    val blockLength: steps: int -> int

    /// The measure of a `Monitoring` (`Train.fitMonitored`) that decodes the true states from the
    /// validation windows as `tidhy eval` and the demo evaluate: for parameters `p`, the windows
    /// `validation [n; T; D]` (consecutive and non-overlapping, as `tidhy train` and the demo make
    /// them) joined into one series and evaluated continuously (`Evaluate.evaluateSeries cfg p
    /// batchSize SeriesEvaluation.Continuous`), then the mean held-out accuracy of
    /// `Decoding.knnPredict 3` on `R2Hat`, on `W`, on `RHat` and on the raw validation input over
    /// `monitorSplits` splits that hold out 25% of the contiguous blocks of `blockLength` steps
    /// (`Decoding.blockSplits` from the fixed key `Random.key 0`, the same splits every epoch; random
    /// per-step splits leak time), as `[R2HatAccuracy, _; WAccuracy, _; RHatAccuracy, _;
    /// RawInputAccuracy, _]` (the raw input's is decoded once, when the monitor is made). `labels [n·T]` is the state label of each validation step
    /// (`Decoding.stateLabels` or `Decoding.jointStates` of the states aligned with the windows).
    /// Raises `ArgumentException` for a label count other than `n·T` or fewer than 8 steps.
    val decodingMonitor:
        cfg: Config -> batchSize: int -> validation: float[,,] -> labels: int[] -> (Params -> (string * float) list)
