/// `tidhy reproduce slds`: the paper's SLDS experiment as one command. It writes a sweep file
/// (`reproduce.json`: the SLDS benchmark at the given lengths for each data seed, a preset, the
/// epochs, the validation states decoded every few epochs), plans it (`sweep/`), runs it here or
/// submits it to SLURM, and collects one report (`reproduction.md`, `reproduction.json`): per data
/// seed and epoch the held-out-block decoding of R2_hat, W and R_hat beside the raw input's, the
/// selected model's test table (the latents, the raw and delay-embedded input, the ARHMM), the
/// label-free timescales against the truth and the untrained model, and the time per epoch. Run
/// again with the same options, it resumes; with more data or training seeds, it extends the sweep.
module TiDHy.Cli.ReproduceCommand

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.SweepPlan

/// The preset `--preset` defaults to.
[<Literal>]
let DefaultPreset = "paper-jax"

type SldsArgs =
    | [<Mandatory>] Out of dir: string
    | Preset of name: string
    | Seeds of seeds: string
    | Train_Seeds of seeds: string
    | Epochs of int
    | Lengths of steps: string
    | Monitor_Every of int
    | Batch_Size of int
    | Backend of name: string
    | Executor of name: string
    | Jobs of int
    | Cpus of int
    | Memory of size: string
    | Time of limit: string
    | Partition of name: string
    | Account of name: string
    | Setup of line: string
    | Report

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ ->
                "the reproduction's folder: reproduce.json (the sweep file), sweep/ (the planned sweep), reproduction.md and reproduction.json (the report); the same options again resume it."
            | Preset _ -> $"the model's preset (default {DefaultPreset}; tidhy train --help lists them)."
            | Seeds _ -> "comma-separated data seeds of the SLDS generator (default 10, the paper's first)."
            | Train_Seeds _ -> "comma-separated training seeds per data seed (default 0)."
            | Epochs _ -> "training epochs per run, >= 1 (default 50)."
            | Lengths _ ->
                "train,validation,test steps of the generated series (default 200000,50000,50000, the paper's)."
            | Monitor_Every _ ->
                "decode the validation states from R2_hat, W and R_hat every this many epochs, >= 1 (default 5; and after the last)."
            | Batch_Size _ ->
                "windows per training batch, >= 1 (default: every training window in one batch, as the paper; the memory it needs is checked before training starts)."
            | Backend _ ->
                "the engine, as tidhy train's --backend names it (default FusedFloat32: float32 inference, as upstream's PyTorch and JAX code ran; Fused for float64)."
            | Executor _ ->
                "local (default: run here, in the foreground) or slurm (submit one job array with sbatch; then run the same command with --report when it is done)."
            | Jobs _ -> "local: runs at once, >= 1 (default: the cores divided by --cpus)."
            | Cpus _ -> "cores per run (also the kernels' workers; SLURM's --cpus-per-task), >= 1 (default: all cores)."
            | Memory _ -> "slurm: memory per run (--mem, e.g. 16G)."
            | Time _ -> "slurm: time limit per run (--time, e.g. 2-00:00:00); a run resumes after it is requeued."
            | Partition _ -> "slurm: the partition."
            | Account _ -> "slurm: the account."
            | Setup _ -> "slurm: a shell line run before each run, e.g. \"module load dotnet\" (repeatable)."
            | Report -> "write the report of the runs so far and nothing else (no planning, no training)."

and [<RequireQualifiedAccess>] ReproduceArgs =
    | [<CliPrefix(CliPrefix.None)>] Slds of ParseResults<SldsArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Slds _ ->
                "the paper's SLDS benchmark: data seeds × training seeds, trained, monitored and evaluated on held-out blocks; one report."

/// The sweep file `reproduce` writes into its folder.
[<Literal>]
let SweepFileName = "reproduce.json"

/// The planned sweep's folder inside the reproduction's folder.
[<Literal>]
let SweepFolder = "sweep"

/// What one reproduction runs (from the options).
type Reproduction =
    {
        Preset: string
        DataSeeds: int list
        TrainSeeds: int list
        Epochs: int
        Lengths: int * int * int
        MonitorEvery: int
        BatchSize: int option
        Backend: string
        Cpus: int
        Memory: string option
        Time: string option
    }

/// The sweep file of a reproduction (docs/SWEEPS.md): the SLDS benchmark, the preset, selection by
/// the validation's R2_hat decoding, the full evaluation (decoding table, ARHMM, timescales).
let sweepJson (r: Reproduction) =
    let ints (xs: int list) =
        JsonArray(xs |> List.map (fun x -> JsonValue.Create x :> JsonNode) |> List.toArray)

    let a, b, c = r.Lengths
    let o = JsonObject()
    o["name"] <- JsonValue.Create $"reproduce-slds-{r.Preset}"
    o["data"] <- JsonValue.Create "slds"
    o["slds_lengths"] <- ints [ a; b; c ]
    o["data_seeds"] <- ints r.DataSeeds
    o["seeds"] <- ints r.TrainSeeds
    o["preset"] <- JsonValue.Create r.Preset
    o["epochs"] <- JsonValue.Create r.Epochs

    o["batch_size"] <-
        match r.BatchSize with
        | Some n -> JsonValue.Create n
        | None -> JsonValue.Create "full"

    o["backend"] <- JsonValue.Create r.Backend
    o["validate_every"] <- JsonValue.Create 1
    o["monitor_every"] <- JsonValue.Create r.MonitorEvery
    o["select"] <- JsonValue.Create "r2"
    o["evaluate"] <- JsonValue.Create "full"
    let res = JsonObject()
    res["cpus"] <- JsonValue.Create r.Cpus
    r.Memory |> Option.iter (fun m -> res["memory"] <- JsonValue.Create m)
    r.Time |> Option.iter (fun t -> res["time"] <- JsonValue.Create t)
    o["resources"] <- res
    o.ToJsonString(JsonSerializerOptions(WriteIndented = true)) + "\n"

/// Plans the reproduction in `dir` (new or empty), or finds it planned with the same file (resume),
/// or extends it (more data or training seeds: `tidhy sweep plan --extend`'s rules; anything else
/// that differs is an error naming the folder). Returns the plan.
let planIn (dir: string) (text: string) : Plan =
    let file = Path.Combine(dir, SweepFileName)
    let sweepDir = Path.Combine(dir, SweepFolder)

    if File.Exists(Path.Combine(sweepDir, ManifestFile)) then
        if File.Exists file && File.ReadAllText file = text then
            printfn "Resuming the reproduction planned in %s." dir
        else
            // The new file is checked against the planned sweep before it replaces the old one.
            let candidate = Path.Combine(dir, SweepFileName + ".new")
            File.WriteAllText(candidate, text)

            try
                let added =
                    try
                        snd (SweepPlan.plan candidate sweepDir true)
                    with UserError msg ->
                        fail
                            $"{dir} holds a reproduction planned with other options; run it with the same options to resume it, add only --seeds or --train-seeds to extend it, or choose another --out ({msg})"

                File.Move(candidate, file, true)
                printfn "Extended the reproduction in %s by %d run(s)." dir added.Length
            finally
                if File.Exists candidate then
                    File.Delete candidate

        SweepPlan.read sweepDir
    else
        if
            Directory.Exists dir
            && not (Seq.isEmpty (Directory.EnumerateFileSystemEntries dir))
        then
            fail
                $"{dir} is not empty and holds no reproduction ({SweepFolder}/{ManifestFile}); choose a new or empty --out."

        Directory.CreateDirectory dir |> ignore
        File.WriteAllText(file, text)

        try
            let plan, added = SweepPlan.plan file sweepDir false
            printfn "Planned %d run(s) in %s." added.Length sweepDir
            plan
        with _ ->
            // A plan that fails writes nothing: neither does the reproduction.
            File.Delete file
            reraise ()

let private invariant = CultureInfo.InvariantCulture

let private fmt (digits: int) (v: float) =
    if Double.IsFinite v then
        v.ToString("F" + string digits, invariant)
    else
        "—"

/// A number cell of a collected row.
let private cell (r: SweepCollect.Row) (column: string) =
    r.Cells
    |> List.tryPick (fun (k, v) ->
        match v with
        | SweepCollect.Number x when k = column -> Some x
        | _ -> None)

/// The per-epoch metrics of the monitored epochs of a run, and its seconds per epoch.
type EpochRow =
    {
        Epoch: int
        Values: (string * float) list
    }

/// The monitored columns of the by-epoch table, with their headings.
let epochColumns =
    [
        TrainingMonitor.R2HatAccuracy, "R2_hat"
        TrainingMonitor.WAccuracy, "W"
        TrainingMonitor.RHatAccuracy, "R_hat"
        TrainingMonitor.RawInputAccuracy, "raw input"
        "validation", "validation objective"
        "seconds", "seconds"
    ]

/// The monitored epochs of task `t` (those with an R2_hat accuracy), from its `metrics.csv`.
let epochRows (plan: Plan) (t: SweepFile.SweepTask) =
    let metrics = SweepCollect.metricsOf plan t

    match Map.tryFind TrainingMonitor.R2HatAccuracy metrics with
    | None -> []
    | Some monitored ->
        monitored
        |> List.map (fun (e, _) ->
            {
                Epoch = e
                Values =
                    epochColumns
                    |> List.choose (fun (k, _) ->
                        Map.tryFind k metrics
                        |> Option.bind (List.tryFind (fst >> (=) e))
                        |> Option.map (fun (_, v) -> k, v))
            })

/// Mean seconds per epoch of task `t` (`metrics.csv`'s `seconds`), if it trained.
let secondsPerEpoch (plan: Plan) (t: SweepFile.SweepTask) =
    match Map.tryFind "seconds" (SweepCollect.metricsOf plan t) with
    | Some(_ :: _ as s) -> Some(List.averageBy snd s)
    | _ -> None

/// The names eval gave the decoding features and the timescale sources of the finished runs, by the
/// slug of their collected columns (`SweepCollect.slug`).
let private displayNames (plan: Plan) (rows: SweepCollect.Row list) =
    [
        for r in rows do
            match SweepRun.tryReadJson (pathsOf plan.Dir r.Task.Id).Result with
            | Some result ->
                let measures = SweepFile.prop result "measures"

                let names (path: string list) (key: string) =
                    let rec walk (node: JsonNode option) (path: string list) =
                        match node, path with
                        | Some n, [] -> Some n
                        | Some(:? JsonObject as o), p :: rest -> walk (SweepFile.prop o p) rest
                        | _ -> None

                    match walk measures path with
                    | Some(:? JsonArray as items) ->
                        [
                            for item in items do
                                match item with
                                | :? JsonObject as o ->
                                    match SweepFile.prop o key with
                                    | Some v ->
                                        let name = SweepFile.valueText v
                                        SweepCollect.slug name, name
                                    | None -> ()
                                | _ -> ()
                        ]
                    | _ -> []

                yield! names [ "decoding"; "rows" ] "name"
                yield! names [ "timescales" ] "source"
            | None -> ()
    ]
    |> Map.ofList

/// The decoding features of the test table, in the order eval lists them (the collected columns
/// `decode_<feature>_block_knn`).
let private decodingFeatures (rows: SweepCollect.Row list) =
    rows
    |> List.collect (fun r -> r.Cells |> List.map fst)
    |> List.filter (fun k -> k.StartsWith "decode_" && k.EndsWith "_block_knn")
    |> List.distinct
    |> List.map (fun k -> k.Substring(7, k.Length - 7 - 10))

let private timescaleSources (rows: SweepCollect.Row list) =
    rows
    |> List.collect (fun r -> r.Cells |> List.map fst)
    |> List.filter (fun k -> k.StartsWith "timescales_" && k.EndsWith "_matched")
    |> List.distinct
    |> List.map (fun k -> k.Substring(11, k.Length - 11 - 8))

/// The report's markdown.
let reportMarkdown (plan: Plan) (rows: SweepCollect.Row list) (command: string) =
    let s = plan.Sweep
    let sb = StringBuilder()
    let line (t: string) = sb.AppendLine t |> ignore

    let a, b, c =
        match s.Data with
        | SweepFile.Slds(a, b, c) -> a, b, c
        | SweepFile.Files _ -> 0, 0, 0

    let label (r: SweepCollect.Row) =
        let d = r.Task.DataSeed |> Option.map string |> Option.defaultValue "-"
        $"data {d}, seed {r.Task.Seed}"

    line $"# {s.Name}"
    line ""
    line $"- Command: `{command}`"
    let written = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", invariant)
    let dataSeeds = String.Join(", ", s.DataSeeds)
    line $"- Written: {written} UTC on {TrainBenchmark.cpuName ()} ({Environment.ProcessorCount} cores)"
    line $"- Data: the SLDS benchmark, {a} / {b} / {c} train / validation / test steps, data seeds {dataSeeds}"

    line
        $"""- Model: preset `{s.Preset |> Option.defaultValue "none"}`; training seeds {String.Join(", ", s.Seeds)}; {s.Epochs |> Option.map string |> Option.defaultValue "the configuration's"} epochs"""

    line
        "- Measures: decoding of the true states with kNN (k = 3) on held-out contiguous blocks (validation: every monitored epoch; test: the selected model), never a random per-step split, which leaks time."

    line ""
    line "## Runs"
    line ""
    line "| run | state | epochs | seconds per epoch | selected epoch (by validation R2_hat decoding) | score |"
    line "|---|---|---|---|---|---|"

    for r in rows do
        let n (k: string) d =
            cell r k |> Option.map (fmt d) |> Option.defaultValue ""

        let epochs =
            SweepCollect.metricsOf plan r.Task
            |> Map.tryFind "seconds"
            |> Option.map List.length

        line
            $"""| {label r} | {r.State} | {epochs |> Option.map string |> Option.defaultValue "0"} | {secondsPerEpoch plan r.Task |> Option.map (fmt 1) |> Option.defaultValue ""} | {n "selected_epoch" 0} | {n "selection_score" 3} |"""

    for r in rows do
        let er = epochRows plan r.Task

        if not er.IsEmpty then
            line ""
            line $"## Validation decoding by epoch: {label r}"
            line ""
            line ("| epoch | " + String.Join(" | ", epochColumns |> List.map snd) + " |")
            line ("|---|" + String.replicate epochColumns.Length "---|")

            for e in er do
                let v k d =
                    e.Values
                    |> List.tryFind (fst >> (=) k)
                    |> Option.map (snd >> fmt d)
                    |> Option.defaultValue ""

                line (
                    $"| {e.Epoch} | "
                    + String.Join(
                        " | ",
                        epochColumns
                        |> List.map (fun (k, _) -> v k (if k = "seconds" || k = "validation" then 2 else 3))
                    )
                    + " |"
                )

    let finished = rows |> List.filter (fun r -> r.State = "done")
    let names = displayNames plan finished

    let nameOf (slug: string) =
        Map.tryFind slug names |> Option.defaultValue slug

    if not finished.IsEmpty then
        let header () =
            line ("| | " + String.Join(" | ", finished |> List.map label) + " |")
            line ("|---|" + String.replicate finished.Length "---|")

        line ""
        line "## Test decoding of the selected model (held-out blocks, kNN; mean ± std over the splits)"
        line ""
        header ()

        for f in decodingFeatures finished do
            let v (r: SweepCollect.Row) =
                match cell r $"decode_{f}_block_knn", cell r $"decode_{f}_block_knn_std" with
                | Some m, Some sd -> $"{fmt 3 m} ± {fmt 3 sd}"
                | Some m, None -> fmt 3 m
                | _ -> ""

            line ($"| {nameOf f} | " + String.Join(" | ", finished |> List.map v) + " |")

        let row (name: string) (column: string) (d: int) =
            line (
                $"| {name} | "
                + String.Join(
                    " | ",
                    finished
                    |> List.map (fun r -> cell r column |> Option.map (fmt d) |> Option.defaultValue "")
                )
                + " |"
            )

        row "chance (majority state of the held-out blocks)" "chance_block" 3
        row "ARHMM, matched accuracy" "arhmm_matched_accuracy" 3

        line ""
        line "## Label-free timescales (true timescales matched within the tolerance, of the truth's count)"
        line ""
        header ()
        row "truth" "timescales_truth" 0

        for src in timescaleSources finished do
            row (nameOf src) $"timescales_{src}_matched" 0

    sb.ToString()

/// The report's JSON: per run, its state, the collected cells and the monitored epochs.
let reportJson (plan: Plan) (rows: SweepCollect.Row list) (command: string) =
    let o = JsonObject()
    o["command"] <- JsonValue.Create command
    let machine = JsonNode.Parse(TrainBenchmark.machineLine ())
    o["machine"] <- machine["machine"].DeepClone()
    o["written"] <- JsonValue.Create(DateTime.UtcNow.ToString("o"))
    let runs = JsonArray()

    for r in rows do
        let run = JsonObject()
        run["task"] <- JsonValue.Create r.Task.Id

        run["data_seed"] <-
            (r.Task.DataSeed
             |> Option.map (fun d -> JsonValue.Create d :> JsonNode)
             |> Option.toObj)

        run["seed"] <- JsonValue.Create r.Task.Seed
        run["state"] <- JsonValue.Create r.State

        run["seconds_per_epoch"] <-
            (secondsPerEpoch plan r.Task
             |> Option.map (fun s -> JsonValue.Create s :> JsonNode)
             |> Option.toObj)

        let cells = JsonObject()

        for k, v in r.Cells do
            match v with
            | SweepCollect.Number x when Double.IsFinite x -> cells[k] <- JsonValue.Create x
            | SweepCollect.Text t -> cells[k] <- JsonValue.Create t
            | _ -> ()

        run["result"] <- cells
        let epochs = JsonArray()

        for e in epochRows plan r.Task do
            let eo = JsonObject()
            eo["epoch"] <- JsonValue.Create e.Epoch

            for k, v in e.Values do
                eo[k] <- JsonValue.Create v

            epochs.Add eo

        run["monitored_epochs"] <- epochs
        runs.Add run

    o["runs"] <- runs
    o.ToJsonString(JsonSerializerOptions(WriteIndented = true)) + "\n"

/// Collects the sweep (`sweep/collect/`) and writes `reproduction.md` and `reproduction.json`.
let writeReport (dir: string) (plan: Plan) (command: string) =
    let _, index, rows = SweepCollect.write plan (Path.Combine(plan.Dir, "collect"))
    let md = Path.Combine(dir, "reproduction.md")
    Report.writeAtomic md (reportMarkdown plan rows command)
    Report.writeAtomic (Path.Combine(dir, "reproduction.json")) (reportJson plan rows command)
    let finished = rows |> List.filter (fun r -> r.State = "done") |> List.length
    printfn "Report: %s (%d of %d runs finished; charts by epoch in %s)." md finished rows.Length index

/// What a reproduction's runs need, checked before anything is generated: training and validation
/// series of at least one window of the preset's model, and on full batches the memory of one batch
/// (`Config.checkMemory`, as `train` checks it).
let checkSizes (r: Reproduction) =
    let o = Slds.paper
    let features = defaultArg o.Projection (o.Systems * o.ObsDim)
    let cfg = Presets.apply r.Preset (Demo.config features)
    let t = cfg.SequenceLength
    let train, validation, _ = r.Lengths

    if train < t || validation < t then
        usage
            $"--lengths: the training and validation series need at least one window of {t} steps (preset {r.Preset}), got {train} and {validation}."

    if r.BatchSize.IsNone then
        let windows = (train - t) / max 1 cfg.Overlap + 1
        Config.checkMemory cfg windows t

let private runSlds (a: ParseResults<SldsArgs>) =
    RunFolder.checkFolderTarget "--out" (a.GetResult SldsArgs.Out)
    let dir = Path.GetFullPath(a.GetResult SldsArgs.Out)

    let command =
        "tidhy "
        + String.Join(
            " ",
            Environment.GetCommandLineArgs()
            |> Array.skip 1
            |> Array.map SweepPlan.shellQuote
        )

    if a.Contains SldsArgs.Report then
        let others =
            a.GetAllResults()
            |> List.filter (function
                | SldsArgs.Out _
                | SldsArgs.Report -> false
                | _ -> true)

        if not others.IsEmpty then
            usage "--report takes only --out: it reports the reproduction planned there."

        let sweepDir = Path.Combine(dir, SweepFolder)

        if not (File.Exists(Path.Combine(sweepDir, ManifestFile))) then
            fail $"{dir}: no reproduction is planned there ({SweepFolder}/{ManifestFile})."

        writeReport dir (SweepPlan.read sweepDir) command
        0
    else
        let preset = a.GetResult(SldsArgs.Preset, DefaultPreset)
        presetOf (Some preset) |> ignore

        let seedList (option: string) (text: string) =
            let seeds = integers option 0 "seed (an integer >= 0)" text

            if List.distinct seeds <> seeds then
                usage $"{option}: a seed is listed twice ({text})."

            seeds

        let lengths =
            match
                a.GetResult(SldsArgs.Lengths, "200000,50000,50000")
                |> integers "--lengths" 2 "length of at least 2 steps"
            with
            | [ x; y; z ] -> x, y, z
            | _ -> usage "--lengths: expected three lengths: train,validation,test."

        let executor = a.GetResult(SldsArgs.Executor, "local")
        let backend = a.GetResult(SldsArgs.Backend, "FusedFloat32")
        Backends.resolve (Some backend) None |> ignore

        if executor <> "local" && executor <> "slurm" then
            usage $"--executor: expected local or slurm, got '{executor}'."

        for arg in a.GetAllResults() do
            let slurmOnly =
                match arg with
                | SldsArgs.Partition _ -> Some "--partition"
                | SldsArgs.Account _ -> Some "--account"
                | SldsArgs.Setup _ -> Some "--setup"
                | SldsArgs.Memory _ -> Some "--memory"
                | SldsArgs.Time _ -> Some "--time"
                | _ -> None

            match slurmOnly, arg with
            | Some name, _ when executor = "local" -> usage $"{name} goes with --executor slurm."
            | _, SldsArgs.Jobs _ when executor = "slurm" -> usage "--jobs goes with --executor local."
            | _ -> ()

        let r =
            {
                Preset = preset
                DataSeeds = a.GetResult(SldsArgs.Seeds, "10") |> seedList "--seeds"
                TrainSeeds = a.GetResult(SldsArgs.Train_Seeds, "0") |> seedList "--train-seeds"
                Epochs = a.GetResult(SldsArgs.Epochs, 50) |> positive "--epochs"
                Lengths = lengths
                MonitorEvery = a.GetResult(SldsArgs.Monitor_Every, 5) |> positive "--monitor-every"
                BatchSize = a.TryGetResult SldsArgs.Batch_Size |> Option.map (positive "--batch-size")
                Backend = backend
                Cpus = a.GetResult(SldsArgs.Cpus, Environment.ProcessorCount) |> positive "--cpus"
                Memory = a.TryGetResult SldsArgs.Memory
                Time = a.TryGetResult SldsArgs.Time
            }

        let jobs = a.TryGetResult SldsArgs.Jobs |> Option.map (positive "--jobs")
        checkSizes r
        let plan = planIn dir (sweepJson r)

        match executor with
        | "slurm" ->
            let options: SweepSlurm.SlurmOptions =
                {
                    Partition = a.TryGetResult SldsArgs.Partition
                    Account = a.TryGetResult SldsArgs.Account
                    MaxParallel = None
                    Extra = []
                    Setup = a.GetResults SldsArgs.Setup
                    Tidhy = String.Join(" ", SweepLocal.selfCommand () |> List.map SweepPlan.shellQuote)
                    SignalSeconds = 300
                }

            match SweepSlurm.submit plan options false with
            | Some(_, ids, Some job) ->
                printfn
                    "Submitted job array %s: %d run(s). Watch it with `tidhy sweep status %s`; when it is done, write the report with `tidhy reproduce slds --out %s --report`."
                    job
                    ids.Length
                    plan.Dir
                    dir
            | Some(script, _, None) -> printfn "Written %s; nothing submitted." script
            | None -> printfn "Every run is done."

            writeReport dir plan command
            0
        | _ ->
            let code = SweepLocal.run plan jobs (SweepLocal.selfCommand ())
            writeReport dir (SweepPlan.read plan.Dir) command
            code

/// `tidhy reproduce …`; returns the exit code.
let run (args: ParseResults<ReproduceArgs>) =
    match args.GetSubCommand() with
    | ReproduceArgs.Slds a -> runSlds a
