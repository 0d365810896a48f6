namespace TiDHy.Torch

open TorchSharp
open TiDHy.Functional
open TiDHy.Torch.TensorOps

type private F = torch.nn.functional

/// MODEL.md's forward pieces on tensors, batched over the leading dimension(s).
module internal TorchModel =

    type Tensor = torch.Tensor

    let private linear (p: TParams) (prefix: string) (x: Tensor) =
        match p.TryGet(ParamNames.bias prefix) with
        | Some b -> F.linear (x, p.Get(ParamNames.weight prefix), b)
        | None -> F.linear (x, p.Get(ParamNames.weight prefix))

    /// `Linear, LayerNorm, ELU, Linear, Linear` (state_dict layers `.0`, `.1`, `.3`, `.4`).
    let mlp (p: TParams) (prefix: string) (x: Tensor) =
        let h = linear p (ParamNames.layer prefix ParamNames.InputLayer) x
        let gamma = p.Get(ParamNames.layerWeight prefix ParamNames.NormLayer)

        let n =
            F.layer_norm (
                h,
                [| gamma.shape[0] |],
                gamma,
                p.Get(ParamNames.layerBias prefix ParamNames.NormLayer),
                TiDHy.Kernels.ModelConstants.LayerNormEps
            )

        let a = elu n

        a
        |> linear p (ParamNames.layer prefix ParamNames.HiddenLayer)
        |> linear p (ParamNames.layer prefix ParamNames.OutputLayer)

    /// `decode(r)`: `r [n; R]` → `[n; D]` (through a sigmoid with BCE).
    let decode (cfg: Config) (p: TParams) (r: Tensor) =
        let y =
            if cfg.NonlinDecoder then
                mlp p ParamNames.SpatialDecoder r
            else
                linear p (ParamNames.layer ParamNames.SpatialDecoder ParamNames.InputLayer) r

        if cfg.Loss = LossKind.BCE then torch.sigmoid y else y

    /// The `M` dynamics matrices `[M; R; R]`.
    let dynamics (cfg: Config) (p: TParams) =
        let t = p.Get ParamNames.Temporal

        if cfg.LowRankTemp then
            torch.einsum ("kia,kja->kij", t, t)
        else
            t.reshape (int64 cfg.MixDim, int64 cfg.RDim, int64 cfg.RDim)

    /// `hypernet(r2)`: `[n; R2]` → `[n; O]`, after the ReLU.
    let hypernet (p: TParams) (r2: Tensor) = F.relu (mlp p ParamNames.Hypernet r2)

    /// `P_k = V_k·r_p` for every sample: `V [M; R; R]`, `rP [n; R]` → `[n; M; R]`.
    let project (v: Tensor) (rP: Tensor) = torch.einsum ("kij,bj->bki", v, rP)

    /// `temporal_prediction` from the projections `proj = project V r_p`: `r̂ = Σ_k w_k·P_k (+ b ⊙ c)`;
    /// returns `r̂ [n; R]`, `w [n; M]` and `b [n; R]` (with `dyn_bias`).
    let temporal (cfg: Config) (p: TParams) (proj: Tensor) (r2: Tensor) =
        let wb = hypernet p r2
        let m = int64 cfg.MixDim
        let w = wb.narrow (1, 0L, m)
        let rHat = torch.einsum ("bk,bki->bi", w, proj)

        if cfg.DynBias then
            let b = wb.narrow (1, m, int64 cfg.RDim)
            rHat +. b * p.Get ParamNames.TemporalBias, w, Some b
        else
            rHat, w, None

    /// `V_t = Σ_k w_k·V_k`: `w [n; M]`, `V [M; R; R]` → `[n; R; R]`.
    let mixed (w: Tensor) (v: Tensor) = torch.einsum ("bk,kij->bij", w, v)

    /// `R2dec([r, r2])`: `[n; R]`, `[n; R2]` → `[n; R2]`.
    let r2Decode (p: TParams) (r: Tensor) (r2: Tensor) =
        mlp p ParamNames.R2Decoder (torch.cat ([| r; r2 |], 1L))

    /// The elementwise loss `ℓ(pred, obs)`.
    let element (cfg: Config) (pred: Tensor) (obs: Tensor) =
        match cfg.Loss with
        | LossKind.MSE -> sq (pred - obs)
        | LossKind.BCE -> F.binary_cross_entropy (pred, obs, reduction = torch.nn.Reduction.None)
        | LossKind.Poisson -> pred - obs * pred.log ()
