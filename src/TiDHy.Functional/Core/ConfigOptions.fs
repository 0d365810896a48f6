namespace TiDHy.Functional

open System
open System.Globalization
open System.Reflection
open Microsoft.FSharp.Reflection

/// The cases of a union of fieldless cases held by an enum option (`LossKind`, `BatchScaling`,
/// `Convergence`, `Backend`): JSON and the C# facade use the case names.
[<NoEquality; NoComparison>]
type OptionCases =
    {
        /// The union type.
        Union: Type
        /// The case names, in declaration order.
        Names: string list
        /// The case values, in declaration order.
        Values: obj list
        /// The index of a value's case.
        TagOf: obj -> int
    }

/// What an option holds.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type OptionKind =
    | Int
    | Float
    | Bool
    /// A union of fieldless cases.
    | Enum of OptionCases

/// One hyperparameter: a `Config` field with its `ConfigOption` declaration, as `ConfigOptions` reads it.
[<NoEquality; NoComparison>]
type ConfigOption =
    {
        /// The upstream (JSON) key, e.g. `r_dim`.
        Key: string
        /// The `Config` field (and C# property) name, e.g. `RDim`.
        Property: string
        /// The field's position in the record.
        Index: int
        /// What it holds.
        Kind: OptionKind
        /// The default (boxed in the field's type); `None` for a required option.
        Default: obj option
        /// Inclusive lower bound of a number (exclusive when `MinExclusive`).
        Min: float option
        /// `Min` itself is invalid.
        MinExclusive: bool
        /// Inclusive upper bound of a number.
        Max: float option
        /// The key of the integer option that bounds this one from above.
        MaxKey: string option
        /// Why the range is what it is.
        Why: string option
        /// One line of documentation.
        Doc: string
        /// The part of the computation it changes.
        Stage: OptionStage
    }

/// The table of every hyperparameter, read once from the `ConfigOption` declarations on `Config`'s
/// fields, in field order. Everything that treats options one by one (defaults, validation, JSON,
/// the checkpoint's comparison, the C# facade) works from it.
[<RequireQualifiedAccess>]
module ConfigOptions =

    let private invalidDeclaration (property: string) (why: string) =
        raise (InvalidOperationException $"Config.{property}: invalid ConfigOption declaration: {why}")

    let private casesOf (t: Type) : OptionCases =
        let cases = FSharpType.GetUnionCases t

        if cases |> Array.exists (fun c -> c.GetFields().Length > 0) then
            invalidDeclaration t.Name "an enum option's union must have only fieldless cases"

        let tag = FSharpValue.PreComputeUnionTagReader t

        {
            Union = t
            Names = cases |> Array.map _.Name |> Array.toList
            Values = cases |> Array.map (fun c -> FSharpValue.MakeUnion(c, [||])) |> Array.toList
            TagOf = tag
        }

    /// The case of `cases` named `name`, if any: a case name, or for `Saturation` also one of
    /// upstream JAX's lower-case spellings.
    let private tryCase (cases: OptionCases) (name: string) : obj option =
        let upstream =
            if cases.Union = typeof<Saturation> then
                // Upstream JAX's lower-case spellings of the saturation methods.
                [ "none"; "sigmoid"; "tanh"; "scaled_tanh" ] |> List.tryFindIndex ((=) name)
            else
                Option.None

        List.tryFindIndex ((=) name) cases.Names
        |> Option.orElse upstream
        |> Option.map (fun i -> cases.Values[i])

    /// `text` as a value of an option of `kind`, boxed in the field's type, if it is one: written in
    /// the option's own terms, as declarations write their defaults and presets their values: an
    /// integer or a number (invariant culture), `true` or `false`, or a case name (`tryCase`).
    let private tryParse (kind: OptionKind) (text: string) : obj option =
        match kind with
        | OptionKind.Int ->
            match Int32.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) with
            | true, v -> Some(box v)
            | _ -> Option.None
        | OptionKind.Float ->
            match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, v -> Some(box v)
            | _ -> Option.None
        | OptionKind.Bool ->
            match text with
            | "true" -> Some(box true)
            | "false" -> Some(box false)
            | _ -> Option.None
        | OptionKind.Enum cases -> tryCase cases text

    let private parseDefault (property: string) (kind: OptionKind) (text: string) : obj =
        match tryParse kind text with
        | Some v -> v
        | Option.None -> invalidDeclaration property $"default \"{text}\" is not a value of the field's type"

    let private ofProperty (index: int) (p: PropertyInfo) : ConfigOption =
        let decl =
            match p.GetCustomAttributes(typeof<ConfigOptionAttribute>, false) with
            | [| :? ConfigOptionAttribute as a |] -> a
            | _ -> invalidDeclaration p.Name "every Config field needs exactly one [<ConfigOption>]"

        let kind =
            if p.PropertyType = typeof<int> then
                OptionKind.Int
            elif p.PropertyType = typeof<float> then
                OptionKind.Float
            elif p.PropertyType = typeof<bool> then
                OptionKind.Bool
            elif FSharpType.IsUnion p.PropertyType then
                OptionKind.Enum(casesOf p.PropertyType)
            else
                invalidDeclaration p.Name $"unsupported type {p.PropertyType.Name}"

        let numeric =
            match kind with
            | OptionKind.Int
            | OptionKind.Float -> true
            | _ -> false

        let bound (v: float) = if Double.IsNaN v then None else Some v

        let text (s: string) =
            if String.IsNullOrEmpty s then None else Some s

        if String.IsNullOrWhiteSpace decl.Key then
            invalidDeclaration p.Name "empty key"

        if
            not numeric
            && (bound decl.Min, bound decl.Max, text decl.MaxKey) <> (None, None, None)
        then
            invalidDeclaration p.Name "a range on an option that is no number"

        if String.IsNullOrWhiteSpace decl.Doc then
            invalidDeclaration p.Name "no Doc"

        if decl.Stage = OptionStage.Unspecified then
            invalidDeclaration p.Name "no Stage (the part of the computation it changes)"

        {
            Key = decl.Key
            Property = p.Name
            Index = index
            Kind = kind
            Default =
                match decl.Required, text decl.Default with
                | true, None -> None
                | false, Some d -> Some(parseDefault p.Name kind d)
                | true, Some _ -> invalidDeclaration p.Name "a required option has no default"
                | false, None -> invalidDeclaration p.Name "no Default (or Required = true)"
            Min = bound decl.Min
            MinExclusive = decl.MinExclusive
            Max = bound decl.Max
            MaxKey = text decl.MaxKey
            Why = text decl.Why
            Doc = decl.Doc
            Stage = decl.Stage
        }

    /// Every option, in `Config`'s field order.
    let all: ConfigOption list =
        let options =
            FSharpType.GetRecordFields typeof<Config>
            |> Array.mapi ofProperty
            |> Array.toList

        for dup in options |> List.countBy _.Key |> List.filter (fun (_, n) -> n > 1) do
            invalidDeclaration (fst dup) "the key is declared twice"

        for o in options do
            match o.MaxKey with
            | Some k when not (options |> List.exists (fun b -> b.Key = k && b.Kind.IsInt)) ->
                invalidDeclaration o.Property $"MaxKey {k} is no integer option"
            | _ -> ()

        options

    let private byKey = all |> List.map (fun o -> o.Key, o) |> dict

    /// The option with upstream key `key`, if any.
    let tryFind (key: string) : ConfigOption option =
        match byKey.TryGetValue key with
        | true, o -> Some o
        | _ -> None

    /// The option with upstream key `key`; raises `KeyNotFoundException` for an unknown key.
    let find (key: string) : ConfigOption = byKey[key]

    let private reader = FSharpValue.PreComputeRecordReader typeof<Config>
    let private constructor = FSharpValue.PreComputeRecordConstructor typeof<Config>

    /// Every field's value, boxed, in `all`'s order (a fresh array).
    let values (cfg: Config) : obj[] = reader (box cfg)

    /// The configuration holding `values` (boxed field values in `all`'s order).
    let ofValues (values: obj[]) : Config = constructor values :?> Config

    /// The value of `option` in `cfg`, boxed.
    let get (option: ConfigOption) (cfg: Config) : obj = (values cfg)[option.Index]

    /// `cfg` with `option` set to `value` (boxed in the field's type).
    let set (option: ConfigOption) (value: obj) (cfg: Config) : Config =
        let vs = values cfg
        vs[option.Index] <- value
        ofValues vs

    /// The case name of an enum option's value.
    let caseName (cases: OptionCases) (value: obj) : string = cases.Names[cases.TagOf value]

    /// `"A", "B" or "C"`: the quoted names of `names`.
    let quotedList (names: string list) =
        let q = names |> List.map (fun n -> $"\"{n}\"")

        match List.rev q with
        | [] -> ""
        | [ one ] -> one
        | last :: rest -> String.Join(", ", List.rev rest) + " or " + last

    /// The case of an enum option named `name` (see `tryCase`); raises `InvalidConfigException`
    /// naming the key, the value and the valid names otherwise.
    let parseCase (option: ConfigOption) (cases: OptionCases) (name: string) : obj =
        match tryCase cases name with
        | Some v -> v
        | Option.None ->
            raise (
                InvalidConfigException
                    [
                        {
                            Field = option.Key
                            Value = $"\"{name}\""
                            Reason = $"expected {quotedList cases.Names}"
                        }
                    ]
            )

    /// `text` as a value of `option`, boxed in the field's type, written in the option's own terms
    /// (as a preset writes it, and a declaration its default; see `tryParse`); raises
    /// `InvalidConfigException` naming the key, the text and what was expected otherwise (for an
    /// enum option, `parseCase`'s).
    let parse (option: ConfigOption) (text: string) : obj =
        match tryParse option.Kind text, option.Kind with
        | Some v, _ -> v
        | Option.None, OptionKind.Enum cases -> parseCase option cases text
        | Option.None, kind ->
            let expected =
                match kind with
                | OptionKind.Int -> "an integer"
                | OptionKind.Float -> "a number"
                | _ -> "true or false"

            raise (
                InvalidConfigException
                    [
                        {
                            Field = option.Key
                            Value = text
                            Reason = $"expected {expected}"
                        }
                    ]
            )
