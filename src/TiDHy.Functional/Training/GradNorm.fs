namespace TiDHy.Functional

open System

/// GradNorm's state, carried in the training state: the task weights and the first step's losses.
type GradNormState =
    {
        /// Task weights `a`: `[tasks]` (3, or 4 with the r2 decoder); 1 at the start.
        Weights: float[]
        /// The first step's task losses `l0 [tasks]`; `None` before the first step.
        L0: float[] option
    }

/// What one GradNorm update computed (the fixture's `train_gradnorm` step record).
type GradNormStep =
    {
        /// Task losses `L [tasks]` of this step.
        Losses: float[]
        /// `G_i = a_i·Σ_{p∈P_i} ‖∂L_i/∂p‖`: `[tasks]`.
        TaskGradNorms: float[]
        /// `mean(G)·rt^grad_alpha`: `[tasks]`.
        Target: float[]
        /// `Σ_i |G_i − target_i|`.
        Loss: float
        /// The task weights after the update: `[tasks]`.
        WeightsAfter: float[]
    }

/// One GradNorm update (`GradNorm.update`): the new state and what the update computed.
type GradNormUpdate =
    {
        /// The state after the update (new weights; `l0` set on the first update).
        State: GradNormState
        /// The update's record.
        Step: GradNormStep
    }

/// GradNorm task balancing (MODEL.md "GradNorm"; Chen et al., 2018): tasks `L₀ = L_hat`,
/// `L₁ = L_bar`, `L₂ = temp_weight·L_temp + cos_eta·cos_reg + Orth_alpha_r2·orth_r2`
/// (+ `L₃ = L_r2` with the r2 decoder). The balancing loss moves only the task weights.
[<RequireQualifiedAccess>]
module GradNorm =

    /// The number of tasks: 4 with the r2 decoder, else 3.
    let taskCount (cfg: Config) = if cfg.UseR2Decoder then 4 else 3

    /// The initial state: every weight 1, no `l0` yet.
    let init (cfg: Config) =
        {
            Weights = Array.create (taskCount cfg) 1.0
            L0 = None
        }

    /// Whether the state_dict leaf `name` belongs to task `i`'s parameter set: `P₀` = spatial decoder,
    /// `P₁` = spatial decoder + `temporal`, `P₂` = `temporal` + hypernet, `P₃` = r2 decoder.
    let inTask (i: int) (name: string) =
        let decoder = ParamNames.inModule ParamNames.SpatialDecoder name
        let temporal = name = ParamNames.Temporal

        match i with
        | 0 -> decoder
        | 1 -> decoder || temporal
        | 2 -> temporal || ParamNames.inModule ParamNames.Hypernet name
        | 3 -> ParamNames.inModule ParamNames.R2Decoder name
        | _ -> invalidArg (nameof i) $"i: expected a task 0 … 3, got {i}."

    /// `G_i = a_i·Σ_{p∈P_i} ‖∂L_i/∂p‖` (the sum of per-tensor Euclidean norms) for task weights
    /// `a [tasks]` and the unweighted task gradients `taskGrads [tasks]`.
    let taskGradNorms (weights: float[]) (taskGrads: Params[]) =
        if weights.Length <> taskGrads.Length then
            invalidArg (nameof taskGrads) $"taskGrads: {taskGrads.Length} gradients for {weights.Length} task weights."

        Array.init weights.Length (fun i ->
            let norms = ParamTree.leafNorms taskGrads[i]

            weights[i]
            * (norms |> Seq.sumBy (fun kv -> if inTask i kv.Key then kv.Value else 0.0)))

    /// `update` with the task gradient norms computed by `norms weights` (`taskGradNorms` of the
    /// task gradients, or the same sums over packed gradients), after the checks of the losses.
    let updateWith (cfg: Config) (state: GradNormState) (losses: float[]) (norms: float[] -> float[]) : GradNormUpdate =
        let n = state.Weights.Length

        if losses.Length <> n then
            invalidArg (nameof losses) $"losses: {losses.Length} task losses for {n} task weights."

        let l0 = state.L0 |> Option.defaultValue losses

        match l0 |> Array.tryFindIndex (fun l -> l = 0.0 || not (Double.IsFinite l)) with
        | Some i -> invalidOp $"GradNorm: the first loss of task {i} is {l0[i]}; the loss ratios L/l0 are undefined."
        | None -> ()

        let a = state.Weights
        let g = norms a
        let ratio = Array.map2 (/) losses l0
        let meanRatio = Array.average ratio
        let meanG = Array.average g

        let target =
            ratio |> Array.map (fun r -> meanG * Math.Pow(r / meanRatio, cfg.GradAlpha))

        let loss = Array.fold2 (fun s gi ti -> s + abs (gi - ti)) 0.0 g target
        let gradA = Array.init n (fun i -> Numerics.sign (g[i] - target[i]) * g[i] / a[i])

        let stepped, _, _ =
            Optim.adamWTensor
                Optim.adamWDefaults
                cfg.LrWeights
                cfg.WeightDecay
                1
                a
                gradA
                (Array.zeroCreate n)
                (Array.zeroCreate n)

        let total = Array.sum a
        let e = Array.map exp stepped
        let sumE = Array.sum e
        let after = e |> Array.map (fun v -> v / sumE * total)

        {
            State = { Weights = after; L0 = Some l0 }
            Step =
                {
                    Losses = Array.copy losses
                    TaskGradNorms = g
                    Target = target
                    Loss = loss
                    WeightsAfter = after
                }
        }

    /// One GradNorm update from the task losses `L [tasks]` and unweighted task gradients of this
    /// step (taken at the parameters before this step's AdamW update). `l0` is set on the first
    /// call. `ratio = L/l0`, `rt = ratio/mean(ratio)`, `target = mean(G)·rt^grad_alpha` (a constant);
    /// the weights take one step of a fresh AdamW (`lr_weights`, `weight_decay`) along
    /// `sign(G_i − target_i)·G_i/a_i`, then `a ← exp(a)/Σexp(a)·Σa_before`. Raises
    /// `InvalidOperationException` when a first loss is 0 or not finite (the ratios would be undefined).
    let update (cfg: Config) (state: GradNormState) (losses: float[]) (taskGrads: Params[]) : GradNormUpdate =
        updateWith cfg state losses (fun a -> taskGradNorms a taskGrads)
