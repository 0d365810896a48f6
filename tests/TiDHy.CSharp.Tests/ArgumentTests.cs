using TiDHy.CSharp;

namespace TiDHy.CSharp.Tests;

public class ArgumentTests
{
    private static readonly TiDHyModel Model = TiDHyModel.Create(TestData.SmallOptions(), 1);

    [Fact]
    public void Null_arguments_throw_ArgumentNullException_naming_the_parameter()
    {
        Assert.Throws<ArgumentNullException>("options", () => TiDHyModel.Create(null!, 1));
        Assert.Throws<ArgumentNullException>("options", () => TiDHyModel.ImportTorch(null!, "x.json"));
        Assert.Throws<ArgumentNullException>("stateDictPath", () => TiDHyModel.ImportTorch(TestData.SmallOptions(), null!));
        Assert.Throws<ArgumentNullException>("path", () => TiDHyModel.LoadCheckpoint(null!));
        Assert.Throws<ArgumentNullException>("expected", () => TiDHyModel.LoadCheckpoint("x.json", null!));
        Assert.Throws<ArgumentNullException>("train", () => Model.Fit(null!));
        Assert.Throws<ArgumentNullException>("x", () => Model.Infer(null!, new double[1, 3], new double[1, 2]));
        Assert.Throws<ArgumentNullException>("previousR", () => Model.Infer(new double[1, 4], null!, new double[1, 2]));
        Assert.Throws<ArgumentNullException>("previousR2", () => Model.Infer(new double[1, 4], new double[1, 3], null!));
        Assert.Throws<ArgumentNullException>("x", () => Model.InferFirstStep((double[,])null!));
        Assert.Throws<ArgumentNullException>("windows", () => Model.Evaluate((double[,,])null!));
        Assert.Throws<ArgumentNullException>("train", () => Model.Fit((float[,,])null!, null));
        Assert.Throws<ArgumentNullException>("x", () => Model.Infer(null!, new float[1, 3], new float[1, 2]));
        Assert.Throws<ArgumentNullException>("previousR2", () => Model.Infer(new float[1, 4], new float[1, 3], null!));
        Assert.Throws<ArgumentNullException>("x", () => Model.InferFirstStep((float[,])null!));
        Assert.Throws<ArgumentNullException>("windows", () => Model.Evaluate((float[,,])null!));
        Assert.Throws<ArgumentNullException>("path", () => Model.SaveCheckpoint(null!));
        Assert.Throws<ArgumentNullException>("path", () => Model.ExportStateDict(null!));
    }

    [Fact]
    public void Invalid_options_throw_ArgumentException_naming_the_parameter_and_the_property()
    {
        var o = TestData.SmallOptions();
        o.HypernetworkHiddenDimension = -1;
        var e = Assert.Throws<ArgumentException>("options", () => TiDHyModel.Create(o, 1));
        Assert.Contains("HypernetworkHiddenDimension (hyper_hid_dim) = -1", e.Message);
    }

    [Fact]
    public void Misshapen_arrays_throw_ArgumentException_naming_the_CSharp_parameter_and_the_shapes()
    {
        var x = Assert.Throws<ArgumentException>("x", () => Model.Infer(new double[2, 5], new double[2, 3], new double[2, 2]));
        Assert.Contains("[2; 5]", x.Message);
        var r = Assert.Throws<ArgumentException>("previousR", () => Model.Infer(new double[2, 4], new double[3, 3], new double[2, 2]));
        Assert.StartsWith("previousR:", r.Message);
        Assert.Contains("[3; 3]", r.Message);
        Assert.Throws<ArgumentException>("previousR2", () => Model.Infer(new double[2, 4], new double[2, 3], new double[2, 1]));
        Assert.Throws<ArgumentException>("windows", () => Model.Evaluate(new double[2, 6, 3]));
        Assert.Throws<ArgumentException>("train", () => Model.Fit(new double[2, 6, 5]));
        Assert.Throws<ArgumentException>("validation", () => Model.Fit(TestData.SineWindows(2, 6, 4), new double[2, 6, 5]));
    }

    [Fact]
    public void Non_finite_data_throws_ArgumentException_naming_the_parameter()
    {
        var windows = TestData.SineWindows(2, 6, 4);
        windows[1, 2, 3] = double.NaN;
        var e = Assert.Throws<ArgumentException>("train", () => Model.Fit(windows));
        Assert.Contains("NaN", e.Message);
        Assert.Throws<ArgumentException>("windows", () => Model.Evaluate(windows));
    }

    [Fact]
    public void Settings_out_of_range_throw_ArgumentException_naming_settings()
    {
        var train = TestData.SineWindows(2, 6, 4);
        Assert.Throws<ArgumentException>("settings", () => Model.Fit(train, settings: new FitSettings { BatchSize = 0, Epochs = 1 }));
        Assert.Throws<ArgumentException>("settings", () => Model.Fit(train, settings: new FitSettings { Epochs = -1 }));
        Assert.Throws<ArgumentException>("settings", () => Model.Fit(train, settings: new FitSettings { Epochs = 1, ValidateEvery = -1 }));
    }
}
