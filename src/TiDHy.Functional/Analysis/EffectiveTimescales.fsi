namespace TiDHy.Functional

/// Representative timescales of a set (upstream's `cluster_timescales`, log space): the centres of
/// the non-empty bins of a histogram of `log10 τ`.
type TimescaleClusters =
    {
        /// The centre of each non-empty bin, `10^(bin centre)`, ascending.
        Centres: float[]
        /// How many timescales fell into each bin (all of them in the one cluster of a degenerate set).
        Counts: int[]
    }

/// A discovered timescale matched to a true one within the tolerance.
type TruthPair =
    {
        /// The discovered timescale.
        Discovered: float
        /// The true timescale it is matched to.
        True: float
        /// `|Discovered − True| / (True + 1e-10)` (upstream's cost).
        RelativeError: float
    }

/// Discovered timescales against true ones, as upstream's `compare_discovered_to_ground_truth`:
/// a one-to-one matching that minimises the summed relative error (Hungarian algorithm), of which
/// the pairs within the tolerance count.
type TruthComparison =
    {
        /// The matched pairs within the tolerance, in the order of the discovered timescales.
        Pairs: TruthPair[]
        /// `Pairs.Length`.
        Matched: int
        /// `Matched / truth count` (upstream's recovery rate; the same as `Recall`).
        Recovery: float
        /// `Matched / discovered count` (0 when nothing was discovered).
        Precision: float
        /// `Matched / truth count`.
        Recall: float
        /// The mean relative error of `Pairs` (NaN when there are none).
        MeanRelativeError: float
        /// The discovered timescales not in `Pairs`, in their order.
        FalsePositives: float[]
        /// The true timescales not in `Pairs`, in their order.
        FalseNegatives: float[]
        /// The relative tolerance.
        Tolerance: float
    }

/// Summary statistics of a set of timescales (NaN for all but `Count` when it is empty).
type TimescaleSummary =
    {
        /// How many timescales.
        Count: int
        /// Their mean.
        Mean: float
        /// Their median.
        Median: float
        /// Their standard deviation (population, as `numpy.std`).
        Std: float
        /// The shortest.
        Min: float
        /// The longest.
        Max: float
    }

/// The label-free timescales of a model's dynamics matrices (`V_t` over a record, or the basis
/// `V_k`): every stable mode pooled, their clusters, and, when the true timescales are known, the
/// clusters matched to them.
type LabelFreeTimescales =
    {
        /// Every stable timescale of the analysed matrices, ascending.
        Timescales: float[]
        /// The matrices analysed (the non-zero ones).
        Matrices: int
        /// The zero matrices skipped (the first step of each window evaluated without carry).
        ZeroSkipped: int
        /// Statistics of `Timescales`.
        Summary: TimescaleSummary
        /// The clusters of `Timescales` (`EffectiveTimescales.clusterTimescales`).
        Clusters: TimescaleClusters
        /// The cluster centres against the true timescales, when given (`compareToTruth`).
        Comparison: TruthComparison option
    }

/// The least-squares dynamics of one label in the per-state fit.
type LabelFit =
    {
        /// The label.
        Label: int
        /// The transitions `t → t+1` with both steps in the label that the fit used.
        Transitions: int
        /// The stable timescales of the fitted `U`, ascending (`spectrumTimescales`).
        Timescales: float[]
    }

/// The paper's per-state read-out: per label a least-squares `U` with `x[t+1] ≈ U·x[t]`, every
/// label's timescales pooled, and the nearest pooled timescale to each true one.
type PerStateFit =
    {
        /// The labels fitted, ascending.
        Fits: LabelFit[]
        /// The labels skipped: fewer transitions than features, or transitions whose features are
        /// rank-deficient (no unique least-squares `U`), ascending.
        Skipped: int[]
        /// The timescales of every fit, ascending.
        Pooled: float[]
        /// The true timescales, as given.
        Truth: float[]
        /// The pooled timescale nearest to each true one (NaN when nothing was pooled). Several true
        /// timescales may share one: this is not a one-to-one matching.
        Nearest: float[]
        /// `|Nearest − True| / True` per true timescale.
        RelativeErrors: float[]
        /// How many relative errors are at most the tolerance.
        Within: int
        /// The relative tolerance.
        Tolerance: float
    }

/// Timescales without labels, as upstream's `utils/analysis.py` defines them
/// (`compute_timescale_spectrum`, `analyze_effective_timescales`, `analyze_mixture_timescales`,
/// `cluster_timescales`, `compare_discovered_to_ground_truth`), and the paper's per-state fit.
/// Equal to a NumPy/SciPy restatement of those definitions on checked-in cases
/// (tests/scripts/make_timescales_expected.py).
///
/// Unlike `Timescales.modes`, which gives one mode per complex-conjugate pair, these count every
/// eigenvalue, as upstream does: a pair gives its timescale twice. Matching all pooled timescales
/// against the truth would match anything (there are thousands of them); the read-outs match the
/// cluster centres, as upstream's figure does.
[<RequireQualifiedAccess>]
module EffectiveTimescales =

    /// The stable timescales of `x_{t+1} = A·x_t` for `a [n; n]` with time step `dt`, ascending:
    /// for every eigenvalue `λ` of `A` (a complex pair counts twice) with `|λ| < 1`,
    /// `τ = −dt / log(clip(|λ|, 1e-10, 0.9999))` (so at most `−dt/log 0.9999 ≈ 9999.5·dt`, and about
    /// `0.0434·dt` for `λ = 0`); modes with `|λ| ≥ 1` are left out. Raises `ArgumentException` for a
    /// non-square or empty matrix, non-finite values, or a time step that is not finite and positive.
    val spectrumTimescales: dt: float -> a: float[,] -> float[]

    /// `spectrumTimescales` of every step's `V_t` of a record (`ut [windows; T; R; R]`, the record's
    /// `Ut`), pooled, ascending. Steps whose `V_t` is zero are skipped: the first step of a window
    /// evaluated without carry has no prediction and `Ut = 0`. Upstream includes them, each adding
    /// `R` timescales of `−dt/log 1e-10 ≈ 0.0434·dt` that describe no dynamics (they form a cluster
    /// of their own); skipping them keeps the read-out to the dynamics the model used.
    val effectiveTimescales: dt: float -> ut: float[,,,] -> float[]

    /// `spectrumTimescales` of each of a model's dynamics matrices `V_k` (`Model.dynamicsMatrices`,
    /// low-rank factors multiplied out), pooled, ascending (upstream's `analyze_mixture_timescales`);
    /// zero matrices are skipped, as in `effectiveTimescales`.
    val componentTimescales: dt: float -> p: Params -> float[]

    /// Clusters timescales in `log10` space as upstream's `cluster_timescales` (log-space branch,
    /// automatic bin count): `log10(τ + 1e-10)`; the Freedman–Diaconis width `2·IQR / n^(1/3)` (the
    /// quartiles by NumPy's linear interpolation); `⌊range / width⌋` bins, at least 1 and at most
    /// `n / 2` (integer division); a histogram over `[min, max]` with equal bins, each closed on the
    /// left and the last also on the right (`numpy.histogram`); the centres of the non-empty bins,
    /// as `10^centre`. When the IQR, the width or the range is below 1e-10 (one value, identical
    /// values, most values identical), the one cluster is the median of the timescales, holding all
    /// of them. Empty input gives no clusters. Raises `ArgumentException` for a timescale that is
    /// not finite and positive (upstream drops non-finite ones; `spectrumTimescales` never gives
    /// them).
    val clusterTimescales: timescales: float[] -> TimescaleClusters

    /// Compares `discovered` timescales with `truth` as upstream's `compare_discovered_to_ground_truth`:
    /// the cost of a pair is `|d − t| / (t + 1e-10)`; the assignment of least total cost (Hungarian
    /// algorithm, SciPy's `linear_sum_assignment`; `min(discovered, truth)` pairs) is kept, and the
    /// pairs whose cost is at most `tolerance` are matched. Where several assignments have the same
    /// least cost, the one chosen may differ from SciPy's. Empty `discovered` matches nothing. Raises
    /// `ArgumentException` for empty `truth`, a true timescale that is not finite and positive, a
    /// discovered one that is not finite, and a tolerance that is not finite and `>= 0`.
    val compareToTruth: tolerance: float -> discovered: float[] -> truth: float[] -> TruthComparison

    /// Summary statistics of `timescales` (NaN values refused with `ArgumentException`).
    val summarise: timescales: float[] -> TimescaleSummary

    /// The label-free read-out of a record's dynamics over time, `ut [windows; T; R; R]`:
    /// `effectiveTimescales`, their summary and clusters, and, when `truth` is given, the cluster
    /// centres compared with it (`compareToTruth tolerance`).
    val labelFree: dt: float -> tolerance: float -> truth: float[] option -> ut: float[,,,] -> LabelFreeTimescales

    /// The same read-out for a model's dynamics matrices `V_k` (`componentTimescales`).
    val labelFreeComponents: dt: float -> tolerance: float -> truth: float[] option -> p: Params -> LabelFreeTimescales

    /// The paper's per-state read-out on `features [n; d]` (any `d ≥ 1`: `R_hat`, the raw input)
    /// with `labels [n]`: for each label, the transitions `t → t+1` with `labels[t] = labels[t+1]`
    /// give a least-squares `U` (`d × d`, no intercept) with `x[t+1] ≈ U·x[t]` (QR); its
    /// `spectrumTimescales dt` are pooled over labels; for each `truth` timescale, the nearest pooled
    /// one and whether its relative error is at most `tolerance`. A label with fewer than `d`
    /// transitions, or whose transitions' features are rank-deficient (a diagonal entry of `R` below
    /// 1e-10 of the largest), is skipped and listed in `Skipped`. Raises `ArgumentException` for
    /// non-finite features, labels of another length, fewer than 2 steps, empty `truth` or one that
    /// is not finite and positive, and a tolerance that is not finite and `>= 0`.
    val perStateFit:
        dt: float -> features: float[,] -> labels: int[] -> truth: float[] -> tolerance: float -> PerStateFit
