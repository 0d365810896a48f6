// Your own data from C# (docs/OWN-DATA.md): a CSV series and a state file, split in time,
// normalised with the training part's statistics, trained with the states' decoding as the
// selection, then evaluated on the test part beside the baselines. Run from a clone with
// `dotnet run --project examples/csharp/OwnData -c Release`, or paste into a console app that
// references the TiDHy.CSharp package (and point the paths at your files).
using TiDHy.CSharp;

var data = Path.Combine(AppContext.BaseDirectory, "data");
var series = TiDHyData.LoadSeries(Path.Combine(data, "series.csv")); // [6000, 3]
var states = TiDHyData.LoadStates(Path.Combine(data, "states.csv")); // [6000, 1]

// Split in time: 70% training, 15% validation, the last 15% test; the states the same way.
var split = TiDHyData.SplitFractions(series, 0.7, 0.15);
var trainSteps = split.Train.GetLength(0);
var validationSteps = split.Validation.GetLength(0);

// Normalise every part with the training part's mean and standard deviation only.
var norm = TiDHyData.FitZScore(split.Train);
var (train, validation, test) = (norm.Apply(split.Train), norm.Apply(split.Validation), norm.Apply(split.Test));
Console.WriteLine($"normalisation: {norm}");

// A small model; training windows of 50 steps starting 25 apart, validation in consecutive windows.
var options = new TiDHyOptions(series.GetLength(1))
{
    RDimension = 4,
    R2Dimension = 2,
    MixtureDimension = 4,
    HypernetworkHiddenDimension = 16,
    MaxIterations = 50,
    SequenceLength = 50,
    Overlap = 25,
    BatchScaling = BatchScaling.PerSample,
    LearningRateR = 0.2 / 16,
    LearningRateR2 = 0.2 / 16,
};
var trainWindows = TiDHyData.Windows(train, length: 50, step: 25);
var validationWindows = TiDHyData.Windows(validation, length: 50, step: 50);
var decoded = validationWindows.GetLength(0) * 50;
var validationStates = new int[decoded, states.GetLength(1)];
for (var t = 0; t < decoded; t++)
{
    for (var s = 0; s < states.GetLength(1); s++)
    {
        validationStates[t, s] = states[trainSteps + t, s];
    }
}

// Train, keeping the epoch whose R2_hat best decodes the validation states on held-out blocks.
var model = TiDHyModel.Create(options, seed: 1);
var report = model.Fit(
    trainWindows,
    validationWindows,
    new FitSettings { BatchSize = 16, Epochs = 6, ValidationStates = validationStates, MonitorEvery = 2, Selection = FitSelection.R2HatAccuracy });
model.UseBest();
Console.WriteLine($"selected epoch {report.BestEpoch} of {report.EpochsCompleted}");

// Evaluate the test part in one continuous pass; decode its states on held-out blocks beside the
// raw input, its delay embedding and the untrained model.
var evaluation = model.EvaluateSeries(test);
var untrained = TiDHyModel.Create(options, seed: 1).EvaluateSeries(test);
var steps = evaluation.R2Hat.GetLength(1);
var testStates = new int[steps, states.GetLength(1)];
for (var t = 0; t < steps; t++)
{
    for (var s = 0; s < states.GetLength(1); s++)
    {
        testStates[t, s] = states[trainSteps + validationSteps + t, s];
    }
}

var labels = TiDHyAnalysis.JointStates(testStates, statesPerSystem: 2);
var rawTest = new double[steps, test.GetLength(1)];
Array.Copy(test, rawTest, rawTest.Length);
var features = new List<DecodingFeature>
{
    new("R2_hat", TiDHyAnalysis.Flatten(evaluation.R2Hat)),
    new("W", TiDHyAnalysis.Flatten(evaluation.W)),
    new("untrained R2_hat", TiDHyAnalysis.Flatten(untrained.R2Hat)),
};
features.AddRange(TiDHyDecoding.BaselineFeatures(rawTest));
var table = TiDHyDecoding.DecodingTable(labels, features, seed: 0);
foreach (var row in table.Rows)
{
    Console.WriteLine($"{row.Name,-18} held-out blocks kNN {row.BlockKnn.Mean:F3} linear {row.BlockLinear.Mean:F3} | random steps kNN {row.RandomKnn.Mean:F3}");
}

Console.WriteLine($"chance {table.ChanceBlock:F3}");

// Timescales without labels: the eigenvalues of V_t, clustered, against the true 25 and 5 steps;
// and the learned basis V_k as arrays.
var truth = new[] { 25.0, 5.0 };
var trained = TiDHyTimescales.EffectiveTimescales(evaluation.Ut, truth: truth);
var before = TiDHyTimescales.EffectiveTimescales(untrained.Ut, truth: truth);
Console.WriteLine($"trained   V_t: {trained.Clusters.Centres.Length} clusters, {trained.Comparison!.Matched} of 2 true timescales matched, precision {trained.Comparison.Precision:F2}");
Console.WriteLine($"untrained V_t: {before.Clusters.Centres.Length} clusters, {before.Comparison!.Matched} of 2 true timescales matched, precision {before.Comparison.Precision:F2}");
var basis = model.DynamicsMatrices();
Console.WriteLine($"V_k: [{basis.GetLength(0)}, {basis.GetLength(1)}, {basis.GetLength(2)}]");
return table.Rows.Length == features.Count && report.BestEpoch is >= 1 and <= 6 ? 0 : 1;
