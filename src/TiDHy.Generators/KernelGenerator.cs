using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace TiDHy.Generators;

/// <summary>
/// Emits a fused inference kernel and its training backward pass for every <c>[TiDHyKernel]</c> static partial class, and one module
/// initializer per assembly that registers them. Pipeline: find targets → parse into equatable specs →
/// emit text; each step carries a tracking name for the incremental-caching tests. The generated kernels use
/// pointers: in a compilation without unsafe code (no <c>&lt;AllowUnsafeBlocks&gt;true&lt;/AllowUnsafeBlocks&gt;</c>)
/// every declaration reports TIDHY006 instead and nothing is generated, so that the user sees that one error and
/// not CS0227 inside generated files.
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
        /// <summary>Whether the compilation allows unsafe code.</summary>
        public const string AllowUnsafe = "AllowUnsafe";
    }

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(AttributeName, static (node, _) => node is ClassDeclarationSyntax, KernelParser.Parse)
            .WithTrackingName(Steps.Parse);

        var diagnostics = parsed.SelectMany(static (p, _) => p.Diagnostics.Items).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, d) => spc.ReportDiagnostic(d.ToDiagnostic()));

        // A bool, so that an edit elsewhere in the compilation leaves everything downstream cached.
        var allowUnsafe = context.CompilationProvider
            .Select(static (c, _) => c.Options is CSharpCompilationOptions { AllowUnsafe: true })
            .WithTrackingName(Steps.AllowUnsafe);
        context.RegisterSourceOutput(parsed.Select(static (p, _) => p.UnsafeNotAllowed).Combine(allowUnsafe), static (spc, pair) =>
        {
            if (!pair.Right) spc.ReportDiagnostic(pair.Left.ToDiagnostic());
        });

        var specs = parsed.Where(static p => p.Spec is not null).Select(static (p, _) => p.Spec!).WithTrackingName(Steps.Specs);
        context.RegisterSourceOutput(specs.Combine(allowUnsafe), static (spc, pair) =>
        {
            if (pair.Right) spc.AddSource(pair.Left.FullName + ".TiDHyKernel.g.cs", KernelEmitter.Emit(pair.Left));
        });

        var names = specs.Select(static (s, _) => s.FullName).Collect()
            .Select(static (a, _) => new EquatableArray<string>(a.OrderBy(x => x, System.StringComparer.Ordinal).ToImmutableArray()))
            .WithTrackingName(Steps.Registrations);
        context.RegisterSourceOutput(names.Combine(allowUnsafe), static (spc, pair) =>
        {
            if (pair.Right && pair.Left.Count > 0) spc.AddSource("TiDHyKernels.Registration.g.cs", KernelEmitter.EmitRegistration(pair.Left));
        });
    }
}
