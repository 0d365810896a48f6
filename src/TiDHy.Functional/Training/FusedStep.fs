namespace TiDHy.Functional

open System
open System.Collections.Concurrent
open System.Runtime.CompilerServices
open TiDHy.Kernels

/// The training step on packed, reused buffers (`Train.step` for the configurations that
/// `FusedObjective.supports`): window inference straight into the training kernel's inputs, the
/// generated backward pass, the regularisers, GradNorm, clipping, AdamW, `training_precision`
/// rounding, `Init.normalize` and the non-finite checks, all on float64 vectors in state_dict order
/// (`ParamLayout.expected`). Each function does the arithmetic of its `Params` counterpart in the same
/// order, so the results are bitwise those of the generic step; the caller's records (parameters,
/// moments, carry, metrics) are built once per step. `FusedWorkspace` holds the packed buffers,
/// `FusedRegularisers` the regularisers, normalisation and non-finite checks on them.
[<RequireQualifiedAccess>]
module internal FusedStep =

    open FusedWorkspace

    let private pool =
        ConcurrentDictionary<struct (TrainingShape * bool * string), ConcurrentBag<Workspace>>()

    /// Parameter values this module built, with the configuration whose layout they have (so that
    /// `Model.checkParams`, which copies every tensor, runs only on parameters from elsewhere).
    let private built = ConditionalWeakTable<Params, Config>()

    let inline private grow (a: 'T[]) (n: int) =
        if a.Length < n then Array.zeroCreate<'T> n else a

    /// Window inference into `w.Kernel.Inputs` (as `Objective.trajectory`): returns the iteration
    /// counts' sum and the number of steps that reached `max_iter`, and the step count. `cancel` is
    /// checked before every time step (`OperationCanceledException`).
    let private infer
        (cancel: Threading.CancellationToken)
        (cfg: Config)
        (w: Workspace)
        (init: Carry option)
        (X: float[,,])
        =
        let batch, time = Array3D.length1 X, Array3D.length2 X
        let d, r, r2 = cfg.InputDim, cfg.RDim, cfg.R2Dim
        let offset = if init.IsSome then 0 else 1
        let steps = time - offset
        let inputs = w.Kernel.Inputs
        inputs.Resize(FusedObjective.shape cfg, batch, steps, init.IsNone)

        if init.IsNone then
            for b in 0 .. batch - 1 do
                for f in 0 .. d - 1 do
                    inputs.X0[b * d + f] <- X[b, 0, f]

        for k in 0 .. steps - 1 do
            for b in 0 .. batch - 1 do
                let row = (k * batch + b) * d

                for f in 0 .. d - 1 do
                    inputs.X[row + f] <- X[b, k + offset, f]

        match init with
        | Some c ->
            Buffer.BlockCopy(c.R, 0, inputs.RPrev, 0, batch * r * sizeof<float>)
            Buffer.BlockCopy(c.R2, 0, inputs.R2Prev, 0, batch * r2 * sizeof<float>)
        | None ->
            Array.Clear(inputs.RPrev, 0, batch * r)
            Array.Clear(inputs.R2Prev, 0, batch * r2)

        let inside, _ = Inference.dataDomain cfg.Loss
        let kernel = Fused.kernel cfg
        let settings = Fused.settings cfg
        let single = cfg.Backend = Backend.FusedFloat32
        w.Iters <- grow w.Iters batch
        let iters = w.Iters.AsSpan(0, batch)
        let mutable total = 0.0
        let mutable atMax = 0

        if single then
            w.X32 <- grow w.X32 (steps * batch * d)
            w.R32 <- grow w.R32 (steps * batch * r)
            w.R2_32 <- grow w.R2_32 (steps * batch * r2)
            w.RP0_32 <- grow w.RP0_32 (batch * r)
            w.R2P0_32 <- grow w.R2P0_32 (batch * r2)
            w.RHat32 <- grow w.RHat32 (batch * r)

            for i in 0 .. steps * batch * d - 1 do
                w.X32[i] <- float32 inputs.X[i]

            for i in 0 .. batch * r - 1 do
                w.RP0_32[i] <- float32 inputs.RPrev[i]

            for i in 0 .. batch * r2 - 1 do
                w.R2P0_32[i] <- float32 inputs.R2Prev[i]
        else
            w.RHat <- grow w.RHat (batch * r)

        for k in 0 .. steps - 1 do
            cancel.ThrowIfCancellationRequested()

            if cfg.Loss <> LossKind.MSE then
                let x0 = k * batch * d

                for i in x0 .. x0 + batch * d - 1 do
                    if not (inside inputs.X[i]) then
                        Inference.checkDomain cfg "x" (Forward.timeStep X (k + offset))

            let xs, rs, r2s = k * batch * d, k * batch * r, k * batch * r2

            let stats =
                if single then
                    let rP =
                        if k = 0 then
                            ReadOnlySpan(w.RP0_32, 0, batch * r)
                        else
                            ReadOnlySpan(w.R32, rs - batch * r, batch * r)

                    let r2P =
                        if k = 0 then
                            ReadOnlySpan(w.R2P0_32, 0, batch * r2)
                        else
                            ReadOnlySpan(w.R2_32, r2s - batch * r2, batch * r2)

                    let st =
                        kernel.Infer(
                            w.Model.Single,
                            settings,
                            batch,
                            ReadOnlySpan(w.X32, xs, batch * d),
                            rP,
                            r2P,
                            Span(w.R32, rs, batch * r),
                            Span(w.R2_32, r2s, batch * r2),
                            Span(w.RHat32, 0, batch * r),
                            iters
                        )

                    for i in rs .. rs + batch * r - 1 do
                        inputs.R[i] <- float w.R32[i]

                    for i in r2s .. r2s + batch * r2 - 1 do
                        inputs.R2[i] <- float w.R2_32[i]

                    st
                else
                    kernel.Infer(
                        w.Model.Double,
                        settings,
                        batch,
                        ReadOnlySpan(inputs.X, xs, batch * d),
                        ReadOnlySpan(inputs.RPrev, rs, batch * r),
                        ReadOnlySpan(inputs.R2Prev, r2s, batch * r2),
                        Span(inputs.R, rs, batch * r),
                        Span(inputs.R2, r2s, batch * r2),
                        Span(w.RHat, 0, batch * r),
                        iters
                    )

            Fused.checkDiverged cfg "inf" stats
            total <- total + float stats.Iterations

            if stats.Iterations >= cfg.MaxIter then
                atMax <- atMax + 1

            if k + 1 < steps then
                Array.Copy(inputs.R, rs, inputs.RPrev, rs + batch * r, batch * r)
                Array.Copy(inputs.R2, r2s, inputs.R2Prev, r2s + batch * r2, batch * r2)

        total, atMax, steps

    /// One training step on packed buffers: what `Train.step` returns (its generic path, bit for bit).
    let private stepOn
        (cancel: Threading.CancellationToken)
        (w: Workspace)
        (cfg: Config)
        (state: TrainState)
        (X: float[,,])
        : TrainState * StepMetrics =
        let p = state.Params
        let init = if cfg.Stateful then state.Carry else None
        let count = w.Count

        let iterSum, atMax, steps, values =
            TrainingDivergence.guardInference state.Epoch state.Batch "the training step" (fun () ->
                match built.TryGetValue p with
                | true, c when c = cfg -> ()
                | _ -> Model.checkParams cfg p

                let batch, _ =
                    Shape.checkWindow (nameof X) (if init.IsSome then 1 else 2) cfg.InputDim X

                Shape.checkFiniteArray3 (nameof X) X

                match init with
                | Some c ->
                    Shape.checkMatrix "init.R" batch cfg.RDim c.R
                    Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2
                    Shape.checkFiniteMatrix "rP" c.R
                    Shape.checkFiniteMatrix "r2" c.R2
                | None -> ()

                pack p w.P
                w.RefillModel()
                let iterSum, atMax, steps = infer cancel cfg w init X
                w.Kernel.Run w.P
                iterSum, atMax, steps, w.Kernel.Values)

        let hat, bar, temp, r2 = values[0], values[1], values[2], values[3]
        let grads = w.Kernel.Gradients
        let cosReg, orthR2 = FusedRegularisers.core cfg w
        let coreValue = cfg.CosEta * cosReg + cfg.OrthAlphaR2 * orthR2
        let optValue = FusedRegularisers.optional cfg w p
        let total = 0.0 + hat + bar + temp + r2 + coreValue + optValue
        let g, cg, og = w.G, w.Core, w.Optional
        let tasks = GradNorm.taskCount cfg

        let gradNorm, gnStep =
            if cfg.GradNorm then
                let t = w.Tasks

                for i in 0 .. count - 1 do
                    t[0][i] <- grads[i] + og[i]
                    t[1][i] <- grads[count + i] + og[i]
                    t[2][i] <- grads[2 * count + i] + cg[i] + og[i]

                    if tasks = 4 then
                        t[3][i] <- grads[3 * count + i] + og[i]

                let a = state.GradNorm.Weights

                for i in 0 .. count - 1 do
                    let mutable s = 0.0

                    for k in 0 .. tasks - 1 do
                        s <- s + a[k] * t[k][i]

                    g[i] <- s

                let losses =
                    [|
                        yield 0.0 + hat + optValue
                        yield 0.0 + bar + optValue
                        yield 0.0 + temp + coreValue + optValue
                        if tasks = 4 then
                            yield 0.0 + r2 + optValue
                    |]

                let norms (a: float[]) =
                    Array.init a.Length (fun k ->
                        let mutable s = 0.0

                        for li in w.ByName do
                            let l = w.Leaves[li]

                            s <-
                                s
                                + (if GradNorm.inTask k l.Name then
                                       sqrt (FusedRegularisers.sumSquares t[k] l.Start l.Length)
                                   else
                                       0.0)

                        a[k] * s)

                let update = GradNorm.updateWith cfg state.GradNorm losses norms
                update.State, Some update.Step
            else
                for i in 0 .. count - 1 do
                    let mutable s = 0.0
                    s <- s + 1.0 * grads[i]
                    s <- s + 1.0 * grads[count + i]
                    s <- s + 1.0 * grads[2 * count + i]
                    s <- s + 1.0 * grads[3 * count + i]
                    s <- s + 1.0 * cg[i]
                    s <- s + 1.0 * og[i]
                    g[i] <- s

                state.GradNorm, None

        // Optim.clipGradNorm.
        if not (cfg.ClipGrad > 0.0) then
            invalidArg "maxNorm" $"maxNorm: expected a positive norm, got {cfg.ClipGrad}."

        let normBeforeClip =
            let mutable s = 0.0

            for l in w.Leaves do
                s <- s + FusedRegularisers.sumSquares g l.Start l.Length

            sqrt s

        let coef = min 1.0 (cfg.ClipGrad / (normBeforeClip + 1e-6))

        for i in 0 .. count - 1 do
            g[i] <- coef * g[i]

        // Optim.adamW with Train.groups' rates.
        let h = Optim.adamWDefaults
        let step = state.Optimizer.Step + 1
        // Optim.adamW's checks, with its errors: moments shaped like the parameters, a step count >= 1.
        let sameLeaves (m: Params) =
            let a, b = FusedObjective.tensors p, FusedObjective.tensors m

            List.length a = List.length b
            && List.forall2 (fun (x: Array) (y: Array) -> x.Length = y.Length) a b

        if not (sameLeaves state.Optimizer.ExpAvg && sameLeaves state.Optimizer.ExpAvgSq) then
            ParamTree.mismatch ()

        if step < 1 then
            invalidArg (nameof step) $"step: expected a step count >= 1, got {step}."

        pack state.Optimizer.ExpAvg w.M
        pack state.Optimizer.ExpAvgSq w.V
        let factor = Optim.learningRateFactor cfg state.Epoch state.Optimizer.Step
        let bc1 = 1.0 - Math.Pow(h.Beta1, float step)
        let bc2Sqrt = sqrt (1.0 - Math.Pow(h.Beta2, float step))
        let pv, m, v = w.P, w.M, w.V

        for l in w.Leaves do
            let grp = Optim.groupOf cfg l.Name
            let lr = grp.LearningRate * factor
            let wd = grp.WeightDecay

            for i in l.Start .. l.Start + l.Length - 1 do
                let gi = g[i]
                let mi = m[i] + (1.0 - h.Beta1) * (gi - m[i])
                let vi = h.Beta2 * v[i] + (1.0 - h.Beta2) * gi * gi
                m[i] <- mi
                v[i] <- vi
                let decayed = pv[i] * (1.0 - lr * wd)
                pv[i] <- decayed - (lr / bc1) * mi / (sqrt vi / bc2Sqrt + h.Eps)

        FusedRegularisers.normalize cfg w

        if cfg.TrainingPrecision = TrainingPrecision.Float32 then
            for a in [| pv; m; v |] do
                for i in 0 .. count - 1 do
                    a[i] <- float (float32 a[i])

        let newParams = FusedObjective.unpack p pv 0
        built.AddOrUpdate(newParams, cfg)

        let carry =
            if cfg.Stateful then
                let inputs = w.Kernel.Inputs
                let batch = inputs.Batch
                let rr = Array2D.zeroCreate batch cfg.RDim
                let rr2 = Array2D.zeroCreate batch cfg.R2Dim
                Buffer.BlockCopy(inputs.R, (steps - 1) * batch * cfg.RDim * 8, rr, 0, batch * cfg.RDim * 8)
                Buffer.BlockCopy(inputs.R2, (steps - 1) * batch * cfg.R2Dim * 8, rr2, 0, batch * cfg.R2Dim * 8)
                Some { R = rr; R2 = rr2 }
            else
                None

        let next =
            { state with
                Params = newParams
                Optimizer =
                    {
                        Step = step
                        ExpAvg = FusedObjective.unpack p m 0
                        ExpAvgSq = FusedObjective.unpack p v 0
                    }
                GradNorm = gradNorm
                Batch = state.Batch + 1
                Carry = carry
            }

        let diverged quantity value =
            raise (TrainingDivergedException(state.Epoch, state.Batch, quantity, value))

        if not (Double.IsFinite total) then
            diverged "the loss" total

        match FusedRegularisers.nonFinite w next with
        | Some(quantity, value) -> diverged quantity value
        | None -> ()

        next,
        {
            Losses =
                {
                    SpatialLossRHat = hat
                    SpatialLossRBar = bar
                    TempLoss = temp
                    R2Loss = r2
                }
            CosReg = cosReg
            OrthR2 = orthR2
            Regularisers = optValue
            Total = total
            GradNormBeforeClip = normBeforeClip
            GradNorm = gnStep
            MeanIterations = iterSum / float steps
            MaxIterShare = float atMax / float steps
        }

    /// `step`, checking `cancel` before every time step of the window's inference: raises
    /// `OperationCanceledException` (nothing of the step returned) once it is cancelled.
    let stepCancellable
        (cancel: Threading.CancellationToken)
        (cfg: Config)
        (state: TrainState)
        (X: float[,,])
        : TrainState * StepMetrics =
        let shape = FusedObjective.shape cfg
        let float32 = cfg.TrainingPrecision = TrainingPrecision.Float32
        let variant = TrainingKernels.Find shape

        let bag =
            pool.GetOrAdd(struct (shape, float32, variant.Variant.Name), fun _ -> ConcurrentBag())

        let w =
            match bag.TryTake() with
            | true, w -> w
            | _ -> Workspace(cfg, variant.CreateTraining(shape, float32))

        try
            stepOn cancel w cfg state X
        finally
            bag.Add w

    /// One training step of `Train.step` on a pooled workspace for `cfg` (validated; `supports`).
    let step (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        stepCancellable Threading.CancellationToken.None cfg state X
