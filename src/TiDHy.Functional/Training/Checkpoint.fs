namespace TiDHy.Functional

open System
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.Json

// The public surface of this file and its documentation: Checkpoint.fsi.
type StoredCheckpoint =
    {
        Config: Config
        State: TrainState
        Run: TrainingRun option
    }

exception CheckpointException of string with
    override e.Message = e.Data0

[<RequireQualifiedAccess>]
module Checkpoint =

    [<Literal>]
    let Magic = "TIDHY-CHECKPOINT"

    [<Literal>]
    let Version = 1

    let isCheckpoint (path: string) : bool =
        use f = File.OpenRead path
        let buf = Array.zeroCreate<byte> Magic.Length
        let n = DataFile.readFully f buf

        Encoding.ASCII.GetString(buf, 0, n) = Magic

    let nonFinite (state: TrainState) : (string * float) option =
        let inTree (what: string) (p: Params) =
            ParamTree.leaves p
            |> List.tryPick (fun (name, vs) ->
                vs
                |> Array.tryFind (Double.IsFinite >> not)
                |> Option.map (fun v -> $"{what} '{name}'", v))

        let inArray (what: string) (vs: float seq) =
            vs |> Seq.tryFind (Double.IsFinite >> not) |> Option.map (fun v -> what, v)

        [
            fun () -> inTree "params" state.Params
            fun () -> inTree "optimizer.exp_avg" state.Optimizer.ExpAvg
            fun () -> inTree "optimizer.exp_avg_sq" state.Optimizer.ExpAvgSq
            fun () -> inArray "grad_norm.weights" state.GradNorm.Weights
            fun () -> state.GradNorm.L0 |> Option.bind (inArray "grad_norm.l0")
            fun () -> state.Carry |> Option.bind (fun c -> inArray "carry.r" (Seq.cast c.R))
            fun () -> state.Carry |> Option.bind (fun c -> inArray "carry.r2" (Seq.cast c.R2))
            fun () -> state.Best |> Option.bind (fun b -> inTree "best.params" b.Params)
            fun () -> state.Best |> Option.bind (fun b -> inArray "best.score" [ b.Score ])
        ]
        |> List.tryPick (fun f -> f ())


    let private number (w: Utf8JsonWriter) (v: float) =
        if Double.IsFinite v then
            w.WriteNumberValue v
        else
            w.WriteStringValue(v.ToString(Globalization.CultureInfo.InvariantCulture))

    let private floats (w: Utf8JsonWriter) (name: string) (vs: float[]) =
        w.WriteStartArray name

        for v in vs do
            number w v

        w.WriteEndArray()

    let private tensor (w: Utf8JsonWriter) (name: string) (t: NamedTensor) =
        w.WriteStartObject name
        w.WriteStartArray "shape"

        for d in t.Shape do
            w.WriteNumberValue d

        w.WriteEndArray()
        floats w "data" t.Data
        w.WriteEndObject()

    let private stateDict (w: Utf8JsonWriter) (name: string) (p: Params) =
        w.WriteStartObject name

        for n, t in ParamLayout.ofParams p do
            tensor w n t

        w.WriteEndObject()

    let private matrixTensor (a: float[,]) =
        {
            Shape = Shape.ofMatrix a
            Data = Seq.cast<float> a |> Seq.toArray
        }

    let private payload (cfg: Config) (run: TrainingRun option) (s: TrainState) =
        use stream = new MemoryStream()
        use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
        w.WriteStartObject()
        w.WritePropertyName "config"
        w.WriteRawValue(ConfigJson.toJson cfg)
        w.WriteNumber("epoch", s.Epoch)
        w.WriteNumber("batch", s.Batch)
        stateDict w "params" s.Params
        w.WriteStartObject "optimizer"
        w.WriteNumber("step", s.Optimizer.Step)
        stateDict w "exp_avg" s.Optimizer.ExpAvg
        stateDict w "exp_avg_sq" s.Optimizer.ExpAvgSq
        w.WriteEndObject()
        w.WriteStartObject "grad_norm"
        floats w "weights" s.GradNorm.Weights

        match s.GradNorm.L0 with
        | Some l0 -> floats w "l0" l0
        | None -> w.WriteNull "l0"

        w.WriteEndObject()

        match s.Carry with
        | Some c ->
            w.WriteStartObject "carry"
            tensor w "r" (matrixTensor c.R)
            tensor w "r2" (matrixTensor c.R2)
            w.WriteEndObject()
        | None -> w.WriteNull "carry"

        let losses (name: string) (l: EpochLosses) =
            w.WriteStartObject name

            for key, v in List.zip LossTerms.names (LossTerms.toList l.Losses) do
                w.WritePropertyName key
                number w v

            w.WritePropertyName "total"
            number w l.Total
            w.WritePropertyName "max_iter_share"
            number w l.MaxIterShare
            w.WriteEndObject()

        losses "running" s.Running
        w.WriteStartArray "history"

        for h in s.History do
            w.WriteStartObject()
            w.WriteNumber("epoch", h.Epoch)
            losses "train" h.Train
            w.WritePropertyName "validation"

            match h.Validation with
            | Some v -> number w v
            | None -> w.WriteNullValue()

            w.WritePropertyName "learning_rate_factor"
            number w h.LearningRateFactor
            w.WritePropertyName "seconds"
            number w h.Seconds
            w.WriteStartObject "monitor"

            for name, v in h.Monitor do
                w.WritePropertyName name
                number w v

            w.WriteEndObject()
            w.WriteEndObject()

        w.WriteEndArray()

        match s.Best with
        | Some b ->
            w.WriteStartObject "best"
            w.WriteNumber("epoch", b.Epoch)
            w.WritePropertyName "score"
            number w b.Score
            w.WriteString("criterion", b.Criterion)
            stateDict w "params" b.Params
            w.WriteEndObject()
        | None -> w.WriteNull "best"

        match run with
        | Some r ->
            w.WriteStartObject "run"
            w.WriteNumber("batch_size", r.BatchSize)
            w.WriteNumber("seed", r.Seed)
            w.WriteString("train_sha256", r.TrainSha256)

            match r.ValidationSha256 with
            | Some v -> w.WriteString("validation_sha256", v)
            | None -> w.WriteNull "validation_sha256"

            // Written only when known: a checkpoint without the key reads as None, as before.
            r.StatesSha256 |> Option.iter (fun h -> w.WriteString("states_sha256", h))

            w.WriteEndObject()
        | None -> w.WriteNull "run"

        w.WriteEndObject()
        w.Flush()
        stream.ToArray()

    let private hex (bytes: byte[]) =
        Convert.ToHexString(bytes).ToLowerInvariant()

    let private fail (what: string) (reason: string) =
        raise (CheckpointException $"{what}: {reason}")

    /// The non-finite value of `s` that a checkpoint refuses (`nonFinite`, and the validation losses
    /// of the history), as `(quantity, value)`.
    let private refused (s: TrainState) =
        match nonFinite s with
        | Some q -> Some q
        | None ->
            s.History
            |> Array.tryPick (fun h ->
                h.Validation
                |> Option.filter (Double.IsFinite >> not)
                |> Option.map (fun v -> $"history[{h.Epoch}].validation", v)
                |> Option.orElse (
                    h.Monitor
                    |> List.tryFind (snd >> Double.IsFinite >> not)
                    |> Option.map (fun (name, v) -> $"history[{h.Epoch}].monitor.{name}", v)
                ))

    let toBytesWith (cfg: Config) (run: TrainingRun option) (s: TrainState) : byte[] =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg s.Params

        match refused s with
        | Some(quantity, value) -> fail "checkpoint" $"refusing to save a state whose {quantity} is {value}"
        | None -> ()

        let body = payload cfg run s

        let header =
            Encoding.ASCII.GetBytes $"{Magic} {Version} sha256={hex (SHA256.HashData body)}\n"

        Array.append header body

    let toBytes (cfg: Config) (s: TrainState) : byte[] = toBytesWith cfg None s

    let saveWith (path: string) (cfg: Config) (run: TrainingRun option) (s: TrainState) =
        let bytes =
            try
                toBytesWith cfg run s
            with CheckpointException msg ->
                fail path msg

        DataFile.writeAtomic path (fun f -> f.Write(bytes, 0, bytes.Length))

    let save (path: string) (cfg: Config) (s: TrainState) = saveWith path cfg None s

    let private readFloat what (e: JsonElement) =
        match ConfigJson.tryFloat e with
        | Some v -> v
        | None -> fail what $"{e.GetRawText()} is not a number"

    let private get what (e: JsonElement) (name: string) =
        let mutable v = Unchecked.defaultof<JsonElement>

        if e.ValueKind = JsonValueKind.Object && e.TryGetProperty(name, &v) then
            v
        else
            fail what $"missing \"{name}\""

    let private readFloats what (e: JsonElement) =
        if e.ValueKind <> JsonValueKind.Array then
            fail what "expected an array of numbers"

        e.EnumerateArray() |> Seq.map (readFloat what) |> Seq.toArray

    let private readMatrix what rows cols (e: JsonElement) =
        let t = StateDict.tensorOfJson what e

        if t.Shape <> [| rows; cols |] then
            fail what $"shape {Shape.show t.Shape}, expected {Shape.show [ rows; cols ]}"

        Array2D.init rows cols (fun i j -> t.Data[i * cols + j])

    let differences (expected: Config) (stored: Config) =
        List.zip (ConfigJson.fields expected) (ConfigJson.fields stored)
        |> List.choose (fun ((key, v), (_, sv)) ->
            if sv = v then
                None
            else
                Some $"{key}: {sv} in the checkpoint, {v} here")

    let private ofBytesUnchecked (what: string) (bytes: byte[]) : StoredCheckpoint =
        let nl = Array.IndexOf(bytes, byte '\n')

        if nl < 0 then
            fail what "not a TiDHy checkpoint (no header line); the file is empty, truncated or of another kind"

        let header = Encoding.ASCII.GetString(bytes, 0, nl).Split(' ')

        if header.Length <> 3 || header[0] <> Magic || not (header[2].StartsWith "sha256=") then
            let line = String.Join(" ", header)
            fail what $"not a TiDHy checkpoint (header '{line}')"

        if header[1] <> string Version then
            fail what $"checkpoint format version {header[1]}; this library reads version {Version}"

        let body = bytes[nl + 1 ..]

        if hex (SHA256.HashData body) <> header[2]["sha256=".Length ..] then
            fail what "the checksum does not match: the file is truncated or corrupted"

        use doc =
            try
                JsonDocument.Parse(ReadOnlyMemory<byte>(body))
            with :? JsonException as ex ->
                fail what $"invalid JSON: {ex.Message}"

        let root = doc.RootElement

        let cfg =
            try
                ConfigJson.ofElement (get what root "config")
            with InvalidConfigException errs ->
                let listed = String.Join("; ", errs |> List.map string)
                fail what $"invalid configuration: {listed}"

        let paramsOf name (e: JsonElement) =
            try
                ParamLayout.toParams cfg (StateDict.ofJsonElement e)
            with StateDictException msg ->
                fail what $"{name}: {msg}"

        /// A non-negative int32 field `name` of `e`; `field` names it in errors.
        let count (e: JsonElement) (field: string) name =
            let v = get what e name
            let mutable i = 0

            if v.ValueKind = JsonValueKind.Number && v.TryGetInt32(&i) && i >= 0 then
                i
            else
                fail what $"\"{field}\" is {v.GetRawText()}, expected a non-negative integer below 2^31"

        let array (e: JsonElement) (field: string) =
            if e.ValueKind <> JsonValueKind.Array then
                fail what $"\"{field}\" is {e.GetRawText()}, expected an array"

            e.EnumerateArray()

        let opt = get what root "optimizer"
        let gn = get what root "grad_norm"
        let weights = readFloats $"{what}: grad_norm.weights" (get what gn "weights")

        if weights.Length <> GradNorm.taskCount cfg then
            fail what $"grad_norm.weights has {weights.Length} entries, expected {GradNorm.taskCount cfg}"

        let l0 =
            match (get what gn "l0").ValueKind with
            | JsonValueKind.Null -> None
            | _ ->
                let l0 = readFloats $"{what}: grad_norm.l0" (get what gn "l0")

                if l0.Length <> GradNorm.taskCount cfg then
                    fail what $"grad_norm.l0 has {l0.Length} entries, expected {GradNorm.taskCount cfg} (one per task)"

                Some l0

        let carry =
            match (get what root "carry").ValueKind with
            | JsonValueKind.Null -> None
            | _ ->
                let c = get what root "carry"
                let r = StateDict.tensorOfJson $"{what}: carry.r" (get what c "r")
                let batch = if r.Shape.Length = 2 then r.Shape[0] else -1

                Some
                    {
                        R = readMatrix $"{what}: carry.r" batch cfg.RDim (get what c "r")
                        R2 = readMatrix $"{what}: carry.r2" batch cfg.R2Dim (get what c "r2")
                    }

        let losses (e: JsonElement) : EpochLosses =
            let f name =
                readFloat $"{what}: losses" (get what e name)

            let mutable share = Unchecked.defaultof<JsonElement>

            {
                Losses = LossTerms.names |> List.map f |> LossTerms.ofList
                Total = f "total"
                MaxIterShare =
                    if e.TryGetProperty("max_iter_share", &share) then
                        readFloat $"{what}: losses" share
                    else
                        0.0
            }

        let history =
            array (get what root "history") "history"
            |> Seq.mapi (fun i h ->
                let f name =
                    readFloat $"{what}: history" (get what h name)

                {
                    Epoch = count h $"history[{i}].epoch" "epoch"
                    Train = losses (get what h "train")
                    Validation =
                        match (get what h "validation").ValueKind with
                        | JsonValueKind.Null -> None
                        | _ -> Some(f "validation")
                    LearningRateFactor = f "learning_rate_factor"
                    Seconds = f "seconds"
                    Monitor =
                        let mutable m = Unchecked.defaultof<JsonElement>

                        if h.TryGetProperty("monitor", &m) then
                            if m.ValueKind <> JsonValueKind.Object then
                                fail what $"\"history[{i}].monitor\" is {m.GetRawText()}, expected an object"

                            m.EnumerateObject()
                            |> Seq.map (fun e -> e.Name, readFloat $"{what}: history[{i}].monitor.{e.Name}" e.Value)
                            |> Seq.toList
                        else
                            []
                })
            |> Seq.toArray

        let best =
            match (get what root "best").ValueKind with
            | JsonValueKind.Null -> None
            | _ ->
                let b = get what root "best"

                Some
                    {
                        Params = paramsOf "best.params" (get what b "params")
                        Epoch = count b "best.epoch" "epoch"
                        Score = readFloat $"{what}: best.score" (get what b "score")
                        Criterion =
                            let mutable c = Unchecked.defaultof<JsonElement>

                            if b.TryGetProperty("criterion", &c) then
                                if c.ValueKind <> JsonValueKind.String then
                                    fail what $"\"best.criterion\" is {c.GetRawText()}, expected a string"

                                c.GetString()
                            else
                                BestModel.LossCriterion
                    }

        let run =
            let mutable r = Unchecked.defaultof<JsonElement>

            if root.TryGetProperty("run", &r) && r.ValueKind <> JsonValueKind.Null then
                let text name =
                    match (get what r name).ValueKind with
                    | JsonValueKind.String -> (get what r name).GetString()
                    | _ -> fail what $"\"run.{name}\" is not a string"

                let seed =
                    let v = get what r "seed"
                    let mutable i = 0

                    if v.ValueKind = JsonValueKind.Number && v.TryGetInt32(&i) then
                        i
                    else
                        fail what $"\"run.seed\" is {v.GetRawText()}, expected an integer"

                Some
                    {
                        BatchSize = count r "run.batch_size" "batch_size"
                        Seed = seed
                        TrainSha256 = text "train_sha256"
                        ValidationSha256 =
                            match (get what r "validation_sha256").ValueKind with
                            | JsonValueKind.Null -> None
                            | _ -> Some(text "validation_sha256")
                        StatesSha256 =
                            match r.TryGetProperty "states_sha256" with
                            | true, v when v.ValueKind <> JsonValueKind.Null -> Some(text "states_sha256")
                            | _ -> None
                    }
            else
                None

        let stored =
            {
                Run = run
                Config = cfg
                State =
                    {
                        Params = paramsOf "params" (get what root "params")
                        Optimizer =
                            {
                                Step = count opt "optimizer.step" "step"
                                ExpAvg = paramsOf "optimizer.exp_avg" (get what opt "exp_avg")
                                ExpAvgSq = paramsOf "optimizer.exp_avg_sq" (get what opt "exp_avg_sq")
                            }
                        GradNorm = { Weights = weights; L0 = l0 }
                        Epoch = count root "epoch" "epoch"
                        Batch = count root "batch" "batch"
                        Carry = carry
                        Running = losses (get what root "running")
                        History = history
                        Best = best
                    }
            }

        match refused stored.State with
        | Some(quantity, value) -> fail what $"{quantity} is {value}; a checkpoint holds only finite values"
        | None -> stored

    let ofBytes (what: string) (bytes: byte[]) : StoredCheckpoint =
        try
            ofBytesUnchecked what bytes
        with
        | :? InvalidOperationException
        | :? FormatException
        | :? OverflowException
        | :? ArgumentException
        | :? Collections.Generic.KeyNotFoundException as ex -> fail what $"malformed checkpoint: {ex.Message}"

    let read (path: string) : StoredCheckpoint =
        let bytes =
            try
                File.ReadAllBytes path
            with ex ->
                fail path $"cannot be read: {ex.Message}"

        ofBytes path bytes

    let load (cfg: Config) (path: string) : TrainState =
        let stored = read path

        match differences cfg stored.Config with
        | [] -> stored.State
        | diffs ->
            let listed = String.Join("; ", diffs)
            fail path $"made for another configuration: {listed}"
