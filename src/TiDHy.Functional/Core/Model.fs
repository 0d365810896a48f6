namespace TiDHy.Functional

open System

/// The result of `Model.temporalPrediction` for a batch.
type TemporalPrediction =
    {
        /// `r̂ = V_t·r_p (+ b ⊙ c)`: `[batch; R]`.
        RHat: float[,]
        /// `V_t = Σ_k w_k·V_k`: `[batch; R; R]`.
        Vt: float[,,]
        /// Mixture weights `w = hypernet(r2)[0:M]`: `[batch; M]`.
        W: float[,]
        /// Dynamic bias weights `b = hypernet(r2)[M:]`: `[batch; R]`, with `dyn_bias` only.
        B: float[,] option
    }

/// The forward pieces of MODEL.md: the spatial decoder, the hypernetwork, the temporal prediction
/// and the r2 decoder, for a batch, with the per-sample rules and their input derivatives that
/// inference uses. Batch functions check shapes first; per-sample functions (`…Sample`, `…Vjp`)
/// assume checked inputs.
[<RequireQualifiedAccess>]
module Model =

    /// The configuration each `Params` value last passed `checkParams` with: a `Params` value and its
    /// arrays never change shape, so the check runs once per pair (it copies every tensor).
    let private validated =
        System.Runtime.CompilerServices.ConditionalWeakTable<Params, Config>()

    /// Raises `ArgumentException` unless every tensor of `p` has the shape `cfg` requires.
    let checkParams (cfg: Config) (p: Params) =
        match validated.TryGetValue p with
        | true, c when c = cfg -> ()
        | _ ->
            let actual = ParamLayout.ofParams p |> List.map (fun (n, t) -> n, t.Shape)
            let expected = ParamLayout.expected cfg

            if actual <> expected then
                let show l =
                    String.Join(", ", l |> List.map (fun (n, s) -> $"{n} {Shape.show s}"))

                invalidArg
                    (nameof p)
                    $"p: parameters do not fit the configuration; expected {show expected}, got {show actual}."

            validated.AddOrUpdate(p, cfg)

    /// `W·v + b` for one sample: `v [i]` → `[o]`.
    let internal linear (l: LinearParams) (v: float[]) =
        let y = Numerics.matVec l.Weight v

        match l.Bias with
        | Some b -> Numerics.add y b
        | None -> y

    /// The intermediate values of one MLP application, kept for its derivative.
    type internal MlpTrace =
        {
            /// Input `[i]`.
            Input: float[]
            /// After `.0` (before LayerNorm): `[h]`.
            Pre: float[]
            /// After ELU: `[h]`.
            Act: float[]
            /// Output of `.4`: `[o]`.
            Out: float[]
        }

    /// `Linear, LayerNorm, ELU, Linear, Linear` for one sample: `v [i]` → trace with output `[o]`.
    let internal mlpTrace (m: MlpParams) (v: float[]) =
        let pre = linear m.Input v
        let act = Numerics.layerNorm m.Norm.Gamma m.Norm.Beta pre |> Array.map Numerics.elu
        let out = act |> linear m.Hidden |> linear m.Output

        {
            Input = v
            Pre = pre
            Act = act
            Out = out
        }

    /// Adds the parameter gradient of `Σ_o gy_o·(W·x + b)_o` into `acc` (`gy [o]`, `x [i]`).
    let internal linearBackward (acc: LinearParams) (gy: float[]) (x: float[]) =
        for o in 0 .. gy.Length - 1 do
            for i in 0 .. x.Length - 1 do
                acc.Weight[o, i] <- acc.Weight[o, i] + gy[o] * x[i]

        match acc.Bias with
        | Some b ->
            for o in 0 .. gy.Length - 1 do
                b[o] <- b[o] + gy[o]
        | None -> ()

    /// The reverse-mode rule of `mlpTrace`: given the trace and the output gradient `g [o]`, adds the
    /// parameter gradient of `Σ_o g_o·mlp(v)_o` into `acc` when given, and returns the gradient with
    /// respect to the input `[i]`. The one MLP backward of the reference path (inference and training).
    let internal mlpBackward (m: MlpParams) (acc: MlpParams option) (trace: MlpTrace) (g: float[]) =
        acc
        |> Option.iter (fun a -> linearBackward a.Output g (linear m.Hidden trace.Act))

        let gHidden = Numerics.matTVec m.Output.Weight g
        acc |> Option.iter (fun a -> linearBackward a.Hidden gHidden trace.Act)
        let gAct = Numerics.matTVec m.Hidden.Weight gHidden
        let n = trace.Pre.Length
        let unit = Numerics.layerNorm (Array.create n 1.0) (Array.zeroCreate n) trace.Pre
        let normed = Array.init n (fun j -> m.Norm.Gamma[j] * unit[j] + m.Norm.Beta[j])
        let gNorm = Array.map2 (fun ga v -> ga * Numerics.eluDerivative v) gAct normed

        acc
        |> Option.iter (fun a ->
            for j in 0 .. n - 1 do
                a.Norm.Gamma[j] <- a.Norm.Gamma[j] + gNorm[j] * unit[j]
                a.Norm.Beta[j] <- a.Norm.Beta[j] + gNorm[j])

        let gPre = Numerics.layerNormVjp m.Norm.Gamma trace.Pre gNorm
        acc |> Option.iter (fun a -> linearBackward a.Input gPre trace.Input)
        Numerics.matTVec m.Input.Weight gPre

    /// Gradient with respect to the MLP input `[i]`, given the trace and the output gradient `g [o]`.
    let internal mlpVjp (m: MlpParams) (trace: MlpTrace) (g: float[]) = mlpBackward m None trace g

    /// The spatial decoder's output before its final sigmoid (BCE only), for one sample `r [R]` → `[D]`, with the MLP trace if nonlinear.
    let private decodeLinearPart (p: Params) (r: float[]) =
        match p.SpatialDecoder with
        | LinearDecoder l -> linear l r, None
        | NonlinearDecoder m ->
            let t = mlpTrace m r
            t.Out, Some t

    /// `decode(r)` for one sample: `r [R]` → `x̄ [D]` (through a sigmoid when the loss is BCE).
    let internal decodeSample (cfg: Config) (p: Params) (r: float[]) =
        let y, _ = decodeLinearPart p r

        if cfg.Loss = LossKind.BCE then
            Array.map Numerics.sigmoid y
        else
            y

    /// The decoder's output rule: given the gradient `g [D]` with respect to the decoded value (after
    /// the sigmoid, BCE only) and the sigmoid's output `pred [D]`, the gradient with respect to the
    /// decoder's last pre-activation. The identity for MSE and Poisson.
    let internal decodeOutputVjp (cfg: Config) (pred: float[]) (g: float[]) =
        if cfg.Loss = LossKind.BCE then
            Array.map2 (fun gd pd -> gd * Numerics.sigmoidDerivativeOfOutput pd) g pred
        else
            g

    /// Gradient with respect to `r [R]` of `Σ_d g_d·decode(r)_d`, given `g [D]` (one sample).
    let internal decodeVjp (cfg: Config) (p: Params) (r: float[]) (g: float[]) =
        let y, trace = decodeLinearPart p r

        let gy =
            decodeOutputVjp
                cfg
                (if cfg.Loss = LossKind.BCE then
                     Array.map Numerics.sigmoid y
                 else
                     y)
                g

        match p.SpatialDecoder, trace with
        | LinearDecoder l, _ -> Numerics.matTVec l.Weight gy
        | NonlinearDecoder m, Some t -> mlpVjp m t gy
        | NonlinearDecoder _, None -> invalidOp "a nonlinear decoder always has a trace"

    /// `hypernet(r2)` for one sample: `r2 [R2]` → `wb [O]` (after the final ReLU), with the MLP trace.
    let internal hypernetTrace (p: Params) (r2: float[]) =
        let t = mlpTrace p.Hypernet r2
        Array.map Numerics.relu t.Out, t

    /// Gradient with respect to `r2 [R2]` of `Σ_o g_o·hypernet(r2)_o`, given the trace and `g [O]`.
    let internal hypernetVjp (p: Params) (trace: MlpTrace) (g: float[]) =
        let gPre = Array.map2 (fun go o -> go * Numerics.reluDerivative o) g trace.Out
        mlpVjp p.Hypernet trace gPre

    /// The number of dynamics matrices `M`.
    let internal mixDim (p: Params) =
        match p.Temporal with
        | FullRank t -> Array2D.length1 t
        | LowRank u -> Array3D.length1 u

    /// The dynamics matrix `V_k [R; R]`: row `k` of `temporal` reshaped, or `U_k·U_kᵀ` (low rank).
    let internal dynamicsMatrix (p: Params) (k: int) =
        match p.Temporal with
        | FullRank t ->
            let r = int (sqrt (float (Array2D.length2 t)))
            Array2D.init r r (fun i j -> t[k, i * r + j])
        | LowRank u ->
            let r = Array3D.length2 u
            Array2D.init r r (fun i j -> u[k, i, 0] * u[k, j, 0] + u[k, i, 1] * u[k, j, 1])

    /// The pieces of one sample's temporal prediction, kept for its derivatives.
    type internal TemporalTrace =
        {
            /// `r̂ = Σ_k w_k·P_k (+ b ⊙ c)`: `[R]`.
            RHat: float[]
            /// `w [M]`.
            W: float[]
            /// `b [R]` (empty without `dyn_bias`).
            B: float[]
            /// The hypernetwork's trace.
            Hyper: MlpTrace
            /// `P_k = V_k·r_p` (`M` of `[R]`), so that `∂r̂/∂w_k = P_k`.
            P: float[][]
        }

    /// `temporal_prediction(r_p, r2)` for one sample, given the dynamics matrices `vs` (`M` of
    /// `[R; R]`): `r̂ = Σ_k w_k·(V_k·r_p) (+ b ⊙ c)`, which is `V_t·r_p (+ b ⊙ c)` with `V_t = Σ_k w_k·V_k`.
    /// The one temporal prediction of the reference path (inference, evaluation and training).
    let internal temporalSample (p: Params) (vs: float[,][]) (rP: float[]) (r2: float[]) =
        let m = vs.Length
        let wb, hyper = hypernetTrace p r2
        let pk = vs |> Array.map (fun v -> Numerics.matVec v rP)

        let rHat =
            Array.init rP.Length (fun i ->
                let mutable s = 0.0

                for k in 0 .. m - 1 do
                    s <- s + wb[k] * pk[k][i]

                match p.TemporalBias with
                | Some c -> s + wb[m + i] * c[i]
                | None -> s)

        {
            RHat = rHat
            W = wb[0 .. m - 1]
            B = wb[m..]
            Hyper = hyper
            P = pk
        }

    /// `V_t = Σ_k w_k·V_k [R; R]` for one sample's mixture weights `w [M]`.
    let internal mixedDynamics (vs: float[,][]) (w: float[]) =
        let r = Array2D.length1 vs[0]
        Array2D.init r r (fun i j -> Seq.sum (seq { for k in 0 .. w.Length - 1 -> w[k] * vs[k][i, j] }))

    /// Gradient with respect to `r2 [R2]` of `Σ_i g_i·r̂_i + Σ_k gW_k·w_k`, given `g [R]` on `r̂`
    /// and `gW [M]` on the mixture weights (one sample; `r_p` is held constant).
    let internal temporalVjpR2 (p: Params) (trace: TemporalTrace) (g: float[]) (gW: float[]) =
        let gw =
            trace.P
            |> Array.mapi (fun k pk -> Array.fold2 (fun s gi vi -> s + gi * vi) 0.0 g pk + gW[k])

        let gb =
            match p.TemporalBias with
            | Some c -> Array.map2 (*) g c
            | None -> [||]

        hypernetVjp p trace.Hyper (Array.append gw gb)

    /// `R2dec([r, r2])` for one sample: `r [R]`, `r2 [R2]` → `[R2]`.
    let internal r2DecodeSample (m: MlpParams) (r: float[]) (r2: float[]) = (mlpTrace m (Array.append r r2)).Out

    /// `decode(r)`: the spatial decoder applied to `r [batch; R]`; returns `x̄ [batch; D]`.
    let decode (cfg: Config) (p: Params) (r: float[,]) : float[,] =
        checkParams cfg p
        Shape.checkBatch (nameof r) cfg.RDim r |> ignore

        Numerics.rows r
        |> Array.map (decodeSample cfg p)
        |> Numerics.ofRows cfg.InputDim

    /// `hypernet(r2)`: `r2 [batch; R2]` → `wb [batch; O]`, `O = M` (+ R with `dyn_bias`), all ≥ 0.
    let hypernet (cfg: Config) (p: Params) (r2: float[,]) : float[,] =
        checkParams cfg p
        Shape.checkBatch (nameof r2) cfg.R2Dim r2 |> ignore

        Numerics.rows r2
        |> Array.map (hypernetTrace p >> fst)
        |> Numerics.ofRows (Config.hyperOutDim cfg)

    /// The `M` dynamics matrices `V_k`, each `[R; R]`.
    let dynamicsMatrices (p: Params) =
        Array.init (mixDim p) (dynamicsMatrix p)

    /// `temporal_prediction(r_p, r2)` for `r_p [batch; R]` and `r2 [batch; R2]`.
    let temporalPrediction (cfg: Config) (p: Params) (rP: float[,]) (r2: float[,]) : TemporalPrediction =
        checkParams cfg p
        let b = Shape.checkBatch (nameof rP) cfg.RDim rP
        let b2 = Shape.checkBatch (nameof r2) cfg.R2Dim r2

        if b <> b2 then
            invalidArg (nameof r2) $"r2: batch {b2} differs from r_p's batch {b}."

        let vs = dynamicsMatrices p

        let traces =
            Array.init b (fun s -> temporalSample p vs (Numerics.row rP s) (Numerics.row r2 s))

        let r = cfg.RDim

        {
            RHat = traces |> Array.map _.RHat |> Numerics.ofRows r
            Vt =
                let vts = traces |> Array.map (fun t -> mixedDynamics vs t.W)
                Array3D.init b r r (fun s i j -> vts[s][i, j])
            W = traces |> Array.map _.W |> Numerics.ofRows cfg.MixDim
            B =
                if cfg.DynBias then
                    Some(traces |> Array.map _.B |> Numerics.ofRows r)
                else
                    None
        }

    /// `R2dec([r, r2])` for `r [batch; R]`, `r2 [batch; R2]`; returns `[batch; R2]`. Requires `use_r2_decoder`.
    let r2Decode (cfg: Config) (p: Params) (r: float[,]) (r2: float[,]) : float[,] =
        checkParams cfg p

        match p.R2Decoder with
        | None -> invalidArg (nameof p) "p: the configuration has no r2 decoder (use_r2_decoder = false)."
        | Some m ->
            let b = Shape.checkBatch (nameof r) cfg.RDim r

            if Shape.checkBatch (nameof r2) cfg.R2Dim r2 <> b then
                invalidArg (nameof r2) "r2: batch differs from r's batch."

            Array.init b (fun s -> r2DecodeSample m (Numerics.row r s) (Numerics.row r2 s))
            |> Numerics.ofRows cfg.R2Dim
