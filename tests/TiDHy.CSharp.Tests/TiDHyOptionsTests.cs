using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

public class TiDHyOptionsTests
{
    [Fact]
    public void New_options_carry_upstreams_SLDS_defaults()
    {
        var o = new TiDHyOptions(7);
        Assert.Equal(7, o.InputDimension);
        Assert.Equal(10, o.RDimension);
        Assert.Equal(5, o.R2Dimension);
        Assert.Equal(15, o.MixtureDimension);
        Assert.Equal(2000, o.MaxIterations);
        Assert.Equal(0.01, o.Tolerance);
        Assert.Equal(LossKind.Mse, o.Loss);
        Assert.Equal(BatchScaling.BatchMean, o.BatchScaling);
        Assert.Equal(Convergence.Batch, o.Convergence);
        Assert.True(o.GradNorm);
        Assert.Equal(1e-5, o.WeightDecay);
        Assert.Equal(200, o.SequenceLength);
        Assert.Equal(1000, o.Epochs);
    }

    [Fact]
    public void The_parameterless_constructor_leaves_InputDim_to_be_set()
    {
        var o = new TiDHyOptions();
        Assert.Equal(0, o.InputDimension);
        var e = Assert.Throws<ArgumentException>(o.Validate);
        Assert.Contains("InputDimension (input_dim)", e.Message);
        o.InputDimension = 3;
        o.Validate();
    }

    [Fact]
    public void Options_survive_a_JSON_round_trip_with_every_property()
    {
        var o = TestData.SmallOptions();
        o.Loss = LossKind.Poisson;
        o.Convergence = Convergence.PerSample;
        o.BatchScaling = BatchScaling.PerSample;
        o.DynamicBias = true;
        o.UseR2Decoder = true;
        o.LearningRateR = 0.123456789012345;
        o.NuclearNormAlpha = 1e-7;
        var back = TiDHyOptions.FromJson(o.ToJson());
        foreach (var p in typeof(TiDHyOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            Assert.Equal(p.GetValue(o), p.GetValue(back));
        }
    }

    [Fact]
    public void FromJson_reads_upstream_names_and_takes_defaults_for_missing_keys()
    {
        var o = TiDHyOptions.FromJson("""{ "input_dim": 6, "r_dim": 4, "loss_type": "BCE", "batch_converge": false, "sequence_length": 50 }""");
        Assert.Equal(6, o.InputDimension);
        Assert.Equal(4, o.RDimension);
        Assert.Equal(LossKind.Bce, o.Loss);
        Assert.Equal(Convergence.AllSamples, o.Convergence);
        Assert.Equal(5, o.Overlap);
        Assert.Equal(15, o.MixtureDimension);
    }

    [Fact]
    public void FromJson_rejects_unknown_keys_and_bad_JSON_naming_the_json_parameter()
    {
        var unknown = Assert.Throws<ArgumentException>(() => TiDHyOptions.FromJson("""{ "input_dim": 6, "r_dimm": 4 }"""));
        Assert.Equal("json", unknown.ParamName);
        Assert.Contains("r_dimm", unknown.Message);
        var broken = Assert.Throws<ArgumentException>(() => TiDHyOptions.FromJson("{ \"input_dim\": "));
        Assert.Equal("json", broken.ParamName);
        Assert.Throws<ArgumentNullException>("json", () => TiDHyOptions.FromJson(null!));
    }

    [Fact]
    public void Validation_names_every_invalid_property_with_its_upstream_name()
    {
        var o = TestData.SmallOptions();
        o.MaxIterations = 5;
        o.Tolerance = double.NaN;
        o.RDimension = 0;
        o.Overlap = 7;
        var e = Assert.Throws<ArgumentException>(o.Validate);
        Assert.Contains("MaxIterations (max_iter) = 5", e.Message);
        Assert.Contains("Tolerance (tol) = NaN", e.Message);
        Assert.Contains("RDimension (r_dim) = 0", e.Message);
        Assert.Contains("Overlap (overlap) = 7", e.Message);
        Assert.Throws<ArgumentException>(() => o.ToJson());
    }

    [Fact]
    public void Clone_gives_an_independent_copy()
    {
        var o = TestData.SmallOptions();
        var c = o.Clone();
        c.RDimension = 9;
        Assert.Equal(3, o.RDimension);
        Assert.Equal(9, c.RDimension);
    }

    [Fact]
    public void The_backend_defaults_to_the_fused_kernels_and_round_trips_through_JSON()
    {
        var o = new TiDHyOptions(4);
        Assert.Equal(Backend.Fused, o.Backend);
        o.Backend = Backend.Reference;
        Assert.Equal(Backend.Reference, TiDHyOptions.FromJson(o.ToJson()).Backend);
        Assert.Equal(Backend.FusedFloat32, TiDHyOptions.FromJson("""{ "input_dim": 4, "backend": "FusedFloat32" }""").Backend);
    }

    [Fact]
    public void The_reference_and_fused_backends_give_the_same_evaluation_to_rounding()
    {
        var windows = TestData.SineWindows(3, TestData.SmallOptions().SequenceLength, 4);
        var fused = TiDHyModel.Create(TestData.SmallOptions(), seed: 5).Evaluate(windows);
        var reference = TestData.SmallOptions();
        reference.Backend = Backend.Reference;
        var slow = TiDHyModel.Create(reference, seed: 5).Evaluate(windows);
        Assert.Equal(slow.Iterations, fused.Iterations);
        Assert.True(Math.Abs(slow.SpatialLossRHatAverage - fused.SpatialLossRHatAverage) <= 1e-9 * Math.Abs(slow.SpatialLossRHatAverage));
    }
}

/// <summary>The generated options against the F# option table they come from.</summary>
public class TiDHyOptionsTableTests
{
    private static readonly TiDHy.Functional.ConfigOption[] Table = [.. TiDHy.Functional.ConfigOptions.all];

    private static bool IsObsolete(System.Reflection.MemberInfo m) =>
        m.GetCustomAttributes(typeof(ObsoleteAttribute), false).Length > 0;

    /// <summary>
    /// The C# property of an option: the F# field's name, or, where that name is an obsolete alias, the
    /// property its message names (<c>Use X; …</c>).
    /// </summary>
    private static string CSharpName(TiDHy.Functional.ConfigOption o)
    {
        var p = typeof(TiDHyOptions).GetProperty(o.Property)!;
        if (!IsObsolete(p)) return p.Name;
        var message = ((ObsoleteAttribute)p.GetCustomAttributes(typeof(ObsoleteAttribute), false)[0]).Message!;
        return message["Use ".Length..message.IndexOf(';')];
    }

    [Fact]
    public void There_is_one_property_per_option_and_no_other()
    {
        var properties = typeof(TiDHyOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Where(p => !IsObsolete(p)).Select(p => p.Name).ToArray();
        Assert.Equal(Table.Select(CSharpName), properties);
    }

    [Fact]
    public void Every_property_has_its_options_default()
    {
        var options = new TiDHyOptions(7);
        var defaults = TiDHy.Functional.ConfigModule.defaults(7);
        foreach (var o in Table)
        {
            var value = typeof(TiDHyOptions).GetProperty(CSharpName(o))!.GetValue(options)!;
            var expected = TiDHy.Functional.ConfigOptions.get(o, defaults);
            if (o.Kind is TiDHy.Functional.OptionKind.Enum e)
            {
                Assert.Equal(e.Item.TagOf.Invoke(expected), Convert.ToInt32(value));
            }
            else
            {
                Assert.Equal(expected, value);
            }
        }

        Assert.Equal(TiDHy.Functional.ConfigJson.toJson(defaults), options.ToJson());
    }

    [Fact]
    public void Every_enum_has_the_unions_cases_in_order()
    {
        foreach (var o in Table)
        {
            if (o.Kind is TiDHy.Functional.OptionKind.Enum e)
            {
                // Each case's F# name is a member (current or an obsolete alias) whose value is the case's tag,
                // and the current members are one per case.
                var type = typeof(TiDHyOptions).GetProperty(CSharpName(o))!.PropertyType;
                Assert.True(type.IsEnum, o.Property);
                Assert.Equal(e.Item.Union.Name, type.Name);
                var names = e.Item.Names.ToArray();
                for (int tag = 0; tag < names.Length; tag++)
                {
                    Assert.Equal(tag, Convert.ToInt32(Enum.Parse(type, names[tag])));
                }

                var current = type.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static).Where(f => !IsObsolete(f));
                Assert.Equal(Enumerable.Range(0, names.Length), current.Select(f => Convert.ToInt32(f.GetValue(null))).Order());
            }
        }
    }

    [Fact]
    public void Every_invalid_number_is_named_by_its_property_and_key()
    {
        foreach (var o in Table)
        {
            var options = new TiDHyOptions(7);
            var property = typeof(TiDHyOptions).GetProperty(CSharpName(o))!;
            if (property.PropertyType == typeof(double))
            {
                property.SetValue(options, double.NaN);
            }
            else if (property.PropertyType == typeof(int))
            {
                property.SetValue(options, -1);
            }
            else
            {
                continue;
            }

            var e = Assert.Throws<ArgumentException>(options.Validate);
            Assert.Contains($"{CSharpName(o)} ({o.Key}) = ", e.Message);
        }
    }
}
