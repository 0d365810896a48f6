using System.Text.Json;
using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>
/// The timescales facade against the NumPy/SciPy restatement of upstream's definitions: expected
/// values from tests/TiDHy.Functional.Tests/timescales-expected.json
/// (tests/scripts/make_timescales_expected.py). Timescales to 1e-10 relative, counts exactly.
/// </summary>
public class TiDHyTimescalesTests
{
    private static readonly Lazy<JsonElement> Expected = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TiDHy.Functional.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        var path = Path.Combine(dir!.FullName, "tests", "TiDHy.Functional.Tests", "timescales-expected.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    });

    private static JsonElement Case(string kind, string name) =>
        Expected.Value.GetProperty(kind).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static void AssertEach(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-10 * Math.Abs(expected[i]), $"[{i}]: {actual[i]:R}, expected {expected[i]:R}");
        }
    }

    [Fact]
    public void EffectiveTimescalesPoolsClustersAndComparesAsUpstream()
    {
        var c = Case("effective", "3 windows x 5 steps, R 4");
        var s = Ints(c.GetProperty("shape"));
        var flat = Doubles(c.GetProperty("ut"));
        var ut = new double[s[0], s[1], s[2], s[3]];
        var k = 0;
        for (var a = 0; a < s[0]; a++)
        {
            for (var b = 0; b < s[1]; b++)
            {
                for (var i = 0; i < s[2]; i++)
                {
                    for (var j = 0; j < s[3]; j++)
                    {
                        ut[a, b, i, j] = flat[k++];
                    }
                }
            }
        }

        var r = TiDHyTimescales.EffectiveTimescales(ut, truth: new[] { 0.5, 2.0, 8.0 });
        AssertEach(Doubles(c.GetProperty("pooled")), r.Timescales);
        AssertEach(Doubles(c.GetProperty("centres")), r.Clusters.Centres);
        Assert.Equal(Ints(c.GetProperty("counts")), r.Clusters.Counts);
        Assert.Equal(s[0], r.ZeroSkipped);
        Assert.NotNull(r.Comparison);
        Assert.Null(TiDHyTimescales.EffectiveTimescales(ut).Comparison);
    }

    [Fact]
    public void ClusterAndCompareAgreeWithNumPyAndSciPy()
    {
        var cl = Case("clusters", "log-normal, 200 values");
        var clusters = TiDHyTimescales.ClusterTimescales(Doubles(cl.GetProperty("timescales")));
        AssertEach(Doubles(cl.GetProperty("centres")), clusters.Centres);
        Assert.Equal(Ints(cl.GetProperty("counts")), clusters.Counts);

        var c = Case("compare", "more discovered than true");
        var r = TiDHyTimescales.CompareToTruth(Doubles(c.GetProperty("discovered")), Doubles(c.GetProperty("truth")), c.GetProperty("tolerance").GetDouble());
        Assert.Equal(c.GetProperty("matched").GetInt32(), r.Matched);
        Assert.Equal(c.GetProperty("precision").GetDouble(), r.Precision);
        Assert.Equal(c.GetProperty("recall").GetDouble(), r.Recall);
        Assert.Equal(Doubles(c.GetProperty("false_positives")), r.FalsePositives);
    }

    [Fact]
    public void PerStateFitAgreesWithNumPyLeastSquares()
    {
        var c = Case("per_state", "3-D, a label with too few transitions");
        var rows = c.GetProperty("features").EnumerateArray().Select(Doubles).ToArray();
        var x = new double[rows.Length, rows[0].Length];
        for (var i = 0; i < rows.Length; i++)
        {
            for (var j = 0; j < rows[0].Length; j++)
            {
                x[i, j] = rows[i][j];
            }
        }

        var r = TiDHyTimescales.PerStateFit(x, Ints(c.GetProperty("labels")), Doubles(c.GetProperty("truth")));
        Assert.Equal(Ints(c.GetProperty("skipped")), r.Skipped);
        AssertEach(Doubles(c.GetProperty("pooled")), r.Pooled);
        AssertEach(Doubles(c.GetProperty("nearest")), r.Nearest);
        Assert.Equal(c.GetProperty("within").GetInt32(), r.Within);
    }

    [Fact]
    public void ComponentTimescalesReadsTheModelsDynamics()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        var r = TiDHyTimescales.ComponentTimescales(model, truth: new[] { 3.0 });
        Assert.True(r.Matrices > 0);
        Assert.Equal(r.Timescales.Length, r.Summary.Count);
        Assert.NotNull(r.Comparison);
    }

    [Fact]
    public void BadInputNamesTheParameter()
    {
        Assert.Equal("matrix", Assert.ThrowsAny<ArgumentException>(() => TiDHyTimescales.SpectrumTimescales(new double[2, 3])).ParamName);
        Assert.Equal("truth", Assert.ThrowsAny<ArgumentException>(() => TiDHyTimescales.CompareToTruth(new[] { 1.0 }, Array.Empty<double>())).ParamName);
        Assert.Equal("timescales", Assert.ThrowsAny<ArgumentException>(() => TiDHyTimescales.ClusterTimescales(new[] { double.NaN })).ParamName);
        Assert.Equal("labels", Assert.ThrowsAny<ArgumentException>(() => TiDHyTimescales.PerStateFit(new double[4, 1], new int[3], new[] { 1.0 })).ParamName);
        Assert.Throws<ArgumentNullException>("model", () => TiDHyTimescales.ComponentTimescales(null!));
    }
}
