module TiDHy.Cli.Program

open System

let usage =
    """tidhy: Timescale Demixing via Hypernetworks.

Usage:
  tidhy demo [--seed N]   Run inference and evaluation on a built-in switching series.
  tidhy --help            Show this help.
"""

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | []
    | [ "--help" ]
    | [ "-h" ]
    | [ "help" ] ->
        printf "%s" usage
        if argv.Length = 0 then 2 else 0
    | [ "demo" ] -> Demo.run 1 20 "tidhy-demo"
    | [ "demo"; "--seed"; s ] ->
        match Int32.TryParse s with
        | true, seed -> Demo.run seed 20 "tidhy-demo"
        | _ ->
            eprintfn "tidhy demo: --seed expects an integer, got '%s'." s
            2
    | "demo" :: ("--help" | "-h") :: _ ->
        printfn "tidhy demo [--seed N]: inference and evaluation on a built-in switching series (seed default 1)."
        0
    | cmd :: _ ->
        eprintfn "tidhy: unknown command or arguments '%s'. Run 'tidhy --help'." (String.Join(" ", argv))
        ignore cmd
        2
