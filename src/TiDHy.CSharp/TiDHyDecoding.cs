using Microsoft.FSharp.Collections;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>A named feature array for <see cref="TiDHyDecoding.DecodingTable"/>.</summary>
/// <param name="Name">The name the table shows.</param>
/// <param name="Values">The feature at each step <c>[n, d]</c>, e.g. <c>TiDHyAnalysis.Flatten(evaluation.R2Hat)</c>.</param>
public sealed record DecodingFeature(string Name, double[,] Values)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>The choices of <see cref="TiDHyDecoding.DecodingTable"/>.</summary>
/// <param name="BlockLength">Steps per held-out block of the block splits; at least two blocks must fit.</param>
/// <param name="TestFraction">The share of blocks (block splits) and of steps (random splits) held out, in (0, 1).</param>
/// <param name="Splits">Splits of each kind.</param>
/// <param name="Neighbours">Neighbours of the kNN decoder (3, upstream's).</param>
/// <param name="C">The inverse regularisation strength of the linear decoder (1.0, scikit-learn's default).</param>
public sealed record DecodingTableSettings(int BlockLength = 100, double TestFraction = 0.25, int Splits = 5, int Neighbours = 3, double C = 1.0);

/// <summary>One feature's decoding accuracy, by decoder and kind of split.</summary>
/// <param name="Name">The feature's name.</param>
/// <param name="BlockKnn">kNN on held-out contiguous blocks: the first measure.</param>
/// <param name="BlockLinear">The linear decoder on held-out contiguous blocks: the first measure.</param>
/// <param name="RandomKnn">kNN on random steps: optimistic, as a held-out step's neighbours in time are in the training set.</param>
/// <param name="RandomLinear">The linear decoder on random steps: optimistic, likewise.</param>
public sealed record DecodingTableRow(string Name, DecodingResult BlockKnn, DecodingResult BlockLinear, DecodingResult RandomKnn, DecodingResult RandomLinear);

/// <summary>A decoding table: every feature scored on the same block splits and the same random splits.</summary>
/// <param name="Rows">One row per feature, in the order given.</param>
/// <param name="BlockLength">Steps per held-out block.</param>
/// <param name="TestFraction">The share held out.</param>
/// <param name="Splits">Splits of each kind.</param>
/// <param name="Neighbours">Neighbours of the kNN decoder.</param>
/// <param name="C">The linear decoder's inverse regularisation strength.</param>
/// <param name="ChanceBlock">Chance on the block splits: the mean share of the most common held-out label.</param>
/// <param name="ChanceRandom">Chance on the random splits.</param>
/// <param name="Classes">The distinct labels.</param>
/// <param name="Samples">The steps.</param>
public sealed record DecodingTableResult(
    DecodingTableRow[] Rows,
    int BlockLength,
    double TestFraction,
    int Splits,
    int Neighbours,
    double C,
    double ChanceBlock,
    double ChanceRandom,
    int Classes,
    int Samples
)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);
}

/// <summary>
/// Decoding that does not leak: a linear decoder (multinomial logistic regression with L2 on
/// standardised features, scikit-learn's <c>LogisticRegression(multi_class="multinomial")</c>
/// objective), the delay embedding of the raw input, and the decoding table that scores every
/// feature with kNN and the linear decoder on the same held-out blocks (the first measure) and the
/// same random steps (optimistic). Each member is one call into the F# core; bad input throws
/// <see cref="ArgumentException"/> naming the parameter.
/// </summary>
public static class TiDHyDecoding
{
    /// <summary>The labels that the linear decoder fitted on the training rows predicts for the test rows.</summary>
    /// <param name="trainX">Training features <c>[n, d]</c>, finite.</param>
    /// <param name="trainY">Training labels <c>[n]</c>, any integers.</param>
    /// <param name="testX">Test features <c>[m, d]</c>, finite.</param>
    /// <param name="c">The inverse regularisation strength, finite and positive.</param>
    /// <returns>The predicted labels <c>[m]</c>.</returns>
    public static int[] LinearPredict(double[,] trainX, int[] trainY, double[,] testX, double c = 1.0) =>
        Interop.Call(() => F.LinearDecoder.predict(F.LinearDecoder.fit(c, trainX, trainY), testX), null, ("x", nameof(testX)));

    /// <summary>The share of <paramref name="testY"/> that <see cref="LinearPredict"/> predicts.</summary>
    /// <param name="trainX">Training features <c>[n, d]</c>, finite.</param>
    /// <param name="trainY">Training labels <c>[n]</c>.</param>
    /// <param name="testX">Test features <c>[m, d]</c>, finite.</param>
    /// <param name="testY">Test labels <c>[m]</c>.</param>
    /// <param name="c">The inverse regularisation strength, finite and positive.</param>
    /// <returns>The accuracy.</returns>
    public static double LinearAccuracy(double[,] trainX, int[] trainY, double[,] testX, int[] testY, double c = 1.0) =>
        Interop.Call(() => F.LinearDecoder.accuracy(c, trainX, trainY, testX, testY), null, ("x", nameof(testX)));

    /// <summary>The delay embedding: row <c>t</c> is <c>[x_t, x_{t−1}, …, x_{t−lags}]</c>, steps before the start repeating row 0.</summary>
    /// <param name="x">The series <c>[n, d]</c>.</param>
    /// <param name="lags">Past steps, at least 0 (0 gives a copy).</param>
    /// <returns>The embedding <c>[n, d·(lags + 1)]</c>.</returns>
    public static double[,] DelayEmbed(double[,] x, int lags = 10) => Interop.Call(() => F.Decoding.delayEmbed(lags, x), null);

    /// <summary>The baselines built from the raw input: the input itself and its delay embedding, named for a table.</summary>
    /// <param name="input">The raw input <c>[n, d]</c>.</param>
    /// <param name="lags">Lags of the delay embedding.</param>
    /// <returns><c>"I (raw input)"</c> and <c>"I with {lags} lags"</c>.</returns>
    public static DecodingFeature[] BaselineFeatures(double[,] input, int lags = 10) =>
        Interop.Call(() => F.Decoding.baselineFeatures(lags, input), null)
            .Select(f => new DecodingFeature(f.Item1, f.Item2))
            .ToArray();

    /// <summary>
    /// Decodes <paramref name="labels"/> from each feature with kNN and the linear decoder, on block
    /// splits (held-out contiguous blocks: the first measure) and random splits (optimistic for a
    /// time series), both drawn once from <paramref name="seed"/> and shared by every feature. Pass
    /// the baselines as features (<see cref="BaselineFeatures"/>, the untrained model's arrays);
    /// chance is in the result.
    /// </summary>
    /// <param name="labels">The label of each step <c>[n]</c>.</param>
    /// <param name="features">The features, each <c>[n, d_i]</c>, finite.</param>
    /// <param name="seed">The seed of the splits.</param>
    /// <param name="settings">The choices; null for the defaults.</param>
    /// <returns>The table.</returns>
    /// <exception cref="ArgumentException">A feature's rows differ from the labels, fewer than two blocks fit, or a setting is out of range; the message names the parameter.</exception>
    public static DecodingTableResult DecodingTable(int[] labels, IReadOnlyList<DecodingFeature> features, int seed, DecodingTableSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        var s = settings ?? new DecodingTableSettings();
        var core = ListModule.OfSeq(
            features.Select(f => f is null ? throw new ArgumentException("features: a feature is null.", nameof(features)) : Tuple.Create(f.Name, f.Values))
        );
        var coreSettings = new F.DecodingSettings(s.BlockLength, s.TestFraction, s.Splits, s.Neighbours, s.C);
        var t = Interop.Call(
            () => F.Decoding.table(F.Random.key(seed), coreSettings, labels, core),
            null,
            ("settings.BlockLength", nameof(settings)),
            ("settings.TestFraction", nameof(settings)),
            ("settings.Splits", nameof(settings)),
            ("settings.Neighbours", nameof(settings)),
            ("settings.C", nameof(settings))
        );
        return new DecodingTableResult(
            t.Rows.Select(r => new DecodingTableRow(r.Name, Spread(r.BlockKnn), Spread(r.BlockLinear), Spread(r.RandomKnn), Spread(r.RandomLinear))).ToArray(),
            t.BlockLength,
            t.TestFraction,
            t.Splits,
            t.Neighbours,
            t.C,
            t.ChanceBlock,
            t.ChanceRandom,
            t.Classes,
            t.Samples
        );
    }

    private static DecodingResult Spread(F.DecodingSpread r) =>
        new(r.Scores.Select(s => s.Accuracy).ToArray(), r.Scores.Select(s => s.Chance).ToArray(), r.Mean, r.Std, r.Min, r.Max, r.ChanceMean);
}
