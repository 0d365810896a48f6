/// What each task of a sweep is doing, from its folder (and from `squeue` when the sweep was
/// submitted to SLURM): `tidhy sweep status DIR`, and the local executor's progress.
module TiDHy.Cli.SweepStatus

open System
open System.IO
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli.SweepFile
open TiDHy.Cli.SweepPlan

/// A task's state.
type TaskState =
    /// `result.json` is written.
    | Done
    /// The last attempt failed: its exit code, the stage (train or eval) and the error's line.
    | Failed of exitCode: int * stage: string * message: string
    /// Running: where (a host and process, or a SLURM job).
    | Running of where: string
    /// Waiting in the SLURM queue, with squeue's reason.
    | Queued of reason: string
    /// Started before and not running now: stopped (it resumes from its checkpoint) or killed.
    | Stopped of lastLine: string
    /// Never started.
    | NotStarted

/// The state's name in tables.
let stateName =
    function
    | Done -> "done"
    | Failed _ -> "failed"
    | Running _ -> "running"
    | Queued _ -> "queued"
    | Stopped _ -> "stopped"
    | NotStarted -> "not started"

/// The last non-empty line of the newest of `files` (the task's logs); "" when there is none.
let lastLogLine (files: string list) =
    match
        files
        |> List.filter File.Exists
        |> List.sortByDescending (fun f -> File.GetLastWriteTimeUtc f)
    with
    | f :: _ ->
        File.ReadLines f
        |> Seq.map _.Trim()
        |> Seq.filter (fun l -> l <> "")
        |> Seq.tryLast
        |> Option.defaultValue ""
    | [] -> ""

/// The task's logs: the local executor's `log.txt` and SLURM's `slurm-*.out`.
let logsOf (p: TaskPaths) =
    p.Log
    :: (if Directory.Exists p.Folder then
            Directory.GetFiles(p.Folder, "slurm-*.out") |> Array.toList
        else
            [])

/// True when process `pid` on this machine is a running `tidhy sweep run` (Linux: its command line;
/// elsewhere: any process with that id).
let private aliveHere (pid: int) =
    let cmdline = $"/proc/{pid}/cmdline"

    if Directory.Exists "/proc/self" then
        File.Exists cmdline
        && (try
                (File.ReadAllText cmdline).Contains("sweep")
            with :? IOException ->
                false)
    else
        try
            use p = Diagnostics.Process.GetProcessById pid
            not p.HasExited
        with :? ArgumentException ->
            false

/// The state of task `t`, with squeue's states of the sweep's array tasks (`SweepSlurm.queueStates`).
let stateOf (plan: Plan) (queue: Map<int, string * string>) (t: SweepTask) =
    let p = pathsOf plan.Dir t.Id

    if File.Exists p.Result then
        Done
    else
        let started = SweepRun.tryReadJson p.Started

        let local =
            started
            |> Option.bind (fun o ->
                match valueOf<string> o "host", valueOf<int> o "pid" with
                | Some h, Some pid when h = Environment.MachineName && aliveHere pid -> Some $"{h}, process {pid}"
                | _ -> None)

        match Map.tryFind t.Id queue, local with
        | Some("RUNNING", _), _ -> Running "SLURM"
        | _, Some where -> Running where
        | Some(state, reason), None when state = "PENDING" || state = "CONFIGURING" || state = "REQUEUED" ->
            Queued reason
        | _ ->
            match SweepRun.tryReadJson p.Failed with
            | Some f ->
                Failed(
                    valueOf<int> f "exit_code" |> Option.defaultValue 1,
                    valueOf<string> f "stage" |> Option.defaultValue "",
                    valueOf<string> f "message" |> Option.defaultValue ""
                )
            | None when started.IsSome -> Stopped(lastLogLine (logsOf p))
            | None -> NotStarted

/// The epochs a task trains: the sweep's `epochs`, else its configuration's `num_epochs`.
let epochsOf (plan: Plan) (t: SweepTask) =
    match plan.Sweep.Epochs with
    | Some e -> e
    | None ->
        let p = pathsOf plan.Dir t.Id

        try
            (ConfigJson.parse (File.ReadAllText p.Config)).NumEpochs
        with _ ->
            0

/// The epochs task `t` has completed (the rows of its run's `metrics.csv`).
let epochsDone (plan: Plan) (t: SweepTask) =
    let m = Path.Combine((pathsOf plan.Dir t.Id).Run, "metrics.csv")

    if File.Exists m then
        try
            max 0 (File.ReadLines m |> Seq.filter (fun l -> l.Trim() <> "") |> Seq.length)
            - 1
            |> max 0
        with :? IOException ->
            0
    else
        0

/// The count of each state's tasks, as one line: `6 tasks: 2 done, 1 running, …`.
let summary (states: TaskState list) =
    let count name =
        states |> List.filter (fun s -> stateName s = name) |> List.length

    let parts =
        [ "done"; "running"; "queued"; "failed"; "stopped"; "not started" ]
        |> List.choose (fun n ->
            match count n with
            | 0 when n <> "done" -> None
            | c -> Some $"{c} {n}")

    $"""{states.Length} tasks: {String.Join(", ", parts)}"""

/// `tidhy sweep status DIR`: one line of counts, then one row per task (all of them with `all`,
/// else those not done).
let run (dir: string) (all: bool) =
    let plan = SweepPlan.read dir
    let queue = SweepSlurm.queueStates plan.Dir
    let states = plan.Tasks |> List.map (fun t -> t, stateOf plan queue t)
    printfn "Sweep '%s' in %s: %s." plan.Sweep.Name plan.Dir (summary (List.map snd states))

    let shown = states |> List.filter (fun (_, s) -> all || s <> Done)

    if not shown.IsEmpty then
        let pointWidth = shown |> List.map (fst >> pointText >> _.Length) |> List.fold max 5

        printfn "  %-5s %-*s %-5s %-5s %-12s %-9s %s" "task" pointWidth "point" "seed" "data" "state" "epochs" "note"

        for t, s in shown do
            let note =
                match s with
                | Failed(code, stage, msg) -> $"{stage} exit {code}: {msg}"
                | Running w -> w
                | Queued r -> r
                | Stopped line -> line
                | Done
                | NotStarted -> ""

            printfn
                "  %-5d %-*s %-5d %-5s %-12s %-9s %s"
                t.Id
                pointWidth
                (pointText t)
                t.Seed
                (t.DataSeed |> Option.map string |> Option.defaultValue "-")
                (stateName s)
                $"{epochsDone plan t}/{epochsOf plan t}"
                note

    if not all && shown.Length < states.Length then
        printfn "  (--all lists the done tasks too; `tidhy sweep collect %s` gathers their results.)" plan.Dir

    0
