using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// An autoregressive HMM: <c>K</c> discrete states in a Markov chain, and for <c>t ≥ 1</c>
/// <c>x_t | z_t = k ~ N(A_k·x_{t−1} + b_k, Σ_k)</c>; the first step from one Gaussian <c>N(μ0, Σ0)</c> shared by every state.
/// </summary>
/// <param name="Initial">π <c>[K]</c>: the distribution of the first state.</param>
/// <param name="Transition">P <c>[K, K]</c>: <c>P[j, k] = p(z_t = k | z_{t−1} = j)</c>.</param>
/// <param name="Dynamics">A_k: <c>[K]</c> matrices <c>[d, d]</c>.</param>
/// <param name="Bias">b_k: <c>[K]</c> vectors <c>[d]</c>.</param>
/// <param name="Covariance">Σ_k: <c>[K]</c> positive-definite matrices <c>[d, d]</c>.</param>
/// <param name="InitialMean">μ0 <c>[d]</c>.</param>
/// <param name="InitialCovariance">Σ0 <c>[d, d]</c>.</param>
public sealed record ArhmmParameters(
    double[] Initial,
    double[,] Transition,
    double[][,] Dynamics,
    double[][] Bias,
    double[][,] Covariance,
    double[] InitialMean,
    double[,] InitialCovariance
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>An ARHMM fitted by EM: the kept restart's model and how EM went.</summary>
/// <param name="Model">The fitted model.</param>
/// <param name="LogLikelihood"><c>log p(x | Model)</c> on the training series.</param>
/// <param name="LogLikelihoodHistory">The log-likelihood before each M-step and after the last.</param>
/// <param name="ObjectiveHistory">The MAP objective (log-likelihood plus the small priors) at the same points; non-decreasing.</param>
/// <param name="RestartLogLikelihoods">The final log-likelihood of every restart.</param>
/// <param name="Restart">The index of the kept restart (largest log-likelihood).</param>
/// <param name="Iterations">The EM iterations the kept restart ran.</param>
/// <param name="Converged">Whether it met the tolerance before the iterations ran out.</param>
public sealed record ArhmmFitResult(
    ArhmmParameters Model,
    double LogLikelihood,
    double[] LogLikelihoodHistory,
    double[] ObjectiveHistory,
    double[] RestartLogLikelihoods,
    int Restart,
    int Iterations,
    bool Converged
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>A series drawn from an ARHMM.</summary>
/// <param name="Series">The series <c>[length, d]</c>.</param>
/// <param name="States">Its states <c>[length]</c>.</param>
public sealed record ArhmmSample(double[,] Series, int[] States)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>The held-out accuracy of ARHMM states against true labels on one split.</summary>
/// <param name="Accuracy">The share of test steps whose matched state is their label.</param>
/// <param name="Chance">The share of the most common test label.</param>
/// <param name="Mapping">The label each state is matched to on the training steps (−1: unmatched).</param>
public sealed record ArhmmStateAccuracy(double Accuracy, double Chance, int[] Mapping)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>
/// The autoregressive HMM baseline (Linderman's <c>ssm</c> ARHMM, AR(1) with bias, full covariances),
/// fitted by EM with a log-space forward–backward and several restarts, the best likelihood kept.
/// Each member is one call into the F# core (<c>Arhmm</c>); bad input throws
/// <see cref="ArgumentException"/> naming the parameter.
/// </summary>
public static class TiDHyArhmm
{
    /// <summary>Fits an ARHMM to <paramref name="series"/> by EM (restart 0 from k-means, the others from random blocks of states).</summary>
    /// <param name="series">The series <c>[T, d]</c>, finite, at least <c>states·(d + 1) + 2</c> steps.</param>
    /// <param name="states">Discrete states, at least 1.</param>
    /// <param name="seed">The seed of the restarts.</param>
    /// <param name="iterations">Most EM iterations per restart, at least 1.</param>
    /// <param name="restarts">Restarts, at least 1.</param>
    /// <param name="tolerance">EM stops when the objective changes by at most this share of itself.</param>
    /// <returns>The fit.</returns>
    /// <exception cref="ArgumentException">A count below 1, a tolerance that is not finite and non-negative, a series that is too short, has no column or holds a value that is not finite; the message names the parameter.</exception>
    public static ArhmmFitResult Fit(double[,] series, int states, int seed = 0, int iterations = 100, int restarts = 5, double tolerance = 1e-6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(states, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(restarts, 1);
        if (!double.IsFinite(tolerance) || tolerance < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "tolerance: expected finite and >= 0.");
        }

        var options = new F.ArhmmOptions(states, iterations, restarts, tolerance);
        var f = Interop.Call(() => F.Arhmm.fit(F.Random.key(seed), options, series), null, ("x", nameof(series)));
        return new ArhmmFitResult(
            Parameters(f.Model),
            f.LogLikelihood,
            f.LogLikelihoodHistory,
            f.ObjectiveHistory,
            f.RestartLogLikelihoods,
            f.Restart,
            f.Iterations,
            f.Converged
        );
    }

    /// <summary><c>log p(series | model)</c>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="series">The series <c>[T, d]</c>.</param>
    /// <returns>The log-likelihood.</returns>
    public static double LogLikelihood(ArhmmParameters model, double[,] series) =>
        Interop.Call(() => F.Arhmm.logLikelihood(Core(model), series), null, ("x", nameof(series)));

    /// <summary>The posterior probability of each state at each step.</summary>
    /// <param name="model">The model.</param>
    /// <param name="series">The series <c>[T, d]</c>.</param>
    /// <returns><c>[T, K]</c>, rows summing to 1.</returns>
    public static double[,] Posteriors(ArhmmParameters model, double[,] series) =>
        Interop.Call(() => F.Arhmm.posteriors(Core(model), series), null, ("x", nameof(series)));

    /// <summary>The most likely state sequence (Viterbi).</summary>
    /// <param name="model">The model.</param>
    /// <param name="series">The series <c>[T, d]</c>.</param>
    /// <returns>The states <c>[T]</c>.</returns>
    public static int[] MostLikelyStates(ArhmmParameters model, double[,] series) =>
        Interop.Call(() => F.Arhmm.mostLikelyStates(Core(model), series), null, ("x", nameof(series)));

    /// <summary>The timescales <c>τ = −dt / log|λ|</c> of the stable modes of the dynamics matrices, state by state.</summary>
    /// <param name="model">The model.</param>
    /// <param name="dt">The time step.</param>
    /// <returns>One timescale per stable real eigenvalue and per stable conjugate pair.</returns>
    public static double[] Timescales(ArhmmParameters model, double dt = 1.0) =>
        Interop.Call(() => F.Arhmm.timescales(dt, Core(model)), null);

    /// <summary>Draws a series from <paramref name="model"/>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="length">Steps, at least 1.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>The series and its states.</returns>
    public static ArhmmSample Sample(ArhmmParameters model, int length, int seed)
    {
        var (x, z) = Interop.Call(() => F.Arhmm.sample(F.Random.key(seed), Core(model), length), null);
        return new ArhmmSample(x, z);
    }

    /// <summary>The accuracy of <paramref name="predicted"/> states on the test steps, each state matched to a label on the training steps (Hungarian).</summary>
    /// <param name="split">The split of the steps.</param>
    /// <param name="truth">True labels <c>[n]</c>, non-negative.</param>
    /// <param name="predicted">States <c>[n]</c>, non-negative.</param>
    /// <returns>The accuracy, chance and the matching.</returns>
    public static ArhmmStateAccuracy StateAccuracy(AnalysisSplit split, int[] truth, int[] predicted)
    {
        ArgumentNullException.ThrowIfNull(split);
        var a = Interop.Call(() => F.Arhmm.stateAccuracy(new F.DataSplit(split.Train, split.Test), truth, predicted), null);
        return new ArhmmStateAccuracy(a.Accuracy, a.Chance, a.Mapping);
    }

    private static ArhmmParameters Parameters(F.ArhmmModel m) =>
        new(m.Initial, m.Transition, m.Dynamics, m.Bias, m.Covariance, m.InitialMean, m.InitialCovariance);

    private static F.ArhmmModel Core(ArhmmParameters model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new F.ArhmmModel(
            model.Initial,
            model.Transition,
            model.Dynamics,
            model.Bias,
            model.Covariance,
            model.InitialMean,
            model.InitialCovariance
        );
    }
}
