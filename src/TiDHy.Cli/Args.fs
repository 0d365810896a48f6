/// What the `tidhy` commands share: the one-line user error, reading a configuration and a series
/// with errors naming the file, cutting windows, and Ctrl-C handling. Every command returns an exit
/// code: 0 done, 1 failed (the message names the file, field or value), 2 bad usage, 130 stopped by
/// Ctrl-C after saving a checkpoint.
module TiDHy.Cli.Args

open System
open System.IO
open System.Text.Json.Nodes
open System.Threading
open TiDHy.Functional

/// A failure the user can fix, reported as one line without a stack trace.
exception UserError of string

/// Raises a `UserError` with `msg`.
let fail msg = raise (UserError msg)

/// The configuration JSON at `path` (upstream's names), parsed; errors name the file.
let readConfig (path: string) : Config =
    let text =
        try
            File.ReadAllText path
        with ex ->
            fail $"{path}: cannot be read: {ex.Message}"

    try
        ConfigJson.parse text
    with InvalidConfigException errs ->
        let listed = String.Join("; ", errs |> List.map string)
        fail $"{path}: {listed}"

/// The configuration from `path` (or the defaults) for data with `features` columns: `input_dim`
/// is taken from the data when absent and must match it when present.
let configFor (path: string option) (features: int) : Config =
    match path with
    | None -> Config.defaults features
    | Some path ->
        let text =
            try
                File.ReadAllText path
            with ex ->
                fail $"{path}: cannot be read: {ex.Message}"

        let node =
            try
                JsonNode.Parse text
            with ex ->
                fail $"{path}: not valid JSON: {ex.Message}"

        match node with
        | :? JsonObject as o ->
            match o["input_dim"] with
            | null -> o["input_dim"] <- JsonValue.Create features
            | v when
                v.GetValueKind() = Text.Json.JsonValueKind.Number
                && v.GetValue<int>() <> features
                ->
                fail $"{path}: input_dim = {v} but the data has {features} features."
            | _ -> ()

            try
                ConfigJson.parse (o.ToJsonString())
            with InvalidConfigException errs ->
                let listed = String.Join("; ", errs |> List.map string)
                fail $"{path}: {listed}"
        | _ -> fail $"{path}: expected a JSON object of hyperparameters."

/// Loads a series `[time; features]` from a .csv, .npy or .npz file.
let loadSeries (path: string) : float[,] =
    if not (File.Exists path) then
        fail $"{path}: no such file."

    Data.load path

/// Windows `[count; sequence_length; features]` of `cfg.SequenceLength` steps starting `step` apart
/// (upstream's `stack_data`), of a series `[time; features]`; an error naming `what` when the series
/// is shorter than one window.
let windowsOf (what: string) (cfg: Config) (step: int) (series: float[,]) =
    if Array2D.length1 series < cfg.SequenceLength then
        fail
            $"{what}: {Array2D.length1 series} time steps, fewer than one window of sequence_length = {cfg.SequenceLength}."

    Series.windowsStrided cfg.SequenceLength step series

/// Installs a Ctrl-C handler for the lifetime of the returned value: the first Ctrl-C cancels `cts`
/// instead of killing the process (training stops after its batch and saves a checkpoint), a second
/// one ends the process.
let cancelOnCtrlC (cts: CancellationTokenSource) =
    let handler =
        ConsoleCancelEventHandler(fun _ e ->
            // The first Ctrl-C stops cleanly; a second one ends the process at once.
            if not cts.IsCancellationRequested then
                e.Cancel <- true
                eprintfn "Stopping after the current batch and saving a checkpoint (Ctrl-C again to quit at once)…"
                cts.Cancel())

    Console.CancelKeyPress.AddHandler handler

    { new IDisposable with
        member _.Dispose() =
            Console.CancelKeyPress.RemoveHandler handler
    }
