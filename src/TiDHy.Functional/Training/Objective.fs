namespace TiDHy.Functional

/// One inference step of a window, with its inferred latents held as data.
type TrajectoryStep =
    {
        /// The observation `x_t`: `[batch; D]`.
        X: float[,]
        /// `r_{t−1}`: `[batch; R]`.
        RPrev: float[,]
        /// `r2_{t−1}`: `[batch; R2]`.
        R2Prev: float[,]
        /// `r_t` from inference: `[batch; R]`.
        R: float[,]
        /// `r2_t` from inference: `[batch; R2]`.
        R2: float[,]
    }

/// The latents that inference found over a window: the data on which the training objective
/// depends on the parameters (MODEL.md: no gradient flows through inference).
type Trajectory =
    {
        /// `X_0 [batch; D]` when the window starts without a carry (upstream): its term of `L_hat`
        /// is `⟨ℓ(decode(0), X_0)⟩`. `None` in stateful mode, where every step is an inference step.
        Initial: float[,] option
        /// The inference steps in time order.
        Steps: TrajectoryStep[]
    }

/// The four terms of the training objective over a window, each with its parameter gradient:
/// `L_hat = Σ_t ⟨ℓ(decode(r_t), X_t)⟩`, `L_bar = Σ_t ⟨ℓ(decode(r̂_t), X_t)⟩`,
/// `temp_weight·L_temp = temp_weight·Σ_t ⟨(r_t − r̂_t)²⟩` and
/// `L_r2 = Σ_t ⟨(r2_t − R2dec([r_{t−1}, r2_{t−1}]))²⟩` (value 0, zero gradient without the r2 decoder).
/// With `sparsity_w_safe > 0` the temporal term also holds `sparsity_w_safe·SAFE`, SAFE the mean of
/// `Regularisers.safeRow` over every (step, sample) whose `w = hypernet(r2_t)` the window has (as
/// upstream JAX adds it to the temporal task that GradNorm balances); training only.
type ObjectiveTerms = LossTerms<Term>

/// The forward pass over a window (`Objective.trajectory`): the latents it inferred, and its result.
type TrajectoryRun =
    {
        /// The inferred latents, held as data by `Objective.values` and `Objective.terms`.
        Trajectory: Trajectory
        /// The forward pass's losses, states and iteration counts.
        Forward: ForwardResult
    }

/// The training objective of MODEL.md as a function of the parameters, with the inferred latents
/// held as data: its values (`values`, from the batch model functions) and its analytic parameter
/// gradients (`terms`, by reverse-mode rules written per sample).
[<RequireQualifiedAccess>]
module Objective =

    /// Runs the training objective's forward pass (inference included) on a window
    /// `X [batch; T; D]` and returns the latents it found with the `ForwardResult`. `init` as
    /// in `Forward.forward`.
    let trajectory (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : TrajectoryRun =
        let res = Forward.forward cfg p init X
        let batch = Array3D.length1 X
        let time = Array3D.length2 X
        let xs = Array.init time (Forward.timeStep X)
        let carry0 = init |> Option.defaultWith (fun () -> Forward.zeroCarry cfg batch)
        let offset = if init.IsSome then 0 else 1
        let prevs = Array.append [| carry0 |] res.States

        {
            Trajectory =
                {
                    Initial = if init.IsSome then None else Some xs[0]
                    Steps =
                        res.States
                        |> Array.mapi (fun i c ->
                            {
                                X = xs[i + offset]
                                RPrev = prevs[i].R
                                R2Prev = prevs[i].R2
                                R = c.R
                                R2 = c.R2
                            })
                }
            Forward = res
        }

    /// The values of `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2` at parameters `p` for the
    /// latents of `traj` (computed with `Model.decode`, `Model.temporalPrediction` and
    /// `Model.r2Decode`; independent of `terms`' per-sample rules).
    let values (cfg: Config) (p: Params) (traj: Trajectory) : LossTerms<float> =
        let initial =
            match traj.Initial with
            | Some x0 -> Loss.batch cfg.Loss (Model.decode cfg p (Array2D.zeroCreate (Array2D.length1 x0) cfg.RDim)) x0
            | None -> 0.0

        let safeRows = ResizeArray<float>()

        let perStep =
            traj.Steps
            |> Array.map (fun s ->
                let tp = Model.temporalPrediction cfg p s.RPrev s.R2
                let rHat = tp.RHat

                if cfg.SparsityWSafe <> 0.0 then
                    for row in Numerics.rows tp.W do
                        safeRows.Add(fst (Regularisers.safeRow cfg.WMinActiveRatio row))

                Loss.batch cfg.Loss (Model.decode cfg p s.R) s.X,
                Loss.batch cfg.Loss (Model.decode cfg p rHat) s.X,
                Forward.squaredError s.R rHat,
                (if cfg.UseR2Decoder then
                     Forward.squaredError s.R2 (Model.r2Decode cfg p s.RPrev s.R2Prev)
                 else
                     0.0))

        {
            SpatialLossRHat = initial + Array.sumBy (fun (a, _, _, _) -> a) perStep
            SpatialLossRBar = Array.sumBy (fun (_, b, _, _) -> b) perStep
            TempLoss =
                cfg.TempWeight * Array.sumBy (fun (_, _, c, _) -> c) perStep
                + (if safeRows.Count = 0 then
                       0.0
                   else
                       cfg.SparsityWSafe * Seq.average safeRows)
            R2Loss = Array.sumBy (fun (_, _, _, d) -> d) perStep
        }

    // The reverse-mode rules below add into gradient trees that `terms` creates and owns.

    /// `decode(r)` for one sample, with the parameter gradient of `scale·Σ_d ℓ(decode(r)_d, x_d)`
    /// added into `acc`; returns the gradient w.r.t. `r` and `Σ_d ℓ(decode(r)_d, x_d)`.
    let private decodeBackward (cfg: Config) (p: Params) (acc: Params) (scale: float) (r: float[]) (x: float[]) =
        let bce = cfg.Loss = LossKind.BCE
        let dl = Loss.derivative cfg.Loss
        let l = Loss.element cfg.Loss

        // The loss summed over features, and its gradient w.r.t. the decoder's last pre-activation.
        let outGrad (y: float[]) =
            let pred = if bce then Array.map Numerics.sigmoid y else y

            let g =
                Model.decodeOutputVjp cfg pred (Array.init y.Length (fun d -> scale * dl pred[d] x[d]))

            g, Array.fold2 (fun a pd xd -> a + l pd xd) 0.0 pred x

        match p.SpatialDecoder, acc.SpatialDecoder with
        | LinearDecoder lin, LinearDecoder a ->
            let gy, loss = outGrad (Model.linear lin r)
            Model.linearBackward a gy r
            Numerics.matTVec lin.Weight gy, loss
        | NonlinearDecoder m, NonlinearDecoder a ->
            let t = Model.mlpTrace m r
            let gy, loss = outGrad t.Out
            Model.mlpBackward m (Some a) t gy, loss
        | _ -> invalidOp "the gradient tree is shaped like the parameters"

    /// Adds the parameter gradient of `Σ g·r̂` into `acc`, for one sample's temporal prediction
    /// `trace` from `rP` (the hypernetwork's input `r2` is data).
    let private temporalBackward (p: Params) (acc: Params) (rP: float[]) (trace: Model.TemporalTrace) (g: float[]) =
        let m = trace.P.Length
        let r = rP.Length

        let gw =
            trace.P
            |> Array.map (fun pk -> Array.fold2 (fun s gi vi -> s + gi * vi) 0.0 g pk)

        match p.Temporal, acc.Temporal with
        | FullRank _, FullRank a ->
            for k in 0 .. m - 1 do
                for i in 0 .. r - 1 do
                    for j in 0 .. r - 1 do
                        a[k, i * r + j] <- a[k, i * r + j] + trace.W[k] * g[i] * rP[j]
        | LowRank u, LowRank a ->
            for k in 0 .. m - 1 do
                // ∂L/∂U = (G + Gᵀ)·U for V = U·Uᵀ, with G = w_k·g·r_pᵀ.
                for i in 0 .. r - 1 do
                    for j in 0 .. r - 1 do
                        let gij = trace.W[k] * (g[i] * rP[j] + g[j] * rP[i])

                        for c in 0..1 do
                            a[k, i, c] <- a[k, i, c] + gij * u[k, j, c]
        | _ -> invalidOp "the gradient tree is shaped like the parameters"

        let gb =
            match p.TemporalBias, acc.TemporalBias with
            | Some c, Some ac ->
                for i in 0 .. r - 1 do
                    ac[i] <- ac[i] + g[i] * trace.B[i]

                Array.map2 (*) g c
            | _ -> [||]

        let gOut =
            Array.map2 (fun go o -> go * Numerics.reluDerivative o) (Array.append gw gb) trace.Hyper.Out

        Model.mlpBackward p.Hypernet (Some acc.Hypernet) trace.Hyper gOut |> ignore

    /// Work items of `terms` are split into this many contiguous chunks, each accumulated on its own
    /// and then summed in order: parallel, yet the same sums on every machine.
    [<Literal>]
    let private Chunks = 4

    /// The four terms of the objective at parameters `p` for the latents of `traj`, each with its
    /// gradient with respect to every parameter (a tree shaped like `p`). The values come from the
    /// same per-sample pass as the gradients; they equal `values` to rounding.
    let terms (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p
        let vs = Model.dynamicsMatrices p

        let batch =
            match traj.Initial, Array.tryHead traj.Steps with
            | Some x0, _ -> Array2D.length1 x0
            | None, Some s -> Array2D.length1 s.X
            | None, None -> 1

        let scale = 1.0 / float batch

        // Items: (-1, s) is sample s of the X_0 term, (k, s) sample s of inference step k.
        let items =
            [|
                match traj.Initial with
                | Some _ ->
                    for s in 0 .. batch - 1 do
                        yield -1, s
                | None -> ()
                for k in 0 .. traj.Steps.Length - 1 do
                    for s in 0 .. Array2D.length1 traj.Steps[k].X - 1 do
                        yield k, s
            |]

        // SAFE (sparsity_w_safe) is the mean over every (step, sample) row that has a `w`.
        let safeRowCount = traj.Steps |> Array.sumBy (fun st -> Array2D.length1 st.X)

        let safe = cfg.SparsityWSafe <> 0.0 && safeRowCount > 0

        let chunk (c: int) =
            let gHat, gBar, gTemp, gR2 =
                ParamTree.zerosLike p, ParamTree.zerosLike p, ParamTree.zerosLike p, ParamTree.zerosLike p

            let sums = Array.zeroCreate<float> 5
            let first, last = items.Length * c / Chunks, items.Length * (c + 1) / Chunks - 1

            for i in first..last do
                match items[i] with
                | -1, s ->
                    let x0 = traj.Initial.Value

                    let _, l =
                        decodeBackward cfg p gHat scale (Array.zeroCreate cfg.RDim) (Numerics.row x0 s)

                    sums[0] <- sums[0] + l
                | k, s ->
                    let step = traj.Steps[k]
                    let x = Numerics.row step.X s
                    let r = Numerics.row step.R s
                    let rP = Numerics.row step.RPrev s
                    let _, lHat = decodeBackward cfg p gHat scale r x
                    let trace = Model.temporalSample p vs rP (Numerics.row step.R2 s)
                    let gRHat, lBar = decodeBackward cfg p gBar scale trace.RHat x
                    temporalBackward p gBar rP trace gRHat

                    let gTempRHat =
                        Array.map2 (fun ri rh -> -2.0 * cfg.TempWeight * scale * (ri - rh)) r trace.RHat

                    temporalBackward p gTemp rP trace gTempRHat

                    if safe then
                        let v, gw = Regularisers.safeRow cfg.WMinActiveRatio trace.W
                        let weight = cfg.SparsityWSafe / float safeRowCount
                        let m = gw.Length

                        let gOut =
                            trace.Hyper.Out
                            |> Array.mapi (fun o out ->
                                if o < m then
                                    weight * gw[o] * Numerics.reluDerivative out
                                else
                                    0.0)

                        Model.mlpBackward p.Hypernet (Some gTemp.Hypernet) trace.Hyper gOut |> ignore
                        sums[4] <- sums[4] + v

                    sums[0] <- sums[0] + lHat
                    sums[1] <- sums[1] + lBar

                    sums[2] <-
                        sums[2]
                        + Array.fold2 (fun a ri rh -> a + (ri - rh) * (ri - rh)) 0.0 r trace.RHat

                    match p.R2Decoder, gR2.R2Decoder with
                    | Some m, Some acc ->
                        let t = Model.mlpTrace m (Array.append rP (Numerics.row step.R2Prev s))
                        let target = Numerics.row step.R2 s
                        let g = Array.map2 (fun tg o -> -2.0 * scale * (tg - o)) target t.Out
                        Model.mlpBackward m (Some acc) t g |> ignore
                        sums[3] <- sums[3] + Array.fold2 (fun a tg o -> a + (tg - o) * (tg - o)) 0.0 target t.Out
                    | _ -> ()

            [| gHat; gBar; gTemp; gR2 |], sums

        let parts = Array.Parallel.init Chunks chunk

        let grad k =
            parts |> Array.map (fun (g, _) -> g[k]) |> Array.reduce ParamTree.add

        let value k =
            parts |> Array.sumBy (fun (_, v) -> v[k]) |> (*) scale

        {
            SpatialLossRHat = { Value = value 0; Grad = grad 0 }
            SpatialLossRBar = { Value = value 1; Grad = grad 1 }
            TempLoss =
                {
                    Value =
                        cfg.TempWeight * value 2
                        + (if safe then
                               cfg.SparsityWSafe * (parts |> Array.sumBy (fun (_, v) -> v[4]))
                               / float safeRowCount
                           else
                               0.0)
                    Grad = grad 2
                }
            R2Loss = { Value = value 3; Grad = grad 3 }
        }
