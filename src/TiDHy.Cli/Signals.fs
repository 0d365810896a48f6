/// Ctrl-C and SIGTERM during a long command.
module TiDHy.Cli.Signals

open System
open System.Runtime.InteropServices
open System.Threading

/// Stops a long command cleanly on Ctrl-C (SIGINT) or SIGTERM, for the lifetime of the value: the
/// first signal cancels `cts` instead of ending the process (training stops and saves a
/// checkpoint) and prints `stopping` (by default what training does); a second one ends the
/// process at once. `ExitCode` is 130 after Ctrl-C and 143 after SIGTERM (128 + the signal number,
/// as a shell reports a process the signal ended).
type StopSignals(cts: CancellationTokenSource, ?stopping: string) =
    let mutable exitCode = 130

    let stopping = defaultArg stopping "stopping and saving a checkpoint"

    let stop (code: int) (name: string) =
        if cts.IsCancellationRequested then
            false
        else
            exitCode <- code
            cts.Cancel()
            eprintfn "%s: %s (again to quit at once)…" name stopping
            true

    let ctrlC =
        ConsoleCancelEventHandler(fun _ e ->
            if stop 130 "Ctrl-C" then
                e.Cancel <- true)

    let term =
        PosixSignalRegistration.Create(
            PosixSignal.SIGTERM,
            fun ctx ->
                if stop 143 "SIGTERM" then
                    ctx.Cancel <- true
        )

    do Console.CancelKeyPress.AddHandler ctrlC

    /// 130 after Ctrl-C, 143 after SIGTERM.
    member _.ExitCode = exitCode

    interface IDisposable with
        member _.Dispose() =
            Console.CancelKeyPress.RemoveHandler ctrlC
            term.Dispose()
