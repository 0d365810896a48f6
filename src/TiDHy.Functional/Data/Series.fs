namespace TiDHy.Functional

open System

// The public surface of this file and its documentation: Series.fsi.
type SeriesSplit =
    {
        Train: float[,]
        Val: float[,]
        Test: float[,]
    }

[<RequireQualifiedAccess>]
type NormalisationKind =
    | ZScore
    | MaxAbs

type Normalisation =
    {
        Kind: NormalisationKind
        Offset: float[]
        Scale: float[]
    }

[<RequireQualifiedAccess>]
module Series =

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

    let windowCountStrided (length: int) (stride: int) (time: int) =
        checkWindowArgs length stride (nameof stride)

        if time < 0 then
            invalidArg (nameof time) $"time: expected >= 0, got {time}."

        if time < length then 0 else (time - length) / stride + 1

    let private strideOf (length: int) (shared: int) =
        if shared < 0 || shared >= length then
            invalidArg
                (nameof shared)
                $"shared: expected a count of shared steps in [0, length = {length}), got {shared} (for the configuration's overlap, a stride, use windowsStrided)."

        length - shared

    let windowCount (length: int) (shared: int) (time: int) =
        if length < 1 then
            invalidArg (nameof length) $"length: expected >= 1, got {length}."

        windowCountStrided length (strideOf length shared) time

    let droppedSteps (length: int) (shared: int) (time: int) =
        let n = windowCount length shared time

        if n = 0 then
            time
        else
            time - ((n - 1) * (length - shared) + length)

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
            "use a larger step between window starts (the configuration's overlap), shorter windows or a shorter series"

        if entries > int64 Array.MaxLength then
            Some $"{what} hold {entries} values, more than a .NET array holds ({Array.MaxLength}); {hint}"
        elif bytes > budget then
            Some
                $"{what} need {bytes} bytes ({Memory.gibText bytes}), more than the {budget} bytes ({Memory.gibText budget}) allowed (half the available memory); {hint}"
        else
            None

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

    let windows (length: int) (shared: int) (series: float[,]) =
        if length < 1 then
            invalidArg (nameof length) $"length: expected >= 1, got {length}."

        windowsStrided length (strideOf length shared) series

    let private rows (series: float[,]) (start: int) (count: int) =
        Array2D.init count (Array2D.length2 series) (fun i j -> series[start + i, j])

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

    let normalise (norm: Normalisation) (series: float[,]) =
        checkNorm norm series
        series |> Array2D.mapi (fun _ j x -> (x - norm.Offset[j]) / norm.Scale[j])

    let denormalise (norm: Normalisation) (series: float[,]) =
        checkNorm norm series
        series |> Array2D.mapi (fun _ j x -> x * norm.Scale[j] + norm.Offset[j])
