namespace TiDHy.Functional

open System
open TiDHy.Kernels

// The public surface of this file and its documentation: Inference.fsi.
type LatentGradient = { GradR: float[,]; GradR2: float[,] }

[<RequireQualifiedAccess>]
module Inference =

    [<Literal>]
    let Momentum = ModelConstants.NesterovMomentum

    let dataScale (cfg: Config) (batch: int) =
        match cfg.BatchScaling with
        | BatchScaling.BatchMean -> 1.0 / float batch
        | BatchScaling.PerSample -> 1.0

    let rStepSize (cfg: Config) (i: int) =
        if cfg.MaxIter < 10 then
            invalidArg (nameof cfg) $"cfg: max_iter = {cfg.MaxIter}: must be at least 10."

        if i < 0 then
            invalidArg (nameof i) $"i: expected an iteration >= 0, got {i}."

        ModelConstants.RStepSize(cfg.LrR, cfg.MaxIter, i)

    let saturate (method: Saturation) (scale: float) (v: float) =
        match method with
        | Saturation.None -> v
        | Saturation.Sigmoid -> Numerics.sigmoid v
        | Saturation.Tanh -> tanh v
        | Saturation.ScaledTanh -> scale * tanh (v / scale)

    /// One sample's objective and its gradient with respect to `r` and `r2`.
    /// `scale` multiplies the data terms; `target` is the r2 decoder's prediction (held constant).
    let private sampleObjective
        (cfg: Config)
        (p: Params)
        (vs: float[,][])
        (scale: float)
        (x: float[])
        (rP: float[])
        (target: float[] option)
        (r: float[])
        (r2: float[])
        =
        let xBar = Model.decodeSample cfg p r
        let ell = Loss.element cfg.Loss
        let dEll = Loss.derivative cfg.Loss
        let tp = Model.temporalSample p vs rP r2
        let e = Numerics.sub r tp.RHat
        let spatial = Array.fold2 (fun s xb xo -> s + ell xb xo) 0.0 xBar x
        let temporal = e |> Array.sumBy (fun v -> v * v)

        let r2Err =
            match target with
            | Some t -> Numerics.sub r2 t
            | None -> [||]

        let l1 (v: float[]) = v |> Array.sumBy abs

        let value =
            scale
            * (spatial + cfg.TempWeight * temporal + (r2Err |> Array.sumBy (fun v -> v * v)))
            + cfg.L1InfW * l1 tp.W
            + cfg.L1InfR2 * l1 r2
            + cfg.L1InfR * l1 r

        let gXBar = Array.map2 (fun xb xo -> scale * dEll xb xo) xBar x
        let gDecode = Model.decodeVjp cfg p r gXBar

        let gR =
            Array.init r.Length (fun i ->
                gDecode[i]
                + scale * 2.0 * cfg.TempWeight * e[i]
                + cfg.L1InfR * Numerics.sign r[i])

        let gRHat = e |> Array.map (fun v -> -scale * 2.0 * cfg.TempWeight * v)
        let gW = tp.W |> Array.map (fun w -> cfg.L1InfW * Numerics.sign w)
        let gHyper = Model.temporalVjpR2 p tp gRHat gW

        let gR2 =
            Array.init r2.Length (fun j ->
                gHyper[j]
                + (if r2Err.Length > 0 then scale * 2.0 * r2Err[j] else 0.0)
                + cfg.L1InfR2 * Numerics.sign r2[j])

        value, gR, gR2

    let dataDomain (loss: LossKind) : (float -> bool) * string =
        match loss with
        | LossKind.MSE -> (fun _ -> true), "any finite number"
        | LossKind.BCE -> (fun v -> v >= 0.0 && v <= 1.0), "[0, 1] (binary data or probabilities)"
        | LossKind.Poisson -> (fun v -> v >= 0.0), "non-negative numbers (counts)"

    let checkDomain (cfg: Config) (name: string) (x: float[,]) =
        let inside, domain = dataDomain cfg.Loss

        if cfg.Loss <> LossKind.MSE then
            for i in 0 .. Array2D.length1 x - 1 do
                for j in 0 .. Array2D.length2 x - 1 do
                    if not (inside x[i, j]) then
                        invalidArg
                            name
                            $"{name}: entry [row {i}; column {j}] = {x[i, j]}: loss_type {cfg.Loss} needs data in {domain}; rescale the data or choose another loss_type."

    let checkInputs (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) =
        Config.validateOrThrow cfg |> ignore
        Model.checkParams cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkMatrix (nameof rP) b cfg.RDim rP
        Shape.checkMatrix (nameof r2) b cfg.R2Dim r2
        Shape.checkFiniteMatrix (nameof x) x
        Shape.checkFiniteMatrix (nameof rP) rP
        Shape.checkFiniteMatrix (nameof r2) r2
        checkDomain cfg (nameof x) x
        b

    let private targets (cfg: Config) (p: Params) (b: int) (target: float[,] option) =
        match target with
        | Some _ when not cfg.UseR2Decoder ->
            invalidArg
                (nameof target)
                "target: given, but the configuration has no r2 decoder (use_r2_decoder = false)."
        | Some t ->
            Shape.checkMatrix (nameof target) b cfg.R2Dim t
            Array.init b (fun s -> Some(Numerics.row t s))
        | None ->
            if cfg.UseR2Decoder then
                invalidArg (nameof target) "target: use_r2_decoder needs the r2 decoder's prediction."

            Array.create b None

    /// Each sample's objective term and gradient, after the input checks.
    let private perSample
        (cfg: Config)
        (p: Params)
        (x: float[,])
        (rP: float[,])
        (target: float[,] option)
        (r: float[,])
        (r2: float[,])
        =
        let b = checkInputs cfg p x rP r2
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let ts = targets cfg p b target
        let vs = Model.dynamicsMatrices p
        let scale = dataScale cfg b
        let row (a: float[,]) s = Numerics.row a s
        Array.init b (fun s -> sampleObjective cfg p vs scale (row x s) (row rP s) ts[s] (row r s) (row r2 s))

    let objective cfg p x rP target r r2 : float =
        perSample cfg p x rP target r r2 |> Array.sumBy (fun (v, _, _) -> v)

    let gradient cfg p x rP target r r2 : LatentGradient =
        let gs = perSample cfg p x rP target r r2

        {
            GradR = Numerics.ofRows cfg.RDim (gs |> Array.map (fun (_, gr, _) -> gr))
            GradR2 = Numerics.ofRows cfg.R2Dim (gs |> Array.map (fun (_, _, gr2) -> gr2))
        }

    /// Raises `InferenceDivergedException` for `operation` after iteration `iteration` (from 1) when a
    /// sample's `r` (`rs[s]`) or else `r2` (`r2s[s]`) holds NaN or infinity, naming the first such
    /// sample in batch order (the fused kernels report the same).
    let private checkFiniteLatents (cfg: Config) (operation: string) (iteration: int) (rs: float[][]) (r2s: float[][]) =
        let bad (v: float[]) = not (Array.forall Double.IsFinite v)

        for s in 0 .. rs.Length - 1 do
            let quantity =
                if bad rs[s] then InferenceQuantity.R
                elif r2s.Length > 0 && bad r2s[s] then InferenceQuantity.R2
                else InferenceQuantity.None

            if quantity <> InferenceQuantity.None then
                raise (InferenceDivergedException(operation, iteration, cfg.MaxIter, s, quantity))

    let private relChange (a: float[]) (old: float[]) =
        Numerics.norm (Numerics.sub a old)
        / (Numerics.norm old + ModelConstants.RelChangeGuard)

    let inferReference (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) : InferResult =
        let b = checkInputs cfg p x rP r2
        let vs = Model.dynamicsMatrices p
        let scale = dataScale cfg b
        let xs = Numerics.rows x
        let rPs = Numerics.rows rP
        let r = Array.init b (fun _ -> Array.zeroCreate<float> cfg.RDim)
        let r2 = Numerics.rows r2
        let vr = Array.init b (fun _ -> Array.zeroCreate<float> cfg.RDim)
        let vr2 = Array.init b (fun _ -> Array.zeroCreate<float> cfg.R2Dim)
        let active = Array.create b true
        let sampleIters = Array.zeroCreate<int> b
        let mutable i = 0
        let mutable converged = false

        let nesterov (lr: float) (param: float[]) (vel: float[]) (g: float[]) =
            for j in 0 .. param.Length - 1 do
                vel[j] <- Momentum * vel[j] + g[j]
                param[j] <- param[j] - lr * (g[j] + Momentum * vel[j])

        while not converged && i < cfg.MaxIter do
            let lrR = rStepSize cfg i
            let oldR = r |> Array.map Array.copy
            let oldR2 = r2 |> Array.map Array.copy

            for s in 0 .. b - 1 do
                if active[s] then
                    let target =
                        p.R2Decoder |> Option.map (fun m -> Model.r2DecodeSample m oldR[s] oldR2[s])

                    let _, gr, gr2 = sampleObjective cfg p vs scale xs[s] rPs[s] target r[s] r2[s]
                    nesterov lrR r[s] vr[s] gr
                    nesterov cfg.LrR2 r2[s] vr2[s] gr2

                    r2[s] <-
                        r2[s]
                        |> Array.map (Numerics.softThreshold cfg.LmdaR2 >> saturate cfg.SaturateR2 cfg.SaturateR2Scale)

                    r[s] <-
                        r[s]
                        |> Array.map (Numerics.softThreshold cfg.LmdaR >> saturate cfg.SaturateR cfg.SaturateRScale)

                    sampleIters[s] <- sampleIters[s] + 1

            checkFiniteLatents cfg "inf" (i + 1) r r2

            match cfg.Convergence with
            | Convergence.Batch ->
                let flat (a: float[][]) = Array.concat a

                converged <-
                    relChange (flat r) (flat oldR) < cfg.Tol
                    && relChange (flat r2) (flat oldR2) < cfg.Tol
            | Convergence.AllSamples ->
                converged <-
                    Array.forall
                        id
                        (Array.init b (fun s -> relChange r[s] oldR[s] < cfg.Tol && relChange r2[s] oldR2[s] < cfg.Tol))
            | Convergence.PerSample ->
                for s in 0 .. b - 1 do
                    if
                        active[s]
                        && relChange r[s] oldR[s] < cfg.Tol
                        && relChange r2[s] oldR2[s] < cfg.Tol
                    then
                        active[s] <- false

                converged <- not (Array.contains true active)

            i <- i + 1

        let r2 = Numerics.ofRows cfg.R2Dim r2

        {
            R = Numerics.ofRows cfg.RDim r
            R2 = r2
            RHat = (Model.temporalPrediction cfg p rP r2).RHat
            Iterations = i
            Converged = converged
            SampleIterations = sampleIters
        }

    let firstStepObjective (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) =
        Config.validateOrThrow cfg |> ignore
        Model.checkParams cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let ell = Loss.element cfg.Loss
        let scale = dataScale cfg b

        Array.init b (fun s ->
            Array.fold2
                (fun acc xb xo -> acc + ell xb xo)
                0.0
                (Model.decodeSample cfg p (Numerics.row r s))
                (Numerics.row x s))
        |> Array.sumBy (fun v -> scale * v)

    let private firstStepSampleGradient (cfg: Config) (p: Params) (scale: float) (x: float[]) (r: float[]) =
        let dEll = Loss.derivative cfg.Loss
        let xBar = Model.decodeSample cfg p r
        Model.decodeVjp cfg p r (Array.map2 (fun xb xo -> scale * dEll xb xo) xBar x)

    let firstStepGradient (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) =
        Config.validateOrThrow cfg |> ignore
        Model.checkParams cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let scale = dataScale cfg b

        Array.init b (fun s -> firstStepSampleGradient cfg p scale (Numerics.row x s) (Numerics.row r s))
        |> Numerics.ofRows cfg.RDim

    [<Literal>]
    let FirstStepWeightDecay = ModelConstants.FirstStepWeightDecay

    let firstStepLoop
        (cfg: Config)
        (batch: int)
        (iterate: int -> float -> float -> bool[] -> bool[])
        : int * bool * int[] =
        let active = Array.create batch true
        let sampleIters = Array.zeroCreate<int> batch
        let mutable i = 0
        let mutable converged = false

        while not converged && i < cfg.MaxIter do
            let step = float (i + 1)
            let bc1 = 1.0 - Math.Pow(ModelConstants.AdamBeta1, step)
            let bc2Sqrt = sqrt (1.0 - Math.Pow(ModelConstants.AdamBeta2, step))
            let below = iterate i bc1 bc2Sqrt active

            for s in 0 .. batch - 1 do
                if active[s] then
                    sampleIters[s] <- sampleIters[s] + 1

            match cfg.Convergence with
            | Convergence.PerSample ->
                for s in 0 .. batch - 1 do
                    if active[s] && below[s] then
                        active[s] <- false

                converged <- not (Array.contains true active)
            | Convergence.Batch
            | Convergence.AllSamples -> converged <- Array.forall id below

            i <- i + 1

        i, converged, sampleIters

    let inferFirstStepReference (cfg: Config) (p: Params) (x: float[,]) : FirstStepResult =
        Config.validateOrThrow cfg |> ignore
        Model.checkParams cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkFiniteMatrix (nameof x) x
        checkDomain cfg (nameof x) x
        let scale = dataScale cfg b
        let xs = Numerics.rows x
        let r = Array.init b (fun _ -> Array.zeroCreate<float> cfg.RDim)
        let m1 = Array.init b (fun _ -> Array.zeroCreate<float> cfg.RDim)
        let m2 = Array.init b (fun _ -> Array.zeroCreate<float> cfg.RDim)

        let beta1, beta2, eps =
            ModelConstants.AdamBeta1, ModelConstants.AdamBeta2, ModelConstants.AdamEps

        let lr = cfg.LrR

        let i, converged, sampleIters =
            firstStepLoop cfg b (fun i bc1 bc2Sqrt active ->
                let changes = Array.zeroCreate<bool> b

                for s in 0 .. b - 1 do
                    if active[s] then
                        let old = Array.copy r[s]
                        let g = firstStepSampleGradient cfg p scale xs[s] r[s]

                        for j in 0 .. cfg.RDim - 1 do
                            r[s][j] <- r[s][j] * (1.0 - lr * FirstStepWeightDecay)
                            m1[s][j] <- beta1 * m1[s][j] + (1.0 - beta1) * g[j]
                            m2[s][j] <- beta2 * m2[s][j] + (1.0 - beta2) * g[j] * g[j]
                            let denom = sqrt (m2[s][j]) / bc2Sqrt + eps

                            r[s][j] <-
                                saturate cfg.SaturateR cfg.SaturateRScale (r[s][j] - (lr / bc1) * m1[s][j] / denom)

                        changes[s] <- relChange r[s] old < cfg.Tol

                checkFiniteLatents cfg "inf_first_step" (i + 1) r [||]
                changes)

        {
            R = Numerics.ofRows cfg.RDim r
            Iterations = i
            Converged = converged
            SampleIterations = sampleIters
        }

    let infer (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) : InferResult =
        match cfg.Backend with
        | Backend.Reference -> inferReference cfg p x rP r2
        | Backend.Fused
        | Backend.FusedFloat32 ->
            checkInputs cfg p x rP r2 |> ignore
            Fused.infer cfg p x rP r2

    let inferInto
        (cfg: Config)
        (p: Params)
        (x: float[,])
        (rP: float[,])
        (r2: float[,])
        (batchSize: int)
        (r: float[,])
        (r2Out: float[,])
        (rHat: float[,])
        (sampleIterations: int[])
        : struct (int * bool) =
        let b = checkInputs cfg p x rP r2

        if batchSize < 1 then
            raise (ArgumentOutOfRangeException(nameof batchSize, batchSize, "batchSize: must be at least 1."))

        Shape.checkMatrix (nameof r) b cfg.RDim r
        Shape.checkMatrix (nameof r2Out) b cfg.R2Dim r2Out
        Shape.checkMatrix (nameof rHat) b cfg.RDim rHat

        if isNull sampleIterations then
            nullArg (nameof sampleIterations)

        if sampleIterations.Length <> b then
            raise (
                ArgumentException(
                    $"sampleIterations: expected shape {Shape.show [ b ]}, got {Shape.show [ sampleIterations.Length ]}.",
                    nameof sampleIterations
                )
            )

        let d, rd, r2d = cfg.InputDim, cfg.RDim, cfg.R2Dim
        let mutable iterations = 0
        let mutable converged = true
        let mutable start = 0

        while start < b do
            let n = min batchSize (b - start)

            match cfg.Backend with
            | Backend.Fused
            | Backend.FusedFloat32 ->
                let stats =
                    Fused.inferSpans
                        cfg
                        p
                        n
                        ((Fused.items x).Slice(start * d, n * d))
                        ((Fused.items rP).Slice(start * rd, n * rd))
                        ((Fused.items r2).Slice(start * r2d, n * r2d))
                        ((Fused.span r).Slice(start * rd, n * rd))
                        ((Fused.span r2Out).Slice(start * r2d, n * r2d))
                        ((Fused.span rHat).Slice(start * rd, n * rd))
                        (Span(sampleIterations, start, n))

                iterations <- max iterations stats.Iterations
                converged <- converged && stats.Converged
            | _ ->
                let rows (a: float[,]) =
                    Array2D.init n (Array2D.length2 a) (fun i j -> a[start + i, j])

                let res = inferReference cfg p (rows x) (rows rP) (rows r2)
                Array.Copy(res.R, 0, r, start * rd, n * rd)
                Array.Copy(res.R2, 0, r2Out, start * r2d, n * r2d)
                Array.Copy(res.RHat, 0, rHat, start * rd, n * rd)
                Array.Copy(res.SampleIterations, 0, sampleIterations, start, n)
                iterations <- max iterations res.Iterations
                converged <- converged && res.Converged

            start <- start + n

        struct (iterations, converged)

    let inferFirstStep (cfg: Config) (p: Params) (x: float[,]) : FirstStepResult =
        match cfg.Backend with
        | Backend.Reference -> inferFirstStepReference cfg p x
        | Backend.Fused
        | Backend.FusedFloat32 ->
            Config.validateOrThrow cfg |> ignore
            Model.checkParams cfg p
            Shape.checkBatch (nameof x) cfg.InputDim x |> ignore
            Shape.checkFiniteMatrix (nameof x) x
            checkDomain cfg (nameof x) x
            Fused.inferFirstStep cfg p x

    let kernelName (cfg: Config) : string option =
        match (Config.validateOrThrow cfg).Backend with
        | Backend.Reference -> None
        | Backend.Fused
        | Backend.FusedFloat32 -> Some (Fused.kernel cfg).Variant.Name
