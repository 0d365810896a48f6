namespace TiDHy.Functional

open System
open System.Runtime.CompilerServices
open TiDHy.Kernels

/// The adapter between the F# model and the generated fused kernels of TiDHy.Kernels (C#): packs
/// `Params` once into the kernels' flat float64 model (cached per `Params` value, which is immutable),
/// translates a `Config` into a registry query and run-time settings, and runs `inf` /
/// `inf_first_step` in float64 or float32. Inputs are assumed checked (`Inference` checks them).
[<RequireQualifiedAccess>]
module Fused =

    let private flat2 (a: float[,]) : float[] =
        let out = Array.zeroCreate<float> a.Length
        Buffer.BlockCopy(a, 0, out, 0, a.Length * sizeof<float>)
        out

    let private flat3 (a: float[,,]) : float[] =
        let out = Array.zeroCreate<float> a.Length
        Buffer.BlockCopy(a, 0, out, 0, a.Length * sizeof<float>)
        out

    let private toMatrix (rows: int) (cols: int) (data: float[]) : float[,] =
        let out = Array2D.zeroCreate<float> rows cols
        Buffer.BlockCopy(data, 0, out, 0, data.Length * sizeof<float>)
        out

    let private bias (what: string) (b: float[] option) =
        match b with
        | Some b -> b
        | None -> invalidArg what $"{what}: a bias is required here."

    let private mlp (what: string) (m: MlpParams) =
        KernelMlp(
            flat2 m.Input.Weight,
            bias (what + ".0.bias") m.Input.Bias,
            m.Norm.Gamma,
            m.Norm.Beta,
            flat2 m.Hidden.Weight,
            bias (what + ".3.bias") m.Hidden.Bias,
            flat2 m.Output.Weight,
            Option.toObj m.Output.Bias
        )

    let private packed = ConditionalWeakTable<Params, KernelModel>()

    /// The kernels' float64 model of `p` (sizes from `cfg`), built once per `Params` value.
    let model (cfg: Config) (p: Params) : KernelModel =
        packed.GetValue(
            p,
            fun p ->
                let linW, linB, nonlin =
                    match p.SpatialDecoder with
                    | LinearDecoder l -> flat2 l.Weight, bias "spatial_decoder.0.bias" l.Bias, null
                    | NonlinearDecoder m -> null, null, mlp "spatial_decoder" m

                let temporal, lowRank =
                    match p.Temporal with
                    | FullRank t -> flat2 t, false
                    | LowRank u -> flat3 u, true

                KernelModel(
                    cfg.InputDim,
                    cfg.RDim,
                    cfg.R2Dim,
                    cfg.MixDim,
                    cfg.HyperHidDim,
                    cfg.R2DecoderHidDim,
                    linW,
                    linB,
                    nonlin,
                    temporal,
                    lowRank,
                    Option.toObj p.TemporalBias,
                    mlp "hypernet" p.Hypernet,
                    (match p.R2Decoder with
                     | Some m -> mlp "R2_Decoder" m
                     | None -> null)
                )
        )

    let private loss (cfg: Config) =
        match cfg.Loss with
        | LossKind.MSE -> KernelLoss.Mse
        | LossKind.BCE -> KernelLoss.Bce
        | LossKind.Poisson -> KernelLoss.Poisson

    let private decoder (cfg: Config) =
        if cfg.NonlinDecoder then
            KernelDecoder.Nonlinear
        else
            KernelDecoder.Linear

    let private scaling (cfg: Config) =
        match cfg.BatchScaling with
        | BatchScaling.BatchMean -> KernelScaling.BatchMean
        | BatchScaling.PerSample -> KernelScaling.PerSample

    let private convergence (cfg: Config) =
        match cfg.Convergence with
        | Convergence.Batch -> KernelConvergence.Batch
        | Convergence.AllSamples -> KernelConvergence.AllSamples
        | Convergence.PerSample -> KernelConvergence.PerSample

    /// The registry query of `cfg`: its options and sizes.
    let query (cfg: Config) =
        KernelQuery(
            loss cfg,
            decoder cfg,
            cfg.LowRankTemp,
            cfg.DynBias,
            cfg.UseR2Decoder,
            scaling cfg,
            convergence cfg,
            cfg.InputDim,
            cfg.RDim,
            cfg.R2Dim,
            cfg.MixDim,
            cfg.HyperHidDim,
            cfg.R2DecoderHidDim
        )

    /// The kernels' run-time settings of `cfg`.
    let settings (cfg: Config) =
        InferenceSettings(
            Loss = loss cfg,
            Decoder = decoder cfg,
            LowRank = cfg.LowRankTemp,
            DynBias = cfg.DynBias,
            R2Decoder = cfg.UseR2Decoder,
            Scaling = scaling cfg,
            Convergence = convergence cfg,
            MaxIter = cfg.MaxIter,
            Tol = cfg.Tol,
            LrR = cfg.LrR,
            LrR2 = cfg.LrR2,
            TempWeight = cfg.TempWeight,
            LmdaR = cfg.LmdaR,
            LmdaR2 = cfg.LmdaR2,
            L1InfW = cfg.L1InfW,
            L1InfR = cfg.L1InfR,
            L1InfR2 = cfg.L1InfR2
        )

    /// The most specific registered kernel for `cfg` (a variant declared by an application that
    /// matches wins over the library's general ones).
    let kernel (cfg: Config) : InferenceKernel =
        let q = query cfg

        match KernelRegistry.Find(&q) with
        | null -> invalidOp $"No registered fused kernel runs this configuration ({q})."
        | k -> k

    let private single (a: float[,]) : float32[] =
        let cols = Array2D.length2 a
        let out = Array.zeroCreate<float32> a.Length

        for i in 0 .. Array2D.length1 a - 1 do
            for j in 0 .. cols - 1 do
                out[i * cols + j] <- float32 a[i, j]

        out

    let private double (a: float32[]) = Array.map float a

    /// `inf(x, r_p, r2₀)` through the fused kernel for `cfg`, in float32 when `cfg.Backend` is
    /// `FusedFloat32`, else float64: `x [batch; D]`, `rP [batch; R]`, `r2 [batch; R2]`; returns
    /// `r [batch; R]`, `r2 [batch; R2]`, the temporal prediction `r̂ [batch; R]` from `rP` with the final
    /// `r2`, the iterations, whether it converged, and each sample's iterations.
    let infer (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) =
        let b = Array2D.length1 x
        let k = kernel cfg
        let s = settings cfg
        let m = model cfg p
        let iters = Array.zeroCreate<int> b

        let rOut, r2Out, rHatOut, stats =
            match cfg.Backend with
            | Backend.FusedFloat32 ->
                let r = Array.zeroCreate<float32>(b * cfg.RDim)
                let r2o = Array.zeroCreate<float32>(b * cfg.R2Dim)
                let rHat = Array.zeroCreate<float32>(b * cfg.RDim)

                let st =
                    k.Infer(
                        m.Single,
                        s,
                        b,
                        ReadOnlySpan(single x),
                        ReadOnlySpan(single rP),
                        ReadOnlySpan(single r2),
                        Span r,
                        Span r2o,
                        Span rHat,
                        Span iters
                    )

                double r, double r2o, double rHat, st
            | _ ->
                let r = Array.zeroCreate<float>(b * cfg.RDim)
                let r2o = Array.zeroCreate<float>(b * cfg.R2Dim)
                let rHat = Array.zeroCreate<float>(b * cfg.RDim)

                let st =
                    k.Infer(
                        m.Double,
                        s,
                        b,
                        ReadOnlySpan(flat2 x),
                        ReadOnlySpan(flat2 rP),
                        ReadOnlySpan(flat2 r2),
                        Span r,
                        Span r2o,
                        Span rHat,
                        Span iters
                    )

                r, r2o, rHat, st

        toMatrix b cfg.RDim rOut,
        toMatrix b cfg.R2Dim r2Out,
        toMatrix b cfg.RDim rHatOut,
        stats.Iterations,
        stats.Converged,
        iters

    /// `inf_first_step(x)` through the fused kernel for `cfg` (precision as in `infer`): `x [batch; D]`;
    /// returns `r [batch; R]`, the iterations, whether it converged, and each sample's iterations.
    let inferFirstStep (cfg: Config) (p: Params) (x: float[,]) =
        let b = Array2D.length1 x
        let k = kernel cfg
        let s = settings cfg
        let m = model cfg p
        let iters = Array.zeroCreate<int> b

        let rOut, stats =
            match cfg.Backend with
            | Backend.FusedFloat32 ->
                let r = Array.zeroCreate<float32>(b * cfg.RDim)

                let st =
                    k.InferFirstStep(m.Single, s, b, ReadOnlySpan(single x), Span r, Span iters)

                double r, st
            | _ ->
                let r = Array.zeroCreate<float>(b * cfg.RDim)
                let st = k.InferFirstStep(m.Double, s, b, ReadOnlySpan(flat2 x), Span r, Span iters)
                r, st

        toMatrix b cfg.RDim rOut, stats.Iterations, stats.Converged, iters
