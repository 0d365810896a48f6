using System.Text.Json;
using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>
/// The analysis facade against scikit-learn: expected values from
/// tests/TiDHy.Functional.Tests/analysis-expected.json (tests/scripts/make_analysis_expected.py).
/// </summary>
public class TiDHyAnalysisTests
{
    private static readonly Lazy<JsonElement> Expected = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TiDHy.Functional.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        var path = Path.Combine(dir!.FullName, "tests", "TiDHy.Functional.Tests", "analysis-expected.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    });

    private static JsonElement Case(string kind, string name) =>
        Expected.Value.GetProperty(kind).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

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
    [InlineData("integer grid 2-D (ties), 4 classes")]
    [InlineData("three-way vote tie")]
    public void KnnPredict_and_KnnAccuracy_equal_scikit_learn(string name)
    {
        var c = Case("knn", name);
        var trainX = Matrix(c.GetProperty("train_x"));
        var trainY = Ints(c.GetProperty("train_y"));
        var testX = Matrix(c.GetProperty("test_x"));
        Assert.Equal(Ints(c.GetProperty("predictions")), TiDHyAnalysis.KnnPredict(trainX, trainY, testX));
        Assert.Equal(c.GetProperty("accuracy").GetDouble(), TiDHyAnalysis.KnnAccuracy(trainX, trainY, testX, Ints(c.GetProperty("test_y"))));
    }

    [Fact]
    public void ClusterAgreement_equals_scikit_learn()
    {
        var c = Case("clustering", "8 classes vs 8 noisy clusters");
        var a = TiDHyAnalysis.ClusterAgreement(Ints(c.GetProperty("truth")), Ints(c.GetProperty("pred")));
        Assert.Equal(c.GetProperty("adjusted_rand").GetDouble(), a.AdjustedRand, 1e-12);
        Assert.Equal(c.GetProperty("nmi").GetDouble(), a.NormalisedMutualInformation, 1e-12);
        Assert.Equal(c.GetProperty("v_measure").GetDouble(), a.VMeasure, 1e-12);
        Assert.Equal(c.GetProperty("purity").GetDouble(), a.Purity, 1e-12);
        Assert.Equal(c.GetProperty("matched_accuracy").GetDouble(), a.MatchedAccuracy, 1e-12);
    }

    [Fact]
    public void Decode_on_random_and_block_splits()
    {
        var labels = Enumerable.Range(0, 200).Select(i => i % 4 == 3 ? 1 : 0).ToArray();
        var x = new double[200, 1];
        for (var i = 0; i < 200; i++)
        {
            x[i, 0] = (10 * labels[i]) + (0.001 * i);
        }

        var splits = new[] { TiDHyAnalysis.RandomSplit(1, 200), TiDHyAnalysis.BlockSplit(2, 200, 20) };
        Assert.Equal(50, splits[0].Test.Length);
        Assert.Equal(60, splits[1].Test.Length);
        var r = TiDHyAnalysis.Decode(x, labels, splits);
        Assert.Equal(1.0, r.Mean);
        Assert.Equal(2, r.Accuracies.Length);
    }

    [Fact]
    public void Modes_give_the_timescale_of_a_rotation()
    {
        var a = Math.Exp(-0.1);
        var w = 2 * Math.PI * 0.025;
        var m = TiDHyAnalysis.Modes(new[,] { { a, -w }, { w, a } });
        Assert.Single(m);
        Assert.Equal(-1.0 / Math.Log(Math.Sqrt((a * a) + (w * w))), m[0].Timescale, 1e-12);
        Assert.Equal(w, m[0].Eigenvalue.Imaginary, 1e-12);
    }

    [Fact]
    public void Bad_input_names_the_CSharp_parameter()
    {
        var x = new double[4, 2];
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.KnnPredict(x, new[] { 0, 1, 0, 1 }, x, k: 5)).ParamName);
        Assert.Equal("predicted", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.ClusterAgreement(new[] { 0, 1 }, new[] { 0 })).ParamName);
        Assert.Equal("matrix", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.Modes(new double[2, 3])).ParamName);
        Assert.Equal("weights", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.MixtureUsage(new double[0, 3])).ParamName);
    }

    [Fact]
    public void JointStates_refuses_more_joint_states_than_an_int_holds()
    {
        // 31 binary systems reach int.MaxValue = 2^31 − 1; 32 or 40 do not fit, whatever the values.
        var ones = new int[1, 31];
        for (var i = 0; i < 31; i++)
        {
            ones[0, i] = 1;
        }

        Assert.Equal([int.MaxValue], TiDHyAnalysis.JointStates(ones, 2));
        foreach (var systems in new[] { 32, 40 })
        {
            var e = Assert.Throws<ArgumentException>(() => TiDHyAnalysis.JointStates(new int[2, systems], 2));
            Assert.Equal("states", e.ParamName);
            Assert.Contains($"{systems} systems of 2 states", e.Message);
        }
    }

    [Fact]
    public void MatchTimescales_refuses_NaN_and_a_tolerance_that_is_not_finite_and_non_negative()
    {
        foreach (var tolerance in new[] { double.NaN, -0.1, double.PositiveInfinity })
        {
            Assert.Equal("tolerance", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.MatchTimescales([1.0], [1.0], tolerance)).ParamName);
        }

        foreach (var truth in new[] { double.NaN, double.PositiveInfinity, 0.0, -1.0 })
        {
            Assert.Equal("truth", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.MatchTimescales([1.0], [truth], 0.1)).ParamName);
        }

        Assert.Equal("recovered", Assert.ThrowsAny<ArgumentException>(() => TiDHyAnalysis.MatchTimescales([double.NaN, 4.0], [4.0], 0.1)).ParamName);
    }

    [Fact]
    public void MatchTimescales_takes_the_recovered_timescales_first_and_the_truth_second_as_the_FSharp_function()
    {
        // Recovered [9, 2.1, 50] against truth [10, 2]: by hand, 10↔9 (error 0.1) and 2↔2.1 (error 0.05)
        // cost 0.15, every other pairing more; 50 is left over. Read the other way round (truth [9, 2.1, 50])
        // the true values, the errors and the number of pairs would all differ.
        var pairs = TiDHyAnalysis.MatchTimescales([9.0, 2.1, 50.0], [10.0, 2.0], 0.08);
        Assert.Equal(2, pairs.Length);
        Assert.Equal([0, 1], pairs.Select(p => p.TrueIndex));
        Assert.Equal([0, 1], pairs.Select(p => p.RecoveredIndex));
        Assert.Equal([10.0, 2.0], pairs.Select(p => p.True));
        Assert.Equal([9.0, 2.1], pairs.Select(p => p.Recovered));
        Assert.Equal(0.1, pairs[0].RelativeError, 1e-12);
        Assert.Equal(0.05, pairs[1].RelativeError, 1e-12);
        Assert.Equal([false, true], pairs.Select(p => p.Within));
        // Swapped, three "true" timescales are matched to two "recovered" ones: other pairs.
        var swapped = TiDHyAnalysis.MatchTimescales([10.0, 2.0], [9.0, 2.1, 50.0], 0.08);
        Assert.NotEqual(pairs.Select(p => p.True), swapped.Select(p => p.True));
    }

    [Fact]
    public void ClusterAgreement_takes_the_true_labels_first()
    {
        // Truth [0,0,1,1], clusters [0,1,2,3], by hand: every cluster holds one true label, so homogeneity
        // is 1 and purity 4/4; each label is split over 2 of the 4 equally used clusters, so completeness
        // is 1 − H(K|C)/H(K) = 1 − ln 2 / ln 4 = 0.5. Swapped, homogeneity would be 0.5, completeness 1 and purity 0.5.
        var a = TiDHyAnalysis.ClusterAgreement(truth: [0, 0, 1, 1], predicted: [0, 1, 2, 3]);
        Assert.Equal(1.0, a.Homogeneity, 1e-12);
        Assert.Equal(0.5, a.Completeness, 1e-12);
        Assert.Equal(1.0, a.Purity, 1e-12);
        Assert.Equal(2 * 1.0 * 0.5 / 1.5, a.VMeasure, 1e-12);
    }
}
