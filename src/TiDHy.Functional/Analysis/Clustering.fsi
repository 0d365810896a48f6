namespace TiDHy.Functional

/// A minimum-cost assignment of rows to columns (SciPy's `linear_sum_assignment`).
type LinearAssignment =
    {
        /// The assigned rows, ascending: `[min(rows, cols)]`.
        Rows: int[]
        /// The column of each assigned row: `[min(rows, cols)]`.
        Columns: int[]
        /// The total cost `Σ cost[Rows[i], Columns[i]]`.
        Cost: float
    }

/// How well a clustering agrees with the true labels (scikit-learn's definitions).
type ClusterAgreement =
    {
        /// Accuracy after matching clusters to labels one to one (Hungarian algorithm on the
        /// contingency table); unmatched clusters count as wrong.
        MatchedAccuracy: float
        /// Adjusted Rand index (`adjusted_rand_score`).
        AdjustedRand: float
        /// Normalised mutual information, arithmetic normalisation (`normalized_mutual_info_score`).
        NormalisedMutualInformation: float
        /// Homogeneity: each cluster holds one label.
        Homogeneity: float
        /// Completeness: each label lies in one cluster.
        Completeness: float
        /// V-measure, the harmonic mean of homogeneity and completeness.
        VMeasure: float
        /// Purity: the share of samples whose label is their cluster's most common one.
        Purity: float
    }

/// A k-means clustering.
type KMeansResult =
    {
        /// The cluster of each sample, in `0 … k − 1`: `[n]`.
        Labels: int[]
        /// The cluster centres: `[k; features]`.
        Centroids: float[,]
        /// The sum of squared distances of the samples to their centres.
        Inertia: float
    }

/// How well a clustering agrees with the true states: the minimum-cost assignment that matches
/// clusters to labels, the agreement measures and k-means. The measures agree exactly with
/// scikit-learn (`adjusted_rand_score`, `normalized_mutual_info_score`, …) and the assignment with
/// SciPy's `linear_sum_assignment` (tests/scripts/make_analysis_expected.py). Every measure takes
/// the true labels first and the clustering second, as scikit-learn's `(labels_true, labels_pred)`:
/// `Clustering.homogeneity truth pred`; the asymmetric ones (homogeneity, completeness, purity,
/// matched accuracy) give other numbers with the arguments swapped.
[<RequireQualifiedAccess>]
module Clustering =

    /// The minimum-cost assignment of rows to columns of `cost [rows; cols]` (the Hungarian
    /// algorithm with potentials, O(n²·m)): every row is assigned when `rows ≤ cols`, else every
    /// column; as SciPy's `linear_sum_assignment`. Costs must be finite.
    val linearSumAssignment: cost: float[,] -> LinearAssignment

    /// The adjusted Rand index of `pred [n]` against `truth [n]` (scikit-learn's
    /// `adjusted_rand_score`): 1 for identical partitions, about 0 for independent ones.
    val adjustedRandIndex: truth: int[] -> pred: int[] -> float

    /// The normalised mutual information of `pred [n]` and `truth [n]` with the arithmetic mean of
    /// the entropies (scikit-learn's `normalized_mutual_info_score` default).
    val normalisedMutualInformation: truth: int[] -> pred: int[] -> float

    /// Homogeneity of `pred [n]` against `truth [n]` (scikit-learn's `homogeneity_score`).
    val homogeneity: truth: int[] -> pred: int[] -> float

    /// Completeness of `pred [n]` against `truth [n]` (scikit-learn's `completeness_score`).
    val completeness: truth: int[] -> pred: int[] -> float

    /// The V-measure of `pred [n]` against `truth [n]` (scikit-learn's `v_measure_score`, β = 1).
    val vMeasure: truth: int[] -> pred: int[] -> float

    /// Purity of `pred [n]` against `truth [n]`: the share of samples whose label is the most
    /// common one of their cluster.
    val purity: truth: int[] -> pred: int[] -> float

    /// The accuracy of `pred [n]` against `truth [n]` after matching clusters to labels one to one
    /// so that the most samples agree (Hungarian algorithm on the contingency table); samples in
    /// unmatched clusters count as wrong.
    val matchedAccuracy: truth: int[] -> pred: int[] -> float

    /// Every agreement measure of the clustering `pred [n]` against the true labels `truth [n]`;
    /// the true labels come first: `clusterAgreement truth pred`.
    val clusterAgreement: truth: int[] -> pred: int[] -> ClusterAgreement

    /// k-means (Lloyd's algorithm from k-means++ seeds, 10 seedings from `key`, the one of least
    /// inertia kept; at most 300 iterations each): `x [n; features]` → labels `[n]` and centres
    /// `[k; features]`. Deterministic given `key`; not scikit-learn's random stream.
    val kMeans: key: Key -> k: int -> x: float[,] -> KMeansResult
