namespace TiDHy.Functional

/// Dense float64 arithmetic on vectors `[n]` and row-major matrices `[rows; cols]`, and each
/// elementwise or normalising op's forward rule beside its derivative rule. This is the plain
/// reference arithmetic: clarity first, no allocation tricks.
[<RequireQualifiedAccess>]
module internal Numerics =

    /// `W·v` for `W [o; i]` and `v [i]`; returns `[o]`.
    let matVec (w: float[,]) (v: float[]) =
        Array.init (Array2D.length1 w) (fun o ->
            let mutable s = 0.0

            for i in 0 .. v.Length - 1 do
                s <- s + w[o, i] * v[i]

            s)

    /// `Wᵀ·g` for `W [o; i]` and `g [o]`; returns `[i]`.
    let matTVec (w: float[,]) (g: float[]) =
        Array.init (Array2D.length2 w) (fun i ->
            let mutable s = 0.0

            for o in 0 .. g.Length - 1 do
                s <- s + w[o, i] * g[o]

            s)

    /// Elementwise `a + b`, both `[n]`.
    let add (a: float[]) (b: float[]) = Array.map2 (+) a b

    /// Elementwise `a − b`, both `[n]`.
    let sub (a: float[]) (b: float[]) = Array.map2 (-) a b

    /// `c·a` for `a [n]`.
    let scale (c: float) (a: float[]) = Array.map (fun x -> c * x) a

    /// Euclidean norm of `a [n]`.
    let norm (a: float[]) = sqrt (Array.sumBy (fun x -> x * x) a)

    /// Row `i` of `a [rows; cols]`, as a new `[cols]` array.
    let row (a: float[,]) (i: int) =
        Array.init (Array2D.length2 a) (fun j -> a[i, j])

    /// The rows of `a [rows; cols]`, as `rows` arrays of `[cols]`.
    let rows (a: float[,]) = Array.init (Array2D.length1 a) (row a)

    /// Stacks `n` rows of equal length `m` into a matrix `[n; m]`; `m` is `cols` when there are no rows.
    let ofRows (cols: int) (rs: float[][]) =
        let m = if rs.Length = 0 then cols else rs[0].Length
        Array2D.init rs.Length m (fun i j -> rs[i][j])

    /// Frobenius norm of `a [rows; cols]`.
    let frobenius (a: float[,]) =
        let mutable s = 0.0
        a |> Array2D.iter (fun x -> s <- s + x * x)
        sqrt s

    /// `sign(x)` with `sign(0) = 0` (the subgradient of `|x|` that PyTorch uses).
    let sign (x: float) =
        if x > 0.0 then 1.0
        elif x < 0.0 then -1.0
        else 0.0

    /// Soft threshold `S(v, λ) = sign(v)·max(|v| − λ, 0)`: the proximal map of `λ|v|`.
    let softThreshold (lambda: float) (v: float) = sign v * max (abs v - lambda) 0.0

    /// ELU with α = 1: `v` if `v > 0`, else `exp(v) − 1`.
    let elu (v: float) = if v > 0.0 then v else exp v - 1.0

    /// Derivative of ELU at `v`: 1 if `v > 0`, else `exp(v)`.
    let eluDerivative (v: float) = if v > 0.0 then 1.0 else exp v

    /// ReLU: `max(v, 0)`.
    let relu (v: float) = if v > 0.0 then v else 0.0

    /// Derivative of ReLU at `v`, with ReLU′(0) = 0.
    let reluDerivative (v: float) = if v > 0.0 then 1.0 else 0.0

    /// Logistic sigmoid `1 / (1 + exp(−v))`.
    let sigmoid (v: float) = 1.0 / (1.0 + exp (-v))

    /// Derivative of the sigmoid, from its output `s = sigmoid(v)`: `s·(1 − s)`.
    let sigmoidDerivativeOfOutput (s: float) = s * (1.0 - s)

    /// LayerNorm's epsilon (PyTorch's default).
    [<Literal>]
    let LayerNormEps = TiDHy.Kernels.ModelConstants.LayerNormEps

    /// LayerNorm of `v [n]` with scale `gamma [n]` and shift `beta [n]`:
    /// `(v − mean)/sqrt(var + 1e-5)·γ + β`, biased variance.
    let layerNorm (gamma: float[]) (beta: float[]) (v: float[]) =
        let n = float v.Length
        let mean = Array.average v
        let var = (v |> Array.sumBy (fun x -> (x - mean) * (x - mean))) / n
        let sd = sqrt (var + LayerNormEps)
        Array.init v.Length (fun i -> (v[i] - mean) / sd * gamma[i] + beta[i])

    /// Vector–Jacobian product of `layerNorm gamma beta` at `v [n]`: the gradient with respect to
    /// `v` given the gradient `g [n]` of the output.
    let layerNormVjp (gamma: float[]) (v: float[]) (g: float[]) =
        let n = float v.Length
        let mean = Array.average v
        let var = (v |> Array.sumBy (fun x -> (x - mean) * (x - mean))) / n
        let sd = sqrt (var + LayerNormEps)
        let xhat = v |> Array.map (fun x -> (x - mean) / sd)
        let gx = Array.map2 (*) g gamma
        let meanG = Array.average gx
        let meanGX = (Array.map2 (*) gx xhat |> Array.sum) / n
        Array.init v.Length (fun i -> (gx[i] - meanG - xhat[i] * meanGX) / sd)
