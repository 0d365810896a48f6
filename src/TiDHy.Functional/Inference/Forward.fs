namespace TiDHy.Functional

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Threading

/// The latent state carried from one time step to the next (and, in stateful mode, from one
/// window to the next).
type Carry =
    {
        /// `r`: `[batch; R]`.
        R: float[,]
        /// `r2`: `[batch; R2]`.
        R2: float[,]
    }

/// One time step's terms of the training objective (each a batch mean `⟨·⟩`).
type StepLosses =
    {
        /// `⟨ℓ(decode(r), x_t)⟩`, `⟨ℓ(decode(r̂), x_t)⟩`, `⟨(r − r̂)²⟩` (not yet weighted by
        /// `temp_weight`) and `⟨(r2 − R2dec([r_p, r2_p]))²⟩` (0 without the r2 decoder).
        Losses: LossTerms<float>
        /// Inference iterations of this step.
        Iterations: int
        /// Whether this step's inference converged.
        Converged: bool
    }

/// The training objective over a window (MODEL.md "The training objective").
type ForwardResult =
    {
        /// `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2` (0 without the r2 decoder).
        Losses: LossTerms<float>
        /// `r` at the window's start: `[batch; R]` (zeros unless a carry was given).
        RFirst: float[,]
        /// `r2` after the last step: `[batch; R2]`.
        R2Last: float[,]
        /// `r, r2` after the last step: the carry of the next window in stateful mode.
        Final: Carry
        /// `r, r2` after each inference step, in time order (like `Iterations`).
        States: Carry[]
        /// Inference iterations per inference step: `[T − 1]`, or `[T]` when a carry was given.
        Iterations: int[]
        /// Whether each inference step converged, like `Iterations`.
        Converged: bool[]
    }

/// Caller-owned buffers of `Forward.forwardInto` for one window shape `[batch; T; D]`: made once by
/// `Forward.buffers` and reused by every later call of that shape, which overwrites all their
/// outputs (read them, or copy what you keep, before the next call). The arrays must be distinct.
type ForwardBuffers =
    {
        /// Output: `r` at the window's start, `[batch; R]` (zeros unless a carry was given; then a
        /// copy of the carry's `r`), as `ForwardResult.RFirst`.
        RFirst: float[,]
        /// Output: `r2` at the window's start, `[batch; R2]` (zeros or a copy of the carry's `r2`).
        R2First: float[,]
        /// Output: `r, r2` after each inference step, in time order, `[steps]` of `[batch; R]` and
        /// `[batch; R2]`, as `ForwardResult.States`; the last is `ForwardResult.Final`.
        States: Carry[]
        /// Output: inference iterations per inference step, `[steps]`.
        Iterations: int[]
        /// Output: whether each inference step converged, `[steps]`.
        Converged: bool[]
        /// Output: `L_hat`, `L_bar`, `temp_weight·L_temp` and `L_r2`, as `ForwardResult.Losses`.
        mutable Losses: LossTerms<float>
        /// Workspace: the temporal prediction `r̂` of a step, `[batch; R]` (the last step's after a call).
        RHat: float[,]
        /// Workspace: the iterations that updated each sample in a step, `[batch]` (the last step's).
        SampleIterations: int[]
        /// Workspace: a time step of the window, `[batch; D]`.
        Input: float[,]
    }

    /// `r, r2` after the last inference step (the carry of the next window in stateful mode).
    member b.Final = b.States[b.States.Length - 1]

/// The training objective over a window as a scan over time, in the Linen manner:
/// `step : Config -> Params -> Carry -> x_t -> Carry * StepLosses`.
[<RequireQualifiedAccess>]
module Forward =

    /// `scan f init xs`: threads the carry through `xs`, collecting each output; returns the final
    /// carry and the outputs in order.
    let scan (f: 'c -> 'x -> 'c * 'y) (init: 'c) (xs: 'x seq) : 'c * 'y[] =
        let folder (c, ys) x =
            let c', y = f c x
            c', y :: ys

        let c, ys = Seq.fold folder (init, []) xs
        c, List.rev ys |> List.toArray

    /// The zero carry for `batch` samples: `r [batch; R]` and `r2 [batch; R2]` all 0.
    let zeroCarry (cfg: Config) (batch: int) =
        {
            R = Array2D.zeroCreate batch cfg.RDim
            R2 = Array2D.zeroCreate batch cfg.R2Dim
        }

    /// Time step `t` of a window `[batch; T; D]` written into `out [batch; D]`.
    let internal timeStepInto (window: float[,,]) (t: int) (out: float[,]) =
        let batch, time, d =
            Array3D.length1 window, Array3D.length2 window, Array3D.length3 window

        if t < 0 || t >= time then
            raise (IndexOutOfRangeException $"t = {t}: the window has {time} time steps.")

        for b in 0 .. batch - 1 do
            Buffer.BlockCopy(
                window,
                ((b * time + t) * d) * sizeof<float>,
                out,
                b * d * sizeof<float>,
                d * sizeof<float>
            )

    /// Time step `t` of a window `[batch; T; D]`: `[batch; D]`.
    let timeStep (window: float[,,]) (t: int) =
        let out =
            Array2D.zeroCreate<float> (Array3D.length1 window) (Array3D.length3 window)

        timeStepInto window t out
        out

    /// One thread's time-step input of `forward` (`[batch; D]`, reused while the shape stays): the
    /// steps of a window pass through it one after another, and no result keeps it.
    let private stepInput =
        new ThreadLocal<float[,] ref>(fun () -> ref (Array2D.zeroCreate<float> 0 0))

    /// This thread's `stepInput`, of shape `[batch; d]`.
    let private stepBuffer (batch: int) (d: int) =
        let cell = stepInput.Value

        if Array2D.length1 cell.Value <> batch || Array2D.length2 cell.Value <> d then
            cell.Value <- Array2D.zeroCreate batch d

        cell.Value

    /// `⟨(a − b)²⟩` of two `[batch; n]` arrays.
    let squaredError (a: float[,]) (b: float[,]) =
        Loss.batchMean (Array2D.init (Array2D.length1 a) (Array2D.length2 a) (fun i j -> (a[i, j] - b[i, j]) ** 2.0))

    /// `⟨ℓ(decode(r), x)⟩`, `⟨ℓ(decode(r̂), x)⟩` and `⟨(r − r̂)²⟩` for `x [batch; D]` and `r`, `rHat`
    /// `[batch; R]`, in one pass over the samples (the sums run in `Loss.batch`'s order), decoding one
    /// sample at a time (`Model.decodeSample`): the definition, for every decoder.
    let internal stepLossesPerSample (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) (rHat: float[,]) =
        let ell = Loss.element cfg.Loss
        let mutable hat = 0.0
        let mutable bar = 0.0
        let mutable temp = 0.0

        for s in 0 .. Array2D.length1 x - 1 do
            let xs, rs, hs = Numerics.row x s, Numerics.row r s, Numerics.row rHat s
            let dHat, dBar = Model.decodeSample cfg p rs, Model.decodeSample cfg p hs

            for d in 0 .. xs.Length - 1 do
                hat <- hat + ell dHat[d] xs[d]
                bar <- bar + ell dBar[d] xs[d]

            for i in 0 .. rs.Length - 1 do
                temp <- temp + (rs[i] - hs[i]) * (rs[i] - hs[i])

        let b = float (Array2D.length1 x)
        hat / b, bar / b, temp / b

    /// `Wᵀ [R; D]` (flat) of the linear decoder weights `W [D; R]`, built once per weight array.
    let private transposed = ConditionalWeakTable<float[,], float[]>()

    /// `Wᵀ [R; D]` (flat) of the linear decoder `l`, built once per weight array.
    let private transposedOf (l: LinearParams) (rDim: int) (dim: int) =
        transposed.GetValue(l.Weight, fun w -> Array.init (rDim * dim) (fun k -> w[k % dim, k / dim]))

    /// `ya = W·a` and `yb = W·b` of two samples `a`, `b` `[R]` through `wt = Wᵀ [R; D]` (flat), with
    /// `decodeSample`'s arithmetic: each `y_d` starts at 0 and adds `W_di·v_i` for `i` in order from 0
    /// (a multiply, then an add, as the scalar code rounds them). The D sums run side by side in SIMD
    /// lanes, kept in registers over `i`, two lane groups of both samples at a time (four independent
    /// chains of adds).
    let private decodeRowsInto
        (wt: float[])
        (dim: int)
        (a: ReadOnlySpan<float>)
        (b: ReadOnlySpan<float>)
        (ya: float[])
        (yb: float[])
        =
        let lanes = Vector<float>.Count
        let n = a.Length
        let mutable d = 0

        while d + 2 * lanes <= dim do
            let mutable a0 = Vector<float>.Zero
            let mutable a1 = Vector<float>.Zero
            let mutable b0 = Vector<float>.Zero
            let mutable b1 = Vector<float>.Zero

            for i in 0 .. n - 1 do
                let w0 = Vector<float>(wt, i * dim + d)
                let w1 = Vector<float>(wt, i * dim + d + lanes)
                let va = Vector<float>(a[i])
                let vb = Vector<float>(b[i])
                a0 <- a0 + w0 * va
                a1 <- a1 + w1 * va
                b0 <- b0 + w0 * vb
                b1 <- b1 + w1 * vb

            a0.CopyTo(ya, d)
            a1.CopyTo(ya, d + lanes)
            b0.CopyTo(yb, d)
            b1.CopyTo(yb, d + lanes)
            d <- d + 2 * lanes

        while d + lanes <= dim do
            let mutable a0 = Vector<float>.Zero
            let mutable b0 = Vector<float>.Zero

            for i in 0 .. n - 1 do
                let w0 = Vector<float>(wt, i * dim + d)
                a0 <- a0 + w0 * Vector<float>(a[i])
                b0 <- b0 + w0 * Vector<float>(b[i])

            a0.CopyTo(ya, d)
            b0.CopyTo(yb, d)
            d <- d + lanes

        while d < dim do
            let mutable sa = 0.0
            let mutable sb = 0.0

            for i in 0 .. n - 1 do
                sa <- sa + wt[i * dim + d] * a[i]
                sb <- sb + wt[i * dim + d] * b[i]

            ya[d] <- sa
            yb[d] <- sb
            d <- d + 1

    /// `ℓ(y_d + b_d, obs)` as `decodeSample` and `Loss.batch` compute it (`b` null: no bias).
    let inline private linearElement (loss: LossKind) (bias: float[]) (y: float[]) (d: int) (obs: float) =
        let v = if isNull bias then y[d] else y[d] + bias[d]

        match loss with
        | LossKind.MSE -> Loss.mse v obs
        | LossKind.BCE -> Loss.bce (Numerics.sigmoid v) obs
        | LossKind.Poisson -> Loss.poisson v obs

    /// `Σ_s Σ_d ℓ(decode(r_s)_d, x_sd)` through the linear decoder `l`, summed in `Loss.batch`'s order
    /// (samples, then features) with `decodeSample`'s arithmetic (`decodeRowsInto`, then `+ b_d`, then
    /// the sigmoid with BCE), so bitwise equal to it, without an array per sample.
    let private linearSpatialSum (cfg: Config) (l: LinearParams) (x: float[,]) (r: float[,]) =
        let batch, dim, rDim = Array2D.length1 x, Array2D.length2 x, Array2D.length2 r
        let wt = transposedOf l rDim dim
        let xs = Fused.items x
        let rs = Fused.items r
        let bias = Option.toObj l.Bias
        let y = Array.zeroCreate<float> dim
        let mutable sum = 0.0

        for s in 0 .. batch - 1 do
            let row = rs.Slice(s * rDim, rDim)
            decodeRowsInto wt dim row row y y

            for d in 0 .. dim - 1 do
                sum <- sum + linearElement cfg.Loss bias y d xs[s * dim + d]

        sum

    /// `Σ_s Σ_d ell v_d x_sd` in `Loss.batch`'s order for one decoded row `v [D]` shared by every sample
    /// (`ell` inlined at each loss's call).
    let inline private sharedRowSum
        ([<InlineIfLambda>] ell: float -> float -> float)
        (v: float[])
        (xs: ReadOnlySpan<float>)
        (batch: int)
        =
        let dim = v.Length
        let mutable sum = 0.0

        for s in 0 .. batch - 1 do
            for d in 0 .. dim - 1 do
                sum <- sum + ell v[d] xs[s * dim + d]

        sum

    /// `linearSpatialSum cfg l x r` where every row of `r` is 0 (the window's first step without a
    /// carry): every sample decodes to the same `y + b`, decoded once.
    let private linearSpatialSumAtZero (cfg: Config) (l: LinearParams) (x: float[,]) (rDim: int) =
        let batch, dim = Array2D.length1 x, Array2D.length2 x
        let wt = transposedOf l rDim dim
        let xs = Fused.items x
        let bias = Option.toObj l.Bias
        let y = Array.zeroCreate<float> dim
        let zero = ReadOnlySpan(Array.zeroCreate<float> rDim)
        decodeRowsInto wt dim zero zero y y
        let v = Array.init dim (fun d -> if isNull bias then y[d] else y[d] + bias[d])

        match cfg.Loss with
        | LossKind.MSE -> sharedRowSum (fun v o -> Loss.mse v o) v xs batch
        | LossKind.BCE -> sharedRowSum (fun v o -> Loss.bce (Numerics.sigmoid v) o) v xs batch
        | LossKind.Poisson -> sharedRowSum (fun v o -> Loss.poisson v o) v xs batch

    /// `stepLosses`' three sums for the linear decoder with the loss `ell v obs` of a decoded value
    /// `v = y_d + b_d` (inlined at each loss's call, so that no loss is chosen per element).
    let inline private linearStepSums
        ([<InlineIfLambda>] ell: float -> float -> float)
        (wt: float[])
        (bias: float[])
        (xs: ReadOnlySpan<float>)
        (rs: ReadOnlySpan<float>)
        (hs: ReadOnlySpan<float>)
        (batch: int)
        (dim: int)
        (rDim: int)
        =
        let yR = Array.zeroCreate<float> dim
        let yH = Array.zeroCreate<float> dim
        let mutable hat = 0.0
        let mutable bar = 0.0
        let mutable temp = 0.0

        for s in 0 .. batch - 1 do
            let rRow = rs.Slice(s * rDim, rDim)
            let hRow = hs.Slice(s * rDim, rDim)
            decodeRowsInto wt dim rRow hRow yR yH

            for d in 0 .. dim - 1 do
                let obs = xs[s * dim + d]

                if isNull bias then
                    hat <- hat + ell yR[d] obs
                    bar <- bar + ell yH[d] obs
                else
                    hat <- hat + ell (yR[d] + bias[d]) obs
                    bar <- bar + ell (yH[d] + bias[d]) obs

            for i in 0 .. rDim - 1 do
                temp <- temp + (rRow[i] - hRow[i]) * (rRow[i] - hRow[i])

        struct (hat, bar, temp)

    /// `stepLossesPerSample`'s three terms, bitwise equal to it; with a linear decoder in one pass over
    /// the samples without an array per sample: each of the three sums runs in its own order
    /// (`linearSpatialSum`'s for the first two, row-major for `⟨(r − r̂)²⟩`), side by side.
    let internal stepLosses (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) (rHat: float[,]) =
        match p.SpatialDecoder with
        | NonlinearDecoder _ -> stepLossesPerSample cfg p x r rHat
        | LinearDecoder l ->
            let batch, dim, rDim = Array2D.length1 x, Array2D.length2 x, Array2D.length2 r
            let wt = transposedOf l rDim dim
            let xs = Fused.items x
            let rs = Fused.items r
            let hs = Fused.items rHat
            let bias = Option.toObj l.Bias

            let struct (hat, bar, temp) =
                match cfg.Loss with
                | LossKind.MSE -> linearStepSums (fun v o -> Loss.mse v o) wt bias xs rs hs batch dim rDim
                | LossKind.BCE ->
                    linearStepSums (fun v o -> Loss.bce (Numerics.sigmoid v) o) wt bias xs rs hs batch dim rDim
                | LossKind.Poisson -> linearStepSums (fun v o -> Loss.poisson v o) wt bias xs rs hs batch dim rDim

            let b = float batch
            hat / b, bar / b, temp / b

    /// `Loss.batch cfg.Loss (Model.decode cfg p r) x` (`⟨ℓ(decode(r), x)⟩`), bitwise; with a linear
    /// decoder without an array per sample (`linearSpatialSum`).
    let internal spatialLoss (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) =
        match p.SpatialDecoder with
        | NonlinearDecoder _ -> Loss.batch cfg.Loss (Model.decode cfg p r) x
        | LinearDecoder l -> linearSpatialSum cfg l x r / float (Array2D.length1 x)

    /// `spatialLoss cfg p x r` for `r` all 0 (`[batch; R]`), bitwise; with a linear decoder it decodes
    /// the zero row once (`linearSpatialSumAtZero`).
    let internal spatialLossAtZero (cfg: Config) (p: Params) (x: float[,]) (r: float[,]) =
        match p.SpatialDecoder with
        | NonlinearDecoder _ -> spatialLoss cfg p x r
        | LinearDecoder l -> linearSpatialSumAtZero cfg l x (Array2D.length2 r) / float (Array2D.length1 x)

    /// One step of the objective: inference from the carry `(r_p, r2_p)` on `x [batch; D]`, then
    /// the step's loss terms (the temporal prediction uses the NEW `r2`). Returns the new carry.
    let step (cfg: Config) (p: Params) (carry: Carry) (x: float[,]) : Carry * StepLosses =
        let inf = Inference.infer cfg p x carry.R carry.R2
        let lHat, lBar, lTemp = stepLosses cfg p x inf.R inf.RHat

        let r2Loss =
            if cfg.UseR2Decoder then
                squaredError inf.R2 (Model.r2Decode cfg p carry.R carry.R2)
            else
                0.0

        { R = inf.R; R2 = inf.R2 },
        {
            Losses =
                {
                    SpatialLossRHat = lHat
                    SpatialLossRBar = lBar
                    TempLoss = lTemp
                    R2Loss = r2Loss
                }
            Iterations = inf.Iterations
            Converged = inf.Converged
        }

    let private checkCarry (cfg: Config) (batch: int) (c: Carry) =
        Shape.checkMatrix "init.R" batch cfg.RDim c.R
        Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2

    /// The training objective over a window `X [batch; T; D]` (T ≥ 2 without a carry, ≥ 1 with one).
    /// Without a carry (upstream): `r = r2 = 0`, `L_hat` starts at `⟨ℓ(decode(0), X_0)⟩` and
    /// inference runs at `t = 1 … T−1`. With a carry (stateful mode), the carry is the state just
    /// before the window: `L_hat` starts at 0 and inference runs at every `t = 0 … T−1`, so that
    /// consecutive non-overlapping windows chain like one long series.
    let forward (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : ForwardResult =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p

        let batch, time =
            Shape.checkWindow (nameof X) (if init.IsSome then 1 else 2) cfg.InputDim X

        Shape.checkFiniteArray3 (nameof X) X
        let x = stepBuffer batch cfg.InputDim

        let at t =
            timeStepInto X t x
            x

        let carry0, lHat0, steps =
            match init with
            | None ->
                let c = zeroCarry cfg batch
                c, spatialLossAtZero cfg p (at 0) c.R, seq { for t in 1 .. time - 1 -> at t }
            | Some c ->
                checkCarry cfg batch c
                c, 0.0, seq { for t in 0 .. time - 1 -> at t }

        let final, outs =
            scan
                (fun c x ->
                    let c', l = step cfg p c x
                    c', (c', l))
                carry0
                steps

        let states, outs = Array.unzip outs

        let total (f: LossTerms<float> -> float) =
            outs |> Array.sumBy (fun o -> f o.Losses)

        {
            Losses =
                {
                    SpatialLossRHat = lHat0 + total _.SpatialLossRHat
                    SpatialLossRBar = total _.SpatialLossRBar
                    TempLoss = cfg.TempWeight * total _.TempLoss
                    R2Loss = total _.R2Loss
                }
            RFirst = carry0.R
            R2Last = final.R2
            Final = final
            States = states
            Iterations = outs |> Array.map _.Iterations
            Converged = outs |> Array.map _.Converged
        }

    /// Inference steps of a window of `time` steps: `time` with a carry, `time − 1` without.
    let steps (time: int) (withCarry: bool) = if withCarry then time else time - 1

    /// Buffers for `forwardInto` on windows `[batch; time; D]` of `cfg`, with a carry (`withCarry`)
    /// or without: allocate them once and pass them to every call of that shape.
    let buffers (cfg: Config) (batch: int) (time: int) (withCarry: bool) : ForwardBuffers =
        let cfg = Config.validateOrThrow cfg

        if batch < 1 then
            invalidArg (nameof batch) $"batch = {batch}: a window has at least one sample."

        let minTime = if withCarry then 1 else 2

        if time < minTime then
            let carry = if withCarry then "with" else "without"
            invalidArg (nameof time) $"time = {time}: a window {carry} a carry has at least {minTime} time steps."

        let n = steps time withCarry

        {
            RFirst = Array2D.zeroCreate batch cfg.RDim
            R2First = Array2D.zeroCreate batch cfg.R2Dim
            States = Array.init n (fun _ -> zeroCarry cfg batch)
            Iterations = Array.zeroCreate n
            Converged = Array.zeroCreate n
            Losses =
                {
                    SpatialLossRHat = 0.0
                    SpatialLossRBar = 0.0
                    TempLoss = 0.0
                    R2Loss = 0.0
                }
            RHat = Array2D.zeroCreate batch cfg.RDim
            SampleIterations = Array.zeroCreate batch
            Input = Array2D.zeroCreate batch cfg.InputDim
        }

    /// Raises an `ArgumentException` naming the buffer `name ()` (built only on failure), the
    /// expected shape `[rows; cols]` and `a`'s, unless `a` is a `[rows; cols]` matrix.
    let private checkBuffer (name: unit -> string) (rows: int) (cols: int) (a: float[,]) =
        if isNull a || Array2D.length1 a <> rows || Array2D.length2 a <> cols then
            Shape.checkMatrix (name ()) rows cols a

    /// Raises an `ArgumentException` naming the buffer, the expected length and the given one, unless
    /// `a` has `n` entries.
    let private checkLength (name: string) (n: int) (a: 'T[]) =
        if isNull a then
            nullArg name

        if a.Length <> n then
            raise (
                ArgumentException($"{name}: expected shape {Shape.show [ n ]}, got {Shape.show [ a.Length ]}.", name)
            )

    let private checkBuffers (cfg: Config) (batch: int) (time: int) (withCarry: bool) (b: ForwardBuffers) =
        if obj.ReferenceEquals(b, null) then
            nullArg "buffers"

        let n = steps time withCarry
        checkBuffer (fun () -> "buffers.RFirst") batch cfg.RDim b.RFirst
        checkBuffer (fun () -> "buffers.R2First") batch cfg.R2Dim b.R2First
        checkLength "buffers.States" n b.States

        for i in 0 .. n - 1 do
            checkBuffer (fun () -> $"buffers.States[{i}].R") batch cfg.RDim b.States[i].R
            checkBuffer (fun () -> $"buffers.States[{i}].R2") batch cfg.R2Dim b.States[i].R2

        checkLength "buffers.Iterations" n b.Iterations
        checkLength "buffers.Converged" n b.Converged
        checkBuffer (fun () -> "buffers.RHat") batch cfg.RDim b.RHat
        checkLength "buffers.SampleIterations" batch b.SampleIterations
        checkBuffer (fun () -> "buffers.Input") batch cfg.InputDim b.Input

    /// `forward cfg p init X` written into the caller's `buffers` (`buffers cfg batch T init.IsSome`),
    /// bit for bit: the same checks, the same arithmetic in the same order. With the fused backends
    /// and a linear decoder without the r2 decoder it allocates nothing that grows with the batch
    /// (the nonlinear decoder's and the r2 decoder's loss terms, and the reference backend, still
    /// allocate per call as `forward` does). Wrong buffers raise an `ArgumentException` that names the
    /// buffer, the expected shape and the given one.
    let forwardInto (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) (buffers: ForwardBuffers) : unit =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p

        let batch, time =
            Shape.checkWindow (nameof X) (if init.IsSome then 1 else 2) cfg.InputDim X

        Shape.checkFiniteArray3 (nameof X) X
        checkBuffers cfg batch time init.IsSome buffers
        let out = buffers
        let x = out.Input

        let lHat0, t0 =
            match init with
            | None ->
                Array.Clear out.RFirst
                Array.Clear out.R2First
                timeStepInto X 0 x
                spatialLossAtZero cfg p x out.RFirst, 1
            | Some c ->
                checkCarry cfg batch c
                // Copied first: the carry may be this buffer's own final state.
                Array.Copy(c.R, out.RFirst, c.R.Length)
                Array.Copy(c.R2, out.R2First, c.R2.Length)
                0.0, 0

        let mutable hat = 0.0
        let mutable bar = 0.0
        let mutable temp = 0.0
        let mutable r2 = 0.0

        for i in 0 .. out.States.Length - 1 do
            timeStepInto X (t0 + i) x
            let rP = if i = 0 then out.RFirst else out.States[i - 1].R
            let r2P = if i = 0 then out.R2First else out.States[i - 1].R2
            let next = out.States[i]

            match cfg.Backend with
            | Backend.Fused
            | Backend.FusedFloat32 ->
                Inference.checkInputs cfg p x rP r2P |> ignore

                let stats =
                    Fused.inferSpans
                        cfg
                        p
                        batch
                        (Fused.items x)
                        (Fused.items rP)
                        (Fused.items r2P)
                        (Fused.span next.R)
                        (Fused.span next.R2)
                        (Fused.span out.RHat)
                        (Span out.SampleIterations)

                out.Iterations[i] <- stats.Iterations
                out.Converged[i] <- stats.Converged
            | _ ->
                let inf = Inference.infer cfg p x rP r2P
                Array.Copy(inf.R, next.R, inf.R.Length)
                Array.Copy(inf.R2, next.R2, inf.R2.Length)
                Array.Copy(inf.RHat, out.RHat, inf.RHat.Length)
                Array.Copy(inf.SampleIterations, out.SampleIterations, batch)
                out.Iterations[i] <- inf.Iterations
                out.Converged[i] <- inf.Converged

            let lHat, lBar, lTemp = stepLosses cfg p x next.R out.RHat
            hat <- hat + lHat
            bar <- bar + lBar
            temp <- temp + lTemp

            if cfg.UseR2Decoder then
                r2 <- r2 + squaredError next.R2 (Model.r2Decode cfg p rP r2P)

        out.Losses <-
            {
                SpatialLossRHat = lHat0 + hat
                SpatialLossRBar = bar
                TempLoss = cfg.TempWeight * temp
                R2Loss = r2
            }

    /// The objective over consecutive windows `[batch; T; D]` of one series (same batch, in time
    /// order). With `cfg.Stateful` each window starts from the previous one's `Final` carry (the
    /// first from zeros, as upstream); otherwise every window starts afresh. One result per window.
    let forwardWindows (cfg: Config) (p: Params) (windows: float[,,] seq) : ForwardResult[] =
        windows
        |> scan
            (fun carry X ->
                let res = forward cfg p carry X
                (if cfg.Stateful then Some res.Final else None), res)
            None
        |> snd
