using System;
using Microsoft.CodeAnalysis;

namespace TiDHy.Generators;

/// <summary>The generator's diagnostics, with stable ids.</summary>
internal static class KernelDiagnostics
{
    private const string Category = "TiDHy.Kernels";

    public static readonly DiagnosticDescriptor NotStaticPartial = new(
        "TIDHY001", "Kernel declaration must be a static partial class",
        "The kernel declaration '{0}' must be a 'static partial class'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NestedOrGeneric = new(
        "TIDHY002", "Kernel declaration must be a top-level, non-generic class",
        "The kernel declaration '{0}' must be a top-level, non-generic class",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor BadSize = new(
        "TIDHY003", "Kernel size must be 0 (run time) or positive",
        "The size {0} = {1} of kernel '{2}' must be 0 (given at run time) or positive",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor BadOption = new(
        "TIDHY004", "Unknown kernel option value",
        "The option {0} = {1} of kernel '{2}' is not a defined value",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnusedSize = new(
        "TIDHY005", "Kernel size fixed for a part the variant lacks",
        "Kernel '{0}' fixes H2 = {1} but its r2 decoder is Off",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnsafeNotAllowed = new(
        "TIDHY006", "Kernel declaration needs AllowUnsafeBlocks",
        "The kernel '{0}' is generated with pointers: add <AllowUnsafeBlocks>true</AllowUnsafeBlocks> to a PropertyGroup of the project file (no kernel is generated until then)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "TIDHY001" => NotStaticPartial,
        "TIDHY002" => NestedOrGeneric,
        "TIDHY003" => BadSize,
        "TIDHY004" => BadOption,
        "TIDHY005" => UnusedSize,
        "TIDHY006" => UnsafeNotAllowed,
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "unknown diagnostic id"),
    };
}
