using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using TiDHy.CSharp;

// These tests use the obsolete names on purpose: they must keep working for one version.
#pragma warning disable CS0618

namespace TiDHy.CSharp.Tests;

/// <summary>The options' C# names follow the .NET naming guidelines; the former names still work, obsolete.</summary>
public partial class TiDHyOptionsNamingTests
{
    /// <summary>
    /// Every word an option's C# name may use: English words, the model's symbols (<c>R</c>, <c>R2</c>,
    /// <c>W</c> for the latents and mixture weights, <c>L1</c> for the norm), Greek letters spelled out,
    /// and the method names <c>GradNorm</c> and <c>Safe</c> (SAFE, Pascal-cased as the guidelines ask).
    /// A new option whose name needs another word adds it here, deliberately.
    /// </summary>
    private static readonly HashSet<string> Vocabulary =
    [
        "R", "R2", "W", "L1", "GradNorm",
        "Active", "Alpha", "Backend", "Batch", "Bias", "Clip", "Convergence", "Cosine", "Decay", "Decoder",
        "Dimension", "Dynamic", "Epochs", "Eta", "Gradient", "Hidden", "Hypernetwork", "Inference", "Input",
        "Iterations", "Lambda", "Learning", "Length", "Loss", "Low", "Max", "Min", "Mixture", "Nonlinear", "Norm",
        "Normalize", "Nuclear", "Orthogonality", "Overlap", "Precision", "Rank", "Rate", "Ratio", "Safe",
        "Saturate", "Scale", "Scaling", "Schedule", "Sequence", "Sparsity", "Spatial", "Stateful", "Steps", "Task", "Temporal",
        "Tolerance", "Training", "Transition", "Use", "Weight", "Weights",
    ];

    /// <summary>The words of a PascalCase name (a capital, then lower-case letters, then digits), or null if it is not one.</summary>
    private static string[]? Words(string name)
    {
        var words = WordPattern().Matches(name.Replace("GradNorm", "\u0001")).Select(m => m.Value.Replace("\u0001", "GradNorm")).ToArray();
        return string.Concat(words) == name ? words : null;
    }

    [GeneratedRegex("\u0001|[A-Z][a-z]*[0-9]*")]
    private static partial Regex WordPattern();

    /// <summary>Why a name breaks the rule, or null when it keeps it.</summary>
    private static string? Violation(string name) =>
        Words(name) is not { } words ? $"{name} is not PascalCase"
        : words.FirstOrDefault(w => !Vocabulary.Contains(w)) is { } w ? $"{name}: \"{w}\" is no whole word or known symbol"
        : null;

    private static bool IsObsolete(MemberInfo m) => m.GetCustomAttribute<ObsoleteAttribute>() is not null;

    private static PropertyInfo[] Current => typeof(TiDHyOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Where(p => !IsObsolete(p)).ToArray();

    private static PropertyInfo[] Former => typeof(TiDHyOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Where(IsObsolete).ToArray();

    [Fact]
    public void Every_option_has_a_name_of_whole_words()
    {
        Assert.Equal(TiDHy.Functional.ConfigOptions.all.Length, Current.Length);
        Assert.Empty(Current.Select(p => Violation(p.Name)).OfType<string>());
    }

    [Fact]
    public void The_rule_rejects_every_former_name()
    {
        // The rule can fail: each abbreviated name it replaced breaks it.
        Assert.NotEmpty(Former);
        Assert.All(Former, p => Assert.NotNull(Violation(p.Name)));
        Assert.NotNull(Violation("lrR"));
        Assert.NotNull(Violation("Learning_Rate"));
    }

    /// <summary>Former name, new name, upstream key: written out by hand from the F# record and the upstream keys.</summary>
    public static TheoryData<string, string, string> Renames => new()
    {
        { "InputDim", "InputDimension", "input_dim" },
        { "RDim", "RDimension", "r_dim" },
        { "R2Dim", "R2Dimension", "r2_dim" },
        { "MixDim", "MixtureDimension", "mix_dim" },
        { "HyperHidDim", "HypernetworkHiddenDimension", "hyper_hid_dim" },
        { "R2DecoderHidDim", "R2DecoderHiddenDimension", "r2_decoder_hid_dim" },
        { "NonlinDecoder", "NonlinearDecoder", "nonlin_decoder" },
        { "LowRankTemp", "LowRankTemporal", "low_rank_temp" },
        { "DynBias", "DynamicBias", "dyn_bias" },
        { "MaxIter", "MaxIterations", "max_iter" },
        { "Tol", "Tolerance", "tol" },
        { "LrR", "LearningRateR", "lr_r" },
        { "LrR2", "LearningRateR2", "lr_r2" },
        { "TempWeight", "TemporalWeight", "temp_weight" },
        { "LmdaR", "LambdaR", "lmda_r" },
        { "LmdaR2", "LambdaR2", "lmda_r2" },
        { "L1InfW", "L1InferenceW", "L1_inf_w" },
        { "L1InfR", "L1InferenceR", "L1_inf_r" },
        { "L1InfR2", "L1InferenceR2", "L1_inf_r2" },
        { "LearningRateS", "LearningRateSpatial", "learning_rate_s" },
        { "LearningRateT", "LearningRateTemporal", "learning_rate_t" },
        { "LearningRateH", "LearningRateHypernetwork", "learning_rate_h" },
        { "ClipGrad", "GradientClipNorm", "clip_grad" },
        { "CosEta", "CosineEta", "cos_eta" },
        { "OrthAlphaR2", "OrthogonalityAlphaR2", "Orth_alpha_r2" },
        { "GradAlpha", "GradNormAlpha", "grad_alpha" },
        { "LrWeights", "LearningRateTaskWeights", "lr_weights" },
        { "L1AlphaSpat", "L1AlphaSpatial", "L1_alpha_spat" },
        { "OrthAlphaSpat", "OrthogonalityAlphaSpatial", "Orth_alpha_spat" },
        { "LnucAlpha", "NuclearNormAlpha", "Lnuc_alpha" },
        { "NumEpochs", "Epochs", "num_epochs" },
    };

    [Fact]
    public void Every_former_name_is_in_the_table_and_says_what_replaces_it()
    {
        var table = Renames.Select(r => ((string)r[0], (string)r[1])).ToArray();
        Assert.Equal(table.Select(r => r.Item1).Order(), Former.Select(p => p.Name).Order());
        foreach (var (old, name) in table)
        {
            var p = typeof(TiDHyOptions).GetProperty(old)!;
            Assert.Equal($"Use {name}; removed in the next version.", p.GetCustomAttribute<ObsoleteAttribute>()!.Message);
            Assert.Equal(EditorBrowsableState.Never, p.GetCustomAttribute<EditorBrowsableAttribute>()!.State);
        }
    }

    /// <summary>A valid value different from the default (every renamed option accepts these).</summary>
    private static object Other(object value) => value switch
    {
        int i => i + 1,
        double d => d == 0.375 ? 0.625 : 0.375,
        bool b => !b,
        _ => throw new InvalidOperationException(value.GetType().Name),
    };

    private static JsonElement Json(TiDHyOptions o) => JsonDocument.Parse(o.ToJson()).RootElement;

    private static object ValueOf(JsonElement e, Type type) =>
        type == typeof(int) ? e.GetInt32() : type == typeof(double) ? e.GetDouble() : e.GetBoolean();

    [Theory]
    [MemberData(nameof(Renames))]
    public void The_former_name_sets_the_same_option_as_the_new_one(string old, string name, string key)
    {
        var former = typeof(TiDHyOptions).GetProperty(old)!;
        var current = typeof(TiDHyOptions).GetProperty(name)!;
        Assert.Equal(former.PropertyType, current.PropertyType);

        // Written through the former name: the new name reads it, and JSON holds it under the upstream key.
        var o = new TiDHyOptions(4);
        var value = Other(current.GetValue(o)!);
        former.SetValue(o, value);
        Assert.Equal(value, current.GetValue(o));
        Assert.Equal(value, ValueOf(Json(o).GetProperty(key), current.PropertyType));
        var back = TiDHyOptions.FromJson(o.ToJson());
        Assert.Equal(value, current.GetValue(back));
        Assert.Equal(value, former.GetValue(back));

        // Written through the new name: the former name reads it.
        var p = new TiDHyOptions(4);
        var other = Other(value);
        current.SetValue(p, other);
        Assert.Equal(other, former.GetValue(p));
        Assert.Equal(other, ValueOf(Json(p).GetProperty(key), current.PropertyType));
    }

    [Fact]
    public void Old_code_still_compiles_and_sets_the_options()
    {
        var o = new TiDHyOptions(3) { LrR = 0.3, LmdaR = 0.01, NumEpochs = 7, Loss = LossKind.BCE };
        var json = Json(o);
        Assert.Equal(0.3, json.GetProperty("lr_r").GetDouble());
        Assert.Equal(0.01, json.GetProperty("lmda_r").GetDouble());
        Assert.Equal(7, json.GetProperty("num_epochs").GetInt32());
        Assert.Equal("BCE", json.GetProperty("loss_type").GetString());
        Assert.Equal(0.3, o.LearningRateR);
        Assert.Equal(7, o.Epochs);
        Assert.Equal(LossKind.Bce, o.Loss);
    }

    [Fact]
    public void Enum_members_are_Pascal_cased_and_the_former_capitals_are_obsolete_aliases()
    {
        var enums = Current.Select(p => p.PropertyType).Where(t => t.IsEnum).Distinct().ToArray();
        Assert.Contains(typeof(LossKind), enums);
        foreach (var t in enums)
        {
            foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => !IsObsolete(f)))
                Assert.False(Regex.IsMatch(f.Name, "[A-Z]{2}"), $"{t.Name}.{f.Name} has an acronym in capitals");
        }

        Assert.Equal((int)LossKind.Mse, (int)LossKind.MSE);
        Assert.Equal((int)LossKind.Bce, (int)LossKind.BCE);
        Assert.NotEqual((int)LossKind.Mse, (int)LossKind.Bce);
        Assert.True(IsObsolete(typeof(LossKind).GetField("MSE")!));
        Assert.True(IsObsolete(typeof(LossKind).GetField("BCE")!));
        Assert.False(IsObsolete(typeof(LossKind).GetField("Poisson")!));
    }

    [Theory]
    [InlineData(LossKind.Mse, "MSE")]
    [InlineData(LossKind.Bce, "BCE")]
    [InlineData(LossKind.Poisson, "Poisson")]
    public void Each_loss_is_written_with_its_upstream_name_and_read_back(LossKind loss, string upstream)
    {
        var o = new TiDHyOptions(3) { Loss = loss };
        Assert.Equal(upstream, Json(o).GetProperty("loss_type").GetString());
        Assert.Equal(loss, TiDHyOptions.FromJson(o.ToJson()).Loss);
        Assert.Equal(loss, TiDHyOptions.FromJson($$"""{ "input_dim": 3, "loss_type": "{{upstream}}" }""").Loss);
    }

    [Fact]
    public void An_undefined_enum_value_is_an_error_naming_the_option()
    {
        var o = new TiDHyOptions(3) { Loss = (LossKind)7 };
        var e = Assert.Throws<ArgumentException>(o.Validate);
        Assert.Contains("loss_type", e.Message);
    }
}
