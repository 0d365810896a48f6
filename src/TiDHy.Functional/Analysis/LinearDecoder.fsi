namespace TiDHy.Functional

/// The standardisation of features that scikit-learn's `StandardScaler` fits: each column centred on
/// its mean and divided by its standard deviation.
type FeatureScaler =
    {
        /// The mean of each column of the rows it was fitted on: `[d]`.
        Mean: float[]
        /// The population standard deviation (`ddof = 0`) of each column: `[d]`; 1 for a constant
        /// column, which is then centred and left unscaled.
        Scale: float[]
    }

/// A fitted multinomial logistic regression: `P(class k | x) = softmax_k(Coefficients[k, :]·z + Intercepts[k])`
/// with `z` the standardised features (`Scaler`).
type LinearModel =
    {
        /// The classes, ascending (the distinct training labels): `[K]`.
        Classes: int[]
        /// The weights of each class on the standardised features: `[K; d]` (each column sums to 0
        /// at the optimum, as the penalty makes it).
        Coefficients: float[,]
        /// The intercept of each class: `[K]`, centred to sum 0 (the probabilities do not change
        /// when a constant is added to every intercept, and the intercepts are not penalised).
        Intercepts: float[]
        /// The standardisation fitted on the training rows.
        Scaler: FeatureScaler
        /// The inverse regularisation strength the model was fitted with.
        C: float
        /// The objective evaluations the optimiser made (0 for a single class).
        Evaluations: int
        /// The Euclidean norm of the objective's gradient at the returned parameters: how far from
        /// the optimum the optimiser stopped (0 for a single class).
        GradientNorm: float
    }

/// A linear decoder of discrete labels: multinomial logistic regression with an L2 penalty on
/// standardised features, the objective of scikit-learn's
/// `make_pipeline(StandardScaler(), LogisticRegression(C=c, penalty="l2", multi_class="multinomial", solver="lbfgs"))`:
/// `0.5·‖W‖² + C·Σ_i (logsumexp(z_i) − z_i[y_i])` with `z_i = W·x_i + b`, the intercepts `b` not
/// penalised. The objective is strictly convex in `W` and in the intercepts up to a common shift, so
/// its minimiser is unique once the intercepts are centred; it is found with MathNet.Numerics's
/// `LimitedMemoryBfgsMinimizer` from zero, with the analytic gradient and a log-sum-exp-stable
/// softmax. Equal to scikit-learn's fit on the cases of tests/scripts/make_linear_expected.py.
[<RequireQualifiedAccess>]
module LinearDecoder =

    /// scikit-learn's default inverse regularisation strength: 1.0.
    [<Literal>]
    val defaultC: float = 1.0

    /// The mean and population standard deviation of each column of `x [n; d]` (finite, at least
    /// one row), as scikit-learn's `StandardScaler().fit(x)`; a column it takes as constant
    /// (variance within rounding of 0) gets scale 1.
    val fitScaler: x: float[,] -> FeatureScaler

    /// `(x − Mean) / Scale`, column by column: `x [m; d]` → `[m; d]`.
    val standardise: scaler: FeatureScaler -> x: float[,] -> float[,]

    /// The objective `0.5·‖W‖² + C·Σ_i (logsumexp(z_i) − z_i[y_i])`, `z_i = W·x_i + b`, and its
    /// gradient, on features used as given (not standardised here): `c` > 0, `x [n; d]`,
    /// `y [n]` class indices in `0 … K − 1`, `coefficients [K; d]`, `intercepts [K]` → the value,
    /// the gradient in the coefficients `[K; d]` and in the intercepts `[K]`.
    val objective:
        c: float ->
        x: float[,] ->
        y: int[] ->
        coefficients: float[,] ->
        intercepts: float[] ->
            float * float[,] * float[]

    /// Fits the decoder on `trainX [n; d]` (finite) and `trainY [n]` (any integers) with inverse
    /// regularisation strength `c` (finite, > 0). The optimiser stops when its relative gradient
    /// falls below 1e-10 (or it stops progressing); should it stop early (its 10 000-iteration cap,
    /// a failed line search), the evaluated parameters with the least objective are kept, and
    /// `GradientNorm` says how far from the optimum they are. A single class in `trainY` gives a
    /// model that predicts it with probability 1.
    val fit: c: float -> trainX: float[,] -> trainY: int[] -> LinearModel

    /// The probability of each class (`model.Classes` order) for each row of `x [m; d]` (finite,
    /// the columns of the training rows): `[m; K]`.
    val predictProbabilities: model: LinearModel -> x: float[,] -> float[,]

    /// The most probable class of each row of `x [m; d]` (the first in `model.Classes` on ties, as
    /// NumPy's `argmax`): `[m]`.
    val predict: model: LinearModel -> x: float[,] -> int[]

    /// The share of `testY [m]` that the decoder fitted with `c` on `trainX [n; d]`, `trainY [n]`
    /// predicts from `testX [m; d]`.
    val accuracy: c: float -> trainX: float[,] -> trainY: int[] -> testX: float[,] -> testY: int[] -> float
