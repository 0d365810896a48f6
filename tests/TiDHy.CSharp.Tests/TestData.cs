using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>Small options, synthetic windows and helpers shared by the tests.</summary>
internal static class TestData
{
    /// <summary>Options small enough that a few epochs take well under a second.</summary>
    public static TiDHyOptions SmallOptions() =>
        new(4)
        {
            RDimension = 3,
            R2Dimension = 2,
            MixtureDimension = 3,
            HypernetworkHiddenDimension = 8,
            R2DecoderHiddenDimension = 5,
            MaxIterations = 20,
            Tolerance = 1e-3,
            SequenceLength = 6,
            Overlap = 6,
            Epochs = 3,
        };

    /// <summary>
    /// <paramref name="count"/> windows <c>[count, time, features]</c> cut from one series whose
    /// features mix a slow and a fast sine, with the mixture switching halfway through each window.
    /// </summary>
    public static double[,,] SineWindows(int count, int time, int features, int phase = 0)
    {
        var x = new double[count, time, features];
        for (var w = 0; w < count; w++)
        {
            for (var t = 0; t < time; t++)
            {
                var s = (w * time) + t + phase;
                var slow = Math.Sin(0.2 * s);
                var fast = Math.Sin(0.9 * s);
                for (var d = 0; d < features; d++)
                {
                    var a = Math.Cos(d + 1.0);
                    var b = Math.Sin(2.0 * d + 1.0);
                    x[w, t, d] = t < time / 2 ? (a * slow) + (0.3 * b * fast) : (0.3 * a * slow) + (b * fast);
                }
            }
        }

        return x;
    }

    /// <summary>A temporary folder, deleted on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        /// <summary>The folder's path.</summary>
        public string Path { get; } = Directory.CreateTempSubdirectory("tidhy-csharp-tests-").FullName;

        /// <summary>A file name inside the folder.</summary>
        public string File(string name) => System.IO.Path.Combine(Path, name);

        /// <inheritdoc/>
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    /// <summary>An <see cref="IProgress{T}"/> that records every report on the reporting thread (unlike <see cref="Progress{T}"/>, which posts).</summary>
    public sealed class Recorder<T>(Action<T>? onReport = null) : IProgress<T>
    {
        /// <summary>The reports, in order.</summary>
        public List<T> Reports { get; } = [];

        /// <inheritdoc/>
        public void Report(T value)
        {
            Reports.Add(value);
            onReport?.Invoke(value);
        }
    }
}
