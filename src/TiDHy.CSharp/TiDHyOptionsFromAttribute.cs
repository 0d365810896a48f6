using System.Diagnostics;

namespace TiDHy.CSharp;

/// <summary>
/// Marks the partial class that TiDHy.Generators' <c>OptionsGenerator</c> completes from the
/// <c>[ConfigOption]</c> declarations of <paramref name="config"/> (the F# <c>Config</c> record).
/// Only the generator reads it: it is not kept in the compiled assembly.
/// </summary>
/// <param name="config">The F# record whose properties declare the options.</param>
[Conditional("TIDHY_GENERATOR_ONLY")]
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
internal sealed class TiDHyOptionsFromAttribute(Type config) : Attribute
{
    /// <summary>The F# record whose properties declare the options.</summary>
    public Type Config { get; } = config;
}

/// <summary>
/// On the class marked <see cref="TiDHyOptionsFromAttribute"/>: the option of the F# field
/// <paramref name="field"/> becomes the C# property <paramref name="name"/>, and the F# name remains an
/// obsolete, hidden property that forwards to it. Only the generator reads it.
/// </summary>
/// <param name="field">The F# <c>Config</c> field (use <c>nameof</c>).</param>
/// <param name="name">The C# property name.</param>
[Conditional("TIDHY_GENERATOR_ONLY")]
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
internal sealed class TiDHyOptionNameAttribute(string field, string name) : Attribute
{
    /// <summary>The F# field name.</summary>
    public string Field { get; } = field;

    /// <summary>The C# property name.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// On the class marked <see cref="TiDHyOptionsFromAttribute"/>: the case <paramref name="case"/> of the
/// F# union <paramref name="union"/> becomes the C# enum member <paramref name="name"/>, and the F# name
/// remains an obsolete, hidden member of the same value. Only the generator reads it.
/// </summary>
/// <param name="union">The F# union type.</param>
/// <param name="case">The F# case name.</param>
/// <param name="name">The C# enum member name.</param>
[Conditional("TIDHY_GENERATOR_ONLY")]
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
internal sealed class TiDHyCaseNameAttribute(Type union, string @case, string name) : Attribute
{
    /// <summary>The F# union type.</summary>
    public Type Union { get; } = union;

    /// <summary>The F# case name.</summary>
    public string Case { get; } = @case;

    /// <summary>The C# enum member name.</summary>
    public string Name { get; } = name;
}
