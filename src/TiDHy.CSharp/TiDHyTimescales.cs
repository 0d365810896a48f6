using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>Representative timescales: the centres of the non-empty bins of a histogram of <c>log10 τ</c> (upstream's <c>cluster_timescales</c>).</summary>
/// <param name="Centres">The centre of each non-empty bin, <c>10^centre</c>, ascending.</param>
/// <param name="Counts">How many timescales fell into each bin.</param>
public sealed record TimescaleClustersInfo(double[] Centres, int[] Counts)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>A discovered timescale matched to a true one within the tolerance.</summary>
/// <param name="Discovered">The discovered timescale.</param>
/// <param name="True">The true timescale.</param>
/// <param name="RelativeError"><c>|Discovered − True| / (True + 1e-10)</c>.</param>
public sealed record TruthPairInfo(double Discovered, double True, double RelativeError);

/// <summary>Discovered timescales against true ones (upstream's <c>compare_discovered_to_ground_truth</c>): a Hungarian matching on relative error, the pairs within the tolerance counting.</summary>
/// <param name="Pairs">The pairs within the tolerance, in the order of the discovered timescales.</param>
/// <param name="Matched">How many pairs.</param>
/// <param name="Recovery"><c>Matched / true count</c>.</param>
/// <param name="Precision"><c>Matched / discovered count</c> (0 when nothing was discovered).</param>
/// <param name="Recall"><c>Matched / true count</c>.</param>
/// <param name="MeanRelativeError">The mean relative error of the pairs (NaN when none).</param>
/// <param name="FalsePositives">Discovered timescales not matched.</param>
/// <param name="FalseNegatives">True timescales not matched.</param>
/// <param name="Tolerance">The relative tolerance.</param>
public sealed record TruthComparisonInfo(
    TruthPairInfo[] Pairs,
    int Matched,
    double Recovery,
    double Precision,
    double Recall,
    double MeanRelativeError,
    double[] FalsePositives,
    double[] FalseNegatives,
    double Tolerance
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>Summary statistics of a set of timescales (NaN for all but <paramref name="Count"/> when it is empty).</summary>
/// <param name="Count">How many.</param>
/// <param name="Mean">Their mean.</param>
/// <param name="Median">Their median.</param>
/// <param name="Std">Their standard deviation (population).</param>
/// <param name="Min">The shortest.</param>
/// <param name="Max">The longest.</param>
public sealed record TimescaleSummaryInfo(int Count, double Mean, double Median, double Std, double Min, double Max);

/// <summary>The label-free timescales of a model's dynamics matrices: every stable mode pooled, their clusters, and the clusters against the truth when it is known.</summary>
/// <param name="Timescales">Every stable timescale of the analysed matrices, ascending.</param>
/// <param name="Matrices">The matrices analysed (the non-zero ones).</param>
/// <param name="ZeroSkipped">The zero matrices skipped (the first step of each window evaluated without carry).</param>
/// <param name="Summary">Statistics of <paramref name="Timescales"/>.</param>
/// <param name="Clusters">The clusters of <paramref name="Timescales"/>.</param>
/// <param name="Comparison">The cluster centres against the true timescales; null when none were given.</param>
public sealed record LabelFreeTimescalesInfo(
    double[] Timescales,
    int Matrices,
    int ZeroSkipped,
    TimescaleSummaryInfo Summary,
    TimescaleClustersInfo Clusters,
    TruthComparisonInfo? Comparison
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>The least-squares dynamics of one label in the per-state fit.</summary>
/// <param name="Label">The label.</param>
/// <param name="Transitions">The transitions <c>t → t+1</c> within the label that the fit used.</param>
/// <param name="Timescales">The stable timescales of the fitted <c>U</c>, ascending.</param>
public sealed record LabelFitInfo(int Label, int Transitions, double[] Timescales)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>The paper's per-state read-out: per label a least-squares <c>U</c> with <c>x[t+1] ≈ U·x[t]</c>, the timescales pooled, the nearest pooled one to each true timescale.</summary>
/// <param name="Fits">The labels fitted, ascending.</param>
/// <param name="Skipped">The labels skipped (fewer transitions than features, or rank-deficient features).</param>
/// <param name="Pooled">The timescales of every fit, ascending.</param>
/// <param name="Truth">The true timescales.</param>
/// <param name="Nearest">The pooled timescale nearest to each true one (NaN when nothing was pooled); not a one-to-one matching.</param>
/// <param name="RelativeErrors"><c>|Nearest − True| / True</c> per true timescale.</param>
/// <param name="Within">How many relative errors are at most the tolerance.</param>
/// <param name="Tolerance">The relative tolerance.</param>
public sealed record PerStateFitInfo(
    LabelFitInfo[] Fits,
    int[] Skipped,
    double[] Pooled,
    double[] Truth,
    double[] Nearest,
    double[] RelativeErrors,
    int Within,
    double Tolerance
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>
/// Timescales without labels, as upstream's <c>utils/analysis.py</c> defines them: the stable
/// timescales <c>τ = −dt / log|λ|</c> of every eigenvalue of a model's dynamics matrices
/// (<c>|λ|</c> clipped to [1e-10, 0.9999], <c>|λ| ≥ 1</c> left out, a complex pair counted twice),
/// pooled over every step's <c>V_t</c> or over the basis <c>V_k</c>, clustered in log space and
/// compared with true timescales by Hungarian matching; and the paper's per-state least-squares
/// fit. Each member is one call into the F# core (<c>EffectiveTimescales</c>); bad input throws
/// <see cref="ArgumentException"/> naming the parameter.
/// </summary>
public static class TiDHyTimescales
{
    /// <summary>The stable timescales of <c>x_{t+1} = A·x_t</c>, ascending: every eigenvalue with <c>|λ| &lt; 1</c> (a complex pair twice), <c>τ = −dt / log(clip(|λ|, 1e-10, 0.9999))</c>.</summary>
    /// <param name="matrix">The square matrix <c>A</c>, finite.</param>
    /// <param name="dt">The time step, finite and positive.</param>
    /// <returns>The timescales.</returns>
    public static double[] SpectrumTimescales(double[,] matrix, double dt = 1.0) =>
        Interop.Call(() => F.EffectiveTimescales.spectrumTimescales(dt, matrix), null, ("a", nameof(matrix)));

    /// <summary>The label-free timescales of an evaluation's dynamics over time: the stable timescales of every step's <c>V_t</c> pooled (zero matrices skipped), clustered, and the cluster centres against <paramref name="truth"/> when given.</summary>
    /// <param name="ut">The dynamics of each step <c>[windows, T, R, R]</c>, <see cref="Evaluation.Ut"/>.</param>
    /// <param name="dt">The time step.</param>
    /// <param name="truth">True timescales (finite, positive), or null.</param>
    /// <param name="tolerance">The relative tolerance of a match.</param>
    /// <returns>The read-out.</returns>
    public static LabelFreeTimescalesInfo EffectiveTimescales(double[,,,] ut, double dt = 1.0, double[]? truth = null, double tolerance = 0.2) =>
        LabelFree(Interop.Call(() => F.EffectiveTimescales.labelFree(dt, tolerance, Interop.Option(truth), ut), null));

    /// <summary>The same read-out for a model's dynamics matrices <c>V_k</c> (upstream's <c>analyze_mixture_timescales</c>).</summary>
    /// <param name="model">The model.</param>
    /// <param name="dt">The time step.</param>
    /// <param name="truth">True timescales (finite, positive), or null.</param>
    /// <param name="tolerance">The relative tolerance of a match.</param>
    /// <returns>The read-out.</returns>
    public static LabelFreeTimescalesInfo ComponentTimescales(TiDHyModel model, double dt = 1.0, double[]? truth = null, double tolerance = 0.2)
    {
        ArgumentNullException.ThrowIfNull(model);
        return LabelFree(Interop.Call(() => F.EffectiveTimescales.labelFreeComponents(dt, tolerance, Interop.Option(truth), model.CurrentParams), null));
    }

    /// <summary>Clusters timescales in <c>log10</c> space (upstream's <c>cluster_timescales</c>: Freedman–Diaconis bins, at most n/2; the median when the values are (nearly) identical).</summary>
    /// <param name="timescales">Finite, positive timescales.</param>
    /// <returns>The centres of the non-empty bins and their counts.</returns>
    public static TimescaleClustersInfo ClusterTimescales(double[] timescales) => Clusters(Interop.Call(() => F.EffectiveTimescales.clusterTimescales(timescales), null));

    /// <summary>Compares discovered timescales with true ones: the least-cost one-to-one matching on <c>|d − t| / t</c> (Hungarian), the pairs within <paramref name="tolerance"/> counting.</summary>
    /// <param name="discovered">Discovered timescales, finite (e.g. <see cref="LabelFreeTimescalesInfo.Clusters"/>' centres); may be empty.</param>
    /// <param name="truth">True timescales, finite and positive, at least one.</param>
    /// <param name="tolerance">The relative tolerance of a match.</param>
    /// <returns>Recovery, precision, recall and the pairs.</returns>
    public static TruthComparisonInfo CompareToTruth(double[] discovered, double[] truth, double tolerance = 0.2) =>
        Comparison(Interop.Call(() => F.EffectiveTimescales.compareToTruth(tolerance, discovered, truth), null));

    /// <summary>The paper's per-state read-out on <paramref name="features"/> (any dimension: <c>R_hat</c>, the raw input): per label, least-squares <c>U</c> with <c>x[t+1] ≈ U·x[t]</c> over the transitions within the label; labels with fewer transitions than features, or rank-deficient ones, are skipped.</summary>
    /// <param name="features">Features <c>[n, d]</c>, finite, <c>n ≥ 2</c>.</param>
    /// <param name="labels">The label of each step <c>[n]</c>.</param>
    /// <param name="truth">True timescales, finite and positive.</param>
    /// <param name="tolerance">The relative tolerance.</param>
    /// <param name="dt">The time step.</param>
    /// <returns>The fits and the nearest pooled timescale to each true one.</returns>
    public static PerStateFitInfo PerStateFit(double[,] features, int[] labels, double[] truth, double tolerance = 0.2, double dt = 1.0)
    {
        var r = Interop.Call(() => F.EffectiveTimescales.perStateFit(dt, features, labels, truth, tolerance), null);
        return new PerStateFitInfo(
            r.Fits.Select(f => new LabelFitInfo(f.Label, f.Transitions, f.Timescales)).ToArray(),
            r.Skipped,
            r.Pooled,
            r.Truth,
            r.Nearest,
            r.RelativeErrors,
            r.Within,
            r.Tolerance
        );
    }

    private static TimescaleClustersInfo Clusters(F.TimescaleClusters c) => new(c.Centres, c.Counts);

    private static TruthComparisonInfo Comparison(F.TruthComparison c) =>
        new(
            c.Pairs.Select(p => new TruthPairInfo(p.Discovered, p.True, p.RelativeError)).ToArray(),
            c.Matched,
            c.Recovery,
            c.Precision,
            c.Recall,
            c.MeanRelativeError,
            c.FalsePositives,
            c.FalseNegatives,
            c.Tolerance
        );

    private static LabelFreeTimescalesInfo LabelFree(F.LabelFreeTimescales r) =>
        new(
            r.Timescales,
            r.Matrices,
            r.ZeroSkipped,
            new TimescaleSummaryInfo(r.Summary.Count, r.Summary.Mean, r.Summary.Median, r.Summary.Std, r.Summary.Min, r.Summary.Max),
            Clusters(r.Clusters),
            r.Comparison is null ? null : Comparison(r.Comparison.Value)
        );
}
