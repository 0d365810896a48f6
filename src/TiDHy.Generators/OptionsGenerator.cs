using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace TiDHy.Generators;

/// <summary>
/// Emits the C# options class of the TiDHy facade from the F# <c>Config</c> record: for a partial class
/// marked <c>[TiDHyOptionsFrom(typeof(TiDHy.Functional.Config))]</c> it reads each record property's
/// <c>[ConfigOption]</c> declaration (key, default, range, doc) from the referenced assembly's metadata
/// and writes one property per option (documented with its upstream key, default and range), the
/// <c>Fields</c> table that maps keys to properties, and one C# enum per F# union of fieldless cases
/// that an option holds (members named and numbered as the union's cases, documented by their
/// <c>[Doc]</c> attributes).
/// </summary>
/// <remarks>
/// A C# name may differ from the F# one: <c>[TiDHyOptionName("LrR", "LearningRateR")]</c> on the marked
/// class names the property of the F# field <c>LrR</c>, and <c>[TiDHyCaseName(typeof(U), "MSE", "Mse")]</c>
/// the enum member of a union case. The F# name then remains as an obsolete, hidden alias (a forwarding
/// property, or an enum member of the same value) for one version.
/// The marked class supplies the field factories the table calls: <c>Int</c>, <c>Real</c>,
/// <c>Bool</c> (key, property name, getter, setter) and <c>Choice&lt;T&gt;</c> (the same for an enum).
/// Invalid declarations become <c>#error</c> lines in the output.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class OptionsGenerator : IIncrementalGenerator
{
    /// <summary>The marker attribute's metadata name (declared by the consuming project).</summary>
    public const string AttributeName = "TiDHy.CSharp.TiDHyOptionsFromAttribute";

    /// <summary>The simple name of the attribute that renames an option's property (F# field name, C# name).</summary>
    public const string OptionNameAttribute = "TiDHyOptionNameAttribute";

    /// <summary>The simple name of the attribute that renames an enum member (union type, F# case name, C# name).</summary>
    public const string CaseNameAttribute = "TiDHyCaseNameAttribute";

    /// <summary>Tracking names of the pipeline steps.</summary>
    public static class Steps
    {
        /// <summary>The marked class and the record's declarations, as an equatable model.</summary>
        public const string Parse = "OptionsParse";
    }

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider
            .ForAttributeWithMetadataName(AttributeName, static (node, _) => node is ClassDeclarationSyntax, static (ctx, _) => OptionsParser.Parse(ctx))
            .WithTrackingName(Steps.Parse);
        context.RegisterSourceOutput(models, static (spc, m) => spc.AddSource(m.ClassName + ".Options.g.cs", OptionsEmitter.Emit(m)));
    }
}

/// <summary>The marked class and everything read from the record: strings and equatable arrays only.</summary>
internal sealed record OptionsModel(
    string Namespace,
    string ClassName,
    EquatableArray<OptionModel> Options,
    EquatableArray<EnumModel> Enums,
    EquatableArray<string> Errors);

/// <summary>
/// One option. <c>Kind</c> is int, double, bool or enum; <c>TypeName</c> the C# type; <c>Obsolete</c>
/// the F# field name kept as an obsolete alias when the property is renamed, else null.
/// </summary>
internal sealed record OptionModel(
    string Key,
    string Property,
    string? Obsolete,
    string Kind,
    string TypeName,
    string? DefaultLiteral,
    string? DefaultText,
    string Doc,
    string Range);

/// <summary>A C# enum mirroring an F# union of fieldless cases.</summary>
internal sealed record EnumModel(string Name, string Doc, EquatableArray<CaseModel> Cases);

/// <summary>One case: its C# name, its tag, its doc, and its F# name when renamed (an obsolete alias), else null.</summary>
internal sealed record CaseModel(string Name, int Value, string Doc, string? Obsolete);

/// <summary>Reads the marked class and the F# record it names.</summary>
internal static class OptionsParser
{
    private const string OptionAttribute = "ConfigOptionAttribute";
    private const string DocAttribute = "DocAttribute";

    public static OptionsModel Parse(GeneratorAttributeSyntaxContext ctx)
    {
        var target = (INamedTypeSymbol)ctx.TargetSymbol;
        var ns = target.ContainingNamespace.IsGlobalNamespace ? "" : target.ContainingNamespace.ToDisplayString();
        var errors = new List<string>();
        var options = new List<OptionModel>();
        var enums = new List<EnumModel>();

        var attribute = ctx.Attributes[0];
        if (attribute.ConstructorArguments.Length != 1 || attribute.ConstructorArguments[0].Value is not INamedTypeSymbol record)
        {
            errors.Add("TiDHyOptionsFrom needs the F# record type: [TiDHyOptionsFrom(typeof(TiDHy.Functional.Config))]");
            return Model(ns, target.Name, options, enums, errors);
        }

        // Renames declared on the marked class: F# field -> C# property, and (union, case) -> C# member.
        var names = new Dictionary<string, string>();
        var caseNames = new Dictionary<(string Union, string Case), string>();
        foreach (var a in target.GetAttributes())
        {
            var args = a.ConstructorArguments;
            if (a.AttributeClass?.Name == OptionsGenerator.OptionNameAttribute)
            {
                if (args.Length == 2 && args[0].Value is string from && args[1].Value is string to && from.Length > 0 && to.Length > 0)
                {
                    if (names.ContainsKey(from)) errors.Add($"{OptionsGenerator.OptionNameAttribute}: \"{from}\" is renamed twice");
                    else names[from] = to;
                }
                else errors.Add($"{OptionsGenerator.OptionNameAttribute} needs the F# field name and the C# name");
            }
            else if (a.AttributeClass?.Name == OptionsGenerator.CaseNameAttribute)
            {
                if (args.Length == 3 && args[0].Value is INamedTypeSymbol union && args[1].Value is string from && args[2].Value is string to && from.Length > 0 && to.Length > 0)
                {
                    if (caseNames.ContainsKey((union.Name, from))) errors.Add($"{OptionsGenerator.CaseNameAttribute}: {union.Name}.{from} is renamed twice");
                    else caseNames[(union.Name, from)] = to;
                }
                else errors.Add($"{OptionsGenerator.CaseNameAttribute} needs the union type, the F# case name and the C# name");
            }
        }

        var properties = record.GetMembers().OfType<IPropertySymbol>()
            .Where(p => !p.IsStatic && p.DeclaredAccessibility == Accessibility.Public && p.GetAttributes().Any(a => a.AttributeClass?.Name == OptionAttribute))
            .ToList();
        if (properties.Count == 0)
        {
            errors.Add($"{record.ToDisplayString()} has no property with a [ConfigOption] declaration");
        }

        var keys = new Dictionary<string, string>();
        foreach (var p in properties)
        {
            var key = p.GetAttributes().First(a => a.AttributeClass?.Name == OptionAttribute).ConstructorArguments.FirstOrDefault().Value as string ?? "";
            if (keys.ContainsKey(key)) errors.Add($"{record.Name}.{p.Name}: the key \"{key}\" is declared twice");
            else keys[key] = names.TryGetValue(p.Name, out var renamed) ? renamed : p.Name;
        }

        foreach (var from in names.Keys.Where(n => !properties.Any(p => p.Name == n)))
            errors.Add($"{OptionsGenerator.OptionNameAttribute}: {record.Name} has no option \"{from}\"");
        var csharpNames = properties.Select(p => names.TryGetValue(p.Name, out var n) ? n : p.Name).ToList();
        foreach (var clash in csharpNames.Concat(names.Keys).GroupBy(n => n).Where(g => g.Count() > 1))
            errors.Add($"{record.Name}: the C# name \"{clash.Key}\" is used twice");
        var usedCaseNames = new HashSet<(string, string)>();

        foreach (var p in properties)
        {
            var decl = p.GetAttributes().First(a => a.AttributeClass?.Name == OptionAttribute);
            var key = decl.ConstructorArguments.Length == 1 ? decl.ConstructorArguments[0].Value as string ?? "" : "";
            string Named(string name) => decl.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value as string ?? "";
            double Number(string name) => decl.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is double d ? d : double.NaN;
            bool Flag(string name) => decl.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is true;

            var doc = Named("Doc");
            var defaultText = Named("Default");
            var required = Flag("Required");
            string kind, typeName;
            string? literal = null;
            switch (p.Type.SpecialType)
            {
                case SpecialType.System_Int32:
                    (kind, typeName) = ("int", "int");
                    if (int.TryParse(defaultText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
                        literal = i.ToString(CultureInfo.InvariantCulture);
                    break;
                case SpecialType.System_Double:
                    (kind, typeName) = ("double", "double");
                    if (double.TryParse(defaultText, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsNaN(d) && !double.IsInfinity(d))
                        literal = d.ToString("R", CultureInfo.InvariantCulture);
                    break;
                case SpecialType.System_Boolean:
                    (kind, typeName) = ("bool", "bool");
                    if (defaultText is "true" or "false") literal = defaultText;
                    break;
                default:
                    if (p.Type is not INamedTypeSymbol union || ReadEnum(union, caseNames, usedCaseNames) is not { } e)
                    {
                        errors.Add($"{record.Name}.{p.Name}: type {p.Type.ToDisplayString()} is neither int, float, bool nor a union of fieldless cases");
                        continue;
                    }

                    (kind, typeName) = ("enum", e.Name);
                    if (!enums.Any(x => x.Name == e.Name)) enums.Add(e);
                    if (e.Cases.FirstOrDefault(c => (c.Obsolete ?? c.Name) == defaultText) is { } dc) literal = e.Name + "." + dc.Name;
                    break;
            }

            if (key.Length == 0) errors.Add($"{record.Name}.{p.Name}: [ConfigOption] has no key");
            if (!required && literal is null) errors.Add($"{record.Name}.{p.Name}: default \"{defaultText}\" is not a {typeName} value");
            var property = names.TryGetValue(p.Name, out var csharp) ? csharp : p.Name;
            options.Add(new OptionModel(key, property, property == p.Name ? null : p.Name, kind, typeName, required ? null : literal, required ? null : defaultText, doc,
                Range(kind, Number("Min"), Flag("MinExclusive"), Number("Max"), Named("MaxKey"), keys)));
        }

        foreach (var (union, name) in caseNames.Keys.Where(k => !usedCaseNames.Contains(k)))
            errors.Add($"{OptionsGenerator.CaseNameAttribute}: no option holds a union {union} with a case \"{name}\"");

        return Model(ns, target.Name, options, enums, errors);
    }

    private static OptionsModel Model(string ns, string name, List<OptionModel> options, List<EnumModel> enums, List<string> errors) =>
        new(ns, name, new(options.ToImmutableArray()), new(enums.ToImmutableArray()), new(errors.ToImmutableArray()));

    /// <summary>The range in words, for the property's documentation.</summary>
    private static string Range(string kind, double min, bool minExclusive, double max, string maxKey, Dictionary<string, string> keys)
    {
        if (kind is not ("int" or "double")) return "";
        string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var parts = new List<string>();
        if (kind == "double") parts.Add("finite");
        if (maxKey.Length > 0)
        {
            var bound = keys.TryGetValue(maxKey, out var property) ? $"<see cref=\"{property}\"/>" : $"<c>{maxKey}</c>";
            parts.Add(double.IsNaN(min) ? $"at most {bound}" : $"from {N(min)} to {bound}");
        }
        else
        {
            if (!double.IsNaN(min))
                parts.Add((min, minExclusive) switch
                {
                    (0.0, false) => "not negative",
                    (0.0, true) => "positive",
                    (_, false) => $"at least {N(min)}",
                    _ => $"greater than {N(min)}",
                });
            if (!double.IsNaN(max)) parts.Add($"at most {N(max)}");
        }

        return string.Join(", ", parts);
    }

    /// <summary>An F# union of fieldless cases: its nested <c>Tags</c> class holds one constant per case.</summary>
    private static EnumModel? ReadEnum(INamedTypeSymbol union, Dictionary<(string Union, string Case), string> caseNames, HashSet<(string, string)> used)
    {
        var tags = union.GetTypeMembers("Tags").FirstOrDefault();
        if (tags is null) return null;
        var fields = tags.GetMembers().OfType<IFieldSymbol>().Where(f => f.IsConst && f.ConstantValue is int).ToList();
        if (fields.Count == 0) return null;

        // A case with fields is a method (NewX) or a nested class; a fieldless one a static property.
        var cases = new List<CaseModel>();
        foreach (var f in fields.OrderBy(f => (int)f.ConstantValue!))
        {
            var property = union.GetMembers(f.Name).OfType<IPropertySymbol>().FirstOrDefault(x => x.IsStatic);
            if (property is null) return null;
            var doc = Doc(property.GetAttributes()) ?? (property.GetMethod is { } g ? Doc(g.GetAttributes()) : null) ?? "";
            if (caseNames.TryGetValue((union.Name, f.Name), out var renamed))
            {
                used.Add((union.Name, f.Name));
                cases.Add(new CaseModel(renamed, (int)f.ConstantValue!, doc, f.Name));
            }
            else cases.Add(new CaseModel(f.Name, (int)f.ConstantValue!, doc, null));
        }

        return new EnumModel(union.Name, Doc(union.GetAttributes()) ?? "", new(cases.ToImmutableArray()));
    }

    private static string? Doc(ImmutableArray<AttributeData> attributes) =>
        attributes.FirstOrDefault(a => a.AttributeClass?.Name == DocAttribute) is { ConstructorArguments.Length: 1 } a
            ? a.ConstructorArguments[0].Value as string
            : null;
}

/// <summary>Writes the options class part and the enums.</summary>
internal static class OptionsEmitter
{
    public static string Emit(OptionsModel m)
    {
        var sb = new StringBuilder();
        sb.AppendLine("// <auto-generated/> by TiDHy.Generators.OptionsGenerator from the [ConfigOption] declarations of the F# Config record.");
        sb.AppendLine("#nullable enable");
        foreach (var error in m.Errors) sb.Append("#error ").AppendLine(error.Replace('\n', ' '));
        if (m.Namespace.Length > 0) sb.Append("namespace ").Append(m.Namespace).AppendLine(";").AppendLine();

        sb.Append("partial class ").AppendLine(m.ClassName).AppendLine("{");
        foreach (var o in m.Options)
        {
            var summary = new StringBuilder().Append("<c>").Append(Xml(o.Key)).Append("</c>: ").Append(Doc(o.Doc));
            if (!summary.ToString().EndsWith(".", StringComparison.Ordinal)) summary.Append('.');
            summary.Append(o.DefaultText is null
                ? " Required."
                : o.Kind == "enum" ? $" Default <see cref=\"{o.DefaultLiteral}\"/>." : $" Default <c>{Xml(o.DefaultText)}</c>.");
            if (o.Range.Length > 0) summary.Append(" Valid: ").Append(o.Range).Append('.');
            sb.Append("    /// <summary>").Append(summary).AppendLine("</summary>");
            sb.Append("    public ").Append(o.TypeName).Append(' ').Append(o.Property).Append(" { get; set; }");
            if (o.DefaultLiteral is not null) sb.Append(" = ").Append(o.DefaultLiteral).Append(';');
            sb.AppendLine().AppendLine();
            if (o.Obsolete is not null)
            {
                sb.Append("    /// <summary>The former name of <see cref=\"").Append(o.Property).AppendLine("\"/> (upstream <c>" + Xml(o.Key) + "</c>).</summary>");
                Obsolete(sb, o.Property);
                sb.Append("    public ").Append(o.TypeName).Append(' ').Append(o.Obsolete).Append(" { get => ").Append(o.Property)
                    .Append("; set => ").Append(o.Property).AppendLine(" = value; }").AppendLine();
            }
        }

        sb.AppendLine("    /// <summary>Every option: its upstream key, property, and how it is read and written, in the record's order.</summary>");
        sb.AppendLine("    private static readonly Field[] Fields =");
        sb.AppendLine("    [");
        foreach (var o in m.Options)
        {
            var factory = o.Kind switch { "int" => "Int", "double" => "Real", "bool" => "Bool", _ => $"Choice<{o.TypeName}>" };
            sb.Append("        ").Append(factory).Append("(\"").Append(o.Key).Append("\", nameof(").Append(o.Property).Append("), static o => o.")
                .Append(o.Property).Append(", static (o, v) => o.").Append(o.Property).AppendLine(" = v),");
        }

        sb.AppendLine("    ];");
        sb.AppendLine("}");

        foreach (var e in m.Enums)
        {
            sb.AppendLine();
            sb.Append("/// <summary>").Append(Doc(e.Doc)).AppendLine("</summary>");
            sb.Append("public enum ").AppendLine(e.Name).AppendLine("{");
            for (int i = 0; i < e.Cases.Count; i++)
            {
                var c = e.Cases.Items[i];
                if (i > 0) sb.AppendLine();
                sb.Append("    /// <summary>").Append(Doc(c.Doc)).AppendLine("</summary>");
                sb.Append("    ").Append(c.Name).Append(" = ").Append(c.Value.ToString(CultureInfo.InvariantCulture)).AppendLine(",");
                if (c.Obsolete is not null)
                {
                    sb.AppendLine();
                    sb.Append("    /// <summary>The former name of <see cref=\"").Append(c.Name).AppendLine("\"/>.</summary>");
                    Obsolete(sb, c.Name);
                    sb.Append("    ").Append(c.Obsolete).Append(" = ").Append(c.Value.ToString(CultureInfo.InvariantCulture)).AppendLine(",");
                }
            }

            sb.AppendLine("}");
        }

        return sb.ToString();
    }

    private static void Obsolete(StringBuilder sb, string replacement)
    {
        sb.Append("    [global::System.Obsolete(\"Use ").Append(replacement).AppendLine("; removed in the next version.\")]");
        sb.AppendLine("    [global::System.ComponentModel.EditorBrowsable(global::System.ComponentModel.EditorBrowsableState.Never)]");
    }

    private static string Xml(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>Documentation text as XML: <c>`code`</c> spans become <c>&lt;c&gt;</c> elements.</summary>
    private static string Doc(string text)
    {
        var parts = Xml(text).Split('`');
        var sb = new StringBuilder();
        for (int i = 0; i < parts.Length; i++)
        {
            if (i % 2 == 1 && i < parts.Length - 1) sb.Append("<c>").Append(parts[i]).Append("</c>");
            else sb.Append(i % 2 == 1 ? "`" + parts[i] : parts[i]);
        }

        return sb.ToString();
    }
}
