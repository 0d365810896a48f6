namespace TiDHy.Functional

open AnalysisChecks

// The public surface of this file and its documentation: TrainingMonitor.fsi.
[<RequireQualifiedAccess>]
module TrainingMonitor =

    [<Literal>]
    let R2HatAccuracy = "r2_hat_accuracy"

    [<Literal>]
    let WAccuracy = "w_accuracy"

    [<Literal>]
    let monitorSplits = 5

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
