namespace TiDHy.CSharp.Tests;

public class TiDHyDataTests
{
    private static string TempFile(string name) =>
        Path.Combine(Path.GetTempPath(), $"tidhy-cs-{Guid.NewGuid():N}-{name}");

    [Theory]
    [InlineData("series.csv")]
    [InlineData("series.npy")]
    [InlineData("series.npz")]
    public void A_series_round_trips_through_each_file_format(string name)
    {
        var series = new double[7, 3];
        for (var t = 0; t < 7; t++)
        {
            for (var d = 0; d < 3; d++)
            {
                series[t, d] = Math.Sin(t + 0.3 * d) / 3.0;
            }
        }

        var path = TempFile(name);
        TiDHyData.SaveSeries(path, series);
        Assert.Equal(series, TiDHyData.LoadSeries(path));
    }

    [Fact]
    public void Windows_follow_upstream_stacking()
    {
        var series = new double[10, 2];
        for (var t = 0; t < 10; t++)
        {
            series[t, 0] = t;
            series[t, 1] = -t;
        }

        var w = TiDHyData.Windows(series, 4, 3);
        Assert.Equal(3, w.GetLength(0));
        Assert.Equal(4, w.GetLength(1));
        Assert.Equal(3.0, w[1, 0, 0]);
        Assert.Equal(-9.0, w[2, 3, 1]);
        var e = Assert.Throws<ArgumentException>(() => TiDHyData.Windows(series, 4, 0));
        Assert.Equal("step", e.ParamName);
    }

    [Fact]
    public void Windows_beyond_an_array_or_the_memory_are_refused_with_the_sizes()
    {
        // A 1 M-step series (8 MB) cut into windows of 10000 steps, 1 apart: 10^10 values, 80 GB.
        var e = Assert.Throws<ArgumentException>(() => TiDHyData.Windows(new double[1_000_000, 1], 10_000, 1));
        Assert.Equal("series", e.ParamName);
        Assert.Contains("990001 windows of 10000 steps", e.Message);
        Assert.Contains("more than a .NET array holds", e.Message);
    }

    [Fact]
    public void Csv_files_with_lone_carriage_returns_load()
    {
        var path = TempFile("mac.csv");
        File.WriteAllText(path, "a,b\r1.5,2\r3,4\r");
        Assert.Equal(new[,] { { 1.5, 2.0 }, { 3.0, 4.0 } }, TiDHyData.LoadSeries(path));
    }

    [Fact]
    public void Malformed_and_missing_files_name_the_file()
    {
        var path = TempFile("bad.csv");
        File.WriteAllText(path, "1,2\n3\n");
        var e = Assert.Throws<InvalidDataException>(() => TiDHyData.LoadSeries(path));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => TiDHyData.LoadSeries(TempFile("missing.csv")));
        Assert.Throws<ArgumentNullException>("path", () => TiDHyData.LoadSeries(null!));
    }
}
