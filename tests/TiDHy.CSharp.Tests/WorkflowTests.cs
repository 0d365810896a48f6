using System.Text.Json;
using System.Text.Json.Nodes;
using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>Presets, normalisation, splits, state files and the learned dynamics, each against values worked out by hand.</summary>
public class WorkflowTests
{
    private static JsonElement Json(TiDHyOptions o) => JsonDocument.Parse(o.ToJson()).RootElement;

    [Fact]
    public void The_recovery_preset_sets_its_three_learning_rates_and_nothing_else()
    {
        Assert.Contains("recovery", TiDHyOptions.PresetNames);
        Assert.False(string.IsNullOrWhiteSpace(TiDHyOptions.DescribePreset("recovery")));

        // The values of the F# preset (src/TiDHy.Functional/Core/Presets.fs), written out by hand.
        var preset = Json(TiDHyOptions.FromPreset("recovery", 4));
        Assert.Equal(3e-5, preset.GetProperty("learning_rate_h").GetDouble());
        Assert.Equal(3e-3, preset.GetProperty("learning_rate_s").GetDouble());
        Assert.Equal(3e-3, preset.GetProperty("learning_rate_t").GetDouble());

        var changed = new HashSet<string> { "learning_rate_h", "learning_rate_s", "learning_rate_t" };
        var defaults = Json(new TiDHyOptions(4));
        foreach (var p in defaults.EnumerateObject().Where(p => !changed.Contains(p.Name)))
        {
            Assert.Equal(p.Value.ToString(), preset.GetProperty(p.Name).ToString());
        }

        Assert.NotEqual(3e-5, defaults.GetProperty("learning_rate_h").GetDouble());
    }

    [Fact]
    public void ApplyPreset_keeps_the_options_it_does_not_name_and_refuses_an_unknown_name()
    {
        var o = TestData.SmallOptions().ApplyPreset("recovery");
        Assert.Equal(3, o.RDimension);
        Assert.Equal(3e-5, o.LearningRateHypernetwork);
        var e = Assert.Throws<ArgumentException>(() => o.ApplyPreset("fast"));
        Assert.Equal("name", e.ParamName);
        Assert.Contains("\"recovery\"", e.Message);
        Assert.Throws<ArgumentNullException>("name", () => TiDHyOptions.FromPreset(null!, 4));
    }

    [Fact]
    public void A_z_score_uses_the_mean_and_population_deviation_of_each_feature_and_inverts()
    {
        // Feature 0: 1, 2, 3, 6 → mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5. Feature 1 constant 10 → centred, scale 1.
        double[,] train = { { 1, 10 }, { 2, 10 }, { 3, 10 }, { 6, 10 } };
        var z = TiDHyData.FitZScore(train);
        Assert.Equal(NormalisationKind.ZScore, z.Kind);
        Assert.Equal([3.0, 10.0], z.Offset);
        Assert.Equal(Math.Sqrt(3.5), z.Scale[0], 1e-15);
        Assert.Equal(1.0, z.Scale[1]);

        // Applied to other data with the training statistics.
        double[,] test = { { 3 + Math.Sqrt(3.5), 12 } };
        var normalised = z.Apply(test);
        Assert.Equal(1.0, normalised[0, 0], 1e-12);
        Assert.Equal(2.0, normalised[0, 1], 1e-12);
        var back = z.Invert(normalised);
        Assert.Equal(test[0, 0], back[0, 0], 1e-12);
        Assert.Equal(12.0, back[0, 1], 1e-12);

        Assert.Equal("series", Assert.ThrowsAny<ArgumentException>(() => z.Apply(new double[2, 3])).ParamName);
    }

    [Fact]
    public void Max_abs_divides_each_feature_by_its_largest_magnitude()
    {
        double[,] x = { { -4, 0 }, { 2, 0 } };
        var m = TiDHyData.FitMaxAbs(x);
        Assert.Equal(NormalisationKind.MaxAbs, m.Kind);
        Assert.Equal([0.0, 0.0], m.Offset);
        Assert.Equal([4.0, 1.0], m.Scale);
        Assert.Equal(-1.0, m.Apply(x)[0, 0]);
        Assert.Equal(0.5, m.Apply(x)[1, 0]);
    }

    private static double[,] Steps(int time)
    {
        var x = new double[time, 2];
        for (var t = 0; t < time; t++)
        {
            x[t, 0] = t;
            x[t, 1] = -t;
        }

        return x;
    }

    [Theory]
    [InlineData(0.25, 8, 2)] // round(2.5) = 2, ties to even
    [InlineData(0.35, 6, 4)] // round(3.5) = 4
    [InlineData(0.0, 10, 0)]
    public void SplitTail_holds_out_the_rounded_tail(double fraction, int train, int validation)
    {
        var s = TiDHyData.SplitTail(Steps(10), fraction);
        Assert.Equal(train, s.Train.GetLength(0));
        Assert.Equal(validation, s.Validation.GetLength(0));
        Assert.Equal(0, s.Test.GetLength(0));
        Assert.Equal(train - 1, s.Train[train - 1, 0]);
        if (validation > 0)
        {
            Assert.Equal(train, s.Validation[0, 0]);
            Assert.Equal(9, s.Validation[validation - 1, 0]);
        }
    }

    [Fact]
    public void SplitFractions_floors_the_training_and_validation_lengths_and_keeps_the_rest_for_testing()
    {
        // 10 steps, 0.6 and 0.25: 6, floor(2.5) = 2, then 2.
        var s = TiDHyData.SplitFractions(Steps(10), 0.6, 0.25);
        Assert.Equal([6, 2, 2], new[] { s.Train.GetLength(0), s.Validation.GetLength(0), s.Test.GetLength(0) });
        Assert.Equal(6, s.Validation[0, 0]);
        Assert.Equal(8, s.Test[0, 0]);
        Assert.Equal(-9, s.Test[1, 1]);
        Assert.Equal("validationFraction", Assert.ThrowsAny<ArgumentException>(() => TiDHyData.SplitTail(Steps(10), 1.0)).ParamName);
    }

    [Fact]
    public void LoadStates_reads_integer_columns_from_CSV_and_NPY_and_refuses_other_values()
    {
        using var folder = new TestData.TempFolder();
        var csv = folder.File("states.csv");
        File.WriteAllText(csv, "0,1\n2,0\n1,1\n");
        var states = TiDHyData.LoadStates(csv);
        Assert.Equal(new[,] { { 0, 1 }, { 2, 0 }, { 1, 1 } }, states);

        var npy = folder.File("states.npy");
        TiDHyData.SaveSeries(npy, new double[,] { { 3 }, { 0 }, { 3 } });
        Assert.Equal(new[,] { { 3 }, { 0 }, { 3 } }, TiDHyData.LoadStates(npy));

        var bad = folder.File("bad.csv");
        File.WriteAllText(bad, "0\n1.5\n");
        Assert.Contains("row 2, column 1 is 1.5", Assert.Throws<InvalidDataException>(() => TiDHyData.LoadStates(bad)).Message);
        File.WriteAllText(bad, "0\n-1\n");
        Assert.Contains("row 2, column 1 is -1", Assert.Throws<InvalidDataException>(() => TiDHyData.LoadStates(bad)).Message);
        Assert.Throws<FileNotFoundException>(() => TiDHyData.LoadStates(folder.File("none.csv")));
    }

    [Fact]
    public void The_learned_dynamics_are_the_state_dicts_temporal_matrices_and_mix_by_the_hypernetworks_weights()
    {
        var options = TestData.SmallOptions();
        int m = options.MixtureDimension, r = options.RDimension;
        using var folder = new TestData.TempFolder();
        var path = folder.File("weights.json");
        TiDHyModel.Create(options, 4).ExportStateDict(path);

        // Upstream's `temporal [M, R·R]`, row k being V_k row-major: set V_k = (k + 1)·I, plus 0.5 at (0, 1) of V_0.
        var dict = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal($"[{m},{r * r}]", dict["temporal"]!["shape"]!.ToJsonString());
        var data = new double[m * r * r];
        for (var k = 0; k < m; k++)
        {
            for (var i = 0; i < r; i++)
            {
                data[(k * r * r) + (i * r) + i] = k + 1;
            }
        }

        data[1] = 0.5;
        dict["temporal"]!["data"] = new JsonArray(data.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());
        File.WriteAllText(path, dict.ToJsonString());
        var model = TiDHyModel.ImportTorch(options, path);

        var vk = model.DynamicsMatrices();
        Assert.Equal([m, r, r], new[] { vk.GetLength(0), vk.GetLength(1), vk.GetLength(2) });
        for (var k = 0; k < m; k++)
        {
            for (var i = 0; i < r; i++)
            {
                for (var j = 0; j < r; j++)
                {
                    Assert.Equal(k == 0 && i == 0 && j == 1 ? 0.5 : i == j ? k + 1 : 0.0, vk[k, i, j]);
                }
            }
        }

        // V_t = Σ_k w_k·V_k with the w that inference reports for the same r2.
        var x = new double[2, options.InputDimension];
        x[0, 0] = 1;
        x[1, 2] = -0.5;
        var inferred = model.Infer(x, new double[2, r], new double[2, options.R2Dimension]);
        var vt = model.DynamicsAt(inferred.R2);
        var w = inferred.W!;
        for (var s = 0; s < 2; s++)
        {
            var diagonal = Enumerable.Range(0, m).Sum(k => w[s, k] * (k + 1));
            for (var i = 0; i < r; i++)
            {
                for (var j = 0; j < r; j++)
                {
                    var expected = (i == j ? diagonal : 0.0) + (i == 0 && j == 1 ? 0.5 * w[s, 0] : 0.0);
                    Assert.Equal(expected, vt[s, i, j], 1e-12);
                }
            }
        }

        Assert.Equal("r2", Assert.ThrowsAny<ArgumentException>(() => model.DynamicsAt(new double[2, options.R2Dimension + 1])).ParamName);
    }
}
