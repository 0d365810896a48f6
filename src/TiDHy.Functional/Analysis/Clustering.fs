namespace TiDHy.Functional

open System
open System.Numerics
open AnalysisChecks

// The public surface of this file and its documentation: Clustering.fsi.
type LinearAssignment =
    {
        Rows: int[]
        Columns: int[]
        Cost: float
    }

type ClusterAgreement =
    {
        MatchedAccuracy: float
        AdjustedRand: float
        NormalisedMutualInformation: float
        Homogeneity: float
        Completeness: float
        VMeasure: float
        Purity: float
    }

type KMeansResult =
    {
        Labels: int[]
        Centroids: float[,]
        Inertia: float
    }

[<RequireQualifiedAccess>]
module Clustering =

    // ---------------------------------------------------------------- assignment

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

    let homogeneity (truth: int[]) (pred: int[]) =
        fst (homogeneityCompleteness truth pred)

    let completeness (truth: int[]) (pred: int[]) =
        snd (homogeneityCompleteness truth pred)

    let vMeasure (truth: int[]) (pred: int[]) =
        let h, c = homogeneityCompleteness truth pred
        if h + c = 0.0 then 0.0 else 2.0 * h * c / (h + c)

    let purity (truth: int[]) (pred: int[]) =
        let c = contingency truth pred

        let top =
            Array.init (Array2D.length2 c) (fun j -> Seq.max (seq { for i in 0 .. Array2D.length1 c - 1 -> c[i, j] }))

        float (Array.sum top) / float truth.Length

    let matchedAccuracy (truth: int[]) (pred: int[]) =
        let c = contingency truth pred
        let m = linearSumAssignment (Array2D.map (fun v -> -(float v)) c)
        -m.Cost / float truth.Length

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
