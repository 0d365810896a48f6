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
