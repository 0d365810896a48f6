/// The local executor: runs a sweep's tasks that are not done on this machine, `jobs` at a time,
/// each as its own `tidhy sweep run DIR --task I` process (the command the SLURM script runs) with
/// its share of the cores, its output appended to the task's `log.txt`; one progress display for
/// the whole sweep. Ctrl-C or SIGTERM stops every running task (each saves its checkpoint); a rerun
/// resumes them.
module TiDHy.Cli.SweepLocal

open System
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Threading
open TiDHy.Cli.Args
open TiDHy.Cli.SweepFile
open TiDHy.Cli.SweepPlan
open TiDHy.Cli.Signals

[<DllImport("libc", SetLastError = true, EntryPoint = "kill")>]
extern int private sys_kill(int pid, int signal)

/// The command that starts this `tidhy`: its apphost, or `dotnet tidhy.dll` when it runs under
/// `dotnet`.
let selfCommand () =
    let exe = Environment.ProcessPath

    if Path.GetFileNameWithoutExtension(exe).Equals("dotnet", StringComparison.OrdinalIgnoreCase) then
        [ exe; Reflection.Assembly.GetEntryAssembly().Location ]
    else
        [ exe ]

/// A running task.
type private Child =
    {
        Task: SweepTask
        Process: Process
        Log: StreamWriter
        Watch: Stopwatch
        /// Epochs the task had completed when this run of it started.
        EpochsAtStart: int
    }

/// `setsid`, when installed: the tasks run in their own session, so that a terminal's Ctrl-C
/// reaches the executor only, which then stops each task once.
let private setsid =
    [ "/usr/bin/setsid"; "/bin/setsid" ] |> List.tryFind File.Exists

let private start (command: string list) (plan: Plan) (threads: int) (t: SweepTask) =
    let p = pathsOf plan.Dir t.Id
    let args = command.Tail @ [ "sweep"; "run"; plan.Dir; "--task"; string t.Id ]

    let file, args =
        match setsid with
        | Some s -> s, command.Head :: args
        | None -> command.Head, args

    let psi =
        ProcessStartInfo(file, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)

    for a in args do
        psi.ArgumentList.Add a

    psi.Environment["TIDHY_KERNEL_THREADS"] <- string threads
    Directory.CreateDirectory p.Folder |> ignore
    let log = new StreamWriter(p.Log, true, AutoFlush = true)
    log.WriteLine($"== tidhy sweep run {plan.Dir} --task {t.Id}: {DateTime.UtcNow:o}, {threads} kernel thread(s)")
    let proc = new Process(StartInfo = psi)

    let write (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock log (fun () -> log.WriteLine e.Data)

    proc.OutputDataReceived.Add write
    proc.ErrorDataReceived.Add write

    if not (proc.Start()) then
        fail $"task {t.Id}: could not start {file}."

    proc.BeginOutputReadLine()
    proc.BeginErrorReadLine()

    {
        Task = t
        Process = proc
        Log = log
        Watch = Stopwatch.StartNew()
        EpochsAtStart = SweepStatus.epochsDone plan t
    }

let private duration (seconds: float) =
    if seconds < 90.0 then $"{seconds:F0} s"
    elif seconds < 5400.0 then $"{seconds / 60.0:F0} min"
    else $"{seconds / 3600.0:F1} h"

/// `tidhy sweep submit DIR --executor local [--jobs N]`: runs the tasks that are not done; returns
/// 0 when every task is done, 1 when one failed, 130 / 143 when stopped.
let run (plan: Plan) (jobs: int option) (command: string list) =
    let cores = Environment.ProcessorCount
    let jobs = jobs |> Option.defaultValue (max 1 (cores / plan.Sweep.Resources.Cpus))
    let threads = max 1 (cores / jobs)

    let isDone (t: SweepTask) =
        File.Exists (pathsOf plan.Dir t.Id).Result

    let queue = Collections.Generic.Queue(plan.Tasks |> List.filter (isDone >> not))
    let total = plan.Tasks.Length
    let mutable doneCount = total - queue.Count
    let mutable failed = []
    let mutable stoppedTasks = 0
    let running = Collections.Generic.List<Child>()
    let watch = Stopwatch.StartNew()
    // Seconds and epochs of this run's tasks, for the time left.
    let mutable taskSeconds = 0.0
    let mutable taskEpochs = 0
    // Tasks that finished here and their seconds.
    let mutable finishedHere = 0
    let mutable finishedSeconds = 0.0

    printfn
        "Running %d of the %d tasks of sweep '%s' here, %d at a time with %d kernel thread(s) each (%d cores); logs in %s."
        queue.Count
        total
        plan.Sweep.Name
        jobs
        threads
        cores
        (Path.Combine(plan.Dir, "tasks", "<i>", "log.txt"))

    use cts = new CancellationTokenSource()
    use signals = new StopSignals(cts, "stopping the tasks; each saves its checkpoint")
    let mutable forwarded = false

    // The epochs each task trains, and the epochs the queued tasks have left.
    let epochsOf =
        plan.Tasks
        |> List.map (fun t -> t.Id, SweepStatus.epochsOf plan t)
        |> Map.ofList

    let left (t: SweepTask) =
        max 0 (epochsOf[t.Id] - SweepStatus.epochsDone plan t)

    let queuedLeft = queue |> Seq.map (fun t -> t.Id, left t) |> Map.ofSeq
    let mutable queuedEpochs = queuedLeft |> Map.values |> Seq.sum

    let timeLeft () =
        let progress =
            running
            |> Seq.map (fun c -> c, SweepStatus.epochsDone plan c.Task)
            |> Seq.toList

        let seconds = taskSeconds + (running |> Seq.sumBy _.Watch.Elapsed.TotalSeconds)

        let epochs =
            taskEpochs + (progress |> List.sumBy (fun (c, e) -> e - c.EpochsAtStart))

        let remaining =
            queuedEpochs
            + (progress |> List.sumBy (fun (c, e) -> max 0 (epochsOf[c.Task.Id] - e)))

        // Once tasks have finished here, their mean time (evaluation included); before, the
        // training epochs' pace.
        if finishedHere > 0 then
            let mean = finishedSeconds / float finishedHere

            let rest =
                float queue.Count * mean
                + (running |> Seq.sumBy (fun c -> max 0.0 (mean - c.Watch.Elapsed.TotalSeconds)))

            $"about {duration (rest / float jobs)} left"
        elif epochs = 0 then
            "time left: estimating"
        else
            $"about {duration (seconds / float epochs * float remaining / float jobs)} left (training)"

    let line () =
        $"{doneCount}/{total} done, {running.Count} running, {failed.Length} failed; {timeLeft ()}"

    let interactive = not Console.IsOutputRedirected
    let lastPrinted = Stopwatch.StartNew()

    let event (text: string) =
        if interactive then
            Console.Write("\r\u001b[2K")

        printfn "[%s] %s — %s" (DateTime.Now.ToString "HH:mm:ss") text (line ())
        lastPrinted.Restart()

    while (queue.Count > 0 && not cts.IsCancellationRequested) || running.Count > 0 do
        // Start tasks while there are free slots.
        while running.Count < jobs && queue.Count > 0 && not cts.IsCancellationRequested do
            let t = queue.Dequeue()
            queuedEpochs <- queuedEpochs - queuedLeft[t.Id]
            let c = start command plan threads t
            running.Add c
            event $"""task {t.Id} ({pointText t}{(if t.Options.IsEmpty then "" else ", ")}seed {t.Seed}) started"""

        // Stop the running tasks once on a signal: SIGTERM to each (each saves its checkpoint).
        // Without setsid a terminal's Ctrl-C has reached them already.
        if cts.IsCancellationRequested && not forwarded then
            forwarded <- true

            if setsid.IsSome || signals.ExitCode = 143 then
                for c in running do
                    sys_kill (c.Process.Id, 15) |> ignore

        for c in running |> Seq.toArray do
            if c.Process.HasExited then
                c.Process.WaitForExit()
                lock c.Log (fun () -> c.Log.Dispose())
                running.Remove c |> ignore
                let seconds = c.Watch.Elapsed.TotalSeconds
                taskSeconds <- taskSeconds + seconds
                taskEpochs <- taskEpochs + (SweepStatus.epochsDone plan c.Task - c.EpochsAtStart)
                let t = c.Task

                match c.Process.ExitCode with
                | 0 when isDone t ->
                    doneCount <- doneCount + 1
                    finishedHere <- finishedHere + 1
                    finishedSeconds <- finishedSeconds + seconds
                    event $"task {t.Id} done in {duration seconds}"
                | 130
                | 143 ->
                    stoppedTasks <- stoppedTasks + 1
                    event $"task {t.Id} stopped; its checkpoint is saved"
                | code ->
                    failed <- t.Id :: failed
                    let last = SweepStatus.lastLogLine [ (pathsOf plan.Dir t.Id).Log ]
                    event $"task {t.Id} FAILED (exit {code}): {last}"

        if running.Count > 0 then
            Thread.Sleep 200

            if interactive && lastPrinted.Elapsed.TotalSeconds > 1.0 then
                Console.Write($"\r\u001b[2K{line ()}")
                lastPrinted.Restart()
            elif not interactive && lastPrinted.Elapsed.TotalSeconds > 60.0 then
                printfn "[%s] %s" (DateTime.Now.ToString "HH:mm:ss") (line ())
                lastPrinted.Restart()

    if interactive then
        Console.Write("\r\u001b[2K")

    printfn
        "Sweep '%s': %d of %d tasks done%s in %s."
        plan.Sweep.Name
        doneCount
        total
        (if failed.IsEmpty then
             ""
         else
             $"""; failed: {String.Join(", ", failed |> List.rev)} (`tidhy sweep status {plan.Dir}` shows why; submit again to retry)""")
        (duration watch.Elapsed.TotalSeconds)

    if cts.IsCancellationRequested then
        printfn "Stopped: %d task(s) saved their checkpoints; submit again to resume." stoppedTasks
        signals.ExitCode
    elif failed.IsEmpty then
        0
    else
        1
