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

    /// <summary>
    /// Reads a file of discrete states <c>[time, systems]</c>, one column per system and each entry a
    /// non-negative integer (the <c>tidhy train --states</c> file, for <see cref="FitSettings.ValidationStates"/>
    /// and the analyses): CSV (header optional; rows of two integers are two columns), <c>.npy</c> or <c>.npz</c>.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <returns>The states <c>[time, systems]</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is malformed, has no column, or holds a value that is not a non-negative integer; the message names the file, row and column (from 1).</exception>
    public static int[,] LoadStates(string path)
    {
        Interop.RequireFile(path, nameof(path));
        var labels = Interop.Call(() => F.Data.loadLabels(path), null);
        if (labels.GetLength(1) == 0)
        {
            throw new InvalidDataException($"{path}: no columns; a states file needs one column per system, each step's discrete state (an integer >= 0).");
        }

        var states = new int[labels.GetLength(0), labels.GetLength(1)];
        for (var t = 0; t < labels.GetLength(0); t++)
        {
            for (var j = 0; j < labels.GetLength(1); j++)
            {
                var v = labels[t, j];
                if (!(v >= 0 && v <= int.MaxValue && Math.Floor(v) == v))
                {
                    throw new InvalidDataException(
                        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{path}: row {t + 1}, column {j + 1} is {v}; states must be non-negative integers (one discrete state per system).")
                    );
                }

                states[t, j] = (int)v;
            }
        }

        return states;
    }

    /// <summary>
    /// Cuts a series into a head for training and a tail held out for validation, as <c>tidhy train --val-fraction</c>
    /// does: the tail has <c>round(validationFraction·time)</c> steps (ties to even), the head the rest,
    /// and <see cref="SeriesSplit.Test"/> is empty; nothing is dropped.
    /// </summary>
    /// <param name="series">The series <c>[time, features]</c>.</param>
    /// <param name="validationFraction">The share held out, in [0, 1).</param>
    /// <returns>The parts, in time order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">The fraction is outside [0, 1), or the series is empty or has a non-finite entry.</exception>
    public static SeriesSplit SplitTail(double[,] series, double validationFraction)
    {
        ArgumentNullException.ThrowIfNull(series);
        return SeriesSplit.From(Interop.Call(() => F.Series.splitTail(validationFraction, series), null, ("validationFraction", nameof(validationFraction)), ("series", nameof(series))));
    }

    /// <summary>
    /// Cuts a series into consecutive parts: <c>floor(trainFraction·time)</c> steps for training, then
    /// <c>floor(validationFraction·time)</c> for validation, then the remaining steps for testing.
    /// </summary>
    /// <param name="series">The series <c>[time, features]</c>.</param>
    /// <param name="trainFraction">The training share, in [0, 1].</param>
    /// <param name="validationFraction">The validation share, in [0, 1], with <paramref name="trainFraction"/> at most 1 in all.</param>
    /// <returns>The parts, in time order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">A fraction is outside its range, or the series is empty or has a non-finite entry.</exception>
    public static SeriesSplit SplitFractions(double[,] series, double trainFraction, double validationFraction)
    {
        ArgumentNullException.ThrowIfNull(series);
        return SeriesSplit.From(
            Interop.Call(
                () => F.Series.splitFractions(trainFraction, validationFraction, series),
                null,
                ("trainFraction", nameof(trainFraction)),
                ("validationFraction", nameof(validationFraction)),
                ("series", nameof(series))
            )
        );
    }

    /// <summary>
    /// A z-score normalisation fitted to <paramref name="series"/> (normally the training part only,
    /// then applied to every part): each feature's mean and population standard deviation; a constant
    /// feature gets scale 1, so it is centred only.
    /// </summary>
    /// <param name="series">The series <c>[time ≥ 1, features]</c>, finite.</param>
    /// <returns>The normalisation, to <see cref="SeriesNormalisation.Apply"/> and <see cref="SeriesNormalisation.Invert"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">The series is empty or has a non-finite entry.</exception>
    public static SeriesNormalisation FitZScore(double[,] series)
    {
        ArgumentNullException.ThrowIfNull(series);
        return SeriesNormalisation.From(Interop.Call(() => F.Series.fitZScore(series), null, ("series", nameof(series))));
    }

    /// <summary>
    /// A max-abs normalisation fitted to <paramref name="series"/>: each feature divided by its largest
    /// absolute value (upstream scales the SLDS observations this way); an all-zero feature gets scale 1.
    /// </summary>
    /// <param name="series">The series <c>[time ≥ 1, features]</c>, finite.</param>
    /// <returns>The normalisation.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">The series is empty or has a non-finite entry.</exception>
    public static SeriesNormalisation FitMaxAbs(double[,] series)
    {
        ArgumentNullException.ThrowIfNull(series);
        return SeriesNormalisation.From(Interop.Call(() => F.Series.fitMaxAbs(series), null, ("series", nameof(series))));
    }
}

/// <summary>A series cut into three consecutive parts, each <c>[time_i, features]</c>, in time order.</summary>
/// <param name="Train">The first part.</param>
/// <param name="Validation">The middle part.</param>
/// <param name="Test">The last part (empty after <see cref="TiDHyData.SplitTail"/>).</param>
public sealed record SeriesSplit(double[,] Train, double[,] Validation, double[,] Test)
{
    /// <summary>The members in brief: arrays as their shapes (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);

    internal static SeriesSplit From(F.SeriesSplit s) => new(s.Train, s.Val, s.Test);
}

/// <summary>Which per-feature statistics a <see cref="SeriesNormalisation"/> was fitted with.</summary>
public enum NormalisationKind
{
    /// <summary><c>(x − mean) / std</c> (population standard deviation): <see cref="TiDHyData.FitZScore"/>.</summary>
    ZScore = 0,

    /// <summary><c>x / max|x|</c>: <see cref="TiDHyData.FitMaxAbs"/>.</summary>
    MaxAbs = 1,
}

/// <summary>
/// A fitted per-feature affine transform <c>x ↦ (x − Offset) / Scale</c>, kept so that the same transform
/// applies to validation and test data and can be inverted (e.g. on a model's reconstructions).
/// </summary>
/// <param name="Kind">The statistics it was fitted with.</param>
/// <param name="Offset">Subtracted from each feature, <c>[features]</c> (zeros for <see cref="NormalisationKind.MaxAbs"/>).</param>
/// <param name="Scale">Each feature is divided by this, <c>[features]</c>; never zero.</param>
public sealed record SeriesNormalisation(NormalisationKind Kind, double[] Offset, double[] Scale)
{
    /// <summary>The members in brief: arrays as their first values and length (see <c>Printing</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => Printing.Members(this, builder);

    /// <summary><c>(x − Offset) / Scale</c> for each feature of <paramref name="series"/>; a new array.</summary>
    /// <param name="series">The series <c>[time, features]</c>, as many features as <see cref="Offset"/>.</param>
    /// <returns>The normalised series, same shape.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">The feature count differs.</exception>
    public double[,] Apply(double[,] series)
    {
        ArgumentNullException.ThrowIfNull(series);
        return Interop.Call(() => F.Series.normalise(ToCore(), series), null, ("series", nameof(series)));
    }

    /// <summary>The inverse of <see cref="Apply"/>: <c>x·Scale + Offset</c> for each feature; a new array.</summary>
    /// <param name="series">The normalised series <c>[time, features]</c>.</param>
    /// <returns>The series in the original units, same shape.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="series"/> is null.</exception>
    /// <exception cref="ArgumentException">The feature count differs.</exception>
    public double[,] Invert(double[,] series)
    {
        ArgumentNullException.ThrowIfNull(series);
        return Interop.Call(() => F.Series.denormalise(ToCore(), series), null, ("series", nameof(series)));
    }

    private F.Normalisation ToCore() =>
        new(Kind == NormalisationKind.ZScore ? F.NormalisationKind.ZScore : F.NormalisationKind.MaxAbs, Offset, Scale);

    internal static SeriesNormalisation From(F.Normalisation n) =>
        new(n.Kind.IsZScore ? NormalisationKind.ZScore : NormalisationKind.MaxAbs, n.Offset, n.Scale);
}
