using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace TiDHy.Generators;

/// <summary>Turns an attributed class into a <see cref="KernelSpec"/> and its diagnostics.</summary>
internal static class KernelParser
{
    private static readonly (string Name, int Max)[] Options =
    [
        ("Loss", 3), ("Decoder", 2), ("LowRank", 2), ("DynBias", 2), ("R2Decoder", 2), ("Scaling", 2), ("Convergence", 3),
    ];

    private static readonly string[] Sizes = ["D", "R", "R2", "M", "H", "H2"];

    public static ParseResult Parse(GeneratorAttributeSyntaxContext ctx, CancellationToken ct)
    {
        var node = (ClassDeclarationSyntax)ctx.TargetNode;
        var symbol = (INamedTypeSymbol)ctx.TargetSymbol;
        var location = LocationInfo.From(node.Identifier.GetLocation());
        var diags = ImmutableArray.CreateBuilder<DiagnosticInfo>();
        string name = symbol.Name;

        void Report(string id, params string[] args) =>
            diags.Add(new DiagnosticInfo(id, new EquatableArray<string>(args.ToImmutableArray()), location));

        bool isStatic = node.Modifiers.Any(SyntaxKind.StaticKeyword);
        bool isPartial = node.Modifiers.Any(SyntaxKind.PartialKeyword);
        if (!isStatic || !isPartial) Report(KernelDiagnostics.NotStaticPartial.Id, name);
        if (symbol.ContainingType is not null || symbol.TypeParameters.Length > 0) Report(KernelDiagnostics.NestedOrGeneric.Id, name);

        var values = new System.Collections.Generic.Dictionary<string, int>();
        var attribute = ctx.Attributes[0];
        foreach (var arg in attribute.NamedArguments)
        {
            ct.ThrowIfCancellationRequested();
            if (arg.Value.Value is int v) values[arg.Key] = v;
        }

        int Get(string key) => values.TryGetValue(key, out var v) ? v : 0;

        foreach (var (opt, max) in Options)
        {
            int v = Get(opt);
            if (v < 0 || v > max) Report(KernelDiagnostics.BadOption.Id, opt, v.ToString(System.Globalization.CultureInfo.InvariantCulture), name);
        }
        foreach (var size in Sizes)
        {
            int v = Get(size);
            if (v < 0) Report(KernelDiagnostics.BadSize.Id, size, v.ToString(System.Globalization.CultureInfo.InvariantCulture), name);
        }
        if (Get("R2Decoder") == 1 && Get("H2") > 0)
            Report(KernelDiagnostics.UnusedSize.Id, name, Get("H2").ToString(System.Globalization.CultureInfo.InvariantCulture));

        string? ns = symbol.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        KernelSpec? spec = diags.Count > 0
            ? null
            : new KernelSpec(ns, name, Get("Loss"), Get("Decoder"), Get("LowRank"), Get("DynBias"), Get("R2Decoder"),
                Get("Scaling"), Get("Convergence"), Get("D"), Get("R"), Get("R2"), Get("M"), Get("H"), Get("H2"));
        return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(diags.ToImmutable()));
    }
}
