// TiDHy from C#: train on a synthetic series whose dynamics switch between a slow and a fast
// oscillation, evaluate, save a checkpoint and load it back. Uses only the TiDHy.CSharp facade.
// Run: dotnet run --project examples/csharp/QuickStart [-- epochs]
using TiDHy.CSharp;

var epochs = args.Length > 0 ? int.Parse(args[0]) : 15;
const int features = 6, windowLength = 20;

// A [time, features] series: two latent sines whose mixture switches every 40 steps, seen through
// a fixed linear map, plus a little noise.
var series = SineMixture(time: 480, features, seed: 1);
var windows = TiDHyData.Windows(series, windowLength, step: windowLength);
var train = Slice(windows, 0, 20);
var validation = Slice(windows, 20, windows.GetLength(0));

var options = new TiDHyOptions(features)
{
    RDim = 4,
    R2Dim = 2,
    MixDim = 5,
    HyperHidDim = 16,
    MaxIter = 50,
    SequenceLength = windowLength,
    Overlap = windowLength,
    Convergence = Convergence.PerSample,
};
var model = TiDHyModel.Create(options, seed: 42);
Console.WriteLine($"{train.GetLength(0)} training and {validation.GetLength(0)} validation windows of {windowLength} steps, {features} features.");

var before = model.Evaluate(validation);
var report = model.Fit(
    train,
    validation,
    new FitSettings { BatchSize = 5, Epochs = epochs, Seed = 7 },
    new ConsoleProgress()
);
Console.WriteLine($"Best epoch {report.BestEpoch} (validation objective {report.BestScore:F4}).");

model.UseBest();
var after = model.Evaluate(validation);
Console.WriteLine($"Reconstruction loss per window: {before.SpatialLossRHatAverage:F4} before training, {after.SpatialLossRHatAverage:F4} after.");
Console.WriteLine($"Prediction loss per window:     {before.SpatialLossRBarAverage:F4} before training, {after.SpatialLossRBarAverage:F4} after.");
// The first two validation windows come from a slow stretch of the series, the last two from a fast one.
Console.WriteLine($"Mean mixture weights W per validation window (W is [windows, time, mixtures] = [{after.W.GetLength(0)}, {after.W.GetLength(1)}, {after.W.GetLength(2)}]):");
for (var i = 0; i < after.W.GetLength(0); i++)
{
    var w = Enumerable.Range(0, options.MixDim)
        .Select(k => Enumerable.Range(0, windowLength).Average(t => after.W[i, t, k]).ToString("F3").PadLeft(7));
    Console.WriteLine($"  window {i} ({(i < 2 ? "slow" : "fast")}): {string.Join(" ", w)}");
}

var path = Path.Combine(Path.GetTempPath(), $"tidhy-quickstart-{Environment.ProcessId}.tidhy.json");
model.SaveCheckpoint(path);
var reloaded = TiDHyModel.LoadCheckpoint(path);
var same = reloaded.Evaluate(validation, model.TrainingBatchSize).SpatialLossRHatAverage == after.SpatialLossRHatAverage;
Console.WriteLine($"Saved {path} and loaded it back: {reloaded.EpochsCompleted} epochs, same evaluation: {same}.");
File.Delete(path);
return same ? 0 : 1;

static double[,] SineMixture(int time, int features, int seed)
{
    var random = new Random(seed);
    var map = new double[features, 2];
    for (var d = 0; d < features; d++)
    {
        map[d, 0] = random.NextDouble() - 0.5;
        map[d, 1] = random.NextDouble() - 0.5;
    }

    var x = new double[time, features];
    for (var t = 0; t < time; t++)
    {
        var fast = (t / 40) % 2 == 1;
        var a = Math.Sin((fast ? 0.6 : 0.15) * t);
        var b = Math.Cos((fast ? 0.6 : 0.15) * t);
        for (var d = 0; d < features; d++)
        {
            x[t, d] = (map[d, 0] * a) + (map[d, 1] * b) + (0.02 * (random.NextDouble() - 0.5));
        }
    }

    return x;
}

// Non-overlapping windows [count, length, features] of a [time, features] series.
static double[,,] Slice(double[,,] windows, int from, int to)
{
    var (length, features) = (windows.GetLength(1), windows.GetLength(2));
    var s = new double[to - from, length, features];
    for (var i = from; i < to; i++)
    {
        for (var t = 0; t < length; t++)
        {
            for (var d = 0; d < features; d++)
            {
                s[i - from, t, d] = windows[i, t, d];
            }
        }
    }

    return s;
}

// Prints one line per completed epoch. Reports arrive on the training thread, in order
// (a Progress<T> would post them to the thread pool instead).
sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress p)
    {
        if (p.CompletedEpoch is { } e)
        {
            Console.WriteLine(
                $"epoch {e.Epoch + 1,3}/{p.Epochs}: train loss {e.Train.Total,9:F4}, validation {e.Validation,9:F4}, {e.Duration.TotalMilliseconds,5:F0} ms"
            );
        }
    }
}
