namespace TiDHy.Functional

open MathNet.Numerics.LinearAlgebra

/// Upstream's initialisers (PyTorch's `xavier_normal_`, `orthogonal_`, and the `Linear` /
/// `LayerNorm` defaults), drawn from explicit keys. The same key gives the same parameters; the
/// draws are not PyTorch's (its generator is not reproduced), only their distributions are.
[<RequireQualifiedAccess>]
module Init =

    /// Xavier-normal matrix `[fanOut; fanIn]`, entries N(0, 2/(fanIn + fanOut)).
    let xavierNormal (key: Key) (fanOut: int) (fanIn: int) =
        let std = sqrt (2.0 / float (fanIn + fanOut))
        let z = Random.normal key (fanOut * fanIn)
        Array2D.init fanOut fanIn (fun o i -> std * z[o * fanIn + i])

    /// Matrix `[rows; cols]` uniform on [−bound, bound).
    let uniformMatrix (key: Key) (bound: float) (rows: int) (cols: int) =
        let u = Random.uniform key (-bound) bound (rows * cols)
        Array2D.init rows cols (fun o i -> u[o * cols + i])

    /// PyTorch's default `Linear(i→o)`: weight `[o; i]` and bias `[o]` uniform on ±1/sqrt(i).
    let linearDefault (key: Key) (inDim: int) (outDim: int) (withBias: bool) : LinearParams =
        let kw, kb = Random.split key
        let bound = 1.0 / sqrt (float inDim)

        {
            Weight = uniformMatrix kw bound outDim inDim
            Bias =
                if withBias then
                    Some(Random.uniform kb (-bound) bound outDim)
                else
                    None
        }

    /// A `[rows; cols]` matrix with orthonormal rows (rows ≤ cols) or columns (rows > cols):
    /// the Q factor of a Gaussian matrix with the signs of R's diagonal, as PyTorch's `orthogonal_`.
    let orthogonal (key: Key) (rows: int) (cols: int) =
        let z = Random.normal key (rows * cols)
        let tall = rows >= cols
        let m, n = if tall then rows, cols else cols, rows
        // The tall matrix whose thin QR we take: the draw itself, or its transpose.
        let a =
            Matrix<float>.Build.Dense(m, n, fun i j -> if tall then z[i * cols + j] else z[j * cols + i])

        let qr = a.QR(Factorization.QRMethod.Thin)
        let q = qr.Q
        let r = qr.R

        let signed =
            Matrix<float>.Build.Dense(m, n, fun i j -> q[i, j] * (if r[j, j] < 0.0 then -1.0 else 1.0))

        Array2D.init rows cols (fun i j -> if tall then signed[i, j] else signed[j, i])

    /// LayerNorm defaults: γ = 1, β = 0, both `[n]`.
    let layerNormDefault (n: int) : LayerNormParams =
        {
            Gamma = Array.create n 1.0
            Beta = Array.zeroCreate n
        }

    /// The TiDHy MLP `i → h → h → o` with upstream's initialisation: every weight matrix Xavier
    /// normal when `xavierAll`, else only the first one (the nonlinear decoder); biases PyTorch default.
    let mlp (key: Key) (inDim: int) (hidden: int) (outDim: int) (outBias: bool) (xavierAll: bool) : MlpParams =
        let ks = Random.splitN 6 key

        let layer (k: int) i o bias xavier =
            let d = linearDefault ks[k] i o bias

            if xavier then
                { d with
                    Weight = xavierNormal ks[k + 1] o i
                }
            else
                d

        {
            Input = layer 0 inDim hidden true true
            Norm = layerNormDefault hidden
            Hidden = layer 2 hidden hidden true xavierAll
            Output = layer 4 hidden outDim outBias xavierAll
        }

    let private normalizeColumns (w: float[,]) =
        let norms =
            Array.init (Array2D.length2 w) (fun j -> Numerics.norm (Array.init (Array2D.length1 w) (fun i -> w[i, j])))

        w |> Array2D.mapi (fun _ j v -> v / max norms[j] 1e-12)

    let private unitRows (a: float[,]) =
        Array2D.init (Array2D.length1 a) (Array2D.length2 a) (fun i j ->
            a[i, j] / max (Numerics.norm (Numerics.row a i)) 1e-12)

    /// Upstream's `normalize()`: with `normalize_spatial`, unit-norm columns of
    /// `spatial_decoder.0.weight`; with `normalize_temporal`, unit-norm rows of `temporal` (the last
    /// axis: rows of `[M; R·R]`, or each `[2]` row of a low-rank factor). Norms below 1e-12 divide
    /// by 1e-12, as PyTorch's `F.normalize` does. Other parameters are returned unchanged.
    let normalize (cfg: Config) (p: Params) : Params =
        let decoder =
            match p.SpatialDecoder with
            | LinearDecoder l when cfg.NormalizeSpatial ->
                LinearDecoder
                    { l with
                        Weight = normalizeColumns l.Weight
                    }
            | NonlinearDecoder n when cfg.NormalizeSpatial ->
                NonlinearDecoder
                    { n with
                        Input =
                            { n.Input with
                                Weight = normalizeColumns n.Input.Weight
                            }
                    }
            | d -> d

        let temporal =
            match p.Temporal with
            | LowRank u when cfg.NormalizeTemporal ->
                LowRank(
                    u
                    |> Array3D.mapi (fun k i _ v -> v / max (sqrt (u[k, i, 0] ** 2.0 + u[k, i, 1] ** 2.0)) 1e-12)
                )
            | FullRank t when cfg.NormalizeTemporal -> FullRank(unitRows t)
            | t -> t

        { p with
            SpatialDecoder = decoder
            Temporal = temporal
        }

    /// Parameters for `cfg` drawn from `key` (MODEL.md "Initialisation"): decoder `.0.weight` and
    /// every hypernetwork / r2-decoder weight Xavier normal, temporal orthogonal, temporal bias
    /// Xavier normal, the rest PyTorch defaults; then upstream's optional unit-norm normalisations
    /// (`normalize`).
    let init (cfg: Config) (key: Key) : Params =
        let cfg = Config.validateOrThrow cfg
        let ks = Random.splitN 5 key
        let r, m = cfg.RDim, cfg.MixDim

        let decoder =
            if cfg.NonlinDecoder then
                NonlinearDecoder(mlp ks[0] r cfg.HyperHidDim cfg.InputDim true false)
            else
                let kl, kx = Random.split ks[0]

                LinearDecoder
                    { linearDefault kl r cfg.InputDim true with
                        Weight = xavierNormal kx cfg.InputDim r
                    }

        let temporal =
            if cfg.LowRankTemp then
                let flat = orthogonal ks[1] m (2 * r)
                LowRank(Array3D.init m r 2 (fun k i c -> flat[k, 2 * i + c]))
            else
                FullRank(orthogonal ks[1] m (r * r))

        normalize
            cfg
            {
                SpatialDecoder = decoder
                Temporal = temporal
                TemporalBias =
                    if cfg.DynBias then
                        Some((xavierNormal ks[2] 1 r)[0, *])
                    else
                        None
                Hypernet = mlp ks[3] cfg.R2Dim cfg.HyperHidDim (Config.hyperOutDim cfg) (not cfg.DynBias) true
                R2Decoder =
                    if cfg.UseR2Decoder then
                        Some(mlp ks[4] (r + cfg.R2Dim) cfg.R2DecoderHidDim cfg.R2Dim true true)
                    else
                        None
            }

    /// `init cfg (Random.key seed)`.
    let ofSeed (cfg: Config) (seed: int) = init cfg (Random.key seed)
