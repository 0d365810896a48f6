namespace TiDHy.Functional

open System
open TiDHy.Kernels

/// AdamW's constants (PyTorch's defaults unless changed).
type AdamWHyper =
    {
        /// First-moment decay `β1` (0.9).
        Beta1: float
        /// Second-moment decay `β2` (0.999).
        Beta2: float
        /// Denominator floor `eps` (1e-8).
        Eps: float
    }

/// A parameter group: the learning rate and weight decay of the parameters it holds.
type ParamGroup =
    {
        /// The group's name: `spatial_decoder`, `temporal`, `hypernet` or `R2_Decoder`.
        Name: string
        /// Its learning rate (before the epoch schedule).
        LearningRate: float
        /// Its decoupled weight decay.
        WeightDecay: float
    }

/// AdamW's state: the step count and both moment estimates, shaped like the parameters.
type AdamWState =
    {
        /// Steps taken so far.
        Step: int
        /// First moments `m` (PyTorch `exp_avg`).
        ExpAvg: Params
        /// Second moments `v` (PyTorch `exp_avg_sq`).
        ExpAvgSq: Params
    }


/// The result of one AdamW step (`Optim.adamW`).
type AdamWResult =
    {
        /// The parameters after the step.
        Params: Params
        /// The optimiser state after the step.
        State: AdamWState
    }

/// A gradient clipped to a global norm (`Optim.clipGradNorm`).
type ClippedGradient =
    {
        /// The clipped gradient, shaped like the parameters.
        Gradient: Params
        /// The global L2 norm before clipping.
        NormBeforeClip: float
    }

/// The outer optimiser (MODEL.md "One outer training step"): AdamW with PyTorch's semantics as a
/// pure update of an immutable state, per-group learning rates, global-norm clipping and the
/// epoch learning-rate schedule.
[<RequireQualifiedAccess>]
module Optim =

    /// PyTorch's AdamW defaults: β = (0.9, 0.999), eps = 1e-8.
    let adamWDefaults =
        {
            Beta1 = ModelConstants.AdamBeta1
            Beta2 = ModelConstants.AdamBeta2
            Eps = ModelConstants.AdamEps
        }

    /// One AdamW step on flat tensors `p`, `g`, `m`, `v` (all `[n]`), `step` counting from 1 for the
    /// first step. PyTorch's order: `p ← p·(1 − lr·wd)`; `m ← m + (1−β1)·(g − m)`;
    /// `v ← β2·v + (1−β2)·g²`; `p ← p − (lr/(1−β1^step))·m / (sqrt(v)/sqrt(1−β2^step) + eps)`.
    /// Returns the new `p, m, v`; the inputs are not changed.
    let internal adamWTensor
        (h: AdamWHyper)
        (lr: float)
        (wd: float)
        (step: int)
        (p: float[])
        (g: float[])
        (m: float[])
        (v: float[])
        =
        if step < 1 then
            invalidArg (nameof step) $"step: expected a step count >= 1, got {step}."

        let bc1 = 1.0 - Math.Pow(h.Beta1, float step)
        let bc2Sqrt = sqrt (1.0 - Math.Pow(h.Beta2, float step))
        let m' = Array.map2 (fun mi gi -> mi + (1.0 - h.Beta1) * (gi - mi)) m g
        let v' = Array.map2 (fun vi gi -> h.Beta2 * vi + (1.0 - h.Beta2) * gi * gi) v g

        let p' =
            Array.init p.Length (fun i ->
                let decayed = p[i] * (1.0 - lr * wd)
                decayed - (lr / bc1) * m'[i] / (sqrt v'[i] / bc2Sqrt + h.Eps))

        p', m', v'

    /// A fresh AdamW state for parameters shaped like `p` (step 0, zero moments).
    let init (p: Params) =
        {
            Step = 0
            ExpAvg = ParamTree.zerosLike p
            ExpAvgSq = ParamTree.zerosLike p
        }

    /// The group of the state_dict leaf `name` under `cfg` (MODEL.md): spatial decoder at
    /// `learning_rate_s`, temporal and temporal_bias at `learning_rate_t`, hypernet and the r2 decoder
    /// at `learning_rate_h`; all with `weight_decay`.
    let groupOf (cfg: Config) (name: string) : ParamGroup =
        let group n lr =
            {
                Name = n
                LearningRate = lr
                WeightDecay = cfg.WeightDecay
            }

        if ParamNames.inModule ParamNames.SpatialDecoder name then
            group ParamNames.SpatialDecoder cfg.LearningRateS
        elif name = ParamNames.Temporal || name = ParamNames.TemporalBias then
            group ParamNames.Temporal cfg.LearningRateT
        elif ParamNames.inModule ParamNames.Hypernet name then
            group ParamNames.Hypernet cfg.LearningRateH
        elif ParamNames.inModule ParamNames.R2Decoder name then
            group ParamNames.R2Decoder cfg.LearningRateH
        else
            invalidArg (nameof name) $"name: '{name}' is not a TiDHy parameter."

    /// One AdamW step of `p` along the gradient `g` (shaped like `p`), with each leaf's learning rate
    /// and weight decay from `group leafName`. Returns the new parameters and state.
    let adamW (h: AdamWHyper) (group: string -> ParamGroup) (state: AdamWState) (p: Params) (g: Params) : AdamWResult =
        let step = state.Step + 1

        let trees =
            ParamTree.mapMany
                3
                (fun name leaves ->
                    let grp = group name

                    let p', m', v' =
                        adamWTensor h grp.LearningRate grp.WeightDecay step leaves[0] leaves[1] leaves[2] leaves[3]

                    [| p'; m'; v' |])
                [| p; g; state.ExpAvg; state.ExpAvgSq |]

        {
            Params = trees[0]
            State =
                {
                    Step = step
                    ExpAvg = trees[1]
                    ExpAvgSq = trees[2]
                }
        }

    /// PyTorch's `clip_grad_norm_`: with `n` the global L2 norm of `g`, every gradient is multiplied
    /// by `min(1, maxNorm/(n + 1e-6))`. Returns the clipped gradient and `n` (before clipping).
    let clipGradNorm (maxNorm: float) (g: Params) : ClippedGradient =
        if not (maxNorm > 0.0) then
            invalidArg (nameof maxNorm) $"maxNorm: expected a positive norm, got {maxNorm}."

        let n = ParamTree.norm g
        let coef = min 1.0 (maxNorm / (n + 1e-6))

        {
            Gradient = ParamTree.scale coef g
            NormBeforeClip = n
        }

    /// The factor of the outer learning rates in epoch `epoch` (from 0): `0.5^(epoch div s)` with
    /// `s = num_epochs div 5` (upstream's StepLR); 1 throughout when `num_epochs < 5`.
    let scheduleFactor (cfg: Config) (epoch: int) =
        if epoch < 0 then
            invalidArg (nameof epoch) $"epoch: expected an epoch >= 0, got {epoch}."

        let s = cfg.NumEpochs / 5
        if s = 0 then 1.0 else pown 0.5 (epoch / s)

    /// The factor of the outer learning rates under `cfg.LearningRateSchedule` for the optimizer step that
    /// follows `steps` steps (`AdamWState.Step` before it; 0 for the first), in epoch `epoch`
    /// (from 0): `Halving` `scheduleFactor cfg epoch`; `Constant` 1; `Exponential`
    /// `schedule_decay^(steps / schedule_transition_steps)` (optax's `exponential_decay`, whose
    /// count is the updates already made); `ExponentialStaircase`
    /// `schedule_decay^(steps div schedule_transition_steps)`. Raises an ArgumentException for a
    /// negative `epoch`, and for negative `steps` under the schedules other than `Halving` (which
    /// does not read them) as `adamW` does for the step that follows.
    let learningRateFactor (cfg: Config) (epoch: int) (steps: int) =
        match cfg.LearningRateSchedule with
        | LearningRateSchedule.Halving -> scheduleFactor cfg epoch
        | LearningRateSchedule.Constant
        | LearningRateSchedule.Exponential
        | LearningRateSchedule.ExponentialStaircase when epoch < 0 ->
            invalidArg (nameof epoch) $"epoch: expected an epoch >= 0, got {epoch}."
        | LearningRateSchedule.Constant
        | LearningRateSchedule.Exponential
        | LearningRateSchedule.ExponentialStaircase when steps < 0 ->
            // As `adamW` says it of the step that follows (`steps + 1`).
            invalidArg "step" $"step: expected a step count >= 1, got {steps + 1}."
        | LearningRateSchedule.Constant -> 1.0
        | LearningRateSchedule.Exponential ->
            Math.Pow(cfg.ScheduleDecay, float steps / float cfg.ScheduleTransitionSteps)
        | LearningRateSchedule.ExponentialStaircase -> pown cfg.ScheduleDecay (steps / cfg.ScheduleTransitionSteps)
