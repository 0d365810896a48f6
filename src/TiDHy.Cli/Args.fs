/// The checks of the `tidhy` commands' options, and their two kinds of error: the one-line user
/// error and usage error. Every command returns an exit code: 0 done, 1 failed (the message names the
/// file, field or value), 2 bad usage (before any file is read or written), 130 stopped by Ctrl-C and
/// 143 stopped by SIGTERM after saving a checkpoint (`Signals`).
module TiDHy.Cli.Args

open System
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

/// A comma-separated list of integers, each at least `least`; a usage error naming `option` otherwise.
let integers (option: string) (least: int) (noun: string) (value: string) =
    value.Split(',')
    |> Array.map (fun s ->
        match Int32.TryParse(s.Trim()) with
        | true, v when v >= least -> v
        | _ -> usage $"{option}: '{s}' is not a {noun}.")
    |> List.ofArray

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

/// Runs `f`, turning usage errors into one line and exit code 2, and the library's, the system's
/// and the user's errors into one line and exit code 1 (never a stack trace).
let guarded (f: unit -> int) =
    try
        f ()
    with
    | UsageError msg ->
        eprintfn "tidhy: %s" msg
        2
    | UserError msg ->
        eprintfn "tidhy: %s" msg
        1
    | InvalidConfigException errs ->
        eprintfn "tidhy: invalid configuration: %s" (String.Join("; ", errs |> List.map string))
        1
    | CheckpointException msg
    | StateDictException msg
    | DataFormatException msg ->
        eprintfn "tidhy: %s" msg
        1
    | :? ArgumentException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? InvalidOperationException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? TiDHy.Kernels.InferenceDivergedException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? IO.IOException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? UnauthorizedAccessException as ex ->
        eprintfn "tidhy: %s" ex.Message
        1
    | :? OutOfMemoryException as ex ->
        eprintfn "tidhy: out of memory: %s" ex.Message
        1
    | :? Argu.ArguParseException -> reraise ()
    | ex ->
        // Anything else is a bug, still reported as one line: its type and message.
        eprintfn "tidhy: unexpected %s: %s" (ex.GetType().Name) ex.Message
        1
