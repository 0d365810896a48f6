/// Inputs for gradient checks and properties: observations each loss accepts, parameters whose
/// predictions suit the loss, and tests of whether a function is smooth (away from the kinks of
/// ReLU, ELU, |·| and the loss clamps) at a point, so that central differences are meaningful.
module TiDHy.Functional.Tests.TestInputs

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil

// ---------------------------------------------------------------------------------------------
// Inputs

/// `[rows; cols]` uniform on [lo, hi) from `seed`.
let uniformMatrix (seed: int) (lo: float) (hi: float) (rows: int) (cols: int) =
    let u = Random.uniform (Random.key seed) lo hi (rows * cols)
    Array2D.init rows cols (fun i j -> u[i * cols + j])

/// N(0, sd²) draws pushed at least `margin` away from 0 (`sign z·(margin + |z|)`), so that the L1
/// terms' `|·|` is differentiable there.
let awayFromZero (seed: int) (sd: float) (margin: float) (rows: int) (cols: int) =
    randomMatrix seed sd rows cols
    |> Array2D.map (fun v -> (if v < 0.0 then -1.0 else 1.0) * (margin + abs v))

/// Observations the loss accepts: N(0, 1) for MSE, uniform on [0, 1) for BCE, on [0, 4) for Poisson.
let observations (loss: LossKind) (seed: int) (rows: int) (cols: int) =
    match loss with
    | LossKind.MSE -> randomMatrix seed 1.0 rows cols
    | LossKind.BCE -> uniformMatrix seed 0.0 1.0 rows cols
    | LossKind.Poisson -> uniformMatrix seed 0.0 4.0 rows cols

/// `p` with the spatial decoder's last bias raised far above its weights' reach, so that every
/// prediction is positive (the Poisson loss needs `pred > 0`).
let withPositiveDecoder (p: Params) =
    match p.SpatialDecoder with
    | LinearDecoder l ->
        { p with
            SpatialDecoder =
                LinearDecoder
                    { l with
                        Bias = Some(Array.create (Array2D.length1 l.Weight) 6.0)
                    }
        }
    | NonlinearDecoder m ->
        { p with
            SpatialDecoder =
                NonlinearDecoder
                    { m with
                        Output =
                            { m.Output with
                                Bias = Some(Array.create (Array2D.length1 m.Output.Weight) 12.0)
                            }
                    }
        }

/// Parameters for `cfg` from `seed`, with positive predictions when the loss is Poisson.
let paramsFor (cfg: Config) (seed: int) =
    let p = Init.init cfg (Random.key seed)

    if cfg.Loss = LossKind.Poisson then
        withPositiveDecoder p
    else
        p

let rowsOf (idx: int[]) (a: float[,]) =
    Array2D.init idx.Length (Array2D.length2 a) (fun i j -> a[idx[i], j])

// ---------------------------------------------------------------------------------------------
// Where the objective is smooth

/// The distance a kink must keep from the evaluation point: far beyond the central-difference
/// steps (1e-6) times any Lipschitz constant of these small networks.
let kinkMargin = 1e-3

/// True when an MLP applied to `v` is away from the kinks of its ELU (the LayerNorm output at 0)
/// and, with `relu`, of the ReLU after it (the output at 0).
let mlpSmoothAt (m: MlpParams) (relu: bool) (v: float[]) =
    // The MLP from its public parameters (this file is shared with the torch tests, which see no internals).
    let affine (l: LinearParams) (x: float[]) =
        Array.init (Array2D.length1 l.Weight) (fun o ->
            let s = Seq.init x.Length (fun i -> l.Weight[o, i] * x[i]) |> Seq.sum
            s + (l.Bias |> Option.map (fun b -> b[o]) |> Option.defaultValue 0.0))

    let pre = affine m.Input v
    let mean = Array.average pre
    let sd = sqrt (Array.averageBy (fun z -> (z - mean) * (z - mean)) pre + 1e-5)

    let normed =
        Array.init pre.Length (fun i -> (pre[i] - mean) / sd * m.Norm.Gamma[i] + m.Norm.Beta[i])

    let elu z = if z > 0.0 then z else exp z - 1.0
    let out = normed |> Array.map elu |> affine m.Hidden |> affine m.Output

    Array.forall (fun z -> abs z > kinkMargin) normed
    && (not relu || Array.forall (fun z -> abs z > kinkMargin) out)

/// True when the spatial decoder at every row of `r [batch; R]` is away from its kinks and its
/// predictions are inside the loss's domain, well away from BCE's clamps.
let decoderSmoothAt (cfg: Config) (p: Params) (r: float[,]) =
    let preds = Model.decode cfg p r |> GradientCheck.flatten

    let inDomain =
        match cfg.Loss with
        | LossKind.MSE -> true
        | LossKind.BCE -> preds |> Array.forall (fun v -> v > 1e-4 && v < 1.0 - 1e-4)
        | LossKind.Poisson -> preds |> Array.forall (fun v -> v > 1e-2)

    let smooth =
        match p.SpatialDecoder with
        | LinearDecoder _ -> true
        | NonlinearDecoder m ->
            Array.init (Array2D.length1 r) (fun i -> r[i, *])
            |> Array.forall (mlpSmoothAt m false)

    inDomain && smooth

/// True when the inference objective is smooth around `(r, r2)`: the decoder as above, the
/// hypernetwork away from its ELU and ReLU kinks, and at least one mixture weight `w` positive so
/// that the temporal term (and `L1_inf_w`) reach `r2`. `r` and `r2` come from `awayFromZero`.
let objectiveSmoothAt (cfg: Config) (p: Params) (r: float[,]) (r2: float[,]) =
    let w = (Model.temporalPrediction cfg p r r2).W

    decoderSmoothAt cfg p r
    && Array.init (Array2D.length1 r2) (fun i -> r2[i, *])
       |> Array.forall (mlpSmoothAt p.Hypernet true)
    && Seq.cast<float> w |> Seq.exists (fun v -> v > 0.0)

/// The first candidate seed (of 50) for which `make` gives inputs that `ok` accepts.
let firstSmooth (what: string) (make: int -> 'T) (ok: 'T -> bool) =
    Seq.init 50 (fun k -> 101 + 7919 * k)
    |> Seq.map make
    |> Seq.tryFind ok
    |> Option.defaultWith (fun () -> failwith $"{what}: no smooth inputs among 50 seeds")

/// `n` windows `[n; T; D]` of a 2-D latent rotating at one of two speeds (switching every 20
/// steps), projected to `D` features with a fixed random matrix, with a little noise.
let syntheticWindows (seed: int) (n: int) (time: int) (d: int) =
    let proj = randomMatrix 1234 0.7 d 2
    let noise = Random.normal (Random.key seed) (n * time * d)
    let total = n * time
    let latent = Array.zeroCreate<float * float> total
    let mutable x, y = 1.0, 0.0

    for t in 0 .. total - 1 do
        let angle = if (t / 20) % 2 = 0 then 0.15 else -0.35
        let c, s = cos angle, sin angle
        let x', y' = c * x - s * y, s * x + c * y
        x <- x'
        y <- y'
        latent[t] <- x, y

    Array3D.init n time d (fun w t k ->
        let lx, ly = latent[w * time + t]
        proj[k, 0] * lx + proj[k, 1] * ly + 0.05 * noise[(w * time + t) * d + k])

/// A random trajectory of `steps` inference steps for a batch of `b` (the latents are data, so
/// they need not come from inference), starting with the upstream `X_0` term when `initial`.
let randomTrajectory (cfg: Config) (seed: int) (b: int) (steps: int) (initial: bool) =
    let r k =
        awayFromZero (seed + k) 0.6 0.1 b cfg.RDim

    let r2 k =
        awayFromZero (seed + 100 + k) 0.6 0.1 b cfg.R2Dim

    {
        Initial =
            if initial then
                Some(observations cfg.Loss (seed + 300) b cfg.InputDim)
            else
                None
        Steps =
            Array.init steps (fun t ->
                {
                    X = observations cfg.Loss (seed + 200 + t) b cfg.InputDim
                    RPrev = r t
                    R2Prev = r2 t
                    R = r (t + 1)
                    R2 = r2 (t + 1)
                })
    }
