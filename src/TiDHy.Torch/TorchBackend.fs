namespace TiDHy.Torch

open System
open System.Diagnostics
open System.IO
open TorchSharp
open TiDHy.Functional
open TiDHy.Torch.TensorOps

/// TiDHy on TorchSharp tensors: the functions of `Inference`, `Forward`, `Evaluate` and `Train` with
/// the same records in and out, computed batched over samples on the device that `TorchOptions`
/// names (`"cpu"`, `"cuda:0"`, …) in float64 or float32. Inference's latent gradients and training's
/// parameter gradients come from autograd. Every call validates the configuration and refuses the
/// options the backend does not implement (`TorchSupport.check`). Each call frees the native memory
/// it allocated before it returns (TorchSharp dispose scopes); the records it returns are .NET
/// arrays, and nothing the caller passes is changed.
[<RequireQualifiedAccess>]
module TorchBackend =

    type private Tensor = torch.Tensor

    let private scaleOf (cfg: Config) (b: int) =
        match cfg.BatchScaling with
        | BatchScaling.BatchMean -> 1.0 / float b
        | BatchScaling.PerSample -> 1.0

    let private checkInputs (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) =
        TParams.check cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkMatrix (nameof rP) b cfg.RDim rP
        Shape.checkMatrix (nameof r2) b cfg.R2Dim r2
        Shape.checkFiniteMatrix (nameof x) x
        Shape.checkFiniteMatrix (nameof rP) rP
        Shape.checkFiniteMatrix (nameof r2) r2
        Inference.checkDomain cfg (nameof x) x
        b

    /// `Model.decode` on tensors: `r [batch; R]` → `x̄ [batch; D]`.
    let decode (options: TorchOptions) (cfg: Config) (p: Params) (r: float[,]) : float[,] =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        Shape.checkBatch (nameof r) cfg.RDim r |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        TorchModel.decode cfg (TParams.ofParams c cfg p) (T.ofMatrix c r) |> T.toMatrix

    /// `Model.temporalPrediction` on tensors: `rP [batch; R]`, `r2 [batch; R2]`.
    let temporalPrediction
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (rP: float[,])
        (r2: float[,])
        : TemporalPrediction =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        let b = Shape.checkBatch (nameof rP) cfg.RDim rP
        Shape.checkMatrix (nameof r2) b cfg.R2Dim r2
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let v = TorchModel.dynamics cfg tp

        let rHat, w, bias =
            TorchModel.temporal cfg tp (TorchModel.project v (T.ofMatrix c rP)) (T.ofMatrix c r2)

        {
            RHat = T.toMatrix rHat
            Vt = T.toArray3 (TorchModel.mixed w v)
            W = T.toMatrix w
            B = bias |> Option.map T.toMatrix
        }

    /// `Inference.infer` on tensors: `x [batch; D]`, `rP [batch; R]`, `r2 [batch; R2]`.
    let infer
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (x: float[,])
        (rP: float[,])
        (r2: float[,])
        : InferResult =
        let cfg = TorchSupport.check cfg
        checkInputs cfg p x rP r2 |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let v = TorchModel.dynamics cfg tp
        let rPt = T.ofMatrix c rP
        let res = TorchInference.infer cfg tp v (T.ofMatrix c x) rPt (T.ofMatrix c r2)
        let rHat, _, _ = TorchModel.temporal cfg tp (TorchModel.project v rPt) res.R2

        {
            R = T.toMatrix res.R
            R2 = T.toMatrix res.R2
            RHat = T.toMatrix rHat
            Iterations = res.Iterations
            Converged = res.Converged
            SampleIterations = res.SampleIterations
        }

    /// `Inference.inferFirstStep` on tensors: `x [batch; D]`.
    let inferFirstStep (options: TorchOptions) (cfg: Config) (p: Params) (x: float[,]) : FirstStepResult =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        Shape.checkBatch (nameof x) cfg.InputDim x |> ignore
        Shape.checkFiniteMatrix (nameof x) x
        Inference.checkDomain cfg (nameof x) x
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let r, i, conv, counts = TorchInference.inferFirstStep cfg tp (T.ofMatrix c x)

        {
            R = T.toMatrix r
            Iterations = i
            Converged = conv
            SampleIterations = counts
        }

    /// `Inference.objective` evaluated on tensors (same arguments).
    let inferenceObjective
        options
        cfg
        p
        (x: float[,])
        (rP: float[,])
        (target: float[,] option)
        (r: float[,])
        (r2: float[,])
        =
        let cfg = TorchSupport.check cfg
        let b = checkInputs cfg p x rP r2
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let proj = TorchModel.project (TorchModel.dynamics cfg tp) (T.ofMatrix c rP)

        TorchInference.objective
            cfg
            tp
            (scaleOf cfg b)
            (T.ofMatrix c x)
            proj
            (target |> Option.map (T.ofMatrix c))
            (T.ofMatrix c r)
            (T.ofMatrix c r2)
        |> T.scalar

    /// The gradient of `Inference.objective` w.r.t. `r` and `r2` by autograd (same arguments as
    /// `Inference.gradient`): a second opinion on the reference path's hand-derived rules.
    let inferenceGradient
        options
        cfg
        p
        (x: float[,])
        (rP: float[,])
        (target: float[,] option)
        (r: float[,])
        (r2: float[,])
        =
        let cfg = TorchSupport.check cfg
        let b = checkInputs cfg p x rP r2
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        let tp = TParams.ofParams c cfg p
        let proj = TorchModel.project (TorchModel.dynamics cfg tp) (T.ofMatrix c rP)

        let gr, gr2 =
            TorchInference.gradient
                cfg
                tp
                (scaleOf cfg b)
                (T.ofMatrix c x)
                proj
                (target |> Option.map (T.ofMatrix c))
                (T.ofMatrix c r)
                (T.ofMatrix c r2)

        {
            GradR = T.toMatrix gr
            GradR2 = T.toMatrix gr2
        }

    /// The gradient of `Inference.firstStepObjective` w.r.t. `r` by autograd.
    let firstStepGradient options cfg p (x: float[,]) (r: float[,]) =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        let b = Shape.checkBatch (nameof x) cfg.InputDim x
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        let tp = TParams.ofParams c cfg p

        TorchInference.firstStepGradient cfg tp (scaleOf cfg b) (T.ofMatrix c x) (T.ofMatrix c r)
        |> T.toMatrix

    let private checkWindow (cfg: Config) (init: Carry option) (X: float[,,]) =
        let batch, time =
            Shape.checkWindow (nameof X) (if init.IsSome then 1 else 2) cfg.InputDim X

        Shape.checkFiniteArray3 (nameof X) X

        for t in 0 .. time - 1 do
            Inference.checkDomain cfg (nameof X) (X[*, t, *])

        match init with
        | Some c ->
            Shape.checkMatrix "init.R" batch cfg.RDim c.R
            Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2
        | None -> ()

        batch, time

    let private carryOf (c: Ctx) (init: Carry option) =
        init |> Option.map (fun c' -> T.ofMatrix c c'.R, T.ofMatrix c c'.R2)

    let private forwardResult (cfg: Config) (traj: TTrajectory) (losses: LossTerms<Tensor>) : ForwardResult =
        let values =
            T.toFlat (
                torch.stack (
                    [|
                        losses.SpatialLossRHat
                        losses.SpatialLossRBar
                        losses.TempLoss
                        losses.R2Loss
                    |]
                )
            )

        let rs, r2s = T.toArray3 traj.R, T.toArray3 traj.R2
        let fr, fr2 = traj.Final

        {
            Losses =
                {
                    SpatialLossRHat = values[0]
                    SpatialLossRBar = values[1]
                    TempLoss = values[2]
                    R2Loss = values[3]
                }
            RFirst = T.toMatrix (fst traj.Start)
            R2Last = T.toMatrix fr2
            Final =
                {
                    R = T.toMatrix fr
                    R2 = T.toMatrix fr2
                }
            States = Array.init (Array3D.length1 rs) (fun s -> { R = rs[s, *, *]; R2 = r2s[s, *, *] })
            Iterations = traj.Iterations
            Converged = traj.Converged
        }

    /// `Forward.forward` on tensors: the training objective over a window `X [batch; T; D]` from
    /// `init` (stateful mode) or from zeros.
    let forward (options: TorchOptions) (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : ForwardResult =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        checkWindow cfg init X |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let traj = TorchObjective.trajectory cfg tp (T.ofArray3 c X) (carryOf c init)
        forwardResult cfg traj (TorchObjective.terms cfg tp traj)

    /// `Evaluate.evaluateRecord` on tensors: the evaluation record of a window `X [batch; T; D]`.
    let evaluateRecord
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (init: Carry option)
        (X: float[,,])
        : EvaluationRecord =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        let batch, time = checkWindow cfg init X
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let tp = TParams.ofParams c cfg p
        let v = TorchModel.dynamics cfg tp
        let xt = T.ofArray3 c X
        let b = int64 batch
        let r, rr2 = int64 cfg.RDim, int64 cfg.R2Dim
        let zeros (shape: int64 list) = T.zeros c (b :: shape)

        let iBar, iHat, rBar, rHat, r2Hat, ws, uts, bs, temps =
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray(),
            ResizeArray()

        let iters, conv = ResizeArray(), ResizeArray()

        let mutable carry, first =
            match carryOf c init with
            | Some cr -> cr, 0
            | None ->
                let x0 = xt.select (1L, 0L)
                let rz = zeros [ r ]
                let r0, i0, c0, _ = TorchInference.inferFirstStep cfg tp x0
                iBar.Add(TorchModel.decode cfg tp rz)
                iHat.Add(TorchModel.decode cfg tp r0)
                rBar.Add rz
                rHat.Add r0
                r2Hat.Add(zeros [ rr2 ])
                ws.Add(zeros [ int64 cfg.MixDim ])
                uts.Add(zeros [ r; r ])
                bs.Add(zeros [ (if cfg.DynBias then r else 0L) ])
                temps.Add(zeros [ r ])
                iters.Add i0
                conv.Add c0
                (r0, zeros [ rr2 ]), 1

        for t in first .. time - 1 do
            let x = xt.select (1L, int64 t)
            let rP, r2P = carry
            let proj = TorchModel.project v rP
            let forecast, wOld, _ = TorchModel.temporal cfg tp proj r2P
            let inf = TorchInference.infer cfg tp v x rP r2P
            let wb = TorchModel.hypernet tp inf.R2
            iBar.Add(TorchModel.decode cfg tp forecast)
            iHat.Add(TorchModel.decode cfg tp inf.R)
            rBar.Add forecast
            rHat.Add inf.R
            r2Hat.Add inf.R2
            ws.Add(wb.narrow (1L, 0L, int64 cfg.MixDim))
            uts.Add(TorchModel.mixed wOld v)

            bs.Add(
                if cfg.DynBias then
                    wb.narrow (1L, int64 cfg.MixDim, r)
                else
                    zeros [ 0L ]
            )

            temps.Add(sq (inf.R - forecast))
            iters.Add inf.Iterations
            conv.Add inf.Converged
            carry <- inf.R, inf.R2

        let stack (l: ResizeArray<Tensor>) = torch.stack (l, 1L)
        let iBarT, iHatT = stack iBar, stack iHat
        let lossHat = TorchModel.element cfg iHatT xt
        let lossBar = TorchModel.element cfg iBarT xt
        let tempT = stack temps

        let avgs =
            T.toFlat (torch.stack ([| lossHat.sum (); lossBar.sum (); tempT.sum () |]))
            |> Array.map (fun s -> s / float batch)

        let fr, fr2 = carry

        {
            SpatialLossRHatAvg = avgs[0]
            SpatialLossRBarAvg = avgs[1]
            TempLossAvg = cfg.TempWeight * avgs[2]
            IBar = T.toArray3 iBarT
            IHat = T.toArray3 iHatT
            I = Array3D.init batch time cfg.InputDim (fun s t d -> X[s, t, d])
            RBar = T.toArray3 (stack rBar)
            RHat = T.toArray3 (stack rHat)
            R2Hat = T.toArray3 (stack r2Hat)
            W = T.toArray3 (stack ws)
            Ut = T.toArray4 (stack uts)
            B = if cfg.DynBias then Some(T.toArray3 (stack bs)) else None
            TempLoss = T.toArray3 tempT
            SpatialLossRHat = T.toArray3 lossHat
            SpatialLossRBar = T.toArray3 lossBar
            Iterations = iters.ToArray()
            Converged = conv.ToArray()
            Final =
                {
                    R = T.toMatrix fr
                    R2 = T.toMatrix fr2
                }
        }

    let private paramsOfGrads (cfg: Config) (names: string[]) (grads: Tensor[]) =
        TParams.toParams cfg { Names = names; Leaves = grads }

    /// `Objective.terms` by autograd: the four terms of the training objective and their parameter
    /// gradients, with the latents of `traj` (from `Objective.trajectory`) held as data.
    let objectiveTerms (options: TorchOptions) (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.enable_grad ()
        let tp = TParams.ofParams c cfg p
        let leaves = tp.Leaves |> Array.map (fun l -> l.requires_grad_ (true))

        let stack (f: TrajectoryStep -> float[,]) (n: int) =
            if traj.Steps.Length = 0 then
                T.zeros c [ 0L; 0L; int64 n ]
            else
                torch.stack (traj.Steps |> Array.map (f >> T.ofMatrix c), 0L)

        let tt =
            {
                X0 = traj.Initial |> Option.map (T.ofMatrix c)
                Xs = stack _.X cfg.InputDim
                RPrev = stack _.RPrev cfg.RDim
                R2Prev = stack _.R2Prev cfg.R2Dim
                R = stack _.R cfg.RDim
                R2 = stack _.R2 cfg.R2Dim
                Start = T.zeros c [ 0L ], T.zeros c [ 0L ]
                Final = T.zeros c [ 0L ], T.zeros c [ 0L ]
                Iterations = [||]
                Converged = [||]
            }

        let terms = TorchObjective.trainingTerms cfg tp tt

        let term (t: Tensor) =
            {
                Value = T.scalar t
                Grad = paramsOfGrads cfg tp.Names (TorchObjective.grad t leaves true)
            }

        LossTerms.map term terms

    let private regulariser (options: TorchOptions) (cfg: Config) (p: Params) (f: TParams -> Tensor option) : Term =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.enable_grad ()
        let tp = TParams.ofParams c cfg p
        let leaves = tp.Leaves |> Array.map (fun l -> l.requires_grad_ (true))

        match f tp with
        | Some t ->
            {
                Value = T.scalar t
                Grad = paramsOfGrads cfg tp.Names (TorchObjective.grad t leaves false)
            }
        | None ->
            {
                Value = 0.0
                Grad = ParamTree.zerosLike p
            }

    /// `Regularisers.cosReg` by autograd.
    let cosReg options cfg p =
        regulariser options cfg p (fun tp -> Some(TorchObjective.cosReg cfg tp))

    /// `Regularisers.orthR2` by autograd.
    let orthR2 options cfg p =
        regulariser options cfg p (fun tp -> Some(TorchObjective.orthR2 cfg tp))

    /// `Regularisers.optional` by autograd: the optional regularisers with a nonzero weight, weighted and summed.
    let optionalRegularisers options cfg p =
        regulariser options cfg p (TorchObjective.optional cfg)

    /// The training objective and the gradient a step follows, as `Train.objective` (every term's
    /// gradient by autograd; `Forward` the window's forward result). `X [batch; T; D]`.
    let objective (options: TorchOptions) (cfg: Config) (state: TrainState) (X: float[,,]) : StepObjective =
        let cfg = TorchSupport.check cfg
        let p = state.Params
        TParams.check cfg p
        let init = if cfg.Stateful then state.Carry else None
        checkWindow cfg init X |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        let tp = TParams.ofParams c cfg p
        let leaves = tp.Leaves |> Array.map (fun l -> l.requires_grad_ (true))
        let traj = TorchObjective.trajectory cfg tp (T.ofArray3 c X) (carryOf c init)
        use _ = torch.enable_grad ()
        let terms = TorchObjective.trainingTerms cfg tp traj
        let cos, orth, core = TorchObjective.core cfg tp
        let optional = TorchObjective.optional cfg tp

        let gradOf (t: Tensor) =
            paramsOfGrads cfg tp.Names (TorchObjective.grad t leaves true)

        let term (t: Tensor) = { Value = T.scalar t; Grad = gradOf t }

        let termsOut = LossTerms.map term terms
        let coreTerm = term core

        let optionalTerm =
            match optional with
            | Some o -> term o
            | None ->
                {
                    Value = 0.0
                    Grad = ParamTree.zerosLike p
                }

        let tasks =
            if cfg.GradNorm then
                Some(Trainer.Tasks(cfg, terms, core, optional) |> Array.map term)
            else
                None

        let plain = [| yield! LossTerms.toList termsOut; coreTerm; optionalTerm |]

        {
            Terms = termsOut
            CosReg = T.scalar cos
            OrthR2 = T.scalar orth
            Regularisers = optionalTerm.Value
            Total = plain |> Array.sumBy _.Value
            Tasks = tasks
            Gradient =
                match tasks with
                | Some ts -> ParamTree.linearCombination state.GradNorm.Weights (ts |> Array.map _.Grad)
                | None -> ParamTree.linearCombination (Array.create plain.Length 1.0) (plain |> Array.map _.Grad)
            Forward =
                forwardResult
                    cfg
                    traj
                    (if cfg.SparsityWSafe = 0.0 then
                         terms
                     else
                         TorchObjective.terms cfg tp traj)
        }

    /// `Train.step` on tensors: one outer training step on windows `X [batch; T; D]` (inference,
    /// autograd gradients, GradNorm, clipping, AdamW with the epoch's rates). The state moves to the
    /// device and back on every call: for many steps use `fit`, which keeps it there.
    let step (options: TorchOptions) (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        let cfg = TorchSupport.check cfg
        TParams.check cfg state.Params
        let init = if cfg.Stateful then state.Carry else None
        checkWindow cfg init X |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use trainer = new Trainer(c, cfg, state)
        let res = trainer.Step(T.ofArray3 c X, state.Epoch, state.Batch, carryOf c init)
        let fr, fr2 = res.Final

        { trainer.ToState state with
            Batch = state.Batch + 1
            Carry =
                if cfg.Stateful then
                    Some
                        {
                            R = T.toMatrix fr
                            R2 = T.toMatrix fr2
                        }
                else
                    None
        },
        res.Metrics

    /// The validation objective (`Train.validationLoss`) of device parameters on device windows.
    let private validationLossT (cfg: Config) (tp: TParams) (batchSize: int) (windows: Tensor) =
        let n = int windows.shape[0]
        use _ = torch.no_grad ()

        let total =
            Array.init n id
            |> Array.chunkBySize (max 1 batchSize)
            |> Array.sumBy (fun idx ->
                use _ = torch.NewDisposeScope()
                let X = windows.narrow (0L, int64 idx[0], int64 idx.Length)
                let traj = TorchObjective.trajectory cfg tp X None
                let l = TorchObjective.terms cfg tp traj

                float idx.Length
                * T.scalar (l.SpatialLossRHat +. l.SpatialLossRBar +. l.TempLoss +. l.R2Loss))

        total / float n

    /// `Train.validationLoss` on tensors.
    let validationLoss (options: TorchOptions) (cfg: Config) (p: Params) (batchSize: int) (windows: float[,,]) =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        checkWindow cfg None windows |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        validationLossT cfg (TParams.ofParams c cfg p) batchSize (T.ofArray3 c windows)

    /// `fit` and `fitMonitored`; the epoch's end is `Train.closeEpoch`, as in the core's fits.
    let private fitCore
        (options: TorchOptions)
        (cfg: Config)
        (fitOptions: FitOptions)
        (monitoring: Monitoring option)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        let cfg = TorchSupport.check cfg
        Train.checkMonitoring monitoring
        TParams.check cfg state.Params
        let n, _ = checkWindow cfg None train
        validation |> Option.iter (checkWindow cfg None >> ignore)

        if fitOptions.Epochs < 0 then
            invalidArg (nameof fitOptions) $"fitOptions.Epochs: expected a count >= 0, got {fitOptions.Epochs}."

        if fitOptions.ValidateEvery < 0 then
            invalidArg
                (nameof fitOptions)
                $"fitOptions.ValidateEvery: expected a count >= 0, got {fitOptions.ValidateEvery}."

        fitOptions.CheckpointDirectory
        |> Option.iter (Directory.CreateDirectory >> ignore)

        let run =
            lazy
                {
                    BatchSize = fitOptions.BatchSize
                    Seed = fitOptions.Seed
                    TrainSha256 = Train.fingerprint train
                    ValidationSha256 = validation |> Option.map Train.fingerprint
                    StatesSha256 = monitoring |> Option.bind _.StatesSha256
                }

        let save name (s: TrainState) =
            fitOptions.CheckpointDirectory
            |> Option.iter (fun dir -> Checkpoint.saveWith (Path.Combine(dir, name)) cfg (Some run.Value) s)

        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        let trainT = T.ofArray3 c train
        let validationT = validation |> Option.map (T.ofArray3 c)
        use trainer = new Trainer(c, cfg, state)
        // Stateful mode: the latent state after the last batch, on the device (Train.step's Carry).
        let mutable carry = if cfg.Stateful then carryOf c state.Carry else None

        let dropCarry () =
            carry
            |> Option.iter (fun (a, b) ->
                a.Dispose()
                b.Dispose())

            carry <- None

        let clock = Stopwatch.StartNew()
        let mutable s = state
        let mutable cancelled = false
        let mutable epochStart = clock.Elapsed

        while not cancelled && s.Epoch < fitOptions.Epochs do
            let epoch = s.Epoch
            let bs = Train.batches cfg fitOptions.BatchSize fitOptions.Seed epoch n

            if s.Batch >= bs.Length then
                invalidOp $"state: batch {s.Batch} of epoch {epoch}, but an epoch has {bs.Length} batches."

            if fitOptions.Cancellation.IsCancellationRequested then
                cancelled <- true
            else
                let m =
                    use _ = torch.NewDisposeScope()
                    let idx = torch.tensor (bs[s.Batch] |> Array.map int64, device = c.Device)
                    let res = trainer.Step(trainT.index_select (0L, idx), epoch, s.Batch, carry)

                    if cfg.Stateful then
                        let fr, fr2 = res.Final
                        let next = fr.DetachFromDisposeScope(), fr2.DetachFromDisposeScope()
                        dropCarry ()
                        carry <- Some next

                    res.Metrics

                s <-
                    { s with
                        Batch = s.Batch + 1
                        Running = Train.addLosses s.Running m
                    }

                let completed =
                    if s.Batch = bs.Length then
                        let last = epoch + 1 = fitOptions.Epochs

                        let validated =
                            Train.validateIfDue
                                fitOptions
                                epoch
                                bs.Length
                                last
                                (validationT
                                 |> Option.map (fun v () ->
                                     validationLossT cfg (TParams.detach trainer.Params) fitOptions.BatchSize v))

                        // The monitor measures the parameters on the host, as Train.fitMonitored does.
                        let host = trainer.ToState s
                        dropCarry ()

                        let record, next, improved =
                            Train.closeEpoch
                                cfg
                                monitoring
                                validation.IsSome
                                epoch
                                bs.Length
                                last
                                validated
                                (clock.Elapsed - epochStart).TotalSeconds
                                host

                        s <- next

                        save Train.LastCheckpoint s

                        if improved then
                            save Train.BestCheckpoint s

                        epochStart <- clock.Elapsed
                        Some record
                    else
                        None

                fitOptions.Progress
                    {
                        Epoch = epoch
                        Epochs = fitOptions.Epochs
                        Batch = (if completed.IsSome then bs.Length else s.Batch)
                        Batches = bs.Length
                        Metrics = m
                        Completed = completed
                        CompletedState = completed |> Option.map (fun _ -> s)
                        Elapsed = clock.Elapsed
                    }

        let s =
            if s.Batch > 0 || cancelled then
                { trainer.ToState s with
                    Carry = carry |> Option.map (fun (r, r2) -> { R = T.toMatrix r; R2 = T.toMatrix r2 })
                }
            else
                s

        dropCarry ()

        if cancelled then
            save Train.LastCheckpoint s

        { State = s; Cancelled = cancelled }

    /// `Train.fit` on tensors: the windows `train [n; T; D]` (and `validation`) and the training state
    /// move to the device once; every step runs there and only the step's metrics come back. Epochs,
    /// shuffled batches (`Train.batches`), the learning-rate schedule, validation, the best model, the
    /// history, progress, cancellation and checkpoints (`last.tidhy.json`, `best.tidhy.json`, written
    /// as `Train.fit` writes them, so `Checkpoint.load` and `Train.fit` can resume them) are as in
    /// `Train.fit`; in stateful mode each batch starts from the previous batch's final latents, kept
    /// on the device.
    let fit
        (options: TorchOptions)
        (cfg: Config)
        (fitOptions: FitOptions)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        fitCore options cfg fitOptions None train validation state

    /// `Train.fitMonitored` on the device: `monitoring.Measure` runs on the host copy of the epoch's
    /// final parameters (e.g. `Analysis.decodingMonitor`, which infers with the core's kernels), and
    /// selects the best model as `Train.fitMonitored` does.
    let fitMonitored
        (options: TorchOptions)
        (cfg: Config)
        (fitOptions: FitOptions)
        (monitoring: Monitoring)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        fitCore options cfg fitOptions (Some monitoring) train validation state

    /// `Evaluate.evaluateBatched` on tensors: `evaluateRecord` (from a zero state) on windows
    /// `X [n; T; D]` in batches of `batchSize`, joined into one record over all windows (arrays in
    /// window order, averages over all windows, `Iterations` the most any batch took at each step,
    /// `Converged` where every batch converged).
    let evaluateBatched
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (batchSize: int)
        (X: float[,,])
        : EvaluationRecord =
        Evaluate.evaluateBatchedWith (evaluateRecord options cfg p None) cfg batchSize X

    /// `Evaluate.evaluateSeriesWindows` on tensors: consecutive non-overlapping windows
    /// `X [n; T; D]` of one series; stateful: joined into one window `[1; n·T; D]` and evaluated from
    /// the first step; otherwise `evaluateBatched` in batches of `batchSize`.
    let evaluateSeriesWindows (options: TorchOptions) (cfg: Config) (p: Params) (batchSize: int) (X: float[,,]) =
        if cfg.Stateful then
            let n, t = Shape.checkWindow (nameof X) 1 cfg.InputDim X
            evaluateRecord options cfg p None (Array3D.init 1 (n * t) cfg.InputDim (fun _ i d -> X[i / t, i % t, d]))
        else
            evaluateBatched options cfg p batchSize X
