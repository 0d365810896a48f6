// Quickstart: TiDHy from C# through the TiDHy.CSharp facade. Run from a clone with
// `dotnet run --project examples/csharp/QuickStart -c Release`, or paste into a console app
// that references the TiDHy.CSharp package.
using TiDHy.CSharp;

// A series [time, features] in a CSV file: sines whose frequency switches every 40 steps.
var csv = Path.Combine(Path.GetTempPath(), $"tidhy-quickstart-{Environment.ProcessId}.csv");
var x = new double[480, 6];
for (var t = 0; t < 480; t++)
{
    for (var d = 0; d < 6; d++)
    {
        x[t, d] = Math.Sin(((t / 40 % 2 == 0 ? 0.15 : 0.6) * t) + d);
    }
}

TiDHyData.SaveSeries(csv, x);

var series = TiDHyData.LoadSeries(csv);                        // [time, features]; .csv, .npy or .npz
var windows = TiDHyData.Windows(series, length: 20, step: 20); // [24 windows, 20 steps, 6 features]
var options = new TiDHyOptions(series.GetLength(1))
{
    RDimension = 4,
    R2Dimension = 2,
    MixtureDimension = 5,
    HypernetworkHiddenDimension = 16,
    MaxIterations = 50,
    SequenceLength = 20,
    Overlap = 20,
    Convergence = Convergence.PerSample,
};
var model = TiDHyModel.Create(options, seed: 42);
var before = model.Evaluate(windows);
var report = model.Fit(windows, validation: null, new FitSettings { BatchSize = 6, Epochs = 10 }, new ConsoleProgress());
model.UseBest();
var after = model.Evaluate(windows); // in batches of the training batch size, as inference ran in training
Console.WriteLine($"best epoch {report.BestEpoch}; reconstruction loss per window {before.SpatialLossRHatAverage:F4} -> {after.SpatialLossRHatAverage:F4}");
Console.WriteLine($"W is [windows, steps, mixtures] = [{after.W.GetLength(0)}, {after.W.GetLength(1)}, {after.W.GetLength(2)}]; inference runs in {model.InferenceKernel}");

var checkpoint = Path.ChangeExtension(csv, ".tidhy.json");
model.SaveCheckpoint(checkpoint); // the whole training state; a later Fit continues exactly
var reloaded = TiDHyModel.LoadCheckpoint(checkpoint);
var same = reloaded.Evaluate(windows, model.TrainingBatchSize).SpatialLossRHatAverage == after.SpatialLossRHatAverage;
Console.WriteLine($"checkpoint reloaded: {reloaded.EpochsCompleted} epochs, same evaluation: {same}");
File.Delete(csv);
File.Delete(checkpoint);
return same && after.SpatialLossRHatAverage < before.SpatialLossRHatAverage ? 0 : 1;

// One line per completed epoch, on the training thread (a Progress<T> would post to the thread pool).
sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress p)
    {
        if (p.CompletedEpoch is not null)
        {
            Console.WriteLine(p);
        }
    }
}
