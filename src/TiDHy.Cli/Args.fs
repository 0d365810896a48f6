/// The checks of the `tidhy` commands' options, and their two kinds of error: the one-line user
/// error and usage error. Every command returns an exit code: 0 done, 1 failed (the message names the
/// file, field or value), 2 bad usage (before any file is read or written), 130 stopped by Ctrl-C and
/// 143 stopped by SIGTERM after saving a checkpoint (`Signals`).
module TiDHy.Cli.Args

open TiDHy.Functional

/// A failure the user can fix, reported as one line without a stack trace (exit code 1).
exception UserError of string

/// A bad option value, reported as one line (exit code 2) before any file is read or written.
exception UsageError of string

/// Raises a `UserError` with `msg`.
let fail msg = raise (UserError msg)

/// Raises a `UsageError` with `msg`.
let usage msg = raise (UsageError msg)

/// `value` when it is at least 1; a usage error naming `option` otherwise.
let positive (option: string) (value: int) =
    if value < 1 then
        usage $"{option}: expected a positive integer, got {value}."

    value

/// `value` when it is at least 0; a usage error naming `option` otherwise.
let nonNegative (option: string) (value: int) =
    if value < 0 then
        usage $"{option}: expected an integer >= 0, got {value}."

    value

/// The preset that `--preset NAME` names (`None` without the option); a usage error naming the
/// known presets for a name that is not one.
let presetOf (name: string option) : Preset option =
    name
    |> Option.map (fun name ->
        match Presets.tryFind name with
        | Some p -> p
        | None ->
            let known = Presets.all |> List.map _.Name |> ConfigOptions.quotedList
            usage $"--preset: no preset '{name}'; expected {known}.")
