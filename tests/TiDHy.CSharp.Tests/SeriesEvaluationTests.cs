using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>A series evaluated continuously, carried window to window, or restarting each window.</summary>
public class SeriesEvaluationTests
{
    /// <summary>A series <c>[26, 4]</c> of sines: four whole windows of 6 steps and 2 steps over.</summary>
    private static double[,] Series()
    {
        var s = new double[26, 4];
        for (var t = 0; t < 26; t++)
        {
            for (var d = 0; d < 4; d++)
            {
                s[t, d] = Math.Sin(0.3 * t + d);
            }
        }

        return s;
    }

    private static TiDHyModel TrainedModel()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 3);
        model.Fit(TestData.SineWindows(8, 6, 4), null, new FitSettings { BatchSize = 4, Epochs = 1 });
        return model;
    }

    [Fact]
    public void Carried_windows_give_the_continuous_pass_and_restarting_ones_upstreams_evaluation()
    {
        var model = TrainedModel();
        var series = Series();
        var continuous = model.EvaluateSeries(series);
        Assert.Equal(new[] { 1, 26 }, new[] { continuous.RHat.GetLength(0), continuous.RHat.GetLength(1) });

        // The first 24 steps (four windows of 6) in one pass, and window by window with the carry.
        var first24 = new double[24, 4];
        Array.Copy(series, first24, 24 * 4);
        var carried = model.EvaluateSeries(series, 6, carry: true);
        Assert.Equal(model.EvaluateSeries(first24).RHat, carried.RHat);
        Assert.Equal(model.EvaluateSeries(first24).W, carried.W);

        // Restarting: the four windows each from a zero state, as Evaluate evaluates windows.
        var windows = new double[4, 6, 4];
        for (var w = 0; w < 4; w++)
        {
            for (var t = 0; t < 6; t++)
            {
                for (var d = 0; d < 4; d++)
                {
                    windows[w, t, d] = series[w * 6 + t, d];
                }
            }
        }

        var restarting = model.EvaluateSeries(series, 6, carry: false);
        Assert.Equal(model.Evaluate(windows).RHat, restarting.RHat);
        // Restarting differs from carrying after the first window.
        Assert.NotEqual(carried.RHat[0, 6, 0], restarting.RHat[1, 0, 0]);
    }

    [Fact]
    public void EvaluateSeries_refuses_bad_arguments()
    {
        var model = TrainedModel();
        Assert.Throws<ArgumentNullException>("series", () => model.EvaluateSeries(null!));
        Assert.Throws<ArgumentOutOfRangeException>("window", () => model.EvaluateSeries(Series(), -1, true));
        Assert.Throws<ArgumentException>(() => model.EvaluateSeries(Series(), 27, false));
        Assert.Throws<ArgumentException>(() => model.EvaluateSeries(new double[26, 3]));
    }
}
