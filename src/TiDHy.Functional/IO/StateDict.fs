namespace TiDHy.Functional

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json

// The public surface of this file and its documentation: StateDict.fsi.
[<RequireQualifiedAccess>]
module StateDict =

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

        // In checked 64-bit arithmetic: (65536, 65536) would wrap to 0 in int32.
        let count = Shape.elementCount shape

        if int64 data.Length <> count then
            bad $"{data.Length} values for shape {Shape.show shape} ({count} expected)"

        { Shape = shape; Data = data }

    let ofJsonElement (e: JsonElement) : Map<string, NamedTensor> =
        if e.ValueKind <> JsonValueKind.Object then
            raise (StateDictException "state dict: expected a JSON object of named tensors")

        let props = e.EnumerateObject() |> Seq.toList

        match props |> List.countBy _.Name |> List.tryFind (fun (_, n) -> n > 1) with
        | Some(name, n) ->
            raise (
                StateDictException $"state dict: the tensor name '{name}' appears {n} times; each name may appear once"
            )
        | None -> ()

        props
        |> List.map (fun p -> p.Name, tensorOfJson $"tensor '{p.Name}'" p.Value)
        |> Map.ofList

    let parseJson (text: string) : Map<string, NamedTensor> =
        use doc =
            try
                JsonDocument.Parse text
            with :? JsonException as ex ->
                raise (StateDictException $"state dict: not valid JSON: {ex.Message}")

        ofJsonElement doc.RootElement

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

    let load (cfg: Config) (path: string) : Params =
        let text =
            try
                File.ReadAllText path
            with ex ->
                raise (StateDictException $"{path}: cannot be read: {ex.Message}")

        try
            ParamLayout.toParams cfg (parseJson text)
        with StateDictException msg ->
            raise (StateDictException $"{path}: {msg}")

    let save (path: string) (p: Params) =
        match
            ParamTree.leaves p
            |> List.tryPick (fun (name, vs) ->
                vs
                |> Array.tryFindIndex (Double.IsFinite >> not)
                |> Option.map (fun i -> name, i, vs[i]))
        with
        | Some(name, i, v) ->
            raise (
                StateDictException
                    $"{path}: refusing to save tensor '{name}' with the non-finite value {v} at flat index {i}"
            )
        | None -> ()

        let bytes = Encoding.UTF8.GetBytes(toJson (ParamLayout.ofParams p))
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))
