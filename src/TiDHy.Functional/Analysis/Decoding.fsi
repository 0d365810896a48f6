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

/// The decoder that `Decoding.decodingScoreWith` trains on each split.
type Decoder =
    /// `k` nearest neighbours (`Decoding.knnPredict k`); `Knn 3` is upstream's decoder.
    | Knn of k: int
    /// Multinomial logistic regression with L2 penalty and inverse strength `c` on standardised
    /// features (`LinearDecoder.fit c`); `Linear 1.0` is scikit-learn's default.
    | Linear of c: float

/// The choices of `Decoding.table`.
type DecodingSettings =
    {
        /// Steps per held-out block of the block splits (default 100); at least 2 blocks must fit.
        BlockLength: int
        /// The share of blocks (block splits) and of steps (random splits) held out, in (0, 1)
        /// (default 0.25).
        TestFraction: float
        /// Splits of each kind (default 5).
        Splits: int
        /// Neighbours of the kNN decoder (default 3, upstream's).
        Neighbours: int
        /// The inverse regularisation strength of the linear decoder (default 1.0, scikit-learn's).
        C: float
    }

/// One feature's decoding accuracy, by decoder and kind of split.
type DecodingRow =
    {
        /// The feature's name.
        Name: string
        /// kNN on held-out contiguous blocks: the first measure.
        BlockKnn: DecodingSpread
        /// The linear decoder on held-out contiguous blocks: the first measure.
        BlockLinear: DecodingSpread
        /// kNN on random steps: optimistic, as a held-out step's neighbours in time are in the
        /// training set (upstream's notebooks' measure).
        RandomKnn: DecodingSpread
        /// The linear decoder on random steps: optimistic, as `RandomKnn`.
        RandomLinear: DecodingSpread
    }

/// A decoding table: every feature scored on the same block splits and the same random splits.
type DecodingTable =
    {
        /// One row per feature, in the order given.
        Rows: DecodingRow[]
        /// Steps per held-out block.
        BlockLength: int
        /// The share held out.
        TestFraction: float
        /// Splits of each kind.
        Splits: int
        /// Neighbours of the kNN decoder.
        Neighbours: int
        /// The linear decoder's inverse regularisation strength.
        C: float
        /// Chance on the block splits: the mean share of the most common label among the held-out
        /// steps (the same for every row).
        ChanceBlock: float
        /// Chance on the random splits, likewise.
        ChanceRandom: float
        /// The distinct labels.
        Classes: int
        /// The steps (labels).
        Samples: int
        /// The block splits every row was scored on (so that other decoders, e.g. a baseline's
        /// matched states, can be scored on the same ones).
        BlockSplits: DataSplit[]
        /// The random splits every row was scored on.
        RandomSplits: DataSplit[]
    }

/// Decoding of discrete states from the evaluation record, as upstream's notebooks and `utils/` do
/// it: the labels to decode (joint states, state labels, the dominant component), k nearest
/// neighbours, random and contiguous-block splits of the steps, chance level and the spread over
/// splits. The kNN decoder agrees exactly with scikit-learn's `KNeighborsClassifier`
/// (tests/scripts/make_analysis_expected.py). Beside it the linear decoder (`LinearDecoder`), the
/// delay-embedded baseline and `table`, which scores every feature on held-out blocks first and on
/// random steps second (optimistic: neighbouring steps leak), with its baselines and chance.
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

    /// The accuracy of `decoder` trained on `split.Train` and tested on `split.Test`, with the chance
    /// level of the test labels: `features [n; d]`, `labels [n]`. `decodingScoreWith (Knn k)` is
    /// `decodingScore k`.
    val decodingScoreWith: decoder: Decoder -> features: float[,] -> labels: int[] -> split: DataSplit -> DecodingScore

    /// `decodingScoreWith decoder` on each split, with mean, standard deviation (population),
    /// extremes and mean chance: `features [n; d]`, `labels [n]`, `splits [s]`.
    /// `decodingSpreadWith (Knn k)` is `decodingSpread k`.
    val decodingSpreadWith:
        decoder: Decoder -> features: float[,] -> labels: int[] -> splits: DataSplit[] -> DecodingSpread

    /// The lags of the delay-embedded baseline: 10.
    [<Literal>]
    val defaultLags: int = 10

    /// The delay embedding of `x [n; d]` with `lags` (>= 0) past steps: `[n; d·(lags + 1)]`, row `t`
    /// the concatenation `[x_t, x_{t−1}, …, x_{t−lags}]` (column `j·d + c` is `x[t − j, c]`). Steps
    /// before the start repeat row 0 (edge padding), so row 0 is `x_0` repeated `lags + 1` times.
    /// `lags = 0` gives a copy of `x`. A decoder on it sees the recent past of each step, as a
    /// model with memory does: the baseline a model's state must beat.
    val delayEmbed: lags: int -> x: float[,] -> float[,]

    /// The baselines built from the raw input `input [n; d]`, named for a table:
    /// `["I (raw input)", input; "I with {lags} lags", delayEmbed lags input]`. Chance is in every
    /// table; the untrained model's arrays are the caller's to add.
    val baselineFeatures: lags: int -> input: float[,] -> (string * float[,]) list

    /// The defaults: 100-step blocks, 25% held out, 5 splits of each kind, 3 neighbours, C = 1.
    val defaultSettings: DecodingSettings

    /// Decodes `labels [n]` from each of `features` (each `[n; d_i]`, finite, named) with kNN and the
    /// linear decoder, on `settings.Splits` block splits (`blockSplits`) and as many random splits
    /// (`randomSplits`), both drawn once from `key` and shared by every feature, so the rows are
    /// comparable. Block splits, which hold out whole stretches of time, are the first measure;
    /// random splits are optimistic for time series (a held-out step's neighbours in time, nearly
    /// equal to it, are in the training set). Pass the baselines as features (`baselineFeatures`,
    /// the untrained model's arrays); chance is in the table. Raises `ArgumentException` when a
    /// feature's rows differ from the labels, fewer than two blocks fit, or a setting is out of range.
    val table:
        key: Key -> settings: DecodingSettings -> labels: int[] -> features: (string * float[,]) list -> DecodingTable
