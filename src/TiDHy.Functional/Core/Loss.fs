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
