namespace TiDHy.Functional

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

    /// The entropy (nats) of non-negative `weights [k]` normalised to sum 1, as SciPy's
    /// `scipy.stats.entropy(weights)`; 0 when they are all 0 (SciPy: NaN).
    val entropy: weights: float[] -> float

    /// How the mixture weights `w [time; M]` (non-negative, as the hypernetwork's ReLU gives them)
    /// use their components: mean weight and share per component, entropy per step and of the shares.
    val mixtureUsage: w: float[,] -> MixtureUsage
