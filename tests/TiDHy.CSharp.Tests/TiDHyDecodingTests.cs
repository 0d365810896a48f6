using System.Text.Json;
using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>
/// The decoding facade: the linear decoder against scikit-learn (tests/TiDHy.Functional.Tests/linear-expected.json,
/// from tests/scripts/make_linear_expected.py), the delay embedding and the decoding table.
/// </summary>
public class TiDHyDecodingTests
{
    private static readonly Lazy<JsonElement> Expected = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TiDHy.Functional.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        var path = Path.Combine(dir!.FullName, "tests", "TiDHy.Functional.Tests", "linear-expected.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    });

    private static JsonElement Case(string name) =>
        Expected.Value.GetProperty("linear").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static double[,] Matrix(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var m = new double[rows.Length, rows[0].Length];
        for (var i = 0; i < rows.Length; i++)
        {
            for (var j = 0; j < rows[0].Length; j++)
            {
                m[i, j] = rows[i][j];
            }
        }

        return m;
    }

    [Theory]
    [InlineData("constant column, labels -2/7/40")]
    [InlineData("blobs 8 classes, 20-D")]
    public void LinearPredict_and_LinearAccuracy_equal_scikit_learn(string name)
    {
        var c = Case(name);
        var trainX = Matrix(c.GetProperty("train_x"));
        var trainY = Ints(c.GetProperty("train_y"));
        var testX = Matrix(c.GetProperty("test_x"));
        var testY = Ints(c.GetProperty("test_y"));
        var strength = c.GetProperty("c").GetDouble();
        var proba = Matrix(c.GetProperty("optimum_proba"));
        var expected = Ints(c.GetProperty("predictions"));
        var predicted = TiDHyDecoding.LinearPredict(trainX, trainY, testX, strength);
        var nearTies = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            // Identical, except where the two most probable classes are within 1e-6 (none in these cases).
            var p = Enumerable.Range(0, proba.GetLength(1)).Select(k => proba[i, k]).OrderDescending().ToArray();
            if (p[0] - p[1] < 1e-6)
            {
                nearTies++;
                continue;
            }

            Assert.Equal(expected[i], predicted[i]);
        }

        Assert.Equal(0, nearTies);
        Assert.Equal(c.GetProperty("accuracy").GetDouble(), TiDHyDecoding.LinearAccuracy(trainX, trainY, testX, testY, strength));
    }

    [Fact]
    public void DelayEmbed_stacks_past_rows_with_edge_padding()
    {
        var x = new double[,] { { 1, 10 }, { 2, 20 }, { 3, 30 } };
        var expected = new double[,] { { 1, 10, 1, 10 }, { 2, 20, 1, 10 }, { 3, 30, 2, 20 } };
        Assert.Equal(expected, TiDHyDecoding.DelayEmbed(x, 1));
        Assert.Equal(x, TiDHyDecoding.DelayEmbed(x, 0));
        Assert.Equal(3 * 11 * 2, TiDHyDecoding.DelayEmbed(x).Length);
    }

    [Fact]
    public void DecodingTable_scores_every_feature_on_the_same_splits()
    {
        // Labels constant over 20-step segments; one feature separates them, one is noise.
        var labels = Enumerable.Range(0, 200).Select(t => (t / 20) % 3).ToArray();
        var informative = new double[200, 2];
        var noise = new double[200, 1];
        var rng = new Random(3);
        for (var t = 0; t < 200; t++)
        {
            informative[t, 0] = labels[t] + (0.1 * rng.NextDouble());
            informative[t, 1] = -labels[t] + (0.1 * rng.NextDouble());
            noise[t, 0] = rng.NextDouble();
        }

        var features = new List<DecodingFeature> { new("informative", informative) };
        features.AddRange(TiDHyDecoding.BaselineFeatures(noise, lags: 2));
        var table = TiDHyDecoding.DecodingTable(labels, features, seed: 4, new DecodingTableSettings(BlockLength: 20, Splits: 3));

        Assert.Equal(["informative", "I (raw input)", "I with 2 lags"], table.Rows.Select(r => r.Name));
        Assert.Equal((20, 0.25, 3, 3, 1.0, 3, 200), (table.BlockLength, table.TestFraction, table.Splits, table.Neighbours, table.C, table.Classes, table.Samples));
        Assert.Equal(1.0, table.Rows[0].RandomKnn.Mean);
        Assert.Equal(1.0, table.Rows[0].RandomLinear.Mean);
        foreach (var r in table.Rows)
        {
            Assert.Equal(table.ChanceBlock, r.BlockKnn.ChanceMean, 15);
            Assert.Equal(table.ChanceBlock, r.BlockLinear.ChanceMean, 15);
            Assert.Equal(table.ChanceRandom, r.RandomLinear.ChanceMean, 15);
            Assert.Equal(3, r.BlockLinear.Accuracies.Length);
        }
    }

    [Fact]
    public void Bad_input_names_the_CSharp_parameter()
    {
        var x = new double[,] { { 0, 1 }, { 1, 0 }, { 2, 2 }, { 3, 1 } };
        var y = new[] { 0, 1, 0, 1 };
        Assert.Equal("testX", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.LinearPredict(x, y, new double[2, 3])).ParamName);
        Assert.Equal("c", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.LinearPredict(x, y, x, c: 0)).ParamName);
        x[1, 1] = double.NaN;
        Assert.Equal("trainX", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.LinearAccuracy(x, y, x, y)).ParamName);
        Assert.Equal("lags", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.DelayEmbed(x, -1)).ParamName);
        var labels = new int[200];
        var feature = new DecodingFeature("f", new double[200, 1]);
        Assert.Equal("settings", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.DecodingTable(labels, [feature], 1, new DecodingTableSettings(Splits: 0))).ParamName);
        Assert.Equal("labels", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.DecodingTable(labels, [feature], 1, new DecodingTableSettings(BlockLength: 150))).ParamName);
        Assert.Equal("features", Assert.ThrowsAny<ArgumentException>(() => TiDHyDecoding.DecodingTable(labels, [new DecodingFeature("g", new double[199, 1])], 1)).ParamName);
    }
}
