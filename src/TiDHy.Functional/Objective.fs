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

/// The four terms of the training objective over a window, each with its parameter gradient.
type ObjectiveTerms =
    {
        /// `L_hat = Σ_t ⟨ℓ(decode(r_t), X_t)⟩`.
        SpatialLossRHat: Term
        /// `L_bar = Σ_t ⟨ℓ(decode(r̂_t), X_t)⟩`.
        SpatialLossRBar: Term
        /// `temp_weight·L_temp = temp_weight·Σ_t ⟨(r_t − r̂_t)²⟩`.
        TempLoss: Term
        /// `L_r2 = Σ_t ⟨(r2_t − R2dec([r_{t−1}, r2_{t−1}]))²⟩` (value 0, zero gradient without the r2 decoder).
        R2Loss: Term
    }

/// The training objective of MODEL.md as a function of the parameters, with the inferred latents
/// held as data: its values (`values`, from the batch model functions) and its analytic parameter
/// gradients (`terms`, by reverse-mode rules written per sample).
[<RequireQualifiedAccess>]
module Objective =

    /// Runs the training objective's forward pass (inference included) on a window
    /// `X [batch; T; D]` and returns the latents it found beside the `ForwardResult`. `init` as
    /// in `Forward.forward`.
    let trajectory (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : Trajectory * ForwardResult =
        let res = Forward.forward cfg p init X
        let batch = Array3D.length1 X
        let time = Array3D.length2 X
        let xs = Array.init time (Forward.timeStep X)
        let carry0 = init |> Option.defaultWith (fun () -> Forward.zeroCarry cfg batch)
        let offset = if init.IsSome then 0 else 1
        let prevs = Array.append [| carry0 |] res.States

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
        },
        res

    /// The values of `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2` at parameters `p` for the
    /// latents of `traj` (computed with `Model.decode`, `Model.temporalPrediction` and
    /// `Model.r2Decode`; independent of `terms`' per-sample rules).
    let values (cfg: Config) (p: Params) (traj: Trajectory) : float * float * float * float =
        let initial =
            match traj.Initial with
            | Some x0 -> Loss.batch cfg.Loss (Model.decode cfg p (Array2D.zeroCreate (Array2D.length1 x0) cfg.RDim)) x0
            | None -> 0.0

        let perStep =
            traj.Steps
            |> Array.map (fun s ->
                let rHat = (Model.temporalPrediction cfg p s.RPrev s.R2).RHat

                Loss.batch cfg.Loss (Model.decode cfg p s.R) s.X,
                Loss.batch cfg.Loss (Model.decode cfg p rHat) s.X,
                Forward.squaredError s.R rHat,
                (if cfg.UseR2Decoder then
                     Forward.squaredError s.R2 (Model.r2Decode cfg p s.RPrev s.R2Prev)
                 else
                     0.0))

        initial + Array.sumBy (fun (a, _, _, _) -> a) perStep,
        Array.sumBy (fun (_, b, _, _) -> b) perStep,
        cfg.TempWeight * Array.sumBy (fun (_, _, c, _) -> c) perStep,
        Array.sumBy (fun (_, _, _, d) -> d) perStep

    // The reverse-mode rules below add into gradient trees that `terms` creates and owns.

    let private addLinear (acc: LinearParams) (gy: float[]) (x: float[]) =
        for o in 0 .. gy.Length - 1 do
            for i in 0 .. x.Length - 1 do
                acc.Weight[o, i] <- acc.Weight[o, i] + gy[o] * x[i]

        match acc.Bias with
        | Some b ->
            for o in 0 .. gy.Length - 1 do
                b[o] <- b[o] + gy[o]
        | None -> ()

    /// Adds the parameter gradient of `Σ g·mlp(v)` into `acc`; returns the gradient w.r.t. `v`.
    let private mlpBackward (m: MlpParams) (acc: MlpParams) (trace: Model.MlpTrace) (g: float[]) =
        let hidden = Model.linear m.Hidden trace.Act
        addLinear acc.Output g hidden
        let gHidden = Numerics.matTVec m.Output.Weight g
        addLinear acc.Hidden gHidden trace.Act
        let gAct = Numerics.matTVec m.Hidden.Weight gHidden
        let n = trace.Pre.Length
        let unit = Numerics.layerNorm (Array.create n 1.0) (Array.zeroCreate n) trace.Pre
        let normed = Numerics.layerNorm m.Norm.Gamma m.Norm.Beta trace.Pre
        let gNorm = Array.map2 (fun ga v -> ga * Numerics.eluDerivative v) gAct normed

        for j in 0 .. n - 1 do
            acc.Norm.Gamma[j] <- acc.Norm.Gamma[j] + gNorm[j] * unit[j]
            acc.Norm.Beta[j] <- acc.Norm.Beta[j] + gNorm[j]

        let gPre = Numerics.layerNormVjp m.Norm.Gamma trace.Pre gNorm
        addLinear acc.Input gPre trace.Input
        Numerics.matTVec m.Input.Weight gPre

    /// `decode(r)` for one sample, with the parameter gradient of `Σ ℓ(decode(r), x)·scale` added
    /// into `acc`; returns the gradient w.r.t. `r`.
    let private decodeBackward (cfg: Config) (p: Params) (acc: Params) (scale: float) (r: float[]) (x: float[]) =
        let bce = cfg.Loss = LossKind.BCE
        let dl = Loss.derivative cfg.Loss

        let outGrad (y: float[]) =
            Array.init y.Length (fun d ->
                if bce then
                    let s = Numerics.sigmoid y[d]
                    scale * dl s x[d] * Numerics.sigmoidDerivativeOfOutput s
                else
                    scale * dl y[d] x[d])

        match p.SpatialDecoder, acc.SpatialDecoder with
        | LinearDecoder l, LinearDecoder a ->
            let gy = outGrad (Model.linear l r)
            addLinear a gy r
            Numerics.matTVec l.Weight gy
        | NonlinearDecoder m, NonlinearDecoder a ->
            let t = Model.mlpTrace m r
            mlpBackward m a t (outGrad t.Out)
        | _ -> invalidOp "the gradient tree is shaped like the parameters"

    /// Adds the parameter gradient of `Σ g·r̂` into `acc`, for one sample's temporal prediction
    /// `trace` from `rP` (the hypernetwork's input `r2` is data).
    let private temporalBackward
        (p: Params)
        (acc: Params)
        (vs: float[,][])
        (rP: float[])
        (trace: Model.TemporalTrace)
        (g: float[])
        =
        let m = vs.Length
        let r = rP.Length

        let gw =
            Array.init m (fun k -> Array.fold2 (fun s gi vi -> s + gi * vi) 0.0 g (Numerics.matVec vs[k] rP))

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

        mlpBackward p.Hypernet acc.Hypernet trace.Hyper gOut |> ignore

    /// The four terms of the objective at parameters `p` for the latents of `traj`, each with its
    /// gradient with respect to every parameter (a tree shaped like `p`).
    let terms (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p
        let hat, bar, temp, r2Loss = values cfg p traj

        let gHat, gBar, gTemp, gR2 =
            ParamTree.zerosLike p, ParamTree.zerosLike p, ParamTree.zerosLike p, ParamTree.zerosLike p

        let vs = Model.dynamicsMatrices p

        match traj.Initial with
        | Some x0 ->
            let b = Array2D.length1 x0

            for s in 0 .. b - 1 do
                decodeBackward cfg p gHat (1.0 / float b) (Array.zeroCreate cfg.RDim) (Numerics.row x0 s)
                |> ignore
        | None -> ()

        for step in traj.Steps do
            let b = Array2D.length1 step.X
            let scale = 1.0 / float b

            for s in 0 .. b - 1 do
                let x = Numerics.row step.X s
                let r = Numerics.row step.R s
                let rP = Numerics.row step.RPrev s
                decodeBackward cfg p gHat scale r x |> ignore
                let trace = Model.temporalSample p vs rP (Numerics.row step.R2 s)
                let gRHat = decodeBackward cfg p gBar scale trace.RHat x
                temporalBackward p gBar vs rP trace gRHat

                let gTempRHat =
                    Array.map2 (fun ri rh -> -2.0 * cfg.TempWeight * scale * (ri - rh)) r trace.RHat

                temporalBackward p gTemp vs rP trace gTempRHat

                match p.R2Decoder, gR2.R2Decoder with
                | Some m, Some acc ->
                    let t = Model.mlpTrace m (Array.append rP (Numerics.row step.R2Prev s))

                    let g =
                        Array.map2 (fun target o -> -2.0 * scale * (target - o)) (Numerics.row step.R2 s) t.Out

                    mlpBackward m acc t g |> ignore
                | _ -> ()

        {
            SpatialLossRHat = { Value = hat; Grad = gHat }
            SpatialLossRBar = { Value = bar; Grad = gBar }
            TempLoss = { Value = temp; Grad = gTemp }
            R2Loss = { Value = r2Loss; Grad = gR2 }
        }
