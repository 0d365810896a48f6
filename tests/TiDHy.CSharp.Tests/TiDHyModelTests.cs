using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

public class TiDHyModelTests
{
    private static readonly double[,,] Train = TestData.SineWindows(8, 6, 4);
    private static readonly double[,,] Validation = TestData.SineWindows(4, 6, 4, phase: 3);

    private static FitSettings Settings(int epochs) => new() { BatchSize = 4, Epochs = epochs, Seed = 11 };

    private static double[] Totals(IReadOnlyList<EpochSummary> history) => history.Select(h => h.Train.Total).ToArray();

    [Fact]
    public void The_same_seed_gives_the_same_model_and_the_same_training_run()
    {
        var a = TiDHyModel.Create(TestData.SmallOptions(), 3);
        var b = TiDHyModel.Create(TestData.SmallOptions(), 3);
        var c = TiDHyModel.Create(TestData.SmallOptions(), 4);
        Assert.Equal(a.Evaluate(Validation).IHat, b.Evaluate(Validation).IHat);
        Assert.NotEqual(a.Evaluate(Validation).IHat, c.Evaluate(Validation).IHat);
        var ra = a.Fit(Train, settings: Settings(3));
        var rb = b.Fit(Train, settings: Settings(3));
        Assert.Equal(Totals(ra.History), Totals(rb.History));
    }

    [Fact]
    public void Fit_trains_the_requested_epochs_reports_every_batch_and_lowers_the_loss()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        var progress = new TestData.Recorder<TrainingProgress>();
        var report = model.Fit(Train, Validation, Settings(6), progress);

        Assert.False(report.Cancelled);
        Assert.Equal(6, report.EpochsCompleted);
        Assert.Equal(6, model.EpochsCompleted);
        Assert.Equal(6, report.History.Count);
        Assert.Equal(Enumerable.Range(1, 6), report.History.Select(h => h.Epoch));
        Assert.All(report.History, h => Assert.NotNull(h.Validation));
        Assert.True(report.History[^1].Train.Total < report.History[0].Train.Total, string.Join(", ", Totals(report.History)));

        // 8 windows in batches of 4: two reports per epoch, the second one completing it.
        Assert.Equal(12, progress.Reports.Count);
        Assert.All(progress.Reports, p => Assert.Equal(2, p.Batches));
        Assert.All(progress.Reports, p => Assert.Equal(6, p.Epochs));
        Assert.All(progress.Reports, p => Assert.True(double.IsFinite(p.Metrics.Total) && p.Metrics.MeanIterations > 0));
        var completed = progress.Reports.Where(p => p.CompletedEpoch is not null).Select(p => p.CompletedEpoch!).ToArray();
        Assert.Equal(report.History, completed);

        var best = report.History.MinBy(h => h.Validation)!;
        Assert.Equal(best.Epoch, report.BestEpoch);
        Assert.Equal(best.Validation, report.BestScore);
        Assert.Equal(report.BestEpoch, model.BestEpoch);
    }

    [Fact]
    public void BestEpoch_counts_from_1_the_epoch_of_the_lowest_validation_loss()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 3);
        var report = model.Fit(Train, Validation, Settings(5));

        // The position, counted from 1, of the lowest validation loss in the history (the first on ties).
        var losses = report.History.Select(h => h.Validation!.Value).ToArray();
        var lowest = Array.IndexOf(losses, losses.Min()) + 1;
        Assert.Equal(lowest, report.BestEpoch);
        Assert.Equal(lowest, model.BestEpoch);
        Assert.Equal(losses.Min(), report.BestScore);
        Assert.Equal(lowest, report.History[lowest - 1].Epoch);
        Assert.InRange(lowest, 1, 5);
    }

    [Fact]
    public void Progress_counts_epochs_from_1_up_to_the_epoch_count()
    {
        var progress = new TestData.Recorder<TrainingProgress>();
        TiDHyModel.Create(TestData.SmallOptions(), 1).Fit(Train, Validation, Settings(2), progress);
        Assert.Equal(new[] { 1, 1, 2, 2 }, progress.Reports.Select(p => p.Epoch));
        Assert.StartsWith("epoch 1/2 batch 1/2: ", progress.Reports[0].ToString());
        Assert.Contains("; epoch 2 done: train ", progress.Reports[3].ToString());
    }

    [Fact]
    public void Fit_with_validation_states_decodes_them_every_k_epochs_and_selects_by_the_chosen_accuracy()
    {
        // Two "states" that alternate every 3 steps of each validation window.
        int steps = Validation.GetLength(0) * Validation.GetLength(1);
        var states = new int[steps, 1];
        for (int t = 0; t < steps; t++) states[t, 0] = (t / 3) % 2;
        var model = TiDHyModel.Create(TestData.SmallOptions(), 6);
        var settings = new FitSettings { BatchSize = 4, Epochs = 5, Seed = 11, ValidationStates = states, MonitorEvery = 2, Selection = FitSelection.WAccuracy };
        var report = model.Fit(Train, Validation, settings);

        // Epochs 2 and 4 and the last (5) carry both accuracies; the others none.
        Assert.Equal(new[] { 2, 4, 5 }, report.History.Where(h => h.Monitor.Count > 0).Select(h => h.Epoch));
        foreach (var h in report.History.Where(h => h.Monitor.Count > 0))
        {
            Assert.Equal(new[] { "r2_hat_accuracy", "r_hat_accuracy", "raw_input_accuracy", "w_accuracy" }, h.Monitor.Keys.OrderBy(k => k, StringComparer.Ordinal));
            Assert.All(h.Monitor.Values, v => Assert.InRange(v, 0.0, 1.0));
        }
        var best = report.History.Where(h => h.Monitor.Count > 0).MaxBy(h => h.Monitor["w_accuracy"])!;
        Assert.Equal(best.Monitor["w_accuracy"], report.BestScore);
        Assert.Equal(report.History.Where(h => h.Monitor.Count > 0 && h.Monitor["w_accuracy"] == best.Monitor["w_accuracy"]).First().Epoch, report.BestEpoch);

        // Without states, an accuracy selection is an error naming the settings; so are states of the wrong length.
        Assert.Throws<ArgumentException>("settings", () => TiDHyModel.Create(TestData.SmallOptions(), 6).Fit(Train, Validation, new FitSettings { Selection = FitSelection.R2HatAccuracy }));
        Assert.Throws<ArgumentException>("settings", () => TiDHyModel.Create(TestData.SmallOptions(), 6).Fit(Train, Validation, new FitSettings { ValidationStates = new int[steps - 1, 1] }));
        Assert.Throws<ArgumentException>("settings", () => TiDHyModel.Create(TestData.SmallOptions(), 6).Fit(Train, null, new FitSettings { ValidationStates = states }));
    }

    [Fact]
    public void A_second_Fit_continues_the_first_up_to_the_new_epoch_count()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 2);
        model.Fit(Train, settings: Settings(2));
        var report = model.Fit(Train, settings: Settings(4));
        Assert.Equal(4, report.History.Count);

        var straight = TiDHyModel.Create(TestData.SmallOptions(), 2);
        Assert.Equal(Totals(straight.Fit(Train, settings: Settings(4)).History), Totals(report.History));
    }

    [Fact]
    public void Cancellation_stops_after_the_batch_in_progress_and_the_next_Fit_resumes_exactly()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 5);
        using var cts = new CancellationTokenSource();
        var progress = new TestData.Recorder<TrainingProgress>(p =>
        {
            if (p.Epoch == 2 && p.Batch == 1)
            {
                cts.Cancel();
            }
        });

        var stopped = model.Fit(Train, settings: Settings(3), progress: progress, cancellationToken: cts.Token);
        Assert.True(stopped.Cancelled);
        Assert.Equal(1, stopped.EpochsCompleted);
        Assert.Equal(3, progress.Reports.Count);

        var resumed = model.Fit(Train, settings: Settings(3));
        Assert.False(resumed.Cancelled);
        Assert.Equal(3, resumed.EpochsCompleted);

        var straight = TiDHyModel.Create(TestData.SmallOptions(), 5);
        straight.Fit(Train, settings: Settings(3));
        Assert.Equal(Totals(straight.History), Totals(model.History));
        Assert.Equal(straight.Evaluate(Validation).IHat, model.Evaluate(Validation).IHat);
    }

    [Fact]
    public void A_token_cancelled_beforehand_trains_nothing()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 5);
        var report = model.Fit(Train, settings: Settings(3), cancellationToken: new CancellationToken(true));
        Assert.True(report.Cancelled);
        Assert.Equal(0, report.EpochsCompleted);
        Assert.Null(report.BestEpoch);
        Assert.False(model.UseBest());
    }

    [Fact]
    public void UseBest_switches_to_the_parameters_of_the_best_epoch()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 6);
        using var folder = new TestData.TempFolder();
        var report = model.Fit(Train, Validation, new FitSettings { BatchSize = 4, Epochs = 4, Seed = 11, CheckpointDirectory = folder.Path });
        Assert.True(File.Exists(folder.File("last.tidhy.json")));
        Assert.True(File.Exists(folder.File("best.tidhy.json")));

        var best = TiDHyModel.LoadCheckpoint(folder.File("best.tidhy.json"));
        Assert.Equal(report.BestEpoch, best.EpochsCompleted);
        Assert.True(model.UseBest());
        Assert.Equal(best.Evaluate(Validation).IHat, model.Evaluate(Validation).IHat);
        Assert.Equal(4, model.EpochsCompleted);
    }

    [Fact]
    public void Evaluate_returns_arrays_of_the_documented_shapes()
    {
        var o = TestData.SmallOptions();
        o.DynamicBias = true;
        var e = TiDHyModel.Create(o, 1).Evaluate(Validation);
        int[] Dims(Array a) => Enumerable.Range(0, a.Rank).Select(a.GetLength).ToArray();

        Assert.Equal([4, 6, 4], Dims(e.Data));
        Assert.Equal(Validation, e.Data);
        Assert.Equal([4, 6, 4], Dims(e.IHat));
        Assert.Equal([4, 6, 4], Dims(e.IBar));
        Assert.Equal([4, 6, 3], Dims(e.RHat));
        Assert.Equal([4, 6, 3], Dims(e.RBar));
        Assert.Equal([4, 6, 2], Dims(e.R2Hat));
        Assert.Equal([4, 6, 3], Dims(e.W));
        Assert.Equal([4, 6, 3, 3], Dims(e.Ut));
        Assert.Equal([4, 6, 3], Dims(e.B!));
        Assert.Equal([4, 6, 3], Dims(e.TempLoss));
        Assert.Equal([4, 6, 4], Dims(e.SpatialLossRHat));
        Assert.Equal([4, 6, 4], Dims(e.SpatialLossRBar));
        Assert.Equal(6, e.Iterations.Length);
        Assert.Equal(6, e.Converged.Length);
        Assert.True(double.IsFinite(e.SpatialLossRHatAverage) && e.SpatialLossRHatAverage >= 0);
        Assert.True(double.IsFinite(e.SpatialLossRBarAverage) && double.IsFinite(e.TempLossAverage));
        Assert.Null(TiDHyModel.Create(TestData.SmallOptions(), 1).Evaluate(Validation).B);
    }

    [Fact]
    public void InferFirstStep_then_Infer_walk_a_batch_through_time()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        double[,] Step(int t)
        {
            var x = new double[4, 4];
            for (var b = 0; b < 4; b++)
            {
                for (var d = 0; d < 4; d++)
                {
                    x[b, d] = Validation[b, t, d];
                }
            }

            return x;
        }

        var first = model.InferFirstStep(Step(0));
        Assert.Equal(new double[4, 2], first.R2);
        var next = model.Infer(Step(1), first.R, first.R2);
        Assert.Equal(4, next.R.GetLength(0));
        Assert.Equal(3, next.R.GetLength(1));
        Assert.Equal(2, next.R2.GetLength(1));
        Assert.Equal(4, next.SampleIterations.Length);
        Assert.InRange(next.Iterations, 1, 20);
    }

    [Fact]
    public void A_checkpoint_round_trip_keeps_options_history_and_the_exact_training_state()
    {
        using var folder = new TestData.TempFolder();
        var path = folder.File("model.tidhy.json");
        var model = TiDHyModel.Create(TestData.SmallOptions(), 8);
        model.Fit(Train, settings: Settings(2));
        model.SaveCheckpoint(path);

        var loaded = TiDHyModel.LoadCheckpoint(path);
        Assert.Equal(model.Options.ToJson(), loaded.Options.ToJson());
        Assert.Equal(model.History, loaded.History);
        Assert.Equal(model.BestEpoch, loaded.BestEpoch);
        Assert.Equal(model.Evaluate(Validation).IHat, loaded.Evaluate(Validation).IHat);

        model.Fit(Train, settings: Settings(3));
        loaded.Fit(Train, settings: Settings(3));
        Assert.Equal(Totals(model.History), Totals(loaded.History));

        Assert.Equal(2, TiDHyModel.LoadCheckpoint(path, TestData.SmallOptions()).EpochsCompleted);
    }

    [Fact]
    public void LoadCheckpoint_rejects_other_options_corrupted_files_and_missing_files()
    {
        using var folder = new TestData.TempFolder();
        var path = folder.File("model.tidhy.json");
        TiDHyModel.Create(TestData.SmallOptions(), 8).SaveCheckpoint(path);

        var other = TestData.SmallOptions();
        other.MaxIterations = 30;
        var mismatch = Assert.Throws<InvalidDataException>(() => TiDHyModel.LoadCheckpoint(path, other));
        Assert.Contains("max_iter", mismatch.Message);

        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 1;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<InvalidDataException>(() => TiDHyModel.LoadCheckpoint(path));
        Assert.Contains(path, corrupt.Message);

        Assert.Throws<FileNotFoundException>(() => TiDHyModel.LoadCheckpoint(folder.File("absent.json")));
    }

    [Fact]
    public void A_state_dict_export_imports_back_to_the_same_model()
    {
        using var folder = new TestData.TempFolder();
        var path = folder.File("state_dict.json");
        var model = TiDHyModel.Create(TestData.SmallOptions(), 9);
        model.ExportStateDict(path);
        var imported = TiDHyModel.ImportTorch(TestData.SmallOptions(), path);
        Assert.Equal(model.Evaluate(Validation).IHat, imported.Evaluate(Validation).IHat);
        Assert.Equal(0, imported.EpochsCompleted);

        var wider = TestData.SmallOptions();
        wider.RDimension = 4;
        var e = Assert.Throws<InvalidDataException>(() => TiDHyModel.ImportTorch(wider, path));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => TiDHyModel.ImportTorch(TestData.SmallOptions(), folder.File("absent.json")));
    }

    [Fact]
    public void Options_returns_a_copy()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 1);
        var options = model.Options;
        options.RDimension = 7;
        Assert.Equal(3, model.Options.RDimension);
    }

    [Fact]
    public async Task A_second_Fit_while_one_runs_throws_and_the_first_keeps_every_epoch()
    {
        var model = TiDHyModel.Create(TestData.SmallOptions(), 5);
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Exception? reentrant = null;
        var progress = new TestData.Recorder<TrainingProgress>(p =>
        {
            if (p.Epoch == 2 && p.Batch == 1)
            {
                try
                {
                    // From the progress callback, on the training thread itself.
                    model.Fit(Train, settings: Settings(5));
                }
                catch (Exception e)
                {
                    reentrant = e;
                }
                finally
                {
                    entered.Set();
                }

                release.Wait(TimeSpan.FromMinutes(2));
            }
        });

        var first = Task.Run(() => model.Fit(Train, settings: Settings(3), progress: progress));
        try
        {
            Assert.True(entered.Wait(TimeSpan.FromMinutes(2)), "the first fit never reached epoch 2");
            // From another thread while the first fit waits in its callback.
            var concurrent = Assert.Throws<InvalidOperationException>(() => model.Fit(Train, settings: Settings(5)));
            Assert.Contains("already running", concurrent.Message);
            Assert.Throws<InvalidOperationException>(() => model.Fit(new float[8, 6, 4], null, Settings(5)));
            Assert.Throws<InvalidOperationException>(() => model.UseBest());
        }
        finally
        {
            release.Set();
        }

        var report = await first;
        Assert.IsType<InvalidOperationException>(reentrant);
        Assert.Equal(3, report.EpochsCompleted);
        Assert.Equal(3, model.EpochsCompleted);
        var straight = TiDHyModel.Create(TestData.SmallOptions(), 5);
        straight.Fit(Train, settings: Settings(3));
        Assert.Equal(Totals(straight.History), Totals(model.History));

        // Once it has returned, the model trains again.
        Assert.Equal(4, model.Fit(Train, settings: Settings(4)).EpochsCompleted);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_progress_callback_that_throws_leaves_the_model_with_the_epochs_it_saved(bool onEpochEnd)
    {
        using var folder = new TestData.TempFolder();
        var model = TiDHyModel.Create(TestData.SmallOptions(), 7);
        var boom = new TimeoutException("the caller's own failure");
        var progress = new TestData.Recorder<TrainingProgress>(p =>
        {
            // Mid-epoch 4 (epochs 1–3 done), or on the batch that completes epoch 3.
            if (onEpochEnd ? p.CompletedEpoch?.Epoch == 3 : p.Epoch == 4 && p.Batch == 1)
            {
                throw boom;
            }
        });
        FitSettings Six(string? checkpoints) => new() { BatchSize = 4, Epochs = 6, Seed = 11, CheckpointDirectory = checkpoints };
        var settings = Six(folder.Path);

        Assert.Same(boom, Assert.Throws<TimeoutException>(() => model.Fit(Train, Validation, settings, progress)));

        var saved = TiDHyModel.LoadCheckpoint(folder.File("last.tidhy.json"));
        Assert.Equal(3, saved.EpochsCompleted);
        Assert.Equal(3, model.EpochsCompleted);
        Assert.Equal(saved.History, model.History);
        Assert.Equal(saved.BestEpoch, model.BestEpoch);
        Assert.Equal(4, model.TrainingBatchSize);
        Assert.Equal(saved.Evaluate(Validation).IHat, model.Evaluate(Validation).IHat);

        // The next Fit continues from there as an uninterrupted one does.
        model.Fit(Train, Validation, Six(null));
        var straight = TiDHyModel.Create(TestData.SmallOptions(), 7);
        straight.Fit(Train, Validation, Six(null));
        Assert.Equal(Totals(straight.History), Totals(model.History));
        Assert.Equal(straight.Evaluate(Validation).IHat, model.Evaluate(Validation).IHat);
    }

    [Fact]
    public void A_Fit_that_diverges_keeps_the_epochs_completed_before_as_the_checkpoint_does()
    {
        using var folder = new TestData.TempFolder();
        // Validation windows whose loss overflows: the first validation, after epoch 3 of 6, diverges.
        var huge = TestData.SineWindows(4, 6, 4);
        for (var w = 0; w < 4; w++)
        {
            for (var t = 0; t < 6; t++)
            {
                for (var d = 0; d < 4; d++)
                {
                    huge[w, t, d] *= 1e200;
                }
            }
        }

        var model = TiDHyModel.Create(TestData.SmallOptions(), 7);
        var settings = new FitSettings { BatchSize = 4, Epochs = 6, Seed = 11, ValidateEvery = 3, CheckpointDirectory = folder.Path };
        Assert.ThrowsAny<InvalidOperationException>(() => model.Fit(Train, huge, settings));

        var saved = TiDHyModel.LoadCheckpoint(folder.File("last.tidhy.json"));
        Assert.Equal(2, saved.EpochsCompleted);
        Assert.Equal(2, model.EpochsCompleted);
        Assert.Equal(saved.History, model.History);
        Assert.Equal(saved.Evaluate(Validation).IHat, model.Evaluate(Validation).IHat);
    }
}
