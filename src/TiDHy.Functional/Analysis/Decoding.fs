namespace TiDHy.Functional

open System
open AnalysisChecks

// The public surface of this file and its documentation: Decoding.fsi.
type DataSplit = { Train: int[]; Test: int[] }

type DecodingScore =
    {
        Accuracy: float
        Chance: float
        TrainSize: int
        TestSize: int
    }

type DecodingSpread =
    {
        Scores: DecodingScore[]
        Mean: float
        Std: float
        Min: float
        Max: float
        ChanceMean: float
    }

type Decoder =
    | Knn of k: int
    | Linear of c: float

type DecodingSettings =
    {
        BlockLength: int
        TestFraction: float
        Splits: int
        Neighbours: int
        C: float
    }

type DecodingRow =
    {
        Name: string
        BlockKnn: DecodingSpread
        BlockLinear: DecodingSpread
        RandomKnn: DecodingSpread
        RandomLinear: DecodingSpread
    }

type DecodingTable =
    {
        Rows: DecodingRow[]
        BlockLength: int
        TestFraction: float
        Splits: int
        Neighbours: int
        C: float
        ChanceBlock: float
        ChanceRandom: float
        Classes: int
        Samples: int
        BlockSplits: DataSplit[]
        RandomSplits: DataSplit[]
    }

[<RequireQualifiedAccess>]
module Decoding =

    // ---------------------------------------------------------------- arrays and labels

    let flatten (a: float[,,]) =
        checkNotNull (nameof a) a
        let t = Array3D.length2 a
        Array2D.init (Array3D.length1 a * t) (Array3D.length3 a) (fun i k -> a[i / t, i % t, k])

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

    // ---------------------------------------------------------------- k nearest neighbours

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

    let knnAccuracyWith (k: int) (trainX: float[,]) (trainY: int[]) (testX: float[,]) (testY: int[]) =
        checkNotNull (nameof testX) testX
        checkLabels (nameof testY) (Array2D.length1 testX) testY
        let predicted = knnPredict k trainX trainY testX

        float (Array.fold2 (fun n p y -> if p = y then n + 1 else n) 0 predicted testY)
        / float testY.Length

    [<Literal>]
    let defaultNeighbours = 3

    let knnAccuracy (trainX: float[,]) (trainY: int[]) (testX: float[,]) (testY: int[]) =
        knnAccuracyWith defaultNeighbours trainX trainY testX testY

    let chance (labels: int[]) =
        checkNotNull (nameof labels) labels
        checkNotEmpty (nameof labels) labels.Length
        let top = labels |> Array.countBy id |> Array.map snd |> Array.max
        float top / float labels.Length

    // ---------------------------------------------------------------- splits

    let blockSplit (key: Key) (n: int) (blockLength: int) (testFraction: float) =
        if n < 2 then
            fail (nameof n) $"expected >= 2 samples, got {n}."

        if blockLength < 1 || blockLength > n / 2 then
            fail (nameof blockLength) $"expected in [1, n/2 = {n / 2}], got {blockLength}."

        if not (testFraction > 0.0 && testFraction < 1.0) then
            fail (nameof testFraction) $"expected in (0, 1), got {testFraction}."

        let blocks = (n + blockLength - 1) / blockLength
        let testBlocks = min (blocks - 1) (max 1 (int (ceil (testFraction * float blocks))))
        let order = Random.permutation key blocks
        let isTest = Array.zeroCreate blocks

        for b in order[0 .. testBlocks - 1] do
            isTest[b] <- true

        let all = Array.init n id

        {
            Train = all |> Array.filter (fun i -> not isTest[i / blockLength])
            Test = all |> Array.filter (fun i -> isTest[i / blockLength])
        }

    let randomSplit (key: Key) (n: int) (testFraction: float) =
        if n < 2 then
            fail (nameof n) $"expected >= 2 samples, got {n}."

        blockSplit key n 1 testFraction

    let randomSplits (key: Key) (count: int) (n: int) (testFraction: float) =
        if count < 1 then
            fail (nameof count) $"expected >= 1, got {count}."

        Array.init count (fun i -> randomSplit (Random.foldIn i key) n testFraction)

    let blockSplits (key: Key) (count: int) (n: int) (blockLength: int) (testFraction: float) =
        if count < 1 then
            fail (nameof count) $"expected >= 1, got {count}."

        Array.init count (fun i -> blockSplit (Random.foldIn i key) n blockLength testFraction)

    let private rows (x: float[,]) (idx: int[]) =
        Array2D.init idx.Length (Array2D.length2 x) (fun i c -> x[idx[i], c])

    let decodingScoreWith (decoder: Decoder) (features: float[,]) (labels: int[]) (split: DataSplit) =
        checkNotNull (nameof features) features
        let n = Array2D.length1 features
        checkNotEmpty (nameof features) n
        checkLabels (nameof labels) n labels

        for name, idx in [ "split.Train", split.Train; "split.Test", split.Test ] do
            checkNotNull name idx
            checkNotEmpty name idx.Length

            if idx |> Array.exists (fun i -> i < 0 || i >= n) then
                fail name $"expected indices in [0, {n - 1}]."

        let trainX = rows features split.Train
        let trainY = split.Train |> Array.map (fun i -> labels[i])
        let testX = rows features split.Test
        let testY = split.Test |> Array.map (fun i -> labels[i])

        {
            Accuracy =
                match decoder with
                | Knn k -> knnAccuracyWith k trainX trainY testX testY
                | Linear c -> LinearDecoder.accuracy c trainX trainY testX testY
            Chance = chance testY
            TrainSize = split.Train.Length
            TestSize = split.Test.Length
        }

    let decodingScore (k: int) (features: float[,]) (labels: int[]) (split: DataSplit) =
        decodingScoreWith (Knn k) features labels split

    let decodingSpreadWith (decoder: Decoder) (features: float[,]) (labels: int[]) (splits: DataSplit[]) =
        checkNotNull (nameof splits) splits
        checkNotEmpty (nameof splits) splits.Length
        let scores = splits |> Array.map (decodingScoreWith decoder features labels)
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

    let decodingSpread (k: int) (features: float[,]) (labels: int[]) (splits: DataSplit[]) =
        decodingSpreadWith (Knn k) features labels splits

    // ---------------------------------------------------------------- baselines and the table

    [<Literal>]
    let defaultLags = 10

    let delayEmbed (lags: int) (x: float[,]) =
        checkNotNull (nameof x) x

        if lags < 0 then
            fail (nameof lags) $"expected >= 0, got {lags}."

        let d = Array2D.length2 x
        Array2D.init (Array2D.length1 x) (d * (lags + 1)) (fun t c -> x[max 0 (t - c / d), c % d])

    let baselineFeatures (lags: int) (input: float[,]) =
        checkNotNull (nameof input) input
        [ "I (raw input)", input; $"I with {lags} lags", delayEmbed lags input ]

    let defaultSettings =
        {
            BlockLength = 100
            TestFraction = 0.25
            Splits = 5
            Neighbours = defaultNeighbours
            C = LinearDecoder.defaultC
        }

    let table (key: Key) (settings: DecodingSettings) (labels: int[]) (features: (string * float[,]) list) =
        checkNotNull (nameof settings) settings
        checkNotNull (nameof labels) labels
        checkNotNull (nameof features) features
        let n = labels.Length

        if settings.BlockLength < 1 then
            fail "settings.BlockLength" $"expected >= 1, got {settings.BlockLength}."

        if n < 2 * settings.BlockLength then
            fail
                (nameof labels)
                $"expected at least 2 blocks of {settings.BlockLength} steps (settings.BlockLength), got {n} steps."

        if not (settings.TestFraction > 0.0 && settings.TestFraction < 1.0) then
            fail "settings.TestFraction" $"expected in (0, 1), got {settings.TestFraction}."

        if settings.Splits < 1 then
            fail "settings.Splits" $"expected >= 1, got {settings.Splits}."

        if settings.Neighbours < 1 then
            fail "settings.Neighbours" $"expected >= 1, got {settings.Neighbours}."

        if not (Double.IsFinite settings.C && settings.C > 0.0) then
            fail "settings.C" $"expected finite and > 0, got {settings.C}."

        if List.isEmpty features then
            fail (nameof features) "expected at least one feature, got none."

        for name, x in features do
            if isNull name then
                fail (nameof features) "a feature's name is null."

            if isNull x then
                fail (nameof features) $"feature '{name}' is null."

            if Array2D.length1 x <> n then
                fail (nameof features) $"feature '{name}' has {Array2D.length1 x} rows, expected {n} (the labels)."

        let blockKey, randomKey = Random.split key

        let blocks =
            blockSplits blockKey settings.Splits n settings.BlockLength settings.TestFraction

        let randoms = randomSplits randomKey settings.Splits n settings.TestFraction
        let knn = Knn settings.Neighbours
        let linear = Linear settings.C

        let chanceOf (splits: DataSplit[]) =
            splits
            |> Array.averageBy (fun s -> chance (s.Test |> Array.map (fun i -> labels[i])))

        {
            Rows =
                [|
                    for name, x in features ->
                        {
                            Name = name
                            BlockKnn = decodingSpreadWith knn x labels blocks
                            BlockLinear = decodingSpreadWith linear x labels blocks
                            RandomKnn = decodingSpreadWith knn x labels randoms
                            RandomLinear = decodingSpreadWith linear x labels randoms
                        }
                |]
            BlockLength = settings.BlockLength
            TestFraction = settings.TestFraction
            Splits = settings.Splits
            Neighbours = settings.Neighbours
            C = settings.C
            ChanceBlock = chanceOf blocks
            ChanceRandom = chanceOf randoms
            Classes = labels |> Array.distinct |> Array.length
            Samples = n
            BlockSplits = blocks
            RandomSplits = randoms
        }
