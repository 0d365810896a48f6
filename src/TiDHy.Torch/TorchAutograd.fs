namespace TiDHy.Torch

open TorchSharp
open TiDHy.Functional
open TiDHy.Torch.TensorOps

/// Checks and conversions shared by the torch engine and its autograd functions.
module internal TorchArgs =

    type private Tensor = torch.Tensor

    let scaleOf (cfg: Config) (b: int) =
        match cfg.BatchScaling with
        | BatchScaling.BatchMean -> 1.0 / float b
        | BatchScaling.PerSample -> 1.0

    let checkWindow (cfg: Config) (init: Carry option) (X: float[,,]) =
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

    let carryOf (c: Ctx) (init: Carry option) =
        init |> Option.map (fun c' -> T.ofMatrix c c'.R, T.ofMatrix c c'.R2)

    let paramsOfGrads (cfg: Config) (names: string[]) (grads: Tensor[]) =
        TParams.toParams cfg { Names = names; Leaves = grads }

/// Autograd's second opinion on the reference path's hand-derived derivatives: the gradients of
/// inference's objective, the first step's objective, the training objective's terms and the
/// regularisers, computed by TorchSharp's autograd on the device that `TorchOptions` names (tests
/// check every derivative of the core against them). Each call validates its arguments and frees
/// the native memory it allocated before it returns.
[<RequireQualifiedAccess>]
module TorchAutograd =

    type private Tensor = torch.Tensor

    open TorchArgs

    /// Checks the arguments of `Inference.objective` (as `Inference.checkInputs`) and runs `f` on
    /// them as device tensors (the configuration, the parameters, the data scale, `x`, the
    /// projection of `rP`, the target, `r`, `r2`) in a dispose scope; `f` returns host values.
    let private onInferenceInputs
        options
        cfg
        p
        (x: float[,])
        (rP: float[,])
        (target: float[,] option)
        (r: float[,])
        (r2: float[,])
        f
        =
        let cfg = TorchSupport.check cfg
        let b = Inference.checkInputs cfg p x rP r2
        Shape.checkMatrix (nameof r) b cfg.RDim r
        let c = T.ctx options
        use _ = torch.NewDisposeScope()
        let tp = TParams.ofParams c cfg p
        let proj = TorchModel.project (TorchModel.dynamics cfg tp) (T.ofMatrix c rP)

        f
            cfg
            tp
            (scaleOf cfg b)
            (T.ofMatrix c x)
            proj
            (target |> Option.map (T.ofMatrix c))
            (T.ofMatrix c r)
            (T.ofMatrix c r2)

    /// `Inference.objective` evaluated on tensors (same arguments).
    let inferenceObjective options cfg p x rP target r r2 =
        onInferenceInputs options cfg p x rP target r r2 (fun cfg tp scale x proj target r r2 ->
            use _ = torch.no_grad ()
            TorchInference.objective cfg tp scale x proj target r r2 |> T.scalar)

    /// The gradient of `Inference.objective` w.r.t. `r` and `r2` by autograd (same arguments as
    /// `Inference.gradient`): a second opinion on the reference path's hand-derived rules.
    let inferenceGradient options cfg p x rP target r r2 =
        onInferenceInputs options cfg p x rP target r r2 (fun cfg tp scale x proj target r r2 ->
            let gr, gr2 = TorchInference.gradient cfg tp scale x proj target r r2

            {
                GradR = T.toMatrix gr
                GradR2 = T.toMatrix gr2
            })

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
