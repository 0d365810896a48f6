using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

/// <summary>
/// <see cref="TiDHyModel.InferInto(double[,], double[,], double[,], InferenceBuffers)"/>: the results of
/// <see cref="TiDHyModel.Infer(double[,], double[,], double[,])"/> bit for bit, written into buffers the caller
/// allocates once and reuses.
/// </summary>
[Collection(AllocationCollection.Name)]
public class InferIntoTests
{
    /// <summary>A model with the small options on <paramref name="backend"/>, trained briefly in batches of 4.</summary>
    private static TiDHyModel Model(Backend backend)
    {
        var o = TestData.SmallOptions();
        o.Backend = backend;
        var model = TiDHyModel.Create(o, 3);
        model.Fit(TestData.SineWindows(8, 6, 4), null, new FitSettings { BatchSize = 4, Epochs = 1 });
        return model;
    }

    /// <summary>A <c>[rows, cols]</c> matrix of values in [−1, 1) from <paramref name="seed"/>.</summary>
    private static double[,] Matrix(int seed, int rows, int cols)
    {
        var random = new Random(seed);
        var a = new double[rows, cols];
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < cols; j++)
            {
                a[i, j] = (2 * random.NextDouble()) - 1;
            }
        }

        return a;
    }

    private static long[] Bits(double[,] a) => a.Cast<double>().Select(BitConverter.DoubleToInt64Bits).ToArray();

    /// <summary>Fails unless the buffers hold <paramref name="expected"/>'s latents and counts, bit for bit.</summary>
    private static void AssertSame(InferenceResult expected, InferenceBuffers got, string what)
    {
        Assert.True(Bits(expected.R).SequenceEqual(Bits(got.R)), $"{what}: R");
        Assert.True(Bits(expected.R2).SequenceEqual(Bits(got.R2)), $"{what}: R2");
        Assert.Equal(expected.SampleIterations, got.SampleIterations);
        Assert.Equal(expected.Iterations, got.Iterations);
        Assert.Equal(expected.Converged, got.Converged);
    }

    private static (double[,] X, double[,] R, double[,] R2) Inputs(int seed, int batch) =>
        (Matrix(seed, batch, 4), Matrix(seed + 1, batch, 3), Matrix(seed + 2, batch, 2));

    [Theory]
    [InlineData(Backend.Fused)]
    [InlineData(Backend.FusedFloat32)]
    [InlineData(Backend.Reference)]
    public void InferInto_gives_the_bits_of_Infer_at_several_batch_sizes(Backend backend)
    {
        var model = Model(backend);
        foreach (var batch in new[] { 1, 4, 7, 33 })
        {
            var (x, r, r2) = Inputs(batch, batch);
            var buffers = model.CreateInferenceBuffers(batch);
            model.InferInto(x, r, r2, buffers);
            AssertSame(model.Infer(x, r, r2), buffers, $"{backend}, batch {batch}");

            // Another inference batch size: still Infer's bits with that batch size.
            model.InferInto(x, r, r2, buffers, batchSize: 5);
            AssertSame(model.Infer(x, r, r2, batchSize: 5), buffers, $"{backend}, batch {batch}, batchSize 5");
        }
    }

    [Theory]
    [InlineData(Backend.Fused)]
    [InlineData(Backend.FusedFloat32)]
    public void The_same_buffers_reused_give_each_calls_own_result(Backend backend)
    {
        var model = Model(backend);
        var buffers = model.CreateInferenceBuffers(10);
        var (x1, r1, r21) = Inputs(100, 10);
        var (x2, r2, r22) = Inputs(200, 10);

        model.InferInto(x1, r1, r21, buffers);
        var first = Bits(buffers.R);
        AssertSame(model.Infer(x1, r1, r21), buffers, "first call");
        var rArray = buffers.R;

        model.InferInto(x2, r2, r22, buffers);
        AssertSame(model.Infer(x2, r2, r22), buffers, "second call");
        Assert.False(first.SequenceEqual(Bits(buffers.R)), "the two calls gave the same r");
        Assert.Same(rArray, buffers.R);

        // The next step, from copies of this step's latents (the inputs must not be the buffers themselves).
        var rPrev = (double[,])buffers.R.Clone();
        var r2Prev = (double[,])buffers.R2.Clone();
        model.InferInto(x1, rPrev, r2Prev, buffers);
        AssertSame(model.Infer(x1, rPrev, r2Prev), buffers, "next step");
    }

    [Fact]
    public void Buffers_of_the_wrong_shape_are_rejected_with_the_array_and_the_expected_and_given_shapes()
    {
        var model = Model(Backend.Fused);
        var (x, r, r2) = Inputs(1, 5);

        var wrongBatch = Assert.Throws<ArgumentException>(() => model.InferInto(x, r, r2, model.CreateInferenceBuffers(8)));
        Assert.Equal("result", wrongBatch.ParamName);
        Assert.StartsWith("result.R: expected shape [5; 3], got [8; 3].", wrongBatch.Message);

        var o = TestData.SmallOptions();
        o.RDimension = 3;
        o.R2Dimension = 4;
        var other = TiDHyModel.Create(o, 1);
        var wrongModel = Assert.Throws<ArgumentException>(() => model.InferInto(x, r, r2, other.CreateInferenceBuffers(5)));
        Assert.Equal("result", wrongModel.ParamName);
        Assert.StartsWith("result.R2: expected shape [5; 2], got [5; 4].", wrongModel.Message);

        Assert.Throws<ArgumentNullException>("result", () => model.InferInto(x, r, r2, null!));
        Assert.Throws<ArgumentOutOfRangeException>("batch", () => model.CreateInferenceBuffers(0));
        Assert.Throws<ArgumentOutOfRangeException>("batchSize", () => model.InferInto(x, r, r2, model.CreateInferenceBuffers(5), 0));
        var badR = Assert.Throws<ArgumentException>(() => model.InferInto(x, new double[4, 3], r2, model.CreateInferenceBuffers(5)));
        Assert.Equal("previousR", badR.ParamName);
    }

    [Theory]
    [InlineData(Backend.Fused)]
    [InlineData(Backend.FusedFloat32)]
    public void Concurrent_callers_with_their_own_buffers_agree_with_serial_calls(Backend backend)
    {
        var model = Model(backend);
        var batches = new[] { 3, 17, 64, 3, 17, 64, 9, 40 };
        var inputs = batches.Select((b, i) => Inputs(10 * i, b)).ToArray();
        var serial = inputs.Select(i => model.Infer(i.X, i.R, i.R2)).ToArray();
        var buffers = batches.Select(model.CreateInferenceBuffers).ToArray();

        Parallel.For(
            0,
            3 * batches.Length,
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            k =>
            {
                var i = k % batches.Length;
                // Each task owns its buffers; a round over all of them at a time.
                lock (buffers[i])
                {
                    model.InferInto(inputs[i].X, inputs[i].R, inputs[i].R2, buffers[i]);
                    AssertSame(serial[i], buffers[i], $"{backend}, batch {batches[i]}, call {k}");
                }
            }
        );
    }

    /// <summary>The fewest bytes this thread allocated in one of 3 calls of <paramref name="run"/> (after 3 warm-up calls).</summary>
    private static long ThreadAllocations(Action run)
    {
        for (var i = 0; i < 3; i++)
        {
            run();
        }

        var least = long.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            run();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }

    [Theory]
    [InlineData(Backend.Fused)]
    [InlineData(Backend.FusedFloat32)]
    public void InferInto_allocates_nothing_that_grows_with_the_batch_where_Infer_does(Backend backend)
    {
        var model = Model(backend);

        (long Into, long Infer) PerCall(int batch)
        {
            var (x, r, r2) = Inputs(batch, batch);
            var buffers = model.CreateInferenceBuffers(batch);
            return (ThreadAllocations(() => model.InferInto(x, r, r2, buffers, batch)), ThreadAllocations(() => model.Infer(x, r, r2, batch)));
        }

        var small = PerCall(16);
        var large = PerCall(1024);
        // Infer's results alone grow by (R + R2 + M)·8 bytes per sample: the check can fail.
        Assert.True(large.Infer - small.Infer >= (1024 - 16) * (3 + 2 + 3) * 8, $"Infer: {small.Infer} → {large.Infer} bytes");
        Assert.True(large.Into - small.Into < 512, $"InferInto allocated {small.Into} bytes at batch 16, {large.Into} at batch 1024");
    }
}

/// <summary>
/// The tests that count the current thread's allocations run alone: while other tests run kernels
/// beside them, the counted calls allocated with the batch (seen once in CI, 648 bytes at batch 16
/// and 26 216 at batch 1024; never when run alone, with the kernels' pool held or not).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCollection
{
    public const string Name = "Allocation counts, run alone";
}
