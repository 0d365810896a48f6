namespace TiDHy.Functional

open System
open AnalysisChecks

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

/// How the mixture weights `W` use their components: entropy, mean weight and share per component.
[<RequireQualifiedAccess>]
module Mixture =

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
