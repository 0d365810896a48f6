namespace TiDHy.Functional

open System

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
    let checkSeries (name: string) (series: float[,]) =
        if isNull series then
            nullArg name

        let t = Array2D.length1 series
        let d = Array2D.length2 series

        if t < 1 || d < 1 then
            raise (
                ArgumentException(
                    $"{name}: expected a series [time >= 1; features >= 1], got {Shape.show [ t; d ]}.",
                    name
                )
            )

        for i in 0 .. t - 1 do
            for j in 0 .. d - 1 do
                let v = series[i, j]

                if not (Double.IsFinite v) then
                    raise (
                        ArgumentException(
                            $"{name}: entry [time {i}; feature {j}] is {v}; the series must be finite.",
                            name
                        )
                    )

    let private checkWindowArgs (length: int) (stride: int) (strideName: string) =
        if length < 1 then
            invalidArg (nameof length) $"length: expected >= 1, got {length}."

        if stride < 1 then
            invalidArg strideName $"{strideName}: expected a stride >= 1, got {stride}."

    /// The number of windows of `length` steps, starting `stride` apart, that fit in `time` steps:
    /// `(time − length) / stride + 1` when `time >= length`, else 0.
    let windowCountStrided (length: int) (stride: int) (time: int) =
        checkWindowArgs length stride (nameof stride)

        if time < 0 then
            invalidArg (nameof time) $"time: expected >= 0, got {time}."

        if time < length then 0 else (time - length) / stride + 1

    let private strideOf (length: int) (overlap: int) =
        if overlap < 0 || overlap >= length then
            invalidArg (nameof overlap) $"overlap: expected in [0, length = {length}), got {overlap}."

        length - overlap

    /// The number of windows `windows length overlap` cuts from `time` steps: consecutive windows
    /// start `length − overlap` apart; 0 when `time < length`.
    let windowCount (length: int) (overlap: int) (time: int) =
        if length < 1 then
            invalidArg (nameof length) $"length: expected >= 1, got {length}."

        windowCountStrided length (strideOf length overlap) time

    /// The time steps at the end of a `time`-step series that no window of `windows length overlap`
    /// covers (the dropped tail): `time − (start of the last window + length)`, or `time` when no
    /// window fits.
    let droppedSteps (length: int) (overlap: int) (time: int) =
        let n = windowCount length overlap time

        if n = 0 then
            time
        else
            time - ((n - 1) * (length - overlap) + length)

    /// Why the windows `[count; length; features]` of `windowsStrided length stride` on a series of
    /// `time` steps and `features` features cannot be allocated within `budget` bytes, or `None`:
    /// more values than a .NET array holds, or more bytes than `budget` (`Memory.dataBudgetBytes`,
    /// half the available memory, for `windowsStrided`). Sizes in checked arithmetic.
    let internal windowsSizeError (length: int) (stride: int) (time: int) (features: int) (budget: int64) =
        let count = windowCountStrided length stride time

        let entries, bytes =
            try
                let e = Checked.(*) (Checked.(*) (int64 count) (int64 length)) (int64 features)
                e, Checked.(*) e 8L
            with :? OverflowException ->
                Int64.MaxValue, Int64.MaxValue

        let what =
            $"{count} windows of {length} steps ({stride} apart) x {features} features of a {time}-step series"

        let hint =
            "use a larger step between windows (a smaller overlap), shorter windows or a shorter series"

        if entries > int64 Array.MaxLength then
            Some $"{what} hold {entries} values, more than a .NET array holds ({Array.MaxLength}); {hint}"
        elif bytes > budget then
            Some
                $"{what} need {bytes} bytes ({Memory.gibText bytes}), more than the {budget} bytes ({Memory.gibText budget}) allowed (half the available memory); {hint}"
        else
            None

    /// Windows `[count; length; features]` of `series` `[time; features]`, window `w` holding steps
    /// `w·stride … w·stride + length − 1`, with `count = windowCountStrided length stride time`.
    /// Steps after the last complete window are not in any window (`time − (count − 1)·stride −
    /// length` of them). Upstream's `stack_data(inputs, L, overlap=s)` uses `s` as this stride (its
    /// loop `while len(inputs) > L` also omits a final window that ends exactly on the last step;
    /// here that window is kept).
    /// Raises when no window fits, and (before allocating) when the windows would hold more values
    /// than a .NET array or take more than half the available memory (`windowsSizeError`).
    let windowsStrided (length: int) (stride: int) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        let time = Array2D.length1 series
        let d = Array2D.length2 series
        let count = windowCountStrided length stride time

        if count = 0 then
            invalidArg
                (nameof series)
                $"series: {time} time steps hold no window of length {length}; expected at least {length}."

        match windowsSizeError length stride time d (Memory.dataBudgetBytes ()) with
        | Some reason -> invalidArg (nameof series) $"series: {reason}."
        | None -> ()

        Array3D.init count length d (fun w t j -> series[w * stride + t, j])

    /// Windows `[count; length; features]` of `series` `[time; features]`: consecutive windows start
    /// `length − overlap` apart and share `overlap` steps (`Config.Overlap`), `count = windowCount
    /// length overlap time`. A tail that does not fill a window is dropped: `droppedSteps length
    /// overlap time` tells how many steps, so callers can report or avoid it. Raises an
    /// ArgumentException for `length < 1`, `overlap` outside `[0, length)`, or `time < length`.
    let windows (length: int) (overlap: int) (series: float[,]) =
        if length < 1 then
            invalidArg (nameof length) $"length: expected >= 1, got {length}."

        windowsStrided length (strideOf length overlap) series

    let private rows (series: float[,]) (start: int) (count: int) =
        Array2D.init count (Array2D.length2 series) (fun i j -> series[start + i, j])

    /// Cuts `series` `[time; features]` into consecutive parts of `train`, `val` and `test` steps;
    /// the lengths must be non-negative and sum to `time` exactly, so that nothing is dropped.
    let splitLengths (train: int) (validation: int) (test: int) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        let time = Array2D.length1 series

        for name, v in [ nameof train, train; nameof validation, validation; nameof test, test ] do
            if v < 0 then
                invalidArg name $"{name}: expected a length >= 0, got {v}."

        if train + validation + test <> time then
            invalidArg
                (nameof series)
                $"series: the split lengths train {train} + validation {validation} + test {test} = {train + validation + test} must equal its {time} time steps."

        {
            Train = rows series 0 train
            Val = rows series train validation
            Test = rows series (train + validation) test
        }

    /// Cuts `series` `[time; features]` into consecutive parts: `floor(trainFraction·time)` steps,
    /// then `floor(validationFraction·time)` steps, then the remaining steps as the test part.
    /// The fractions must be in [0, 1] with a sum of at most 1.
    let splitFractions (trainFraction: float) (validationFraction: float) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        for name, v in
            [
                nameof trainFraction, trainFraction
                nameof validationFraction, validationFraction
            ] do
            if not (v >= 0.0 && v <= 1.0) then
                invalidArg name $"{name}: expected a fraction in [0, 1], got {v}."

        if trainFraction + validationFraction > 1.0 then
            invalidArg
                (nameof validationFraction)
                $"validationFraction: trainFraction {trainFraction} + validationFraction {validationFraction} exceeds 1."

        let time = Array2D.length1 series
        let train = int (floor (trainFraction * float time))
        let validation = min (time - train) (int (floor (validationFraction * float time)))
        splitLengths train validation (time - train - validation) series

    /// Cuts `series` `[time; features]` into a head and a tail held out for validation:
    /// `Train [time − v; features]`, `Val [v; features]` and an empty `Test`, with `v = round(validationFraction·time)`
    /// rounded to the nearest integer, ties to even (`Math.Round`), so nothing is dropped. Either
    /// part may have 0 steps (`v = 0` for a small fraction or a short series; the head is empty
    /// when `v = time`). `tidhy train --val-fraction` splits this way.
    /// Unlike `splitFractions (1 − f) f`, which floors the training and validation lengths and
    /// leaves the remainder as a test part, the tail split rounds the held-out length and has no
    /// third part. `validationFraction` must be in [0, 1).
    let splitTail (validationFraction: float) (series: float[,]) : SeriesSplit =
        if isNull series then
            nullArg (nameof series)

        if not (validationFraction >= 0.0 && validationFraction < 1.0) then
            invalidArg
                (nameof validationFraction)
                $"validationFraction: expected a fraction in [0, 1), got {validationFraction}."

        let time = Array2D.length1 series
        let validation = int (Math.Round(float time * validationFraction))
        splitLengths (time - validation) validation 0 series

    let private columnFold (series: float[,]) (f: int -> float) = Array.init (Array2D.length2 series) f

    /// Fits a z-score normalisation to `series` `[time; features]` (finite, time ≥ 1): `Offset` the
    /// feature means, `Scale` the population standard deviations; a constant feature gets scale 1,
    /// so it is centred only.
    let fitZScore (series: float[,]) =
        checkSeries (nameof series) series
        let t = Array2D.length1 series

        let mean =
            columnFold series (fun j ->
                let mutable s = 0.0

                for i in 0 .. t - 1 do
                    s <- s + series[i, j]

                s / float t)

        let std =
            columnFold series (fun j ->
                let mutable s = 0.0

                for i in 0 .. t - 1 do
                    let e = series[i, j] - mean[j]
                    s <- s + e * e

                let sd = sqrt (s / float t)
                if sd > 0.0 then sd else 1.0)

        {
            Kind = NormalisationKind.ZScore
            Offset = mean
            Scale = std
        }

    /// Fits a max-abs normalisation to `series` `[time; features]` (finite, time ≥ 1): `Scale` the
    /// per-feature `max|x|`, `Offset` zeros; an all-zero feature gets scale 1, so it stays zero.
    /// Upstream scales the SLDS observations this way.
    let fitMaxAbs (series: float[,]) =
        checkSeries (nameof series) series
        let t = Array2D.length1 series

        let scale =
            columnFold series (fun j ->
                let mutable m = 0.0

                for i in 0 .. t - 1 do
                    m <- max m (abs series[i, j])

                if m > 0.0 then m else 1.0)

        {
            Kind = NormalisationKind.MaxAbs
            Offset = Array.zeroCreate scale.Length
            Scale = scale
        }

    let private checkNorm (norm: Normalisation) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        let d = Array2D.length2 series

        if norm.Offset.Length <> d || norm.Scale.Length <> d then
            invalidArg
                (nameof series)
                $"series: has {d} features but the normalisation was fitted to {norm.Scale.Length}."

    /// `(x − Offset) / Scale` per feature of `series` `[time; features]`; same shape.
    let normalise (norm: Normalisation) (series: float[,]) =
        checkNorm norm series
        series |> Array2D.mapi (fun _ j x -> (x - norm.Offset[j]) / norm.Scale[j])

    /// The inverse of `normalise`: `x·Scale + Offset` per feature of `series` `[time; features]`.
    let denormalise (norm: Normalisation) (series: float[,]) =
        checkNorm norm series
        series |> Array2D.mapi (fun _ j x -> x * norm.Scale[j] + norm.Offset[j])
