namespace TiDHy.Functional

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json

/// A named tensor as PyTorch's state_dict holds it: a shape and its row-major data.
type NamedTensor =
    {
        /// Dimensions, e.g. `[| 6; 4 |]`; `[||]` for a scalar.
        Shape: int[]
        /// Row-major data; its length is the product of `Shape`.
        Data: float[]
    }

/// Raised when a state_dict does not fit a configuration; the message lists every problem.
exception StateDictException of message: string with
    override e.Message = e.message

/// Import and export of `Params` by PyTorch state_dict names (MODEL.md "Parameters"), so that
/// weights trained upstream load here and weights trained here load upstream.
[<RequireQualifiedAccess>]
module StateDict =

    let private mlpNames (prefix: string) (i: int) (h: int) (o: int) (outBias: bool) =
        [
            yield $"{prefix}.0.weight", [| h; i |]
            yield $"{prefix}.0.bias", [| h |]
            yield $"{prefix}.1.weight", [| h |]
            yield $"{prefix}.1.bias", [| h |]
            yield $"{prefix}.3.weight", [| h; h |]
            yield $"{prefix}.3.bias", [| h |]
            yield $"{prefix}.4.weight", [| o; h |]
            if outBias then
                yield $"{prefix}.4.bias", [| o |]
        ]

    /// The state_dict names and shapes that `cfg` requires, in upstream's order.
    let expected (cfg: Config) : (string * int[]) list =
        let r, d = cfg.RDim, cfg.InputDim

        [
            yield
                "temporal",
                (if cfg.LowRankTemp then
                     [| cfg.MixDim; r; 2 |]
                 else
                     [| cfg.MixDim; r * r |])
            if cfg.DynBias then
                yield "temporal_bias", [| 1; r |]
            if cfg.NonlinDecoder then
                yield! mlpNames "spatial_decoder" r cfg.HyperHidDim d true
            else
                yield "spatial_decoder.0.weight", [| d; r |]
                yield "spatial_decoder.0.bias", [| d |]
            yield! mlpNames "hypernet" cfg.R2Dim cfg.HyperHidDim (Config.hyperOutDim cfg) (not cfg.DynBias)
            if cfg.UseR2Decoder then
                yield! mlpNames "R2_Decoder" (r + cfg.R2Dim) cfg.R2DecoderHidDim cfg.R2Dim true
        ]

    let private matrix (t: NamedTensor) =
        Array2D.init t.Shape[0] t.Shape[1] (fun i j -> t.Data[i * t.Shape[1] + j])

    let private ofMatrix (a: float[,]) =
        {
            Shape = Shape.ofMatrix a
            Data = Seq.cast<float> a |> Seq.toArray
        }

    let private ofVector (v: float[]) =
        {
            Shape = [| v.Length |]
            Data = Array.copy v
        }

    /// Converts a state_dict to `Params` for `cfg`. Every required name must be present with its
    /// exact shape, finite data and no extra names; otherwise raises `StateDictException` listing
    /// every missing, unexpected, misshapen or non-finite tensor.
    let toParams (cfg: Config) (stateDict: Map<string, NamedTensor>) : Params =
        let cfg = Config.validateOrThrow cfg
        let want = expected cfg
        let wanted = want |> List.map fst |> set

        let problems =
            [
                for name, shape in want do
                    match stateDict.TryFind name with
                    | None -> yield $"missing tensor '{name}' (expected shape {Shape.show shape})"
                    | Some t when t.Shape <> shape ->
                        yield $"tensor '{name}' has shape {Shape.show t.Shape}, expected {Shape.show shape}"
                    | Some t when t.Data.Length <> Array.fold (*) 1 shape ->
                        yield $"tensor '{name}' has {t.Data.Length} values for shape {Shape.show shape}"
                    | Some t ->
                        match t.Data |> Array.tryFindIndex (Double.IsFinite >> not) with
                        | Some i -> yield $"tensor '{name}' has a non-finite value {t.Data[i]} at flat index {i}"
                        | None -> ()
                for name in stateDict.Keys do
                    if not (wanted.Contains name) then
                        yield $"unexpected tensor '{name}' for this configuration"
            ]

        if not problems.IsEmpty then
            raise (StateDictException("State dict does not match the configuration: " + String.Join("; ", problems)))

        let get name = stateDict[name]
        let vec name = Array.copy (get name).Data
        let mat name = matrix (get name)

        let mlp prefix outBias : MlpParams =
            let lin n bias =
                {
                    Weight = mat $"{prefix}.{n}.weight"
                    Bias = if bias then Some(vec $"{prefix}.{n}.bias") else None
                }

            {
                Input = lin 0 true
                Norm =
                    {
                        Gamma = vec $"{prefix}.1.weight"
                        Beta = vec $"{prefix}.1.bias"
                    }
                Hidden = lin 3 true
                Output = lin 4 outBias
            }

        {
            SpatialDecoder =
                if cfg.NonlinDecoder then
                    NonlinearDecoder(mlp "spatial_decoder" true)
                else
                    LinearDecoder
                        {
                            Weight = mat "spatial_decoder.0.weight"
                            Bias = Some(vec "spatial_decoder.0.bias")
                        }
            Temporal =
                if cfg.LowRankTemp then
                    let t = get "temporal"
                    LowRank(Array3D.init t.Shape[0] t.Shape[1] 2 (fun k i c -> t.Data[(k * t.Shape[1] + i) * 2 + c]))
                else
                    FullRank(mat "temporal")
            TemporalBias = if cfg.DynBias then Some(vec "temporal_bias") else None
            Hypernet = mlp "hypernet" (not cfg.DynBias)
            R2Decoder =
                if cfg.UseR2Decoder then
                    Some(mlp "R2_Decoder" true)
                else
                    None
        }

    /// The state_dict of `p`, in upstream's order (copies: changing it does not change `p`).
    let ofParams (p: Params) : (string * NamedTensor) list =
        let mlp prefix (m: MlpParams) =
            [
                yield $"{prefix}.0.weight", ofMatrix m.Input.Weight
                yield!
                    m.Input.Bias
                    |> Option.map (fun b -> $"{prefix}.0.bias", ofVector b)
                    |> Option.toList
                yield $"{prefix}.1.weight", ofVector m.Norm.Gamma
                yield $"{prefix}.1.bias", ofVector m.Norm.Beta
                yield $"{prefix}.3.weight", ofMatrix m.Hidden.Weight
                yield!
                    m.Hidden.Bias
                    |> Option.map (fun b -> $"{prefix}.3.bias", ofVector b)
                    |> Option.toList
                yield $"{prefix}.4.weight", ofMatrix m.Output.Weight
                yield!
                    m.Output.Bias
                    |> Option.map (fun b -> $"{prefix}.4.bias", ofVector b)
                    |> Option.toList
            ]

        [
            yield
                "temporal",
                (match p.Temporal with
                 | FullRank t -> ofMatrix t
                 | LowRank u ->
                     {
                         Shape = Shape.ofArray3 u
                         Data = Seq.cast<float> u |> Seq.toArray
                     })
            match p.TemporalBias with
            | Some c ->
                yield
                    "temporal_bias",
                    {
                        Shape = [| 1; c.Length |]
                        Data = Array.copy c
                    }
            | None -> ()
            match p.SpatialDecoder with
            | LinearDecoder l ->
                yield "spatial_decoder.0.weight", ofMatrix l.Weight

                yield!
                    l.Bias
                    |> Option.map (fun b -> "spatial_decoder.0.bias", ofVector b)
                    |> Option.toList
            | NonlinearDecoder m -> yield! mlp "spatial_decoder" m
            yield! mlp "hypernet" p.Hypernet
            match p.R2Decoder with
            | Some m -> yield! mlp "R2_Decoder" m
            | None -> ()
        ]

    /// Reads one tensor `{"shape": [...], "data": [...]}`; `what` names it in errors.
    let tensorOfJson (what: string) (e: JsonElement) : NamedTensor =
        let bad reason =
            raise (StateDictException $"{what}: {reason}")

        if e.ValueKind <> JsonValueKind.Object then
            bad "expected an object {\"shape\": [...], \"data\": [...]}"

        let mutable shapeEl = Unchecked.defaultof<JsonElement>
        let mutable dataEl = Unchecked.defaultof<JsonElement>

        if
            not (e.TryGetProperty("shape", &shapeEl))
            || shapeEl.ValueKind <> JsonValueKind.Array
        then
            bad "missing \"shape\" array"

        if
            not (e.TryGetProperty("data", &dataEl))
            || dataEl.ValueKind <> JsonValueKind.Array
        then
            bad "missing \"data\" array"

        let shape =
            shapeEl.EnumerateArray()
            |> Seq.map (fun d ->
                let mutable v = 0

                if d.ValueKind = JsonValueKind.Number && d.TryGetInt32(&v) && v >= 0 then
                    v
                else
                    bad $"shape entry {d.GetRawText()} is not a non-negative integer")
            |> Seq.toArray

        let data =
            dataEl.EnumerateArray()
            |> Seq.mapi (fun i d ->
                match ConfigJson.tryFloat d with
                | Some v -> v
                | None -> bad $"data entry {i} is {d.GetRawText()}, not a number")
            |> Seq.toArray

        let count = Array.fold (*) 1 shape

        if data.Length <> count then
            bad $"{data.Length} values for shape {Shape.show shape} ({count} expected)"

        { Shape = shape; Data = data }

    /// Reads a state_dict object `{name: tensor, ...}` (the fixtures' `params` format).
    let ofJsonElement (e: JsonElement) : Map<string, NamedTensor> =
        if e.ValueKind <> JsonValueKind.Object then
            raise (StateDictException "state dict: expected a JSON object of named tensors")

        e.EnumerateObject()
        |> Seq.map (fun p -> p.Name, tensorOfJson $"tensor '{p.Name}'" p.Value)
        |> Map.ofSeq

    /// Parses a state_dict from JSON text.
    let parseJson (text: string) : Map<string, NamedTensor> =
        use doc =
            try
                JsonDocument.Parse text
            with :? JsonException as ex ->
                raise (StateDictException $"state dict: not valid JSON: {ex.Message}")

        ofJsonElement doc.RootElement

    /// The JSON text of a state_dict, numbers in round-trip form.
    let toJson (entries: (string * NamedTensor) list) : string =
        let num (v: float) =
            if Double.IsFinite v then
                v.ToString("R", CultureInfo.InvariantCulture)
            else
                $"\"{v}\""

        let sb = StringBuilder()
        sb.Append("{") |> ignore

        entries
        |> List.iteri (fun i (name, t) ->
            if i > 0 then
                sb.Append(",") |> ignore

            sb
                .Append("\n  ")
                .Append(JsonSerializer.Serialize name)
                .Append(": {\"shape\": [")
                .Append(String.Join(", ", t.Shape))
                .Append("], \"data\": [")
                .Append(String.Join(", ", t.Data |> Array.map num))
                .Append("]}")
            |> ignore)

        sb.Append("\n}\n").ToString()

    /// Reads a state_dict JSON file and converts it for `cfg` (see `toParams`); errors name the file.
    let load (cfg: Config) (path: string) : Params =
        let text =
            try
                File.ReadAllText path
            with ex ->
                raise (StateDictException $"{path}: cannot be read: {ex.Message}")

        try
            toParams cfg (parseJson text)
        with StateDictException msg ->
            raise (StateDictException $"{path}: {msg}")

    /// Writes the state_dict of `p` as JSON to `path`, atomically: a temporary file beside it is
    /// written, then renamed, so that a failure leaves any existing file intact.
    let save (path: string) (p: Params) =
        let bytes = Encoding.UTF8.GetBytes(toJson (ofParams p))
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))
