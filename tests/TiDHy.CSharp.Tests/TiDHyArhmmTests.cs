using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>The ARHMM facade on a series drawn from a known two-state ARHMM, and on bad input.</summary>
public class TiDHyArhmmTests
{
    /// <summary>A slow spiral (|λ| = 0.9) and a diagonal system (λ = 0.6, 0.3), distinct biases, sticky transitions.</summary>
    private static readonly ArhmmParameters Truth = new(
        [0.5, 0.5],
        new[,] { { 0.98, 0.02 }, { 0.02, 0.98 } },
        [
            new[,] { { 0.9 * Math.Cos(0.2), -0.9 * Math.Sin(0.2) }, { 0.9 * Math.Sin(0.2), 0.9 * Math.Cos(0.2) } },
            new[,] { { 0.6, 0.0 }, { 0.0, 0.3 } },
        ],
        [[0.5, 0.0], [-0.5, 0.5]],
        [new[,] { { 0.01, 0.0 }, { 0.0, 0.01 } }, new[,] { { 0.02, 0.0 }, { 0.0, 0.02 } }],
        [0.0, 0.0],
        new[,] { { 1.0, 0.0 }, { 0.0, 1.0 } }
    );

    [Fact]
    public void Fit_recovers_the_states_and_timescales_of_a_known_ARHMM()
    {
        var sample = TiDHyArhmm.Sample(Truth, 1500, seed: 1);
        var fit = TiDHyArhmm.Fit(sample.Series, states: 2, seed: 2, restarts: 2);
        Assert.Equal(2, fit.RestartLogLikelihoods.Length);
        Assert.Equal(fit.RestartLogLikelihoods.Max(), fit.LogLikelihood);
        // The likelihood of the fitted model, computed again: rounding only.
        var ll = TiDHyArhmm.LogLikelihood(fit.Model, sample.Series);
        Assert.True(Math.Abs(ll - fit.LogLikelihood) <= 1e-9 * Math.Abs(ll), $"{ll} vs {fit.LogLikelihood}");

        var states = TiDHyArhmm.MostLikelyStates(fit.Model, sample.Series);
        var split = TiDHyAnalysis.BlockSplit(3, 1500, 100);
        var accuracy = TiDHyArhmm.StateAccuracy(split, sample.States, states);
        Assert.True(accuracy.Accuracy > 0.9, $"held-out accuracy {accuracy.Accuracy}");
        Assert.Equal(new[] { 0, 1 }, accuracy.Mapping.Order().ToArray());

        var posteriors = TiDHyArhmm.Posteriors(fit.Model, sample.Series);
        for (var t = 0; t < 1500; t++)
        {
            Assert.Equal(1.0, posteriors[t, 0] + posteriors[t, 1], 12);
        }

        // 1/(−log 0.9) (a pair), 1/(−log 0.6), 1/(−log 0.3); fitted from ~750 noisy steps per state: within 20%.
        var tau = TiDHyArhmm.Timescales(fit.Model).Order().ToArray();
        var expected = new[] { 0.3, 0.6, 0.9 }.Select(l => -1.0 / Math.Log(l)).ToArray();
        Assert.Equal(3, tau.Length);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(Math.Abs(tau[i] - expected[i]) / expected[i] < 0.2, $"timescale {tau[i]}, true {expected[i]}");
        }
    }

    [Fact]
    public void Bad_input_names_the_CSharp_parameter()
    {
        var x = TiDHyArhmm.Sample(Truth, 100, seed: 1).Series;
        Assert.Equal("states", Assert.ThrowsAny<ArgumentException>(() => TiDHyArhmm.Fit(x, states: 0)).ParamName);
        Assert.Equal("tolerance", Assert.ThrowsAny<ArgumentException>(() => TiDHyArhmm.Fit(x, 2, tolerance: double.NaN)).ParamName);
        x[5, 1] = double.NaN;
        var nan = Assert.ThrowsAny<ArgumentException>(() => TiDHyArhmm.Fit(x, 2));
        Assert.Equal("series", nan.ParamName);
        Assert.StartsWith("series: expected finite values", nan.Message);
        Assert.Equal("series", Assert.ThrowsAny<ArgumentException>(() => TiDHyArhmm.Fit(new double[5, 2], 2)).ParamName);
        Assert.ThrowsAny<ArgumentException>(() => TiDHyArhmm.LogLikelihood(Truth with { Initial = [0.2, 0.2] }, new double[10, 2]));
    }
}
