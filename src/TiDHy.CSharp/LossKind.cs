namespace TiDHy.CSharp;

/// <summary>The elementwise observation loss (upstream <c>loss_type</c>).</summary>
public enum LossKind
{
    /// <summary>Squared error <c>(pred − obs)²</c> (upstream "MSE").</summary>
    Mse,

    /// <summary>Binary cross-entropy; the decoder ends in a sigmoid (upstream "BCE").</summary>
    Bce,

    /// <summary>Poisson negative log-likelihood <c>pred − obs·log pred</c> (upstream "Poisson").</summary>
    Poisson,
}
