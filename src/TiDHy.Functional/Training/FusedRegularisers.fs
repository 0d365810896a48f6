namespace TiDHy.Functional

open System

/// The regularisers, `Init.normalize` and the non-finite checks of `FusedStep` on the packed
/// vectors of a `Workspace`: each does the arithmetic of its `Params` counterpart (`Regularisers.core`,
/// `Regularisers.optional`, `Init.normalize`, `Checkpoint.nonFinite`) in the same order, so the
/// results are bitwise those of the generic step.
[<RequireQualifiedAccess>]
module internal FusedRegularisers =

    open FusedWorkspace

    /// `Σ x²` of `a[start .. start+len)` in order (`Array.sumBy (fun x -> x * x)`).
    let sumSquares (a: float[]) (start: int) (len: int) =
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
    let core (cfg: Config) (w: Workspace) =
        let p = w.P
        let t = leaf w ParamNames.Temporal
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
        let h0 = leaf w ParamNames.HypernetInputWeight
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
    let optional (cfg: Config) (w: Workspace) (p: Params) =
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
                    | 0 -> l1 dst ParamNames.Temporal
                    | 1 -> l1 dst ParamNames.HypernetOutputWeight
                    | 2 -> l1 dst ParamNames.SpatialDecoderWeight
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
    let normalize (cfg: Config) (w: Workspace) =
        let p = w.P

        if cfg.NormalizeSpatial then
            let l = leaf w ParamNames.SpatialDecoderWeight
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
            let t = leaf w ParamNames.Temporal

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
    let nonFinite (w: Workspace) (next: TrainState) =
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
