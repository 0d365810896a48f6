using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// Series files and windows: reading and writing <c>[time, features]</c> series as CSV (header
/// optional), NumPy <c>.npy</c> or <c>.npz</c>, and cutting them into the <c>[windows, time, features]</c>
/// arrays that <see cref="TiDHyModel"/> trains on. Each member is one call into the F# core.
/// </summary>
public static class TiDHyData
{
    /// <summary>Reads a series <c>[time, features]</c>; the extension (<c>.csv</c>, <c>.npy</c>, <c>.npz</c>) picks the format.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The series.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is malformed (ragged rows, a non-number, NaN, a wrong dtype or shape); the message names the file and the position.</exception>
    public static double[,] LoadSeries(string path)
    {
        Interop.RequireFile(path, nameof(path));
        return Interop.Call(() => F.Data.load(path), null);
    }

    /// <summary>Writes a series <c>[time, features]</c> atomically; the extension (<c>.csv</c>, <c>.npy</c>, <c>.npz</c>) picks the format.</summary>
    /// <param name="path">The file to write; an existing file is replaced only when the write succeeds.</param>
    /// <param name="series">The series.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The extension is not one of the supported formats.</exception>
    public static void SaveSeries(string path, double[,] series)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(series);
        Interop.Call(() => F.Data.save(path, series), null, ("path", nameof(path)), ("series", nameof(series)));
    }

    /// <summary>Windows of <paramref name="length"/> steps whose starts are <paramref name="step"/> apart (upstream's <c>stack_data</c>; <c>step = length</c> for non-overlapping windows). Steps after the last complete window are not used.</summary>
    /// <param name="series">The series <c>[time, features]</c>.</param>
    /// <param name="length">Steps per window.</param>
    /// <param name="step">Steps between window starts.</param>
    /// <returns>The windows <c>[windows, length, features]</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">A size is not positive, or the series is shorter than one window.</exception>
    public static double[,,] Windows(double[,] series, int length, int step)
    {
        ArgumentNullException.ThrowIfNull(series);
        return Interop.Call(
            () => F.Series.windowsStrided(length, step, series),
            null,
            ("length", nameof(length)),
            ("stride", nameof(step)),
            ("series", nameof(series))
        );
    }
}
