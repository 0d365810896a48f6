namespace TiDHy.Functional

open System

// The public surface of this file and its documentation: Config.fsi.
// ModuleSuffix: compiled as `ConfigModule` (the name C# sees), beside the record of ConfigTypes.fs.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Config =

    let private defaultValues =
        ConfigOptions.all
        |> List.map (fun o ->
            match o.Default, o.Kind with
            | Some d, _ -> d
            | None, OptionKind.Int -> box 0
            | None, OptionKind.Float -> box 0.0
            | None, OptionKind.Bool -> box false
            | None, OptionKind.Enum cases -> cases.Values.Head)
        |> List.toArray

    let defaults (inputDim: int) : Config =
        { ConfigOptions.ofValues (Array.copy defaultValues) with
            InputDim = inputDim
        }

    let private loss = ConfigOptions.find "loss_type"

    let private lossCases =
        match loss.Kind with
        | OptionKind.Enum cases -> cases
        | _ -> invalidOp "loss_type is an enum option"

    let parseLoss (name: string) : LossKind =
        ConfigOptions.parseCase loss lossCases name :?> LossKind

    let lossName (loss: LossKind) =
        ConfigOptions.caseName lossCases (box loss)

    let hyperOutDim (cfg: Config) = int (ParamShapes.hyperOutputs cfg)

    /// Why `value` is outside `option`'s declared range, or `None`. `bound` is the value of the
    /// option named by `MaxKey` and whether that option is itself valid (only then does it bound).
    let private rangeError (option: ConfigOption) (value: obj) (bound: (int * bool) option) : string option =
        let number (v: float) =
            if option.Kind.IsInt then string (int v) else string v

        let low (x: float) =
            match option.Min with
            | Some m when (if option.MinExclusive then x <= m else x < m) ->
                match option.Kind, m, option.MinExclusive with
                | OptionKind.Int, 1.0, false -> Some "must be a positive integer"
                | _, 0.0, false -> Some "must not be negative"
                | _, 0.0, true -> Some "must be positive"
                | _, _, false -> Some $"must be at least {number m}"
                | _, _, true -> Some $"must be greater than {number m}"
            | _ -> None

        let high (x: float) =
            match option.Max with
            | Some m when x > m -> Some $"must be at most {number m}"
            | _ -> None

        let check (x: float) =
            match option.MaxKey with
            | Some key ->
                let outside =
                    (low x).IsSome
                    || (bound |> Option.exists (fun (b, valid) -> valid && x > float b))

                if outside then
                    let lo = option.Min |> Option.map number |> Option.defaultValue "−∞"
                    let hi = bound |> Option.map (fst >> string) |> Option.defaultValue "?"
                    Some $"must be in [{lo}, {key} = {hi}]"
                else
                    None
            | None -> low x |> Option.orElse (high x)

        let reason =
            match value with
            | :? int as i -> check (float i)
            | :? float as x when not (Double.IsFinite x) -> Some "must be a finite number"
            | :? float as x -> check x
            | _ -> None

        match reason, option.Why with
        | Some r, Some why -> Some $"{r} ({why})"
        | r, _ -> r

    let private sizesText (cfg: Config) =
        $"input_dim = {cfg.InputDim}, r_dim = {cfg.RDim}, r2_dim = {cfg.R2Dim}, mix_dim = {cfg.MixDim}, hyper_hid_dim = {cfg.HyperHidDim}, r2_decoder_hid_dim = {cfg.R2DecoderHidDim}"

    /// The size problems of a configuration whose dimensions are each valid: a parameter array
    /// larger than a .NET array holds, or parameters (with training's copies) larger than the memory.
    let private sizeErrors (cfg: Config) : ConfigError list =
        let e = Memory.estimate cfg 0 0
        let vs = ConfigOptions.values cfg

        let valueOf (key: string) =
            string vs[(ConfigOptions.find key).Index]

        if e.LargestArray > int64 Array.MaxLength then
            [
                {
                    Field = e.LargestArrayKey
                    Value = valueOf e.LargestArrayKey
                    Reason =
                        $"a parameter array would hold {e.LargestArray} entries, more than a .NET array holds ({Array.MaxLength}); sizes: {sizesText cfg}"
                }
            ]
        elif e.ParameterBytes > e.AvailableBytes then
            [
                {
                    Field = e.LargestArrayKey
                    Value = valueOf e.LargestArrayKey
                    Reason =
                        $"{e.Parameters} parameters need about {Memory.gibText e.ParameterBytes} with training's copies, more than the {Memory.gibText e.AvailableBytes} available; sizes: {sizesText cfg}"
                }
            ]
        else
            []

    let private findErrors (cfg: Config) : ConfigError list =
        let vs = ConfigOptions.values cfg

        let boundOf (option: ConfigOption) =
            option.MaxKey
            |> Option.bind (fun key ->
                let b = ConfigOptions.find key

                Some(vs[b.Index] :?> int, (rangeError b vs[b.Index] None).IsNone))

        let ranges =
            ConfigOptions.all
            |> List.choose (fun o ->
                rangeError o vs[o.Index] (boundOf o)
                |> Option.map (fun reason ->
                    {
                        Field = o.Key
                        Value = string vs[o.Index]
                        Reason = reason
                    }))

        // Sizes are multiplied only when each is valid.
        if ranges.IsEmpty then sizeErrors cfg else ranges

    // The last configuration found valid: records are immutable, so the same object stays valid,
    // and the many `validateOrThrow` calls on one configuration (one per inference call) are free.
    let mutable private lastValid: Config = Unchecked.defaultof<Config>

    let errors (cfg: Config) : ConfigError list =
        if obj.ReferenceEquals(cfg, lastValid) then
            []
        else
            let es = findErrors cfg

            if es.IsEmpty then
                lastValid <- cfg

            es

    let validate (cfg: Config) : Result<Config, ConfigError list> =
        match errors cfg with
        | [] -> Ok cfg
        | es -> Error es

    let checkMemory (cfg: Config) (batch: int) (windowLength: int) =
        let e = Memory.estimate cfg batch windowLength

        if e.TotalBytes > e.AvailableBytes then
            invalidArg
                (nameof batch)
                $"batch = {batch} windows of {windowLength} steps: about {Memory.gibText e.TotalBytes} needed ({Memory.gibText e.ParameterBytes} for {e.Parameters} parameters with training's copies, {Memory.gibText e.BatchBytes} per batch), more than the {Memory.gibText e.AvailableBytes} available; use smaller batches or windows ({sizesText cfg})."

    let validateOrThrow (cfg: Config) =
        match errors cfg with
        | [] -> cfg
        | es -> raise (InvalidConfigException es)
