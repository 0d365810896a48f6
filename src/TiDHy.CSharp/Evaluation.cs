using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// The evaluation record of a batch of windows (<see cref="TiDHyModel.Evaluate(double[,,])"/>): data,
/// reconstructions, one-step-ahead predictions, latents, mixture weights and losses over time.
/// Shapes use <c>B</c> windows of <c>T</c> steps with <c>D</c> features.
/// </summary>
public sealed class Evaluation
{
    private readonly F.EvaluationRecord record;

    private Evaluation(F.EvaluationRecord record) => this.record = record;

    /// <summary>Reconstruction loss <c>Σ_t Σ_d ℓ(IHat, Data)</c>, averaged over the windows.</summary>
    public double SpatialLossRHatAverage => record.SpatialLossRHatAvg;

    /// <summary>One-step-ahead prediction loss <c>Σ_t Σ_d ℓ(IBar, Data)</c>, averaged over the windows.</summary>
    public double SpatialLossRBarAverage => record.SpatialLossRBarAvg;

    /// <summary>Temporal loss <c>temp_weight · Σ_t Σ_i (RHat − RBar)²</c>, averaged over the windows.</summary>
    public double TempLossAverage => record.TempLossAvg;

    /// <summary>The data: <c>[B, T, D]</c>.</summary>
    public double[,,] Data => record.I;

    /// <summary>Reconstructions <c>decode(r)</c>: <c>[B, T, D]</c>.</summary>
    public double[,,] IHat => record.IHat;

    /// <summary>One-step-ahead predictions <c>decode(r̂)</c>: <c>[B, T, D]</c>.</summary>
    public double[,,] IBar => record.IBar;

    /// <summary>Inferred latents <c>r</c>: <c>[B, T, RDimension]</c>.</summary>
    public double[,,] RHat => record.RHat;

    /// <summary>One-step-ahead latent predictions <c>r̂</c>: <c>[B, T, RDimension]</c>.</summary>
    public double[,,] RBar => record.RBar;

    /// <summary>Inferred higher-order latents <c>r2</c>: <c>[B, T, R2Dimension]</c>.</summary>
    public double[,,] R2Hat => record.R2Hat;

    /// <summary>Mixture weights of the dynamics matrices: <c>[B, T, MixtureDimension]</c>.</summary>
    public double[,,] W => record.W;

    /// <summary>The dynamics matrices <c>V_t</c> used by the predictions: <c>[B, T, RDimension, RDimension]</c>.</summary>
    public double[,,,] Ut => record.Ut;

    /// <summary>Dynamic bias weights: <c>[B, T, RDimension]</c> with <see cref="TiDHyOptions.DynamicBias"/>; null without.</summary>
    public double[,,]? B => Interop.ValueOrNull(record.B);

    /// <summary>Temporal errors <c>(RHat − RBar)²</c>: <c>[B, T, RDimension]</c>, 0 at the first step.</summary>
    public double[,,] TempLoss => record.TempLoss;

    /// <summary>Elementwise reconstruction losses <c>ℓ(IHat, Data)</c>: <c>[B, T, D]</c>.</summary>
    public double[,,] SpatialLossRHat => record.SpatialLossRHat;

    /// <summary>Elementwise prediction losses <c>ℓ(IBar, Data)</c>: <c>[B, T, D]</c>.</summary>
    public double[,,] SpatialLossRBar => record.SpatialLossRBar;

    /// <summary>Inference iterations per time step: <c>[T]</c>.</summary>
    public int[] Iterations => record.Iterations;

    /// <summary>Whether each time step's inference converged: <c>[T]</c>.</summary>
    public bool[] Converged => record.Converged;

    internal static Evaluation From(F.EvaluationRecord record) => new(record);
}
