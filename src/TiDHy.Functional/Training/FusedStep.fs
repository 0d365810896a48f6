namespace TiDHy.Functional

open System
open System.Collections.Concurrent
open System.Runtime.CompilerServices
open TiDHy.Kernels

/// The training step on packed, reused buffers (`Train.step` for the configurations that
/// `FusedObjective.supports`): window inference straight into the training kernel's inputs, the
/// generated backward pass, the regularisers, GradNorm, clipping, AdamW, `training_precision`
/// rounding, `Init.normalize` and the non-finite checks, all on float64 vectors in state_dict order
/// (`ParamLayout.expected`). Each function does the arithmetic of its `Params` counterpart in the same
/// order, so the results are bitwise those of the generic step; the caller's records (parameters,
/// moments, carry, metrics) are built once per step.
[<RequireQualifiedAccess>]
module internal FusedStep =

    /// A state_dict tensor in the packed vector.
    [<NoComparison; NoEquality>]
    type Leaf =
        {
            Name: string
            Start: int
            Length: int
            Shape: int[]
        }

    /// The buffers of one step shape (a training kernel and everything the step writes), reused
    /// from step to step; one step at a time uses one.
    [<AllowNullLiteral>]
    type Workspace(cfg: Config, kernel: ITrainingKernel) =
        let leaves =
            ParamLayout.expected cfg
            |> List.mapFold
                (fun at (name, shape) ->
                    let n = Array.fold (*) 1 shape

                    {
                        Name = name
                        Start = at
                        Length = n
                        Shape = shape
                    },
                    at + n)
                0
            |> fst
            |> List.toArray

        let count = kernel.Layout.Count

        do
            let last = leaves[leaves.Length - 1]

            if last.Start + last.Length <> count then
                invalidOp "FusedStep: the kernel's layout differs from ParamLayout.expected."

        // The inference model: one array per tensor, refilled from the packed parameters.
        let arrays = leaves |> Array.map (fun l -> Array.zeroCreate<float> l.Length)

        let model =
            let get name =
                match Array.tryFindIndex (fun l -> l.Name = name) leaves with
                | Some i -> arrays[i]
                | None -> null

            let mlp prefix =
                KernelMlp(
                    get $"{prefix}.0.weight",
                    get $"{prefix}.0.bias",
                    get $"{prefix}.1.weight",
                    get $"{prefix}.1.bias",
                    get $"{prefix}.3.weight",
                    get $"{prefix}.3.bias",
                    get $"{prefix}.4.weight",
                    get $"{prefix}.4.bias"
                )

            KernelModel(
                Fused.sizes cfg,
                (if cfg.NonlinDecoder then
                     null
                 else
                     get "spatial_decoder.0.weight"),
                (if cfg.NonlinDecoder then
                     null
                 else
                     get "spatial_decoder.0.bias"),
                (if cfg.NonlinDecoder then mlp "spatial_decoder" else null),
                get "temporal",
                cfg.LowRankTemp,
                get "temporal_bias",
                mlp "hypernet",
                (if cfg.UseR2Decoder then mlp "R2_Decoder" else null)
            )

        // The leaves in the order of a `Map` by name (GradNorm's per-task sums run in that order).
        let byName =
            Array.init leaves.Length id
            |> Array.sortWith (fun a b -> String.CompareOrdinal(leaves[a].Name, leaves[b].Name))

        let vec () = Array.zeroCreate<float> count

        member _.Kernel = kernel
        member _.Leaves = leaves
        member _.Count = count
        member _.Model = model
        member _.ByName = byName
        /// Parameters, first and second moments, the step's gradient.
        member val P = vec ()
        member val M = vec ()
        member val V = vec ()
        member val G = vec ()
        /// cos_reg's and orth_r2's gradients (zero outside their tensor), the core and optional terms.
        member val CosGrad = vec ()
        member val OrthGrad = vec ()
        member val Core = vec ()
        member val Optional = vec ()
        /// The optional regularisers' gradients, one per kind (`Regularisers.optional`'s order).
        member val Parts: float[][] = Array.init 5 (fun _ -> vec ())
        /// The task gradients of GradNorm.
        member val Tasks: float[][] = Array.init 4 (fun _ -> vec ())
        /// Per-row scratch of the regularisers and normalisations.
        member val Norms = Array.zeroCreate<float>(List.max [ cfg.MixDim; cfg.RDim; cfg.R2Dim; cfg.HyperHidDim ])

        /// Copies the packed parameters `P` into the inference model and repacks its blocks.
        member this.RefillModel() =
            for i in 0 .. leaves.Length - 1 do
                Array.Copy(this.P, leaves[i].Start, arrays[i], 0, leaves[i].Length)

            model.Refill()

        // Inference scratch, grown on demand.
        member val RHat = Array.zeroCreate<float> 0 with get, set
        member val Iters = Array.zeroCreate<int> 0 with get, set
        member val X32 = Array.zeroCreate<float32> 0 with get, set
        member val R32 = Array.zeroCreate<float32> 0 with get, set
        member val R2_32 = Array.zeroCreate<float32> 0 with get, set
        member val RP0_32 = Array.zeroCreate<float32> 0 with get, set
        member val R2P0_32 = Array.zeroCreate<float32> 0 with get, set
        member val RHat32 = Array.zeroCreate<float32> 0 with get, set

    let private pool =
        ConcurrentDictionary<struct (TrainingShape * bool * string), ConcurrentBag<Workspace>>()

    /// Parameter values this module built, with the configuration whose layout they have (so that
    /// `Model.checkParams`, which copies every tensor, runs only on parameters from elsewhere).
    let private built = ConditionalWeakTable<Params, Config>()

    let inline private grow (a: 'T[]) (n: int) =
        if a.Length < n then Array.zeroCreate<'T> n else a

    /// Copies the tensors of `p` (state_dict order) into `dst`.
    let private pack (p: Params) (dst: float[]) =
        let mutable at = 0

        for t in FusedObjective.tensors p do
            Buffer.BlockCopy(t, 0, dst, at * sizeof<float>, t.Length * sizeof<float>)
            at <- at + t.Length

    /// `Σ x²` of `a[start .. start+len)` in order (`Array.sumBy (fun x -> x * x)`).
    let private sumSquares (a: float[]) (start: int) (len: int) =
        let mutable s = 0.0

        for i in start .. start + len - 1 do
            s <- s + a[i] * a[i]

        s

    /// `Regularisers.cosineSum` of `n` rows of `len` values of `a`, row `i` element `k` at
    /// `at + i·rowStride + k·elemStride`; adds the gradients into `grad` at the same positions
    /// (which the caller zeroed). `norms` holds at least `n` values.
    let private cosineSum
        (a: float[])
        (grad: float[])
        (norms: float[])
        (at: int)
        (n: int)
        (len: int)
        (rowStride: int)
        (elemStride: int)
        =
        for i in 0 .. n - 1 do
            let mutable s = 0.0

            for k in 0 .. len - 1 do
                let x = a[at + i * rowStride + k * elemStride]
                s <- s + x * x

            norms[i] <- sqrt s

        let mutable total = 0.0

        for i in 0 .. n - 1 do
            for j in 0 .. i - 1 do
                let ai, bj = at + i * rowStride, at + j * rowStride
                let mutable dot = 0.0

                for k in 0 .. len - 1 do
                    dot <- dot + a[ai + k * elemStride] * a[bj + k * elemStride]

                let prod = norms[i] * norms[j]
                let denom = max prod Regularisers.CosineEps
                let c = dot / denom
                total <- total + abs c
                let s = Numerics.sign c

                for k in 0 .. len - 1 do
                    let ia, ib = ai + k * elemStride, bj + k * elemStride
                    let ak, bk = a[ia], a[ib]

                    if prod > Regularisers.CosineEps then
                        grad[ia] <- grad[ia] + s * (bk / denom - c * ak / (norms[i] * norms[i]))
                        grad[ib] <- grad[ib] + s * (ak / denom - c * bk / (norms[j] * norms[j]))
                    else
                        grad[ia] <- grad[ia] + s * bk / denom
                        grad[ib] <- grad[ib] + s * ak / denom

        total

    let private leaf (w: Workspace) (name: string) =
        w.Leaves |> Array.find (fun l -> l.Name = name)

    /// `Regularisers.core` on the packed parameters: `(cos_reg, orth_r2)`, with the core term's
    /// gradient in `w.Core`.
    let private core (cfg: Config) (w: Workspace) =
        let p = w.P
        let t = leaf w "temporal"
        let cg, og = w.CosGrad, w.OrthGrad
        Array.Clear(cg, t.Start, t.Length)
        let m = cfg.MixDim

        let cosValue =
            if cfg.LowRankTemp then
                let r = cfg.RDim
                let mutable sum = 0.0

                for k in 0 .. m - 1 do
                    sum <- sum + cosineSum p cg w.Norms (t.Start + k * r * 2) r 2 2 1

                sum
            else
                cosineSum p cg w.Norms t.Start m (cfg.RDim * cfg.RDim) (cfg.RDim * cfg.RDim) 1

        for i in t.Start .. t.Start + t.Length - 1 do
            cg[i] <- cg[i] / float m

        let cosReg = cosValue / float m
        let h0 = leaf w "hypernet.0.weight"
        let h, r2 = h0.Shape[0], h0.Shape[1]
        Array.Clear(og, h0.Start, h0.Length)
        let orthValue = cosineSum p og w.Norms h0.Start r2 h 1 r2

        for i in h0.Start .. h0.Start + h0.Length - 1 do
            og[i] <- og[i] / float r2

        let orthR2 = orthValue / float r2
        let a, b = cfg.CosEta, cfg.OrthAlphaR2
        let dst = w.Core

        for i in 0 .. dst.Length - 1 do
            let mutable s = 0.0
            s <- s + a * cg[i]
            s <- s + b * og[i]
            dst[i] <- s

        cosReg, orthR2

    /// `Regularisers.optional` on the packed parameters (`orthSpatial` and `nuclear` through their
    /// F# definitions at `p`, the same values as `w.P`): the term's value, its gradient in `w.Optional`.
    let private optional (cfg: Config) (w: Workspace) (p: Params) =
        let l1 (dst: float[]) (name: string) =
            let l = leaf w name
            let mutable s = 0.0

            for i in l.Start .. l.Start + l.Length - 1 do
                s <- s + abs w.P[i]
                dst[i] <- Numerics.sign w.P[i]

            s

        let packTerm (dst: float[]) (t: Term) =
            pack t.Grad dst
            t.Value

        let weights =
            [|
                cfg.L1Alpha
                cfg.L1AlphaW
                cfg.L1AlphaSpat
                cfg.OrthAlphaSpat
                cfg.LnucAlpha
            |]

        let mutable value = 0.0
        let mutable active = 0

        for k in 0..4 do
            if weights[k] <> 0.0 then
                let dst = w.Parts[k]

                let v =
                    match k with
                    | 0 -> l1 dst "temporal"
                    | 1 -> l1 dst "hypernet.4.weight"
                    | 2 -> l1 dst "spatial_decoder.0.weight"
                    | 3 -> packTerm dst (Regularisers.orthSpatial p)
                    | _ -> packTerm dst (Regularisers.nuclear p)

                value <- value + weights[k] * v
                active <- active + 1

        let dst = w.Optional

        if active = 0 then
            Array.Clear dst
        else
            for i in 0 .. dst.Length - 1 do
                let mutable s = 0.0

                for k in 0..4 do
                    if weights[k] <> 0.0 then
                        s <- s + weights[k] * w.Parts[k][i]

                dst[i] <- s

        value

    /// `Init.normalize` in place on the packed parameters.
    let private normalize (cfg: Config) (w: Workspace) =
        let p = w.P

        if cfg.NormalizeSpatial then
            let l = leaf w "spatial_decoder.0.weight"
            let rows, cols = l.Shape[0], l.Shape[1]
            let norms = w.Norms

            for j in 0 .. cols - 1 do
                let mutable s = 0.0

                for i in 0 .. rows - 1 do
                    let x = p[l.Start + i * cols + j]
                    s <- s + x * x

                norms[j] <- sqrt s

            for i in 0 .. rows - 1 do
                for j in 0 .. cols - 1 do
                    let at = l.Start + i * cols + j
                    p[at] <- p[at] / max norms[j] 1e-12

        if cfg.NormalizeTemporal then
            let t = leaf w "temporal"

            if cfg.LowRankTemp then
                for row in 0 .. t.Length / 2 - 1 do
                    let at = t.Start + 2 * row
                    let n = max (sqrt (p[at] ** 2.0 + p[at + 1] ** 2.0)) 1e-12
                    p[at] <- p[at] / n
                    p[at + 1] <- p[at + 1] / n
            else
                let cols = t.Shape[1]

                for i in 0 .. t.Shape[0] - 1 do
                    let at = t.Start + i * cols
                    let n = max (sqrt (sumSquares p at cols)) 1e-12

                    for j in 0 .. cols - 1 do
                        p[at + j] <- p[at + j] / n

    /// The first non-finite value of a packed vector, as `Checkpoint.nonFinite` names it.
    let private firstNonFinite (w: Workspace) (what: string) (a: float[]) =
        let mutable found = None
        let mutable i = 0

        while found.IsNone && i < w.Leaves.Length do
            let l = w.Leaves[i]
            let mutable k = l.Start

            while found.IsNone && k < l.Start + l.Length do
                if not (Double.IsFinite a[k]) then
                    found <- Some($"{what} '{l.Name}'", a[k])

                k <- k + 1

            i <- i + 1

        found

    let private firstNonFiniteIn (what: string) (a: Array) =
        let mutable found = None

        match a with
        | :? (float[]) as v ->
            for x in v do
                if found.IsNone && not (Double.IsFinite x) then
                    found <- Some(what, x)
        | :? (float[,]) as m ->
            for i in 0 .. Array2D.length1 m - 1 do
                for j in 0 .. Array2D.length2 m - 1 do
                    if found.IsNone && not (Double.IsFinite m[i, j]) then
                        found <- Some(what, m[i, j])
        | _ ->
            found <-
                (Seq.cast<float> a)
                |> Seq.tryFind (Double.IsFinite >> not)
                |> Option.map (fun v -> what, v)

        found

    /// `Checkpoint.nonFinite` of the state after the step, with its parameters and moments packed in `w`.
    let private nonFinite (w: Workspace) (next: TrainState) =
        // As Checkpoint.nonFinite's inTree, run only when a tensor of `p` holds a non-finite value.
        let tree what (p: Params) =
            if
                FusedObjective.tensors p
                |> List.exists (fun t -> (firstNonFiniteIn "" t).IsSome)
            then
                ParamTree.leaves p
                |> List.tryPick (fun (name, vs) ->
                    vs
                    |> Array.tryFind (Double.IsFinite >> not)
                    |> Option.map (fun v -> $"{what} '{name}'", v))
            else
                None

        firstNonFinite w "params" w.P
        |> Option.orElseWith (fun () -> firstNonFinite w "optimizer.exp_avg" w.M)
        |> Option.orElseWith (fun () -> firstNonFinite w "optimizer.exp_avg_sq" w.V)
        |> Option.orElseWith (fun () -> firstNonFiniteIn "grad_norm.weights" next.GradNorm.Weights)
        |> Option.orElseWith (fun () -> next.GradNorm.L0 |> Option.bind (firstNonFiniteIn "grad_norm.l0"))
        |> Option.orElseWith (fun () -> next.Carry |> Option.bind (fun c -> firstNonFiniteIn "carry.r" c.R))
        |> Option.orElseWith (fun () -> next.Carry |> Option.bind (fun c -> firstNonFiniteIn "carry.r2" c.R2))
        |> Option.orElseWith (fun () -> next.Best |> Option.bind (fun b -> tree "best.params" b.Params))
        |> Option.orElseWith (fun () -> next.Best |> Option.bind (fun b -> firstNonFiniteIn "best.score" [| b.Score |]))

    /// Window inference into `w.Kernel.Inputs` (as `Objective.trajectory`): returns the iteration
    /// counts' sum and the number of steps that reached `max_iter`, and the step count. `cancel` is
    /// checked before every time step (`OperationCanceledException`).
    let private infer
        (cancel: Threading.CancellationToken)
        (cfg: Config)
        (w: Workspace)
        (init: Carry option)
        (X: float[,,])
        =
        let batch, time = Array3D.length1 X, Array3D.length2 X
        let d, r, r2 = cfg.InputDim, cfg.RDim, cfg.R2Dim
        let offset = if init.IsSome then 0 else 1
        let steps = time - offset
        let inputs = w.Kernel.Inputs
        inputs.Resize(FusedObjective.shape cfg, batch, steps, init.IsNone)

        if init.IsNone then
            for b in 0 .. batch - 1 do
                for f in 0 .. d - 1 do
                    inputs.X0[b * d + f] <- X[b, 0, f]

        for k in 0 .. steps - 1 do
            for b in 0 .. batch - 1 do
                let row = (k * batch + b) * d

                for f in 0 .. d - 1 do
                    inputs.X[row + f] <- X[b, k + offset, f]

        match init with
        | Some c ->
            Buffer.BlockCopy(c.R, 0, inputs.RPrev, 0, batch * r * sizeof<float>)
            Buffer.BlockCopy(c.R2, 0, inputs.R2Prev, 0, batch * r2 * sizeof<float>)
        | None ->
            Array.Clear(inputs.RPrev, 0, batch * r)
            Array.Clear(inputs.R2Prev, 0, batch * r2)

        let inside, _ = Inference.dataDomain cfg.Loss
        let kernel = Fused.kernel cfg
        let settings = Fused.settings cfg
        let single = cfg.Backend = Backend.FusedFloat32
        w.Iters <- grow w.Iters batch
        let iters = w.Iters.AsSpan(0, batch)
        let mutable total = 0.0
        let mutable atMax = 0

        if single then
            w.X32 <- grow w.X32 (steps * batch * d)
            w.R32 <- grow w.R32 (steps * batch * r)
            w.R2_32 <- grow w.R2_32 (steps * batch * r2)
            w.RP0_32 <- grow w.RP0_32 (batch * r)
            w.R2P0_32 <- grow w.R2P0_32 (batch * r2)
            w.RHat32 <- grow w.RHat32 (batch * r)

            for i in 0 .. steps * batch * d - 1 do
                w.X32[i] <- float32 inputs.X[i]

            for i in 0 .. batch * r - 1 do
                w.RP0_32[i] <- float32 inputs.RPrev[i]

            for i in 0 .. batch * r2 - 1 do
                w.R2P0_32[i] <- float32 inputs.R2Prev[i]
        else
            w.RHat <- grow w.RHat (batch * r)

        for k in 0 .. steps - 1 do
            cancel.ThrowIfCancellationRequested()

            if cfg.Loss <> LossKind.MSE then
                let x0 = k * batch * d

                for i in x0 .. x0 + batch * d - 1 do
                    if not (inside inputs.X[i]) then
                        Inference.checkDomain cfg "x" (Forward.timeStep X (k + offset))

            let xs, rs, r2s = k * batch * d, k * batch * r, k * batch * r2

            let stats =
                if single then
                    let rP =
                        if k = 0 then
                            ReadOnlySpan(w.RP0_32, 0, batch * r)
                        else
                            ReadOnlySpan(w.R32, rs - batch * r, batch * r)

                    let r2P =
                        if k = 0 then
                            ReadOnlySpan(w.R2P0_32, 0, batch * r2)
                        else
                            ReadOnlySpan(w.R2_32, r2s - batch * r2, batch * r2)

                    let st =
                        kernel.Infer(
                            w.Model.Single,
                            settings,
                            batch,
                            ReadOnlySpan(w.X32, xs, batch * d),
                            rP,
                            r2P,
                            Span(w.R32, rs, batch * r),
                            Span(w.R2_32, r2s, batch * r2),
                            Span(w.RHat32, 0, batch * r),
                            iters
                        )

                    for i in rs .. rs + batch * r - 1 do
                        inputs.R[i] <- float w.R32[i]

                    for i in r2s .. r2s + batch * r2 - 1 do
                        inputs.R2[i] <- float w.R2_32[i]

                    st
                else
                    kernel.Infer(
                        w.Model.Double,
                        settings,
                        batch,
                        ReadOnlySpan(inputs.X, xs, batch * d),
                        ReadOnlySpan(inputs.RPrev, rs, batch * r),
                        ReadOnlySpan(inputs.R2Prev, r2s, batch * r2),
                        Span(inputs.R, rs, batch * r),
                        Span(inputs.R2, r2s, batch * r2),
                        Span(w.RHat, 0, batch * r),
                        iters
                    )

            Fused.checkDiverged cfg "inf" stats
            total <- total + float stats.Iterations

            if stats.Iterations >= cfg.MaxIter then
                atMax <- atMax + 1

            if k + 1 < steps then
                Array.Copy(inputs.R, rs, inputs.RPrev, rs + batch * r, batch * r)
                Array.Copy(inputs.R2, r2s, inputs.R2Prev, r2s + batch * r2, batch * r2)

        total, atMax, steps

    /// One training step on packed buffers: what `Train.step` returns (its generic path, bit for bit).
    let private stepOn
        (cancel: Threading.CancellationToken)
        (w: Workspace)
        (cfg: Config)
        (state: TrainState)
        (X: float[,,])
        : TrainState * StepMetrics =
        let p = state.Params
        let init = if cfg.Stateful then state.Carry else None
        let count = w.Count

        let iterSum, atMax, steps, values =
            TrainingDivergence.guardInference state.Epoch state.Batch "the training step" (fun () ->
                match built.TryGetValue p with
                | true, c when c = cfg -> ()
                | _ -> Model.checkParams cfg p

                let batch, _ =
                    Shape.checkWindow (nameof X) (if init.IsSome then 1 else 2) cfg.InputDim X

                Shape.checkFiniteArray3 (nameof X) X

                match init with
                | Some c ->
                    Shape.checkMatrix "init.R" batch cfg.RDim c.R
                    Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2
                    Shape.checkFiniteMatrix "rP" c.R
                    Shape.checkFiniteMatrix "r2" c.R2
                | None -> ()

                pack p w.P
                w.RefillModel()
                let iterSum, atMax, steps = infer cancel cfg w init X
                w.Kernel.Run w.P
                iterSum, atMax, steps, w.Kernel.Values)

        let hat, bar, temp, r2 = values[0], values[1], values[2], values[3]
        let grads = w.Kernel.Gradients
        let cosReg, orthR2 = core cfg w
        let coreValue = cfg.CosEta * cosReg + cfg.OrthAlphaR2 * orthR2
        let optValue = optional cfg w p
        let total = 0.0 + hat + bar + temp + r2 + coreValue + optValue
        let g, cg, og = w.G, w.Core, w.Optional
        let tasks = GradNorm.taskCount cfg

        let gradNorm, gnStep =
            if cfg.GradNorm then
                let t = w.Tasks

                for i in 0 .. count - 1 do
                    t[0][i] <- grads[i] + og[i]
                    t[1][i] <- grads[count + i] + og[i]
                    t[2][i] <- grads[2 * count + i] + cg[i] + og[i]

                    if tasks = 4 then
                        t[3][i] <- grads[3 * count + i] + og[i]

                let a = state.GradNorm.Weights

                for i in 0 .. count - 1 do
                    let mutable s = 0.0

                    for k in 0 .. tasks - 1 do
                        s <- s + a[k] * t[k][i]

                    g[i] <- s

                let losses =
                    [|
                        yield 0.0 + hat + optValue
                        yield 0.0 + bar + optValue
                        yield 0.0 + temp + coreValue + optValue
                        if tasks = 4 then
                            yield 0.0 + r2 + optValue
                    |]

                let norms (a: float[]) =
                    Array.init a.Length (fun k ->
                        let mutable s = 0.0

                        for li in w.ByName do
                            let l = w.Leaves[li]

                            s <-
                                s
                                + (if GradNorm.inTask k l.Name then
                                       sqrt (sumSquares t[k] l.Start l.Length)
                                   else
                                       0.0)

                        a[k] * s)

                let update = GradNorm.updateWith cfg state.GradNorm losses norms
                update.State, Some update.Step
            else
                for i in 0 .. count - 1 do
                    let mutable s = 0.0
                    s <- s + 1.0 * grads[i]
                    s <- s + 1.0 * grads[count + i]
                    s <- s + 1.0 * grads[2 * count + i]
                    s <- s + 1.0 * grads[3 * count + i]
                    s <- s + 1.0 * cg[i]
                    s <- s + 1.0 * og[i]
                    g[i] <- s

                state.GradNorm, None

        // Optim.clipGradNorm.
        if not (cfg.ClipGrad > 0.0) then
            invalidArg "maxNorm" $"maxNorm: expected a positive norm, got {cfg.ClipGrad}."

        let normBeforeClip =
            let mutable s = 0.0

            for l in w.Leaves do
                s <- s + sumSquares g l.Start l.Length

            sqrt s

        let coef = min 1.0 (cfg.ClipGrad / (normBeforeClip + 1e-6))

        for i in 0 .. count - 1 do
            g[i] <- coef * g[i]

        // Optim.adamW with Train.groups' rates.
        let h = Optim.adamWDefaults
        let step = state.Optimizer.Step + 1
        // Optim.adamW's checks, with its errors: moments shaped like the parameters, a step count >= 1.
        let sameLeaves (m: Params) =
            let a, b = FusedObjective.tensors p, FusedObjective.tensors m

            List.length a = List.length b
            && List.forall2 (fun (x: Array) (y: Array) -> x.Length = y.Length) a b

        if not (sameLeaves state.Optimizer.ExpAvg && sameLeaves state.Optimizer.ExpAvgSq) then
            ParamTree.mismatch ()

        if step < 1 then
            invalidArg (nameof step) $"step: expected a step count >= 1, got {step}."

        pack state.Optimizer.ExpAvg w.M
        pack state.Optimizer.ExpAvgSq w.V
        let factor = Optim.scheduleFactor cfg state.Epoch
        let bc1 = 1.0 - Math.Pow(h.Beta1, float step)
        let bc2Sqrt = sqrt (1.0 - Math.Pow(h.Beta2, float step))
        let pv, m, v = w.P, w.M, w.V

        for l in w.Leaves do
            let grp = Optim.groupOf cfg l.Name
            let lr = grp.LearningRate * factor
            let wd = grp.WeightDecay

            for i in l.Start .. l.Start + l.Length - 1 do
                let gi = g[i]
                let mi = m[i] + (1.0 - h.Beta1) * (gi - m[i])
                let vi = h.Beta2 * v[i] + (1.0 - h.Beta2) * gi * gi
                m[i] <- mi
                v[i] <- vi
                let decayed = pv[i] * (1.0 - lr * wd)
                pv[i] <- decayed - (lr / bc1) * mi / (sqrt vi / bc2Sqrt + h.Eps)

        normalize cfg w

        if cfg.TrainingPrecision = TrainingPrecision.Float32 then
            for a in [| pv; m; v |] do
                for i in 0 .. count - 1 do
                    a[i] <- float (float32 a[i])

        let newParams = FusedObjective.unpack p pv 0
        built.AddOrUpdate(newParams, cfg)

        let carry =
            if cfg.Stateful then
                let inputs = w.Kernel.Inputs
                let batch = inputs.Batch
                let rr = Array2D.zeroCreate batch cfg.RDim
                let rr2 = Array2D.zeroCreate batch cfg.R2Dim
                Buffer.BlockCopy(inputs.R, (steps - 1) * batch * cfg.RDim * 8, rr, 0, batch * cfg.RDim * 8)
                Buffer.BlockCopy(inputs.R2, (steps - 1) * batch * cfg.R2Dim * 8, rr2, 0, batch * cfg.R2Dim * 8)
                Some { R = rr; R2 = rr2 }
            else
                None

        let next =
            { state with
                Params = newParams
                Optimizer =
                    {
                        Step = step
                        ExpAvg = FusedObjective.unpack p m 0
                        ExpAvgSq = FusedObjective.unpack p v 0
                    }
                GradNorm = gradNorm
                Batch = state.Batch + 1
                Carry = carry
            }

        let diverged quantity value =
            raise (TrainingDivergedException(state.Epoch, state.Batch, quantity, value))

        if not (Double.IsFinite total) then
            diverged "the loss" total

        match nonFinite w next with
        | Some(quantity, value) -> diverged quantity value
        | None -> ()

        next,
        {
            Losses =
                {
                    SpatialLossRHat = hat
                    SpatialLossRBar = bar
                    TempLoss = temp
                    R2Loss = r2
                }
            CosReg = cosReg
            OrthR2 = orthR2
            Regularisers = optValue
            Total = total
            GradNormBeforeClip = normBeforeClip
            GradNorm = gnStep
            MeanIterations = iterSum / float steps
            MaxIterShare = float atMax / float steps
        }

    /// `step`, checking `cancel` before every time step of the window's inference: raises
    /// `OperationCanceledException` (nothing of the step returned) once it is cancelled.
    let stepCancellable
        (cancel: Threading.CancellationToken)
        (cfg: Config)
        (state: TrainState)
        (X: float[,,])
        : TrainState * StepMetrics =
        let shape = FusedObjective.shape cfg
        let float32 = cfg.TrainingPrecision = TrainingPrecision.Float32
        let variant = TrainingKernels.Find shape

        let bag =
            pool.GetOrAdd(struct (shape, float32, variant.Variant.Name), fun _ -> ConcurrentBag())

        let w =
            match bag.TryTake() with
            | true, w -> w
            | _ -> Workspace(cfg, variant.CreateTraining(shape, float32))

        try
            stepOn cancel w cfg state X
        finally
            bag.Add w

    /// One training step of `Train.step` on a pooled workspace for `cfg` (validated; `supports`).
    let step (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        stepCancellable Threading.CancellationToken.None cfg state X
