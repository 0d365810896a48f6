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

    open TorchArgs

    /// `Model.decode` on tensors: `r [batch; R]` → `x̄ [batch; D]`.
    let private decode (options: TorchOptions) (cfg: Config) (p: Params) (r: float[,]) : float[,] =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        Shape.checkBatch (nameof r) cfg.RDim r |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        TorchModel.decode cfg (TParams.ofParams c cfg p) (T.ofMatrix c r) |> T.toMatrix

    /// `Model.temporalPrediction` on tensors: `rP [batch; R]`, `r2 [batch; R2]`.
    let private temporalPrediction
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
    let private infer
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (x: float[,])
        (rP: float[,])
        (r2: float[,])
        : InferResult =
        let cfg = TorchSupport.check cfg
        Inference.checkInputs cfg p x rP r2 |> ignore
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
    let private inferFirstStep (options: TorchOptions) (cfg: Config) (p: Params) (x: float[,]) : FirstStepResult =
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
    let private forward
        (options: TorchOptions)
        (cfg: Config)
        (p: Params)
        (init: Carry option)
        (X: float[,,])
        : ForwardResult =
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
    let private evaluateRecord
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

    /// The training objective and the gradient a step follows, as `Train.objective` (every term's
    /// gradient by autograd; `Forward` the window's forward result). `X [batch; T; D]`.
    let private objective (options: TorchOptions) (cfg: Config) (state: TrainState) (X: float[,,]) : StepObjective =
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
    let private step
        (options: TorchOptions)
        (cfg: Config)
        (state: TrainState)
        (X: float[,,])
        : TrainState * StepMetrics =
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
    let private validationLoss (options: TorchOptions) (cfg: Config) (p: Params) (batchSize: int) (windows: float[,,]) =
        let cfg = TorchSupport.check cfg
        TParams.check cfg p
        checkWindow cfg None windows |> ignore
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        validationLossT cfg (TParams.ofParams c cfg p) batchSize (T.ofArray3 c windows)

    /// A training session on the device (`Train.fitOn`): the windows and the training state move to
    /// the device once; every step runs there and only its metrics come back. In stateful mode each
    /// batch starts from the previous batch's final latents, kept on the device.
    type private TorchSession
        (options: TorchOptions, cfg: Config, state: TrainState, train: float[,,], validation: float[,,] option) =
        let c = T.ctx options
        let scope = torch.NewDisposeScope()
        let trainT = T.ofArray3 c train
        let validationT = validation |> Option.map (T.ofArray3 c)
        let trainer = new Trainer(c, cfg, state)
        let mutable carry = if cfg.Stateful then carryOf c state.Carry else None

        let dropCarry () =
            carry
            |> Option.iter (fun (a, b) ->
                a.Dispose()
                b.Dispose())

            carry <- None

        interface ITrainingSession with
            // A step on tensors cannot stop midway: the loop checks the cancellation before each.
            member _.Step(epoch, batch, rows, _) =
                use _ = torch.NewDisposeScope()
                let idx = torch.tensor (rows |> Array.map int64, device = c.Device)
                let res = trainer.Step(trainT.index_select (0L, idx), epoch, batch, carry)

                if cfg.Stateful then
                    let fr, fr2 = res.Final
                    let next = fr.DetachFromDisposeScope(), fr2.DetachFromDisposeScope()
                    dropCarry ()
                    carry <- Some next

                Some res.Metrics

            member _.ValidationLoss batchSize =
                validationLossT cfg (TParams.detach trainer.Params) batchSize validationT.Value

            member _.Snapshot s =
                { trainer.ToState s with
                    Carry = carry |> Option.map (fun (r, r2) -> { R = T.toMatrix r; R2 = T.toMatrix r2 })
                }

            member _.ResetCarry() = dropCarry ()

            member _.Dispose() =
                dropCarry ()
                (trainer :> IDisposable).Dispose()
                scope.Dispose()

    /// The torch engine: TiDHy on TorchSharp tensors on the device that `options` names, with the
    /// same records in and out as the core's engines (`Train.engine`). `Check` is
    /// `TorchSupport.check` (it refuses the options this engine does not implement); `Open` keeps a
    /// fit's windows, parameters, AdamW moments and carry on the device. Run it with
    /// `Train.fitOn (TorchBackend.engine options)`, `Evaluate.evaluateBatchedWith`, or call its
    /// operations directly.
    let engine (options: TorchOptions) : Engine =
        {
            Name = "torch"
            Check = TorchSupport.check
            Decode = decode options
            TemporalPrediction = temporalPrediction options
            Infer = infer options
            InferFirstStep = inferFirstStep options
            Forward = forward options
            EvaluateRecord = evaluateRecord options
            Objective = objective options
            Step = step options
            ValidationLoss = validationLoss options
            Open =
                fun cfg state train validation ->
                    let cfg = TorchSupport.check cfg
                    TParams.check cfg state.Params
                    checkWindow cfg None train |> ignore
                    validation |> Option.iter (checkWindow cfg None >> ignore)
                    new TorchSession(options, cfg, state, train, validation) :> ITrainingSession
        }
