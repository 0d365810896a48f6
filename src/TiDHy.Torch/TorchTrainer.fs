namespace TiDHy.Torch

open System
open TorchSharp
open TiDHy.Functional
open TiDHy.Kernels
open TiDHy.Torch.TensorOps

/// What one device-side training step computed, before it is committed.
type internal TStepResult =
    {
        Metrics: StepMetrics
        /// The final carry of the window (device).
        Final: torch.Tensor * torch.Tensor
    }

/// The training state on the device: the parameters (leaves requiring gradients), AdamW's moments
/// and GradNorm's weights. Holds native memory until disposed; every step replaces its tensors and
/// disposes the old ones (the step's temporaries live in a dispose scope of their own).
type internal Trainer(ctx: Ctx, cfg: Config, state: TrainState) =
    let names = ParamLayout.expected cfg |> List.map fst |> List.toArray

    let toDevice (p: Params) requiresGrad =
        let t = TParams.ofParams ctx cfg p

        t.Leaves
        |> Array.map (fun l ->
            let l = if requiresGrad then l.requires_grad_ (true) else l
            l.DetachFromDisposeScope())

    let mutable leaves = toDevice state.Params true
    let mutable expAvg = toDevice state.Optimizer.ExpAvg false
    let mutable expAvgSq = toDevice state.Optimizer.ExpAvgSq false
    let mutable adamStep = state.Optimizer.Step
    let mutable gradNorm = state.GradNorm

    /// Upstream's `normalize()` after a step (`Init.normalize`): with `normalize_spatial` unit-norm
    /// columns of `spatial_decoder.0.weight`, with `normalize_temporal` unit-norm `temporal` along its
    /// last axis; norms below 1e-12 divide by 1e-12.
    let normalized (name: string) (t: torch.Tensor) =
        let unit (dim: int64) =
            t / clampMin 1e-12 ((sq t).sum(dim, true).sqrt())

        if cfg.NormalizeSpatial && name = ParamNames.SpatialDecoderWeight then
            unit 0L
        elif cfg.NormalizeTemporal && name = ParamNames.Temporal then
            unit (-1L)
        else
            t

    let replace (old: torch.Tensor[]) (next: torch.Tensor[]) =
        for t in old do
            t.Dispose()

        next

    member _.Params = { Names = names; Leaves = leaves }

    member _.GradNormState = gradNorm

    /// The state as records (copied to the host), with `template`'s other fields.
    member this.ToState(template: TrainState) : TrainState =
        let ofLeaves (ls: torch.Tensor[]) =
            TParams.toParams cfg { Names = names; Leaves = ls }

        { template with
            Params = ofLeaves leaves
            Optimizer =
                {
                    Step = adamStep
                    ExpAvg = ofLeaves expAvg
                    ExpAvgSq = ofLeaves expAvgSq
                }
            GradNorm = gradNorm
        }

    /// The task losses of GradNorm (with `optional` in each, `core` in task 2).
    static member Tasks
        (cfg: Config, terms: LossTerms<torch.Tensor>, core: torch.Tensor, optional: torch.Tensor option)
        =
        let withOpt (t: torch.Tensor) =
            match optional with
            | Some o -> t +. o
            | None -> t

        [|
            yield withOpt terms.SpatialLossRHat
            yield withOpt terms.SpatialLossRBar
            yield withOpt (terms.TempLoss +. core)
            if cfg.UseR2Decoder then
                yield withOpt terms.R2Loss
        |]

    /// GradNorm's update from the task losses and the per-task sums of leaf norms (host values):
    /// `GradNorm.updateWith`, with `G_i = a_i·leafNormSums[i]`.
    static member GradNormUpdate(cfg: Config, st: GradNormState, losses: float[], leafNormSums: float[]) =
        let r = GradNorm.updateWith cfg st losses (fun a -> Array.map2 (*) a leafNormSums)

        r.State, r.Step

    /// One training step on the windows `X [B; T; D]` (on the device) at epoch `epoch`, batch
    /// `batch` (for the learning-rate schedule and error messages), from `init` in stateful mode.
    /// Commits the new parameters, moments and GradNorm weights; returns the metrics and the final
    /// carry (in the caller's dispose scope). Raises `TrainingDivergedException` (leaving the state
    /// as it was) when inference, the loss or the new state is not finite.
    member _.Step(X: torch.Tensor, epoch: int, batch: int, init: (torch.Tensor * torch.Tensor) option) : TStepResult =
        let diverged quantity value =
            raise (TrainingDivergedException(epoch, batch, quantity, value))

        let p = { Names = names; Leaves = leaves }
        use scope = torch.NewDisposeScope()

        let traj =
            TrainingDivergence.guardInference epoch batch "the training step" (fun () ->
                TorchObjective.trajectory cfg p X init)

        use _ = torch.enable_grad ()
        let terms = TorchObjective.trainingTerms cfg p traj
        let cos, orth, core = TorchObjective.core cfg p
        let optional = TorchObjective.optional cfg p

        let plain =
            let t =
                terms.SpatialLossRHat
                +. terms.SpatialLossRBar
                +. terms.TempLoss
                +. terms.R2Loss
                +. core

            match optional with
            | Some o -> t +. o
            | None -> t

        let zero = torch.zeros ([||], dtype = ctx.DType, device = ctx.Device)

        let tasks =
            if cfg.GradNorm then
                Trainer.Tasks(cfg, terms, core, optional)
            else
                [||]

        let gradient, taskNorms =
            if cfg.GradNorm then
                let grads = tasks |> Array.map (fun t -> TorchObjective.grad t leaves true)
                let a = gradNorm.Weights

                let combined =
                    Array.init leaves.Length (fun j ->
                        grads |> Array.mapi (fun i g -> g[j] *. a[i]) |> Array.reduce (+.))

                let norms =
                    grads
                    |> Array.mapi (fun i g ->
                        Array.init names.Length (fun j ->
                            if GradNorm.inTask i names[j] then
                                (sq (g[j])).sum().sqrt()
                            else
                                zero)
                        |> Array.reduce (+.))

                combined, norms
            else
                TorchObjective.grad plain leaves false, [||]

        use _ = torch.no_grad ()

        let gnorm =
            (gradient |> Array.map (fun g -> (sq g).sum()) |> Array.reduce (+.)).sqrt()

        let host =
            T.toFlat (
                torch.stack (
                    [|
                        yield terms.SpatialLossRHat.detach ()
                        yield terms.SpatialLossRBar.detach ()
                        yield terms.TempLoss.detach ()
                        yield terms.R2Loss.detach ()
                        yield cos.detach ()
                        yield orth.detach ()
                        yield (optional |> Option.defaultValue zero).detach()
                        yield plain.detach ()
                        yield gnorm
                        yield! tasks |> Array.map (fun t -> t.detach ())
                        yield! taskNorms
                    |]
                )
            )

        let total = host[7]
        let normBefore = host[8]
        let nt = tasks.Length

        if not (Double.IsFinite total) then
            diverged "the loss" total

        let gnState, gnStep =
            if cfg.GradNorm then
                let st, step =
                    Trainer.GradNormUpdate(cfg, gradNorm, host[9 .. 9 + nt - 1], host[9 + nt .. 9 + 2 * nt - 1])

                st, Some step
            else
                gradNorm, None

        // Clipping and one AdamW step, PyTorch's semantics (Optim.clipGradNorm, Optim.adamW).
        let coef = min 1.0 (cfg.ClipGrad / (normBefore + 1e-6))
        let step = adamStep + 1
        let h = Optim.adamWDefaults
        let bc1 = 1.0 - Math.Pow(h.Beta1, float step)
        let bc2Sqrt = sqrt (1.0 - Math.Pow(h.Beta2, float step))
        let groups = Train.groups cfg epoch adamStep

        let updated =
            Array.init leaves.Length (fun j ->
                let g = if coef < 1.0 then gradient[j] *. coef else gradient[j]
                let grp = groups names[j]
                let lr = grp.LearningRate
                let m = expAvg[j] +. (g - expAvg[j]) *. (1.0 - h.Beta1)
                let v = expAvgSq[j] *. h.Beta2 +. g * g *. (1.0 - h.Beta2)
                let decayed = leaves[j].detach() *. (1.0 - lr * grp.WeightDecay)
                let p' = decayed - m / (v.sqrt () /. bc2Sqrt +% h.Eps) *. (lr / bc1)
                normalized names[j] p', m, v)

        let finite =
            updated
            |> Array.collect (fun (a, b, c) ->
                [| torch.isfinite(a).all(); torch.isfinite(b).all(); torch.isfinite(c).all() |])
            |> fun fs -> T.toBools (torch.stack (fs))

        match finite |> Array.tryFindIndex not with
        | Some k ->
            let what = [| "params"; "AdamW first moment"; "AdamW second moment" |][k % 3]
            diverged $"{what} '{names[k / 3]}'" nan
        | None -> ()

        let keep (t: torch.Tensor) = t.DetachFromDisposeScope()

        let newLeaves =
            updated |> Array.map (fun (p', _, _) -> keep (p'.detach().requires_grad_(true)))

        let newM = updated |> Array.map (fun (_, m, _) -> keep m)
        let newV = updated |> Array.map (fun (_, _, v) -> keep v)
        leaves <- replace leaves newLeaves
        expAvg <- replace expAvg newM
        expAvgSq <- replace expAvgSq newV
        adamStep <- step
        gradNorm <- gnState
        let fr, fr2 = traj.Final
        scope.MoveToOuter(fr, fr2) |> ignore
        let iterations = traj.Iterations

        {
            Metrics =
                {
                    Losses =
                        {
                            SpatialLossRHat = host[0]
                            SpatialLossRBar = host[1]
                            TempLoss = host[2]
                            R2Loss = host[3]
                        }
                    CosReg = host[4]
                    OrthR2 = host[5]
                    Regularisers = host[6]
                    Total = total
                    GradNormBeforeClip = normBefore
                    GradNorm = gnStep
                    MeanIterations = Train.meanIterations iterations
                    MaxIterShare = Train.maxIterShare cfg.MaxIter iterations
                }
            Final = fr, fr2
        }

    interface IDisposable with
        member _.Dispose() =
            for t in Array.concat [ leaves; expAvg; expAvgSq ] do
                t.Dispose()
