namespace TiDHy.Functional

open System
open MathNet.Numerics
open MathNet.Numerics.Optimization
open AnalysisChecks

// The public surface of this file and its documentation: LinearDecoder.fsi.
type FeatureScaler = { Mean: float[]; Scale: float[] }

type LinearModel =
    {
        Classes: int[]
        Coefficients: float[,]
        Intercepts: float[]
        Scaler: FeatureScaler
        C: float
        Evaluations: int
        GradientNorm: float
    }

[<RequireQualifiedAccess>]
module LinearDecoder =

    type private Simd = Numerics.Vector<float>

    [<Literal>]
    let defaultC = 1.0

    // ---------------------------------------------------------------- checks

    let private checkMatrix (name: string) (x: float[,]) =
        checkNotNull name x
        checkNotEmpty name (Array2D.length1 x)

        if Array2D.length2 x < 1 then
            fail name "expected at least one column, got none."

        for i in 0 .. Array2D.length1 x - 1 do
            for j in 0 .. Array2D.length2 x - 1 do
                if not (Double.IsFinite x[i, j]) then
                    fail name $"expected finite values, got {x[i, j]} at row {i}, column {j}."

    let private checkC (c: float) =
        if not (Double.IsFinite c && c > 0.0) then
            fail "c" $"expected a finite inverse regularisation strength > 0, got {c}."

    // ---------------------------------------------------------------- standardisation

    let fitScaler (x: float[,]) =
        checkMatrix (nameof x) x
        let n = Array2D.length1 x
        let d = Array2D.length2 x
        let eps = Math.Pow(2.0, -52.0) // NumPy's finfo(float64).eps

        let mean = Array.zeroCreate d

        for i in 0 .. n - 1 do
            for j in 0 .. d - 1 do
                mean[j] <- mean[j] + x[i, j]

        for j in 0 .. d - 1 do
            mean[j] <- mean[j] / float n

        let scale =
            Array.init d (fun j ->
                // scikit-learn's one-batch update: the two-pass variance with its rounding correction.
                let mutable sum = 0.0
                let mutable squares = 0.0

                for i in 0 .. n - 1 do
                    let r = x[i, j] - mean[j]
                    sum <- sum + r
                    squares <- squares + r * r

                let var = (squares - sum * sum / float n) / float n
                // scikit-learn's _is_constant_feature: a variance within rounding of 0.
                let bound = float n * eps * var + (float n * mean[j] * eps) ** 2.0

                if var <= bound then 1.0 else sqrt var)

        { Mean = mean; Scale = scale }

    let private checkColumns (name: string) (expected: int) (x: float[,]) =
        if Array2D.length2 x <> expected then
            fail name $"expected {expected} columns (those of the training rows), got {Array2D.length2 x}."

    let standardise (scaler: FeatureScaler) (x: float[,]) =
        checkNotNull (nameof scaler) scaler
        checkNotNull (nameof x) x
        checkColumns (nameof x) scaler.Mean.Length x
        Array2D.init (Array2D.length1 x) (Array2D.length2 x) (fun i j -> (x[i, j] - scaler.Mean[j]) / scaler.Scale[j])

    // ---------------------------------------------------------------- the objective

    /// `Σ_j a[ao + j]·b[bo + j]` over `len` entries, SIMD-wide.
    let private dot (a: float[]) (ao: int) (b: float[]) (bo: int) (len: int) =
        let w = Simd.Count
        let mutable acc = Simd.Zero
        let mutable j = 0

        while j + w <= len do
            acc <- acc + Simd(a, ao + j) * Simd(b, bo + j)
            j <- j + w

        let mutable s = Numerics.Vector.Dot(acc, Simd.One)

        while j < len do
            s <- s + a[ao + j] * b[bo + j]
            j <- j + 1

        s

    /// `y[yo + j] += alpha·x[xo + j]` over `len` entries, SIMD-wide.
    let private axpy (alpha: float) (x: float[]) (xo: int) (y: float[]) (yo: int) (len: int) =
        let w = Simd.Count
        let va = Simd alpha
        let mutable j = 0

        while j + w <= len do
            (Simd(y, yo + j) + va * Simd(x, xo + j)).CopyTo(y, yo + j)
            j <- j + w

        while j < len do
            y[yo + j] <- y[yo + j] + alpha * x[xo + j]
            j <- j + 1

    /// The problem as the optimiser sees it: row-major features `x [n·d]`, class indices `y [n]`,
    /// `k` classes, the penalty weight of each feature column `penalty [d]` and the scale of the
    /// intercepts: with `theta = [U row-major [K; d]; β [K]]`, the scores are `z_i = U·x_i + scale·β`
    /// and the objective `0.5·Σ_kj penalty[j]·U_kj² + C·Σ_i (logsumexp(z_i) − z_i[y_i])`.
    type private Problem =
        {
            C: float
            X: float[]
            N: int
            D: int
            Y: int[]
            K: int
            Penalty: float[]
            InterceptScale: float
        }

    /// The objective and its gradient at `theta`; the gradient is written into `grad`.
    let private evaluate (p: Problem) (theta: float[]) (grad: float[]) =
        let d = p.D
        let k = p.K
        let x = p.X
        let wLen = k * d
        let mutable f = 0.0

        for cls in 0 .. k - 1 do
            for j in 0 .. d - 1 do
                let u = theta[cls * d + j]
                f <- f + 0.5 * p.Penalty[j] * u * u
                grad[cls * d + j] <- p.Penalty[j] * u

        for j in wLen .. wLen + k - 1 do
            grad[j] <- 0.0

        let z = Array.zeroCreate k
        let mutable loss = 0.0

        for i in 0 .. p.N - 1 do
            let xo = i * d
            let yi = p.Y[i]
            let mutable m = Double.NegativeInfinity

            for cls in 0 .. k - 1 do
                z[cls] <- dot x xo theta (cls * d) d + p.InterceptScale * theta[wLen + cls]
                m <- max m z[cls]

            let zy = z[yi]
            let mutable s = 0.0

            for cls in 0 .. k - 1 do
                z[cls] <- exp (z[cls] - m) // now the shifted exponentials
                s <- s + z[cls]

            // logsumexp(z) − z[y], with logsumexp(z) = m + log Σ exp(z − m).
            loss <- loss + (m + log s - zy)

            for cls in 0 .. k - 1 do
                let r = p.C * (z[cls] / s - (if cls = yi then 1.0 else 0.0))
                grad[wLen + cls] <- grad[wLen + cls] + p.InterceptScale * r
                axpy r x xo grad (cls * d) d

        f + p.C * loss

    let private flat (x: float[,]) =
        let d = Array2D.length2 x
        Array.init (Array2D.length1 x * d) (fun i -> x[i / d, i % d])

    let objective (c: float) (x: float[,]) (y: int[]) (coefficients: float[,]) (intercepts: float[]) =
        checkC c
        checkMatrix (nameof x) x
        checkNotNull (nameof y) y
        checkNotNull (nameof coefficients) coefficients
        checkNotNull (nameof intercepts) intercepts
        let n = Array2D.length1 x
        let d = Array2D.length2 x
        let k = Array2D.length1 coefficients

        if y.Length <> n then
            fail (nameof y) $"expected {n} labels (the rows of x), got {y.Length}."

        if Array2D.length2 coefficients <> d || k < 1 then
            fail (nameof coefficients) $"expected [K >= 1; {d}], got [{k}; {Array2D.length2 coefficients}]."

        if intercepts.Length <> k then
            fail (nameof intercepts) $"expected {k} intercepts (the rows of coefficients), got {intercepts.Length}."

        if y |> Array.exists (fun v -> v < 0 || v >= k) then
            fail (nameof y) $"expected class indices in [0, {k - 1}]."

        let theta = Array.append (flat coefficients) intercepts
        let grad = Array.zeroCreate theta.Length

        let problem =
            {
                C = c
                X = flat x
                N = n
                D = d
                Y = y
                K = k
                Penalty = Array.create d 1.0
                InterceptScale = 1.0
            }

        let f = evaluate problem theta grad
        f, Array2D.init k d (fun cls j -> grad[cls * d + j]), grad[k * d ..]

    // ---------------------------------------------------------------- fitting

    let private checkRows (name: string) (expected: int) (labels: int[]) =
        checkNotNull name labels

        if labels.Length <> expected then
            fail name $"expected {expected} labels (the rows of the features), got {labels.Length}."

    /// Collinear features make the objective ill-conditioned, and L-BFGS slow on it. The fit
    /// minimises the same objective in coordinates where its Hessian is roughly the identity: with
    /// `Zᵀ·Z / n = V·Λ·Vᵀ` (the standardised training rows `z [n; d]`), `W = U·S·Vᵀ`, `b = s_b·β`,
    /// `S = diag(1 / sqrt(1 + κ·C·n·λ_j))`, `s_b = 1 / sqrt(1 + κ·C·n)`, `κ = (1/K)(1 − 1/K)` (the
    /// curvature of the softmax at uniform probabilities). The scores are `U·(S·Vᵀ·z) + s_b·β` and
    /// the penalty `0.5·‖W‖² = 0.5·Σ_kj S_j²·U_kj²` (V orthogonal): the objective's value is the same
    /// at corresponding points, and so is its minimiser. The problem in `U, β` (labels still to fill).
    let private precondition (c: float) (k: int) (z: float[,]) =
        let n = Array2D.length1 z
        let d = Array2D.length2 z
        let zm = LinearAlgebra.Matrix<float>.Build.DenseOfArray z

        let evd =
            (zm.TransposeThisAndMultiply zm / float n).Evd(LinearAlgebra.Symmetricity.Symmetric)

        let kappa = (1.0 / float k) * (1.0 - 1.0 / float k)

        let s =
            Array.init d (fun j -> 1.0 / sqrt (1.0 + kappa * c * float n * max 0.0 evd.EigenValues[j].Real))

        let v = evd.EigenVectors
        let rotated = (zm * v).ToArray()

        {
            C = c
            X = Array.init (n * d) (fun i -> rotated[i / d, i % d] * s[i % d])
            N = n
            D = d
            Y = [||]
            K = k
            Penalty = s |> Array.map (fun sj -> sj * sj)
            InterceptScale = 1.0 / sqrt (1.0 + kappa * c * float n)
        },
        v,
        s

    /// `theta = [U; β]` of the preconditioned problem → the coefficients `W = U·S·Vᵀ` `[K; d]` and
    /// the intercepts `s_b·β` `[K]`.
    let private unprecondition (problem: Problem, v: LinearAlgebra.Matrix<float>, s: float[]) (theta: float[]) =
        let k = problem.K
        let d = problem.D

        let us =
            LinearAlgebra.Matrix<float>.Build.Dense(k, d, fun cls j -> theta[cls * d + j] * s[j])

        (us * v.Transpose()).ToArray(), Array.init k (fun cls -> problem.InterceptScale * theta[k * d + cls])

    let fit (c: float) (trainX: float[,]) (trainY: int[]) =
        checkC c
        checkMatrix (nameof trainX) trainX
        let n = Array2D.length1 trainX
        let d = Array2D.length2 trainX
        checkRows (nameof trainY) n trainY
        let classes = Array.distinct trainY |> Array.sort
        let k = classes.Length
        let scaler = fitScaler trainX

        if k = 1 then
            {
                Classes = classes
                Coefficients = Array2D.zeroCreate 1 d
                Intercepts = [| 0.0 |]
                Scaler = scaler
                C = c
                Evaluations = 0
                GradientNorm = 0.0
            }
        else
            let index = classes |> Array.mapi (fun i v -> v, i) |> dict
            let y = trainY |> Array.map (fun v -> index[v])
            let z = standardise scaler trainX
            let size = k * d + k
            let rotatedProblem, v, s = precondition c k z
            let problem = { rotatedProblem with Y = y }
            let mutable evaluations = 0
            let mutable best = (Double.PositiveInfinity, Array.zeroCreate size)

            let objectiveFunction =
                ObjectiveFunction.Gradient(fun (point: LinearAlgebra.Vector<float>) ->
                    let theta = point.ToArray()
                    let grad = Array.zeroCreate size
                    let f = evaluate problem theta grad
                    evaluations <- evaluations + 1

                    if f < fst best then
                        best <- (f, theta)

                    struct (f, LinearAlgebra.Vector<float>.Build.Dense grad))

            // Relative gradient 1e-10 (MathNet scales each entry by max(|θ_i|, 1) / max(|f|, 1)),
            // lack of progress at 1e-12 relative change (its line search floors it at 1e-10), SciPy's
            // memory of 10 pairs.
            let minimizer = LimitedMemoryBfgsMinimizer(1e-10, 1e-12, 1e-15, 10, 10000)

            let theta =
                try
                    minimizer
                        .FindMinimum(objectiveFunction, LinearAlgebra.Vector<float>.Build.Dense size)
                        .MinimizingPoint.ToArray()
                with :? OptimizationException ->
                    snd best

            let coefficients, intercepts = unprecondition (problem, v, s) theta
            // Centre the intercepts: the probabilities do not change, the optimum becomes unique.
            let shift = Array.average intercepts
            let intercepts = intercepts |> Array.map (fun b -> b - shift)

            let original =
                { problem with
                    X = flat z
                    Penalty = Array.create d 1.0
                    InterceptScale = 1.0
                }

            let grad = Array.zeroCreate size
            evaluate original (Array.append (flat coefficients) intercepts) grad |> ignore

            {
                Classes = classes
                Coefficients = coefficients
                Intercepts = intercepts
                Scaler = scaler
                C = c
                Evaluations = evaluations
                GradientNorm = sqrt (Array.sumBy (fun g -> g * g) grad)
            }

    // ---------------------------------------------------------------- prediction

    let private checkModel (model: LinearModel) =
        checkNotNull (nameof model) model
        checkNotNull "model.Classes" model.Classes
        checkNotNull "model.Coefficients" model.Coefficients
        checkNotNull "model.Intercepts" model.Intercepts
        checkNotNull "model.Scaler" model.Scaler

    /// The scores `z = W·standardise(x) + b`: `[m; K]`.
    let private scores (model: LinearModel) (x: float[,]) =
        checkModel model
        checkMatrix (nameof x) x
        let d = Array2D.length2 model.Coefficients
        checkColumns (nameof x) d x
        let z = standardise model.Scaler x
        let k = model.Classes.Length

        Array2D.init (Array2D.length1 x) k (fun i cls ->
            let mutable s = model.Intercepts[cls]

            for j in 0 .. d - 1 do
                s <- s + model.Coefficients[cls, j] * z[i, j]

            s)

    let predictProbabilities (model: LinearModel) (x: float[,]) =
        let z = scores model x
        let k = Array2D.length2 z
        let p = Array2D.zeroCreate (Array2D.length1 z) k

        for i in 0 .. Array2D.length1 z - 1 do
            let mutable m = Double.NegativeInfinity

            for cls in 0 .. k - 1 do
                m <- max m z[i, cls]

            let mutable s = 0.0

            for cls in 0 .. k - 1 do
                p[i, cls] <- exp (z[i, cls] - m)
                s <- s + p[i, cls]

            for cls in 0 .. k - 1 do
                p[i, cls] <- p[i, cls] / s

        p

    let predict (model: LinearModel) (x: float[,]) =
        let z = scores model x

        Array.init (Array2D.length1 z) (fun i ->
            let mutable best = 0

            for cls in 1 .. Array2D.length2 z - 1 do
                if z[i, cls] > z[i, best] then
                    best <- cls

            model.Classes[best])

    let accuracy (c: float) (trainX: float[,]) (trainY: int[]) (testX: float[,]) (testY: int[]) =
        checkNotNull (nameof testX) testX
        checkRows (nameof testY) (Array2D.length1 testX) testY
        let predicted = predict (fit c trainX trainY) testX

        float (Array.fold2 (fun hits p y -> if p = y then hits + 1 else hits) 0 predicted testY)
        / float testY.Length
