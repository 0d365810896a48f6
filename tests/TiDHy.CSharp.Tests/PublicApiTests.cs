using System.Reflection;
using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

public class PublicApiTests
{
    private static readonly Assembly Facade = typeof(TiDHyModel).Assembly;

    private static readonly Assembly[] Forbidden =
    [
        typeof(Microsoft.FSharp.Core.Unit).Assembly,
        Facade.GetReferencedAssemblies().Where(a => a.Name == "TiDHy.Functional").Select(Assembly.Load).Single(),
    ];

    /// <summary>Every type that a public signature of <paramref name="t"/> mentions, with where.</summary>
    private static IEnumerable<(string Where, Type Type)> Mentions(Type t)
    {
        const BindingFlags visible = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        static bool Exposed(MethodBase? m) => m is not null && (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly);

        if (t.BaseType is { } b)
        {
            yield return ($"{t} base", b);
        }

        foreach (var i in t.GetInterfaces())
        {
            yield return ($"{t} interface", i);
        }

        foreach (var f in t.GetFields(visible).Where(f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly))
        {
            yield return ($"{t}.{f.Name}", f.FieldType);
        }

        foreach (var p in t.GetProperties(visible).Where(p => Exposed(p.GetMethod) || Exposed(p.SetMethod)))
        {
            yield return ($"{t}.{p.Name}", p.PropertyType);
        }

        foreach (var e in t.GetEvents(visible).Where(e => Exposed(e.AddMethod)))
        {
            yield return ($"{t}.{e.Name}", e.EventHandlerType!);
        }

        foreach (var m in t.GetMethods(visible).Cast<MethodBase>().Concat(t.GetConstructors(visible)).Where(Exposed))
        {
            if (m is MethodInfo mi)
            {
                yield return ($"{t}.{m.Name} return", mi.ReturnType);
            }

            foreach (var p in m.GetParameters())
            {
                yield return ($"{t}.{m.Name}({p.Name})", p.ParameterType);
            }
        }
    }

    /// <summary>A type with its element and generic argument types, recursively.</summary>
    private static IEnumerable<Type> Parts(Type t)
    {
        yield return t;
        if (t.HasElementType)
        {
            foreach (var p in Parts(t.GetElementType()!))
            {
                yield return p;
            }
        }

        if (t.IsGenericType)
        {
            foreach (var p in t.GetGenericArguments().SelectMany(Parts))
            {
                yield return p;
            }
        }
    }

    [Fact]
    public void No_public_signature_of_the_facade_exposes_an_FSharp_or_core_type()
    {
        var exported = Facade.GetExportedTypes();
        Assert.Contains(typeof(TiDHyModel), exported);
        var offending = exported
            .SelectMany(Mentions)
            .SelectMany(m => Parts(m.Type).Select(p => (m.Where, Part: p)))
            .Where(m => Forbidden.Contains(m.Part.Assembly) || m.Part.FullName?.StartsWith("Microsoft.FSharp", StringComparison.Ordinal) == true)
            .Select(m => $"{m.Where}: {m.Part}")
            .Distinct()
            .ToArray();
        Assert.True(offending.Length == 0, "F# types in public signatures:\n" + string.Join("\n", offending));
    }

    [Fact]
    public void The_reflection_check_would_catch_an_FSharp_type()
    {
        var mentions = Mentions(typeof(Holder)).SelectMany(m => Parts(m.Type)).ToArray();
        Assert.Contains(mentions, t => Forbidden.Contains(t.Assembly));
    }

    [Fact]
    public void Every_exported_type_lives_in_the_TiDHy_CSharp_namespace()
    {
        Assert.All(Facade.GetExportedTypes(), t => Assert.Equal("TiDHy.CSharp", t.Namespace));
    }

    /// <summary>A public type with an F# option in a signature, to show the check sees one.</summary>
    public sealed class Holder
    {
        /// <summary>Deliberately F#.</summary>
        public Microsoft.FSharp.Core.FSharpOption<int[]>? Value { get; set; }
    }
}
