namespace TiDHy.Functional

open System
open System.Text.Json

// The public surface of this file and its documentation: ConfigJson.fsi.
[<RequireQualifiedAccess>]
module ConfigJson =

    let ignoredUpstreamKeys =
        set
            [
                "spat_weight"
                "L1_alpha_inf"
                "L1_alpha_r2"
                "lr_weights_inf"
                "grad_alpha_inf"
            ]

    let private fail key (value: string) reason =
        raise (
            InvalidConfigException
                [
                    {
                        Field = key
                        Value = value
                        Reason = reason
                    }
                ]
        )

    let tryFloat (e: JsonElement) : float option =
        match e.ValueKind with
        | JsonValueKind.Number -> Some(e.GetDouble())
        | JsonValueKind.String ->
            match e.GetString() with
            | "NaN" -> Some nan
            | "Infinity" -> Some infinity
            | "-Infinity" -> Some -infinity
            | _ -> None
        | _ -> None

    let private getFloat key (e: JsonElement) =
        match tryFloat e with
        | Some v -> v
        | None -> fail key (e.GetRawText()) "expected a number"

    let private getInt key (e: JsonElement) =
        let mutable i = 0

        if e.ValueKind = JsonValueKind.Number && e.TryGetInt32(&i) then
            i
        else
            fail key (e.GetRawText()) "expected an integer"

    let private getBool key (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.True -> true
        | JsonValueKind.False -> false
        | _ -> fail key (e.GetRawText()) "expected true or false"

    let private getString key (e: JsonElement) =
        if e.ValueKind = JsonValueKind.String then
            e.GetString()
        else
            fail key (e.GetRawText()) "expected a string"

    /// The value of `option` read from `e`, boxed in the field's type.
    let private read (option: ConfigOption) (e: JsonElement) : obj =
        match option.Kind with
        | OptionKind.Int -> box (getInt option.Key e)
        | OptionKind.Float -> box (getFloat option.Key e)
        | OptionKind.Bool -> box (getBool option.Key e)
        | OptionKind.Enum cases -> ConfigOptions.parseCase option cases (getString option.Key e)

    /// How an upstream key that is no `Config` option is read.
    type private Rule =
        /// Another spelling of the option `target`: the values of `target` it stands for, the first
        /// taken when `target` is missing; when both are given they must agree.
        | Alias of target: string * meaning: (JsonElement -> obj list)
        /// Accepted only with the one value this port implements.
        | Fixed of accepts: (JsonElement -> bool) * reason: string
        /// Stored by upstream but never used: accepted and ignored.
        | Ignored

    /// Every upstream key that is no `Config` option. The only per-key rules of this module.
    let private rules: Map<string, Rule> =
        let batchConverge (e: JsonElement) =
            if getBool "batch_converge" e then
                [ box Convergence.Batch ]
            else
                [ box Convergence.AllSamples; box Convergence.PerSample ]

        [
            ("batch_converge", Alias("convergence", batchConverge))
            ("learning_rate_gamma",
             Fixed(
                 (fun e -> getFloat "learning_rate_gamma" e = 0.5),
                 "only 0.5 is supported (MODEL.md: the outer rates halve)"
             ))
            ("grad_norm_inf",
             Fixed(
                 (fun e -> not (getBool "grad_norm_inf" e)),
                 "GradNorm inside inference is not part of MODEL.md and is not supported"
             ))
        ]
        @ [ for k in ignoredUpstreamKeys -> k, Ignored ]
        |> Map.ofList

    /// Options whose default, when the key is missing, follows from the other options.
    let private derivedDefaults: (string * (Config -> obj)) list =
        [ "overlap", (fun cfg -> box (max 1 (cfg.SequenceLength / 10))) ]

    let ofElement (json: JsonElement) : Config =
        if json.ValueKind <> JsonValueKind.Object then
            fail "config" (json.ValueKind.ToString()) "expected a JSON object"

        let props = json.EnumerateObject() |> Seq.toList

        match props |> List.countBy _.Name |> List.tryFind (fun (_, n) -> n > 1) with
        | Some(key, n) -> fail key $"given {n} times" "duplicate key: each key may appear once"
        | None -> ()

        let given = props |> List.map _.Name |> set

        for o in ConfigOptions.all do
            if o.Default.IsNone && not (given.Contains o.Key) then
                fail o.Key "missing" "is required"

        let values = ConfigOptions.values (Config.defaults 0)
        let aliases = ResizeArray()

        for p in props do
            match ConfigOptions.tryFind p.Name, rules.TryFind p.Name with
            | Some o, _ -> values[o.Index] <- read o p.Value
            | None, Some(Alias(target, meaning)) -> aliases.Add(p, ConfigOptions.find target, meaning p.Value)
            | None, Some(Fixed(accepts, reason)) ->
                if not (accepts p.Value) then
                    fail p.Name (p.Value.GetRawText()) reason
            | None, Some Ignored -> ()
            | None, None -> fail p.Name (p.Value.GetRawText()) "unknown configuration key"

        for alias, target, meaning in aliases do
            if not (given.Contains target.Key) then
                values[target.Index] <- List.head meaning
            elif not (meaning |> List.exists (fun v -> v.Equals values[target.Index])) then
                let raw = (props |> List.find (fun p -> p.Name = target.Key)).Value.GetRawText()
                fail target.Key raw $"contradicts {alias.Name} = {alias.Value.GetRawText()}"

        let cfg =
            derivedDefaults
            |> List.fold
                (fun cfg (key, derive) ->
                    if given.Contains key then
                        cfg
                    else
                        ConfigOptions.set (ConfigOptions.find key) (derive cfg) cfg)
                (ConfigOptions.ofValues values)

        Config.validateOrThrow cfg

    let parse (text: string) : Config =
        use doc =
            try
                JsonDocument.Parse text
            with :? JsonException as ex ->
                raise (
                    InvalidConfigException
                        [
                            {
                                Field = "config"
                                Value = "(text)"
                                Reason = $"not valid JSON: {ex.Message}"
                            }
                        ]
                )

        ofElement doc.RootElement

    let private jsonFloat (v: float) =
        if Double.IsFinite v then
            v.ToString("R", Globalization.CultureInfo.InvariantCulture)
        else
            $"\"{v}\""

    let valueText (option: ConfigOption) (value: obj) : string =
        match option.Kind with
        | OptionKind.Int -> string value
        | OptionKind.Float -> jsonFloat (unbox value)
        | OptionKind.Bool -> if unbox value then "true" else "false"
        | OptionKind.Enum cases -> $"\"{ConfigOptions.caseName cases value}\""

    let fields (cfg: Config) : (string * string) list =
        let vs = ConfigOptions.values cfg
        ConfigOptions.all |> List.map (fun o -> o.Key, valueText o vs[o.Index])

    let toJson (cfg: Config) : string =
        "{\n"
        + String.Join(",\n", fields cfg |> List.map (fun (k, v) -> $"  \"{k}\": {v}"))
        + "\n}"
