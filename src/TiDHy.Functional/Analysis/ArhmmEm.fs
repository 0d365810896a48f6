namespace TiDHy.Functional

open System
open ArhmmCore

/// The EM of `Arhmm.fit`: the shared context of a fit, the parameters in centred coordinates, the
/// exact M-step, the E-step with the MAP objective, one restart of EM, and the starting labels
/// (Arhmm.fsi documents the model, the priors and the restarts).
module internal ArhmmEm =

    /// What every restart of a fit shares: the centred design, the priors, the first step's term.
    type Context =
        {
            Design: Design
            K: int
            Lambda: float
            Psi: float
            First: float
        }

    /// The parameters during a fit, in centred coordinates (`W_k = [A_k, b_k − (I − A_k)·m]`).
    type Theta =
        {
            Pi: float[]
            P: float[,]
            W: float[,][]
            Sigma: float[,][]
        }

    let mStep (c: Context) (gamma: float[]) (xi: float[,]) =
        let k = c.K
        let d = c.Design.D
        let s, weight = moments c.Design gamma k
        let steps = dynamicsStep d c.Lambda c.Psi
        let dyn = Array.init k (fun st -> steps s[st] weight[st])
        let rows = Array.init k (fun j -> normalise PseudoCount xi[j, *])

        {
            Pi = normalise PseudoCount gamma[0 .. k - 1]
            P = Array2D.init k k (fun j st -> rows[j][st])
            W = dyn |> Array.map fst
            Sigma = dyn |> Array.map snd
        }

    /// The hard-label M-step that starts a restart: one-hot posteriors and transition counts.
    let initialTheta (c: Context) (labels: int[]) =
        let k = c.K
        let gamma = Array.zeroCreate (labels.Length * k)
        let xi = Array2D.zeroCreate k k

        labels |> Array.iteri (fun t s -> gamma[t * k + s] <- 1.0)

        for t in 1 .. labels.Length - 1 do
            xi[labels[t - 1], labels[t]] <- xi[labels[t - 1], labels[t]] + 1.0

        mStep c gamma xi

    /// The E-step of `theta`: its posteriors and MAP objective.
    let eStep (c: Context) (theta: Theta) =
        let ls =
            theta.Sigma
            |> Array.map (fun s ->
                match tryCholesky s with
                | Some l -> l
                | None -> raise (InvalidOperationException "Arhmm.fit: a covariance lost positive definiteness."))

        let es = Array.init c.K (fun s -> emission theta.W[s] ls[s])
        let logB = emissions c.Design es c.First
        let post = forwardBackward theta.Pi theta.P logB (c.Design.Transitions + 1)

        let dirichlet =
            PseudoCount
            * (Array.sumBy log theta.Pi + (theta.P |> Seq.cast<float> |> Seq.sumBy log))

        let dynamics =
            Array.init c.K (fun s -> dynamicsLogPrior c.Lambda c.Psi theta.W[s] ls[s])
            |> Array.sum

        let prior = dirichlet + dynamics

        post, post.LogLikelihood + prior

    /// One restart of EM from hard labels: the final parameters, histories, iterations, converged.
    let runEm (c: Context) (iterations: int) (tolerance: float) (labels: int[]) =
        let lls = ResizeArray()
        let objs = ResizeArray()
        let mutable theta = initialTheta c labels
        let mutable ran = 0
        let mutable converged = false
        let mutable go = true

        while go do
            let post, obj = eStep c theta
            lls.Add post.LogLikelihood
            objs.Add obj

            if objs.Count >= 2 && abs (obj - objs[objs.Count - 2]) <= tolerance * abs obj then
                converged <- true
                go <- false
            elif ran = iterations then
                go <- false
            else
                theta <- mStep c post.Gamma post.Xi
                ran <- ran + 1

        theta, lls.ToArray(), objs.ToArray(), ran, converged

    /// Random contiguous blocks of states, about 10 per state, from `key`: `[T]`.
    let randomBlocks (key: Key) (k: int) (t: int) =
        let length = max 1 (t / (10 * k))
        let blocks = (t + length - 1) / length
        let u = Random.uniform01 key blocks
        Array.init t (fun i -> min (k - 1) (int (u[i / length] * float k)))

    /// k-means on `[x_t, x_{t−1}]` (centred) from `key`: `[T]`, the first step labelled as the second.
    let kMeansLabels (key: Key) (ds: Design) (k: int) =
        let d = ds.D
        let n = ds.Transitions

        let features =
            Array2D.init n (2 * d) (fun t j ->
                if j < d then
                    ds.Columns[d + 1 + j][t]
                else
                    ds.Columns[j - d][t])

        let labels = (Clustering.kMeans key k features).Labels
        Array.append [| labels[0] |] labels
