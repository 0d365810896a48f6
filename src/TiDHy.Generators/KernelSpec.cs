using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using TiDHy.Kernels;

namespace TiDHy.Generators;

/// <summary>
/// A parsed kernel declaration: plain values only (no symbols, syntax or compilation), so that an
/// unchanged declaration compares equal across runs and its output is cached. The options and sizes
/// are TiDHy.Kernels' own types (linked into this assembly): <c>Any</c> and 0 are decided at run time.
/// </summary>
internal sealed record KernelSpec(string? Namespace, string ClassName, KernelOptions Options, KernelSizes Sizes)
{
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;
}

/// <summary>Where a diagnostic points, without holding a syntax tree.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>A diagnostic to report: its descriptor id, message arguments and location.</summary>
internal sealed record DiagnosticInfo(string Id, EquatableArray<string> Arguments, LocationInfo? Location)
{
    public Diagnostic ToDiagnostic()
    {
        var args = new object[Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments.Items[i];
        return Diagnostic.Create(KernelDiagnostics.ById(Id), Location?.ToLocation(), args);
    }
}

/// <summary>
/// The parse of one declaration: a spec when valid, and its diagnostics; <paramref name="UnsafeNotAllowed"/> is the
/// diagnostic to report, at the attribute, when the compilation does not allow unsafe code.
/// </summary>
internal sealed record ParseResult(KernelSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics, DiagnosticInfo UnsafeNotAllowed);
