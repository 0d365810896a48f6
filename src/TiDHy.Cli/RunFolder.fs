/// A command's output folder: its exclusive lock, the guard against overwriting a run's files, and
/// the replacement that `train --force` makes (the replaced run set aside until the new run has its
/// first checkpoint, and settled after a killed run).
module TiDHy.Cli.RunFolder

open System
open System.IO
open TiDHy.Functional
open TiDHy.Cli.Args

/// The files a command writes into a run or report folder: checkpoints, configuration, weights,
/// metrics, the evaluation record, the report, and the SVG plots that reports of earlier versions held.
let isRunFile (name: string) =
    match name with
    | "config.json"
    | "normalisation.json"
    | "test.npy"
    | "test_states.npy"
    | "last.tidhy.json"
    | "best.tidhy.json"
    | "model.json"
    | "metrics.csv"
    | "record.npz"
    | "record.h5"
    | "measures.json"
    | "index.html"
    | "losses.svg"
    | "r.svg"
    | "r2.svg"
    | "W.svg"
    | "states.svg" -> true
    | n ->
        n.StartsWith("reconstruction_", StringComparison.Ordinal)
        && n.EndsWith(".svg", StringComparison.Ordinal)

/// The run files (`isRunFile`) already in `dir`, sorted.
let runFilesIn (dir: string) =
    if Directory.Exists dir then
        Directory.EnumerateFiles dir
        |> Seq.map Path.GetFileName
        |> Seq.filter isRunFile
        |> Seq.sort
        |> Seq.toList
    else
        []

/// Fails when the output folder `dir` already holds a run's files and `force` is not set; returns
/// the files that `--force` replaces (once every check has passed: removed by `removeRunFiles`, or
/// set aside by `setAside` until the new run has its first checkpoint).
let guardOutput (dir: string) (force: bool) =
    match runFilesIn dir with
    | [] -> []
    | files when force -> files
    | files ->
        let shown = String.Join(", ", files |> List.truncate 4)

        let more =
            if files.Length > 4 then
                $" and {files.Length - 4} more"
            else
                ""

        fail
            $"{dir} already holds a run's files ({shown}{more}); pass --force to replace them, or choose another --out."

/// Removes `files` from `dir` (what `--force` replaces).
let removeRunFiles (dir: string) (files: string list) =
    for f in files do
        File.Delete(Path.Combine(dir, f))

/// The folder, inside a run folder, that holds the run `train --force` replaces until the new run
/// has written its first checkpoint (`setAside`).
[<Literal>]
let ReplacedFolder = ".tidhy-replaced"

/// Written into `ReplacedFolder` once every replaced file is in it.
[<Literal>]
let private ReplacedMarker = ".complete"

let private replacedFiles (backup: string) =
    Directory.GetFiles backup
    |> Array.map Path.GetFileName
    |> Array.filter ((<>) ReplacedMarker)
    |> Array.sort

/// Deletes the replaced run kept in `dir` (the new run has its first checkpoint): its files, then
/// the marker, then the folder, so that an interruption leaves a state `recoverReplaced` reads right.
let commitReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        for f in replacedFiles backup do
            File.Delete(Path.Combine(backup, f))

        File.Delete(Path.Combine(backup, ReplacedMarker))
        Directory.Delete backup

/// Moves the replaced run kept in `dir` back into `dir` (the new run failed or was killed before its
/// first checkpoint), removing the run files that the new run wrote meanwhile (its config.json).
let restoreReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        let kept = replacedFiles backup

        // Without the marker the files were still being moved aside: those in `dir` are the
        // replaced run's too, and the new run has written nothing.
        if File.Exists(Path.Combine(backup, ReplacedMarker)) then
            for f in Directory.GetFiles dir |> Array.map Path.GetFileName do
                if isRunFile f && not (Array.contains f kept) then
                    File.Delete(Path.Combine(dir, f))

        for f in kept do
            File.Move(Path.Combine(backup, f), Path.Combine(dir, f), true)

        File.Delete(Path.Combine(backup, ReplacedMarker))
        Directory.Delete backup

/// Settles a replacement that a killed `train --force` left in `dir` (under the lock): when the new
/// run had written its first checkpoint, the replaced run is deleted; otherwise it is restored.
let recoverReplaced (dir: string) =
    let backup = Path.Combine(dir, ReplacedFolder)

    if Directory.Exists backup then
        if
            File.Exists(Path.Combine(backup, ReplacedMarker))
            && File.Exists(Path.Combine(dir, "last.tidhy.json"))
        then
            commitReplaced dir

            eprintfn
                "Removed the run that an interrupted --force replaced in %s (the new run had written its first checkpoint)."
                dir
        else
            restoreReplaced dir
            eprintfn "Restored the run in %s that an interrupted --force was replacing." dir

/// Moves `files` (what `--force` replaces, `guardOutput`) of `dir` into its `ReplacedFolder`, where
/// they stay until `commitReplaced` deletes them (the new run has written its first checkpoint) or
/// `restoreReplaced` puts them back (it failed before); a process killed in between leaves them for
/// `recoverReplaced`, which the next `lockOutput` of the folder runs.
let setAside (dir: string) (files: string list) =
    if not files.IsEmpty then
        let backup = Path.Combine(dir, ReplacedFolder)
        Directory.CreateDirectory backup |> ignore

        for f in files do
            File.Move(Path.Combine(dir, f), Path.Combine(backup, f), true)

        File.WriteAllText(Path.Combine(backup, ReplacedMarker), "")

/// Runs `work settle` in `dir` while the run that `--force` replaces (`replaced`, set aside by
/// `setAside`) is kept: `settle`, which `work` calls once the new run has written its first
/// checkpoint and which runs again when `work` returns (with a checkpoint written: a fit returns
/// after an epoch, or on cancellation), deletes it (`commitReplaced`); when `work` fails before, it
/// is put back (`restoreReplaced`).
let whileReplacing (dir: string) (replaced: string list) (work: (unit -> unit) -> 'a) : 'a =
    let mutable settled = replaced.IsEmpty

    let settle () =
        if not settled then
            commitReplaced dir
            settled <- true

    let res =
        try
            work settle
        with _ ->
            if not settled then
                restoreReplaced dir
                settled <- true

                eprintfn
                    "The run that --force was replacing is restored in %s (the new run failed before its first checkpoint)."
                    dir

            reraise ()

    settle ()
    res

/// Fails unless a file can be created in `dir` (a probe, deleted on close).
let private probeWritable (option: string) (shown: string) (dir: string) =
    try
        (new FileStream(
            Path.Combine(dir, $".tidhy-probe-{Guid.NewGuid():N}"),
            FileMode.CreateNew,
            FileAccess.Write,
            FileShare.None,
            1,
            FileOptions.DeleteOnClose
        ))
            .Dispose()
    with
    | :? UnauthorizedAccessException ->
        fail $"{option} {shown}: cannot be written: {dir} takes no new file (permission denied)."
    | :? IOException -> fail $"{option} {shown}: cannot be written: {dir} takes no new file."

/// Checks, before a command's long work, that the output folder `dir` of the option `option` can be
/// made and written: no file stands at it or at a folder above it, and the nearest folder that
/// exists takes a new file. Creates nothing (the command makes the folder when it writes), so that a
/// path that cannot be written (a file, a read-only or system place, an empty name) fails at once,
/// naming the option, instead of after the work with its results lost.
let checkFolderTarget (option: string) (dir: string) =
    if String.IsNullOrWhiteSpace dir then
        usage $"{option}: expected a folder, got an empty path."

    let rec nearest (p: string) =
        if Directory.Exists p then
            p
        elif File.Exists p then
            if p = Path.GetFullPath dir then
                fail $"{option} {dir}: is a file; {option} names a folder."
            else
                fail $"{option} {dir}: {p} is a file, not a folder."
        else
            match Path.GetDirectoryName p with
            | null -> p
            | parent -> nearest parent

    probeWritable option dir (nearest (Path.GetFullPath dir))

/// Checks, before a command's work, that the file `path` of the option `option` can be written:
/// it is not a folder and the folder it goes in exists.
let checkFileTarget (option: string) (path: string) =
    if String.IsNullOrWhiteSpace path then
        usage $"{option}: expected a file name, got an empty path."

    if Directory.Exists path then
        fail $"{option} {path}: is a folder; {option} names the file to write."

    let parent = Path.GetDirectoryName(Path.GetFullPath path)

    if File.Exists parent then
        fail $"{option} {path}: {parent} is a file, not a folder."

    if not (Directory.Exists parent) then
        fail $"{option} {path}: the folder {parent} does not exist."

    probeWritable option path parent

/// The name of the lock file a command holds in its output folder while it runs.
[<Literal>]
let LockFile = ".tidhy.lock"

/// Takes the exclusive lock of the output folder `dir` (created when missing) for the lifetime of
/// the returned value: the file `.tidhy.lock` in it, opened with `FileShare.None` (an advisory
/// `flock` on Unix), which the system releases when the process ends, however it ends. A second
/// `tidhy` process on the same folder fails at once naming it. A lock file that is a symbolic link
/// is refused (never followed). With the lock held, the temporary files that a killed writer left
/// (`DataFile.removeTemporaries`) are removed, and a replacement that a killed `train --force` left
/// is settled (`recoverReplaced`). The folders this call creates are removed again on release if
/// they hold nothing but the lock then: a command refused after taking the lock (a missing input,
/// a bad configuration) leaves no folder behind.
let lockOutput (dir: string) : IDisposable =
    // The folders that do not exist yet, the leaf first.
    let created =
        let rec missing (p: string) acc =
            if isNull p || Directory.Exists p || File.Exists p then
                List.rev acc
            else
                missing (Path.GetDirectoryName p) (p :: acc)

        missing (Path.GetFullPath dir) []

    try
        Directory.CreateDirectory dir |> ignore
    with
    | :? IOException
    | :? UnauthorizedAccessException as ex -> fail $"{dir}: cannot create the output folder: {ex.Message}"

    let path = Path.Combine(dir, LockFile)

    // A lock planted as a symbolic link would be followed: its target created or truncated
    // elsewhere. Refuse it, before opening and again once open (a link made in between).
    let refuseLink () =
        match FileInfo(path).LinkTarget with
        | null -> ()
        | target ->
            fail
                $"{path} is a symbolic link (to {target}); tidhy does not follow it: remove it, or choose another --out."

    refuseLink ()

    let stream =
        try
            new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
        with
        | :? UnauthorizedAccessException as ex -> fail $"{dir}: the output folder is not writable: {ex.Message}"
        | :? IOException ->
            fail
                $"{dir} is in use by another tidhy process (it holds {path}); wait for it to finish or choose another --out."

    try
        refuseLink ()
    with _ ->
        stream.Dispose()
        reraise ()

    let removed = DataFile.removeTemporaries dir

    if removed > 0 then
        eprintfn "Removed %d temporary file(s) left in %s by an interrupted run." removed dir

    recoverReplaced dir

    let release () =
        let onlyTheLock () =
            Directory.EnumerateFileSystemEntries dir
            |> Seq.forall (fun e -> Path.GetFileName e = LockFile)

        if not created.IsEmpty && onlyTheLock () then
            // Unlinked while still held, so no other process can have opened it in between; then
            // the folders, each only while empty (a non-recursive delete fails otherwise).
            File.Delete path
            stream.Dispose()

            try
                for d in created do
                    Directory.Delete d
            with
            | :? IOException
            | :? UnauthorizedAccessException -> ()
        else
            stream.Dispose()

    { new IDisposable with
        member _.Dispose() =
            try
                release ()
            with
            | :? IOException
            | :? UnauthorizedAccessException -> stream.Dispose()
    }
