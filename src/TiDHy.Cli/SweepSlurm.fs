/// The SLURM executor: one job array per submission, its batch script written into the sweep
/// folder (`slurm/submit-<n>.sbatch`, readable and editable) and submitted with `sbatch`; and the
/// array tasks' states read back from `squeue`. SLURM schedules; this module writes the script and
/// reads the queue.
module TiDHy.Cli.SweepSlurm

open System
open System.Diagnostics
open System.IO
open TiDHy.Cli.Args
open TiDHy.Cli.SweepFile
open TiDHy.Cli.SweepPlan

/// The options of a submission.
type SlurmOptions =
    {
        /// `--partition`.
        Partition: string option
        /// `--account`.
        Account: string option
        /// At most this many tasks at once (`--array=…%P`).
        MaxParallel: int option
        /// Extra `#SBATCH` options, e.g. `--qos=long` or `--constraint=avx512`.
        Extra: string list
        /// Shell lines run before the task, e.g. `module load dotnet`.
        Setup: string list
        /// The command that starts `tidhy` on the nodes (e.g. `tidhy`, or `dotnet /path/tidhy.dll`).
        Tidhy: string
        /// Seconds before the time limit at which the task is told to save and requeue.
        SignalSeconds: int
    }

/// The task ids as a SLURM array range list: `0-3,5,7-9`.
let arrayRanges (ids: int list) =
    let sorted = ids |> List.distinct |> List.sort

    let rec go (acc: (int * int) list) (rest: int list) =
        match rest, acc with
        | [], _ -> List.rev acc
        | x :: xs, (a, b) :: accRest when x = b + 1 -> go ((a, x) :: accRest) xs
        | x :: xs, _ -> go ((x, x) :: acc) xs

    go [] sorted
    |> List.map (fun (a, b) -> if a = b then string a else $"{a}-{b}")
    |> fun parts -> String.Join(",", parts)

/// The batch script of a job array over `ids` of the sweep in `dir`. Each array task runs
/// `tidhy sweep run DIR --task $SLURM_ARRAY_TASK_ID` with the kernels' worker count set to its
/// cores. On SIGTERM (preemption, `scontrol requeue`, `scancel`) SLURM signals the script and the
/// task: the task saves its checkpoint and the script waits for it. `SignalSeconds` before the time
/// limit SLURM sends the script SIGUSR1 (`--signal=B:USR1@…`): it stops the task (SIGTERM: the
/// checkpoint is saved) and requeues the array task, which resumes from the checkpoint.
let scriptText (dir: string) (s: Sweep) (ids: int list) (o: SlurmOptions) =
    let q = shellQuote
    let r = s.Resources

    let array =
        arrayRanges ids
        + (o.MaxParallel |> Option.map (fun p -> $"%%{p}") |> Option.defaultValue "")

    let lines =
        [
            "#!/bin/bash"
            $"# TiDHy sweep '{s.Name}': tasks {arrayRanges ids} of {dir}."
            "# Written by `tidhy sweep submit`; edit it and submit it with `sbatch` by hand if you need to."
            $"#SBATCH --job-name=tidhy-{s.Name}"
            $"#SBATCH --array={array}"
            $"#SBATCH --cpus-per-task={r.Cpus}"
            match r.Memory with
            | Some m -> $"#SBATCH --mem={m}"
            | None -> ()
            match r.Time with
            | Some t -> $"#SBATCH --time={t}"
            | None -> ()
            $"#SBATCH --output={dir}/tasks/%%a/slurm-%%A_%%a.out"
            "#SBATCH --open-mode=append"
            "#SBATCH --requeue"
            $"#SBATCH --signal=B:USR1@{o.SignalSeconds}"
            match o.Partition with
            | Some p -> $"#SBATCH --partition={p}"
            | None -> ()
            match o.Account with
            | Some a -> $"#SBATCH --account={a}"
            | None -> ()
            for e in o.Extra do
                $"#SBATCH {e}"
            ""
            for line in o.Setup do
                line
            "# The kernels use the task's cores."
            "export TIDHY_KERNEL_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\""
            "task=\"$SLURM_ARRAY_TASK_ID\""
            "echo \"tidhy sweep: task $task on $(hostname), job ${SLURM_ARRAY_JOB_ID}_${task}, restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)\""
            $"{o.Tidhy} sweep run {q dir} --task \"$task\" &"
            "child=$!"
            "# Preemption or a requeue: SLURM sends SIGTERM to this script and to the task, which saves its"
            "# checkpoint and exits; wait for it."
            "trap 'wait \"$child\"' TERM"
            "# The time limit is near (--signal): stop the task (it saves its checkpoint) and requeue it."
            "on_time_limit() {"
            "  echo \"tidhy sweep: the time limit is near; stopping task $task and requeueing it\""
            "  kill -TERM \"$child\" 2>/dev/null"
            "  wait \"$child\""
            "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${task}\""
            "  exit 0"
            "}"
            "trap on_time_limit USR1"
            "wait \"$child\""
            "code=$?"
            "# A trapped signal ends the wait early; wait for the task itself."
            "while kill -0 \"$child\" 2>/dev/null; do wait \"$child\"; code=$?; done"
            "exit \"$code\""
        ]

    String.Join("\n", lines) + "\n"

/// Runs `file args`, returning its exit code, standard output and standard error; None when the
/// program is not installed.
let runProgram (file: string) (args: string list) =
    let psi =
        ProcessStartInfo(file, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)

    for a in args do
        psi.ArgumentList.Add a

    try
        use p = Process.Start psi
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEnd()
        p.WaitForExit()
        Some(p.ExitCode, out.Result, err)
    with :? ComponentModel.Win32Exception ->
        None

/// The file that lists the sweep's submitted job ids, one per line.
let jobsFile (dir: string) = Path.Combine(dir, "slurm", "jobs.txt")

/// The job ids submitted for the sweep in `dir`.
let jobIds (dir: string) =
    let f = jobsFile dir

    if File.Exists f then
        File.ReadAllLines f
        |> Array.choose (fun l ->
            match l.Split('\t') with
            | [| "" |] -> None
            | parts -> Some parts[0])
        |> Array.toList
    else
        []

/// Writes the batch script of the tasks of `plan` that are not done into `slurm/submit-<n>.sbatch`
/// and, unless `dryRun`, submits it with `sbatch`. Returns the script's path and the job id.
let submit (plan: Plan) (o: SlurmOptions) (dryRun: bool) =
    let pending =
        plan.Tasks
        |> List.filter (fun t -> not (File.Exists (pathsOf plan.Dir t.Id).Result))
        |> List.map _.Id

    if pending.IsEmpty then
        None
    else
        let folder = Path.Combine(plan.Dir, "slurm")
        Directory.CreateDirectory folder |> ignore

        let n = Directory.GetFiles(folder, "submit-*.sbatch").Length + 1

        let script = Path.Combine(folder, $"submit-{n}.sbatch")
        Report.writeAtomic script (scriptText plan.Dir plan.Sweep pending o)

        if dryRun then
            Some(script, pending, None)
        else
            match runProgram "sbatch" [ "--parsable"; script ] with
            | None -> fail $"sbatch: not found; is SLURM installed here? The script is written: {script}"
            | Some(0, out, _) ->
                let id = out.Trim().Split(';')[0]

                if id = "" then
                    fail $"sbatch printed no job id for {script}."

                File.AppendAllText(jobsFile plan.Dir, $"{id}\t{Path.GetFileName script}\t{DateTime.UtcNow:o}\n")
                Some(script, pending, Some id)
            | Some(c, out, err) ->
                let msg = (err + out).Trim()
                fail $"sbatch {script} failed (exit {c}): {msg}"

/// The array tasks of `jobs` in `squeue -h -r -o '%i|%T|%r'` output: `JOB_TASK|STATE|REASON` lines.
let parseQueue (jobs: string list) (text: string) : Map<int, string * string> =
    text.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
    |> Array.choose (fun line ->
        match line.Split('|') with
        | [| id; state; reason |] ->
            match id.Split('_') with
            | [| job; task |] when List.contains job jobs ->
                match Int32.TryParse task with
                | true, t -> Some(t, (state, reason))
                | _ -> None
            | _ -> None
        | _ -> None)
    |> Map.ofArray

/// The state squeue reports for each array task of the sweep's jobs: task id → (state, reason),
/// e.g. RUNNING, PENDING; empty when squeue is not installed or no job is listed.
let queueStates (dir: string) : Map<int, string * string> =
    match jobIds dir with
    | [] -> Map.empty
    | jobs ->
        // All of this user's jobs (squeue -j fails on an id it no longer knows), filtered here.
        match runProgram "squeue" [ "-h"; "-r"; "--me"; "-o"; "%i|%T|%r" ] with
        | Some(0, out, _) -> parseQueue jobs out
        | _ -> Map.empty
