namespace TiDHy.Torch

open System
open TorchSharp
open TiDHy.Functional
open TiDHy.Torch.TensorOps

/// The latents inferred over a window, on the device, stacked over the inference steps `S`.
type internal TTrajectory =
    {
        /// `X_0 [B; D]` when the window starts without a carry.
        X0: torch.Tensor option
        /// `x_t [S; B; D]` of the inference steps.
        Xs: torch.Tensor
        /// `r_{t−1}`, `r2_{t−1}`, `r_t`, `r2_t`: `[S; B; ·]`.
        RPrev: torch.Tensor
        R2Prev: torch.Tensor
        R: torch.Tensor
        R2: torch.Tensor
        /// The carry the window started from, and its final state.
        Start: torch.Tensor * torch.Tensor
        Final: torch.Tensor * torch.Tensor
        Iterations: int[]
        Converged: bool[]
    }

/// The training objective and the regularisers on tensors, as functions of the parameters (with
/// the inferred latents held as data), for autograd.
module internal TorchObjective =

    type Tensor = torch.Tensor

    /// Runs inference over a window `X [B; T; D]` (parameters detached) from `init` (or zeros, then
    /// the first step is `decode(0)` only, as upstream).
    let trajectory (cfg: Config) (p: TParams) (X: Tensor) (init: (Tensor * Tensor) option) : TTrajectory =
        let pd = TParams.detach p
        use _ = torch.no_grad ()
        let v = TorchModel.dynamics cfg pd
        let b, time = X.shape[0], int X.shape[1]

        let start =
            match init with
            | Some c -> c
            | None ->
                torch.zeros ([| b; int64 cfg.RDim |], dtype = X.dtype, device = X.device),
                torch.zeros ([| b; int64 cfg.R2Dim |], dtype = X.dtype, device = X.device)

        let first = if init.IsSome then 0 else 1
        let mutable r, r2 = start

        let rs, r2s, rps, r2ps, xs =
            ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray()

        let iters, conv = ResizeArray(), ResizeArray()

        for t in first .. time - 1 do
            let x = X.select (1L, int64 t)
            let inf = TorchInference.infer cfg pd v x r r2
            rps.Add r
            r2ps.Add r2
            xs.Add x
            rs.Add inf.R
            r2s.Add inf.R2
            iters.Add inf.Iterations
            conv.Add inf.Converged
            r <- inf.R
            r2 <- inf.R2

        let stack (l: ResizeArray<Tensor>) (n: int64) =
            if l.Count = 0 then
                torch.zeros ([| 0L; b; n |], dtype = X.dtype, device = X.device)
            else
                torch.stack (l, 0L)

        {
            X0 = if init.IsSome then None else Some(X.select (1L, 0L))
            Xs = stack xs X.shape[2]
            RPrev = stack rps (int64 cfg.RDim)
            R2Prev = stack r2ps (int64 cfg.R2Dim)
            R = stack rs (int64 cfg.RDim)
            R2 = stack r2s (int64 cfg.R2Dim)
            Start = start
            Final = r, r2
            Iterations = iters.ToArray()
            Converged = conv.ToArray()
        }

    /// SAFE (`Regularisers.safeRow`) averaged over the rows of `w [n; M]`: with `q = max(w, 1e-8)`
    /// sorted descending (stable, so tied entries keep index order), `Σ_i σ(2(i − ratio·M))·q_(i) / max(Σq, 1e-8)`.
    /// With one component SAFE is the constant `σ(−2·ratio)` (as `Regularisers.safeRow` has it): no
    /// graph, so its gradient is exactly 0 rather than autograd's rounding residue of `q/Σq`.
    let safe (ratio: float) (w: Tensor) : Tensor =
        let m = int w.shape[1]

        if m = 1 then
            torch.tensor (Regularisers.safeRankWeight ratio 1 0, dtype = w.dtype, device = w.device)
        else
            let q = clampMin Regularisers.SafeEps w
            let denom = clampMin Regularisers.SafeEps (q.sum (-1L))
            let struct (sorted, _) = q.sort (-1L, true, true)

            let rankWeights =
                torch.tensor (Array.init m (Regularisers.safeRankWeight ratio m), dtype = w.dtype, device = w.device)

            ((sorted * rankWeights).sum(-1L) / denom).mean()

    let private termsOf (training: bool) (cfg: Config) (p: TParams) (traj: TTrajectory) : LossTerms<Tensor> =
        let b = float traj.R.shape[1]
        let flat (t: Tensor) = t.reshape (-1L, t.shape[2])
        let xs, r, rp, r2 = flat traj.Xs, flat traj.R, flat traj.RPrev, flat traj.R2
        let mean (t: Tensor) = t.sum () /. b

        let initial =
            match traj.X0 with
            | Some x0 ->
                let zero =
                    torch.zeros ([| x0.shape[0]; int64 cfg.RDim |], dtype = x0.dtype, device = x0.device)

                mean (TorchModel.element cfg (TorchModel.decode cfg p zero) x0)
            | None -> torch.zeros ([||], dtype = traj.R.dtype, device = traj.R.device)

        let v = TorchModel.dynamics cfg p
        let rHat, w, _ = TorchModel.temporal cfg p (TorchModel.project v rp) r2
        let lHat = initial +. mean (TorchModel.element cfg (TorchModel.decode cfg p r) xs)
        let lBar = mean (TorchModel.element cfg (TorchModel.decode cfg p rHat) xs)
        let lTemp = mean (sq (r - rHat)) *. cfg.TempWeight

        let lTemp =
            if training && cfg.SparsityWSafe <> 0.0 && w.shape[0] > 0L then
                lTemp +. safe cfg.WMinActiveRatio w *. cfg.SparsityWSafe
            else
                lTemp

        let lR2 =
            if cfg.UseR2Decoder then
                mean (sq (r2 - TorchModel.r2Decode p rp (flat traj.R2Prev)))
            else
                torch.zeros ([||], dtype = traj.R.dtype, device = traj.R.device)

        {
            SpatialLossRHat = lHat
            SpatialLossRBar = lBar
            TempLoss = lTemp
            R2Loss = lR2
        }

    /// The four terms `L_hat`, `L_bar`, `temp_weight·L_temp`, `L_r2` (scalar tensors) at `p` over
    /// the trajectory; each a sum over steps of batch means `⟨·⟩` (`Forward.forward`'s losses).
    let terms (cfg: Config) (p: TParams) (traj: TTrajectory) : LossTerms<Tensor> = termsOf false cfg p traj

    /// `terms` as the training objective has them (`Objective.terms`): with `sparsity_w_safe > 0` the
    /// temporal term also holds `sparsity_w_safe·SAFE` over every (step, sample) row's `w`.
    let trainingTerms (cfg: Config) (p: TParams) (traj: TTrajectory) : LossTerms<Tensor> = termsOf true cfg p traj

    /// `Csum` of rows `a [..; n; len]`: `Σ_{i>j} |cos(row_i, row_j)|` summed over leading dimensions,
    /// `cos(a, b) = a·b / max(‖a‖·‖b‖, 1e-8)`.
    let cosineSum (a: Tensor) =
        let norms = (sq a).sum(-1L).sqrt()
        let dots = torch.matmul (a, a.transpose (-1L, -2L))
        let prods = norms.unsqueeze (-1L) * norms.unsqueeze (-2L)
        let c = dots / clampMin Regularisers.CosineEps prods
        let n = a.shape[a.shape.Length - 2]
        let mask = torch.ones([| n; n |], dtype = a.dtype, device = a.device).tril(-1L)
        (c.abs () * mask).sum()

    /// `cos_reg` (unweighted).
    let cosReg (cfg: Config) (p: TParams) =
        cosineSum (p.Get ParamNames.Temporal) /. float cfg.MixDim

    /// `orth_r2` (unweighted).
    let orthR2 (cfg: Config) (p: TParams) =
        cosineSum ((p.Get ParamNames.HypernetInputWeight).t()) /. float cfg.R2Dim

    /// `cos_reg`, `orth_r2` (unweighted) and the core regulariser `cos_eta·cos_reg + orth_alpha_r2·orth_r2`.
    let core (cfg: Config) (p: TParams) =
        let cos = cosReg cfg p
        let orth = orthR2 cfg p
        cos, orth, cos *. cfg.CosEta +. orth *. cfg.OrthAlphaR2

    /// The optional regularisers with a nonzero weight, weighted and summed (`None` when all are off).
    let optional (cfg: Config) (p: TParams) : Tensor option =
        let spatial () = p.Get ParamNames.SpatialDecoderWeight

        let orthSpatial () =
            let w = spatial ()
            let r = w.shape[1]
            let e = torch.matmul (w.t (), w) - torch.eye (r, dtype = w.dtype, device = w.device)
            (sq e).sum() /. float (r * r)

        let nuclear () =
            let t = p.Get ParamNames.Temporal

            if cfg.LowRankTemp then
                // V_k = U_k·U_kᵀ is positive semidefinite: its nuclear norm is its trace, ‖U_k‖²_F.
                (sq t).sum()
            else
                torch.linalg.svdvals(TorchModel.dynamics cfg p).sum()

        [
            cfg.L1Alpha, (fun () -> (p.Get ParamNames.Temporal).abs().sum())
            cfg.L1AlphaW, (fun () -> (p.Get ParamNames.HypernetOutputWeight).abs().sum())
            cfg.L1AlphaSpat, (fun () -> spatial().abs().sum())
            cfg.OrthAlphaSpat, orthSpatial
            cfg.LnucAlpha, nuclear
        ]
        |> List.filter (fun (w, _) -> w <> 0.0)
        |> List.map (fun (w, f) -> f () *. w)
        |> List.fold
            (fun acc t ->
                match acc with
                | None -> Some t
                | Some a -> Some(a +. t))
            None

    /// `∂y/∂leaves` by autograd; a leaf `y` does not depend on gets zeros.
    let grad (y: Tensor) (leaves: Tensor[]) (retain: bool) : Tensor[] =
        // A constant (a term that is off, e.g. L_r2 without the r2 decoder): zero gradients. (libtorch
        // would raise, and TorchSharp 0.107 lets that C++ exception end the process.)
        if not y.requires_grad then
            leaves |> Array.map torch.zeros_like
        else
            let gs =
                torch.autograd.grad ([| y |], leaves, retain_graph = retain, allow_unused = true)


            Array.init leaves.Length (fun i ->
                let g = gs[i]

                if isNull g || g.IsInvalid then
                    torch.zeros_like leaves[i]
                else
                    g)
