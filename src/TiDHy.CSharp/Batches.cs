namespace TiDHy.CSharp;

/// <summary>Cutting a batch into consecutive row ranges, slicing and joining rows, and widening float32 arrays.</summary>
internal static class Batches
{
    /// <summary>Consecutive ranges of at most <paramref name="batchSize"/> of <paramref name="n"/> rows (one empty range when <paramref name="n"/> is 0, so that the core reports the empty batch).</summary>
    public static IEnumerable<Range> Ranges(int n, int batchSize)
    {
        if (n == 0)
        {
            yield return 0..0;
            yield break;
        }

        for (var start = 0; start < n; start += batchSize)
        {
            yield return start..Math.Min(n, start + batchSize);
        }
    }

    /// <summary>Throws unless <paramref name="other"/> has as many rows as <paramref name="x"/>.</summary>
    public static void RequireRows(double[,] x, double[,] other, string paramName)
    {
        if (other.GetLength(0) != x.GetLength(0))
        {
            throw new ArgumentException(
                $"{paramName}: expected {x.GetLength(0)} rows (one per row of x), got [{other.GetLength(0)}; {other.GetLength(1)}].",
                paramName
            );
        }
    }

    /// <summary>Throws unless <paramref name="a"/> is <c>[rows, cols]</c>; the message names the array <paramref name="name"/>, the expected shape and the given one.</summary>
    public static void RequireShape(double[,] a, int rows, int cols, string name, string paramName)
    {
        if (a.GetLength(0) != rows || a.GetLength(1) != cols)
        {
            throw new ArgumentException(
                $"{name}: expected shape [{rows}; {cols}], got [{a.GetLength(0)}; {a.GetLength(1)}].",
                paramName
            );
        }
    }

    /// <summary>The rows <paramref name="range"/> of <paramref name="a"/> (the array itself when the range is all of it).</summary>
    public static double[,] Rows(double[,] a, Range range)
    {
        var (start, count) = range.GetOffsetAndLength(a.GetLength(0));
        if (start == 0 && count == a.GetLength(0))
        {
            return a;
        }

        var cols = a.GetLength(1);
        var result = new double[count, cols];
        Array.Copy(a, start * cols, result, 0, count * cols);
        return result;
    }

    /// <summary>The rows of <paramref name="parts"/> one after the other.</summary>
    public static double[,] Join(IReadOnlyList<double[,]> parts)
    {
        if (parts.Count == 1)
        {
            return parts[0];
        }

        var cols = parts[0].GetLength(1);
        var result = new double[parts.Sum(p => p.GetLength(0)), cols];
        var offset = 0;
        foreach (var p in parts)
        {
            Array.Copy(p, 0, result, offset, p.Length);
            offset += p.Length;
        }

        return result;
    }

    /// <summary><paramref name="a"/> in float64 (exact).</summary>
    public static double[,] Widen(float[,] a)
    {
        var result = new double[a.GetLength(0), a.GetLength(1)];
        for (var i = 0; i < a.GetLength(0); i++)
        {
            for (var j = 0; j < a.GetLength(1); j++)
            {
                result[i, j] = a[i, j];
            }
        }

        return result;
    }

    /// <summary><paramref name="a"/> in float64 (exact).</summary>
    public static double[,,] Widen(float[,,] a)
    {
        var result = new double[a.GetLength(0), a.GetLength(1), a.GetLength(2)];
        for (var i = 0; i < a.GetLength(0); i++)
        {
            for (var j = 0; j < a.GetLength(1); j++)
            {
                for (var k = 0; k < a.GetLength(2); k++)
                {
                    result[i, j, k] = a[i, j, k];
                }
            }
        }

        return result;
    }
}
