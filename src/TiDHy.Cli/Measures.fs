/// What the demo and `tidhy eval` measure of a trained model on an evaluated series, beside the
/// baselines from the same steps and splits: the decoding table (held-out blocks first), the
/// label-free timescales of the model's own dynamics, the paper's per-state read-out beside the
/// same read-out on the raw input, the ARHMM baseline and the mixture usage; printed and as report
/// lines.
module TiDHy.Cli.Measures

open System
open TiDHy.Functional

/// The relative tolerance of a recovered timescale (upstream's `compare_discovered_to_ground_truth`).
[<Literal>]
let TimescaleTolerance = 0.2

/// The most evaluated steps the decoders use (the first ones): kNN's cost grows with the square of
/// the steps.
[<Literal>]
let MaxDecodedSteps = 20000

/// What is known of the evaluated steps.
type Truth =
    {
        /// The state label of each evaluated step (`Decoding.jointStates` or `stateLabels`).
        Labels: int[] option
        /// The true timescales of the dynamics, in steps.
        Timescales: float[] option
    }

/// A set of timescales read without labels: pooled, clustered in log τ, and against the truth.
type TimescaleReadOut =
    {
        /// Where they come from.
        Source: string
        /// The timescales.
        Timescales: float[]
        /// Their clusters in log τ (`EffectiveTimescales.clusterTimescales`).
        Clusters: TimescaleClusters
        /// The cluster centres matched to the true timescales, when known.
        Comparison: TruthComparison option
    }

/// The ARHMM baseline's read-out of the evaluated steps.
type ArhmmMeasures =
    {
        /// Its discrete states.
        States: int
        /// Where it was fitted.
        FittedOn: string
        /// Its read-out (`Arhmm.baseline`) on the evaluated steps, on the decoding table's block splits.
        Baseline: ArhmmBaseline
    }

/// Everything measured.
type Measures =
    {
        /// How the series was evaluated (`Evaluate.describe`).
        Evaluation: string
        /// The evaluated steps.
        Steps: int
        /// The steps the decoders used (at most `MaxDecodedSteps`).
        DecodedSteps: int
        /// The decoding table, with the true states.
        Table: DecodingTable option
        /// The ARHMM's matched-state accuracy and read-out, when one was fitted.
        Arhmm: ArhmmMeasures option
        /// Label-free timescales: V_t and the basis V_k, trained and untrained; the ARHMM's.
        Timescales: TimescaleReadOut list
        /// The paper's per-state read-out on R_hat and on the raw input, with labels and truth.
        PerState: (PerStateFit * PerStateFit) option
        /// How W uses its components.
        Usage: MixtureUsage
    }

/// The first `MaxDecodedSteps` rows of `x`.
let private capped (x: float[,]) =
    if Array2D.length1 x <= MaxDecodedSteps then
        x
    else
        x[.. MaxDecodedSteps - 1, *]

/// A projection on principal axes: the mean `[d]` and the axes `[d; k]` (orthonormal columns).
type Projection = { Mean: float[]; Axes: float[,] }

/// The first `k` principal axes of `x [n; d]` (at most its numerical rank: the right singular
/// vectors of the centred rows whose singular values exceed 1e-9 of the largest). The singular
/// vectors are those of the thin QR decomposition's `R [d; d]` (the centred rows' own right
/// singular vectors, up to sign), never an `[n; n]` matrix: 50 000 steps would need 20 GB.
let principalAxes (k: int) (x: float[,]) : Projection =
    let n, d = Array2D.length1 x, Array2D.length2 x
    let mean = Array.init d (fun j -> Seq.init n (fun i -> x[i, j]) |> Seq.average)

    let centred =
        MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.Dense(n, d, fun i j -> x[i, j] - mean[j])

    let reduced =
        if n > d then
            centred.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Thin).R
        else
            centred

    let svd = reduced.Svd(true)
    let s = svd.S.ToArray()
    let rank = s |> Array.filter (fun v -> v > 1e-9 * s[0]) |> Array.length
    let k = max 1 (min k rank)

    {
        Mean = mean
        Axes = svd.VT.SubMatrix(0, k, 0, d).Transpose().ToArray()
    }

/// `x [n; d]` centred on the projection's mean and projected on its axes: `[n; k]`.
let project (p: Projection) (x: float[,]) : float[,] =
    let n, k = Array2D.length1 x, Array2D.length2 p.Axes

    Array2D.init n k (fun i j ->
        let mutable v = 0.0

        for c in 0 .. p.Mean.Length - 1 do
            v <- v + (x[i, c] - p.Mean[c]) * p.Axes[c, j]

        v)

/// `x` on its own first `k` principal axes: the raw input in as many dimensions as the model's
/// `R_hat`, so that a least-squares fit per state is well posed on data whose channels are a
/// projection of fewer sources (the SLDS benchmark's 20 channels have rank 5).
let principalComponents (k: int) (x: float[,]) = project (principalAxes k x) x

/// An ARHMM fitted as a baseline: on the principal components of its training series (every axis
/// of non-zero variance: a covariance on channels of lower rank than their count is singular, and
/// its floor would make the likelihood measure rounding noise).
type FittedArhmm =
    {
        /// The fit.
        Fit: ArhmmFit
        /// The projection of a series before the ARHMM reads it.
        Projection: Projection
        /// Where it was fitted, for the output.
        FittedOn: string
    }

/// Fits the ARHMM baseline (`states` states, `restarts` restarts, keys from `key`) on `x [T; d]`
/// projected on its principal axes.
let fitArhmm (key: Key) (states: int) (restarts: int) (fittedOn: string) (x: float[,]) : FittedArhmm =
    let projection = principalAxes (Array2D.length2 x) x

    {
        Fit =
            Arhmm.fit
                key
                { Arhmm.defaults with
                    States = states
                    Restarts = restarts
                }
                (project projection x)
        Projection = projection
        FittedOn = fittedOn
    }

let private readOut (source: string) (truth: float[] option) (timescales: float[]) =
    let clusters = EffectiveTimescales.clusterTimescales timescales

    {
        Source = source
        Timescales = timescales
        Clusters = clusters
        Comparison =
            truth
            |> Option.map (EffectiveTimescales.compareToTruth TimescaleTolerance clusters.Centres)
    }

/// Measures the `trained` record (of the evaluated steps, window-major) against `untrained` (the
/// same steps through the untrained parameters `p0`), with the trained parameters `p`, the ARHMM
/// `arhmm` (its states and where it was fitted) and what is known (`truth`); splits from `key`.
let measure
    (key: Key)
    (settings: DecodingSettings)
    (evaluation: string)
    (p: Params)
    (p0: Params)
    (trained: EvaluationRecord)
    (untrained: EvaluationRecord)
    (arhmm: FittedArhmm option)
    (truth: Truth)
    =
    let input = Decoding.flatten trained.I
    let steps = Array2D.length1 input
    let decoded = min steps MaxDecodedSteps

    let labels =
        truth.Labels
        |> Option.map (fun l ->
            if l.Length < steps then
                invalidArg (nameof truth) $"truth: {l.Length} labels for {steps} evaluated steps."

            l[.. decoded - 1])

    let table =
        labels
        |> Option.map (fun labels ->
            let arhmmFeature =
                match arhmm with
                | Some a ->
                    [
                        $"ARHMM posteriors ({a.Fit.Model.Initial.Length} states)",
                        Arhmm.posteriors a.Fit.Model (project a.Projection input[.. decoded - 1, *])
                    ]
                | None -> []

            Decoding.table
                key
                settings
                labels
                ([
                    "R2_hat", capped (Decoding.flatten trained.R2Hat)
                    "W", capped (Decoding.flatten trained.W)
                    "R_hat", capped (Decoding.flatten trained.RHat)
                    "untrained R2_hat", capped (Decoding.flatten untrained.R2Hat)
                    "untrained W", capped (Decoding.flatten untrained.W)
                 ]
                 @ (Decoding.baselineFeatures Decoding.defaultLags input
                    |> List.map (fun (n, x) -> n, capped x))
                 @ arhmmFeature))

    let arhmmMeasures =
        arhmm
        |> Option.map (fun a ->
            {
                States = a.Fit.Model.Initial.Length
                FittedOn = a.FittedOn
                Baseline =
                    Arhmm.baseline
                        1.0
                        a.Fit.Model
                        (project a.Projection input[.. decoded - 1, *])
                        labels
                        (table |> Option.map _.BlockSplits |> Option.defaultValue [||])
                        truth.Timescales
            })

    let vt (r: EvaluationRecord) =
        EffectiveTimescales.effectiveTimescales 1.0 r.Ut

    let timescales =
        [
            readOut "V_t, trained" truth.Timescales (vt trained)
            readOut "V_t, untrained" truth.Timescales (vt untrained)
            readOut "V_k basis, trained" truth.Timescales (EffectiveTimescales.componentTimescales 1.0 p)
            readOut "V_k basis, untrained" truth.Timescales (EffectiveTimescales.componentTimescales 1.0 p0)
            yield!
                arhmm
                |> Option.map (fun a -> readOut "ARHMM A_k" truth.Timescales (Arhmm.timescales 1.0 a.Fit.Model))
                |> Option.toList
        ]

    let perState =
        match labels, truth.Timescales with
        | Some l, Some t ->
            let fit (x: float[,]) =
                EffectiveTimescales.perStateFit 1.0 (capped x) l t TimescaleTolerance

            let rhat = Decoding.flatten trained.RHat
            Some(fit rhat, fit (principalComponents (Array2D.length2 rhat) input))
        | _ -> None

    {
        Evaluation = evaluation
        Steps = steps
        DecodedSteps = decoded
        Table = table
        Arhmm = arhmmMeasures
        Timescales = timescales
        PerState = perState
        Usage = Mixture.mixtureUsage (Decoding.flatten trained.W)
    }

let private spread (s: DecodingSpread) = $"{s.Mean:F3} ± {s.Std:F3}"

let private list (xs: float[]) =
    xs |> Array.sort |> Array.map (fun v -> $"{v:F1}") |> String.concat ", "

/// One line on a read-out: how many timescales, their clusters, and what of the truth they recover.
let timescaleText (r: TimescaleReadOut) =
    let count = r.Timescales.Length

    let median =
        if count = 0 then
            "none stable"
        else
            let s = Array.sort r.Timescales
            $"{count} stable modes, median {s[count / 2]:F1} [{s[0]:F1}, {s[count - 1]:F1}]"

    let clusters = $"{r.Clusters.Centres.Length} clusters"

    match r.Comparison with
    | Some c ->
        let which =
            if c.Matched > 0 then
                ": " + list (c.Pairs |> Array.map _.True)
            else
                ""

        $"{median}; {clusters}; recovers {c.Matched} of {c.Matched + c.FalseNegatives.Length} true (precision {c.Precision:F2}){which}"
    | None -> $"{median}; {clusters} at {list r.Clusters.Centres}"

/// The sentence that says what the model did and did not recover, from the numbers: the best of
/// R2_hat / W against the best baseline on held-out blocks, and V_t's timescales against the
/// untrained model's.
let verdict (m: Measures) =
    let decoding =
        m.Table
        |> Option.map (fun t ->
            let best (names: string list) =
                t.Rows
                |> Array.filter (fun r -> List.contains r.Name names)
                |> Array.map (fun r -> r.Name, max r.BlockKnn.Mean r.BlockLinear.Mean)
                |> Array.maxBy snd

            let modelName, model = best [ "R2_hat"; "W" ]

            let baseName, baseline =
                best (
                    t.Rows
                    |> Array.map _.Name
                    |> Array.filter (fun n -> n <> "R2_hat" && n <> "W" && n <> "R_hat")
                    |> Array.toList
                )

            let verb =
                if model >= baseline + 0.10 then "beats"
                elif model > baseline then "edges past (by less than 0.10)"
                else "does not beat"

            $"on held-out blocks the model's {modelName} ({model:F3}) {verb} the best baseline, {baseName} ({baseline:F3})")

    let timescales =
        match m.Timescales with
        | trained :: untrained :: _ ->
            match trained.Comparison, untrained.Comparison with
            | Some a, Some b ->
                let total = a.Matched + a.FalseNegatives.Length

                let caveat =
                    if a.Precision < 0.5 then
                        " — with most cluster centres matching nothing, the count says little"
                    else
                        ""

                Some(
                    $"its own dynamics V_t recover {a.Matched} of {total} true timescales within {100.0 * TimescaleTolerance:F0}%% (precision {a.Precision:F2}), the untrained model's {b.Matched} (precision {b.Precision:F2}){caveat}"
                )
            | _ -> None
        | _ -> None

    match decoding, timescales with
    | Some d, Some t -> Some $"In short: {d}; {t}."
    | Some d, None -> Some $"In short: {d}."
    | None, Some t -> Some $"In short: {t}."
    | None, None -> None

/// Prints the measures.
let print (m: Measures) =
    match m.Table with
    | Some t ->
        printfn ""

        printfn
            "Decoding the state (%d classes) from %d evaluated steps%s: held-out %d-step blocks first (%.0f%% held out, %d splits; mean ± std), random steps second (optimistic: a held-out step's neighbours in time are in the training set):"
            t.Classes
            m.DecodedSteps
            (if m.DecodedSteps < m.Steps then
                 $" (the first {m.DecodedSteps} of {m.Steps})"
             else
                 "")
            t.BlockLength
            (100.0 * t.TestFraction)
            t.Splits

        printfn "  %-28s %-15s %-15s | %-15s %-15s" "" "blocks kNN" "blocks linear" "random kNN" "random linear"

        for r in t.Rows do
            printfn
                "  %-28s %-15s %-15s | %-15s %-15s"
                r.Name
                (spread r.BlockKnn)
                (spread r.BlockLinear)
                (spread r.RandomKnn)
                (spread r.RandomLinear)

        match m.Arhmm with
        | Some a ->
            printfn
                "  %-28s %-15s %-15s | (its states matched to the labels on the training blocks)"
                $"ARHMM states ({a.States}), matched"
                $"{a.Baseline.AccuracyMean:F3} ± {a.Baseline.AccuracyStd:F3}"
                ""
        | None -> ()

        printfn "  %-28s %-15s %-15s | %-15s" "chance" $"{t.ChanceBlock:F3}" "" $"{t.ChanceRandom:F3}"
    | None -> ()

    match m.Arhmm with
    | Some a ->
        printfn
            "ARHMM baseline (%d states, AR(1) Gaussian, fitted on the principal components of %s): log-likelihood %.3f per step on the evaluated steps."
            a.States
            a.FittedOn
            a.Baseline.LogLikelihoodPerStep
    | None -> ()

    printfn ""

    printfn
        "Timescales without labels (steps; τ = −1/log|λ| of every matrix's eigenvalues, |λ| clipped to [1e-10, 0.9999], unstable modes left out; clustered in log τ; cluster centres matched to the true timescales within %.0f%%):"
        (100.0 * TimescaleTolerance)

    for r in m.Timescales do
        printfn "  %-22s %s" r.Source (timescaleText r)

    match m.Timescales |> List.tryPick _.Comparison with
    | Some c -> printfn "  %-22s %s" "true" (list (Array.append (c.Pairs |> Array.map _.True) c.FalseNegatives))
    | None -> ()

    match m.PerState with
    | Some(model, raw) ->
        printfn
            "The paper's read-out (a least-squares fit per true state, the nearest pooled timescale to each true one; it needs the labels): R_hat %d of %d within %.0f%%; the same read-out on the raw input's first principal components (as many as R_hat has dimensions): %d of %d."
            model.Within
            model.Truth.Length
            (100.0 * TimescaleTolerance)
            raw.Within
            raw.Truth.Length
    | None -> ()

    let used = m.Usage.Share |> Array.filter (fun v -> v > 0.01) |> Array.length

    printfn
        "Mixture usage: %d of %d components above 1%% of the weight; usage entropy %.2f nats (log M = %.2f)."
        used
        m.Usage.Share.Length
        m.Usage.UsageEntropy
        (log (float m.Usage.Share.Length))

    verdict m |> Option.iter (printfn "%s")

/// The measures as report lines (key, value), in the order `print` prints them.
let reportLines (m: Measures) =
    [
        "evaluation", m.Evaluation
        match m.Table with
        | Some t ->
            for r in t.Rows do
                $"decoding from {r.Name}: {t.BlockLength}-step blocks kNN | linear; random steps kNN | linear (optimistic)",
                $"{spread r.BlockKnn} | {spread r.BlockLinear}; {spread r.RandomKnn} | {spread r.RandomLinear}"

            match m.Arhmm with
            | Some a ->
                $"decoding from ARHMM states ({a.States}), matched on the training blocks",
                $"{a.Baseline.AccuracyMean:F3} ± {a.Baseline.AccuracyStd:F3}"
            | None -> ()

            "chance (blocks | random)", $"{t.ChanceBlock:F3} | {t.ChanceRandom:F3}"
        | None -> ()
        match m.Arhmm with
        | Some a -> $"ARHMM log-likelihood per step ({a.States} states)", $"{a.Baseline.LogLikelihoodPerStep:F3}"
        | None -> ()
        for r in m.Timescales do
            $"timescales without labels: {r.Source}", timescaleText r
        match m.PerState with
        | Some(model, raw) ->
            "the paper's per-state read-out (R_hat | raw input)",
            $"{model.Within} | {raw.Within} of {model.Truth.Length} within {100.0 * TimescaleTolerance:F0}%%"
        | None -> ()
        match verdict m with
        | Some v -> "in short", v
        | None -> ()
    ]

/// The report's charts of the measures (titled): the decoding table and the timescales without labels.
let charts (m: Measures) =
    [
        match m.Table with
        | Some t -> "Decoding the state from each feature (the same numbers as the table above)", Plots.decoding t
        | None -> ()
        "Timescales without labels: the cluster centres of each source and the true timescales",
        Plots.timescaleClusters
            [ for r in m.Timescales -> r.Source, r.Clusters.Centres ]
            (m.Timescales
             |> List.tryPick (fun r ->
                 r.Comparison
                 |> Option.map (fun c -> Array.append (c.Pairs |> Array.map _.True) c.FalseNegatives)))
    ]
