using F = TiDHy.Functional;

namespace TiDHy.CSharp;

// The learned dynamics as arrays: the mixture basis V_k and the mixed V_t of given r2 (TiDHyModel.cs holds the rest).
public sealed partial class TiDHyModel
{
    /// <summary>
    /// The <see cref="TiDHyOptions.MixtureDimension"/> learned dynamics matrices <c>V_k</c>, the basis that the
    /// hypernetwork mixes into each step's <c>V_t = Σ_k w_k·V_k</c> (with <see cref="TiDHyOptions.LowRankTemporal"/>,
    /// <c>V_k = U_k·U_kᵀ</c>). A new array on each call.
    /// </summary>
    /// <returns><c>V_k</c>: <c>[MixtureDimension, RDimension, RDimension]</c>, <c>[k, i, j]</c> the entry <c>(i, j)</c> of <c>V_k</c>.</returns>
    public double[,,] DynamicsMatrices()
    {
        var vs = F.Model.dynamicsMatrices(state.Params);
        var r = config.RDim;
        var result = new double[vs.Length, r, r];
        for (var k = 0; k < vs.Length; k++)
        {
            for (var i = 0; i < r; i++)
            {
                for (var j = 0; j < r; j++)
                {
                    result[k, i, j] = vs[k][i, j];
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The dynamics <c>V_t = Σ_k w_k·V_k</c> that the model predicts with for each row of higher-order
    /// latents <paramref name="r2"/>, with the mixture weights <c>w = hypernet(r2)[0:M]</c> (see
    /// <see cref="DynamicsMatrices"/>). For the steps of an evaluation, <see cref="Evaluation.Ut"/> holds them already.
    /// </summary>
    /// <param name="r2">Higher-order latents <c>[batch, R2Dimension]</c>, e.g. <see cref="InferenceResult.R2"/>.</param>
    /// <returns><c>V_t</c>: <c>[batch, RDimension, RDimension]</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="r2"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="r2"/> does not have <see cref="TiDHyOptions.R2Dimension"/> columns.</exception>
    public double[,,] DynamicsAt(double[,] r2)
    {
        ArgumentNullException.ThrowIfNull(r2);
        var previousR = new double[r2.GetLength(0), config.RDim];
        return Interop.Call(() => F.Model.temporalPrediction(config, state.Params, previousR, r2), null, ("r2", nameof(r2))).Vt;
    }
}
