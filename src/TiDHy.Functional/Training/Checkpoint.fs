namespace TiDHy.Functional

open System
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.Json

/// A checkpoint that cannot be used: unreadable, truncated, corrupted, or made for another
/// configuration. The message names the file and the problem.
/// What a checkpoint file holds: the configuration it was made under and the training state.
type StoredCheckpoint =
    {
        /// The stored configuration.
        Config: Config
        /// The training state.
        State: TrainState
    }

exception CheckpointException of string with
    override e.Message = e.Data0

/// Training checkpoints: the configuration, parameters, AdamW state, GradNorm state, epoch and
/// batch position, stateful carry, metrics history and best model, in one file. The file is a header
/// line `TIDHY-CHECKPOINT 1 sha256=<hex>` followed by a JSON payload whose SHA-256 the header holds,
/// so truncation and corruption are detected. Numbers are written in round-trip form, so a loaded
/// state continues training bit for bit as the saved one would.
[<RequireQualifiedAccess>]
module Checkpoint =

    /// The first word of every checkpoint file.
    [<Literal>]
    let Magic = "TIDHY-CHECKPOINT"

    /// The format version this library writes and reads.
    [<Literal>]
    let Version = 1

    /// Whether the file at `path` starts with `Magic`, the first word of every checkpoint (a header
    /// probe that reads `Magic.Length` bytes; `read` checks the rest, checksum included). False for
    /// a state_dict JSON or any other file, even a shorter one. Raises the IO exceptions of
    /// `File.OpenRead` (no such file, no permission).
    let isCheckpoint (path: string) : bool =
        use f = File.OpenRead path
        let buf = Array.zeroCreate<byte> Magic.Length
        let mutable n = 0
        let mutable more = true

        while more && n < buf.Length do
            let k = f.Read(buf, n, buf.Length - n)
            n <- n + k
            more <- k > 0

        Encoding.ASCII.GetString(buf, 0, n) = Magic

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

    let private payload (cfg: Config) (s: TrainState) =
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
            w.WriteEndObject()

        w.WriteEndArray()

        match s.Best with
        | Some b ->
            w.WriteStartObject "best"
            w.WriteNumber("epoch", b.Epoch)
            w.WritePropertyName "score"
            number w b.Score
            stateDict w "params" b.Params
            w.WriteEndObject()
        | None -> w.WriteNull "best"

        w.WriteEndObject()
        w.Flush()
        stream.ToArray()

    let private hex (bytes: byte[]) =
        Convert.ToHexString(bytes).ToLowerInvariant()

    /// The bytes of the checkpoint file of training state `s` under `cfg`.
    let toBytes (cfg: Config) (s: TrainState) : byte[] =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg s.Params
        let body = payload cfg s

        let header =
            Encoding.ASCII.GetBytes $"{Magic} {Version} sha256={hex (SHA256.HashData body)}\n"

        Array.append header body

    /// Writes the checkpoint of `s` under `cfg` to `path` atomically: a temporary file beside it is
    /// written and flushed, then renamed over `path`, so a failure leaves any existing checkpoint intact.
    let save (path: string) (cfg: Config) (s: TrainState) =
        let bytes = toBytes cfg s
        DataFile.writeAtomic path (fun f -> f.Write(bytes, 0, bytes.Length))

    let private fail (what: string) (reason: string) =
        raise (CheckpointException $"{what}: {reason}")

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

    /// The configuration differences between `expected` and `stored`, option by option (the table
    /// `ConfigOptions.all`), as `name: stored in the checkpoint, expected here`.
    let private differences (expected: Config) (stored: Config) =
        List.zip (ConfigJson.fields expected) (ConfigJson.fields stored)
        |> List.choose (fun ((key, v), (_, sv)) ->
            if sv = v then
                None
            else
                Some $"{key}: {sv} in the checkpoint, {v} here")

    /// Parses checkpoint bytes; `what` names the source in errors. Returns the stored configuration
    /// and training state.
    let ofBytes (what: string) (bytes: byte[]) : StoredCheckpoint =
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

        let int32 (e: JsonElement) name =
            let v = get what e name

            match v.ValueKind with
            | JsonValueKind.Number -> v.GetInt32()
            | _ -> fail what $"\"{name}\" is not an integer"

        let opt = get what root "optimizer"
        let gn = get what root "grad_norm"
        let weights = readFloats $"{what}: grad_norm.weights" (get what gn "weights")

        if weights.Length <> GradNorm.taskCount cfg then
            fail what $"grad_norm.weights has {weights.Length} entries, expected {GradNorm.taskCount cfg}"

        let l0 =
            match (get what gn "l0").ValueKind with
            | JsonValueKind.Null -> None
            | _ -> Some(readFloats $"{what}: grad_norm.l0" (get what gn "l0"))

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

            {
                Losses = LossTerms.names |> List.map f |> LossTerms.ofList
                Total = f "total"
            }

        let history =
            (get what root "history").EnumerateArray()
            |> Seq.map (fun h ->
                let f name =
                    readFloat $"{what}: history" (get what h name)

                {
                    Epoch = int32 h "epoch"
                    Train = losses (get what h "train")
                    Validation =
                        match (get what h "validation").ValueKind with
                        | JsonValueKind.Null -> None
                        | _ -> Some(f "validation")
                    LearningRateFactor = f "learning_rate_factor"
                    Seconds = f "seconds"
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
                        Epoch = int32 b "epoch"
                        Score = readFloat $"{what}: best.score" (get what b "score")
                    }

        {
            Config = cfg
            State =
                {
                    Params = paramsOf "params" (get what root "params")
                    Optimizer =
                        {
                            Step = int32 opt "step"
                            ExpAvg = paramsOf "optimizer.exp_avg" (get what opt "exp_avg")
                            ExpAvgSq = paramsOf "optimizer.exp_avg_sq" (get what opt "exp_avg_sq")
                        }
                    GradNorm = { Weights = weights; L0 = l0 }
                    Epoch = int32 root "epoch"
                    Batch = int32 root "batch"
                    Carry = carry
                    Running = losses (get what root "running")
                    History = history
                    Best = best
                }
        }

    /// Reads the checkpoint at `path`: its stored configuration and training state. Raises
    /// `CheckpointException` naming the file when it cannot be read, is truncated or corrupted.
    let read (path: string) : StoredCheckpoint =
        let bytes =
            try
                File.ReadAllBytes path
            with ex ->
                fail path $"cannot be read: {ex.Message}"

        ofBytes path bytes

    /// Reads the checkpoint at `path` and checks that it was made under `cfg`; raises
    /// `CheckpointException` listing every differing hyperparameter otherwise.
    let load (cfg: Config) (path: string) : TrainState =
        let stored = read path

        match differences cfg stored.Config with
        | [] -> stored.State
        | diffs ->
            let listed = String.Join("; ", diffs)
            fail path $"made for another configuration: {listed}"
