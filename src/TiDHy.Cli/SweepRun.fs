/// One task of a planned sweep, run to the end: `tidhy sweep run DIR --task I`, the command both
/// executors run. It trains with the task folder's `tidhy train` command (resuming from the run's
/// last checkpoint when there is one), evaluates the selected model on the test series, and writes
/// `result.json`; a done task is skipped. A stopped task (Ctrl-C, SIGTERM: preemption, a requeue,
/// the time limit) exits 130 / 143 with its checkpoint saved and resumes where it stopped; a failed
/// one writes `failed.json` with the error.
module TiDHy.Cli.SweepRun

open System
open System.IO
open System.Threading
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Signals
open TiDHy.Cli.SweepFile
open TiDHy.Cli.SweepPlan

let private indented = JsonSerializerOptions(WriteIndented = true)

/// Writes `o` to `path` atomically, indented.
let writeJson (path: string) (o: JsonObject) =
    Report.writeAtomic path (o.ToJsonString indented + "\n")

/// The JSON object in `path`, or None when the file is missing or not a JSON object.
let tryReadJson (path: string) : JsonObject option =
    if File.Exists path then
        try
            match JsonNode.Parse(File.ReadAllText path) with
            | :? JsonObject as o -> Some o
            | _ -> None
        with
        | :? JsonException
        | :? IOException -> None
    else
        None

/// Standard error written through, with its last non-empty line kept (the error a failed command
/// printed).
type private LastLine(inner: TextWriter) =
    inherit TextWriter()
    let line = StringBuilder()
    let mutable last = ""

    member _.Last = last

    override _.Encoding = inner.Encoding

    override _.Write(c: char) =
        inner.Write c

        if c = '\n' then
            let l = line.ToString().Trim()

            if l <> "" then
                last <- l

            line.Clear() |> ignore
        else
            line.Append c |> ignore

    override this.Write(s: string) =
        if not (isNull s) then
            for c in s do
                this.Write c

    override _.Flush() = inner.Flush()

/// The exit code of `tidhy <args>` run in this process (train or eval), stopped by the task's `stop`
/// with `stopCode ()`, errors reported as the program reports them.
let private runCommand (stop: CancellationToken) (stopCode: unit -> int) (args: string list) =
    match args with
    | "train" :: rest ->
        let parser =
            ArgumentParser.Create<TrainCommand.TrainArgs>(programName = "tidhy train")

        let parsed = parser.ParseCommandLine(List.toArray rest)
        guarded (fun () -> TrainCommand.runWith stop stopCode parsed)
    | "eval" :: rest ->
        let parser = ArgumentParser.Create<EvalCommand.EvalArgs>(programName = "tidhy eval")
        let parsed = parser.ParseCommandLine(List.toArray rest)
        guarded (fun () -> EvalCommand.runWith stop stopCode ignore parsed)
    | _ -> invalidArg (nameof args) $"not a task command: {String.Join(' ', args)}"

/// The losses `eval` wrote to `metrics.csv` (one header row, one value row).
let private evalLosses (path: string) =
    let lines = File.ReadAllLines path

    if lines.Length < 2 then
        fail $"{path}: expected a header and a row of losses."

    let keys = lines[0].Split ','
    let values = lines[1].Split ','

    Array.zip keys values
    |> Array.map (fun (k, v) ->
        k, Double.Parse(v, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture))

/// The result of a finished task: the task, what training selected, the test losses and measures.
/// Nothing in it depends on the executor, the machine or the time (`timing.json` holds the times).
let resultJson (plan: Plan) (t: SweepTask) =
    let p = pathsOf plan.Dir t.Id
    let stored = Checkpoint.read p.Last
    let o = taskJson t
    o["epochs"] <- JsonValue.Create stored.State.Epoch

    match stored.State.Best with
    | Some b ->
        // Epochs are counted from 1 here, as train's console does ("best: epoch N").
        o["selected_epoch"] <- JsonValue.Create(b.Epoch + 1)
        o["selection"] <- JsonValue.Create b.Criterion
        o["selection_score"] <- MeasuresJson.number b.Score
    | None -> ()

    let validation =
        stored.State.History
        |> Array.tryFind (fun h -> Some h.Epoch = (stored.State.Best |> Option.map _.Epoch))
        |> Option.bind _.Validation

    validation
    |> Option.iter (fun v -> o["validation_loss"] <- MeasuresJson.number v)

    if (evalArgs plan.Dir plan.Sweep t).IsSome then
        let test = JsonObject()

        for k, v in evalLosses (Path.Combine(p.Eval, "metrics.csv")) do
            test[k] <- MeasuresJson.number v

        o["test"] <- test

        match tryReadJson (Path.Combine(p.Eval, "measures.json")) with
        | Some m -> o["measures"] <- m
        | None -> fail $"""{Path.Combine(p.Eval, "measures.json")}: missing or not JSON."""

    o

/// The attempt number of this run of the task (1 for the first).
let private attempt (p: TaskPaths) =
    tryReadJson p.Started
    |> Option.bind (fun o -> valueOf<int> o "attempt")
    |> Option.map ((+) 1)
    |> Option.defaultValue 1

/// Adds this attempt's `seconds` to `timing.json` (seconds over all attempts, and the attempts).
let private addTiming (p: TaskPaths) (attempts: int) (seconds: float) =
    let path = Path.Combine(p.Folder, "timing.json")

    let before =
        tryReadJson path
        |> Option.bind (fun o -> valueOf<float> o "seconds")
        |> Option.defaultValue 0.0

    let o = JsonObject()
    o["seconds"] <- JsonValue.Create(before + seconds)
    o["attempts"] <- JsonValue.Create attempts
    writeJson path o

/// `tidhy sweep run DIR --task I`; returns the exit code: 0 done (or already done), 130 / 143
/// stopped with the checkpoint saved, 1 or 2 failed (`failed.json` holds the error). The task's
/// folder is locked while it runs (`RunFolder.lockOutput`): a second process on the same task fails
/// at once and writes nothing.
let run (dir: string) (id: int) =
    let plan = SweepPlan.read dir
    let t = task plan id
    let p = pathsOf plan.Dir t.Id

    if File.Exists p.Result then
        printfn "Task %d is done (%s); nothing to run." t.Id p.Result
        0
    else
        // One process per task: a second one (another executor, a duplicate job) stops here.
        use _lock = RunFolder.lockOutput p.Folder
        let n = attempt p
        let started = taskJson t
        started["attempt"] <- JsonValue.Create n
        started["host"] <- JsonValue.Create(Environment.MachineName)
        started["pid"] <- JsonValue.Create(Environment.ProcessId)
        started["started"] <- JsonValue.Create(DateTime.UtcNow.ToString("o"))

        match Environment.GetEnvironmentVariable "SLURM_JOB_ID" with
        | null
        | "" -> ()
        | job ->
            started["slurm_job_id"] <- JsonValue.Create job

            match Environment.GetEnvironmentVariable "SLURM_ARRAY_JOB_ID" with
            | null
            | "" -> ()
            | a -> started["slurm_array_job_id"] <- JsonValue.Create a

        if File.Exists p.Failed then
            File.Delete p.Failed

        writeJson p.Started started
        let watch = Diagnostics.Stopwatch.StartNew()

        printfn
            "Sweep task %d (%s%sseed %d%s), attempt %d."
            t.Id
            (pointText t)
            (if t.Options.IsEmpty then "" else ", ")
            t.Seed
            (t.DataSeed |> Option.map (fun d -> $", data seed {d}") |> Option.defaultValue "")
            n

        let err = new LastLine(Console.Error)
        let oldErr = Console.Error
        Console.SetError err
        // One registration for the whole task, so that a signal between its stages stops it too.
        use cts = new CancellationTokenSource()

        use signals =
            new StopSignals(cts, "stopping the task; it resumes from its checkpoint when run again")

        let run = runCommand cts.Token (fun () -> signals.ExitCode)

        let code =
            try
                let train =
                    trainArgs plan.Dir plan.Sweep t
                    @ (if File.Exists p.Last then [ "--resume" ] else [])

                match run train with
                | 0 ->
                    match evalArgs plan.Dir plan.Sweep t with
                    | Some _ when cts.IsCancellationRequested -> signals.ExitCode, "eval"
                    | Some e -> run e, "eval"
                    | None -> 0, ""
                | c -> c, "train"
            finally
                Console.SetError oldErr

        addTiming p n watch.Elapsed.TotalSeconds

        match code with
        | 0, _ ->
            writeJson p.Result (resultJson plan t)
            printfn "Task %d done: %s" t.Id p.Result
            0
        | (130 | 143 as c), stage ->
            printfn "Task %d stopped during %s (exit %d); it resumes from its checkpoint when run again." t.Id stage c
            c
        | c, stage ->
            let f = taskJson t
            f["exit_code"] <- JsonValue.Create c
            f["stage"] <- JsonValue.Create stage
            f["message"] <- JsonValue.Create err.Last
            writeJson p.Failed f
            c
