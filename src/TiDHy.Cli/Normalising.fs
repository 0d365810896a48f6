/// The normalisation `tidhy train` fits on its training split and stores in the run folder
/// (`normalisation.json`), so that `--resume` and `tidhy eval` apply the same one; and the warning
/// for data far from unit scale that are not normalised.
module TiDHy.Cli.Normalising

open System
open System.Globalization
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli.Args

/// The file of a run folder that holds its normalisation; absent when the run trained on the data
/// as given (`--no-normalise`, a loss_type other than MSE, or a run made before it existed).
[<Literal>]
let FileName = "normalisation.json"

/// The JSON text of `n`: its kind, then the per-feature `offset` and `scale` (`x ↦ (x − offset) / scale`),
/// numbers written to round-trip.
let toJson (n: Normalisation) =
    let o = JsonObject()

    o["kind"] <-
        JsonValue.Create(
            match n.Kind with
            | NormalisationKind.ZScore -> "z-score"
            | NormalisationKind.MaxAbs -> "max-abs"
        )

    o["fitted_on"] <- JsonValue.Create "the training split of the --data given to tidhy train"
    o["offset"] <- JsonArray(n.Offset |> Array.map (fun v -> JsonValue.Create v :> JsonNode))
    o["scale"] <- JsonArray(n.Scale |> Array.map (fun v -> JsonValue.Create v :> JsonNode))
    o.ToJsonString(JsonSerializerOptions(WriteIndented = true)) + "\n"

/// Writes `n` to the run folder `dir` (`FileName`), atomically.
let write (dir: string) (n: Normalisation) =
    Report.writeAtomic (Path.Combine(dir, FileName)) (toJson n)

/// Reads the normalisation file `path`; errors name it.
let read (path: string) : Normalisation =
    let bad (why: string) =
        fail $"{path}: {why}; the file is written by tidhy train (delete it only with the run it belongs to)."

    let root =
        try
            JsonNode.Parse(File.ReadAllText path)
        with
        | :? JsonException as ex -> bad $"not valid JSON: {ex.Message}"
        | :? IOException as ex -> fail $"{path}: cannot be read: {ex.Message}"

    match root with
    | :? JsonObject as o ->
        let numbers (key: string) =
            match o[key] with
            | :? JsonArray as a ->
                a
                |> Seq.map (fun v ->
                    match v with
                    | :? JsonValue as v when v.GetValueKind() = JsonValueKind.Number ->
                        let x = v.GetValue<float>()

                        if Double.IsFinite x then
                            x
                        else
                            bad $"{key} holds a value that is not finite"
                    | _ -> bad $"{key} holds a value that is not a number")
                |> Seq.toArray
            | _ -> bad $"no array {key}"

        let kind =
            match o["kind"] with
            | :? JsonValue as v when v.GetValueKind() = JsonValueKind.String ->
                match v.GetValue<string>() with
                | "z-score" -> NormalisationKind.ZScore
                | "max-abs" -> NormalisationKind.MaxAbs
                | k -> bad $"kind \"{k}\" is not z-score or max-abs"
            | _ -> bad "no string kind"

        let offset, scale = numbers "offset", numbers "scale"

        if offset.Length <> scale.Length || scale.Length = 0 then
            bad "offset and scale must have one value per feature"

        if scale |> Array.exists (fun s -> s <= 0.0) then
            bad "every scale must be positive"

        {
            Kind = kind
            Offset = offset
            Scale = scale
        }
    | _ -> bad "expected a JSON object"

/// The normalisation stored in the run folder `dir`, or None when it has none.
let tryRead (dir: string) : Normalisation option =
    let path = Path.Combine(dir, FileName)
    if File.Exists path then Some(read path) else None

/// `Series.normalise n series`, an error naming `what` when the feature counts differ.
let apply (what: string) (n: Normalisation) (series: float[,]) =
    if Array2D.length2 series <> n.Scale.Length then
        fail
            $"{what}: {Array2D.length2 series} features, but the stored normalisation ({FileName}) was fitted to {n.Scale.Length}."

    Series.normalise n series

/// The largest standard deviation a feature of data near unit scale has (`scaleWarning`).
[<Literal>]
let MaxStd = 100.0

/// The smallest standard deviation a feature of data near unit scale has (`scaleWarning`).
[<Literal>]
let MinStd = 0.01

/// How many standard deviations from zero a feature's mean may lie in data near unit scale
/// (`scaleWarning`).
[<Literal>]
let MaxMeanInStds = 10.0

let private invariant (v: float) =
    v.ToString("G4", CultureInfo.InvariantCulture)

/// The one-line warning for a series `[time; features]` that is used without normalisation while far
/// from unit scale, or None; `advice` ends the line (what to do about it): a feature is far when its standard deviation (population) lies outside
/// [`MinStd`, `MaxStd`] or its mean is more than `MaxMeanInStds` standard deviations from zero. The
/// line names the worst feature (counted from 1): the one farthest, in orders of magnitude, from a
/// standard deviation of 1 and a mean within `MaxMeanInStds` of them.
let scaleWarning (what: string) (advice: string) (series: float[,]) : string option =
    if Array2D.length1 series = 0 || Array2D.length2 series = 0 then
        None
    else
        let t = Array2D.length1 series

        let stats j =
            let mean = Seq.averageBy (fun i -> series[i, j]) [| 0 .. t - 1 |]

            let std =
                sqrt (Seq.averageBy (fun i -> (series[i, j] - mean) ** 2.0) [| 0 .. t - 1 |])

            mean, std

        // Orders of magnitude from unit scale: the standard deviation's from 1 beyond the
        // thresholds, the mean's beyond MaxMeanInStds standard deviations (infinite for a
        // constant feature with a non-zero mean).
        let farness (mean: float, std: float) =
            let ofStd =
                if std < MinStd || std > MaxStd then
                    abs (log10 std)
                else
                    0.0

            let ofMean =
                if abs mean > MaxMeanInStds * std then
                    log10 (abs mean / (MaxMeanInStds * std)) + 1.0
                else
                    0.0

            max ofStd ofMean

        let scored =
            Array.init (Array2D.length2 series) (fun j ->
                let s = stats j
                j, s, farness s)

        let j, (mean, std), far = scored |> Array.maxBy (fun (_, _, f) -> f)

        if far > 0.0 then
            Some
                $"Warning: {what} is far from unit scale and is not normalised: feature {j + 1} has mean {invariant mean} and standard deviation {invariant std} (thresholds: |mean| > {MaxMeanInStds}·std, or std outside [{MinStd}, {MaxStd}]); {advice}"
        else
            None
