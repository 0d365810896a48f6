/// `tidhy bench`: the inference benchmark (`InferenceBenchmark`, also run by bench/TiDHy.Bench).
module TiDHy.Cli.BenchCommand

open System
open Argu
open TiDHy.Cli.Args

type BenchArgs =
    | Batch of sizes: string
    | Json
    | No_Reference
    | Max_Reference_Batch of int
    | Device of string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batch _ -> "comma-separated batch sizes (default 1,16,256,2048)."
            | Json -> "one JSON line per implementation and batch size."
            | No_Reference -> "skip the slow F# reference path."
            | Max_Reference_Batch _ -> "time the reference path only up to this batch size, >= 0 (default 4096)."
            | Device _ -> "the device of registered backends' rows (tidhy-torch: cpu, cuda:N; default cpu)."

/// `tidhy bench`: the inference benchmark (D=20, R=10, R2=5, M=15, H=50, T=3, max_iter=50, tol=0),
/// one line per implementation and batch size; returns the exit code.
let run (args: ParseResults<BenchArgs>) =
    let batches =
        args.GetResult(BenchArgs.Batch, "1,16,256,2048").Split(',')
        |> Array.map (fun s ->
            match Int32.TryParse(s.Trim()) with
            | true, b when b > 0 -> b
            | _ -> usage $"--batch: '{s}' is not a positive batch size.")
        |> List.ofArray

    InferenceBenchmark.inference
        batches
        (args.Contains BenchArgs.Json)
        (not (args.Contains BenchArgs.No_Reference))
        (args.GetResult(BenchArgs.Max_Reference_Batch, 4096)
         |> nonNegative "--max-reference-batch")

    // Registered backends (tidhy-torch: the torch backend) time the same workload.
    for b in Backends.registered () do
        b.Benchmark (args.GetResult(BenchArgs.Device, b.DefaultDevice)) batches (args.Contains BenchArgs.Json)

    0
