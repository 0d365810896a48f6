/// What the `tidhy` commands read: a configuration (with `input_dim` from the data), a series or a
/// `--states` file with errors naming the file, the windows cut from a series, and the validation
/// steps' state labels from a `--states` file.
module TiDHy.Cli.Inputs

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli.Args

/// The text of the configuration file `path`; an error naming it when it cannot be read.
let private configText (path: string) =
    if Directory.Exists path then
        fail $"{path}: is a folder; --config names a configuration file (JSON)."

    try
        File.ReadAllText path
    with ex ->
        fail $"{path}: cannot be read: {ex.Message}"

/// `ConfigJson`'s errors about the configuration file `path`, as one error naming it.
let private namingFile (path: string) (parse: unit -> Config) =
    try
        parse ()
    with InvalidConfigException errs ->
        let listed = String.Join("; ", errs |> List.map string)
        fail $"{path}: {listed}"

/// The configuration JSON at `path` (upstream's names), parsed; errors name the file.
let readConfig (path: string) : Config =
    let text = configText path
    namingFile path (fun () -> ConfigJson.parse text)

/// The JSON object `root` with `input_dim` = `features` added after its keys (the parsed object,
/// not its text read again).
let private withInputDim (root: JsonElement) (features: int) : JsonElement =
    let o = JsonObject.Create root
    o["input_dim"] <- JsonValue.Create features
    JsonSerializer.SerializeToElement o

/// The configuration from `path` (or the defaults) for data with `features` columns: `input_dim`
/// is taken from the data when absent and must match it when present. Errors (unreadable file,
/// invalid JSON, a key given twice, a value of the wrong type or out of range) name the file and key.
let configFor (path: string option) (features: int) : Config =
    match path with
    | None -> Config.defaults features
    | Some path ->
        let text = configText path

        use doc =
            try
                JsonDocument.Parse text
            with :? JsonException as ex ->
                fail $"{path}: not valid JSON: {ex.Message}"

        let root = doc.RootElement

        if root.ValueKind <> JsonValueKind.Object then
            fail $"{path}: expected a JSON object of hyperparameters."

        let props = root.EnumerateObject() |> Seq.toList

        let parsed (json: JsonElement) =
            namingFile path (fun () -> ConfigJson.ofElement json)

        if props |> List.countBy _.Name |> List.exists (fun (_, n) -> n > 1) then
            parsed root // ConfigJson names the duplicate key
        else
            match props |> List.tryFind (fun p -> p.Name = "input_dim") with
            | None -> parsed (withInputDim root features)
            | Some p ->
                let v = p.Value
                let mutable d = 0

                if not (v.ValueKind = JsonValueKind.Number && v.TryGetInt32(&d)) then
                    fail
                        $"{path}: input_dim = {v.GetRawText()}: expected an integer (the data has {features} features)."

                if d <> features then
                    fail $"{path}: input_dim = {d} but the data has {features} features."

                parsed root

/// True when the file at `path` is empty or holds only white space (read up to its first 4 KiB that
/// are not white space).
let isBlank (path: string) =
    use s = File.OpenRead path
    let buffer = Array.zeroCreate<byte> 4096
    let mutable blank = true
    let mutable n = s.Read(buffer, 0, buffer.Length)

    while blank && n > 0 do
        for i in 0 .. n - 1 do
            match buffer[i] with
            | 32uy
            | 9uy
            | 10uy
            | 13uy -> ()
            | _ -> blank <- false

        n <- if blank then s.Read(buffer, 0, buffer.Length) else 0

    blank

/// `path` when its file exists (the part before a dataset path such as `file.h5:/x`); else an error.
let private existing (path: string) =
    let file, _ = Data.splitDatasetPath path

    if not (File.Exists file) then
        fail $"{file}: no such file."

    path

/// Loads a series `[time; features]` from a .csv, .npy, .npz or .h5 file (`file.h5:/dataset`).
let loadSeries (path: string) : float[,] = Data.load (existing path)

/// `loadSeries` for a `--states` file of integer labels (`Data.loadLabels`).
let loadStates (path: string) : float[,] = Data.loadLabels (existing path)

/// Windows `[count; sequence_length; features]` of `cfg.SequenceLength` steps starting `step` apart
/// (upstream's `stack_data`), of a series `[time; features]`; an error naming `what` when the series
/// is shorter than one window or holds values outside the loss's domain (`Data.checkDomain`).
let windowsOf (what: string) (cfg: Config) (step: int) (series: float[,]) =
    Data.checkDomain cfg what series

    if Array2D.length1 series < cfg.SequenceLength then
        fail
            $"{what}: {Array2D.length1 series} time steps, fewer than one window of sequence_length = {cfg.SequenceLength}."

    try
        Series.windowsStrided cfg.SequenceLength step series
    with :? ArgumentException as ex ->
        // Too many windows for the memory: one line naming the file.
        let suffix = $" (Parameter '{ex.ParamName}')"
        fail $"{what}: {ex.Message.Replace(suffix, String.Empty)}"

/// The state label (`Decoding.stateLabels`) of each validation step that the windows cover, from the
/// `--states` file `path`: one row per step of `--val-data` (`valData`), or of the whole `--data`
/// (`dataSteps` rows) whose validation steps, from `validStart`, are held out like the data. Every value
/// must be a non-negative integer, and there must be at least one column. Returns the labels and the
/// fingerprint (`Train.fingerprint`) of the states they come from; warns when the validation steps
/// all have one state (every decoder is then right). Errors name the file.
let validationLabels
    (path: string)
    (valData: string option)
    (dataPath: string)
    (dataSteps: int)
    (validStart: int)
    (validSteps: int)
    (covered: int)
    =
    let states = loadStates path

    if Array2D.length2 states = 0 then
        fail $"{path}: no columns; --states needs one column per system, each step's discrete state (an integer >= 0)."

    for t in 0 .. Array2D.length1 states - 1 do
        for j in 0 .. Array2D.length2 states - 1 do
            let v = states[t, j]

            if not (v >= 0.0 && v = System.Math.Floor v && v < 2147483648.0) then
                fail
                    $"{path}: row {t + 1}, column {j + 1} is {v}; states must be non-negative integers (one discrete state per system)."

    let aligned =
        match valData with
        | Some v ->
            if Array2D.length1 states <> validSteps then
                fail
                    $"{path}: {Array2D.length1 states} rows, but --val-data {v} has {validSteps} time steps; --states needs one row per step of --val-data."

            states
        | None ->
            if Array2D.length1 states <> dataSteps then
                fail
                    $"{path}: {Array2D.length1 states} rows, but --data {dataPath} has {dataSteps} time steps; --states needs one row per step of --data (its held-out tail is the validation)."

            states[validStart .. validStart + validSteps - 1, *]

    let systems = Array2D.length2 aligned

    let labels =
        Decoding.stateLabels (Array2D.init covered systems (fun t j -> int aligned[t, j]))

    if labels |> Array.forall ((=) 0) then
        let row = String.concat ", " (List.init systems (fun j -> string aligned[0, j]))

        eprintfn
            "Warning: --states %s: all %d decoded validation steps have one state (%s); r2_hat_accuracy and w_accuracy will be 1.0 whatever the model learns (use states with at least two values, or a longer validation)."
            path
            covered
            row

    labels, Train.fingerprint (Array3D.init 1 covered systems (fun _ t j -> aligned[t, j]))
