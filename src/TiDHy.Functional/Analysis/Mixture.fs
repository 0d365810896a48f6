namespace TiDHy.Functional

open System
open AnalysisChecks

// The public surface of this file and its documentation: Mixture.fsi.
type MixtureUsage =
    {
        MeanWeight: float[]
        Share: float[]
        StepEntropy: float[]
        MeanStepEntropy: float
        UsageEntropy: float
    }

[<RequireQualifiedAccess>]
module Mixture =

    // ---------------------------------------------------------------- mixture usage

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
