using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TiDHy.Generators;
using TiDHy.Kernels;
using Xunit;

namespace TiDHy.Generators.Tests;

/// <summary>
/// The kernel generator: its output for representative declarations against checked-in baselines
/// (set <c>TIDHY_UPDATE_BASELINES=1</c> to rewrite them), the compilability of that output, the
/// incremental cache, and the diagnostics of invalid declarations.
/// </summary>
public sealed class GeneratorTests
{
    /// <summary>Representative declarations: every option at run time, and every option and size fixed.</summary>
    public static readonly (string Name, string Source)[] Declarations =
    [
        ("Runtime", """
            using TiDHy.Kernels;
            namespace Sample;
            [TiDHyKernel]
            public static partial class RuntimeKernel { }
            """),
        ("Fixed", """
            using TiDHy.Kernels;
            namespace Sample;
            [TiDHyKernel(Loss = KernelLoss.Bce, Decoder = KernelDecoder.Nonlinear, LowRank = KernelSwitch.On, DynBias = KernelSwitch.On,
                R2Decoder = KernelSwitch.On, Scaling = KernelScaling.PerSample, Convergence = KernelConvergence.PerSample,
                D = 6, R = 4, R2 = 3, M = 5, H = 8, H2 = 7)]
            public static partial class FixedKernel { }
            """),
    ];

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return tpa.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(TiDHyKernelAttribute).Assembly.Location))
            .ToImmutableArray();
    });

    private static CSharpCompilation Compile(params string[] sources) => Compile(allowUnsafe: true, sources);

    private static CSharpCompilation Compile(bool allowUnsafe, params string[] sources) =>
        CSharpCompilation.Create(
            "GeneratorTestAssembly",
            sources.Select(s => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest))),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: allowUnsafe, nullableContextOptions: NullableContextOptions.Enable));

    private static GeneratorDriver Driver() =>
        CSharpGeneratorDriver.Create(
            [new KernelGenerator().AsSourceGenerator()],
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    private static string BaselineDir([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "Baselines");

    public static IEnumerable<object[]> DeclarationNames() => Declarations.Select(d => new object[] { d.Name });

    [Theory]
    [MemberData(nameof(DeclarationNames))]
    public void Generated_kernel_matches_its_baseline_and_compiles(string name)
    {
        var source = Declarations.Single(d => d.Name == name).Source;
        var compilation = Compile(source);
        var driver = Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        Assert.Empty(diagnostics);

        var generated = driver.GetRunResult().GeneratedTrees.OrderBy(t => t.FilePath, StringComparer.Ordinal).ToArray();
        Assert.Equal(2, generated.Length);
        bool update = Environment.GetEnvironmentVariable("TIDHY_UPDATE_BASELINES") == "1";
        foreach (var tree in generated)
        {
            var file = Path.Combine(BaselineDir(), name + "." + Path.GetFileName(tree.FilePath) + ".txt");
            var text = tree.GetText().ToString().Replace("\r\n", "\n");
            if (update) File.WriteAllText(file, text);
            Assert.True(File.Exists(file), $"Baseline {file} is missing; run with TIDHY_UPDATE_BASELINES=1 to create it.");
            Assert.Equal(File.ReadAllText(file).Replace("\r\n", "\n"), text);
        }

        var errors = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToArray();
        Assert.True(errors.Length == 0, string.Join("\n", errors.Take(10).Select(e => e.ToString())));
    }

    [Fact]
    public void A_second_run_with_an_unrelated_edit_reports_every_step_cached_or_unchanged()
    {
        var compilation = Compile(Declarations.Select(d => d.Source).ToArray());
        var driver = Driver().RunGenerators(compilation);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; internal static class Unrelated { }", new CSharpParseOptions(LanguageVersion.Latest)));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        // Valid declarations report no diagnostics, so the Diagnostics step has no outputs to track.
        string[] names = [KernelGenerator.Steps.Parse, KernelGenerator.Steps.Specs, KernelGenerator.Steps.Registrations];
        Assert.DoesNotContain(KernelGenerator.Steps.Diagnostics, result.TrackedSteps.Keys.Where(k => result.TrackedSteps[k].Any(r => r.Outputs.Length > 0)));
        foreach (var step in names)
        {
            Assert.True(result.TrackedSteps.TryGetValue(step, out var runs), $"step {step} was not tracked");
            Assert.NotEmpty(runs);
            foreach (var run in runs)
                foreach (var (_, reason) in run.Outputs)
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {step}: {reason}");
        }

        foreach (var (_, reason) in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs))
            Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {reason}");
    }

    [Theory]
    [InlineData("public partial class K { }", "TIDHY001")]
    [InlineData("public static class K { }", "TIDHY001")]
    [InlineData("public static partial class Outer { [TiDHyKernel] public static partial class K { } }", "TIDHY002")]
    [InlineData("[TiDHyKernel(D = -3)] public static partial class K { }", "TIDHY003")]
    [InlineData("[TiDHyKernel(Loss = (KernelLoss)9)] public static partial class K { }", "TIDHY004")]
    [InlineData("[TiDHyKernel(R2Decoder = KernelSwitch.Off, H2 = 7)] public static partial class K { }", "TIDHY005")]
    public void An_invalid_declaration_reports_its_diagnostic_and_generates_nothing(string declaration, string id)
    {
        string source = "using TiDHy.Kernels;\nnamespace Sample;\n" + (declaration.StartsWith('[') || declaration.Contains("Outer") ? declaration : "[TiDHyKernel] " + declaration);
        var driver = Driver().RunGenerators(Compile(source));
        var result = driver.GetRunResult();
        Assert.Contains(result.Diagnostics, d => d.Id == id && d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(result.GeneratedTrees);
    }

    [Theory]
    [MemberData(nameof(DeclarationNames))]
    public void Without_unsafe_code_a_declaration_reports_TIDHY006_at_its_attribute_and_the_compilation_no_CS0227(string name)
    {
        var source = Declarations.Single(d => d.Name == name).Source;
        var driver = Driver().RunGeneratorsAndUpdateCompilation(Compile(allowUnsafe: false, source), out var output, out var diagnostics);

        var d = Assert.Single(diagnostics);
        Assert.Equal("TIDHY006", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains("<AllowUnsafeBlocks>true</AllowUnsafeBlocks>", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        // At the attribute: the line of "[TiDHyKernel", on the column where its name starts.
        var lines = source.Replace("\r\n", "\n").Split('\n');
        int line = Array.FindIndex(lines, l => l.StartsWith("[TiDHyKernel", StringComparison.Ordinal));
        Assert.Equal(line, d.Location.GetLineSpan().StartLinePosition.Line);
        Assert.Equal(1, d.Location.GetLineSpan().StartLinePosition.Character);

        Assert.Empty(driver.GetRunResult().GeneratedTrees);
        // The user's own code compiles: no error but the generator's (no CS0227 from generated pointers).
        var compiled = output.GetDiagnostics().Where(e => e.Severity >= DiagnosticSeverity.Warning).ToArray();
        Assert.True(compiled.Length == 0, string.Join("\n", compiled.Take(10).Select(e => e.ToString())));
    }

    [Fact]
    public void With_unsafe_code_no_declaration_reports_TIDHY006_and_every_kernel_is_generated()
    {
        var driver = Driver().RunGeneratorsAndUpdateCompilation(Compile(allowUnsafe: true, Declarations.Select(d => d.Source).ToArray()), out var output, out var diagnostics);
        Assert.DoesNotContain(diagnostics, d => d.Id == "TIDHY006");
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Id is "TIDHY006" or "CS0227");
        // One file per kernel and the registration.
        Assert.Equal(Declarations.Length + 1, driver.GetRunResult().GeneratedTrees.Length);
    }

    [Fact]
    public void Without_unsafe_code_an_invalid_declaration_reports_both_its_diagnostic_and_TIDHY006()
    {
        const string source = "using TiDHy.Kernels;\nnamespace Sample;\n[TiDHyKernel(D = -3)] public static partial class K { }";
        var result = Driver().RunGenerators(Compile(allowUnsafe: false, source)).GetRunResult();
        Assert.Equal(["TIDHY003", "TIDHY006"], result.Diagnostics.Select(d => d.Id).OrderBy(x => x, StringComparer.Ordinal));
        Assert.Empty(result.GeneratedTrees);
    }

    [Fact]
    public void The_library_registers_its_declared_variants()
    {
        var names = KernelRegistry.All.Select(k => k.Variant.Name).ToArray();
        Assert.Contains("TiDHy.Kernels.GeneralKernel", names);
        Assert.Contains("TiDHy.Kernels.MseLinearKernel", names);
        Assert.Contains("TiDHy.Kernels.SldsKernel", names);
        Assert.Equal(20, SldsKernel.Variant.Sizes.D);
    }
}
