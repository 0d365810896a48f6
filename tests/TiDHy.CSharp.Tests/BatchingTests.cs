using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>Inference and evaluation run in batches, so a call's result does not depend on how many samples it holds.</summary>
public class BatchingTests
{
    private static readonly double[,,] Windows = TestData.SineWindows(12, 6, 4, phase: 5);

    /// <summary>Windows <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1.</summary>
    private static double[,,] Slice(double[,,] a, int start, int count)
    {
        var result = new double[count, a.GetLength(1), a.GetLength(2)];
        for (var w = 0; w < count; w++)
        {
            for (var t = 0; t < a.GetLength(1); t++)
            {
                for (var d = 0; d < a.GetLength(2); d++)
                {
                    result[w, t, d] = a[start + w, t, d];
                }
            }
        }

        return result;
    }

    /// <summary>Time step <paramref name="t"/> of every window: <c>[windows, features]</c>.</summary>
    private static double[,] Step(double[,,] a, int t)
    {
        var result = new double[a.GetLength(0), a.GetLength(2)];
        for (var w = 0; w < a.GetLength(0); w++)
        {
            for (var d = 0; d < a.GetLength(2); d++)
            {
                result[w, d] = a[w, t, d];
            }
        }

        return result;
    }

    /// <summary>Time step <paramref name="t"/> of a <c>[windows, time, k]</c> record array.</summary>
    private static double[,] At(double[,,] a, int t) => Step(a, t);

    /// <summary>The rows of two matrices one after the other.</summary>
    private static double[,] Stack(double[,] a, double[,] b)
    {
        var result = new double[a.GetLength(0) + b.GetLength(0), a.GetLength(1)];
        for (var i = 0; i < result.GetLength(0); i++)
        {
            for (var j = 0; j < result.GetLength(1); j++)
            {
                result[i, j] = i < a.GetLength(0) ? a[i, j] : b[i - a.GetLength(0), j];
            }
        }

        return result;
    }

    private static TiDHyModel TrainedModel(int batchSize)
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 3);
        model.Fit(TestData.SineWindows(8, 6, 4), null, new FitSettings { BatchSize = batchSize, Epochs = 1 });
        return model;
    }

    [Fact]
    public void Evaluate_gives_the_same_record_in_one_call_or_split_across_calls()
    {
        // Upstream's BatchMean scaling (the default): one batch of 12 would take steps of lr/12.
        var model = TrainedModel(batchSize: 4);
        Assert.Equal(4, model.TrainingBatchSize);

        var all = model.Evaluate(Windows);
        var first = model.Evaluate(Slice(Windows, 0, 8));
        var last = model.Evaluate(Slice(Windows, 8, 4));

        Assert.Equal(Slice(all.RHat, 0, 8), first.RHat);
        Assert.Equal(Slice(all.RHat, 8, 4), last.RHat);
        Assert.Equal(Slice(all.W, 0, 8), first.W);
        Assert.Equal(Slice(all.W, 8, 4), last.W);
        Assert.Equal(Slice(all.IBar, 8, 4), last.IBar);
        Assert.Equal((8 * first.SpatialLossRHatAverage + 4 * last.SpatialLossRHatAverage) / 12, all.SpatialLossRHatAverage, 12);

        // The batch size decides the result, as the documentation says: one batch of all 12 differs.
        Assert.NotEqual(all.RHat, model.Evaluate(Windows, batchSize: 12).RHat);
        Assert.Equal(all.RHat, model.Evaluate(Windows, batchSize: 4).RHat);
    }

    [Fact]
    public void Infer_gives_the_same_latents_in_one_call_or_split_across_calls_and_matches_evaluation()
    {
        var model = TrainedModel(batchSize: 4);
        var x0 = Step(Windows, 0);
        var x1 = Step(Windows, 1);

        var first = model.InferFirstStep(x0);
        var next = model.Infer(x1, first.R, first.R2);
        Assert.Null(first.W);
        Assert.Equal([12, 3], new[] { next.W!.GetLength(0), next.W.GetLength(1) });
        Assert.Null(next.B);

        // Split at 8: the batches are the same, so are the results.
        var firstA = model.InferFirstStep(Step(Slice(Windows, 0, 8), 0));
        var firstB = model.InferFirstStep(Step(Slice(Windows, 8, 4), 0));
        Assert.Equal(first.R, Stack(firstA.R, firstB.R));
        var nextA = model.Infer(Step(Slice(Windows, 0, 8), 1), firstA.R, firstA.R2);
        var nextB = model.Infer(Step(Slice(Windows, 8, 4), 1), firstB.R, firstB.R2);
        Assert.Equal(next.R, Stack(nextA.R, nextB.R));
        Assert.Equal(next.R2, Stack(nextA.R2, nextB.R2));
        Assert.Equal(next.W, Stack(nextA.W!, nextB.W!));
        Assert.Equal(next.SampleIterations, nextA.SampleIterations.Concat(nextB.SampleIterations));

        // The same two steps as the evaluation record's first two, mixture weights included.
        var e = model.Evaluate(Windows);
        Assert.Equal(At(e.RHat, 0), first.R);
        Assert.Equal(At(e.RHat, 1), next.R);
        Assert.Equal(At(e.R2Hat, 1), next.R2);
        Assert.Equal(At(e.W, 1), next.W);
    }

    [Fact]
    public void Infer_returns_the_dynamic_bias_with_DynBias()
    {
        var o = TestData.SmallOptions();
        o.DynamicBias = true;
        var model = TiDHyModel.Create(o, 2);
        var first = model.InferFirstStep(Step(Windows, 0), batchSize: 5);
        var next = model.Infer(Step(Windows, 1), first.R, first.R2, batchSize: 5);
        var e = model.Evaluate(Windows, batchSize: 5);

        Assert.Equal(At(e.B!, 1), next.B);
        Assert.Equal(At(e.W, 1), next.W);
    }

    [Fact]
    public void Float32_arrays_give_the_results_of_the_same_values_in_float64()
    {
        var model = TrainedModel(batchSize: 4);
        var single = new float[12, 6, 4];
        var widened = new double[12, 6, 4];
        for (var w = 0; w < 12; w++)
        {
            for (var t = 0; t < 6; t++)
            {
                for (var d = 0; d < 4; d++)
                {
                    single[w, t, d] = (float)Windows[w, t, d];
                    widened[w, t, d] = single[w, t, d];
                }
            }
        }

        Assert.Equal(model.Evaluate(widened).RHat, model.Evaluate(single).RHat);
        var x0 = new float[12, 4];
        for (var w = 0; w < 12; w++)
        {
            for (var d = 0; d < 4; d++)
            {
                x0[w, d] = single[w, 0, d];
            }
        }

        Assert.Equal(model.InferFirstStep(Step(widened, 0)).R, model.InferFirstStep(x0).R);
        var fitSingle = TiDHyModel.Create(TestData.SmallOptions(), 3);
        var fitDouble = TiDHyModel.Create(TestData.SmallOptions(), 3);
        var settings = new FitSettings { BatchSize = 4, Epochs = 1 };
        Assert.Equal(
            fitDouble.Fit(widened, null, settings).History[0].Train.Total,
            fitSingle.Fit(single, null, settings).History[0].Train.Total
        );
    }

    [Fact]
    public void Batch_sizes_and_row_counts_are_checked()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Evaluate(Windows, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.InferFirstStep(Step(Windows, 0), -1));
        var e = Assert.Throws<ArgumentException>(() => model.Infer(Step(Windows, 1), new double[11, 3], new double[12, 2]));
        Assert.Equal("previousR", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => model.Infer(Step(Windows, 1), new double[12, 3], new double[12, 5]));
        Assert.Equal("previousR2", e.ParamName);
    }

    [Fact]
    public void InferenceKernel_names_the_kernel_the_options_get()
    {
        Assert.Equal("TiDHy.Kernels.MseLinearKernel", TiDHyModel.Create(TestData.SmallOptions(), 1).InferenceKernel);
        var slds = new TiDHyOptions(20) { RDimension = 10, R2Dimension = 5, MixtureDimension = 15, HypernetworkHiddenDimension = 50 };
        Assert.Equal("TiDHy.Kernels.SldsKernel", TiDHyModel.Create(slds, 1).InferenceKernel);
        var nonlinear = TestData.SmallOptions();
        nonlinear.NonlinearDecoder = true;
        Assert.Equal("TiDHy.Kernels.GeneralKernel", TiDHyModel.Create(nonlinear, 1).InferenceKernel);
        var reference = TestData.SmallOptions();
        reference.Backend = Backend.Reference;
        Assert.Null(TiDHyModel.Create(reference, 1).InferenceKernel);
    }

    [Fact]
    public void TrainingProgress_prints_one_readable_line()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        var recorder = new TestData.Recorder<TrainingProgress>();
        model.Fit(TestData.SineWindows(8, 6, 4), TestData.SineWindows(4, 6, 4, phase: 3), new FitSettings { BatchSize = 4, Epochs = 1 }, recorder);

        var first = recorder.Reports[0].ToString();
        var last = recorder.Reports[^1].ToString();
        Assert.StartsWith("epoch 1/1 batch 1/2: loss ", first);
        Assert.DoesNotContain('\n', last);
        Assert.InRange(last.Length, 40, 200);
        Assert.StartsWith("epoch 1/1 batch 2/2: loss ", last);
        Assert.Contains("; epoch 1 done: train ", last);
        Assert.Contains(", validation ", last);
        Assert.DoesNotContain("done", first);
    }
}
