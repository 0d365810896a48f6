using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace TiDHy.CSharp;

/// <summary>
/// The members of a result record in brief, for its <c>ToString</c>: a record's own printing shows an
/// array as its type name (<c>MeanWeight = System.Double[]</c>); this shows its first values and its
/// length (<c>MeanWeight = [0.12, 0.5, 0.25, … (20 values)]</c>), a multidimensional array as its
/// type and shape (<c>Centroids = double[3, 2]</c>), numbers in the invariant culture.
/// </summary>
internal static class Printing
{
    /// <summary>Values shown in full up to this length; longer sequences show the first <see cref="Shown"/>.</summary>
    private const int Full = 6;

    private const int Shown = 3;

    /// <summary>Appends <c>Name = value</c> for each public instance property of <paramref name="record"/>, as a record's <c>PrintMembers</c> does.</summary>
    /// <returns>Whether anything was appended.</returns>
    internal static bool Members(object record, StringBuilder builder)
    {
        var first = true;
        foreach (var p in record.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0)
            {
                continue;
            }

            builder.Append(first ? "" : ", ").Append(p.Name).Append(" = ");
            Append(builder, p.GetValue(record), false);
            first = false;
        }

        return !first;
    }

    private static void Append(StringBuilder builder, object? value, bool element)
    {
        switch (value)
        {
            case null:
                builder.Append("null");
                break;
            case string s:
                builder.Append(s);
                break;
            case double d:
                builder.Append(d.ToString(element ? "G4" : "R", CultureInfo.InvariantCulture));
                break;
            case float f:
                builder.Append(f.ToString(element ? "G4" : "R", CultureInfo.InvariantCulture));
                break;
            case Array { Rank: > 1 } a:
                builder.Append(Keyword(a.GetType().GetElementType()!)).Append('[')
                    .Append(string.Join(", ", Enumerable.Range(0, a.Rank).Select(a.GetLength))).Append(']');
                break;
            case IEnumerable sequence:
                var items = sequence.Cast<object?>().ToList();
                builder.Append('[');
                var shown = items.Count <= Full ? items.Count : Shown;
                for (var i = 0; i < shown; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(", ");
                    }

                    Append(builder, items[i], true);
                }

                if (shown < items.Count)
                {
                    builder.Append(", … (").Append(items.Count).Append(" values)");
                }

                builder.Append(']');
                break;
            case IFormattable formattable:
                builder.Append(formattable.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                builder.Append(value);
                break;
        }
    }

    private static string Keyword(Type t) =>
        t == typeof(double) ? "double"
        : t == typeof(float) ? "float"
        : t == typeof(int) ? "int"
        : t == typeof(bool) ? "bool"
        : t.Name;
}
