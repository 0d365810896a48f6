namespace TiDHy.Functional

open System
open MathNet.Numerics.LinearAlgebra
open AnalysisChecks

// The public surface of this file and its documentation: EffectiveTimescales.fsi.
type TimescaleClusters = { Centres: float[]; Counts: int[] }

type TruthPair =
    {
        Discovered: float
        True: float
        RelativeError: float
    }

type TruthComparison =
    {
        Pairs: TruthPair[]
        Matched: int
        Recovery: float
        Precision: float
        Recall: float
        MeanRelativeError: float
        FalsePositives: float[]
        FalseNegatives: float[]
        Tolerance: float
    }

type TimescaleSummary =
    {
        Count: int
        Mean: float
        Median: float
        Std: float
        Min: float
        Max: float
    }

type LabelFreeTimescales =
    {
        Timescales: float[]
        Matrices: int
        ZeroSkipped: int
        Summary: TimescaleSummary
        Clusters: TimescaleClusters
        Comparison: TruthComparison option
    }

type LabelFit =
    {
        Label: int
        Transitions: int
        Timescales: float[]
    }

type PerStateFit =
    {
        Fits: LabelFit[]
        Skipped: int[]
        Pooled: float[]
        Truth: float[]
        Nearest: float[]
        RelativeErrors: float[]
        Within: int
        Tolerance: float
    }

[<RequireQualifiedAccess>]
module EffectiveTimescales =

    let private checkDt (dt: float) =
        if not (dt > 0.0 && Double.IsFinite dt) then
            fail (nameof dt) $"expected a finite, positive time step, got {dt}."

    let private checkTolerance (tolerance: float) =
        if not (Double.IsFinite tolerance && tolerance >= 0.0) then
            fail (nameof tolerance) $"expected a finite relative tolerance >= 0, got {tolerance}."

    let private checkTruth (truth: float[]) =
        checkNotNull (nameof truth) truth

        if truth.Length = 0 then
            fail (nameof truth) "expected at least one true timescale, got none."

        match truth |> Array.tryFindIndex (fun v -> not (Double.IsFinite v && v > 0.0)) with
        | Some i -> fail (nameof truth) $"expected finite, positive timescales, got {truth[i]} at index {i}."
        | None -> ()

    /// The stable timescales of `a`, unsorted (no argument checks).
    let private stable (dt: float) (a: Matrix<float>) =
        a.Evd().EigenValues.ToArray()
        |> Array.map _.Magnitude
        |> Array.filter (fun m -> m < 1.0)
        |> Array.map (fun m -> -dt / log (Math.Clamp(m, 1e-10, 0.9999)))

    let spectrumTimescales (dt: float) (a: float[,]) =
        checkNotNull (nameof a) a
        let n = Array2D.length1 a

        if n < 1 || Array2D.length2 a <> n then
            fail (nameof a) $"expected a non-empty square matrix, got [{n}; {Array2D.length2 a}]."

        checkDt dt

        if a |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof a) "expected finite values."

        stable dt (Matrix<float>.Build.DenseOfArray a) |> Array.sort

    /// The timescales pooled over the non-zero matrices of `matrices`, ascending, with the number of
    /// matrices analysed and of zero matrices skipped.
    let private pool (dt: float) (matrices: float[,] seq) =
        let all = ResizeArray<float>()
        let mutable analysed = 0
        let mutable zero = 0

        for m in matrices do
            if m |> Seq.cast<float> |> Seq.forall (fun v -> v = 0.0) then
                zero <- zero + 1
            else
                all.AddRange(spectrumTimescales dt m)
                analysed <- analysed + 1

        Array.sort (all.ToArray()), analysed, zero

    let private stepMatrices (ut: float[,,,]) =
        let r = Array4D.length3 ut

        if r < 1 || Array4D.length4 ut <> r then
            fail (nameof ut) $"expected [windows; T; R; R] with R >= 1, got R dimensions {r} and {Array4D.length4 ut}."

        seq {
            for w in 0 .. Array4D.length1 ut - 1 do
                for t in 0 .. Array4D.length2 ut - 1 do
                    Array2D.init r r (fun i j -> ut[w, t, i, j])
        }

    let private poolSteps (dt: float) (ut: float[,,,]) =
        checkNotNull (nameof ut) ut
        checkDt dt

        if ut |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof ut) "expected finite values."

        pool dt (stepMatrices ut)

    let private poolComponents (dt: float) (p: Params) =
        checkNotNull (nameof p) p
        checkDt dt
        pool dt (Model.dynamicsMatrices p)

    let effectiveTimescales (dt: float) (ut: float[,,,]) =
        let ts, _, _ = poolSteps dt ut
        ts

    let componentTimescales (dt: float) (p: Params) =
        let ts, _, _ = poolComponents dt p
        ts

    /// `numpy.percentile(sorted, q)` with the default linear method, for `sorted` ascending and non-empty.
    let private percentile (sorted: float[]) (q: float) =
        let n = sorted.Length
        let vi = float (n - 1) * (q / 100.0)
        let lo = int (floor vi)

        if lo >= n - 1 then
            sorted[n - 1]
        else
            let g = vi - float lo
            let a = sorted[lo]
            let b = sorted[lo + 1]
            let d = b - a
            // NumPy's _lerp: from the nearer end.
            if g >= 0.5 then b - d * (1.0 - g) else a + d * g

    let private median (sorted: float[]) =
        let n = sorted.Length
        let h = n / 2

        if n % 2 = 1 then
            sorted[h]
        else
            (sorted[h - 1] + sorted[h]) / 2.0

    /// `numpy.histogram(x, bins)` for `bins >= 1` and `max x − min x > 0`: counts and edges.
    let private histogram (x: float[]) (bins: int) =
        let first = Array.min x
        let last = Array.max x
        let step = (last - first) / float bins
        // numpy.linspace(first, last, bins + 1): i·step + first, the last edge exactly `last`.
        let edges =
            Array.init (bins + 1) (fun i -> if i = bins then last else float i * step + first)

        let norm = float bins / (last - first)
        let counts = Array.zeroCreate bins

        for v in x do
            let mutable i = int ((v - first) * norm)

            if i = bins then
                i <- i - 1

            if v < edges[i] then
                i <- i - 1

            if v >= edges[i + 1] && i <> bins - 1 then
                i <- i + 1

            counts[i] <- counts[i] + 1

        counts, edges

    let clusterTimescales (timescales: float[]) =
        checkNotNull (nameof timescales) timescales

        match timescales |> Array.tryFindIndex (fun v -> not (Double.IsFinite v && v > 0.0)) with
        | Some i ->
            fail
                (nameof timescales)
                $"expected finite, positive timescales, got {timescales[i]} at index {i} (leave out unstable modes, as spectrumTimescales does)."
        | None -> ()

        let n = timescales.Length

        if n = 0 then
            { Centres = [||]; Counts = [||] }
        else
            let logs = timescales |> Array.map (fun t -> log10 (t + 1e-10))
            let sortedLogs = Array.sort logs
            let iqr = percentile sortedLogs 75.0 - percentile sortedLogs 25.0

            let one () =
                {
                    Centres = [| median (Array.sort timescales) |]
                    Counts = [| n |]
                }

            if iqr < 1e-10 then
                one ()
            else
                let width = 2.0 * iqr / Math.Pow(float n, 1.0 / 3.0)
                let range = sortedLogs[n - 1] - sortedLogs[0]

                if width < 1e-10 || range < 1e-10 then
                    one ()
                else
                    let bins = max 1 (min (max (int (range / width)) 1) (n / 2))
                    let counts, edges = histogram logs bins

                    let kept = [| 0 .. bins - 1 |] |> Array.filter (fun i -> counts[i] > 0)

                    {
                        Centres = kept |> Array.map (fun i -> Math.Pow(10.0, (edges[i] + edges[i + 1]) / 2.0))
                        Counts = kept |> Array.map (fun i -> counts[i])
                    }

    let compareToTruth (tolerance: float) (discovered: float[]) (truth: float[]) =
        checkNotNull (nameof discovered) discovered
        checkTruth truth
        checkTolerance tolerance

        match discovered |> Array.tryFindIndex (Double.IsFinite >> not) with
        | Some i -> fail (nameof discovered) $"expected finite timescales, got {discovered[i]} at index {i}."
        | None -> ()

        let cost i j =
            abs (discovered[i] - truth[j]) / (truth[j] + 1e-10)

        let pairs =
            if discovered.Length = 0 then
                [||]
            else
                let a =
                    Clustering.linearSumAssignment (Array2D.init discovered.Length truth.Length cost)

                Array.zip a.Rows a.Columns
                |> Array.sortBy fst
                |> Array.filter (fun (i, j) -> cost i j <= tolerance)

        let matchedD = pairs |> Array.map fst |> Set.ofArray
        let matchedT = pairs |> Array.map snd |> Set.ofArray
        let m = pairs.Length

        let truthPairs: TruthPair[] =
            pairs
            |> Array.map (fun (i, j) ->
                {
                    Discovered = discovered[i]
                    True = truth[j]
                    RelativeError = cost i j
                })

        {
            Pairs = truthPairs
            Matched = m
            Recovery = float m / float truth.Length
            Precision =
                if discovered.Length = 0 then
                    0.0
                else
                    float m / float discovered.Length
            Recall = float m / float truth.Length
            MeanRelativeError =
                if m = 0 then
                    nan
                else
                    truthPairs |> Array.averageBy _.RelativeError
            FalsePositives =
                [|
                    for i in 0 .. discovered.Length - 1 do
                        if not (matchedD.Contains i) then
                            discovered[i]
                |]
            FalseNegatives =
                [|
                    for j in 0 .. truth.Length - 1 do
                        if not (matchedT.Contains j) then
                            truth[j]
                |]
            Tolerance = tolerance
        }

    let summarise (timescales: float[]) =
        checkNotNull (nameof timescales) timescales

        if timescales |> Array.exists Double.IsNaN then
            fail (nameof timescales) "expected numbers, got NaN."

        let n = timescales.Length

        if n = 0 then
            {
                Count = 0
                Mean = nan
                Median = nan
                Std = nan
                Min = nan
                Max = nan
            }
        else
            let s = Array.sort timescales
            let mean = Array.average s

            {
                Count = n
                Mean = mean
                Median = median s
                Std = sqrt (s |> Array.averageBy (fun v -> (v - mean) * (v - mean)))
                Min = s[0]
                Max = s[n - 1]
            }

    let private readOut (tolerance: float) (truth: float[] option) (ts: float[], analysed: int, zero: int) =
        let clusters = clusterTimescales ts

        {
            Timescales = ts
            Matrices = analysed
            ZeroSkipped = zero
            Summary = summarise ts
            Clusters = clusters
            Comparison = truth |> Option.map (compareToTruth tolerance clusters.Centres)
        }

    let private checkReadOut (tolerance: float) (truth: float[] option) =
        checkTolerance tolerance
        Option.iter checkTruth truth

    let labelFree (dt: float) (tolerance: float) (truth: float[] option) (ut: float[,,,]) =
        checkReadOut tolerance truth
        readOut tolerance truth (poolSteps dt ut)

    let labelFreeComponents (dt: float) (tolerance: float) (truth: float[] option) (p: Params) =
        checkReadOut tolerance truth
        readOut tolerance truth (poolComponents dt p)

    /// The least-squares `U` (`x1 ≈ U·x0` row-wise, i.e. `X1 ≈ X0·Uᵀ`) by QR, or None when `X0` is
    /// rank-deficient.
    let private fitU (x0: Matrix<float>) (x1: Matrix<float>) =
        let qr = x0.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Thin)
        let diag = qr.R.Diagonal().Map(fun v -> abs v)
        let largest = diag.Maximum()

        if largest = 0.0 || diag.Minimum() < 1e-10 * largest then
            None
        else
            Some(qr.Solve(x1).Transpose())

    let perStateFit (dt: float) (features: float[,]) (labels: int[]) (truth: float[]) (tolerance: float) =
        checkNotNull (nameof features) features
        checkNotNull (nameof labels) labels
        checkDt dt
        checkTruth truth
        checkTolerance tolerance
        let n = Array2D.length1 features
        let d = Array2D.length2 features

        if d < 1 then
            fail (nameof features) $"expected at least one feature, got [{n}; {d}]."

        if n < 2 then
            fail (nameof features) $"expected at least 2 steps (one transition), got {n}."

        if labels.Length <> n then
            fail (nameof labels) $"expected one label per step of features ({n}), got {labels.Length}."

        if features |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof features) "expected finite values."

        let fits = ResizeArray<LabelFit>()
        let skipped = ResizeArray<int>()

        for label in Array.distinct labels |> Array.sort do
            let steps =
                [| 0 .. n - 2 |]
                |> Array.filter (fun t -> labels[t] = label && labels[t + 1] = label)

            let fitted =
                if steps.Length < d then
                    None
                else
                    let x0 =
                        Matrix<float>.Build.Dense(steps.Length, d, fun i j -> features[steps[i], j])

                    let x1 =
                        Matrix<float>.Build.Dense(steps.Length, d, fun i j -> features[steps[i] + 1, j])

                    fitU x0 x1

            match fitted with
            | Some u ->
                fits.Add
                    {
                        Label = label
                        Transitions = steps.Length
                        Timescales = stable dt u |> Array.sort
                    }
            | None -> skipped.Add label

        let pooled = fits |> Seq.collect _.Timescales |> Seq.toArray |> Array.sort

        let nearest =
            truth
            |> Array.map (fun t ->
                if pooled.Length = 0 then
                    nan
                else
                    pooled |> Array.minBy (fun v -> abs (v - t)))

        let errors = Array.map2 (fun v t -> abs (v - t) / t) nearest truth

        {
            Fits = fits.ToArray()
            Skipped = skipped.ToArray()
            Pooled = pooled
            Truth = Array.copy truth
            Nearest = nearest
            RelativeErrors = errors
            Within = errors |> Array.filter (fun e -> e <= tolerance) |> Array.length
            Tolerance = tolerance
        }
