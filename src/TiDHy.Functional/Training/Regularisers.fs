namespace TiDHy.Functional

open MathNet.Numerics.LinearAlgebra

/// A scalar term of the training loss and its gradient with respect to every parameter.
type Term =
    {
        /// The term's value.
        Value: float
        /// `∂Value/∂θ`, shaped like the parameters (zero where the term does not depend on them).
        Grad: Params
    }


/// The regularisers every training step adds (`Regularisers.core`).
type CoreRegularisers =
    {
        /// `cos_eta·cos_reg + Orth_alpha_r2·orth_r2` with its gradient.
        Term: Term
        /// `cos_reg`, unweighted.
        CosReg: float
        /// `orth_r2`, unweighted.
        OrthR2: float
    }

/// The parameter regularisers of MODEL.md ("Regularisers"), each with its gradient. Every function
/// takes the parameters `p` and returns a `Term` whose gradient is zero outside the tensor it reads.
[<RequireQualifiedAccess>]
module Regularisers =

    /// The floor of `‖a‖·‖b‖` in the cosine similarity (PyTorch's `eps`).
    [<Literal>]
    let CosineEps = 1e-8

    /// `cos(a, b) = a·b / max(‖a‖·‖b‖, 1e-8)` of two vectors `[n]`.
    let cosine (a: float[]) (b: float[]) =
        Array.fold2 (fun s x y -> s + x * y) 0.0 a b
        / max (Numerics.norm a * Numerics.norm b) CosineEps

    /// `Csum(rows) = Σ_{i>j} |cos(row_i, row_j)|` of `n` rows `[len]`, and its gradient with respect
    /// to each row (`n` of `[len]`); `d|c|/dc = sign(c)` with `sign(0) = 0`.
    let internal cosineSum (rows: float[][]) : float * float[][] =
        let grads = rows |> Array.map (fun r -> Array.zeroCreate<float> r.Length)
        let norms = rows |> Array.map Numerics.norm
        let mutable total = 0.0

        for i in 0 .. rows.Length - 1 do
            for j in 0 .. i - 1 do
                let a, b = rows[i], rows[j]
                let dot = Array.fold2 (fun s x y -> s + x * y) 0.0 a b
                let prod = norms[i] * norms[j]
                let denom = max prod CosineEps
                let c = dot / denom
                total <- total + abs c
                let s = Numerics.sign c

                for k in 0 .. a.Length - 1 do
                    if prod > CosineEps then
                        grads[i][k] <- grads[i][k] + s * (b[k] / denom - c * a[k] / (norms[i] * norms[i]))
                        grads[j][k] <- grads[j][k] + s * (a[k] / denom - c * b[k] / (norms[j] * norms[j]))
                    else
                        grads[i][k] <- grads[i][k] + s * b[k] / denom
                        grads[j][k] <- grads[j][k] + s * a[k] / denom

        total, grads

    /// A gradient tree that is zero except for the leaf `name`, whose flattened data is `data`.
    let private only (p: Params) (name: string) (data: float[]) =
        ParamTree.mapN (fun n leaves -> if n = name then data else Array.zeroCreate leaves[0].Length) [| p |]

    let private flatten (rows: float[][]) = Array.concat rows

    let private temporalData (p: Params) =
        ParamTree.leaves p |> List.find (fun (n, _) -> n = ParamNames.Temporal) |> snd

    /// `cos_reg`: `(1/M)·Csum` of the `M` flattened dynamics matrices (full rank), or
    /// `(1/M)·Σ_k Csum(rows of U_k)` (low rank: the `R` rows of length 2 inside each factor).
    let cosReg (p: Params) : Term =
        let m = Model.mixDim p

        let value, grad =
            match p.Temporal with
            | FullRank t ->
                let v, g = cosineSum (Numerics.rows t)
                v, flatten g
            | LowRank u ->
                let r = Array3D.length2 u

                let parts =
                    Array.init m (fun k -> cosineSum (Array.init r (fun i -> [| u[k, i, 0]; u[k, i, 1] |])))

                Array.sumBy fst parts, parts |> Array.collect (snd >> flatten)

        {
            Value = value / float m
            Grad = only p ParamNames.Temporal (grad |> Array.map (fun g -> g / float m))
        }

    /// `orth_r2`: `(1/R2)·Csum` of the rows of `hypernet.0.weightᵀ` (one row of length `H` per
    /// `r2` input).
    let orthR2 (p: Params) : Term =
        let w = p.Hypernet.Input.Weight
        let h, r2 = Array2D.length1 w, Array2D.length2 w
        let v, g = cosineSum (Array.init r2 (fun j -> Array.init h (fun i -> w[i, j])))

        {
            Value = v / float r2
            Grad =
                only
                    p
                    ParamNames.HypernetInputWeight
                    (Array.init (h * r2) (fun idx -> g[idx % r2][idx / r2] / float r2))
        }

    let private l1Of (p: Params) (name: string) (data: float[]) =
        {
            Value = Array.sumBy abs data
            Grad = only p name (Array.map Numerics.sign data)
        }

    /// `Σ_k ‖temporal_k‖₁`: the L1 norm of every temporal parameter (weighted by `L1_alpha`).
    let l1Temporal (p: Params) =
        l1Of p ParamNames.Temporal (temporalData p)

    /// `‖hypernet.4.weight‖₁` (weighted by `L1_alpha_W`).
    let l1HypernetOutput (p: Params) =
        l1Of p ParamNames.HypernetOutputWeight (Seq.cast<float> p.Hypernet.Output.Weight |> Seq.toArray)

    let private spatialWeight (p: Params) =
        match p.SpatialDecoder with
        | LinearDecoder l -> l.Weight
        | NonlinearDecoder m -> m.Input.Weight

    /// `Σ‖rows of spatial_decoder.0.weight‖₁` (weighted by `L1_alpha_spat`).
    let l1Spatial (p: Params) =
        l1Of p ParamNames.SpatialDecoderWeight (Seq.cast<float>(spatialWeight p) |> Seq.toArray)

    /// `mean((WᵀW − I)²)` with `W = spatial_decoder.0.weight [o; R]` (weighted by
    /// `Orth_alpha_spat`); its gradient is `(4/R²)·W·(WᵀW − I)`.
    let orthSpatial (p: Params) : Term =
        let w = spatialWeight p
        let o, r = Array2D.length1 w, Array2D.length2 w

        let e =
            Array2D.init r r (fun i j ->
                let mutable s = if i = j then -1.0 else 0.0

                for k in 0 .. o - 1 do
                    s <- s + w[k, i] * w[k, j]

                s)

        let n = float (r * r)

        let grad =
            Array.init (o * r) (fun idx ->
                let k, i = idx / r, idx % r
                let mutable s = 0.0

                for j in 0 .. r - 1 do
                    s <- s + w[k, j] * e[j, i]

                4.0 * s / n)

        {
            Value = (Seq.cast<float> e |> Seq.sumBy (fun x -> x * x)) / n
            Grad = only p ParamNames.SpatialDecoderWeight grad
        }

    /// `Σ_k ‖V_k‖_nuclear` (weighted by `Lnuc_alpha`). Full rank: the gradient is `U·Vᵀ` of each
    /// `V_k`'s SVD. Low rank: `V_k = U_k·U_kᵀ` is positive semidefinite, so its nuclear norm is
    /// `‖U_k‖²_F` with gradient `2·U_k`.
    let nuclear (p: Params) : Term =
        match p.Temporal with
        | LowRank _ ->
            let d = temporalData p

            {
                Value = Array.sumBy (fun x -> x * x) d
                Grad = only p ParamNames.Temporal (Array.map (fun x -> 2.0 * x) d)
            }
        | FullRank t ->
            let m = Array2D.length1 t
            let r = int (sqrt (float (Array2D.length2 t)))

            let parts =
                Array.init m (fun k ->
                    let svd = Matrix<float>.Build.DenseOfArray(Model.dynamicsMatrix p k).Svd(true)
                    let g = svd.U * svd.VT
                    svd.S.Sum(), Array.init (r * r) (fun idx -> g[idx / r, idx % r]))

            {
                Value = Array.sumBy fst parts
                Grad = only p ParamNames.Temporal (parts |> Array.collect snd)
            }

    /// The floor of SAFE's mixture weights and of their sum (upstream JAX's `epsilon`).
    [<Literal>]
    let SafeEps = 1e-8

    /// SAFE's weight of the `i`-th largest mixture probability (from 0) of `m`:
    /// `σ(2(i − ratio·m))`.
    let safeRankWeight (ratio: float) (m: int) (i: int) =
        Numerics.sigmoid (2.0 * (float i - ratio * float m))

    /// Upstream JAX's SAFE hypernetwork sparsity of one mixture-weight vector `w [M]`
    /// (`sparsity_w_safe`, `w_min_active_ratio` = `ratio`): with `q = max(w, 1e-8)` and
    /// `p = q / max(Σq, 1e-8)` sorted descending to `p_(0) ≥ p_(1) ≥ …`, the value
    /// `Σ_i σ(2(i − ratio·M))·p_(i)`, and its gradient with respect to `w [M]`. The gradient goes
    /// through the sorting permutation: entry `k` gets the weight of its rank; tied entries take
    /// ranks in index order (a stable sort), so equal values get consecutive ranks, lower index
    /// first. `∂q/∂w = 1` where `w > 1e-8`, else 0. With one component (`M = 1`) `p = [1]` for every
    /// `w`, so SAFE is the constant `σ(−2·ratio)` with gradient exactly 0 (computing `q/Σq` would
    /// leave a rounding residue of the size of an ulp of `σ/q` in place of that 0).
    let safeRow (ratio: float) (w: float[]) : float * float[] =
        let m = w.Length

        if m = 1 then
            safeRankWeight ratio 1 0, [| 0.0 |]
        else
            let q = w |> Array.map (fun v -> max v SafeEps)
            let total = Array.sum q
            let denom = max total SafeEps

            let order =
                Array.init m id
                |> Array.sortWith (fun a b ->
                    match compare q[b] q[a] with
                    | 0 -> compare a b
                    | c -> c)

            let rankWeight = Array.zeroCreate<float> m

            order
            |> Array.iteri (fun rank k -> rankWeight[k] <- safeRankWeight ratio m rank)

            let value = Array.fold2 (fun acc c qk -> acc + c * qk / denom) 0.0 rankWeight q

            let grad =
                Array.init m (fun k ->
                    if w[k] <= SafeEps then
                        0.0
                    elif total > SafeEps then
                        // ∂/∂q_k of Σ_j c_j q_j / S with S = Σq: (c_k − value) / S.
                        (rankWeight[k] - value) / total
                    else
                        rankWeight[k] / SafeEps)

            value, grad

    /// `cos_eta·cos_reg + Orth_alpha_r2·orth_r2` as one term, with both unweighted values.
    let core (cfg: Config) (p: Params) : CoreRegularisers =
        let c = cosReg p
        let o = orthR2 p

        {
            Term =
                {
                    Value = cfg.CosEta * c.Value + cfg.OrthAlphaR2 * o.Value
                    Grad = ParamTree.linearCombination [| cfg.CosEta; cfg.OrthAlphaR2 |] [| c.Grad; o.Grad |]
                }
            CosReg = c.Value
            OrthR2 = o.Value
        }

    /// The optional regularisers with a nonzero weight, weighted and summed into one term (value 0
    /// and a zero gradient when every weight is 0).
    let optional (cfg: Config) (p: Params) : Term =
        let parts =
            [
                cfg.L1Alpha, l1Temporal
                cfg.L1AlphaW, l1HypernetOutput
                cfg.L1AlphaSpat, l1Spatial
                cfg.OrthAlphaSpat, orthSpatial
                cfg.LnucAlpha, nuclear
            ]
            |> List.filter (fun (w, _) -> w <> 0.0)
            |> List.map (fun (w, f) -> w, f p)

        match parts with
        | [] ->
            {
                Value = 0.0
                Grad = ParamTree.zerosLike p
            }
        | _ ->
            {
                Value = parts |> List.sumBy (fun (w, t) -> w * t.Value)
                Grad =
                    ParamTree.linearCombination
                        (parts |> List.map fst |> List.toArray)
                        (parts |> List.map (snd >> _.Grad) |> List.toArray)
            }
