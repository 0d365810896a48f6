namespace TiDHy.Functional

open System

/// A named set of option values that `Presets.apply` sets on a configuration (`tidhy train
/// --preset`, `tidhy demo --preset`): the options it names change, every other option keeps its
/// value.
type Preset =
    {
        /// The preset's name, e.g. `recovery`.
        Name: string
        /// What it is for and where its values come from, in one line.
        Doc: string
        /// The options it sets, as `(upstream key, value)` with the value in the option's own terms
        /// (`ConfigOptions.parse`: a number or `true` / `false` as JSON writes it, a case name).
        Options: (string * string) list
    }

/// The named presets (`Presets.all`) and how to apply one.
[<RequireQualifiedAccess>]
module Presets =

    /// Every preset, by name.
    let all: Preset list =
        [
            {
                Name = "recovery"
                Doc =
                    "the best settings of docs/SWEEP.md for recovering discrete states on the SLDS benchmark over long training: the hypernetwork learns about 33 times slower (learning_rate_h = 3e-5), which keeps W from collapsing onto one or two components, and the spatial decoder and the dynamics about 3 times slower (learning_rate_s = learning_rate_t = 3e-3), which steadies recovery across seeds."
                Options =
                    [
                        "learning_rate_h", "0.00003"
                        "learning_rate_s", "0.003"
                        "learning_rate_t", "0.003"
                    ]
            }
        ]

    /// The preset named `name`, if any.
    let tryFind (name: string) : Preset option =
        all |> List.tryFind (fun p -> p.Name = name)

    /// `cfg` with the options of `preset` set; raises `InvalidConfigException` for a value that is
    /// none of its option's or if the result is invalid.
    let applyPreset (preset: Preset) (cfg: Config) : Config =
        preset.Options
        |> List.fold
            (fun cfg (key, text) ->
                let o = ConfigOptions.find key
                ConfigOptions.set o (ConfigOptions.parse o text) cfg)
            cfg
        |> Config.validateOrThrow

    /// `cfg` with the options of the preset named `name` set; raises an ArgumentException naming the
    /// known presets for an unknown name.
    let apply (name: string) (cfg: Config) : Config =
        match tryFind name with
        | Some p -> applyPreset p cfg
        | None ->
            let known = all |> List.map _.Name |> ConfigOptions.quotedList
            invalidArg (nameof name) $"preset \"{name}\": no such preset; expected {known}."
