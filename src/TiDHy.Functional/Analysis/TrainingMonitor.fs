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
    let RHatAccuracy = "r_hat_accuracy"

    [<Literal>]
    let RawInputAccuracy = "raw_input_accuracy"

    [<Literal>]
    let monitorSplits = 5

    let blockLength (steps: int) = max 1 (min 100 (steps / 8))

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

        let t = Array3D.length2 validation

        let series =
            Array2D.init steps (Array3D.length3 validation) (fun i d -> validation[i / t, i % t, d])

        let splits =
            Decoding.blockSplits (Random.key 0) monitorSplits steps (blockLength steps) 0.25

        let decode (x: float[,]) =
            (Decoding.decodingSpread Decoding.defaultNeighbours x labels splits).Mean

        // The baseline does not depend on the parameters: decoded once, reported every time.
        let raw = decode series

        fun p ->
            let record =
                Evaluate.evaluateSeries cfg p batchSize SeriesEvaluation.Continuous series

            let accuracy (a: float[,,]) = decode (Decoding.flatten a)

            [
                R2HatAccuracy, accuracy record.R2Hat
                WAccuracy, accuracy record.W
                RHatAccuracy, accuracy record.RHat
                RawInputAccuracy, raw
            ]
