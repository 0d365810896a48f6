using System;
using System.ComponentModel;

namespace TiDHy.Kernels;

/// <summary>
/// The run-time settings of one inference call: the model options and MODEL.md's scalars.
/// Infrastructure for generated kernels (TiDHy.Functional fills it from a configuration).
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record InferenceSettings
{
    /// <summary>The model options, all concrete (no <c>Any</c>).</summary>
    public KernelOptions Options { get; init; } = new(
        KernelLoss.Mse, KernelDecoder.Linear, KernelSwitch.Off, KernelSwitch.Off, KernelSwitch.Off, KernelScaling.BatchMean, KernelConvergence.Batch);
    /// <summary>max_iter (≥ 10).</summary>
    public int MaxIter { get; init; } = 2000;
    /// <summary>tol.</summary>
    public double Tol { get; init; } = 0.01;
    /// <summary>lr_r.</summary>
    public double LrR { get; init; } = 0.2;
    /// <summary>lr_r2.</summary>
    public double LrR2 { get; init; } = 0.2;
    /// <summary>temp_weight.</summary>
    public double TempWeight { get; init; } = 2.0;
    /// <summary>lmda_r.</summary>
    public double LmdaR { get; init; }
    /// <summary>lmda_r2.</summary>
    public double LmdaR2 { get; init; }
    /// <summary>L1_inf_w.</summary>
    public double L1InfW { get; init; }
    /// <summary>L1_inf_r.</summary>
    public double L1InfR { get; init; }
    /// <summary>L1_inf_r2.</summary>
    public double L1InfR2 { get; init; }
    /// <summary>saturate_r_method: applied to r after each step's shrinkage (and after each step of inf_first_step).</summary>
    public InferenceSaturation SaturateR { get; init; }
    /// <summary>saturate_r2_method: applied to r2 after each step's shrinkage.</summary>
    public InferenceSaturation SaturateR2 { get; init; }
    /// <summary>saturate_r_scale (&gt; 0): the scale of <see cref="InferenceSaturation.ScaledTanh"/> for r.</summary>
    public double SaturateRScale { get; init; } = 5.0;
    /// <summary>saturate_r2_scale (&gt; 0): the scale of <see cref="InferenceSaturation.ScaledTanh"/> for r2.</summary>
    public double SaturateR2Scale { get; init; } = 3.0;
    /// <summary>Worker threads at most; 0 = one per core (or <c>TIDHY_KERNEL_THREADS</c>).</summary>
    public int Threads { get; init; }

    /// <summary>How the call's synchronised loop is scheduled (results never depend on it); the automatic choice by default.</summary>
    public KernelSchedule Schedule { get; init; } = KernelSchedule.Automatic;

    /// <summary>A copy with <see cref="Threads"/> = <paramref name="threads"/>.</summary>
    public InferenceSettings WithThreads(int threads) => this with { Threads = threads };

    /// <summary>A copy with <see cref="Schedule"/> = <paramref name="schedule"/>.</summary>
    public InferenceSettings WithSchedule(KernelSchedule schedule) => this with { Schedule = schedule };

    /// <summary>Raises <see cref="ArgumentException"/> naming the first impossible setting.</summary>
    public void Validate()
    {
        if (!Options.IsConcrete)
            throw new ArgumentException($"InferenceSettings.Options = {Options}: every option must be concrete, not Any.");
        if (MaxIter < 10) throw new ArgumentException($"InferenceSettings.MaxIter = {MaxIter}: must be at least 10.");
        if (Threads < 0) throw new ArgumentException($"InferenceSettings.Threads = {Threads}: must be >= 0.");
        if (Schedule is null) throw new ArgumentException("InferenceSettings.Schedule: must not be null.");
        Schedule.Validate();
        if (!Enum.IsDefined(SaturateR)) throw new ArgumentException($"InferenceSettings.SaturateR = {SaturateR}: not a saturation method.");
        if (!Enum.IsDefined(SaturateR2)) throw new ArgumentException($"InferenceSettings.SaturateR2 = {SaturateR2}: not a saturation method.");
        if (!(SaturateRScale > 0.0) || double.IsInfinity(SaturateRScale)) throw new ArgumentException($"InferenceSettings.SaturateRScale = {SaturateRScale}: must be a positive finite number.");
        if (!(SaturateR2Scale > 0.0) || double.IsInfinity(SaturateR2Scale)) throw new ArgumentException($"InferenceSettings.SaturateR2Scale = {SaturateR2Scale}: must be a positive finite number.");
    }

    /// <summary>The step size of <c>r</c> at iteration <paramref name="i"/>: <see cref="ModelConstants.RStepSize"/> of lr_r and max_iter.</summary>
    public double RStepSize(int i) => ModelConstants.RStepSize(LrR, MaxIter, i);
}

/// <summary>A bounding function applied to a latent after each inference step (a run-time setting, not a kernel variant).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public enum InferenceSaturation
{
    /// <summary>None: the identity.</summary>
    None,
    /// <summary>1/(1 + e^(−v)).</summary>
    Sigmoid,
    /// <summary>tanh(v).</summary>
    Tanh,
    /// <summary>s·tanh(v/s) with the setting's scale s.</summary>
    ScaledTanh,
}

/// <summary>A latent of the inner optimisation, as named in a divergence report.</summary>
public enum InferenceQuantity
{
    /// <summary>No latent (the call did not diverge).</summary>
    None,
    /// <summary><c>r</c>.</summary>
    R,
    /// <summary><c>r2</c>.</summary>
    R2,
}

/// <summary>What an inference call reports besides its outputs.</summary>
/// <param name="Iterations">Loop iterations run (at most max_iter; the diverging one included).</param>
/// <param name="Converged">True when it stopped on the tolerance (never when it diverged).</param>
/// <param name="DivergedIteration">0, or the iteration (from 1) after which a latent of a sample was first not finite; the call stopped there.</param>
/// <param name="DivergedSample">-1, or the first sample (from 0, batch order) whose latent was not finite after <paramref name="DivergedIteration"/>.</param>
/// <param name="DivergedQuantity">The latent of that sample that was not finite (<c>r</c> when both were).</param>
/// <param name="Workers">The workers the call ran on: fewer than it asked for when the pool was smaller or busy (the results are the same).</param>
/// <remarks>Infrastructure for generated kernels.</remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly record struct InferenceStats(
    int Iterations,
    bool Converged,
    int DivergedIteration = 0,
    int DivergedSample = -1,
    InferenceQuantity DivergedQuantity = InferenceQuantity.None,
    int Workers = 1)
{
    /// <summary>True when the call stopped because a latent was not finite.</summary>
    public bool Diverged => DivergedIteration > 0;
}

/// <summary>
/// Inference's inner optimisation overflowed: after an iteration, a latent (<c>r</c> or <c>r2</c>) of a
/// sample held NaN or infinity. Every backend (the reference path and the fused kernels in float64 and
/// float32) raises it, at the iteration where it happens, instead of returning a non-finite or reset state.
/// </summary>
public sealed class InferenceDivergedException : ArithmeticException
{
    /// <summary>A report of <paramref name="operation"/> (<c>inf</c> or <c>inf_first_step</c>) diverging.</summary>
    /// <param name="operation">The inference function: <c>inf</c> or <c>inf_first_step</c>.</param>
    /// <param name="iteration">The iteration (from 1) after which the latent was first not finite.</param>
    /// <param name="maxIter">max_iter.</param>
    /// <param name="sample">The first sample (from 0, batch order) with a non-finite latent.</param>
    /// <param name="quantity">The latent that was not finite.</param>
    public InferenceDivergedException(string operation, int iteration, int maxIter, int sample, InferenceQuantity quantity)
        : base(Describe(operation, iteration, maxIter, sample, quantity))
    {
        Operation = operation;
        Iteration = iteration;
        MaxIter = maxIter;
        Sample = sample;
        Quantity = quantity;
    }

    /// <summary>The inference function: <c>inf</c> or <c>inf_first_step</c>.</summary>
    public string Operation { get; }
    /// <summary>The iteration (from 1) after which the latent was first not finite.</summary>
    public int Iteration { get; }
    /// <summary>max_iter of the call.</summary>
    public int MaxIter { get; }
    /// <summary>The first sample (from 0, batch order) with a non-finite latent.</summary>
    public int Sample { get; }
    /// <summary>The latent that was not finite.</summary>
    public InferenceQuantity Quantity { get; }

    private static string Describe(string operation, int iteration, int maxIter, int sample, InferenceQuantity quantity)
    {
        string name = quantity == InferenceQuantity.R2 ? "r2" : "r";
        return $"Inference diverged: {operation} iteration {iteration} (of max_iter {maxIter}) left {name} of sample {sample} not finite (NaN or infinity). "
            + "The inner optimisation overflowed; lower lr_r / lr_r2, or check the parameters and the scale of the data.";
    }
}

/// <summary>
/// A generated fused inference kernel. All arrays are row-major: <c>x [batch×D]</c>, <c>rP [batch×R]</c>,
/// <c>r2 [batch×R2]</c>, outputs <c>r [batch×R]</c>, <c>r2 [batch×R2]</c>, <c>rHat [batch×R]</c> (the temporal
/// prediction <c>temporal_prediction(rP, r2).r̂</c> with the final r2, which the training objective needs next),
/// <c>sampleIterations [batch]</c>. Infrastructure for generated kernels: each generated kernel class
/// derives one; TiDHy.Functional chooses and calls them.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class InferenceKernel
{
    /// <summary>What the kernel is specialised for.</summary>
    public abstract KernelVariant Variant { get; }

    /// <summary>MODEL.md's <c>inf</c> in float32.</summary>
    public abstract InferenceStats Infer(KernelWeights<float> w, InferenceSettings s, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> rP, ReadOnlySpan<float> r2Init, Span<float> r, Span<float> r2, Span<float> rHat, Span<int> sampleIterations);

    /// <summary>MODEL.md's <c>inf</c> in float64.</summary>
    public abstract InferenceStats Infer(KernelWeights<double> w, InferenceSettings s, int batch, ReadOnlySpan<double> x, ReadOnlySpan<double> rP, ReadOnlySpan<double> r2Init, Span<double> r, Span<double> r2, Span<double> rHat, Span<int> sampleIterations);

    /// <summary>MODEL.md's <c>inf_first_step</c> in float32.</summary>
    public abstract InferenceStats InferFirstStep(KernelWeights<float> w, InferenceSettings s, int batch, ReadOnlySpan<float> x, Span<float> r, Span<int> sampleIterations);

    /// <summary>MODEL.md's <c>inf_first_step</c> in float64.</summary>
    public abstract InferenceStats InferFirstStep(KernelWeights<double> w, InferenceSettings s, int batch, ReadOnlySpan<double> x, Span<double> r, Span<int> sampleIterations);

    /// <summary>
    /// The generated training backward pass of this variant (the four terms of the training objective and
    /// their parameter gradients) for <paramref name="shape"/>, in float32 or float64; raises
    /// <see cref="ArgumentException"/> when the variant does not cover <paramref name="shape"/>.
    /// </summary>
    public abstract ITrainingKernel CreateTraining(TrainingShape shape, bool float32);

    /// <summary>The variant's name.</summary>
    public override string ToString() => Variant.Name;
}
