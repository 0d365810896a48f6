namespace TiDHy.Functional

open System
open System.Numerics
open MathNet.Numerics.LinearAlgebra

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

/// A mode of linear dynamics `x_{t+1} = A·x_t`: a real eigenvalue of `A`, or one of a
/// complex-conjugate pair (the one with positive imaginary part).
type DynamicsMode =
    {
        /// The eigenvalue `λ`.
        Eigenvalue: Complex
        /// `τ = −dt / log|λ|`: the time over which the mode decays by a factor e (+∞ when `|λ| = 1`,
        /// negative when the mode grows, 0 when `λ = 0`).
        Timescale: float
        /// `|arg λ| / (2π·dt)`: cycles per unit of time.
        Frequency: float
    }

/// The modes of the true dynamics of one state of one system of an SLDS data set.
type SldsModes =
    {
        /// The system.
        System: int
        /// The discrete state.
        State: int
        /// The modes of that state's dynamics matrix `A_k`.
        Modes: DynamicsMode[]
    }

/// One true timescale and the recovered one matched to it.
type TimescaleMatch =
    {
        /// Index of the true timescale.
        TrueIndex: int
        /// Index of the recovered timescale matched to it.
        RecoveredIndex: int
        /// The true timescale.
        True: float
        /// The recovered timescale.
        Recovered: float
        /// `|Recovered − True| / True`.
        RelativeError: float
        /// Whether `RelativeError ≤` the tolerance.
        Within: bool
    }

/// A one-to-one matching of true to recovered timescales that minimises the summed relative error.
type TimescaleMatching =
    {
        /// One pair per matched true timescale, in the order of the true ones.
        Pairs: TimescaleMatch[]
        /// How many pairs are within the tolerance.
        WithinCount: int
        /// The relative tolerance.
        Tolerance: float
    }

/// How well the dynamics over time `V_t` recover one mode of one true state, over the steps on
/// which that state is active.
type StateTimescaleRecovery =
    {
        /// The system.
        System: int
        /// Its discrete state.
        State: int
        /// Index of the mode among that state's modes.
        Mode: int
        /// The true timescale.
        True: float
        /// The median of the recovered timescales matched to it (NaN when it was never matched).
        MedianRecovered: float
        /// The share of the steps on which the matched timescale is within the tolerance.
        WithinShare: float
        /// The steps on which the state was active (and `V_t` is not zero).
        Steps: int
    }

/// How the mixture weights `W` use their components.
type MixtureUsage =
    {
        /// The mean weight of each component over time: `[M]`.
        MeanWeight: float[]
        /// `MeanWeight` divided by its sum (zeros when all are 0): `[M]`.
        Share: float[]
        /// The entropy (nats) of each step's weights, normalised to sum 1 (0 when they are all 0):
        /// `[time]`.
        StepEntropy: float[]
        /// The mean of `StepEntropy`.
        MeanStepEntropy: float
        /// The entropy (nats) of `Share`: `log M` when all components are used equally.
        UsageEntropy: float
    }

/// Measures of what a trained model found, as upstream's notebooks and `utils/` use them: decoding
/// of discrete states from the evaluation record (k nearest neighbours), agreement of a clustering
/// with the true states, timescales of the learned and the true dynamics, and mixture usage.
/// Decoding and clustering agree exactly with scikit-learn (`KNeighborsClassifier`,
/// `adjusted_rand_score`, …) and the assignment with SciPy's `linear_sum_assignment`
/// (tests/scripts/make_analysis_expected.py).
[<RequireQualifiedAccess>]
module Analysis =

    let private fail (name: string) (message: string) =
        raise (ArgumentException($"{name}: {message}", name))

    let private checkNotEmpty (name: string) (length: int) =
        if length < 1 then
            fail name "expected at least one sample, got none."

    let private checkNotNull (name: string) (value: obj) =
        if isNull value then
            nullArg name

    // ---------------------------------------------------------------- arrays and labels

    /// Joins the windows of a record array: `a [windows; T; k]` → `[windows·T; k]`, window-major.
    let flatten (a: float[,,]) =
        checkNotNull (nameof a) a
        let t = Array3D.length2 a
        Array2D.init (Array3D.length1 a * t) (Array3D.length3 a) (fun i k -> a[i / t, i % t, k])

    /// The joint discrete state of several systems at each step: `states [time; systems]`, each in
    /// `0 … statesPerSystem − 1`, → `[time]` with `Σ_i states[t, i]·K^(systems − 1 − i)` (system 0
    /// the most significant digit), in `0 … K^systems − 1`. Raises `ArgumentException` when
    /// `K^systems − 1` exceeds `Int32.MaxValue` (e.g. 32 binary systems), whatever the values:
    /// `stateLabels` numbers the joint states seen instead.
    let jointStates (statesPerSystem: int) (states: int[,]) =
        checkNotNull (nameof states) states

        if statesPerSystem < 1 then
            fail (nameof statesPerSystem) $"expected >= 1, got {statesPerSystem}."

        let systems = Array2D.length2 states
        // K^systems, stopping once past Int32.MaxValue + 1 (both factors stay below 2^32).
        let mutable count = 1L

        for _ in 1..systems do
            if count <= int64 Int32.MaxValue + 1L then
                count <- count * int64 statesPerSystem

        if count - 1L > int64 Int32.MaxValue then
            fail
                (nameof states)
                $"{systems} systems of {statesPerSystem} states make {statesPerSystem}^{systems} joint states, more than an int holds (at most {Int32.MaxValue} + 1); decode fewer systems at once, or number the joint states seen (stateLabels)."

        Array.init (Array2D.length1 states) (fun t ->
            let mutable acc = 0

            for i in 0 .. Array2D.length2 states - 1 do
                let s = states[t, i]

                if s < 0 || s >= statesPerSystem then
                    fail
                        (nameof states)
                        $"expected values in [0, {statesPerSystem - 1}], got {s} at step {t}, system {i}."

                acc <- acc * statesPerSystem + s

            acc)

    /// The index of the largest entry of each row (the first on ties, as NumPy's `argmax`):
    /// `x [n; k]` → `[n]`. With `x` the mixture weights `W`, the dominant component at each step.
    let argmaxLabels (x: float[,]) =
        checkNotNull (nameof x) x

        if Array2D.length2 x < 1 then
            fail (nameof x) "expected at least one column, got none."

        Array.init (Array2D.length1 x) (fun i ->
            let mutable best = 0

            for j in 1 .. Array2D.length2 x - 1 do
                if x[i, j] > x[i, best] then
                    best <- j

            best)

    // ---------------------------------------------------------------- k nearest neighbours

    /// The predicted label of each test row by a vote of its `k` nearest training rows (Euclidean
    /// distance, uniform weights), as scikit-learn's `KNeighborsClassifier(n_neighbors=k)`:
    /// `trainX [n; d]`, `trainY [n]`, `testX [m; d]` → `[m]`. Ties are broken as scikit-learn
    /// breaks them: among tied votes the smallest label wins; among training rows equidistant at
    /// the k-th place, those that scikit-learn's neighbour heap keeps (rows visited in index order,
    /// a row no closer than the farthest kept one is not admitted).
    let knnPredict (k: int) (trainX: float[,]) (trainY: int[]) (testX: float[,]) =
        checkNotNull (nameof trainX) trainX
        checkNotNull (nameof trainY) trainY
        checkNotNull (nameof testX) testX
        let n = Array2D.length1 trainX
        let d = Array2D.length2 trainX
        checkNotEmpty (nameof trainX) n
        checkNotEmpty (nameof testX) (Array2D.length1 testX)

        if trainY.Length <> n then
            fail (nameof trainY) $"expected {n} labels (the rows of trainX), got {trainY.Length}."

        if Array2D.length2 testX <> d then
            fail (nameof testX) $"expected {d} columns (those of trainX), got {Array2D.length2 testX}."

        if k < 1 || k > n then
            fail (nameof k) $"expected in [1, {n}] (the training rows), got {k}."

        for name, x in [ nameof trainX, trainX; nameof testX, testX ] do
            if x |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
                fail name "expected finite values."

        let classes = Array.distinct trainY |> Array.sort
        let classOf = classes |> Array.mapi (fun i c -> c, i) |> dict
        let yIndex = trainY |> Array.map (fun y -> classOf[y])

        Array.init (Array2D.length1 testX) (fun q ->
            // scikit-learn's heap_push (sklearn/utils/_heap.pyx): a max-heap of the k smallest.
            let values = Array.create k Double.PositiveInfinity
            let indices = Array.zeroCreate k

            for j in 0 .. n - 1 do
                let mutable dist = 0.0

                for c in 0 .. d - 1 do
                    let diff = testX[q, c] - trainX[j, c]
                    dist <- dist + diff * diff

                if dist < values[0] then
                    let mutable current = 0
                    let mutable go = true

                    while go do
                        let left = 2 * current + 1
                        let right = left + 1

                        let swap =
                            if left >= k then
                                -1
                            elif right >= k then
                                (if values[left] > dist then left else -1)
                            elif values[left] >= values[right] then
                                (if dist < values[left] then left else -1)
                            elif dist < values[right] then
                                right
                            else
                                -1

                        if swap < 0 then
                            go <- false
                        else
                            values[current] <- values[swap]
                            indices[current] <- indices[swap]
                            current <- swap

                    values[current] <- dist
                    indices[current] <- j

            let votes = Array.zeroCreate classes.Length

            for j in indices do
                votes[yIndex[j]] <- votes[yIndex[j]] + 1

            let mutable best = 0

            for c in 1 .. votes.Length - 1 do
                if votes[c] > votes[best] then
                    best <- c

            classes[best])

    let private checkLabels (name: string) (expected: int) (labels: int[]) =
        checkNotNull name labels

        if labels.Length <> expected then
            fail name $"expected {expected} labels (the rows of the features), got {labels.Length}."

    /// The share of `testY` that `knnPredict k` predicts: `trainX [n; d]`, `trainY [n]`,
    /// `testX [m; d]`, `testY [m]`.
    let knnAccuracyWith (k: int) (trainX: float[,]) (trainY: int[]) (testX: float[,]) (testY: int[]) =
        checkNotNull (nameof testX) testX
        checkLabels (nameof testY) (Array2D.length1 testX) testY
        let predicted = knnPredict k trainX trainY testX

        float (Array.fold2 (fun n p y -> if p = y then n + 1 else n) 0 predicted testY)
        / float testY.Length

    /// The number of neighbours upstream's notebooks use: 3.
    [<Literal>]
    let defaultNeighbours = 3

    /// `knnAccuracyWith 3`: the held-out accuracy of upstream's decoder
    /// (`KNeighborsClassifier(n_neighbors=3)`): `trainX [n; d]`, `trainY [n]`, `testX [m; d]`,
    /// `testY [m]`.
    let knnAccuracy (trainX: float[,]) (trainY: int[]) (testX: float[,]) (testY: int[]) =
        knnAccuracyWith defaultNeighbours trainX trainY testX testY

    /// The chance level of `labels [m]`: the share of the most common label.
    let chance (labels: int[]) =
        checkNotNull (nameof labels) labels
        checkNotEmpty (nameof labels) labels.Length
        let top = labels |> Array.countBy id |> Array.map snd |> Array.max
        float top / float labels.Length

    // ---------------------------------------------------------------- splits

    /// A uniformly random permutation of `0 … n − 1` from `key` (Fisher–Yates).
    let private permutation (key: Key) (n: int) =
        let p = Array.init n id
        let u = Random.uniform01 key n

        for i in n - 1 .. -1 .. 1 do
            let j = min i (int (u[i] * float (i + 1)))
            let tmp = p[i]
            p[i] <- p[j]
            p[j] <- tmp

        p

    /// Splits `n` samples into contiguous blocks of `blockLength` (the last may be shorter) and
    /// holds out `ceil(testFraction · blocks)` blocks chosen at random from `key` for testing. Less
    /// optimistic than a random split for time series, whose neighbouring steps are alike.
    let blockSplit (key: Key) (n: int) (blockLength: int) (testFraction: float) =
        if n < 2 then
            fail (nameof n) $"expected >= 2 samples, got {n}."

        if blockLength < 1 || blockLength > n / 2 then
            fail (nameof blockLength) $"expected in [1, n/2 = {n / 2}], got {blockLength}."

        if not (testFraction > 0.0 && testFraction < 1.0) then
            fail (nameof testFraction) $"expected in (0, 1), got {testFraction}."

        let blocks = (n + blockLength - 1) / blockLength
        let testBlocks = min (blocks - 1) (max 1 (int (ceil (testFraction * float blocks))))
        let order = permutation key blocks
        let isTest = Array.zeroCreate blocks

        for b in order[0 .. testBlocks - 1] do
            isTest[b] <- true

        let all = Array.init n id

        {
            Train = all |> Array.filter (fun i -> not isTest[i / blockLength])
            Test = all |> Array.filter (fun i -> isTest[i / blockLength])
        }

    /// Holds out `ceil(testFraction · n)` of `n` samples chosen at random from `key` for testing
    /// (scikit-learn's `train_test_split` sizes; its random stream cannot be reproduced).
    let randomSplit (key: Key) (n: int) (testFraction: float) =
        if n < 2 then
            fail (nameof n) $"expected >= 2 samples, got {n}."

        blockSplit key n 1 testFraction

    /// `count` random splits (`randomSplit`), split `i` from `Random.foldIn i key`: `[count]`.
    let randomSplits (key: Key) (count: int) (n: int) (testFraction: float) =
        if count < 1 then
            fail (nameof count) $"expected >= 1, got {count}."

        Array.init count (fun i -> randomSplit (Random.foldIn i key) n testFraction)

    /// `count` block splits (`blockSplit`), split `i` from `Random.foldIn i key`: `[count]`.
    let blockSplits (key: Key) (count: int) (n: int) (blockLength: int) (testFraction: float) =
        if count < 1 then
            fail (nameof count) $"expected >= 1, got {count}."

        Array.init count (fun i -> blockSplit (Random.foldIn i key) n blockLength testFraction)

    let private rows (x: float[,]) (idx: int[]) =
        Array2D.init idx.Length (Array2D.length2 x) (fun i c -> x[idx[i], c])

    /// The accuracy of `knnPredict k` trained on `split.Train` and tested on `split.Test`, with the
    /// chance level of the test labels: `features [n; d]`, `labels [n]`.
    let decodingScore (k: int) (features: float[,]) (labels: int[]) (split: DataSplit) =
        checkNotNull (nameof features) features
        let n = Array2D.length1 features
        checkNotEmpty (nameof features) n
        checkLabels (nameof labels) n labels

        for name, idx in [ "split.Train", split.Train; "split.Test", split.Test ] do
            checkNotNull name idx
            checkNotEmpty name idx.Length

            if idx |> Array.exists (fun i -> i < 0 || i >= n) then
                fail name $"expected indices in [0, {n - 1}]."

        let testY = split.Test |> Array.map (fun i -> labels[i])

        {
            Accuracy =
                knnAccuracyWith
                    k
                    (rows features split.Train)
                    (split.Train |> Array.map (fun i -> labels[i]))
                    (rows features split.Test)
                    testY
            Chance = chance testY
            TrainSize = split.Train.Length
            TestSize = split.Test.Length
        }

    /// `decodingScore k` on each split, with mean, standard deviation (population), extremes and
    /// mean chance: `features [n; d]`, `labels [n]`, `splits [s]`.
    let decodingSpread (k: int) (features: float[,]) (labels: int[]) (splits: DataSplit[]) =
        checkNotNull (nameof splits) splits
        checkNotEmpty (nameof splits) splits.Length
        let scores = splits |> Array.map (decodingScore k features labels)
        let acc = scores |> Array.map _.Accuracy
        let mean = Array.average acc

        {
            Scores = scores
            Mean = mean
            Std = sqrt (acc |> Array.averageBy (fun a -> (a - mean) * (a - mean)))
            Min = Array.min acc
            Max = Array.max acc
            ChanceMean = scores |> Array.averageBy _.Chance
        }

    // ---------------------------------------------------------------- assignment

    /// The minimum-cost assignment of rows to columns of `cost [rows; cols]` (the Hungarian
    /// algorithm with potentials, O(n²·m)): every row is assigned when `rows ≤ cols`, else every
    /// column; as SciPy's `linear_sum_assignment`. Costs must be finite.
    let linearSumAssignment (cost: float[,]) =
        checkNotNull (nameof cost) cost
        let nr = Array2D.length1 cost
        let nc = Array2D.length2 cost

        if nr < 1 || nc < 1 then
            fail (nameof cost) $"expected at least one row and one column, got [{nr}; {nc}]."

        if cost |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof cost) "expected finite costs."

        let transposed = nr > nc
        let n, m = if transposed then nc, nr else nr, nc

        let a i j =
            if transposed then cost[j, i] else cost[i, j]
        // 1-based: u, v potentials; p[j] the row matched to column j (0: none); way for the path.
        let u = Array.zeroCreate (n + 1)
        let v = Array.zeroCreate (m + 1)
        let p = Array.zeroCreate (m + 1)
        let way = Array.zeroCreate (m + 1)

        for i in 1..n do
            p[0] <- i
            let mutable j0 = 0
            let minv = Array.create (m + 1) Double.PositiveInfinity
            let used = Array.zeroCreate (m + 1)
            let mutable go = true

            while go do
                used[j0] <- true
                let i0 = p[j0]
                let mutable delta = Double.PositiveInfinity
                let mutable j1 = 0

                for j in 1..m do
                    if not used[j] then
                        let cur = a (i0 - 1) (j - 1) - u[i0] - v[j]

                        if cur < minv[j] then
                            minv[j] <- cur
                            way[j] <- j0

                        if minv[j] < delta then
                            delta <- minv[j]
                            j1 <- j

                for j in 0..m do
                    if used[j] then
                        u[p[j]] <- u[p[j]] + delta
                        v[j] <- v[j] - delta
                    else
                        minv[j] <- minv[j] - delta

                j0 <- j1

                if p[j0] = 0 then
                    go <- false

            let mutable go = true

            while go do
                let j1 = way[j0]
                p[j0] <- p[j1]
                j0 <- j1

                if j0 = 0 then
                    go <- false

        let pairs =
            [|
                for j in 1..m do
                    if p[j] <> 0 then
                        if transposed then (j - 1, p[j] - 1) else (p[j] - 1, j - 1)
            |]
            |> Array.sortBy fst

        {
            Rows = pairs |> Array.map fst
            Columns = pairs |> Array.map snd
            Cost = pairs |> Array.sumBy (fun (r, c) -> cost[r, c])
        }

    // ---------------------------------------------------------------- clustering agreement

    /// The contingency table `[classes; clusters]` of two labellings, with the sorted distinct
    /// labels of each.
    let private contingency (truth: int[]) (pred: int[]) =
        checkNotNull (nameof truth) truth
        checkNotNull (nameof pred) pred
        checkNotEmpty (nameof truth) truth.Length

        if pred.Length <> truth.Length then
            fail (nameof pred) $"expected {truth.Length} labels (those of truth), got {pred.Length}."

        let classes = Array.distinct truth |> Array.sort
        let clusters = Array.distinct pred |> Array.sort
        let ci = classes |> Array.mapi (fun i c -> c, i) |> dict
        let ki = clusters |> Array.mapi (fun i c -> c, i) |> dict
        let table = Array2D.zeroCreate<int64> classes.Length clusters.Length

        for s in 0 .. truth.Length - 1 do
            let i = ci[truth[s]]
            let j = ki[pred[s]]
            table[i, j] <- table[i, j] + 1L

        table

    let private rowSums (c: int64[,]) =
        Array.init (Array2D.length1 c) (fun i -> Seq.sum (seq { for j in 0 .. Array2D.length2 c - 1 -> c[i, j] }))

    let private colSums (c: int64[,]) =
        Array.init (Array2D.length2 c) (fun j -> Seq.sum (seq { for i in 0 .. Array2D.length1 c - 1 -> c[i, j] }))

    /// scikit-learn's `entropy(labels)` from the label counts (nats).
    let private labelEntropy (counts: int64[]) =
        let total = Array.sum counts |> float

        -(counts
          |> Array.sumBy (fun c ->
              let c = float c
              (c / total) * (log c - log total)))

    let private machineEpsilon = Math.BitIncrement 1.0 - 1.0

    /// scikit-learn's `mutual_info_score` from a contingency table (nats).
    let private mutualInformation (c: int64[,]) =
        let a = rowSums c |> Array.map float
        let b = colSums c |> Array.map float
        let total = float (Array.sum (rowSums c))
        let sa = Array.sum a
        let sb = Array.sum b
        let mutable mi = 0.0

        for i in 0 .. Array2D.length1 c - 1 do
            for j in 0 .. Array2D.length2 c - 1 do
                if c[i, j] > 0L then
                    let nij = float c[i, j]
                    let p = nij / total
                    let logOuter = -(log (a[i] * b[j])) + log sa + log sb
                    let term = p * (log nij - log total) + p * logOuter

                    // scikit-learn zeroes terms smaller than machine epsilon.
                    if abs term >= machineEpsilon then
                        mi <- mi + term

        max mi 0.0

    /// The adjusted Rand index of `pred [n]` against `truth [n]` (scikit-learn's
    /// `adjusted_rand_score`): 1 for identical partitions, about 0 for independent ones.
    let adjustedRandIndex (truth: int[]) (pred: int[]) =
        let c = contingency truth pred
        let n = BigInteger truth.Length
        let sq (x: int64) = BigInteger x * BigInteger x
        let sumSquares = c |> Seq.cast<int64> |> Seq.sumBy sq
        let c01 = (colSums c |> Array.sumBy sq) - sumSquares
        let c10 = (rowSums c |> Array.sumBy sq) - sumSquares
        let tp = sumSquares - n
        let fp = c01
        let fn = c10
        let tn = n * n - c01 - c10 - sumSquares

        if fn.IsZero && fp.IsZero then
            1.0
        else
            2.0 * float (tp * tn - fn * fp)
            / float ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))

    /// The normalised mutual information of `pred [n]` and `truth [n]` with the arithmetic mean of
    /// the entropies (scikit-learn's `normalized_mutual_info_score` default).
    let normalisedMutualInformation (truth: int[]) (pred: int[]) =
        let c = contingency truth pred

        if Array2D.length1 c = 1 && Array2D.length2 c = 1 then
            1.0
        else
            let mi = mutualInformation c

            if mi = 0.0 then
                0.0
            else
                mi / ((labelEntropy (rowSums c) + labelEntropy (colSums c)) / 2.0)

    let private homogeneityCompleteness (truth: int[]) (pred: int[]) =
        let c = contingency truth pred
        let mi = mutualInformation c
        let hc = labelEntropy (rowSums c)
        let hk = labelEntropy (colSums c)
        (if hc <> 0.0 then mi / hc else 1.0), (if hk <> 0.0 then mi / hk else 1.0)

    /// Homogeneity of `pred [n]` against `truth [n]` (scikit-learn's `homogeneity_score`).
    let homogeneity (truth: int[]) (pred: int[]) =
        fst (homogeneityCompleteness truth pred)

    /// Completeness of `pred [n]` against `truth [n]` (scikit-learn's `completeness_score`).
    let completeness (truth: int[]) (pred: int[]) =
        snd (homogeneityCompleteness truth pred)

    /// The V-measure of `pred [n]` against `truth [n]` (scikit-learn's `v_measure_score`, β = 1).
    let vMeasure (truth: int[]) (pred: int[]) =
        let h, c = homogeneityCompleteness truth pred
        if h + c = 0.0 then 0.0 else 2.0 * h * c / (h + c)

    /// Purity of `pred [n]` against `truth [n]`: the share of samples whose label is the most
    /// common one of their cluster.
    let purity (truth: int[]) (pred: int[]) =
        let c = contingency truth pred

        let top =
            Array.init (Array2D.length2 c) (fun j -> Seq.max (seq { for i in 0 .. Array2D.length1 c - 1 -> c[i, j] }))

        float (Array.sum top) / float truth.Length

    /// The accuracy of `pred [n]` against `truth [n]` after matching clusters to labels one to one
    /// so that the most samples agree (Hungarian algorithm on the contingency table); samples in
    /// unmatched clusters count as wrong.
    let matchedAccuracy (truth: int[]) (pred: int[]) =
        let c = contingency truth pred
        let m = linearSumAssignment (Array2D.map (fun v -> -(float v)) c)
        -m.Cost / float truth.Length

    /// Every agreement measure of `pred [n]` against `truth [n]`.
    let clusterAgreement (truth: int[]) (pred: int[]) =
        let h, c = homogeneityCompleteness truth pred

        {
            MatchedAccuracy = matchedAccuracy truth pred
            AdjustedRand = adjustedRandIndex truth pred
            NormalisedMutualInformation = normalisedMutualInformation truth pred
            Homogeneity = h
            Completeness = c
            VMeasure = vMeasure truth pred
            Purity = purity truth pred
        }

    // ---------------------------------------------------------------- k-means

    let private sqDist (x: float[,]) (i: int) (c: float[,]) (j: int) =
        let mutable s = 0.0

        for f in 0 .. Array2D.length2 x - 1 do
            let d = x[i, f] - c[j, f]
            s <- s + d * d

        s

    let private kMeansOnce (key: Key) (k: int) (x: float[,]) =
        let n = Array2D.length1 x
        let d = Array2D.length2 x
        let keys = Random.splitN k key
        let centroids = Array2D.zeroCreate k d
        // k-means++ seeding: the first centre uniformly, each next one with probability ∝ D².
        let first = min (n - 1) (int ((Random.uniform01 keys[0] 1)[0] * float n))

        for f in 0 .. d - 1 do
            centroids[0, f] <- x[first, f]

        let nearest = Array.init n (fun i -> sqDist x i centroids 0)

        for c in 1 .. k - 1 do
            let total = Array.sum nearest
            let u = (Random.uniform01 keys[c] 1)[0] * total
            let mutable acc = 0.0
            let mutable pick = -1

            for i in 0 .. n - 1 do
                acc <- acc + nearest[i]

                if pick < 0 && acc > u then
                    pick <- i

            let pick = if pick < 0 then n - 1 else pick

            for f in 0 .. d - 1 do
                centroids[c, f] <- x[pick, f]

            for i in 0 .. n - 1 do
                nearest[i] <- min nearest[i] (sqDist x i centroids c)

        let labels = Array.create n -1
        let mutable changed = true
        let mutable iter = 0

        while changed && iter < 300 do
            changed <- false
            iter <- iter + 1

            for i in 0 .. n - 1 do
                let mutable best = 0
                let mutable bestD = sqDist x i centroids 0

                for c in 1 .. k - 1 do
                    let dc = sqDist x i centroids c

                    if dc < bestD then
                        best <- c
                        bestD <- dc

                if labels[i] <> best then
                    labels[i] <- best
                    changed <- true

            let counts = Array.zeroCreate k
            let sums = Array2D.zeroCreate k d

            for i in 0 .. n - 1 do
                counts[labels[i]] <- counts[labels[i]] + 1

                for f in 0 .. d - 1 do
                    sums[labels[i], f] <- sums[labels[i], f] + x[i, f]

            for c in 0 .. k - 1 do
                if counts[c] > 0 then // an empty cluster keeps its centre
                    for f in 0 .. d - 1 do
                        centroids[c, f] <- sums[c, f] / float counts[c]

        {
            Labels = labels
            Centroids = centroids
            Inertia = Seq.sum (seq { for i in 0 .. n - 1 -> sqDist x i centroids labels[i] })
        }

    /// k-means (Lloyd's algorithm from k-means++ seeds, 10 seedings from `key`, the one of least
    /// inertia kept; at most 300 iterations each): `x [n; features]` → labels `[n]` and centres
    /// `[k; features]`. Deterministic given `key`; not scikit-learn's random stream.
    let kMeans (key: Key) (k: int) (x: float[,]) =
        checkNotNull (nameof x) x
        let n = Array2D.length1 x
        checkNotEmpty (nameof x) n

        if k < 1 || k > n then
            fail (nameof k) $"expected in [1, {n}] (the samples), got {k}."

        if x |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof x) "expected finite values."

        Array.init 10 (fun s -> kMeansOnce (Random.foldIn s key) k x)
        |> Array.minBy _.Inertia

    // ---------------------------------------------------------------- timescales

    let private mode (dt: float) (l: Complex) =
        {
            Eigenvalue = l
            Timescale = -dt / log l.Magnitude
            Frequency = abs l.Phase / (2.0 * Math.PI * dt)
        }

    /// The modes of `x_{t+1} = A·x_t` for `a [n; n]` with time step `dt`: one per real eigenvalue
    /// and per complex-conjugate pair, sorted by timescale, longest first (then by imaginary part,
    /// then real part, largest first): `[≤ n]`.
    let modes (dt: float) (a: float[,]) =
        checkNotNull (nameof a) a
        let n = Array2D.length1 a

        if n < 1 || Array2D.length2 a <> n then
            fail (nameof a) $"expected a non-empty square matrix, got [{n}; {Array2D.length2 a}]."

        if not (dt > 0.0 && Double.IsFinite dt) then
            fail (nameof dt) $"expected a positive time step, got {dt}."

        if a |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof a) "expected finite values."

        let evd = Matrix<float>.Build.DenseOfArray(a).Evd()

        evd.EigenValues.ToArray()
        |> Array.filter (fun l -> l.Imaginary >= 0.0)
        |> Array.map (mode dt)
        |> Array.sortWith (fun x y ->
            compare
                (-x.Timescale, -x.Eigenvalue.Imaginary, -x.Eigenvalue.Real)
                (-y.Timescale, -y.Eigenvalue.Imaginary, -y.Eigenvalue.Real))

    /// The modes of each of a model's dynamics matrices `V_k` (time step `dt`): `[M]` arrays of
    /// `modes`.
    let componentModes (dt: float) (p: Params) =
        Model.dynamicsMatrices p |> Array.map (modes dt)

    let private isZero (ut: float[,,,]) (b: int) (t: int) =
        let r = Array4D.length3 ut
        let mutable zero = true

        for i in 0 .. r - 1 do
            for j in 0 .. Array4D.length4 ut - 1 do
                if ut[b, t, i, j] <> 0.0 then
                    zero <- false

        zero

    /// The modes of the dynamics used at each step, `V_t` (the record's `Ut [windows; T; R; R]`),
    /// with time step `dt`: `[windows·T]` arrays of `modes`, window-major; a step whose `V_t` is
    /// zero (the first of a window, which has no prediction) gives the modes of the zero matrix.
    let modesOverTime (dt: float) (ut: float[,,,]) =
        checkNotNull (nameof ut) ut
        let t = Array4D.length2 ut
        let r = Array4D.length3 ut

        Array.init (Array4D.length1 ut * t) (fun i -> modes dt (Array2D.init r r (fun a b -> ut[i / t, i % t, a, b])))

    /// The true modes of an SLDS data set's systems (time step `dt`): one entry per (system,
    /// state), system-major, `[Systems·States]`.
    let sldsModes (dt: float) (systems: SldsSystem[]) =
        checkNotNull (nameof systems) systems

        [|
            for i in 0 .. systems.Length - 1 do
                for s in 0 .. systems[i].Dynamics.Length - 1 do
                    {
                        System = i
                        State = s
                        Modes = modes dt systems[i].Dynamics[s]
                    }
        |]

    /// Raises `ArgumentException` unless `tolerance` is finite and `>= 0`.
    let private checkTolerance (tolerance: float) =
        if not (Double.IsFinite tolerance && tolerance >= 0.0) then
            fail (nameof tolerance) $"expected a finite relative tolerance >= 0, got {tolerance}."

    /// The cost of matching `recovered` to `truth`: the relative error, or 1e6 when the recovered
    /// timescale is not finite and positive (capped at 1e6 so that the assignment stays finite).
    let private matchCost (truth: float) (recovered: float) =
        if Double.IsFinite recovered && recovered > 0.0 then
            min 1e6 (abs (recovered - truth) / truth)
        else
            1e6

    /// Matches each true timescale `truth [n]` (finite, positive) to a different recovered one
    /// `recovered [m]` so that the summed relative error `|recovered − true| / true` is least
    /// (Hungarian algorithm); all true ones are matched when `n ≤ m`. A pair is within tolerance when
    /// its relative error is at most `tolerance`. Infinite or non-positive recovered timescales
    /// (what `modes` gives a unit-modulus or unstable mode) are never within tolerance. Raises
    /// `ArgumentException` for a NaN recovered timescale, a true one that is not finite and
    /// positive, and a tolerance that is not finite and `>= 0`.
    let matchTimescales (tolerance: float) (recovered: float[]) (truth: float[]) =
        checkNotNull (nameof recovered) recovered
        checkNotNull (nameof truth) truth
        checkNotEmpty (nameof recovered) recovered.Length
        checkNotEmpty (nameof truth) truth.Length
        checkTolerance tolerance

        match truth |> Array.tryFindIndex (fun v -> not (Double.IsFinite v && v > 0.0)) with
        | Some i -> fail (nameof truth) $"expected finite, positive timescales, got {truth[i]} at index {i}."
        | None -> ()

        match recovered |> Array.tryFindIndex Double.IsNaN with
        | Some i ->
            fail
                (nameof recovered)
                $"got NaN at index {i}; a timescale is a number (infinite or negative for a unit-modulus or unstable mode, as modes gives them)."
        | None -> ()

        let cost =
            Array2D.init truth.Length recovered.Length (fun i j -> matchCost truth[i] recovered[j])

        let a = linearSumAssignment cost

        let pairs =
            Array.map2
                (fun i j ->
                    let err =
                        if Double.IsFinite recovered[j] && recovered[j] > 0.0 then
                            abs (recovered[j] - truth[i]) / truth[i]
                        else
                            infinity

                    {
                        TrueIndex = i
                        RecoveredIndex = j
                        True = truth[i]
                        Recovered = recovered[j]
                        RelativeError = err
                        Within = err <= tolerance
                    })
                a.Rows
                a.Columns

        {
            Pairs = pairs
            WithinCount = pairs |> Array.filter _.Within |> Array.length
            Tolerance = tolerance
        }

    let private median (xs: float[]) =
        if xs.Length = 0 then
            nan
        else
            let s = Array.sort xs
            let h = s.Length / 2
            if s.Length % 2 = 1 then s[h] else (s[h - 1] + s[h]) / 2.0

    /// How well the dynamics over time recover the true timescales of an SLDS data set. At each
    /// step of `ut [windows; T; R; R]` (window-major, with `states [≥ windows·T; systems]` the true
    /// discrete states of the same steps), the modes of `V_t` are matched (`matchTimescales`) to the
    /// true modes of the states active at that step (one set per system); steps whose `V_t` is zero
    /// are skipped. One result per (system, state, mode) of `systems`, system-major. Raises
    /// `ArgumentException` for a tolerance that is not finite and `>= 0`, even when no step is matched.
    let stateTimescaleRecovery
        (tolerance: float)
        (dt: float)
        (ut: float[,,,])
        (states: int[,])
        (systems: SldsSystem[])
        =
        checkNotNull (nameof ut) ut
        checkNotNull (nameof states) states
        checkNotNull (nameof systems) systems
        checkTolerance tolerance
        let t = Array4D.length2 ut
        let steps = Array4D.length1 ut * t

        if Array2D.length1 states < steps || Array2D.length2 states <> systems.Length then
            fail
                (nameof states)
                $"expected at least [{steps}; {systems.Length}] (the record's steps; the systems), got [{Array2D.length1 states}; {Array2D.length2 states}]."

        let truth = sldsModes dt systems

        let entry i s =
            truth |> Array.findIndex (fun m -> m.System = i && m.State = s)

        for i in 0 .. systems.Length - 1 do
            for step in 0 .. steps - 1 do
                let s = states[step, i]

                if s < 0 || s >= systems[i].Dynamics.Length then
                    fail
                        (nameof states)
                        $"expected states of system {i} in [0, {systems[i].Dynamics.Length - 1}], got {s}."

        let matched =
            truth
            |> Array.map (fun m -> m.Modes |> Array.map (fun _ -> ResizeArray<float>()))

        let within = truth |> Array.map (fun m -> Array.zeroCreate<int> m.Modes.Length)
        let active = Array.zeroCreate<int> truth.Length

        let r = Array4D.length3 ut

        for step in 0 .. steps - 1 do
            let b = step / t
            let tt = step % t

            if not (isZero ut b tt) then
                let recovered =
                    modes dt (Array2D.init r r (fun x y -> ut[b, tt, x, y]))
                    |> Array.map _.Timescale

                let owners =
                    [|
                        for i in 0 .. systems.Length - 1 do
                            let e = entry i states[step, i]

                            for m in 0 .. truth[e].Modes.Length - 1 do
                                e, m
                    |]

                let trueTau = owners |> Array.map (fun (e, m) -> truth[e].Modes[m].Timescale)

                for i in 0 .. systems.Length - 1 do
                    let e = entry i states[step, i]
                    active[e] <- active[e] + 1

                if trueTau |> Array.forall (fun v -> Double.IsFinite v && v > 0.0) then
                    let res = matchTimescales tolerance recovered trueTau

                    for p in res.Pairs do
                        let e, m = owners[p.TrueIndex]
                        matched[e].[m].Add(p.Recovered)

                        if p.Within then
                            within[e].[m] <- within[e].[m] + 1

        [|
            for e in 0 .. truth.Length - 1 do
                for m in 0 .. truth[e].Modes.Length - 1 do
                    {
                        System = truth[e].System
                        State = truth[e].State
                        Mode = m
                        True = truth[e].Modes[m].Timescale
                        MedianRecovered = median (Seq.toArray (matched[e].[m]))
                        WithinShare =
                            if active[e] = 0 then
                                nan
                            else
                                float (within[e].[m]) / float (active[e])
                        Steps = active[e]
                    }
        |]

    // ---------------------------------------------------------------- mixture usage

    /// The entropy (nats) of non-negative `weights [k]` normalised to sum 1, as SciPy's
    /// `scipy.stats.entropy(weights)`; 0 when they are all 0 (SciPy: NaN).
    let entropy (weights: float[]) =
        checkNotNull (nameof weights) weights
        checkNotEmpty (nameof weights) weights.Length

        if weights |> Array.exists (fun w -> not (w >= 0.0 && Double.IsFinite w)) then
            fail (nameof weights) "expected finite, non-negative weights."

        let total = Array.sum weights

        if total = 0.0 then
            0.0
        else
            -(weights
              |> Array.sumBy (fun w ->
                  let p = w / total
                  if p > 0.0 then p * log p else 0.0))

    /// How the mixture weights `w [time; M]` (non-negative, as the hypernetwork's ReLU gives them)
    /// use their components: mean weight and share per component, entropy per step and of the shares.
    let mixtureUsage (w: float[,]) =
        checkNotNull (nameof w) w
        let time = Array2D.length1 w
        let m = Array2D.length2 w
        checkNotEmpty (nameof w) time

        if m < 1 then
            fail (nameof w) "expected at least one component, got none."

        let mean =
            Array.init m (fun k -> (Seq.sum (seq { for t in 0 .. time - 1 -> w[t, k] })) / float time)

        let total = Array.sum mean
        let share = mean |> Array.map (fun v -> if total > 0.0 then v / total else 0.0)
        let stepEntropy = Array.init time (fun t -> entropy w[t, *])

        {
            MeanWeight = mean
            Share = share
            StepEntropy = stepEntropy
            MeanStepEntropy = Array.average stepEntropy
            UsageEntropy = entropy share
        }

    // ---------------------------------------------------------------- analyses during training

    /// The label of each row of `states [time; systems]` (integer discrete states): the rows'
    /// distinct values numbered in order of first appearance, `[time]`. Two steps share a label
    /// exactly when their states agree in every system, as with `jointStates`, without needing the
    /// number of states per system.
    let stateLabels (states: int[,]) =
        checkNotNull (nameof states) states
        let seen = Collections.Generic.Dictionary<int list, int>()

        Array.init (Array2D.length1 states) (fun t ->
            let row = List.init (Array2D.length2 states) (fun i -> states[t, i])

            match seen.TryGetValue row with
            | true, label -> label
            | _ ->
                let label = seen.Count
                seen[row] <- label
                label)

    /// The monitor metric of `decodingMonitor` for `R2_hat`.
    [<Literal>]
    let R2HatAccuracy = "r2_hat_accuracy"

    /// The monitor metric of `decodingMonitor` for `W`.
    [<Literal>]
    let WAccuracy = "w_accuracy"

    /// The number of random splits `decodingMonitor` averages over.
    [<Literal>]
    let monitorSplits = 5

    /// The measure of a `Monitoring` (`Train.fitMonitored`) that decodes the true states from the
    /// validation windows: for parameters `p`, `Evaluate.evaluateBatched cfg p batchSize validation`
    /// (from a zero state per window, in batches of `batchSize` as training's validation), then the
    /// mean held-out accuracy of `knnPredict 3` on `flatten R2Hat` and on `flatten W` over
    /// `monitorSplits` random 75/25 splits of the steps from the fixed key `Random.key 0` (the
    /// same splits every epoch), as `[R2HatAccuracy, _; WAccuracy, _]`. `validation [n; T; D]`,
    /// `labels [n·T]` the state label of each validation step, window-major (`stateLabels` or
    /// `jointStates` of the states aligned with the windows). Raises `ArgumentException` for a
    /// label count other than `n·T` or fewer than 8 steps.
    let decodingMonitor
        (cfg: Config)
        (batchSize: int)
        (validation: float[,,])
        (labels: int[])
        : Params -> (string * float) list =
        checkNotNull (nameof validation) validation
        checkNotNull (nameof labels) labels
        let steps = Array3D.length1 validation * Array3D.length2 validation

        if labels.Length <> steps then
            fail (nameof labels) $"expected {steps} labels (one per validation step: windows × T), got {labels.Length}."

        if steps < 8 then
            fail (nameof validation) $"expected at least 8 validation steps to decode from, got {steps}."

        if batchSize < 1 then
            fail (nameof batchSize) $"expected a positive batch size, got {batchSize}."

        let splits = randomSplits (Random.key 0) monitorSplits steps 0.25

        fun p ->
            let record = Evaluate.evaluateBatched cfg p batchSize validation

            let accuracy (a: float[,,]) =
                (decodingSpread defaultNeighbours (flatten a) labels splits).Mean

            [ R2HatAccuracy, accuracy record.R2Hat; WAccuracy, accuracy record.W ]
