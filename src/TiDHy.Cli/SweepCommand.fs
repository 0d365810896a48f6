/// `tidhy sweep`: many training runs planned from one sweep file, run here (the local executor) or
/// on a SLURM cluster (one job array), watched and collected: `plan`, `submit`, `status`, `collect`,
/// and `run` (one task; what both executors run). docs/SWEEPS.md is the guide.
module TiDHy.Cli.SweepCommand

open System
open Argu
open TiDHy.Cli.Args

type PlanArgs =
    | [<MainCommand; ExactlyOnce>] File of file: string
    | [<Mandatory>] Out of dir: string
    | Extend

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "the sweep file (JSON; docs/SWEEPS.md)."
            | Out _ -> "the sweep folder to create (new or empty; with --extend, a planned one)."
            | Extend -> "add the grid values and seeds of the sweep file that the planned sweep in --out lacks."

type SubmitArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | Executor of name: string
    | Jobs of int
    | Partition of name: string
    | Account of name: string
    | Max_Parallel of int
    | Extra_Sbatch of options: string
    | Setup of line: string
    | Tidhy of command: string
    | Signal_Seconds of int
    | Dry_Run

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "the sweep folder (`tidhy sweep plan`)."
            | Executor _ ->
                "local (default: run the tasks here, in the foreground) or slurm (submit one job array with sbatch)."
            | Jobs _ ->
                "local: tasks at once, >= 1 (default: the cores divided by resources.cpus); the cores are shared among them."
            | Partition _ -> "slurm: the partition (#SBATCH --partition)."
            | Account _ -> "slurm: the account (#SBATCH --account)."
            | Max_Parallel _ -> "slurm: at most this many tasks at once (--array=…%N)."
            | Extra_Sbatch _ ->
                "slurm: more sbatch options, e.g. \"--qos=long --constraint=avx512\" (one #SBATCH line each; repeatable)."
            | Setup _ -> "slurm: a shell line run before each task, e.g. \"module load dotnet\" (repeatable, in order)."
            | Tidhy _ ->
                "slurm: the command that starts tidhy on the nodes (default: this tidhy's path, which the nodes must see; \"tidhy\" when it is installed as a tool there)."
            | Signal_Seconds _ ->
                "slurm: seconds before the time limit at which a task saves its checkpoint and is requeued (default 300)."
            | Dry_Run -> "slurm: write the batch script into the sweep folder and print it; submit nothing."

type StatusArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | All

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "the sweep folder."
            | All -> "list every task, the done ones too."

type CollectArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "the sweep folder."
            | Out _ -> "where to write results.csv and index.html (default: DIR/collect)."

type RunArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | [<Mandatory>] Task of id: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "the sweep folder."
            | Task _ -> "the task's number (the SLURM array index)."

[<RequireQualifiedAccess>]
type SweepArgs =
    | [<CliPrefix(CliPrefix.None)>] Plan of ParseResults<PlanArgs>
    | [<CliPrefix(CliPrefix.None)>] Submit of ParseResults<SubmitArgs>
    | [<CliPrefix(CliPrefix.None)>] Status of ParseResults<StatusArgs>
    | [<CliPrefix(CliPrefix.None)>] Collect of ParseResults<CollectArgs>
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<RunArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Plan _ -> "expand a sweep file into a sweep folder: one task folder per grid point and seed."
            | Submit _ -> "run the tasks not done: here (--executor local, default) or as a SLURM job array."
            | Status _ -> "each task's state: done, running, queued, failed (with its error), stopped, not started."
            | Collect _ -> "gather the finished tasks into results.csv and a report page."
            | Run _ -> "run one task to the end (what both executors run; resumes a stopped task)."

let private plan (a: ParseResults<PlanArgs>) =
    RunFolder.checkFolderTarget "--out" (a.GetResult PlanArgs.Out)

    let plan, added =
        SweepPlan.plan (a.GetResult PlanArgs.File) (a.GetResult PlanArgs.Out) (a.Contains PlanArgs.Extend)

    let s = plan.Sweep

    let dataText =
        match s.Data with
        | SweepFile.Files f -> f
        | SweepFile.Slds(x, y, z) ->
            $"""the SLDS benchmark ({x}/{y}/{z} steps) for data seeds {String.Join(", ", s.DataSeeds)}"""

    printfn
        "Planned %d task(s)%s of sweep '%s' in %s: %d grid point(s) × %d seed(s)%s on %s."
        added.Length
        (if added.Length < plan.Tasks.Length then
             $" (now {plan.Tasks.Length})"
         else
             "")
        s.Name
        plan.Dir
        (SweepFile.gridPoints s.Grid).Length
        s.Seeds.Length
        (if s.DataSeeds.IsEmpty then
             ""
         else
             $" × {s.DataSeeds.Length} data seed(s)")
        dataText

    printfn "Run them here with `tidhy sweep submit %s`, or on SLURM with `--executor slurm`." plan.Dir
    0

let private submit (a: ParseResults<SubmitArgs>) =
    let executor = a.GetResult(SubmitArgs.Executor, "local")

    // The options of the SLURM executor, as the user typed them.
    let slurmOnly =
        a.GetAllResults()
        |> List.tryPick (function
            | SubmitArgs.Partition _ -> Some "--partition"
            | SubmitArgs.Account _ -> Some "--account"
            | SubmitArgs.Max_Parallel _ -> Some "--max-parallel"
            | SubmitArgs.Extra_Sbatch _ -> Some "--extra-sbatch"
            | SubmitArgs.Setup _ -> Some "--setup"
            | SubmitArgs.Tidhy _ -> Some "--tidhy"
            | SubmitArgs.Signal_Seconds _ -> Some "--signal-seconds"
            | SubmitArgs.Dry_Run -> Some "--dry-run"
            | _ -> None)

    match executor with
    | "local" ->
        slurmOnly
        |> Option.iter (fun name -> usage $"{name} goes with --executor slurm.")

        let jobs = a.TryGetResult SubmitArgs.Jobs |> Option.map (positive "--jobs")
        let plan = SweepPlan.read (a.GetResult SubmitArgs.Dir)
        SweepLocal.run plan jobs (SweepLocal.selfCommand ())
    | "slurm" ->
        if a.Contains SubmitArgs.Jobs then
            usage "--jobs goes with --executor local (on SLURM: --max-parallel)."

        let options: SweepSlurm.SlurmOptions =
            {
                Partition = a.TryGetResult SubmitArgs.Partition
                Account = a.TryGetResult SubmitArgs.Account
                MaxParallel = a.TryGetResult SubmitArgs.Max_Parallel |> Option.map (positive "--max-parallel")
                Extra =
                    a.GetResults SubmitArgs.Extra_Sbatch
                    |> List.collect (fun s -> s.Split(' ', StringSplitOptions.RemoveEmptyEntries) |> Array.toList)
                Setup = a.GetResults SubmitArgs.Setup
                Tidhy =
                    a.TryGetResult SubmitArgs.Tidhy
                    |> Option.defaultWith (fun () ->
                        String.Join(" ", SweepLocal.selfCommand () |> List.map SweepPlan.shellQuote))
                SignalSeconds = a.GetResult(SubmitArgs.Signal_Seconds, 300) |> positive "--signal-seconds"
            }

        for e in options.Extra do
            if not (e.StartsWith "-") then
                usage $"--extra-sbatch: '{e}' is not an sbatch option (expected e.g. --qos=long)."

            // The options the script sets for the sweep itself.
            for own in
                [
                    "--array"
                    "-a"
                    "--output"
                    "-o"
                    "--error"
                    "-e"
                    "--requeue"
                    "--no-requeue"
                    "--signal"
                ] do
                if e = own || e.StartsWith(own + "=") || (own.Length = 2 && e.StartsWith own) then
                    usage
                        $"--extra-sbatch: {own} is set by the sweep's script; edit the script by hand (--dry-run) to change it."

        let plan = SweepPlan.read (a.GetResult SubmitArgs.Dir)
        let dryRun = a.Contains SubmitArgs.Dry_Run

        if plan.Dir |> Seq.exists Char.IsWhiteSpace then
            fail
                $"{plan.Dir}: SLURM's #SBATCH --output cannot name a path with white space; plan the sweep in a folder without."

        match SweepSlurm.submit plan options dryRun with
        | None ->
            printfn "Every task of sweep '%s' is done; nothing to submit." plan.Sweep.Name
            0
        | Some(script, ids, None) ->
            printf "%s" (IO.File.ReadAllText script)
            printfn "# Written to %s (%d task(s)); submit it with: sbatch %s" script ids.Length script
            0
        | Some(script, ids, Some job) ->
            printfn "%s" job

            eprintfn
                "Submitted job array %s: %d task(s) of sweep '%s' (script %s). Watch it with `tidhy sweep status %s`."
                job
                ids.Length
                plan.Sweep.Name
                script
                plan.Dir

            0
    | other -> usage $"--executor: expected local or slurm, got '{other}'."

/// `tidhy sweep …`; returns the exit code.
let run (args: ParseResults<SweepArgs>) =
    match args.GetSubCommand() with
    | SweepArgs.Plan a -> plan a
    | SweepArgs.Submit a -> submit a
    | SweepArgs.Status a -> SweepStatus.run (a.GetResult StatusArgs.Dir) (a.Contains StatusArgs.All)
    | SweepArgs.Collect a ->
        let plan = SweepPlan.read (a.GetResult CollectArgs.Dir)

        let out =
            a.TryGetResult CollectArgs.Out
            |> Option.defaultValue (IO.Path.Combine(plan.Dir, "collect"))

        RunFolder.checkFolderTarget "--out" out

        let csv, index, rows = SweepCollect.write plan out
        let finished = rows |> List.filter (fun r -> r.State = "done") |> List.length
        printfn "Collected %d of %d tasks: %s and %s." finished rows.Length csv index
        0
    | SweepArgs.Run a -> SweepRun.run (a.GetResult RunArgs.Dir) (a.GetResult RunArgs.Task)
