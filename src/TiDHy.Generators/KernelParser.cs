using System;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using TiDHy.Kernels;

namespace TiDHy.Generators;

/// <summary>Turns an attributed class into a <see cref="KernelSpec"/> and its diagnostics.</summary>
internal static class KernelParser
{
    public static ParseResult Parse(GeneratorAttributeSyntaxContext ctx, CancellationToken ct)
    {
        var node = (ClassDeclarationSyntax)ctx.TargetNode;
        var symbol = (INamedTypeSymbol)ctx.TargetSymbol;
        var location = LocationInfo.From(node.Identifier.GetLocation());
        var diags = ImmutableArray.CreateBuilder<DiagnosticInfo>();
        string name = symbol.Name;

        void Report(string id, params string[] args) =>
            diags.Add(new DiagnosticInfo(id, new EquatableArray<string>(args.ToImmutableArray()), location));

        static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

        bool isStatic = node.Modifiers.Any(SyntaxKind.StaticKeyword);
        bool isPartial = node.Modifiers.Any(SyntaxKind.PartialKeyword);
        if (!isStatic || !isPartial) Report(KernelDiagnostics.NotStaticPartial.Id, name);
        if (symbol.ContainingType is not null || symbol.TypeParameters.Length > 0) Report(KernelDiagnostics.NestedOrGeneric.Id, name);

        // The attribute's named arguments fill the same two records as TiDHyKernelAttribute's setters.
        var options = default(KernelOptions);
        var sizes = default(KernelSizes);
        foreach (var arg in ctx.Attributes[0].NamedArguments)
        {
            ct.ThrowIfCancellationRequested();
            if (arg.Value.Value is not int v) continue;

            TEnum Option<TEnum>(TEnum value) where TEnum : struct, Enum
            {
                if (!Enum.IsDefined(typeof(TEnum), value)) Report(KernelDiagnostics.BadOption.Id, arg.Key, Str(v), name);
                return value;
            }

            int Size(int value)
            {
                if (value < 0) Report(KernelDiagnostics.BadSize.Id, arg.Key, Str(value), name);
                return value;
            }

            switch (arg.Key)
            {
                case nameof(KernelOptions.Loss): options = options with { Loss = Option((KernelLoss)v) }; break;
                case nameof(KernelOptions.Decoder): options = options with { Decoder = Option((KernelDecoder)v) }; break;
                case nameof(KernelOptions.LowRank): options = options with { LowRank = Option((KernelSwitch)v) }; break;
                case nameof(KernelOptions.DynBias): options = options with { DynBias = Option((KernelSwitch)v) }; break;
                case nameof(KernelOptions.R2Decoder): options = options with { R2Decoder = Option((KernelSwitch)v) }; break;
                case nameof(KernelOptions.Scaling): options = options with { Scaling = Option((KernelScaling)v) }; break;
                case nameof(KernelOptions.Convergence): options = options with { Convergence = Option((KernelConvergence)v) }; break;
                case nameof(KernelSizes.D): sizes = sizes with { D = Size(v) }; break;
                case nameof(KernelSizes.R): sizes = sizes with { R = Size(v) }; break;
                case nameof(KernelSizes.R2): sizes = sizes with { R2 = Size(v) }; break;
                case nameof(KernelSizes.M): sizes = sizes with { M = Size(v) }; break;
                case nameof(KernelSizes.H): sizes = sizes with { H = Size(v) }; break;
                case nameof(KernelSizes.H2): sizes = sizes with { H2 = Size(v) }; break;
            }
        }

        if (options.R2Decoder == KernelSwitch.Off && sizes.H2 > 0)
            Report(KernelDiagnostics.UnusedSize.Id, name, Str(sizes.H2));

        string? ns = symbol.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        KernelSpec? spec = diags.Count > 0 ? null : new KernelSpec(ns, name, options, sizes);
        // At the attribute ([TiDHyKernel]), or the class name when the attribute has no syntax here.
        var attribute = ctx.Attributes.Length > 0 ? ctx.Attributes[0].ApplicationSyntaxReference?.GetSyntax(ct).GetLocation() : null;
        var unsafeNotAllowed = new DiagnosticInfo(
            KernelDiagnostics.UnsafeNotAllowed.Id, new EquatableArray<string>(ImmutableArray.Create(name)), LocationInfo.From(attribute) ?? location);
        return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(diags.ToImmutable()), unsafeNotAllowed);
    }
}
