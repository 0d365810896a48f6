namespace TiDHy.Functional

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Threading
open TiDHy.Kernels

/// The result of inference at one time step (`Inference.infer`, on either path; defined here, before
/// `Fused` and `Inference`, so that both return it).
type InferResult =
    {
        /// Inferred `r`: `[batch; R]`.
        R: float[,]
        /// Inferred `r2`: `[batch; R2]`.
        R2: float[,]
        /// The temporal prediction from the previous `r` with the inferred `r2`,
        /// `temporal_prediction(r_p, r2).r̂`: `[batch; R]` (what the training objective compares `r` with).
        RHat: float[,]
        /// Loop iterations run (upstream's count; at most `max_iter`).
        Iterations: int
        /// True when the loop stopped on the tolerance rather than at `max_iter`.
        Converged: bool
        /// Iterations that updated each sample: `[batch]`; all equal to `Iterations` unless
        /// convergence is `PerSample`.
        SampleIterations: int[]
    }

/// The result of the first step's inference (`Inference.inferFirstStep`, on either path).
type FirstStepResult =
    {
        /// Inferred `r`: `[batch; R]`.
        R: float[,]
        /// Loop iterations run (at most `max_iter`).
        Iterations: int
        /// True when the loop stopped on the tolerance rather than at `max_iter`.
        Converged: bool
        /// Iterations that updated each sample: `[batch]`.
        SampleIterations: int[]
    }

/// The adapter between the F# model and the generated fused kernels of TiDHy.Kernels (C#): packs
/// `Params` once into the kernels' flat float64 model (cached per `Params` value, which is immutable),
/// translates a `Config` into a registry query and run-time settings, and runs `inf` /
/// `inf_first_step` in float64 or float32. Inputs are assumed checked (`Inference` checks them).
[<RequireQualifiedAccess>]
module internal Fused =

    let private flat2 (a: float[,]) : float[] =
        let out = Array.zeroCreate<float> a.Length
        Buffer.BlockCopy(a, 0, out, 0, a.Length * sizeof<float>)
        out

    let private flat3 (a: float[,,]) : float[] =
        let out = Array.zeroCreate<float> a.Length
        Buffer.BlockCopy(a, 0, out, 0, a.Length * sizeof<float>)
        out

    let private bias (what: string) (b: float[] option) =
        match b with
        | Some b -> b
        | None -> invalidArg what $"{what}: a bias is required here."

    let private mlp (what: string) (m: MlpParams) =
        KernelMlp(
            flat2 m.Input.Weight,
            bias (ParamNames.layerBias what ParamNames.InputLayer) m.Input.Bias,
            m.Norm.Gamma,
            m.Norm.Beta,
            flat2 m.Hidden.Weight,
            bias (ParamNames.layerBias what ParamNames.HiddenLayer) m.Hidden.Bias,
            flat2 m.Output.Weight,
            Option.toObj m.Output.Bias
        )

    /// The kernels' options of `cfg`, all concrete: the registry's query and the run-time settings'.
    let options (cfg: Config) =
        KernelOptions(
            (match cfg.Loss with
             | LossKind.MSE -> KernelLoss.Mse
             | LossKind.BCE -> KernelLoss.Bce
             | LossKind.Poisson -> KernelLoss.Poisson),
            (if cfg.NonlinDecoder then
                 KernelDecoder.Nonlinear
             else
                 KernelDecoder.Linear),
            KernelOptions.Switch cfg.LowRankTemp,
            KernelOptions.Switch cfg.DynBias,
            KernelOptions.Switch cfg.UseR2Decoder,
            (match cfg.BatchScaling with
             | BatchScaling.BatchMean -> KernelScaling.BatchMean
             | BatchScaling.PerSample -> KernelScaling.PerSample),
            (match cfg.Convergence with
             | Convergence.Batch -> KernelConvergence.Batch
             | Convergence.AllSamples -> KernelConvergence.AllSamples
             | Convergence.PerSample -> KernelConvergence.PerSample)
        )

    /// The kernels' sizes of `cfg`: D, R, R2, M, H, H2.
    let sizes (cfg: Config) =
        KernelSizes(cfg.InputDim, cfg.RDim, cfg.R2Dim, cfg.MixDim, cfg.HyperHidDim, cfg.R2DecoderHidDim)

    /// The kernels' float64 model of named tensors: `leaf name` is the array of the state_dict leaf
    /// `name` (`ParamNames`), or null where `cfg` has no such leaf. The model holds these arrays, not
    /// copies (`KernelModel.Refill` packs them again after they change).
    let modelOfLeaves (cfg: Config) (leaf: string -> float[]) : KernelModel =
        let namedMlp prefix =
            KernelMlp(
                leaf (ParamNames.layerWeight prefix ParamNames.InputLayer),
                leaf (ParamNames.layerBias prefix ParamNames.InputLayer),
                leaf (ParamNames.layerWeight prefix ParamNames.NormLayer),
                leaf (ParamNames.layerBias prefix ParamNames.NormLayer),
                leaf (ParamNames.layerWeight prefix ParamNames.HiddenLayer),
                leaf (ParamNames.layerBias prefix ParamNames.HiddenLayer),
                leaf (ParamNames.layerWeight prefix ParamNames.OutputLayer),
                leaf (ParamNames.layerBias prefix ParamNames.OutputLayer)
            )

        KernelModel(
            sizes cfg,
            (if cfg.NonlinDecoder then
                 null
             else
                 leaf ParamNames.SpatialDecoderWeight),
            (if cfg.NonlinDecoder then
                 null
             else
                 leaf ParamNames.SpatialDecoderBias),
            (if cfg.NonlinDecoder then
                 namedMlp ParamNames.SpatialDecoder
             else
                 null),
            leaf ParamNames.Temporal,
            cfg.LowRankTemp,
            leaf ParamNames.TemporalBias,
            namedMlp ParamNames.Hypernet,
            (if cfg.UseR2Decoder then
                 namedMlp ParamNames.R2Decoder
             else
                 null)
        )

    let private saturation (s: Saturation) =
        match s with
        | Saturation.None -> InferenceSaturation.None
        | Saturation.Sigmoid -> InferenceSaturation.Sigmoid
        | Saturation.Tanh -> InferenceSaturation.Tanh
        | Saturation.ScaledTanh -> InferenceSaturation.ScaledTanh

    let private settingsOf (cfg: Config) =
        InferenceSettings(
            Options = options cfg,
            MaxIter = cfg.MaxIter,
            Tol = cfg.Tol,
            LrR = cfg.LrR,
            LrR2 = cfg.LrR2,
            TempWeight = cfg.TempWeight,
            LmdaR = cfg.LmdaR,
            LmdaR2 = cfg.LmdaR2,
            L1InfW = cfg.L1InfW,
            L1InfR = cfg.L1InfR,
            L1InfR2 = cfg.L1InfR2,
            SaturateR = saturation cfg.SaturateR,
            SaturateR2 = saturation cfg.SaturateR2,
            SaturateRScale = cfg.SaturateRScale,
            SaturateR2Scale = cfg.SaturateR2Scale
        )

    let private settingsCache = ConditionalWeakTable<Config, InferenceSettings>()

    /// The kernels' run-time settings of `cfg`, made once per `Config` value (an immutable record) and
    /// shared, so that a call allocates none.
    let settings (cfg: Config) : InferenceSettings =
        // TryGetValue with a byref, not a tuple pattern: a Debug build allocates the tuple.
        let mutable s = Unchecked.defaultof<InferenceSettings>

        if settingsCache.TryGetValue(cfg, &s) then
            s
        else
            settingsCache.GetValue(cfg, (fun c -> settingsOf c))

    let private packed = ConditionalWeakTable<Params, KernelModel>()

    /// The kernels' float64 model of `p` (sizes from `cfg`), built once per `Params` value.
    let model (cfg: Config) (p: Params) : KernelModel =
        let mutable m = Unchecked.defaultof<KernelModel>

        if packed.TryGetValue(p, &m) then
            m
        else
            packed.GetValue(
                p,
                fun p ->
                    let linW, linB, nonlin =
                        match p.SpatialDecoder with
                        | LinearDecoder l -> flat2 l.Weight, bias ParamNames.SpatialDecoderBias l.Bias, null
                        | NonlinearDecoder m -> null, null, mlp ParamNames.SpatialDecoder m

                    let temporal, lowRank =
                        match p.Temporal with
                        | FullRank t -> flat2 t, false
                        | LowRank u -> flat3 u, true

                    KernelModel(
                        sizes cfg,
                        linW,
                        linB,
                        nonlin,
                        temporal,
                        lowRank,
                        Option.toObj p.TemporalBias,
                        mlp ParamNames.Hypernet p.Hypernet,
                        (match p.R2Decoder with
                         | Some m -> mlp ParamNames.R2Decoder m
                         | None -> null)
                    )
            )

    /// The most specific registered kernel for `cfg` (a variant declared by an application that
    /// matches wins over the library's general ones).
    let kernel (cfg: Config) : InferenceKernel =
        let o = options cfg
        let z = sizes cfg

        match KernelRegistry.Find(&o, &z) with
        | null -> invalidOp $"No registered fused kernel runs this configuration ({o}, {z})."
        | k -> k

    /// The elements of `a` in row-major order, written in place (no copy).
    let internal span (a: float[,]) : Span<float> =
        MemoryMarshal.CreateSpan(&Unsafe.As<byte, float>(&MemoryMarshal.GetArrayDataReference(a :> Array)), a.Length)

    /// The elements of `a` in row-major order, read in place (no copy).
    let internal items (a: float[,]) : ReadOnlySpan<float> =
        MemoryMarshal.CreateReadOnlySpan(
            &Unsafe.As<byte, float>(&MemoryMarshal.GetArrayDataReference(a :> Array)),
            a.Length
        )

    /// `dst[i] = float32 src[i]`, in SIMD lanes (the same rounding, to nearest, as the scalar
    /// conversion).
    let internal narrow (src: ReadOnlySpan<float>) (dst: Span<float32>) =
        let lanes = Vector<float>.Count
        let mutable i = 0

        while i + 2 * lanes <= src.Length do
            Vector
                .Narrow(Vector<float>(src.Slice(i, lanes)), Vector<float>(src.Slice(i + lanes, lanes)))
                .CopyTo(dst.Slice(i, 2 * lanes))

            i <- i + 2 * lanes

        while i < src.Length do
            dst[i] <- float32 src[i]
            i <- i + 1

    /// `dst[i] = float src[i]` (exact), in SIMD lanes.
    let internal widen (src: ReadOnlySpan<float32>) (dst: Span<float>) =
        let lanes = Vector<float32>.Count
        let half = Vector<float>.Count
        let mutable i = 0

        while i + lanes <= src.Length do
            let mutable lo = Vector<float>.Zero
            let mutable hi = Vector<float>.Zero
            Vector.Widen(Vector<float32>(src.Slice(i, lanes)), &lo, &hi)
            lo.CopyTo(dst.Slice(i, half))
            hi.CopyTo(dst.Slice(i + half, half))
            i <- i + lanes

        while i < src.Length do
            dst[i] <- float src[i]
            i <- i + 1

    /// One thread's float32 staging buffers of the fused float32 path: the inputs `x`, `r_p`, `r2₀` and
    /// the outputs `r`, `r2`, `r̂`, each grown to the largest batch seen and reused by every later call
    /// on that thread (a thread never shares them, so concurrent callers never race on them).
    [<Sealed>]
    type private Staging() =
        let buffers = Array.init 6 (fun _ -> Array.empty<float32>)

        /// Buffer `slot` (0–5) with at least `n` elements; its first `n` are the ones to use.
        member _.Get(slot: int, n: int) : float32[] =
            if buffers[slot].Length < n then
                buffers[slot] <- Array.zeroCreate n

            buffers[slot]

    let private staging = new ThreadLocal<Staging>(fun () -> Staging())

    /// Raises the `InferenceDivergedException` that `stats` reports, if any (as the reference path
    /// raises it: `operation`, the iteration, the first sample and its non-finite latent).
    let internal checkDiverged (cfg: Config) (operation: string) (stats: InferenceStats) =
        if stats.Diverged then
            raise (
                InferenceDivergedException(
                    operation,
                    stats.DivergedIteration,
                    cfg.MaxIter,
                    stats.DivergedSample,
                    stats.DivergedQuantity
                )
            )

    /// `inf(x, r_p, r2₀)` through the fused kernel for `cfg` on `b` samples of flat row-major spans, in
    /// float32 when `cfg.Backend` is `FusedFloat32` (through this thread's staging buffers), else
    /// float64 (in place): `x [b·D]`, `rP [b·R]`, `r2 [b·R2]` in; `r [b·R]`, `r2o [b·R2]`, `rHat [b·R]`
    /// and each sample's iterations `iters [b]` written. Raises the divergence the kernel reports;
    /// allocates nothing once this thread's staging buffers have grown to `b`.
    let inferSpans
        (cfg: Config)
        (p: Params)
        (b: int)
        (x: ReadOnlySpan<float>)
        (rP: ReadOnlySpan<float>)
        (r2: ReadOnlySpan<float>)
        (r: Span<float>)
        (r2o: Span<float>)
        (rHat: Span<float>)
        (iters: Span<int>)
        : InferenceStats =
        let k = kernel cfg
        let s = settings cfg
        let m = model cfg p

        let stats =
            match cfg.Backend with
            | Backend.FusedFloat32 ->
                let w = staging.Value
                // One let each, not tuples: a Debug build allocates a tuple per call.
                let x32 = w.Get(0, x.Length)
                let rP32 = w.Get(1, rP.Length)
                let r232 = w.Get(2, r2.Length)
                let r32 = w.Get(3, r.Length)
                let r2o32 = w.Get(4, r2o.Length)
                let rHat32 = w.Get(5, rHat.Length)

                narrow x (Span(x32, 0, x.Length))
                narrow rP (Span(rP32, 0, rP.Length))
                narrow r2 (Span(r232, 0, r2.Length))

                let st =
                    k.Infer(
                        m.Single,
                        s,
                        b,
                        ReadOnlySpan(x32, 0, x.Length),
                        ReadOnlySpan(rP32, 0, rP.Length),
                        ReadOnlySpan(r232, 0, r2.Length),
                        Span(r32, 0, r.Length),
                        Span(r2o32, 0, r2o.Length),
                        Span(rHat32, 0, rHat.Length),
                        iters
                    )

                widen (ReadOnlySpan(r32, 0, r.Length)) r
                widen (ReadOnlySpan(r2o32, 0, r2o.Length)) r2o
                widen (ReadOnlySpan(rHat32, 0, rHat.Length)) rHat
                st
            | _ -> k.Infer(m.Double, s, b, x, rP, r2, r, r2o, rHat, iters)

        checkDiverged cfg "inf" stats
        stats

    /// `inf(x, r_p, r2₀)` through the fused kernel for `cfg`, in float32 when `cfg.Backend` is
    /// `FusedFloat32`, else float64: `x [batch; D]`, `rP [batch; R]`, `r2 [batch; R2]`; returns
    /// `r [batch; R]`, `r2 [batch; R2]`, the temporal prediction `r̂ [batch; R]` from `rP` with the final
    /// `r2`, the iterations, whether it converged, and each sample's iterations (`inferSpans` into
    /// fresh arrays).
    let infer (cfg: Config) (p: Params) (x: float[,]) (rP: float[,]) (r2: float[,]) : InferResult =
        let b = Array2D.length1 x
        let iters = Array.zeroCreate<int> b
        let r = Array2D.zeroCreate<float> b cfg.RDim
        let r2o = Array2D.zeroCreate<float> b cfg.R2Dim
        let rHat = Array2D.zeroCreate<float> b cfg.RDim

        let stats =
            inferSpans cfg p b (items x) (items rP) (items r2) (span r) (span r2o) (span rHat) (Span iters)

        {
            R = r
            R2 = r2o
            RHat = rHat
            Iterations = stats.Iterations
            Converged = stats.Converged
            SampleIterations = iters
        }

    /// `inf_first_step(x)` through the fused kernel for `cfg` (precision as in `infer`): `x [batch; D]`;
    /// returns `r [batch; R]`, the iterations, whether it converged, and each sample's iterations.
    let inferFirstStep (cfg: Config) (p: Params) (x: float[,]) : FirstStepResult =
        let b = Array2D.length1 x
        let k = kernel cfg
        let s = settings cfg
        let m = model cfg p
        let iters = Array.zeroCreate<int> b
        let r = Array2D.zeroCreate<float> b cfg.RDim

        let stats =
            match cfg.Backend with
            | Backend.FusedFloat32 ->
                let w = staging.Value
                let x32 = w.Get(0, x.Length)
                let r32 = w.Get(3, r.Length)
                narrow (items x) (Span(x32, 0, x.Length))

                let st =
                    k.InferFirstStep(m.Single, s, b, ReadOnlySpan(x32, 0, x.Length), Span(r32, 0, r.Length), Span iters)

                widen (ReadOnlySpan(r32, 0, r.Length)) (span r)
                st
            | _ -> k.InferFirstStep(m.Double, s, b, items x, span r, Span iters)

        checkDiverged cfg "inf_first_step" stats

        {
            R = r
            Iterations = stats.Iterations
            Converged = stats.Converged
            SampleIterations = iters
        }
