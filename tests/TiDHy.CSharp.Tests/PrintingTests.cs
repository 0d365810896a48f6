using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>Result records print their arrays briefly instead of as <c>System.Double[]</c>.</summary>
public class PrintingTests
{
    [Fact]
    public void A_record_prints_the_first_values_and_the_length_of_a_long_array_and_a_short_one_whole()
    {
        var usage = new MixtureUsageInfo(
            MeanWeight: [0.123456, 0.5, 0.25, 0.0625, 0.03125, 0.015625, 0, 0],
            Share: [0.5, 0.5],
            StepEntropy: [],
            MeanStepEntropy: 0.5,
            UsageEntropy: 1.25);
        Assert.Equal(
            "MixtureUsageInfo { MeanWeight = [0.1235, 0.5, 0.25, … (8 values)], Share = [0.5, 0.5], StepEntropy = [], MeanStepEntropy = 0.5, UsageEntropy = 1.25 }",
            usage.ToString());
        Assert.DoesNotContain("System.Double[]", usage.ToString());
    }

    [Fact]
    public void A_multidimensional_array_prints_as_its_shape()
    {
        var k = new KMeansClustering([0, 1, 1, 0, 1, 0, 1], new double[2, 3], 1.5);
        Assert.Equal("KMeansClustering { Labels = [0, 1, 1, … (7 values)], Centroids = double[2, 3], Inertia = 1.5 }", k.ToString());
    }

    [Fact]
    public void Numbers_print_in_the_invariant_culture()
    {
        var previous = Thread.CurrentThread.CurrentCulture;
        try
        {
            // A culture with a decimal comma (built from the invariant one: CI may run without ICU cultures).
            var comma = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            Thread.CurrentThread.CurrentCulture = comma;
            Assert.Equal("2,5", 2.5.ToString());
            Assert.Equal("TimescaleClustersInfo { Centres = [2.5, 10], Counts = [3, 1] }", new TimescaleClustersInfo([2.5, 10.0], [3, 1]).ToString());
        }
        finally
        {
            Thread.CurrentThread.CurrentCulture = previous;
        }
    }
}
