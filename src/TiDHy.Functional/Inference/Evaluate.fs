namespace TiDHy.Functional

// The public surface of this file and its documentation: Evaluate.fsi.
type EvaluationRecord =
    {
        SpatialLossRHatAvg: float
        SpatialLossRBarAvg: float
        TempLossAvg: float
        IBar: float[,,]
        IHat: float[,,]
        I: float[,,]
        RBar: float[,,]
        RHat: float[,,]
        R2Hat: float[,,]
        W: float[,,]
        Ut: float[,,,]
        B: float[,,] option
        TempLoss: float[,,]
        SpatialLossRHat: float[,,]
        SpatialLossRBar: float[,,]
        Iterations: int[]
        Converged: bool[]
        Final: Carry
    }

[<RequireQualifiedAccess>]
type SeriesEvaluation =
    | Continuous
    | Carried of window: int
    | Restarting of window: int

type EvaluationStep =
    {
        IBar: float[,]
        IHat: float[,]
        RBar: float[,]
        RHat: float[,]
        R2Hat: float[,]
        W: float[,]
        Ut: float[,,]
        B: float[,]
        TempLoss: float[,]
        Iterations: int
        Converged: bool
    }

[<RequireQualifiedAccess>]
module Evaluate =

    let step (cfg: Config) (p: Params) (carry: Carry) (x: float[,]) : Carry * EvaluationStep =
        let forecast = Model.temporalPrediction cfg p carry.R carry.R2
        let inf = Inference.infer cfg p x carry.R carry.R2
        let wb = Model.hypernet cfg p inf.R2
        let batch = Array2D.length1 x

        { R = inf.R; R2 = inf.R2 },
        {
            IBar = Model.decode cfg p forecast.RHat
            IHat = Model.decode cfg p inf.R
            RBar = forecast.RHat
            RHat = inf.R
            R2Hat = inf.R2
            W = wb[*, 0 .. cfg.MixDim - 1]
            Ut = forecast.Vt
            B =
                if cfg.DynBias then
                    wb[*, cfg.MixDim ..]
                else
                    Array2D.zeroCreate batch 0
            TempLoss = Array2D.init batch cfg.RDim (fun s i -> (inf.R[s, i] - forecast.RHat[s, i]) ** 2.0)
            Iterations = inf.Iterations
            Converged = inf.Converged
        }

    let firstStep (cfg: Config) (p: Params) (x: float[,]) : Carry * EvaluationStep =
        let batch = Array2D.length1 x
        let zero = Forward.zeroCarry cfg batch
        let first = Inference.inferFirstStep cfg p x

        { zero with R = first.R },
        {
            IBar = Model.decode cfg p zero.R
            IHat = Model.decode cfg p first.R
            RBar = zero.R
            RHat = first.R
            R2Hat = zero.R2
            W = Array2D.zeroCreate batch cfg.MixDim
            Ut = Array3D.zeroCreate batch cfg.RDim cfg.RDim
            B = Array2D.zeroCreate batch (if cfg.DynBias then cfg.RDim else 0)
            TempLoss = Array2D.zeroCreate batch cfg.RDim
            Iterations = first.Iterations
            Converged = first.Converged
        }

    let private stack (steps: float[,][]) =
        let b, n = Array2D.length1 steps[0], Array2D.length2 steps[0]
        Array3D.init b steps.Length n (fun s t j -> steps[t][s, j])

    let evaluateRecord (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : EvaluationRecord =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p
        let batch, time = Shape.checkWindow (nameof X) 1 cfg.InputDim X
        Shape.checkFiniteArray3 (nameof X) X
        let xs = Array.init time (Forward.timeStep X)

        let final, steps =
            match init with
            | None ->
                let c0, s0 = firstStep cfg p xs[0]
                let c, rest = Forward.scan (step cfg p) c0 xs[1..]
                c, Array.append [| s0 |] rest
            | Some c ->
                Shape.checkMatrix "init.R" batch cfg.RDim c.R
                Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2
                Forward.scan (step cfg p) c xs

        let iBar = steps |> Array.map _.IBar |> stack
        let iHat = steps |> Array.map _.IHat |> stack
        let rBar = steps |> Array.map _.RBar |> stack
        let rHat = steps |> Array.map _.RHat |> stack
        let ell = Loss.element cfg.Loss
        let lossRHat = Array3D.mapi (fun s t d v -> ell v X[s, t, d]) iHat
        let lossRBar = Array3D.mapi (fun s t d v -> ell v X[s, t, d]) iBar
        let tempLoss = steps |> Array.map _.TempLoss |> stack

        let avg (a: float[,,]) =
            let mutable sum = 0.0
            a |> Array3D.iter (fun v -> sum <- sum + v)
            sum / float batch

        {
            SpatialLossRHatAvg = avg lossRHat
            SpatialLossRBarAvg = avg lossRBar
            TempLossAvg = cfg.TempWeight * avg tempLoss
            IBar = iBar
            IHat = iHat
            I = Array3D.init batch time cfg.InputDim (fun s t d -> X[s, t, d])
            RBar = rBar
            RHat = rHat
            R2Hat = steps |> Array.map _.R2Hat |> stack
            W = steps |> Array.map _.W |> stack
            Ut = Array4D.init batch time cfg.RDim cfg.RDim (fun s t i j -> steps[t].Ut[s, i, j])
            B =
                if cfg.DynBias then
                    Some(steps |> Array.map _.B |> stack)
                else
                    None
            TempLoss = tempLoss
            SpatialLossRHat = lossRHat
            SpatialLossRBar = lossRBar
            Iterations = steps |> Array.map _.Iterations
            Converged = steps |> Array.map _.Converged
            Final = final
        }

    let evaluateWindows (cfg: Config) (p: Params) (windows: float[,,] seq) : EvaluationRecord[] =
        windows
        |> Forward.scan
            (fun carry X ->
                let record = evaluateRecord cfg p carry X
                (if cfg.Stateful then Some record.Final else None), record)
            None
        |> snd

    let joinBatches (parts: (int * EvaluationRecord)[]) : EvaluationRecord =
        if isNull parts || parts.Length = 0 then
            invalidArg (nameof parts) "parts: expected the records of one or more batches."

        let n = parts |> Array.sumBy fst

        let cat3 (f: EvaluationRecord -> float[,,]) =
            let arrays = parts |> Array.map (snd >> f)
            let t, k = Array3D.length2 arrays[0], Array3D.length3 arrays[0]
            let offsets = Array.scan (+) 0 (arrays |> Array.map Array3D.length1)

            let owner i =
                Array.findIndexBack (fun o -> o <= i) offsets[.. arrays.Length - 1]

            Array3D.init n t k (fun i j l ->
                let a = owner i
                arrays[a][i - offsets[a], j, l])

        let ut =
            let arrays = parts |> Array.map (fun (_, r) -> r.Ut)
            let t, r = Array4D.length2 arrays[0], Array4D.length3 arrays[0]
            let out = Array4D.zeroCreate n t r r
            let mutable i0 = 0

            for a in arrays do
                for i in 0 .. Array4D.length1 a - 1 do
                    for j in 0 .. t - 1 do
                        for k in 0 .. r - 1 do
                            for l in 0 .. r - 1 do
                                out[i0 + i, j, k, l] <- a[i, j, k, l]

                i0 <- i0 + Array4D.length1 a

            out

        let avg (f: EvaluationRecord -> float) =
            (parts |> Array.sumBy (fun (b, r) -> float b * f r)) / float n

        let rows (f: Carry -> float[,]) =
            parts
            |> Array.collect (fun (_, r) -> Numerics.rows (f r.Final))
            |> Numerics.ofRows (Array2D.length2 (f (snd parts[0]).Final))

        let first = snd parts[0]

        {
            SpatialLossRHatAvg = avg _.SpatialLossRHatAvg
            SpatialLossRBarAvg = avg _.SpatialLossRBarAvg
            TempLossAvg = avg _.TempLossAvg
            IBar = cat3 _.IBar
            IHat = cat3 _.IHat
            I = cat3 _.I
            RBar = cat3 _.RBar
            RHat = cat3 _.RHat
            R2Hat = cat3 _.R2Hat
            W = cat3 _.W
            Ut = ut
            B = first.B |> Option.map (fun _ -> cat3 (fun r -> r.B.Value))
            TempLoss = cat3 _.TempLoss
            SpatialLossRHat = cat3 _.SpatialLossRHat
            SpatialLossRBar = cat3 _.SpatialLossRBar
            Iterations =
                Array.init first.Iterations.Length (fun j ->
                    parts |> Array.map (fun (_, r) -> r.Iterations[j]) |> Array.max)
            Converged =
                Array.init first.Converged.Length (fun j -> parts |> Array.forall (fun (_, r) -> r.Converged[j]))
            Final = { R = rows _.R; R2 = rows _.R2 }
        }

    let evaluateBatchedWith
        (evaluate: float[,,] -> EvaluationRecord)
        (cfg: Config)
        (batchSize: int)
        (X: float[,,])
        : EvaluationRecord =
        if batchSize <= 0 then
            invalidArg (nameof batchSize) $"batchSize: expected a positive batch size, got {batchSize}."

        let n, time = Shape.checkWindow (nameof X) 1 cfg.InputDim X
        Config.checkMemory cfg (min n batchSize) time

        Array.init n id
        |> Array.chunkBySize batchSize
        |> Array.map (fun idx -> idx.Length, evaluate X[idx[0] .. idx[idx.Length - 1], *, *])
        |> joinBatches

    let evaluateBatched (cfg: Config) (p: Params) (batchSize: int) (X: float[,,]) : EvaluationRecord =
        evaluateBatchedWith (evaluateRecord cfg p None) cfg batchSize X

    let replicas (cfg: Config) (batchSize: int) =
        if batchSize <= 0 then
            invalidArg (nameof batchSize) $"batchSize: expected a positive batch size, got {batchSize}."

        match cfg.BatchScaling with
        | BatchScaling.BatchMean -> batchSize
        | BatchScaling.PerSample -> 1

    [<Literal>]
    let ChunkSteps = 1000

    let evaluatedSteps (mode: SeriesEvaluation) (steps: int) =
        match mode with
        | SeriesEvaluation.Continuous -> steps
        | SeriesEvaluation.Carried window
        | SeriesEvaluation.Restarting window -> if window <= 0 then 0 else steps / window * window

    let describe (mode: SeriesEvaluation) (steps: int) =
        let used = evaluatedSteps mode steps

        let dropped =
            if used < steps then
                $"; the last {steps - used} steps fill no window and are not evaluated"
            else
                ""

        match mode with
        | SeriesEvaluation.Continuous ->
            $"continuously: one pass over {steps} steps, the latents carried from step to step"
        | SeriesEvaluation.Carried w ->
            $"continuously in {used / w} windows of {w} steps, the latents carried from window to window{dropped}"
        | SeriesEvaluation.Restarting w ->
            $"in {used / w} windows of {w} steps, each from a zero state (upstream's evaluation){dropped}"

    /// The first sample of a record `[B; T; ·]`: `[1; T; ·]` (averages as they are: the samples are copies).
    let private firstSample (r: EvaluationRecord) : EvaluationRecord =
        if Array3D.length1 r.I = 1 then
            r
        else
            let one (a: float[,,]) = a[0..0, *, *]

            { r with
                IBar = one r.IBar
                IHat = one r.IHat
                I = one r.I
                RBar = one r.RBar
                RHat = one r.RHat
                R2Hat = one r.R2Hat
                W = one r.W
                Ut = r.Ut[0..0, *, *, *]
                B = r.B |> Option.map one
                TempLoss = one r.TempLoss
                SpatialLossRHat = one r.SpatialLossRHat
                SpatialLossRBar = one r.SpatialLossRBar
                Final =
                    {
                        R = r.Final.R[0..0, *]
                        R2 = r.Final.R2[0..0, *]
                    }
            }

    /// `copies` rows of the one-sample carry `c`.
    let private replicateCarry (copies: int) (c: Carry) : Carry =
        let rep (a: float[,]) =
            Array2D.init copies (Array2D.length2 a) (fun _ j -> a[0, j])

        { R = rep c.R; R2 = rep c.R2 }

    /// Joins the records of consecutive single-sample windows `[1; T_i; ·]` into one `[1; Σ T_i; ·]`.
    let private joinSeveral (parts: EvaluationRecord[]) : EvaluationRecord =
        let t = parts |> Array.sumBy (fun r -> Array3D.length2 r.I)

        let cat (f: EvaluationRecord -> float[,,]) =
            let arrays = parts |> Array.map f
            let out = Array3D.zeroCreate 1 t (Array3D.length3 arrays[0])
            let mutable t0 = 0

            for a in arrays do
                for j in 0 .. Array3D.length2 a - 1 do
                    for k in 0 .. Array3D.length3 a - 1 do
                        out[0, t0 + j, k] <- a[0, j, k]

                t0 <- t0 + Array3D.length2 a

            out

        let r = Array4D.length3 parts[0].Ut
        let ut = Array4D.zeroCreate 1 t r r
        let mutable t0 = 0

        for part in parts do
            let a = part.Ut

            for j in 0 .. Array4D.length2 a - 1 do
                for k in 0 .. r - 1 do
                    for l in 0 .. r - 1 do
                        ut[0, t0 + j, k, l] <- a[0, j, k, l]

            t0 <- t0 + Array4D.length2 a

        let sum (f: EvaluationRecord -> float) = parts |> Array.sumBy f
        let last = parts[parts.Length - 1]

        {
            SpatialLossRHatAvg = sum _.SpatialLossRHatAvg
            SpatialLossRBarAvg = sum _.SpatialLossRBarAvg
            TempLossAvg = sum _.TempLossAvg
            IBar = cat _.IBar
            IHat = cat _.IHat
            I = cat _.I
            RBar = cat _.RBar
            RHat = cat _.RHat
            R2Hat = cat _.R2Hat
            W = cat _.W
            Ut = ut
            B = parts[0].B |> Option.map (fun _ -> cat (fun r -> r.B.Value))
            TempLoss = cat _.TempLoss
            SpatialLossRHat = cat _.SpatialLossRHat
            SpatialLossRBar = cat _.SpatialLossRBar
            Iterations = parts |> Array.collect _.Iterations
            Converged = parts |> Array.collect _.Converged
            Final = last.Final
        }

    /// `joinSeveral`, or the one record as it is.
    let private joinInTime (parts: EvaluationRecord[]) : EvaluationRecord =
        if parts.Length = 1 then parts[0] else joinSeveral parts

    let evaluateSeriesWith
        (evaluate: Carry option -> float[,,] -> EvaluationRecord)
        (cfg: Config)
        (batchSize: int)
        (mode: SeriesEvaluation)
        (series: float[,])
        : EvaluationRecord =
        if isNull series then
            nullArg (nameof series)

        let steps, features = Array2D.length1 series, Array2D.length2 series

        if features <> cfg.InputDim then
            invalidArg
                (nameof series)
                $"series: expected {cfg.InputDim} features (input_dim), got {features} (the series is [time; features])."

        let windows (w: int) =
            if w <= 0 then
                invalidArg (nameof mode) $"mode: expected a window of at least one step, got {w}."

            if steps < w then
                invalidArg (nameof series) $"series: {steps} steps, fewer than one window of {w}."

            let n = steps / w
            Array3D.init n w features (fun i t d -> series[i * w + t, d])

        // One sample evaluated over consecutive chunks of the series, each from the previous one's
        // carry, as `copies` identical samples of one batch (upstream's BatchMean scales a batch's
        // data terms by 1/B: copies keep the steps training took), joined in time.
        let chained (copies: int) (lengths: int[]) =
            Config.checkMemory cfg copies (Array.max lengths)
            Config.checkMemory cfg 1 (Array.sum lengths)

            let starts = Array.scan (+) 0 lengths

            lengths
            |> Array.mapi (fun i len -> starts[i], len)
            |> Array.mapFold
                (fun (carry: Carry option) (start, len) ->
                    let chunk = Array3D.init copies len features (fun _ t d -> series[start + t, d])
                    Shape.checkWindow (nameof series) 1 cfg.InputDim chunk |> ignore
                    let record = evaluate carry chunk |> firstSample
                    record, Some(replicateCarry copies record.Final))
                None
            |> fst
            |> joinInTime

        let copies = replicas cfg batchSize

        match mode with
        | SeriesEvaluation.Restarting w -> evaluateBatchedWith (evaluate None) cfg batchSize (windows w)
        | SeriesEvaluation.Continuous ->
            if steps < 1 then
                invalidArg (nameof series) "series: expected at least one time step."

            if copies = 1 then
                chained 1 [| steps |]
            else
                Array.init ((steps + ChunkSteps - 1) / ChunkSteps) (fun i -> min ChunkSteps (steps - i * ChunkSteps))
                |> chained copies
        | SeriesEvaluation.Carried w ->
            let n = (windows w |> Array3D.length1)
            chained copies (Array.create n w)

    let evaluateSeries (cfg: Config) (p: Params) (batchSize: int) (mode: SeriesEvaluation) (series: float[,]) =
        evaluateSeriesWith (evaluateRecord cfg p) cfg batchSize mode series
