using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace TiDHy.Generators;

/// <summary>
/// Emits a fused inference kernel and its training backward pass for every <c>[TiDHyKernel]</c> static partial class, and one module
/// initializer per assembly that registers them. Pipeline: find targets → parse into equatable specs →
/// emit text; each step carries a tracking name for the incremental-caching tests.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class KernelGenerator : IIncrementalGenerator
{
    /// <summary>The attribute's metadata name.</summary>
    public const string AttributeName = "TiDHy.Kernels.TiDHyKernelAttribute";

    /// <summary>Tracking names of the pipeline steps.</summary>
    public static class Steps
    {
        /// <summary>Declarations parsed into specs and diagnostics.</summary>
        public const string Parse = "Parse";
        /// <summary>Diagnostics of invalid declarations.</summary>
        public const string Diagnostics = "Diagnostics";
        /// <summary>Valid specs.</summary>
        public const string Specs = "Specs";
        /// <summary>The names of every kernel of the compilation, for the registration file.</summary>
        public const string Registrations = "Registrations";
    }

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(AttributeName, static (node, _) => node is ClassDeclarationSyntax, KernelParser.Parse)
            .WithTrackingName(Steps.Parse);

        var diagnostics = parsed.SelectMany(static (p, _) => p.Diagnostics.Items).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, d) => spc.ReportDiagnostic(d.ToDiagnostic()));

        var specs = parsed.Where(static p => p.Spec is not null).Select(static (p, _) => p.Spec!).WithTrackingName(Steps.Specs);
        context.RegisterSourceOutput(specs, static (spc, spec) => spc.AddSource(spec.FullName + ".TiDHyKernel.g.cs", KernelEmitter.Emit(spec)));

        var names = specs.Select(static (s, _) => s.FullName).Collect()
            .Select(static (a, _) => new EquatableArray<string>(a.OrderBy(x => x, System.StringComparer.Ordinal).ToImmutableArray()))
            .WithTrackingName(Steps.Registrations);
        context.RegisterSourceOutput(names, static (spc, n) =>
        {
            if (n.Count > 0) spc.AddSource("TiDHyKernels.Registration.g.cs", KernelEmitter.EmitRegistration(n));
        });
    }
}
