// A consumer of the TiDHy.CSharp package: its own fixed-size kernel is generated (by the generator
// that the package carries) and chosen for a configuration it matches; one that it does not match
// gets the library's kernel.
using TiDHy.CSharp;
using TiDHy.Kernels;

var options = new TiDHyOptions(3) { RDimension = 2, R2Dimension = 2, MixtureDimension = 3, HypernetworkHiddenDimension = 4, MaxIterations = 20 };
var model = TiDHyModel.Create(options, seed: 1);
var windows = new double[6, 8, 3];
for (var w = 0; w < 6; w++)
{
    for (var t = 0; t < 8; t++)
    {
        for (var d = 0; d < 3; d++)
        {
            windows[w, t, d] = Math.Sin((0.4 * ((w * 8) + t)) + d);
        }
    }
}

var report = model.Fit(windows, null, new FitSettings { BatchSize = 3, Epochs = 2 });
var evaluation = model.Evaluate(windows);
var other = TiDHyModel.Create(new TiDHyOptions(4) { RDimension = 2, R2Dimension = 2, MixtureDimension = 3, HypernetworkHiddenDimension = 4 }, seed: 1);

// ConsumerKernel.Variant exists only if the generator ran on this project.
Console.WriteLine($"generated: {ConsumerKernel.Variant.Name}");
Console.WriteLine($"kernel for input_dim 3: {model.InferenceKernel}");
Console.WriteLine($"kernel for input_dim 4: {other.InferenceKernel}");
Console.WriteLine($"fit {report.EpochsCompleted} epochs; evaluation W [{evaluation.W.GetLength(0)}, {evaluation.W.GetLength(1)}, {evaluation.W.GetLength(2)}], L_hat {evaluation.SpatialLossRHatAverage:G4}");
return model.InferenceKernel == typeof(ConsumerKernel).FullName && other.InferenceKernel != typeof(ConsumerKernel).FullName ? 0 : 1;

/// <summary>This app's kernel: MSE, linear decoder, every size fixed.</summary>
[TiDHyKernel(Loss = KernelLoss.Mse, Decoder = KernelDecoder.Linear, LowRank = KernelSwitch.Off, DynBias = KernelSwitch.Off,
    R2Decoder = KernelSwitch.Off, D = 3, R = 2, R2 = 2, M = 3, H = 4)]
public static partial class ConsumerKernel
{
}
