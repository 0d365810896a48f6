namespace TiDHy.Functional

/// The settings of an ARHMM fit (`Arhmm.fit`).
type ArhmmOptions =
    {
        /// The number of discrete states `K`, `>= 1` (`K = 1` is a single AR(1) model).
        States: int
        /// The most EM iterations (M-steps) per restart, `>= 1` (default 100).
        Iterations: int
        /// The number of restarts, `>= 1` (default 5); the one of largest final log-likelihood is kept.
        Restarts: int
        /// EM stops when the MAP objective changes by at most `Tolerance · |objective|` in one
        /// iteration (default 1e-6); finite and `>= 0`.
        Tolerance: float
    }

/// An autoregressive hidden Markov model (ARHMM, Linderman's `ssm` with `observations="ar"`,
/// `lags=1`): a Markov chain of `K` discrete states `z_t` (initial distribution `π`, transition
/// matrix `P`) and, for `t >= 1`, `x_t | z_t = k ~ N(A_k·x_{t−1} + b_k, Σ_k)` (full covariance). The
/// first step is drawn from one Gaussian `N(μ0, Σ0)` shared by every state, so it says nothing about
/// `z_0` (which `π` and the transitions to `z_1` decide). `d` is the dimension of `x`.
type ArhmmModel =
    {
        /// `π [K]`: the distribution of `z_0`.
        Initial: float[]
        /// `P [K; K]`: `P[j, k] = p(z_t = k | z_{t−1} = j)`, rows summing to 1.
        Transition: float[,]
        /// `A_k`: `[K]` matrices `[d; d]`.
        Dynamics: float[,][]
        /// `b_k`: `[K]` vectors `[d]`.
        Bias: float[][]
        /// `Σ_k`: `[K]` symmetric positive-definite matrices `[d; d]`.
        Covariance: float[,][]
        /// `μ0 [d]`: the mean of the first step (a fit sets the training series' mean).
        InitialMean: float[]
        /// `Σ0 [d; d]`: the covariance of the first step (a fit sets the training series'
        /// covariance, population, plus the diagonal floor of `Σ_k`).
        InitialCovariance: float[,]
    }

/// The result of `Arhmm.fit`: the kept restart's model and how EM went.
type ArhmmFit =
    {
        /// The fitted model (of the kept restart).
        Model: ArhmmModel
        /// `log p(x | Model)` on the training series (`Arhmm.logLikelihood Model x`, to rounding).
        LogLikelihood: float
        /// The MAP objective of `Model`: `LogLikelihood` plus the log-priors (`Arhmm.fit`).
        Objective: float
        /// The log-likelihood before each M-step and after the last: `[Iterations + 1]`.
        LogLikelihoodHistory: float[]
        /// The MAP objective at the same points: `[Iterations + 1]`, non-decreasing (EM).
        ObjectiveHistory: float[]
        /// The final log-likelihood of every restart: `[Restarts]`.
        RestartLogLikelihoods: float[]
        /// The index of the kept restart.
        Restart: int
        /// The EM iterations (M-steps) the kept restart ran.
        Iterations: int
        /// Whether the kept restart met the tolerance before `Iterations` ran out.
        Converged: bool
    }

/// The held-out state accuracy of an ARHMM on one split (`Arhmm.stateAccuracy`).
type ArhmmAccuracy =
    {
        /// The share of test steps whose matched state is their true label.
        Accuracy: float
        /// The share of the most common label among the test steps.
        Chance: float
        /// The label each ARHMM state is matched to (on the training steps), −1 for an unmatched
        /// state: `[states]`.
        Mapping: int[]
        /// Training steps.
        TrainSize: int
        /// Test steps.
        TestSize: int
    }

/// What the ARHMM baseline finds on a series (`Arhmm.baseline`).
type ArhmmBaseline =
    {
        /// `log p(x | model) / T`.
        LogLikelihoodPerStep: float
        /// The most likely states (Viterbi) of the series: `[T]`.
        States: int[]
        /// The held-out accuracy on each split (empty without true labels).
        Accuracies: ArhmmAccuracy[]
        /// Mean accuracy over the splits (NaN without true labels).
        AccuracyMean: float
        /// Standard deviation (population) of the accuracies (NaN without true labels).
        AccuracyStd: float
        /// Mean chance level over the splits (NaN without true labels).
        ChanceMean: float
        /// The timescales of the model's stable modes (`Arhmm.timescales`).
        Timescales: float[]
        /// Its timescales compared with the true ones (`Arhmm.compareTimescales`), when those are known.
        TimescaleComparison: TruthComparison option
    }

/// The autoregressive HMM: the standard switching-dynamics baseline (Linderman's `ssm` ARHMM,
/// `observations="ar"`, `lags=1`), fitted by EM with a log-space forward–backward and several
/// restarts, and scored as TiDHy is: states matched to true labels on training steps and scored on
/// held-out blocks, timescales from the eigenvalues of the `A_k`.
[<RequireQualifiedAccess>]
module Arhmm =

    /// `{ States = 2; Iterations = 100; Restarts = 5; Tolerance = 1e-6 }` (set `States`).
    val defaults: ArhmmOptions

    /// The ridge on `[A_k, b_k]`, relative to the data: `λ = Ridge · tr(ΦᵀΦ) / (d + 1)` with `Φ` the
    /// regressors `[x_{t−1} − m, 1]` of the training series (`m` its mean): 1e-6.
    [<Literal>]
    val Ridge: float = 1e-6

    /// The covariance floor, relative to the data: every `Σ_k ⪰ CovarianceFloor · s · I` with `s`
    /// the training series' mean per-dimension variance (1 when that is 0): 1e-6.
    [<Literal>]
    val CovarianceFloor: float = 1e-6

    /// The Dirichlet pseudo-count added to the expected counts of `π` and of each row of `P`: 0.01.
    [<Literal>]
    val PseudoCount: float = 0.01

    /// Fits an ARHMM to `x [T; d]` by EM (MAP-EM; the priors below are what keep it finite on
    /// degenerate data). Each restart `r` starts from `Random.foldIn r key`: restart 0 from
    /// `Clustering.kMeans` on `[x_t, x_{t−1}]`, the others from random contiguous blocks of states
    /// (about 10 per state); each starts with an M-step on those hard labels. The E-step is a
    /// log-space forward–backward; the M-step is exact for the objective
    /// `log p(x) + α·Σ log π_k + α·Σ log P_jk + Σ_k [−½ log|Σ_k| − ½ tr(Σ_k⁻¹ (λ W_k W_kᵀ + ψ I))]`
    /// with `α = PseudoCount`, `W_k = [A_k, b_k − (I − A_k)·m]` (the bias about the series' mean
    /// `m`), `λ` as `Ridge` says and `ψ = CovarianceFloor · s · (T − 1)`; so `W_k` is the weighted
    /// ridge regression of `x_t − m` on `[x_{t−1} − m, 1]` and
    /// `Σ_k = (R_k + λ W_k W_kᵀ + ψ I) / (N_k + 1)` (`R_k` the weighted residual scatter, `N_k` the
    /// expected steps in state `k`), at least `CovarianceFloor · s · I`. `μ0`, `Σ0` are set from the
    /// series and stay fixed. The restart of largest final log-likelihood is kept. Raises
    /// `ArgumentException` for bad options, `x` with no column, fewer than `K·(d + 1) + 2` steps, or
    /// a value that is not finite.
    val fit: key: Key -> options: ArhmmOptions -> x: float[,] -> ArhmmFit

    /// `log p(x | model)` of `x [T; d]` (forward algorithm in log space). Raises `ArgumentException`
    /// for a model whose shapes disagree with each other or with `x`, whose `π` or rows of `P` are
    /// not distributions, whose covariances are not positive definite, or for non-finite `x`.
    val logLikelihood: model: ArhmmModel -> x: float[,] -> float

    /// `p(z_t = k | x)` for `x [T; d]` (forward–backward in log space): `[T; K]`, rows summing to 1.
    val posteriors: model: ArhmmModel -> x: float[,] -> float[,]

    /// The most likely state sequence of `x [T; d]` (Viterbi in log space; ties to the lower
    /// state): `[T]`.
    val mostLikelyStates: model: ArhmmModel -> x: float[,] -> int[]

    /// The modes of each `A_k` with time step `dt` (`Timescales.modes`): `[K]`.
    val modes: dt: float -> model: ArhmmModel -> DynamicsMode[][]

    /// The timescales `τ = −dt / log|λ|` of the stable modes (`0 < |λ| < 1`) of the `A_k`: one per
    /// real eigenvalue and per complex pair (`Timescales.modes`), state by state, longest first
    /// within a state. Unit-modulus, growing and zero modes are left out.
    val timescales: dt: float -> model: ArhmmModel -> float[]

    /// Draws `length` steps from `model`: the series `[length; d]` and its states `[length]`.
    val sample: key: Key -> model: ArhmmModel -> length: int -> float[,] * int[]

    /// The held-out accuracy of the states `predicted [n]` (in `0 … K − 1`) against `truth [n]`
    /// (labels `>= 0`): each state is matched to a different label so that the most training steps
    /// (`split.Train`) agree (Hungarian, `Clustering.linearSumAssignment`), and the matched labels
    /// are scored on `split.Test`; a step in an unmatched state counts as wrong.
    val stateAccuracy: split: DataSplit -> truth: int[] -> predicted: int[] -> ArhmmAccuracy

    /// Compares the recovered timescales with the true ones as the label-free read-out of a model's
    /// dynamics does (`EffectiveTimescales.compareToTruth` with tolerance 0.2: a one-to-one
    /// Hungarian matching on `|d − t|/t`, with recovery, precision and recall). The ARHMM's few
    /// timescales are compared as they are; `tidhy demo` and `tidhy eval` compare the cluster
    /// centres of every source, the ARHMM's included.
    val compareTimescales: recovered: float[] -> truth: float[] -> TruthComparison

    /// The baseline's read-out of `model` on `x [T; d]`: log-likelihood per step, the Viterbi states,
    /// with `truth [T]` their `stateAccuracy` on each of `splits` (mean, std, chance), the timescales
    /// (time step `dt`) and, with `trueTimescales`, their `compareTimescales`. The states are decoded
    /// from the whole series without labels; only the matching uses (training) labels.
    val baseline:
        dt: float ->
        model: ArhmmModel ->
        x: float[,] ->
        truth: int[] option ->
        splits: DataSplit[] ->
        trueTimescales: float[] option ->
            ArhmmBaseline
