using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TiDHy.Generators;
using Xunit;

namespace TiDHy.Generators.Tests;

/// <summary>
/// The options generator on a library shaped as the F# compiler emits the <c>Config</c> record and
/// its unions (properties with <c>[ConfigOption]</c>; a union with a nested <c>Tags</c> class and a
/// static property per case whose getter carries <c>[Doc]</c>), read from metadata as in the facade.
/// </summary>
public sealed class OptionsGeneratorTests
{
    private const string Library = """
        using System;
        namespace TiDHy.Functional
        {
            [AttributeUsage(AttributeTargets.Property)]
            public sealed class ConfigOptionAttribute(string key) : Attribute
            {
                public string Key => key;
                public string Default { get; set; } = "";
                public bool Required { get; set; }
                public double Min { get; set; } = double.NaN;
                public bool MinExclusive { get; set; }
                public double Max { get; set; } = double.NaN;
                public string MaxKey { get; set; } = "";
                public string Why { get; set; } = "";
                public string Doc { get; set; } = "";
            }

            public sealed class DocAttribute(string text) : Attribute
            {
                public string Text => text;
            }

            [Doc("A `loss` & more.")]
            public sealed class Loss
            {
                public static class Tags
                {
                    public const int Square = 0;
                    public const int Cross = 1;
                }

                public static Loss Square { [Doc("squared")] get => null!; }
                public static Loss Cross { [Doc("cross-entropy")] get => null!; }
            }

            public sealed class Config
            {
                [ConfigOption("width", Required = true, Min = 1, Doc = "the width `W`.")]
                public int Width { get; }
                [ConfigOption("rate", Default = "1e-5", Min = 0, MinExclusive = true, Doc = "a rate")]
                public double Rate { get; }
                [ConfigOption("on", Default = "true", Doc = "a switch.")]
                public bool On { get; }
                [ConfigOption("loss_type", Default = "Cross", Doc = "the loss.")]
                public Loss LossType { get; } = null!;
                [ConfigOption("step", Default = "2", Min = 1, MaxKey = "width", Doc = "a step.")]
                public int Step { get; }
                public int NotAnOption { get; }
            }
        }
        """;

    private const string Facade = """
        using System;
        using System.Collections.Generic;
        namespace TiDHy.CSharp;

        [AttributeUsage(AttributeTargets.Class)]
        internal sealed class TiDHyOptionsFromAttribute(Type config) : Attribute
        {
            public Type Config => config;
        }

        [TiDHyOptionsFrom(typeof(TiDHy.Functional.Config))]
        public sealed partial class Options
        {
            private sealed record Field(string Key, string Property);
            private static Field Int(string key, string property, Func<Options, int> get, Action<Options, int> set) => new(key, property);
            private static Field Real(string key, string property, Func<Options, double> get, Action<Options, double> set) => new(key, property);
            private static Field Bool(string key, string property, Func<Options, bool> get, Action<Options, bool> set) => new(key, property);
            private static Field Choice<T>(string key, string property, Func<Options, T> get, Action<Options, T> set) where T : struct, Enum => new(key, property);
            public static IEnumerable<string> Keys() { foreach (var f in Fields) yield return f.Key + "=" + f.Property; }
        }
        """;

    private static readonly Lazy<ImmutableArray<MetadataReference>> Platform = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray());

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    private static readonly Lazy<MetadataReference> LibraryImage = new(() =>
    {
        var library = CSharpCompilation.Create("FakeFunctional", [CSharpSyntaxTree.ParseText(Library, Parse)], Platform.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var stream = new MemoryStream();
        var emitted = library.Emit(stream);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return MetadataReference.CreateFromImage(stream.ToArray());
    });

    private static CSharpCompilation Compile(params string[] sources) =>
        CSharpCompilation.Create("OptionsTestAssembly", sources.Select(s => CSharpSyntaxTree.ParseText(s, Parse)),
            Platform.Value.Add(LibraryImage.Value),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    private static GeneratorDriver Driver() =>
        CSharpGeneratorDriver.Create([new OptionsGenerator().AsSourceGenerator()], parseOptions: Parse,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    [Fact]
    public void Emits_one_property_per_declared_option_the_key_table_and_the_enum()
    {
        Driver().RunGeneratorsAndUpdateCompilation(Compile(Facade), out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var text = output.SyntaxTrees.Last().ToString();

        Assert.Contains("public int Width { get; set; }\n", text.Replace("\r\n", "\n"));
        Assert.Contains("public double Rate { get; set; } = 1E-05;", text);
        Assert.Contains("public bool On { get; set; } = true;", text);
        Assert.Contains("public Loss LossType { get; set; } = Loss.Cross;", text);
        Assert.Contains("public int Step { get; set; } = 2;", text);
        Assert.DoesNotContain("NotAnOption", text);
        Assert.Contains("<summary><c>width</c>: the width <c>W</c>. Required. Valid: at least 1.</summary>", text);
        Assert.Contains("<summary><c>rate</c>: a rate. Default <c>1e-5</c>. Valid: finite, positive.</summary>", text);
        Assert.Contains("<summary><c>step</c>: a step. Default <c>2</c>. Valid: from 1 to <see cref=\"Width\"/>.</summary>", text);
        Assert.Contains("<summary>A <c>loss</c> &amp; more.</summary>", text);
        Assert.Contains("/// <summary>cross-entropy</summary>\n    Cross = 1,", text.Replace("\r\n", "\n"));
        Assert.Contains("Choice<Loss>(\"loss_type\", nameof(LossType)", text);

        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        var assembly = System.Reflection.Assembly.Load(stream.ToArray());
        var type = assembly.GetType("TiDHy.CSharp.Options")!;
        var keys = ((System.Collections.Generic.IEnumerable<string>)type.GetMethod("Keys")!.Invoke(null, null)!).ToArray();
        Assert.Equal(["width=Width", "rate=Rate", "on=On", "loss_type=LossType", "step=Step"], keys);
        Assert.Equal(["Square", "Cross"], Enum.GetNames(assembly.GetType("TiDHy.CSharp.Loss")!));
    }

    [Fact]
    public void A_compilation_without_the_marker_gets_nothing()
    {
        var driver = Driver().RunGenerators(Compile("namespace A; public sealed class B { }"));
        Assert.Empty(driver.GetRunResult().GeneratedTrees);
    }

    [Fact]
    public void Edits_that_leave_the_declarations_alone_are_cached()
    {
        var compilation = Compile(Facade);
        var driver = Driver().RunGenerators(compilation);

        var edited = compilation
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace TiDHy.CSharp; internal static class Other { }", Parse))
            .ReplaceSyntaxTree(compilation.SyntaxTrees.First(),
                CSharpSyntaxTree.ParseText(Facade.Replace("public static IEnumerable<string> Keys()", "// an edit\n    public static IEnumerable<string> Keys()"), Parse));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        var parse = result.TrackedSteps[OptionsGenerator.Steps.Parse].SelectMany(r => r.Outputs).ToArray();
        Assert.NotEmpty(parse);
        Assert.All(parse, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"parse: {o.Reason}"));
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {o.Reason}"));
    }

    [Fact]
    public void An_invalid_default_becomes_a_compile_error_naming_the_property()
    {
        var text = Library.Replace("Default = \"Cross\"", "Default = \"Hinge\"");
        var library = CSharpCompilation.Create("BadFunctional", [CSharpSyntaxTree.ParseText(text, Parse)], Platform.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var stream = new MemoryStream();
        Assert.True(library.Emit(stream).Success);
        var compilation = CSharpCompilation.Create("Bad", [CSharpSyntaxTree.ParseText(Facade, Parse)],
            Platform.Value.Add(MetadataReference.CreateFromImage(stream.ToArray())),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        Assert.Contains(output.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error && d.GetMessage().Contains("Config.LossType: default \"Hinge\""));
    }

    private const string RenameAttributes = """
        using System;
        namespace TiDHy.CSharp;

        [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
        internal sealed class TiDHyOptionNameAttribute(string field, string name) : Attribute { }

        [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
        internal sealed class TiDHyCaseNameAttribute(Type union, string @case, string name) : Attribute { }
        """;

    private static string Renamed(string attributes) =>
        Facade.Replace("[TiDHyOptionsFrom(typeof(TiDHy.Functional.Config))]", "[TiDHyOptionsFrom(typeof(TiDHy.Functional.Config))]\n" + attributes);

    [Fact]
    public void A_renamed_option_and_case_get_the_new_names_and_keep_the_former_as_obsolete_hidden_aliases()
    {
        var facade = Renamed("""
            [TiDHyOptionName("Width", "Breadth")]
            [TiDHyOptionName("LossType", "Loss")]
            [TiDHyCaseName(typeof(TiDHy.Functional.Loss), "Cross", "CrossEntropy")]
            """);
        Driver().RunGeneratorsAndUpdateCompilation(Compile(facade, RenameAttributes), out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var text = output.SyntaxTrees.Last().ToString().Replace("\r\n", "\n");

        Assert.Contains("public int Breadth { get; set; }\n", text);
        Assert.Contains("[global::System.Obsolete(\"Use Breadth; removed in the next version.\")]\n"
            + "    [global::System.ComponentModel.EditorBrowsable(global::System.ComponentModel.EditorBrowsableState.Never)]\n"
            + "    public int Width { get => Breadth; set => Breadth = value; }", text);
        Assert.Contains("public Loss Loss { get; set; } = Loss.CrossEntropy;", text);
        Assert.Contains("Valid: from 1 to <see cref=\"Breadth\"/>.", text);
        Assert.Contains("    CrossEntropy = 1,\n", text);
        Assert.Contains("[global::System.Obsolete(\"Use CrossEntropy; removed in the next version.\")]", text);
        Assert.Contains("    Cross = 1,\n", text);

        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        var assembly = System.Reflection.Assembly.Load(stream.ToArray());
        var type = assembly.GetType("TiDHy.CSharp.Options")!;
        var keys = ((System.Collections.Generic.IEnumerable<string>)type.GetMethod("Keys")!.Invoke(null, null)!).ToArray();
        Assert.Equal(["width=Breadth", "rate=Rate", "on=On", "loss_type=Loss", "step=Step"], keys);
        var options = Activator.CreateInstance(type)!;
        type.GetProperty("Width")!.SetValue(options, 9);
        Assert.Equal(9, type.GetProperty("Breadth")!.GetValue(options));
    }

    [Theory]
    [InlineData("[TiDHyOptionName(\"Height\", \"Tallness\")]", "has no option \"Height\"")]
    [InlineData("[TiDHyOptionName(\"Width\", \"Rate\")]", "the C# name \"Rate\" is used twice")]
    [InlineData("[TiDHyCaseName(typeof(TiDHy.Functional.Loss), \"Hinge\", \"Margin\")]", "no option holds a union Loss with a case \"Hinge\"")]
    public void A_rename_that_names_nothing_or_clashes_is_a_compile_error(string attribute, string message)
    {
        Driver().RunGeneratorsAndUpdateCompilation(Compile(Renamed(attribute), RenameAttributes), out var output, out _);
        Assert.Contains(output.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error && d.GetMessage().Contains(message));
    }
}
