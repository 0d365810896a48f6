namespace TiDHy.Functional

open System
open MathNet.Numerics.LinearAlgebra

/// The numerical kernels of `Arhmm`: the regression design of a series, the emission
/// log-densities, the log-space forward–backward and Viterbi, the weighted moments and the exact
/// M-step of the MAP objective (Arhmm.fsi documents the model and the priors).
module internal ArhmmCore =

    /// The Dirichlet pseudo-count of `π` and of each row of `P` (`Arhmm.PseudoCount`).
    [<Literal>]
    let PseudoCount = 0.01

    type private SimdVector = System.Numerics.Vector<float>

    let private log2Pi = log (2.0 * Math.PI)

    // ---------------------------------------------------------------- SIMD helpers

    /// `Σ a[aOff + i]·b[bOff + i]` for `i < len`.
    let dot (a: float[]) (aOff: int) (b: float[]) (bOff: int) (len: int) =
        let w = SimdVector.Count
        let mutable acc = SimdVector.Zero
        let mutable i = 0

        while i <= len - w do
            acc <- acc + SimdVector(a, aOff + i) * SimdVector(b, bOff + i)
            i <- i + w

        let mutable s = System.Numerics.Vector.Dot(acc, SimdVector.One)

        while i < len do
            s <- s + a[aOff + i] * b[bOff + i]
            i <- i + 1

        s

    /// `y[yOff + i] += c·x[xOff + i]` for `i < len`.
    let axpy (c: float) (x: float[]) (xOff: int) (y: float[]) (yOff: int) (len: int) =
        let w = SimdVector.Count
        let cv = SimdVector(c)
        let mutable i = 0

        while i <= len - w do
            (SimdVector(y, yOff + i) + cv * SimdVector(x, xOff + i)).CopyTo(y, yOff + i)
            i <- i + w

        while i < len do
            y[yOff + i] <- y[yOff + i] + c * x[xOff + i]
            i <- i + 1

    // ---------------------------------------------------------------- design

    /// The regression design of a series `x [T; d]` shifted by `shift [d]`: `q = 2d + 1` columns of
    /// `T − 1` transitions, `[x_{t−1} − shift, 1, x_t − shift]` for `t = 1 … T − 1`.
    type Design =
        {
            Columns: float[][]
            D: int
            Transitions: int
        }

    let design (x: float[,]) (shift: float[]) =
        let t = Array2D.length1 x
        let d = Array2D.length2 x
        let n = t - 1

        let columns =
            Array.init (2 * d + 1) (fun c ->
                if c < d then
                    Array.init n (fun s -> x[s, c] - shift[c])
                elif c = d then
                    Array.create n 1.0
                else
                    Array.init n (fun s -> x[s + 1, c - d - 1] - shift[c - d - 1]))

        {
            Columns = columns
            D = d
            Transitions = n
        }

    // ---------------------------------------------------------------- Gaussians

    let toMatrix (a: float[,]) = Matrix<float>.Build.DenseOfArray a

    /// The Cholesky factor of `sigma`, or `None` when it is not positive definite.
    let tryCholesky (sigma: float[,]) =
        let m = toMatrix sigma

        if m.Exists(fun v -> not (Double.IsFinite v)) then
            None
        else
            try
                let l = m.Cholesky().Factor

                if
                    Seq.init (Array2D.length1 sigma) (fun i -> l[i, i])
                    |> Seq.forall (fun v -> v > 0.0)
                then
                    Some l
                else
                    None
            with :? ArgumentException ->
                None

    /// `log N(v; mean, L·Lᵀ)`.
    let logDensity (l: Matrix<float>) (mean: float[]) (v: float[]) =
        let d = mean.Length
        let e = Vector<float>.Build.Dense(Array.init d (fun i -> v[i] - mean[i]))
        let u = l.Solve e // lower triangular: forward substitution
        let halfLogDet = Seq.init d (fun i -> log l[i, i]) |> Seq.sum
        -0.5 * float d * log2Pi - halfLogDet - 0.5 * (u * u)

    /// A state's emission prepared for the design: `M = L⁻¹·[−W, I]` (`[d; q]`) so that the
    /// whitened residual of a transition is `M·z`, and `½ log|Σ|`.
    type Emission = { M: float[,]; HalfLogDet: float }

    let emission (w: float[,]) (l: Matrix<float>) =
        let d = Array2D.length1 w
        let p = d + 1
        let b = Matrix<float>.Build.Dense(d, p + d)

        for i in 0 .. d - 1 do
            for j in 0 .. p - 1 do
                b[i, j] <- -w[i, j]

            b[i, p + i] <- 1.0

        {
            M = l.Solve(b).ToArray()
            HalfLogDet = Seq.init d (fun i -> log l[i, i]) |> Seq.sum
        }

    /// The emission log-densities `[T·K]` (row-major, `T = Transitions + 1`): row 0 is `first` for
    /// every state (the shared first-step Gaussian), row `t >= 1` is `log N(x_t; W_k·φ_t, Σ_k)`.
    /// Worked in chunks of steps that stay in cache.
    let emissions (ds: Design) (es: Emission[]) (first: float) =
        let n = ds.Transitions
        let d = ds.D
        let q = ds.Columns.Length
        let k = es.Length
        let logB = Array.zeroCreate ((n + 1) * k)

        for s in 0 .. k - 1 do
            logB[s] <- first

        let chunk = 256
        let u = Array.zeroCreate<float> chunk
        let sq = Array.zeroCreate<float> chunk
        let konst = -0.5 * float d * log2Pi

        for start in 0..chunk .. n - 1 do
            let len = min chunk (n - start)

            for s in 0 .. k - 1 do
                let e = es[s]
                Array.Clear(sq, 0, len)

                for i in 0 .. d - 1 do
                    Array.Clear(u, 0, len)

                    for j in 0 .. q - 1 do
                        let c = e.M[i, j]

                        if c <> 0.0 then
                            axpy c ds.Columns[j] start u 0 len

                    for t in 0 .. len - 1 do
                        sq[t] <- sq[t] + u[t] * u[t]

                let c0 = konst - e.HalfLogDet

                for t in 0 .. len - 1 do
                    logB[(start + t + 1) * k + s] <- c0 - 0.5 * sq[t]

        logB

    // ---------------------------------------------------------------- forward–backward

    /// The result of the E-step: `log p(x)`, the posteriors `[T·K]` (row-major) and the expected
    /// transition counts `Σ_t ξ_t [K; K]`.
    type Posterior =
        {
            LogLikelihood: float
            Gamma: float[]
            Xi: float[,]
        }

    let private maxOf (a: float[]) (off: int) (k: int) =
        let mutable m = Double.NegativeInfinity

        for j in 0 .. k - 1 do
            if a[off + j] > m then
                m <- a[off + j]

        m

    /// `log α [T·K]` and `log p(x)`: `log α_t[k] = log B_t[k] + m + log Σ_j e^{log α_{t−1}[j] − m}·P[j, k]`
    /// with `m = max_j log α_{t−1}[j]` (log-sum-exp with the maximum factored out).
    let forward (pi: float[]) (trans: float[,]) (logB: float[]) (t: int) =
        let k = pi.Length
        let la = Array.zeroCreate (t * k)
        let e = Array.zeroCreate<float> k

        for s in 0 .. k - 1 do
            la[s] <- log pi[s] + logB[s]

        for step in 1 .. t - 1 do
            let prev = (step - 1) * k
            let m = maxOf la prev k

            for j in 0 .. k - 1 do
                e[j] <- exp (la[prev + j] - m)

            for s in 0 .. k - 1 do
                let mutable acc = 0.0

                for j in 0 .. k - 1 do
                    acc <- acc + e[j] * trans[j, s]

                la[step * k + s] <- logB[step * k + s] + m + log acc

        let last = (t - 1) * k
        let m = maxOf la last k
        let mutable acc = 0.0

        for s in 0 .. k - 1 do
            acc <- acc + exp (la[last + s] - m)

        la, m + log acc

    /// The E-step: forward, backward (`log β`), the posteriors and the expected transition counts.
    let forwardBackward (pi: float[]) (trans: float[,]) (logB: float[]) (t: int) =
        let k = pi.Length
        let la, ll = forward pi trans logB t
        let lb = Array.zeroCreate (t * k)
        let v = Array.zeroCreate<float> k
        let e = Array.zeroCreate<float> k
        let ea = Array.zeroCreate<float> k

        for step in t - 2 .. -1 .. 0 do
            let next = (step + 1) * k

            for s in 0 .. k - 1 do
                v[s] <- logB[next + s] + lb[next + s]

            let m = maxOf v 0 k

            for s in 0 .. k - 1 do
                e[s] <- exp (v[s] - m)

            for j in 0 .. k - 1 do
                let mutable acc = 0.0

                for s in 0 .. k - 1 do
                    acc <- acc + trans[j, s] * e[s]

                lb[step * k + j] <- m + log acc

        let gamma = Array.zeroCreate (t * k)

        for step in 0 .. t - 1 do
            let mutable total = 0.0

            for s in 0 .. k - 1 do
                let g = exp (la[step * k + s] + lb[step * k + s] - ll)
                gamma[step * k + s] <- g
                total <- total + g

            for s in 0 .. k - 1 do
                gamma[step * k + s] <- gamma[step * k + s] / total

        let xi = Array2D.zeroCreate k k

        for step in 1 .. t - 1 do
            let prev = (step - 1) * k
            let ma = maxOf la prev k

            for j in 0 .. k - 1 do
                ea[j] <- exp (la[prev + j] - ma)

            for s in 0 .. k - 1 do
                v[s] <- logB[step * k + s] + lb[step * k + s]

            let mv = maxOf v 0 k

            for s in 0 .. k - 1 do
                e[s] <- exp (v[s] - mv)

            let scale = exp (ma + mv - ll)

            for j in 0 .. k - 1 do
                let a = scale * ea[j]

                for s in 0 .. k - 1 do
                    xi[j, s] <- xi[j, s] + a * trans[j, s] * e[s]

        {
            LogLikelihood = ll
            Gamma = gamma
            Xi = xi
        }

    /// The most likely state path (Viterbi in log space; ties to the lower state).
    let viterbi (pi: float[]) (trans: float[,]) (logB: float[]) (t: int) =
        let k = pi.Length
        let logP = Array2D.map log trans
        let delta = Array.init k (fun s -> log pi[s] + logB[s])
        let next = Array.zeroCreate<float> k
        let back = Array.zeroCreate<int>(t * k)

        for step in 1 .. t - 1 do
            for s in 0 .. k - 1 do
                let mutable best = Double.NegativeInfinity
                let mutable arg = 0

                for j in 0 .. k - 1 do
                    let c = delta[j] + logP[j, s]

                    if c > best then
                        best <- c
                        arg <- j

                back[step * k + s] <- arg
                next[s] <- logB[step * k + s] + best

            Array.blit next 0 delta 0 k

        let path = Array.zeroCreate t
        let mutable best = Double.NegativeInfinity

        for s in 0 .. k - 1 do
            if delta[s] > best then
                best <- delta[s]
                path[t - 1] <- s

        for step in t - 1 .. -1 .. 1 do
            path[step - 1] <- back[step * k + path[step]]

        path

    // ---------------------------------------------------------------- M-step

    /// The weighted moments `Σ_t w_t[k]·z_t·z_tᵀ` (`[q; q]`, lower triangle and diagonal) of each
    /// state and its weight `N_k = Σ_t w_t[k]`, from the posteriors `gamma [T·K]` (transitions
    /// `t = 1 … T − 1`).
    let moments (ds: Design) (gamma: float[]) (k: int) =
        let n = ds.Transitions
        let q = ds.Columns.Length
        let s = Array.init k (fun _ -> Array2D.zeroCreate<float> q q)
        let weight = Array.zeroCreate<float> k
        let chunk = 256
        let w = Array.zeroCreate<float> chunk
        let tmp = Array.zeroCreate<float> chunk

        for start in 0..chunk .. n - 1 do
            let len = min chunk (n - start)

            for st in 0 .. k - 1 do
                for t in 0 .. len - 1 do
                    w[t] <- gamma[(start + t + 1) * k + st]
                    weight[st] <- weight[st] + w[t]

                let sk = s[st]

                for i in 0 .. q - 1 do
                    let ci = ds.Columns[i]

                    for t in 0 .. len - 1 do
                        tmp[t] <- w[t] * ci[start + t]

                    for j in 0..i do
                        sk[i, j] <- sk[i, j] + dot tmp 0 ds.Columns[j] start len

        s, weight

    /// The exact M-step of a state's dynamics and noise from its moments `s [q; q]` and weight `n`:
    /// `W = S_yφ (S_φφ + λI)⁻¹`, `Σ = (S_yy − W·S_yφᵀ + ψI) / (n + 1)` (= `(R + λWWᵀ + ψI) / (n + 1)`).
    let dynamicsStep (d: int) (lambda: float) (psi: float) (s: float[,]) (n: float) =
        let p = d + 1
        let full i j = if j <= i then s[i, j] else s[j, i]

        let a =
            Matrix<float>.Build.Dense(p, p, (fun i j -> full i j + (if i = j then lambda else 0.0)))

        let b = Matrix<float>.Build.Dense(d, p, (fun i j -> full (p + i) j))
        let wt = a.Cholesky().Solve(b.Transpose()) // [p; d] = Wᵀ
        let w = wt.Transpose()
        let syy = Matrix<float>.Build.Dense(d, d, (fun i j -> full (p + i) (p + j)))
        let m = syy - w * b.Transpose()

        let sigma =
            Array2D.init d d (fun i j -> (0.5 * (m[i, j] + m[j, i]) + (if i = j then psi else 0.0)) / (n + 1.0))

        w.ToArray(), sigma

    /// `(counts + α) / (Σ counts + K·α)`: the MAP of a categorical under a Dirichlet pseudo-count `α`.
    let normalise (alpha: float) (counts: float[]) =
        let total = Array.sum counts + float counts.Length * alpha
        counts |> Array.map (fun c -> (c + alpha) / total)

    /// `−½ log|Σ| − ½ (λ‖L⁻¹W‖² + ψ‖L⁻¹‖²)`: the log-prior of one state's `W` and `Σ = L·Lᵀ`.
    let dynamicsLogPrior (lambda: float) (psi: float) (w: float[,]) (l: Matrix<float>) =
        let d = Array2D.length1 w
        let lw = l.Solve(toMatrix w)
        let li = l.Solve(Matrix<float>.Build.DenseIdentity d)
        let halfLogDet = Seq.init d (fun i -> log l[i, i]) |> Seq.sum

        -halfLogDet
        - 0.5 * (lambda * lw.FrobeniusNorm() ** 2.0 + psi * li.FrobeniusNorm() ** 2.0)
