namespace TiDHy.Functional

/// A series cut into three consecutive parts, each `[time_i; features]`, in time order.
type SeriesSplit =
    {
        /// The first part, `[trainLength; features]`.
        Train: float[,]
        /// The middle part, `[valLength; features]`.
        Val: float[,]
        /// The last part, `[testLength; features]`.
        Test: float[,]
    }

/// Which per-feature statistics a `Normalisation` was fitted with.
[<RequireQualifiedAccess>]
type NormalisationKind =
    /// `(x − mean) / std` (population standard deviation).
    | ZScore
    /// `x / max|x|`.
    | MaxAbs

/// A fitted per-feature affine transform `x ↦ (x − Offset) / Scale`, kept so that the same
/// transform applies to validation and test data and can be inverted.
type Normalisation =
    {
        /// The statistics it was fitted with.
        Kind: NormalisationKind
        /// Subtracted from each feature, `[features]` (zeros for `MaxAbs`).
        Offset: float[]
        /// Each feature is divided by this, `[features]`; never zero.
        Scale: float[]
    }

/// Series `[time; features]`: checks, windows, splits and per-feature normalisation. Pure
/// functions: inputs are never modified.
[<RequireQualifiedAccess>]
module Series =

    /// Checks that `series` `[time; features]` is non-null, has at least one time step and one
    /// feature, and only finite entries; the ArgumentException names `name`, and the row and
    /// column of the first non-finite entry.
    val checkSeries: name: string -> series: float[,] -> unit

    /// The number of windows of `length` steps, starting `stride` apart, that fit in `time` steps:
    /// `(time − length) / stride + 1` when `time >= length`, else 0.
    val windowCountStrided: length: int -> stride: int -> time: int -> int

    /// The number of windows `windows length shared` cuts from `time` steps: consecutive windows
    /// share `shared` steps and start `length − shared` apart; 0 when `time < length`. `shared` is not
    /// `Config.Overlap` (a stride): count training's windows with `windowCountStrided length
    /// cfg.Overlap time`.
    val windowCount: length: int -> shared: int -> time: int -> int

    /// The time steps at the end of a `time`-step series that no window of `windows length shared`
    /// covers (the dropped tail): `time − (start of the last window + length)`, or `time` when no
    /// window fits. `shared` is not `Config.Overlap` (see `windows`).
    val droppedSteps: length: int -> shared: int -> time: int -> int

    /// Why the windows `[count; length; features]` of `windowsStrided length stride` on a series of
    /// `time` steps and `features` features cannot be allocated within `budget` bytes, or `None`:
    /// more values than a .NET array holds, or more bytes than `budget` (`Memory.dataBudgetBytes`,
    /// half the available memory, for `windowsStrided`). Sizes in checked arithmetic.
    val internal windowsSizeError:
        length: int -> stride: int -> time: int -> features: int -> budget: int64 -> string option

    /// Windows `[count; length; features]` of `series` `[time; features]`, window `w` holding steps
    /// `w·stride … w·stride + length − 1`, with `count = windowCountStrided length stride time`.
    /// Training's windows: `windowsStrided cfg.SequenceLength cfg.Overlap series` (`Config.Overlap` is
    /// this stride).
    /// Steps after the last complete window are not in any window (`time − (count − 1)·stride −
    /// length` of them). Upstream's `stack_data(inputs, L, overlap=s)` uses `s` as this stride (its
    /// loop `while len(inputs) > L` also omits a final window that ends exactly on the last step;
    /// here that window is kept).
    /// Raises when no window fits, and (before allocating) when the windows would hold more values
    /// than a .NET array or take more than half the available memory (`windowsSizeError`).
    val windowsStrided: length: int -> stride: int -> series: float[,] -> float[,,]

    /// Windows `[count; length; features]` of `series` `[time; features]`: consecutive windows share
    /// `shared` steps and start `length − shared` apart, `count = windowCount length shared time`;
    /// the same windows as `windowsStrided length (length − shared) series`.
    /// `shared` is NOT `Config.Overlap`: the configuration's `overlap` (upstream's name) is the
    /// stride between window starts, and training's windows are `windowsStrided cfg.SequenceLength
    /// cfg.Overlap series` (as `tidhy train` cuts them); passing `cfg.Overlap` here would give
    /// windows `sequence_length − overlap` apart instead.
    /// A tail that does not fill a window is dropped: `droppedSteps length shared time` tells how
    /// many steps, so callers can report or avoid it. Raises an ArgumentException for `length < 1`,
    /// `shared` outside `[0, length)`, or `time < length`.
    val windows: length: int -> shared: int -> series: float[,] -> float[,,]

    /// Cuts `series` `[time; features]` into consecutive parts of `train`, `val` and `test` steps;
    /// the lengths must be non-negative and sum to `time` exactly, so that nothing is dropped.
    val splitLengths: train: int -> validation: int -> test: int -> series: float[,] -> SeriesSplit

    /// Cuts `series` `[time; features]` into consecutive parts: `floor(trainFraction·time)` steps,
    /// then `floor(validationFraction·time)` steps, then the remaining steps as the test part.
    /// The fractions must be in [0, 1] with a sum of at most 1.
    val splitFractions: trainFraction: float -> validationFraction: float -> series: float[,] -> SeriesSplit

    /// Cuts `series` `[time; features]` into a head and a tail held out for validation:
    /// `Train [time − v; features]`, `Val [v; features]` and an empty `Test`, with `v = round(validationFraction·time)`
    /// rounded to the nearest integer, ties to even (`Math.Round`), so nothing is dropped. Either
    /// part may have 0 steps (`v = 0` for a small fraction or a short series; the head is empty
    /// when `v = time`). `tidhy train --val-fraction` splits this way.
    /// Unlike `splitFractions (1 − f) f`, which floors the training and validation lengths and
    /// leaves the remainder as a test part, the tail split rounds the held-out length and has no
    /// third part. `validationFraction` must be in [0, 1).
    val splitTail: validationFraction: float -> series: float[,] -> SeriesSplit

    /// Fits a z-score normalisation to `series` `[time; features]` (finite, time ≥ 1): `Offset` the
    /// feature means, `Scale` the population standard deviations; a constant feature gets scale 1,
    /// so it is centred only.
    val fitZScore: series: float[,] -> Normalisation

    /// Fits a max-abs normalisation to `series` `[time; features]` (finite, time ≥ 1): `Scale` the
    /// per-feature `max|x|`, `Offset` zeros; an all-zero feature gets scale 1, so it stays zero.
    /// Upstream scales the SLDS observations this way.
    val fitMaxAbs: series: float[,] -> Normalisation

    /// `(x − Offset) / Scale` per feature of `series` `[time; features]`; same shape.
    val normalise: norm: Normalisation -> series: float[,] -> float[,]

    /// The inverse of `normalise`: `x·Scale + Offset` per feature of `series` `[time; features]`.
    val denormalise: norm: Normalisation -> series: float[,] -> float[,]
