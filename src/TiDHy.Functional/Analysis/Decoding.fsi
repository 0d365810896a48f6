namespace TiDHy.Functional

/// A split of `n` samples into training and test indices (each sorted ascending, disjoint, together
/// `0 … n − 1`).
type DataSplit =
    {
        /// Training indices.
        Train: int[]
        /// Test indices.
        Test: int[]
    }

/// The held-out accuracy of a decoder on one split.
type DecodingScore =
    {
        /// The share of test samples whose label was predicted correctly.
        Accuracy: float
        /// Chance: the share of the most common label among the test labels (the best accuracy of a
        /// decoder that always says the same label).
        Chance: float
        /// Training samples.
        TrainSize: int
        /// Test samples.
        TestSize: int
    }

/// Decoding accuracy over several splits.
type DecodingSpread =
    {
        /// One score per split.
        Scores: DecodingScore[]
        /// Mean accuracy.
        Mean: float
        /// Standard deviation of the accuracies (population, `ddof = 0`).
        Std: float
        /// Smallest accuracy.
        Min: float
        /// Largest accuracy.
        Max: float
        /// Mean chance level.
        ChanceMean: float
    }

/// Decoding of discrete states from the evaluation record, as upstream's notebooks and `utils/` do
/// it: the labels to decode (joint states, state labels, the dominant component), k nearest
/// neighbours, random and contiguous-block splits of the steps, chance level and the spread over
/// splits. The decoder agrees exactly with scikit-learn's `KNeighborsClassifier`
/// (tests/scripts/make_analysis_expected.py).
[<RequireQualifiedAccess>]
module Decoding =

    /// Joins the windows of a record array: `a [windows; T; k]` → `[windows·T; k]`, window-major.
    val flatten: a: float[,,] -> float[,]

    /// The joint discrete state of several systems at each step: `states [time; systems]`, each in
    /// `0 … statesPerSystem − 1`, → `[time]` with `Σ_i states[t, i]·K^(systems − 1 − i)` (system 0
    /// the most significant digit), in `0 … K^systems − 1`. Raises `ArgumentException` when
    /// `K^systems − 1` exceeds `Int32.MaxValue` (e.g. 32 binary systems), whatever the values:
    /// `stateLabels` numbers the joint states seen instead.
    val jointStates: statesPerSystem: int -> states: int[,] -> int[]

    /// The index of the largest entry of each row (the first on ties, as NumPy's `argmax`):
    /// `x [n; k]` → `[n]`. With `x` the mixture weights `W`, the dominant component at each step.
    val argmaxLabels: x: float[,] -> int[]

    /// The label of each row of `states [time; systems]` (integer discrete states): the rows'
    /// distinct values numbered in order of first appearance, `[time]`. Two steps share a label
    /// exactly when their states agree in every system, as with `jointStates`, without needing the
    /// number of states per system.
    val stateLabels: states: int[,] -> int[]

    /// The predicted label of each test row by a vote of its `k` nearest training rows (Euclidean
    /// distance, uniform weights), as scikit-learn's `KNeighborsClassifier(n_neighbors=k)`:
    /// `trainX [n; d]`, `trainY [n]`, `testX [m; d]` → `[m]`. Ties are broken as scikit-learn
    /// breaks them: among tied votes the smallest label wins; among training rows equidistant at
    /// the k-th place, those that scikit-learn's neighbour heap keeps (rows visited in index order,
    /// a row no closer than the farthest kept one is not admitted).
    val knnPredict: k: int -> trainX: float[,] -> trainY: int[] -> testX: float[,] -> int[]

    /// The share of `testY` that `knnPredict k` predicts: `trainX [n; d]`, `trainY [n]`,
    /// `testX [m; d]`, `testY [m]`.
    val knnAccuracyWith: k: int -> trainX: float[,] -> trainY: int[] -> testX: float[,] -> testY: int[] -> float

    /// The number of neighbours upstream's notebooks use: 3.
    [<Literal>]
    val defaultNeighbours: int = 3

    /// `knnAccuracyWith 3`: the held-out accuracy of upstream's decoder
    /// (`KNeighborsClassifier(n_neighbors=3)`): `trainX [n; d]`, `trainY [n]`, `testX [m; d]`,
    /// `testY [m]`.
    val knnAccuracy: trainX: float[,] -> trainY: int[] -> testX: float[,] -> testY: int[] -> float

    /// The chance level of `labels [m]`: the share of the most common label.
    val chance: labels: int[] -> float

    /// Splits `n` samples into contiguous blocks of `blockLength` (the last may be shorter) and
    /// holds out `ceil(testFraction · blocks)` blocks chosen at random from `key` for testing. Less
    /// optimistic than a random split for time series, whose neighbouring steps are alike.
    val blockSplit: key: Key -> n: int -> blockLength: int -> testFraction: float -> DataSplit

    /// Holds out `ceil(testFraction · n)` of `n` samples chosen at random from `key` for testing
    /// (scikit-learn's `train_test_split` sizes; its random stream cannot be reproduced).
    val randomSplit: key: Key -> n: int -> testFraction: float -> DataSplit

    /// `count` random splits (`randomSplit`), split `i` from `Random.foldIn i key`: `[count]`.
    val randomSplits: key: Key -> count: int -> n: int -> testFraction: float -> DataSplit[]

    /// `count` block splits (`blockSplit`), split `i` from `Random.foldIn i key`: `[count]`.
    val blockSplits: key: Key -> count: int -> n: int -> blockLength: int -> testFraction: float -> DataSplit[]

    /// The accuracy of `knnPredict k` trained on `split.Train` and tested on `split.Test`, with the
    /// chance level of the test labels: `features [n; d]`, `labels [n]`.
    val decodingScore: k: int -> features: float[,] -> labels: int[] -> split: DataSplit -> DecodingScore

    /// `decodingScore k` on each split, with mean, standard deviation (population), extremes and
    /// mean chance: `features [n; d]`, `labels [n]`, `splits [s]`.
    val decodingSpread: k: int -> features: float[,] -> labels: int[] -> splits: DataSplit[] -> DecodingSpread
