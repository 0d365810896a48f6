namespace TiDHy.Functional

/// The elementwise observation losses `ℓ(pred, obs)` beside their derivatives `∂ℓ/∂pred`, and
/// MODEL.md's batch reduction `⟨·⟩` (sum over features, mean over the batch).
[<RequireQualifiedAccess>]
module Loss =

    /// `(pred − obs)²`.
    let mse (pred: float) (obs: float) = (pred - obs) * (pred - obs)

    /// `∂ mse / ∂pred = 2·(pred − obs)`.
    let mseDerivative (pred: float) (obs: float) = 2.0 * (pred - obs)

    /// `−[obs·log pred + (1 − obs)·log(1 − pred)]`, each log clamped at −100 as PyTorch's BCELoss.
    let bce (pred: float) (obs: float) =
        -(obs * max (log pred) -100.0 + (1.0 - obs) * max (log (1.0 - pred)) -100.0)

    /// PyTorch's BCELoss derivative: `(pred − obs) / max(pred·(1 − pred), 1e-12)`.
    let bceDerivative (pred: float) (obs: float) =
        (pred - obs) / max (pred * (1.0 - pred)) TiDHy.Kernels.ModelConstants.BceGuard

    /// `pred − obs·log pred` (defined for `pred > 0`).
    let poisson (pred: float) (obs: float) = pred - obs * log pred

    /// `∂ poisson / ∂pred = 1 − obs/pred`.
    let poissonDerivative (pred: float) (obs: float) = 1.0 - obs / pred

    /// The loss of `kind`.
    let element (kind: LossKind) : float -> float -> float =
        match kind with
        | LossKind.MSE -> mse
        | LossKind.BCE -> bce
        | LossKind.Poisson -> poisson

    /// The derivative `∂ℓ/∂pred` of the loss of `kind`.
    let derivative (kind: LossKind) : float -> float -> float =
        match kind with
        | LossKind.MSE -> mseDerivative
        | LossKind.BCE -> bceDerivative
        | LossKind.Poisson -> poissonDerivative

    /// Elementwise losses of `pred` and `obs`, both `[batch; D]`; returns `[batch; D]`.
    let elementwise (kind: LossKind) (pred: float[,]) (obs: float[,]) =
        let f = element kind
        Array2D.init (Array2D.length1 pred) (Array2D.length2 pred) (fun b d -> f pred[b, d] obs[b, d])

    /// `⟨a⟩` of a `[batch; n]` array: the sum over `n`, averaged over the batch.
    let batchMean (a: float[,]) =
        let mutable s = 0.0
        a |> Array2D.iter (fun v -> s <- s + v)
        s / float (Array2D.length1 a)

    /// `⟨ℓ(pred, obs)⟩` for `pred`, `obs` `[batch; D]`.
    let batch (kind: LossKind) (pred: float[,]) (obs: float[,]) = batchMean (elementwise kind pred obs)

/// The four terms of TiDHy's training objective (MODEL.md "The training objective"), as one record
/// for every place that holds them: a step's and a window's losses (`LossTerms<float>`), the terms
/// with their parameter gradients (`LossTerms<Term>`), a training step's metrics, an epoch's means
/// and the checkpoint's history.
type LossTerms<'T> =
    {
        /// `L_hat`: the loss of `decode(r)` against the data (upstream `spatial_loss_rhat`).
        SpatialLossRHat: 'T
        /// `L_bar`: the loss of `decode(r̂)` against the data (upstream `spatial_loss_rbar`).
        SpatialLossRBar: 'T
        /// The temporal term `⟨(r − r̂)²⟩`: weighted by `temp_weight` in window totals, not yet in a
        /// single step's losses (upstream `temp_loss`).
        TempLoss: 'T
        /// `L_r2`: the r2 decoder's term (0 without the r2 decoder; upstream `r2_losses`).
        R2Loss: 'T
    }

/// Operations on `LossTerms`.
[<RequireQualifiedAccess>]
module LossTerms =

    /// Upstream's names of the four terms, in field order.
    let names = [ "spatial_loss_rhat"; "spatial_loss_rbar"; "temp_loss"; "r2_losses" ]

    /// The four terms in field order.
    let toList (t: LossTerms<'T>) =
        [ t.SpatialLossRHat; t.SpatialLossRBar; t.TempLoss; t.R2Loss ]

    /// The terms from four values in field order.
    let ofList (values: 'T list) : LossTerms<'T> =
        match values with
        | [ hat; bar; temp; r2 ] ->
            {
                SpatialLossRHat = hat
                SpatialLossRBar = bar
                TempLoss = temp
                R2Loss = r2
            }
        | _ -> invalidArg (nameof values) $"values: expected 4 terms, got {List.length values}."

    /// `f` applied to each term.
    let map (f: 'T -> 'U) (t: LossTerms<'T>) : LossTerms<'U> =
        {
            SpatialLossRHat = f t.SpatialLossRHat
            SpatialLossRBar = f t.SpatialLossRBar
            TempLoss = f t.TempLoss
            R2Loss = f t.R2Loss
        }

    /// `f` applied to each pair of terms.
    let map2 (f: 'T -> 'U -> 'V) (a: LossTerms<'T>) (b: LossTerms<'U>) : LossTerms<'V> =
        {
            SpatialLossRHat = f a.SpatialLossRHat b.SpatialLossRHat
            SpatialLossRBar = f a.SpatialLossRBar b.SpatialLossRBar
            TempLoss = f a.TempLoss b.TempLoss
            R2Loss = f a.R2Loss b.R2Loss
        }

    /// All terms 0.
    let zero: LossTerms<float> = ofList [ 0.0; 0.0; 0.0; 0.0 ]

    /// `L_hat + L_bar + TempLoss + L_r2`, summed in field order.
    let sum (t: LossTerms<float>) =
        t.SpatialLossRHat + t.SpatialLossRBar + t.TempLoss + t.R2Loss
