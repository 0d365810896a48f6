using System.Text;

namespace TiDHy.Generators;

/// <summary>A small indenting text writer for generated C#.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder sb = new();
    private int indent;

    public SourceWriter Line(string text = "")
    {
        if (text.Length == 0)
        {
            sb.Append('\n');
            return this;
        }
        sb.Append(' ', indent * 4).Append(text).Append('\n');
        return this;
    }

    public SourceWriter Open(string? header = null)
    {
        if (header is not null) Line(header);
        Line("{");
        indent++;
        return this;
    }

    public SourceWriter Close(string suffix = "")
    {
        indent--;
        Line("}" + suffix);
        return this;
    }

    public override string ToString() => sb.ToString();
}
