/// Numerical derivatives of pure scalar functions in float64, for checking analytic gradients:
/// central differences with a step scaled to each entry, and the norm-wise relative error that
/// compares an analytic gradient with them. No function here mutates its inputs.
[<RequireQualifiedAccess>]
module TiDHy.Functional.Tests.GradientCheck

open System

/// The largest norm-wise relative error allowed between an analytic gradient and central
/// differences in float64, in every gradient check.
let tolerance = 1e-6

/// The default central-difference step for an entry `v`: `1e-6·max(1, |v|)`.
let defaultStep (v: float) = 1e-6 * max 1.0 (abs v)

/// `∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (x_i⁺ − x_i⁻)` for every entry `i` of `x [n]`, with
/// `h = step x_i`; the denominator is the exact distance between the two representable points
/// evaluated, so the rounding of `x_i ± h` does not bias the quotient. Returns `[n]`.
let centralDifferenceWith (step: float -> float) (f: float[] -> float) (x: float[]) : float[] =
    let probe = Array.copy x

    Array.init x.Length (fun i ->
        let h = step x[i]
        let plus, minus = x[i] + h, x[i] - h
        probe[i] <- plus
        let fPlus = f (Array.copy probe)
        probe[i] <- minus
        let fMinus = f (Array.copy probe)
        probe[i] <- x[i]
        (fPlus - fMinus) / (plus - minus))

/// `centralDifferenceWith defaultStep`: the numerical gradient `[n]` of `f` at `x [n]`.
let centralDifference (f: float[] -> float) (x: float[]) : float[] = centralDifferenceWith defaultStep f x

/// The numerical gradient `[rows; cols]` of `f` at the matrix `x [rows; cols]`, entry by entry,
/// with steps from `step` (see `centralDifferenceWith`).
let centralDifferenceMatrixWith (step: float -> float) (f: float[,] -> float) (x: float[,]) : float[,] =
    let rows, cols = Array2D.length1 x, Array2D.length2 x

    let ofFlat (v: float[]) =
        Array2D.init rows cols (fun i j -> v[i * cols + j])

    let g = centralDifferenceWith step (ofFlat >> f) (Seq.cast<float> x |> Seq.toArray)
    ofFlat g

/// `centralDifferenceMatrixWith defaultStep`: the numerical gradient `[rows; cols]` of `f` at `x`.
let centralDifferenceMatrix (f: float[,] -> float) (x: float[,]) : float[,] =
    centralDifferenceMatrixWith defaultStep f x

/// The numerical gradients of `f` with respect to each of several matrices `xs` (each
/// `[rows_k; cols_k]`), the others held at their values; returns one gradient per matrix.
let centralDifferenceMatrices (f: float[,][] -> float) (xs: float[,][]) : float[,][] =
    xs
    |> Array.mapi (fun k xk ->
        centralDifferenceMatrix
            (fun v ->
                let args = Array.copy xs
                args[k] <- v
                f args)
            xk)

/// The entries of a matrix, row-major.
let flatten (a: float[,]) = Seq.cast<float> a |> Seq.toArray

/// `‖a − e‖₂ / ‖e‖₂`, the norm-wise relative error of `actual` against `expected` (`‖a‖₂` when
/// `expected` is all zeros; NaN when any entry is NaN; infinity when the lengths differ).
let relativeError (actual: float seq) (expected: float seq) =
    let a = Seq.toArray actual
    let e = Seq.toArray expected

    if a.Length <> e.Length then
        infinity
    elif Array.exists Double.IsNaN a || Array.exists Double.IsNaN e then
        nan
    else
        let norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)
        let diff = norm (Array.map2 (-) a e)
        let scale = norm e
        if scale = 0.0 then diff else diff / scale

/// Central differences of a vector-valued function of the parameters: for every output `k` of
/// `f p [K]`, a tree shaped like `p` holding `∂f_k/∂θ` for each parameter θ, each entry perturbed
/// by `defaultStep` on its own (the other leaves stay exactly as in `p`).
let paramGradients (f: TiDHy.Functional.Params -> float[]) (p: TiDHy.Functional.Params) : TiDHy.Functional.Params[] =
    let outputs = (f p).Length
    let results = Collections.Generic.Dictionary<string, float[][]>()

    for name, data in TiDHy.Functional.ParamTree.leaves p do
        let grads = Array.init outputs (fun _ -> Array.zeroCreate<float> data.Length)

        let at (i: int) (v: float) =
            let probe = Array.copy data
            probe[i] <- v

            TiDHy.Functional.ParamTree.mapN (fun n leaves -> if n = name then probe else leaves[0]) [| p |]
            |> f

        for i in 0 .. data.Length - 1 do
            let h = defaultStep data[i]
            let plus, minus = data[i] + h, data[i] - h
            let fPlus, fMinus = at i plus, at i minus

            for k in 0 .. outputs - 1 do
                grads[k][i] <- (fPlus[k] - fMinus[k]) / (plus - minus)

        results[name] <- grads

    TiDHy.Functional.ParamTree.mapMany outputs (fun name _ -> results[name]) [| p |]

/// The norm-wise relative error of two parameter trees of the same structure, all leaves together.
let paramRelativeError (actual: TiDHy.Functional.Params) (expected: TiDHy.Functional.Params) =
    let flat (p: TiDHy.Functional.Params) =
        TiDHy.Functional.ParamTree.leaves p |> List.toArray |> Array.collect snd

    relativeError (flat actual) (flat expected)
