using System.Numerics;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>A split of <c>n</c> samples into training and test indices (each ascending).</summary>
/// <param name="Train">Training indices.</param>
/// <param name="Test">Test indices.</param>
public sealed record AnalysisSplit(int[] Train, int[] Test)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>Held-out decoding accuracy over several splits.</summary>
/// <param name="Accuracies">The accuracy on each split.</param>
/// <param name="Chances">The chance level of each split: the share of the most common test label.</param>
/// <param name="Mean">Mean accuracy.</param>
/// <param name="Std">Standard deviation of the accuracies (population).</param>
/// <param name="Min">Smallest accuracy.</param>
/// <param name="Max">Largest accuracy.</param>
/// <param name="ChanceMean">Mean chance level.</param>
public sealed record DecodingResult(double[] Accuracies, double[] Chances, double Mean, double Std, double Min, double Max, double ChanceMean)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>A minimum-cost assignment of rows to columns (SciPy's <c>linear_sum_assignment</c>).</summary>
/// <param name="Rows">The assigned rows, ascending.</param>
/// <param name="Columns">The column of each assigned row.</param>
/// <param name="Cost">The total cost.</param>
public sealed record Assignment(int[] Rows, int[] Columns, double Cost)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>Agreement of a clustering with true labels (scikit-learn's definitions, with the true labels as scikit-learn's <c>labels_true</c>).</summary>
/// <param name="MatchedAccuracy">Accuracy after matching clusters to labels one to one (Hungarian algorithm).</param>
/// <param name="AdjustedRand">Adjusted Rand index.</param>
/// <param name="NormalisedMutualInformation">Normalised mutual information (arithmetic normalisation).</param>
/// <param name="Homogeneity">Homogeneity: 1 when each cluster holds samples of one true label only.</param>
/// <param name="Completeness">Completeness: 1 when all samples of each true label are in one cluster.</param>
/// <param name="VMeasure">V-measure.</param>
/// <param name="Purity">Purity: the share of samples in their cluster's most common true label.</param>
public sealed record ClusteringAgreement(
    double MatchedAccuracy,
    double AdjustedRand,
    double NormalisedMutualInformation,
    double Homogeneity,
    double Completeness,
    double VMeasure,
    double Purity
);

/// <summary>A k-means clustering.</summary>
/// <param name="Labels">The cluster of each sample <c>[n]</c>.</param>
/// <param name="Centroids">The centres <c>[k, features]</c>.</param>
/// <param name="Inertia">The sum of squared distances to the centres.</param>
public sealed record KMeansClustering(int[] Labels, double[,] Centroids, double Inertia)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>A mode of linear dynamics <c>x_{t+1} = A·x_t</c>: a real eigenvalue, or one of a conjugate pair (positive imaginary part).</summary>
/// <param name="Eigenvalue">The eigenvalue λ.</param>
/// <param name="Timescale"><c>τ = −dt / log|λ|</c>.</param>
/// <param name="Frequency"><c>|arg λ| / (2π·dt)</c>, cycles per unit of time.</param>
public sealed record DynamicsModeInfo(Complex Eigenvalue, double Timescale, double Frequency);

/// <summary>A true timescale and the recovered one matched to it.</summary>
/// <param name="TrueIndex">Index of the true timescale.</param>
/// <param name="RecoveredIndex">Index of the recovered timescale.</param>
/// <param name="True">The true timescale.</param>
/// <param name="Recovered">The recovered timescale.</param>
/// <param name="RelativeError"><c>|Recovered − True| / True</c>.</param>
/// <param name="Within">Whether the relative error is within the tolerance.</param>
public sealed record TimescaleMatchInfo(int TrueIndex, int RecoveredIndex, double True, double Recovered, double RelativeError, bool Within);

/// <summary>How mixture weights use their components.</summary>
/// <param name="MeanWeight">Mean weight per component <c>[M]</c>.</param>
/// <param name="Share">Mean weight over its sum <c>[M]</c>.</param>
/// <param name="StepEntropy">Entropy (nats) of each step's normalised weights <c>[time]</c>.</param>
/// <param name="MeanStepEntropy">Mean of <paramref name="StepEntropy"/>.</param>
/// <param name="UsageEntropy">Entropy (nats) of <paramref name="Share"/>.</param>
public sealed record MixtureUsageInfo(double[] MeanWeight, double[] Share, double[] StepEntropy, double MeanStepEntropy, double UsageEntropy)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>
/// What a trained model found, measured as upstream's notebooks measure it: decoding of discrete
/// states from evaluation arrays (k nearest neighbours, equal to scikit-learn's
/// <c>KNeighborsClassifier</c>), agreement of a clustering with the true states, timescales of
/// dynamics matrices and their matching, and mixture usage. Each member is one call into the F#
/// core; bad input throws <see cref="ArgumentException"/> naming the parameter.
/// </summary>
public static class TiDHyAnalysis
{
    /// <summary>The predicted label of each test row by a vote of its <paramref name="k"/> nearest training rows (Euclidean, uniform weights; ties broken as scikit-learn breaks them).</summary>
    /// <param name="trainX">Training features <c>[n, d]</c>.</param>
    /// <param name="trainY">Training labels <c>[n]</c>.</param>
    /// <param name="testX">Test features <c>[m, d]</c>.</param>
    /// <param name="k">Neighbours, in <c>[1, n]</c>.</param>
    /// <returns>The predicted labels <c>[m]</c>.</returns>
    public static int[] KnnPredict(double[,] trainX, int[] trainY, double[,] testX, int k = 3) =>
        Interop.Call(() => F.Decoding.knnPredict(k, trainX, trainY, testX), null);

    /// <summary>The share of <paramref name="testY"/> that <see cref="KnnPredict"/> predicts.</summary>
    /// <param name="trainX">Training features <c>[n, d]</c>.</param>
    /// <param name="trainY">Training labels <c>[n]</c>.</param>
    /// <param name="testX">Test features <c>[m, d]</c>.</param>
    /// <param name="testY">Test labels <c>[m]</c>.</param>
    /// <param name="k">Neighbours, in <c>[1, n]</c>.</param>
    /// <returns>The accuracy.</returns>
    public static double KnnAccuracy(double[,] trainX, int[] trainY, double[,] testX, int[] testY, int k = 3) =>
        Interop.Call(() => F.Decoding.knnAccuracyWith(k, trainX, trainY, testX, testY), null);

    /// <summary>Joins the windows of an evaluation array: <c>[windows, T, k]</c> → <c>[windows·T, k]</c>.</summary>
    /// <param name="array">The array, e.g. <see cref="Evaluation.R2Hat"/>.</param>
    /// <returns>The joined rows.</returns>
    public static double[,] Flatten(double[,,] array) =>
        Interop.Call(() => F.Decoding.flatten(array), null, ("a", nameof(array)));

    /// <summary>The joint discrete state of several systems at each step (system 0 the most significant digit).</summary>
    /// <param name="states">The states <c>[time, systems]</c>, each in <c>[0, statesPerSystem)</c>.</param>
    /// <param name="statesPerSystem">The states of each system.</param>
    /// <returns>The joint states <c>[time]</c>, in <c>[0, statesPerSystem^systems)</c>.</returns>
    /// <exception cref="ArgumentException">A state is out of range, or <c>statesPerSystem^systems − 1</c> exceeds <see cref="int.MaxValue"/> (e.g. 32 binary systems), whatever the states; the message names the parameter.</exception>
    public static int[] JointStates(int[,] states, int statesPerSystem) =>
        Interop.Call(() => F.Decoding.jointStates(statesPerSystem, states), null);

    /// <summary>Holds out <c>ceil(testFraction·n)</c> of <paramref name="n"/> samples chosen at random from <paramref name="seed"/>.</summary>
    /// <param name="seed">The seed of the shuffle.</param>
    /// <param name="n">Samples.</param>
    /// <param name="testFraction">The share held out, in (0, 1).</param>
    /// <returns>The split.</returns>
    public static AnalysisSplit RandomSplit(int seed, int n, double testFraction = 0.25) =>
        Split(Interop.Call(() => F.Decoding.randomSplit(F.Random.key(seed), n, testFraction), null));

    /// <summary>Splits <paramref name="n"/> samples into contiguous blocks of <paramref name="blockLength"/> and holds out <c>ceil(testFraction·blocks)</c> blocks chosen at random.</summary>
    /// <param name="seed">The seed of the shuffle.</param>
    /// <param name="n">Samples.</param>
    /// <param name="blockLength">Samples per block, in <c>[1, n/2]</c>.</param>
    /// <param name="testFraction">The share of blocks held out, in (0, 1).</param>
    /// <returns>The split.</returns>
    public static AnalysisSplit BlockSplit(int seed, int n, int blockLength, double testFraction = 0.25) =>
        Split(Interop.Call(() => F.Decoding.blockSplit(F.Random.key(seed), n, blockLength, testFraction), null));

    /// <summary>kNN decoding accuracy of <paramref name="labels"/> from <paramref name="features"/> on each split, with its spread and chance level.</summary>
    /// <param name="features">Features <c>[n, d]</c>.</param>
    /// <param name="labels">Labels <c>[n]</c>.</param>
    /// <param name="splits">The splits.</param>
    /// <param name="k">Neighbours.</param>
    /// <returns>The accuracies and their spread.</returns>
    public static DecodingResult Decode(double[,] features, int[] labels, IReadOnlyList<AnalysisSplit> splits, int k = 3)
    {
        ArgumentNullException.ThrowIfNull(splits);
        var core = splits
            .Select(s => s is null ? throw new ArgumentException("splits: a split is null.", nameof(splits)) : new F.DataSplit(s.Train, s.Test))
            .ToArray();
        var r = Interop.Call(() => F.Decoding.decodingSpread(k, features, labels, core), null, ("split.Train", nameof(splits)), ("split.Test", nameof(splits)));
        return new DecodingResult(
            r.Scores.Select(s => s.Accuracy).ToArray(),
            r.Scores.Select(s => s.Chance).ToArray(),
            r.Mean,
            r.Std,
            r.Min,
            r.Max,
            r.ChanceMean
        );
    }

    /// <summary>The minimum-cost assignment of rows to columns (Hungarian algorithm).</summary>
    /// <param name="cost">Finite costs <c>[rows, cols]</c>.</param>
    /// <returns>The assignment.</returns>
    public static Assignment LinearSumAssignment(double[,] cost)
    {
        var a = Interop.Call(() => F.Clustering.linearSumAssignment(cost), null);
        return new Assignment(a.Rows, a.Columns, a.Cost);
    }

    /// <summary>
    /// Every agreement measure of a clustering against the true labels. The true labels come first:
    /// swapping the arguments swaps <see cref="ClusteringAgreement.Homogeneity"/> and
    /// <see cref="ClusteringAgreement.Completeness"/> and changes <see cref="ClusteringAgreement.Purity"/>.
    /// </summary>
    /// <param name="truth">True labels <c>[n]</c> (scikit-learn's <c>labels_true</c>).</param>
    /// <param name="predicted">Cluster labels <c>[n]</c> (scikit-learn's <c>labels_pred</c>).</param>
    /// <returns>The measures.</returns>
    public static ClusteringAgreement ClusterAgreement(int[] truth, int[] predicted)
    {
        var a = Interop.Call(() => F.Clustering.clusterAgreement(truth, predicted), null, ("pred", nameof(predicted)));
        return new ClusteringAgreement(a.MatchedAccuracy, a.AdjustedRand, a.NormalisedMutualInformation, a.Homogeneity, a.Completeness, a.VMeasure, a.Purity);
    }

    /// <summary>The index of the largest entry of each row (the first on ties).</summary>
    /// <param name="x">Rows <c>[n, k]</c>, e.g. the flattened mixture weights.</param>
    /// <returns>The indices <c>[n]</c>.</returns>
    public static int[] ArgmaxLabels(double[,] x) => Interop.Call(() => F.Decoding.argmaxLabels(x), null);

    /// <summary>k-means (k-means++ seeds, 10 seedings, the least inertia kept), deterministic given <paramref name="seed"/>.</summary>
    /// <param name="x">Samples <c>[n, features]</c>.</param>
    /// <param name="k">Clusters, in <c>[1, n]</c>.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>The clustering.</returns>
    public static KMeansClustering KMeans(double[,] x, int k, int seed)
    {
        var r = Interop.Call(() => F.Clustering.kMeans(F.Random.key(seed), k, x), null);
        return new KMeansClustering(r.Labels, r.Centroids, r.Inertia);
    }

    /// <summary>The modes of <c>x_{t+1} = A·x_t</c>, longest timescale first.</summary>
    /// <param name="matrix">The square matrix <c>A</c>.</param>
    /// <param name="dt">The time step.</param>
    /// <returns>One mode per real eigenvalue and per conjugate pair.</returns>
    public static DynamicsModeInfo[] Modes(double[,] matrix, double dt = 1.0) =>
        Interop.Call(() => F.Timescales.modes(dt, matrix), null, ("a", nameof(matrix)))
            .Select(m => new DynamicsModeInfo(m.Eigenvalue, m.Timescale, m.Frequency))
            .ToArray();

    /// <summary>
    /// Matches each true timescale to a different recovered one, minimising the summed relative error
    /// <c>|recovered − true| / true</c> (Hungarian algorithm); every true timescale is matched when there are
    /// at least as many recovered ones. The recovered timescales come first and the true ones second, as in
    /// the F# <c>Timescales.matchTimescales tolerance recovered truth</c>, <see cref="TiDHyTimescales.CompareToTruth"/>
    /// and upstream's <c>compare_discovered_to_ground_truth</c>; name the arguments to make the call read either way.
    /// </summary>
    /// <param name="recovered">Recovered timescales, not NaN; infinite or non-positive ones (as <see cref="Modes"/> gives a unit-modulus or unstable mode) are never within the tolerance.</param>
    /// <param name="truth">True timescales, finite and positive.</param>
    /// <param name="tolerance">The relative tolerance of a pair, finite and non-negative.</param>
    /// <returns>One pair per matched true timescale, by true index.</returns>
    /// <exception cref="ArgumentException">An array is empty or holds a value outside its range, or the tolerance is NaN, infinite or negative; the message and <see cref="ArgumentException.ParamName"/> name the parameter.</exception>
    public static TimescaleMatchInfo[] MatchTimescales(double[] recovered, double[] truth, double tolerance) =>
        Interop.Call(() => F.Timescales.matchTimescales(tolerance, recovered, truth), null)
            .Pairs.Select(p => new TimescaleMatchInfo(p.TrueIndex, p.RecoveredIndex, p.True, p.Recovered, p.RelativeError, p.Within))
            .ToArray();

    /// <summary>How mixture weights <c>[time, M]</c> (non-negative) use their components.</summary>
    /// <param name="weights">The weights, e.g. <c>Flatten(evaluation.W)</c>.</param>
    /// <returns>Usage and entropies.</returns>
    public static MixtureUsageInfo MixtureUsage(double[,] weights)
    {
        var u = Interop.Call(() => F.Mixture.mixtureUsage(weights), null, ("w", nameof(weights)));
        return new MixtureUsageInfo(u.MeanWeight, u.Share, u.StepEntropy, u.MeanStepEntropy, u.UsageEntropy);
    }

    private static AnalysisSplit Split(F.DataSplit s) => new(s.Train, s.Test);
}
