namespace TiDHy.Torch

open System
open TorchSharp
open TiDHy.Functional
open TiDHy.Kernels
open TiDHy.Torch.TensorOps

/// Which `Config` options the torch backend implements; every other option must keep its default.
[<RequireQualifiedAccess>]
module TorchSupport =

    /// The upstream keys of the options the torch engine implements (any value); it reads options of
    /// every stage (`ConfigOption.Stage`). `backend` names which of the core's engines runs and is not
    /// consulted here. Options not listed (those of `refusedKeys`, and any added to `Config` later)
    /// are refused unless they hold their default; a test checks that every option is declared in
    /// this list or in `refusedKeys`.
    let supportedKeys: Set<string> =
        set
            [
                "input_dim"
                "r_dim"
                "r2_dim"
                "mix_dim"
                "hyper_hid_dim"
                "r2_decoder_hid_dim"
                "loss_type"
                "nonlin_decoder"
                "low_rank_temp"
                "dyn_bias"
                "use_r2_decoder"
                "max_iter"
                "tol"
                "lr_r"
                "lr_r2"
                "temp_weight"
                "lmda_r"
                "lmda_r2"
                "L1_inf_w"
                "L1_inf_r"
                "L1_inf_r2"
                "batch_scaling"
                "convergence"
                "backend"
                "stateful"
                "learning_rate_s"
                "learning_rate_t"
                "learning_rate_h"
                "weight_decay"
                "lr_schedule"
                "schedule_transition_steps"
                "schedule_decay"
                "clip_grad"
                "cos_eta"
                "Orth_alpha_r2"
                "grad_norm"
                "grad_alpha"
                "lr_weights"
                "L1_alpha"
                "L1_alpha_W"
                "L1_alpha_spat"
                "Orth_alpha_spat"
                "Lnuc_alpha"
                "sequence_length"
                "normalize_spatial"
                "normalize_temporal"
                "overlap"
                "num_epochs"
                "saturate_r_method"
                "saturate_r_scale"
                "saturate_r2_method"
                "saturate_r2_scale"
                "sparsity_w_safe"
                "w_min_active_ratio"
            ]

    /// The options the torch engine does not implement, refused away from their defaults:
    /// `training_precision`, the core's fused training precision, which `TorchOptions.Precision`
    /// stands for here.
    let refusedKeys: Set<string> = set [ "training_precision" ]

    /// The options of `cfg` that differ from their defaults and that the torch backend does not
    /// implement, as `(key, value)`: read generically from `ConfigOptions.all`, so that an option
    /// added to `Config` later is refused until it is implemented here.
    let unsupported (cfg: Config) : (string * string) list =
        let values = ConfigOptions.values cfg

        ConfigOptions.all
        |> List.filter (fun o -> not (supportedKeys.Contains o.Key))
        |> List.choose (fun o ->
            let v = values[o.Index]

            match o.Default with
            | Some d when obj.Equals(d, v) -> None
            | _ -> Some(o.Key, string v))

    /// Validates `cfg` (`Config.validateOrThrow`) and raises a NotSupportedException naming every
    /// option that the torch backend does not implement and that differs from its default.
    let check (cfg: Config) : Config =
        let cfg = Config.validateOrThrow cfg

        match unsupported cfg with
        | [] -> cfg
        | bad ->
            let names = bad |> List.map (fun (k, v) -> k + " = " + v)
            let listed = String.Join(", ", names)

            raise (
                NotSupportedException(
                    $"The torch backend does not implement {listed}; use the core library's backends (Fused, Reference) for these options."
                )
            )

/// A batch's inference result on the device.
type internal TInfer =
    {
        R: torch.Tensor
        R2: torch.Tensor
        Iterations: int
        Converged: bool
        SampleIterations: int[]
    }

/// Inference (MODEL.md "Inference at one step", "First step") on tensors, batched over samples;
/// the latents' gradients by autograd. Parameters are held constant (pass detached leaves).
module internal TorchInference =

    type Tensor = torch.Tensor

    /// The inference objective at the iterate `(r, r2)` (a scalar tensor) and the mixture weights:
    /// `scale·(Σℓ(decode(r), x) + temp_weight·Σ(r − r̂)² + Σ(r2 − target)²) + L1 terms`.
    let objective
        (cfg: Config)
        (p: TParams)
        (scale: float)
        (x: Tensor)
        (proj: Tensor)
        (target: Tensor option)
        (r: Tensor)
        (r2: Tensor)
        =
        let xBar = TorchModel.decode cfg p r
        let rHat, w, _ = TorchModel.temporal cfg p proj r2
        let mutable data = TorchModel.element cfg xBar x |> _.sum()
        data <- data +. (sq (r - rHat)).sum() *. cfg.TempWeight

        match target with
        | Some t -> data <- data +. (sq (r2 - t)).sum()
        | None -> ()

        let mutable l = data *. scale

        if cfg.L1InfW <> 0.0 then
            l <- l +. w.abs().sum() *. cfg.L1InfW

        if cfg.L1InfR2 <> 0.0 then
            l <- l +. r2.abs().sum() *. cfg.L1InfR2

        if cfg.L1InfR <> 0.0 then
            l <- l +. r.abs().sum() *. cfg.L1InfR

        l

    /// `∂L/∂r`, `∂L/∂r2` of `objective` by autograd.
    let gradient cfg p scale x proj target (r: Tensor) (r2: Tensor) =
        use _ = torch.enable_grad ()
        let rl = r.detach().requires_grad_(true)
        let r2l = r2.detach().requires_grad_(true)
        let l = objective cfg p scale x proj target rl r2l
        let g = torch.autograd.grad ([| l |], [| rl; r2l |])
        g[0], g[1]

    let private rowNorms (t: Tensor) = (sq t).sum(1L).sqrt()

    /// Per-sample relative changes `‖a − old‖/(‖old‖ + 1e-16)` `[B]`.
    let private relRows (a: Tensor) (old: Tensor) =
        rowNorms (a - old) / (rowNorms old +% ModelConstants.RelChangeGuard)

    /// The relative change of the whole batch (Frobenius norms), a scalar tensor.
    let private relAll (a: Tensor) (old: Tensor) =
        (sq (a - old)).sum().sqrt()
        / ((sq old).sum().sqrt() +% ModelConstants.RelChangeGuard)

    let private finiteRows (t: Tensor) = torch.isfinite(t).all(1L)

    let private raiseDiverged (cfg: Config) (operation: string) (iteration: int) (finR: bool[]) (finR2: bool[]) =
        let bad =
            Array.init finR.Length (fun s ->
                if not finR[s] then
                    InferenceQuantity.R
                elif finR2.Length > 0 && not finR2[s] then
                    InferenceQuantity.R2
                else
                    InferenceQuantity.None)

        match bad |> Array.tryFindIndex (fun q -> q <> InferenceQuantity.None) with
        | Some s -> raise (InferenceDivergedException(operation, iteration, cfg.MaxIter, s, bad[s]))
        | None -> ()

    /// Replaces `slot` with `value`, disposing what it held.
    let private swap (slot: Tensor ref) (value: Tensor) =
        let old = slot.Value
        slot.Value <- value

        if not (obj.ReferenceEquals(old, value)) then
            old.Dispose()

    /// `inf(x, r_p, r2₀)`: `x [B; D]`, `rP [B; R]`, `r20 [B; R2]` on the device, `v` the dynamics
    /// matrices. The returned tensors belong to the caller's dispose scope.
    let infer (cfg: Config) (p: TParams) (v: Tensor) (x: Tensor) (rP: Tensor) (r20: Tensor) : TInfer =
        let b = int x.shape[0]

        let scale =
            match cfg.BatchScaling with
            | BatchScaling.BatchMean -> 1.0 / float b
            | BatchScaling.PerSample -> 1.0

        let proj = TorchModel.project v rP
        let r = ref (torch.zeros_like rP)
        let r2 = ref (r20.clone ())
        let vr = ref (torch.zeros_like rP)
        let vr2 = ref (torch.zeros_like r20)
        let active = Array.create b true
        let sampleIters = Array.zeroCreate<int> b
        let perSample = cfg.Convergence = Convergence.PerSample
        let mutable i = 0
        let mutable converged = false
        let momentum = ModelConstants.NesterovMomentum

        while not converged && i < cfg.MaxIter do
            let lrR = ModelConstants.RStepSize(cfg.LrR, cfg.MaxIter, i)

            let next, stats, finR, finR2 =
                use scope = torch.NewDisposeScope()

                let target =
                    if cfg.UseR2Decoder then
                        use _ = torch.no_grad ()
                        Some(TorchModel.r2Decode p r.Value r2.Value)
                    else
                        None

                let gr, gr2 = gradient cfg p scale x proj target r.Value r2.Value
                use _ = torch.no_grad ()
                let vr' = vr.Value *. momentum +. gr
                let r' = r.Value - (gr +. vr' *. momentum) *. lrR
                let vr2' = vr2.Value *. momentum +. gr2
                let r2' = r2.Value - (gr2 +. vr2' *. momentum) *. cfg.LrR2

                let r2' =
                    T.softThreshold cfg.LmdaR2 r2' |> T.saturate cfg.SaturateR2 cfg.SaturateR2Scale

                let r' = T.softThreshold cfg.LmdaR r' |> T.saturate cfg.SaturateR cfg.SaturateRScale

                let r', r2', vr', vr2' =
                    if perSample && Array.contains false active then
                        let mask = torch.tensor(active, device = x.device).unsqueeze(1L)

                        torch.where (mask, r', r.Value),
                        torch.where (mask, r2', r2.Value),
                        torch.where (mask, vr', vr.Value),
                        torch.where (mask, vr2', vr2.Value)
                    else
                        r', r2', vr', vr2'

                let stats =
                    match cfg.Convergence with
                    | Convergence.Batch -> torch.stack ([| relAll r' r.Value; relAll r2' r2.Value |])
                    | Convergence.AllSamples
                    | Convergence.PerSample -> torch.cat ([| relRows r' r.Value; relRows r2' r2.Value |])

                // One transfer per iteration: the convergence measures and the finiteness flags.
                let fin = torch.cat([| finiteRows r'; finiteRows r2' |]).to_type(x.dtype)
                let host = T.toFlat (torch.cat ([| stats; fin |]))
                let n = host.Length - 2 * b
                let finite = host[n..] |> Array.map (fun v -> v > 0.5)
                let next = [| r'; r2'; vr'; vr2' |]
                scope.MoveToOuter(next |> Array.map (fun t -> t :> IDisposable))
                next, host[.. n - 1], finite[.. b - 1], finite[b..]

            swap r next[0]
            swap r2 next[1]
            swap vr next[2]
            swap vr2 next[3]

            for s in 0 .. b - 1 do
                if active[s] then
                    sampleIters[s] <- sampleIters[s] + 1

            raiseDiverged cfg "inf" (i + 1) finR finR2

            match cfg.Convergence with
            | Convergence.Batch -> converged <- stats[0] < cfg.Tol && stats[1] < cfg.Tol
            | Convergence.AllSamples ->
                converged <- Array.forall id (Array.init b (fun s -> stats[s] < cfg.Tol && stats[b + s] < cfg.Tol))
            | Convergence.PerSample ->
                for s in 0 .. b - 1 do
                    if active[s] && stats[s] < cfg.Tol && stats[b + s] < cfg.Tol then
                        active[s] <- false

                converged <- not (Array.contains true active)

            i <- i + 1

        vr.Value.Dispose()
        vr2.Value.Dispose()
        proj.Dispose()

        {
            R = r.Value
            R2 = r2.Value
            Iterations = i
            Converged = converged
            SampleIterations = sampleIters
        }

    /// The first step's objective `scale·Σℓ(decode(r), x)`.
    let firstStepObjective (cfg: Config) (p: TParams) (scale: float) (x: Tensor) (r: Tensor) =
        (TorchModel.element cfg (TorchModel.decode cfg p r) x).sum() *. scale

    /// `∂/∂r` of `firstStepObjective` by autograd.
    let firstStepGradient cfg p scale x (r: Tensor) =
        use _ = torch.enable_grad ()
        let rl = r.detach().requires_grad_(true)
        let l = firstStepObjective cfg p scale x rl
        (torch.autograd.grad ([| l |], [| rl |]))[0]

    /// `inf_first_step(x)`: AdamW from `r = 0`; `x [B; D]`. Returns `r [B; R]` (in the caller's
    /// dispose scope), the iterations, whether it converged and the per-sample counts.
    let inferFirstStep (cfg: Config) (p: TParams) (x: Tensor) =
        let b = int x.shape[0]

        let scale =
            match cfg.BatchScaling with
            | BatchScaling.BatchMean -> 1.0 / float b
            | BatchScaling.PerSample -> 1.0

        let shape = [| int64 b; int64 cfg.RDim |]
        let r = ref (torch.zeros (shape, dtype = x.dtype, device = x.device))
        let m1 = ref (torch.zeros (shape, dtype = x.dtype, device = x.device))
        let m2 = ref (torch.zeros (shape, dtype = x.dtype, device = x.device))

        let beta1, beta2, eps =
            ModelConstants.AdamBeta1, ModelConstants.AdamBeta2, ModelConstants.AdamEps

        let lr = cfg.LrR

        let i, converged, sampleIters =
            Inference.firstStepLoop cfg b (fun i bc1 bc2Sqrt active ->
                let next, changes, finite =
                    use scope = torch.NewDisposeScope()
                    let g = firstStepGradient cfg p scale x r.Value
                    use _ = torch.no_grad ()
                    let decayed = r.Value *. (1.0 - lr * ModelConstants.FirstStepWeightDecay)
                    let m1' = m1.Value *. beta1 +. g *. (1.0 - beta1)
                    let m2' = m2.Value *. beta2 +. g * g *. (1.0 - beta2)
                    let denom = m2'.sqrt () /. bc2Sqrt +% eps

                    let r' =
                        decayed - m1' / denom *. (lr / bc1)
                        |> T.saturate cfg.SaturateR cfg.SaturateRScale

                    let r', m1', m2' =
                        if Array.contains false active then
                            let mask = torch.tensor(active, device = x.device).unsqueeze(1L)

                            torch.where (mask, r', r.Value),
                            torch.where (mask, m1', m1.Value),
                            torch.where (mask, m2', m2.Value)
                        else
                            r', m1', m2'

                    let rel = relRows r' r.Value
                    let host = T.toFlat (torch.cat ([| rel; finiteRows(r').to_type(x.dtype) |]))
                    let next = [| r'; m1'; m2' |]
                    scope.MoveToOuter(next |> Array.map (fun t -> t :> IDisposable))
                    next, host[.. b - 1], host[b..] |> Array.map (fun v -> v > 0.5)

                swap r next[0]
                swap m1 next[1]
                swap m2 next[2]
                raiseDiverged cfg "inf_first_step" (i + 1) finite [||]
                changes |> Array.map (fun c -> c < cfg.Tol))

        m1.Value.Dispose()
        m2.Value.Dispose()
        r.Value, i, converged, sampleIters
