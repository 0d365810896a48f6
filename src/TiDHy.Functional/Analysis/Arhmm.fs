namespace TiDHy.Functional

open System
open MathNet.Numerics.LinearAlgebra
open AnalysisChecks
open ArhmmCore
open ArhmmEm

// The public surface of this file and its documentation: Arhmm.fsi.
type ArhmmOptions =
    {
        States: int
        Iterations: int
        Restarts: int
        Tolerance: float
    }

type ArhmmModel =
    {
        Initial: float[]
        Transition: float[,]
        Dynamics: float[,][]
        Bias: float[][]
        Covariance: float[,][]
        InitialMean: float[]
        InitialCovariance: float[,]
    }

type ArhmmFit =
    {
        Model: ArhmmModel
        LogLikelihood: float
        Objective: float
        LogLikelihoodHistory: float[]
        ObjectiveHistory: float[]
        RestartLogLikelihoods: float[]
        Restart: int
        Iterations: int
        Converged: bool
    }

type ArhmmAccuracy =
    {
        Accuracy: float
        Chance: float
        Mapping: int[]
        TrainSize: int
        TestSize: int
    }

type ArhmmBaseline =
    {
        LogLikelihoodPerStep: float
        States: int[]
        Accuracies: ArhmmAccuracy[]
        AccuracyMean: float
        AccuracyStd: float
        ChanceMean: float
        Timescales: float[]
        TimescaleComparison: TruthComparison option
    }

[<RequireQualifiedAccess>]
module Arhmm =

    let defaults =
        {
            States = 2
            Iterations = 100
            Restarts = 5
            Tolerance = 1e-6
        }

    [<Literal>]
    let Ridge = 1e-6

    [<Literal>]
    let CovarianceFloor = 1e-6

    [<Literal>]
    let PseudoCount = ArhmmCore.PseudoCount

    // ---------------------------------------------------------------- checks

    let private checkSeries (name: string) (x: float[,]) =
        checkNotNull name x

        if Array2D.length2 x < 1 then
            fail name $"expected at least one column (feature), got [{Array2D.length1 x}; 0]."

        if Array2D.length1 x < 2 then
            fail name $"expected at least 2 time steps, got {Array2D.length1 x}."

        for t in 0 .. Array2D.length1 x - 1 do
            for j in 0 .. Array2D.length2 x - 1 do
                if not (Double.IsFinite x[t, j]) then
                    fail name $"expected finite values, got {x[t, j]} at row {t}, column {j}."

    let private checkDistribution (name: string) (p: float[]) =
        if
            p |> Array.exists (fun v -> not (v >= 0.0 && v <= 1.0))
            || abs (Array.sum p - 1.0) > 1e-8
        then
            let listed = String.Join(", ", p)
            fail name $"expected probabilities in [0, 1] summing to 1, got [{listed}]."

    /// Checks a model's shapes and values; returns `K`, `d` and the Cholesky factors of the `Σ_k`
    /// and of `Σ0`.
    let private checkModel (model: ArhmmModel) =
        checkNotNull (nameof model) model
        let name = nameof model
        let k = if isNull model.Initial then 0 else model.Initial.Length

        if k < 1 then
            fail name "Initial: expected at least one state."

        checkDistribution "model.Initial" model.Initial

        if
            isNull model.Transition
            || Array2D.length1 model.Transition <> k
            || Array2D.length2 model.Transition <> k
        then
            fail name $"Transition: expected [{k}; {k}]."

        for j in 0 .. k - 1 do
            checkDistribution $"model.Transition (row {j})" model.Transition[j, *]

        let d =
            if isNull model.InitialMean then
                0
            else
                model.InitialMean.Length

        if d < 1 then
            fail name "InitialMean: expected at least one dimension."

        let square (what: string) (a: float[,]) =
            if isNull a || Array2D.length1 a <> d || Array2D.length2 a <> d then
                fail name $"{what}: expected [{d}; {d}]."

            if a |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
                fail name $"{what}: expected finite values."

        let perState (what: string) (a: 'a[]) =
            if isNull a || a.Length <> k then
                fail name $"{what}: expected {k} entries, one per state."

        perState "Dynamics" model.Dynamics
        perState "Bias" model.Bias
        perState "Covariance" model.Covariance

        for s in 0 .. k - 1 do
            square $"Dynamics[{s}]" model.Dynamics[s]
            square $"Covariance[{s}]" model.Covariance[s]

            if
                isNull model.Bias[s]
                || model.Bias[s].Length <> d
                || model.Bias[s] |> Array.exists (Double.IsFinite >> not)
            then
                fail name $"Bias[{s}]: expected {d} finite values."

        square "InitialCovariance" model.InitialCovariance

        if model.InitialMean |> Array.exists (Double.IsFinite >> not) then
            fail name "InitialMean: expected finite values."

        let chol (what: string) (a: float[,]) =
            match tryCholesky a with
            | Some l -> l
            | None -> fail name $"{what}: expected a symmetric positive-definite matrix."

        let ls = Array.init k (fun s -> chol $"Covariance[{s}]" model.Covariance[s])
        k, d, ls, chol "InitialCovariance" model.InitialCovariance

    /// The emission log-densities of `x` under `model` (uncentred design, `W_k = [A_k, b_k]`).
    let private modelEmissions (model: ArhmmModel) (x: float[,]) =
        let k, d, ls, l0 = checkModel model
        checkSeries (nameof x) x

        if Array2D.length2 x <> d then
            fail (nameof x) $"expected {d} columns (the model's dimension), got {Array2D.length2 x}."

        let w s =
            Array2D.init d (d + 1) (fun i j -> if j < d then model.Dynamics[s][i, j] else model.Bias[s][i])

        let es = Array.init k (fun s -> emission (w s) ls[s])
        let first = logDensity l0 model.InitialMean x[0, *]
        emissions (design x (Array.zeroCreate d)) es first

    let logLikelihood (model: ArhmmModel) (x: float[,]) =
        let logB = modelEmissions model x
        snd (forward model.Initial model.Transition logB (Array2D.length1 x))

    let posteriors (model: ArhmmModel) (x: float[,]) =
        let logB = modelEmissions model x
        let t = Array2D.length1 x
        let k = model.Initial.Length
        let post = forwardBackward model.Initial model.Transition logB t
        Array2D.init t k (fun i s -> post.Gamma[i * k + s])

    let mostLikelyStates (model: ArhmmModel) (x: float[,]) =
        let logB = modelEmissions model x
        viterbi model.Initial model.Transition logB (Array2D.length1 x)

    let fit (key: Key) (options: ArhmmOptions) (x: float[,]) =
        let k = options.States

        if k < 1 then
            fail (nameof options) $"States: expected >= 1, got {k}."

        if options.Iterations < 1 then
            fail (nameof options) $"Iterations: expected >= 1, got {options.Iterations}."

        if options.Restarts < 1 then
            fail (nameof options) $"Restarts: expected >= 1, got {options.Restarts}."

        if not (Double.IsFinite options.Tolerance && options.Tolerance >= 0.0) then
            fail (nameof options) $"Tolerance: expected finite and >= 0, got {options.Tolerance}."

        checkSeries (nameof x) x
        let t = Array2D.length1 x
        let d = Array2D.length2 x
        let needed = k * (d + 1) + 2

        if t < needed then
            fail
                (nameof x)
                $"expected at least K·(d + 1) + 2 = {needed} time steps for {k} states of dimension {d}, got {t}."

        let mean = Array.init d (fun j -> Array.average x[*, j])

        let cov =
            let entry i j =
                let mutable acc = 0.0

                for s in 0 .. t - 1 do
                    acc <- acc + (x[s, i] - mean[i]) * (x[s, j] - mean[j])

                acc / float t

            Array2D.init d d entry

        let meanVariance = Seq.init d (fun j -> cov[j, j]) |> Seq.average
        let scale = if meanVariance > 0.0 then meanVariance else 1.0
        let floor = CovarianceFloor * scale
        let cov0 = Array2D.init d d (fun i j -> cov[i, j] + (if i = j then floor else 0.0))
        let ds = design x mean

        let trace =
            (Seq.init d (fun j -> dot ds.Columns[j] 0 ds.Columns[j] 0 ds.Transitions)
             |> Seq.sum)
            + float ds.Transitions

        let l0 =
            match tryCholesky cov0 with
            | Some l -> l
            | None -> fail (nameof x) "the series' covariance is not positive definite (even with the floor)."

        let c =
            {
                Design = ds
                K = k
                Lambda = Ridge * trace / float (d + 1)
                Psi = floor * float ds.Transitions
                First = logDensity l0 (Array.zeroCreate d) (Array.init d (fun j -> x[0, j] - mean[j]))
            }

        let runs =
            Array.init options.Restarts (fun r ->
                let rk = Random.foldIn r key

                let labels = if r = 0 then kMeansLabels rk ds k else randomBlocks rk k t

                runEm c options.Iterations options.Tolerance labels)

        let lastLl (_, (lls: float[]), _, _, _) = lls[lls.Length - 1]
        let best = runs |> Array.mapi (fun i r -> i, lastLl r) |> Array.maxBy snd |> fst
        let theta, lls, objs, iterations, converged = runs[best]

        let model =
            {
                Initial = theta.Pi
                Transition = theta.P
                Dynamics = theta.W |> Array.map (fun w -> Array2D.init d d (fun i j -> w[i, j]))
                Bias =
                    theta.W
                    |> Array.map (fun w ->
                        Array.init d (fun i ->
                            w[i, d] + mean[i] - (Seq.init d (fun j -> w[i, j] * mean[j]) |> Seq.sum)))
                Covariance = theta.Sigma
                InitialMean = mean
                InitialCovariance = cov0
            }

        {
            Model = model
            LogLikelihood = lls[lls.Length - 1]
            Objective = objs[objs.Length - 1]
            LogLikelihoodHistory = lls
            ObjectiveHistory = objs
            RestartLogLikelihoods = runs |> Array.map lastLl
            Restart = best
            Iterations = iterations
            Converged = converged
        }

    // ---------------------------------------------------------------- read-outs

    let modes (dt: float) (model: ArhmmModel) =
        checkModel model |> ignore
        model.Dynamics |> Array.map (Timescales.modes dt)

    let timescales (dt: float) (model: ArhmmModel) =
        modes dt model
        |> Array.collect (Array.filter (fun m -> m.Eigenvalue.Magnitude > 0.0 && m.Eigenvalue.Magnitude < 1.0))
        |> Array.map _.Timescale

    let sample (key: Key) (model: ArhmmModel) (length: int) =
        let k, d, ls, l0 = checkModel model

        if length < 1 then
            fail (nameof length) $"expected >= 1, got {length}."

        let kz, kx = Random.split key
        let u = Random.uniform01 kz length
        let noise = Random.normal kx (length * d)

        let draw (p: float[]) (v: float) =
            let mutable s = 0
            let mutable acc = p[0]

            while v >= acc && s < p.Length - 1 do
                s <- s + 1
                acc <- acc + p[s]

            s

        let z = Array.zeroCreate length
        let x = Array2D.zeroCreate length d
        z[0] <- draw model.Initial u[0]

        let put (t: int) (mean: float[]) (l: Matrix<float>) =
            for i in 0 .. d - 1 do
                let mutable v = mean[i]

                for j in 0..i do
                    v <- v + l[i, j] * noise[t * d + j]

                x[t, i] <- v

        put 0 model.InitialMean l0

        for t in 1 .. length - 1 do
            let s = draw model.Transition[z[t - 1], *] u[t]
            z[t] <- s
            let a = model.Dynamics[s]

            let mean =
                Array.init d (fun i -> model.Bias[s][i] + (Seq.init d (fun j -> a[i, j] * x[t - 1, j]) |> Seq.sum))

            put t mean ls[s]

        ignore k
        x, z

    let stateAccuracy (split: DataSplit) (truth: int[]) (predicted: int[]) =
        checkNotNull (nameof split) split
        checkNotNull (nameof truth) truth
        checkNotNull (nameof predicted) predicted

        if truth.Length <> predicted.Length then
            fail (nameof predicted) $"expected {truth.Length} states (one per label), got {predicted.Length}."

        if truth |> Array.exists (fun v -> v < 0) then
            fail (nameof truth) "expected labels >= 0."

        if predicted |> Array.exists (fun v -> v < 0) then
            fail (nameof predicted) "expected states >= 0."

        let n = truth.Length

        for name, idx in [ "split.Train", split.Train; "split.Test", split.Test ] do
            if isNull idx || idx.Length = 0 then
                fail (nameof split) $"{name}: expected at least one index."

            if idx |> Array.exists (fun i -> i < 0 || i >= n) then
                fail (nameof split) $"{name}: expected indices in [0, {n})."

        let states = Array.max predicted + 1
        let labels = Array.max truth + 1
        let counts = Array2D.zeroCreate states labels

        for i in split.Train do
            counts[predicted[i], truth[i]] <- counts[predicted[i], truth[i]] + 1.0

        let a = Clustering.linearSumAssignment (Array2D.map (fun c -> -c) counts)
        let mapping = Array.create states -1
        Array.iter2 (fun r col -> mapping[r] <- col) a.Rows a.Columns

        let right =
            split.Test
            |> Array.sumBy (fun i -> if mapping[predicted[i]] = truth[i] then 1 else 0)

        {
            Accuracy = float right / float split.Test.Length
            Chance = Decoding.chance (split.Test |> Array.map (fun i -> truth[i]))
            Mapping = mapping
            TrainSize = split.Train.Length
            TestSize = split.Test.Length
        }

    let compareTimescales (recovered: float[]) (truth: float[]) =
        EffectiveTimescales.compareToTruth 0.2 recovered truth

    let baseline
        (dt: float)
        (model: ArhmmModel)
        (x: float[,])
        (truth: int[] option)
        (splits: DataSplit[])
        (trueTimescales: float[] option)
        =
        let t = Array2D.length1 x
        let ll = logLikelihood model x
        let states = mostLikelyStates model x

        let accuracies =
            match truth with
            | None -> [||]
            | Some labels ->
                checkNotNull (nameof splits) splits

                if labels.Length <> t then
                    fail (nameof truth) $"expected {t} labels (one per step of x), got {labels.Length}."

                if splits.Length = 0 then
                    fail (nameof splits) "expected at least one split with true labels."

                splits |> Array.map (fun sp -> stateAccuracy sp labels states)

        let acc = accuracies |> Array.map _.Accuracy
        let stat f = if acc.Length = 0 then nan else f ()
        let mean = stat (fun () -> Array.average acc)
        let tau = timescales dt model

        {
            LogLikelihoodPerStep = ll / float t
            States = states
            Accuracies = accuracies
            AccuracyMean = mean
            AccuracyStd = stat (fun () -> sqrt (acc |> Array.averageBy (fun a -> (a - mean) ** 2.0)))
            ChanceMean = stat (fun () -> accuracies |> Array.averageBy _.Chance)
            Timescales = tau
            TimescaleComparison = trueTimescales |> Option.map (compareTimescales tau)
        }
