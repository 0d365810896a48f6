/// A planned sweep's folder: the manifest, the generated data, and one folder per task with its
/// configuration and the exact commands that run it (`tidhy sweep plan`). Every executor runs a task
/// with `tidhy sweep run DIR --task I`, which runs the task folder's commands (`SweepRun`).
///
/// ```
/// DIR/manifest.json          the sweep (paths absolute, defaults written out) and its tasks
/// DIR/data/seed-<d>/         the SLDS benchmark's splits for data seed d (.npy), its states and timescales
/// DIR/tasks/<i>/config.json  the task's configuration (the base, the preset, the grid point)
/// DIR/tasks/<i>/command.txt  the `tidhy train` (and `tidhy eval`) command of the task
/// DIR/tasks/<i>/run/         train's output folder (checkpoints, metrics.csv, model.json, report)
/// DIR/tasks/<i>/eval/        eval's output folder on the test series (measures.json, report)
/// DIR/tasks/<i>/result.json  written last, once the task is done (what `collect` reads)
/// DIR/slurm/                 the SLURM scripts `submit` wrote and the job ids
/// ```
module TiDHy.Cli.SweepPlan

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.SweepFile

/// The manifest's format tag.
[<Literal>]
let Format = "tidhy-sweep 1"

/// The manifest's file name.
[<Literal>]
let ManifestFile = "manifest.json"

/// A planned sweep: its folder (absolute), the sweep and its tasks.
type Plan =
    {
        /// The sweep folder, absolute.
        Dir: string
        /// The sweep.
        Sweep: Sweep
        /// The tasks, by number.
        Tasks: SweepTask list
    }

/// The files of task `id` in the sweep folder `dir`.
type TaskPaths =
    {
        /// `tasks/<id>`.
        Folder: string
        /// `config.json`.
        Config: string
        /// `command.txt`.
        Command: string
        /// `run/`: train's output folder.
        Run: string
        /// `run/last.tidhy.json`.
        Last: string
        /// `eval/`: eval's output folder.
        Eval: string
        /// `result.json`: the task is done.
        Result: string
        /// `failed.json`: the last attempt failed.
        Failed: string
        /// `started.json`: when and where the last attempt started.
        Started: string
        /// `log.txt`: the local executor's log of the task.
        Log: string
    }

/// The files of task `id` in the sweep folder `dir`.
let pathsOf (dir: string) (id: int) =
    let folder = Path.Combine(dir, "tasks", string id)
    let run = Path.Combine(folder, "run")

    {
        Folder = folder
        Config = Path.Combine(folder, "config.json")
        Command = Path.Combine(folder, "command.txt")
        Run = run
        Last = Path.Combine(run, Train.LastCheckpoint)
        Eval = Path.Combine(folder, "eval")
        Result = Path.Combine(folder, "result.json")
        Failed = Path.Combine(folder, "failed.json")
        Started = Path.Combine(folder, "started.json")
        Log = Path.Combine(folder, "log.txt")
    }

/// The SLDS data's folder for data seed `d`.
let dataFolder (dir: string) (d: int) = Path.Combine(dir, "data", $"seed-{d}")

/// What a task trains and is evaluated on.
type TaskData =
    {
        /// `--data`.
        Train: string
        /// `--val-data`.
        ValData: string option
        /// `--states`.
        States: string option
        /// The test series.
        Test: string option
        /// The test steps' states.
        TestStates: string option
        /// The true timescales file (SLDS data) or values.
        TrueTimescales: float[] option
    }

/// The file holding the SLDS data's true timescales (one per line, round-trip).
let private timescalesFile (folder: string) =
    Path.Combine(folder, "true_timescales.txt")

/// The data of task `t` of `plan`.
let dataOf (dir: string) (s: Sweep) (t: SweepTask) : TaskData =
    match s.Data, t.DataSeed with
    | Slds _, Some d ->
        let f = dataFolder dir d
        let file (name: string) = Path.Combine(f, name)

        let timescales =
            let path = timescalesFile f

            if File.Exists path then
                File.ReadAllLines path
                |> Array.filter (String.IsNullOrWhiteSpace >> not)
                |> Array.map (fun l -> Double.Parse(l, Globalization.CultureInfo.InvariantCulture))
                |> Some
            else
                None

        {
            Train = file "train.npy"
            ValData = Some(file "val.npy")
            States = Some(file "val_states.npy")
            Test = Some(file "test.npy")
            TestStates = Some(file "test_states.npy")
            TrueTimescales = timescales
        }
    | Files f, _ ->
        {
            Train = f
            ValData = s.ValData
            States = s.States
            Test = s.TestData
            TestStates = s.TestStates
            TrueTimescales = s.TrueTimescales
        }
    | Slds _, None -> fail $"task {t.Id}: the SLDS data needs a data seed."

/// The `tidhy train` arguments of task `t` (without `--resume`, which `sweep run` adds when the task
/// has a checkpoint).
let trainArgs (dir: string) (s: Sweep) (t: SweepTask) =
    let p = pathsOf dir t.Id
    let d = dataOf dir s t

    [
        "train"
        "--data"
        d.Train
        "--config"
        p.Config
        "--out"
        p.Run
        "--seed"
        string t.Seed
        if s.FullBatch then
            "--full-batch"
        else
            yield! [ "--batch-size"; string s.BatchSize ]
        "--validate-every"
        string s.ValidateEvery
        match s.Epochs with
        | Some e -> yield! [ "--epochs"; string e ]
        | None -> ()
        match d.ValData, s.ValFraction with
        | Some v, _ -> yield! [ "--val-data"; v ]
        | None, Some f -> yield! [ "--val-fraction"; num f ]
        | None, None -> ()
        match d.States with
        | Some st ->
            yield! [ "--states"; st; "--select"; s.Select ]

            match s.MonitorEvery with
            | Some m -> yield! [ "--monitor-every"; string m ]
            | None -> ()
        | None -> ()
        match s.Backend with
        | Some b -> yield! [ "--backend"; b ]
        | None -> ()
        if not s.Normalise then
            "--no-normalise"
    ]

/// The `tidhy eval` arguments of task `t` on the test series (None without one, or with `evaluate`
/// none): the run's best parameters, the test states when known (with `evaluate` full), the true
/// timescales when known, the task's seed for the measures.
let evalArgs (dir: string) (s: Sweep) (t: SweepTask) =
    let p = pathsOf dir t.Id
    let d = dataOf dir s t
    let full = s.Evaluate = "full"

    d.Test
    |> Option.filter (fun _ -> s.Evaluate <> "none")
    |> Option.map (fun test ->
        [
            "eval"
            "--model"
            p.Last
            "--data"
            test
            "--out"
            p.Eval
            "--batch-size"
            string s.BatchSize
            "--seed"
            string t.Seed
            "--force"
            match d.TestStates with
            | Some st when full -> yield! [ "--states"; st ]
            | _ -> ()
            match d.TrueTimescales with
            | Some ts -> yield! [ "--true-timescales"; String.Join(",", ts |> Array.map num) ]
            | None -> ()
            match s.Backend with
            | Some b -> yield! [ "--backend"; b ]
            | None -> ()
        ])

/// `arg` quoted for a POSIX shell when it needs it.
let shellQuote (arg: string) =
    if
        arg <> ""
        && arg |> Seq.forall (fun c -> Char.IsLetterOrDigit c || "-_./:=,+@%".Contains c)
    then
        arg
    else
        "'" + arg.Replace("'", "'\\''") + "'"

/// The text of `command.txt`: the task's commands as a user would type them.
let commandText (dir: string) (s: Sweep) (t: SweepTask) =
    let line (args: string list) =
        String.Join(" ", "tidhy" :: (args |> List.map shellQuote))

    let lines =
        [
            $"""# Task {t.Id} of the sweep in {dir}: {pointText t}{(if t.Options.IsEmpty then "" else ", ")}seed {t.Seed}"""
            + (t.DataSeed |> Option.map (fun d -> $", data seed {d}") |> Option.defaultValue "")
            "# `tidhy sweep run DIR --task ID` runs these commands (adding --resume to train once the run has a checkpoint)"
            "# and then writes result.json."
            line (trainArgs dir s t)
            match evalArgs dir s t with
            | Some e -> line e
            | None -> ()
        ]

    String.Join("\n", lines) + "\n"

let private indented = JsonSerializerOptions(WriteIndented = true)

/// The manifest's JSON text.
let manifestText (s: Sweep) (tasks: SweepTask list) =
    let o = JsonObject()
    o["format"] <- JsonValue.Create Format
    o["sweep"] <- SweepFile.toJson s
    o["tasks"] <- JsonArray(tasks |> List.map (fun t -> taskJson t :> JsonNode) |> List.toArray)
    o.ToJsonString indented + "\n"

/// Reads the plan of the sweep folder `dir`; an error when it holds no sweep.
let read (dir: string) : Plan =
    let dir = Path.GetFullPath dir
    let path = Path.Combine(dir, ManifestFile)

    if not (File.Exists path) then
        fail $"{dir}: not a sweep folder (no {ManifestFile}); make one with `tidhy sweep plan FILE --out {dir}`."

    let root =
        try
            JsonNode.Parse(File.ReadAllText path)
        with :? JsonException as ex ->
            fail $"{path}: not valid JSON: {ex.Message}"

    match root with
    | :? JsonObject as o when
        (match prop o "format" with
         | Some(:? JsonValue as v) -> v.GetValueKind() = JsonValueKind.String && v.GetValue<string>() = Format
         | _ -> false)
        ->
        let sweep =
            match o["sweep"] with
            | :? JsonObject as s -> SweepFile.ofJson path dir s
            | _ -> fail $"{path}: no sweep object."

        let tasks =
            match o["tasks"] with
            | :? JsonArray as a ->
                a
                |> Seq.map (function
                    | :? JsonObject as t -> taskOfJson path t
                    | _ -> fail $"{path}: a task entry is not an object.")
                |> Seq.toList
            | _ -> fail $"{path}: no tasks array."

        tasks
        |> List.iteri (fun i t ->
            if t.Id <> i then
                fail $"{path}: task {i} has the id {t.Id}; the tasks must be numbered 0, 1, ….")

        {
            Dir = dir
            Sweep = sweep
            Tasks = tasks
        }
    | _ -> fail $"{path}: not a sweep manifest (format \"{Format}\")."

/// Task `id` of `plan`; an error naming the tasks there are.
let task (plan: Plan) (id: int) =
    match plan.Tasks |> List.tryFind (fun t -> t.Id = id) with
    | Some t -> t
    | None -> fail $"--task {id}: the sweep in {plan.Dir} has tasks 0 to {plan.Tasks.Length - 1}."

/// Generates the SLDS data of data seed `d` into its folder (the same data as `tidhy demo --seed d`
/// with these lengths): the splits' observations, the validation and test steps' states, and the
/// true timescales. Returns the channels.
let private writeSlds (dir: string) (lengths: int * int * int) (d: int) =
    let a, b, c = lengths

    let options =
        { Demo.dataOptions with
            TrainLength = a
            ValLength = b
            TestLength = c
        }

    let kData, _ = Random.split (Random.key d)
    let data = Slds.generate options kData
    let f = dataFolder dir d
    Directory.CreateDirectory f |> ignore
    let states (s: int[,]) = Array2D.map float s
    Npy.writeMatrix (Path.Combine(f, "train.npy")) data.Train.Observations
    Npy.writeMatrix (Path.Combine(f, "val.npy")) data.Val.Observations
    Npy.writeMatrix (Path.Combine(f, "val_states.npy")) (states data.Val.States)
    Npy.writeMatrix (Path.Combine(f, "test.npy")) data.Test.Observations
    Npy.writeMatrix (Path.Combine(f, "test_states.npy")) (states data.Test.States)

    Report.writeAtomic (timescalesFile f) (String.Join("\n", Slds.trueTimescales data |> Array.map num) + "\n")

    Array2D.length2 data.Train.Observations

/// The channels, the training steps and the validation steps of the sweep's data (generating the
/// SLDS data of every data seed in `dir`).
let private prepareData (dir: string) (s: Sweep) =
    match s.Data with
    | Files f ->
        let series = Inputs.loadSeries f

        let steps, validation =
            match s.ValData with
            | Some v -> Array2D.length1 series, Array2D.length1 (Inputs.loadSeries v)
            | None ->
                let split = Series.splitTail (defaultArg s.ValFraction 0.1) series
                Array2D.length1 split.Train, Array2D.length1 split.Val

        Array2D.length2 series, steps, validation
    | Slds(a, b, c) ->
        let channels =
            s.DataSeeds
            |> List.filter (fun d -> not (File.Exists(timescalesFile (dataFolder dir d))))
            |> List.map (writeSlds dir (a, b, c))

        match channels with
        | c :: _ -> c, a, b
        | [] -> Array2D.length2 (Npy.readMatrix (Path.Combine(dataFolder dir s.DataSeeds.Head, "train.npy"))), a, b

/// The sweep with its grid and seeds removed: what `--extend` may not change.
let private fixedPart (s: Sweep) =
    let o =
        SweepFile.toJson
            { s with
                Grid = []
                Seeds = []
                DataSeeds = []
            }

    o.ToJsonString()

/// The tasks of `extended` that `existing` lacks, numbered after the existing ones; an error when
/// `extended` changes anything but adds grid values or seeds, or drops a task.
let extendTasks (existing: Sweep) (existingTasks: SweepTask list) (extended: Sweep) =
    if fixedPart existing <> fixedPart extended then
        fail
            "--extend: the sweep file differs from the planned sweep in more than its grid values and seeds; --extend only adds grid values and seeds (plan a new sweep folder for other changes)."

    if List.map fst existing.Grid <> List.map fst extended.Grid then
        fail
            $"""--extend: the grid's options must stay the same ({String.Join(", ", List.map fst existing.Grid)}); only their values and the seeds may grow."""

    let known = existingTasks |> List.map taskKey |> Set.ofList
    let all = expand extended
    let keys = all |> List.map taskKey |> Set.ofList

    match existingTasks |> List.tryFind (fun t -> not (keys.Contains(taskKey t))) with
    | Some t ->
        fail
            $"--extend: task {t.Id} ({pointText t}, seed {t.Seed}) is not in the extended sweep; --extend never drops a value or seed."
    | None -> ()

    all
    |> List.filter (fun t -> not (known.Contains(taskKey t)))
    |> List.mapi (fun i t -> { t with Id = existingTasks.Length + i })

/// `tidhy sweep plan FILE --out DIR [--extend]`: reads and checks the sweep file, expands it, checks
/// every task's configuration, and writes the sweep folder (a new one; with `extend`, the tasks a
/// planned one lacks). Returns the plan and the tasks it added.
let plan (file: string) (out: string) (extend: bool) : Plan * SweepTask list =
    let sweep = SweepFile.read file
    let dir = Path.GetFullPath out
    let manifest = Path.Combine(dir, ManifestFile)

    let existing =
        if File.Exists manifest then
            if not extend then
                fail
                    $"{dir} already holds a planned sweep; pass --extend to add grid values or seeds to it, or choose another --out."

            Some(read dir)
        else
            if extend then
                fail $"--extend: {dir} holds no planned sweep ({ManifestFile})."

            if
                Directory.Exists dir
                && not (Seq.isEmpty (Directory.EnumerateFileSystemEntries dir))
            then
                fail $"{dir} is not empty and holds no sweep; choose a new or empty --out."

            None

    let added =
        match existing with
        | Some p -> extendTasks p.Sweep p.Tasks sweep
        | None -> expand sweep

    let allTasks = (existing |> Option.map _.Tasks |> Option.defaultValue []) @ added

    let created = not (Directory.Exists dir)
    Directory.CreateDirectory dir |> ignore

    try
        let features, steps, validation = prepareData dir sweep
        // The validation states are decoded: they need validation windows.
        let monitored =
            sweep.States.IsSome
            || (match sweep.Data with
                | Slds _ -> true
                | Files _ -> false)

        // Every configuration is checked before any task folder is written.
        let configs =
            added
            |> List.map (fun t ->
                let cfg = taskConfig sweep features t

                if cfg.SequenceLength > steps then
                    fail
                        $"{taskLabel t}: sequence_length = {cfg.SequenceLength} is longer than the {steps} training steps."

                if monitored && cfg.SequenceLength > validation then
                    fail
                        $"{taskLabel t}: sequence_length = {cfg.SequenceLength} is longer than the {validation} validation steps, whose states are decoded."

                t, cfg)

        for t, cfg in configs do
            let p = pathsOf dir t.Id
            Directory.CreateDirectory p.Folder |> ignore
            Report.writeAtomic p.Config (ConfigJson.toJson cfg + "\n")
            Report.writeAtomic p.Command (commandText dir sweep t)

        // The manifest last: it names the tasks whose folders are written.
        Report.writeAtomic manifest (manifestText sweep allTasks)
    with _ ->
        // A new sweep that failed half way leaves nothing (an extended one keeps its manifest,
        // which names only the tasks written before).
        if existing.IsNone then
            try
                if created then
                    Directory.Delete(dir, true)
                else
                    for e in Directory.GetFileSystemEntries dir do
                        if Directory.Exists e then
                            Directory.Delete(e, true)
                        else
                            File.Delete e
            with :? IOException ->
                ()

        reraise ()

    {
        Dir = dir
        Sweep = sweep
        Tasks = allTasks
    },
    added
