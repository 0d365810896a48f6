/// `dotnet run -c Release --project bench/TiDHy.Benchmarks -- --filter '*' --job short`: the
/// BenchmarkDotNet suite (see README "Benchmarks"); any BenchmarkDotNet option is accepted.
module TiDHy.Benchmarks.Program

open BenchmarkDotNet.Running

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | "kernel" :: rest ->
        let rec opt name =
            function
            | n :: v :: _ when n = name -> Some v
            | _ :: r -> opt name r
            | [] -> None

        let batches =
            opt "--batch" rest
            |> Option.defaultValue "16,256,2048"
            |> fun s -> s.Split(',') |> Array.map int |> List.ofArray

        opt "--group" rest
        |> Option.iter (fun g -> TiDHy.Kernels.KernelSchedule.IterationGroup <- int g)

        opt "--tile-kib" rest
        |> Option.iter (fun t -> TiDHy.Kernels.KernelSchedule.TileBytes <- 1024L * int64 t)

        KernelThroughput.run
            batches
            (opt "--threads" rest |> Option.map int |> Option.defaultValue 0)
            (opt "--seconds" rest |> Option.map float |> Option.defaultValue 1.0)

        0
    | _ ->
        BenchmarkSwitcher.FromAssembly(typeof<Benchmarks.InferenceKernelBenchmarks>.Assembly).Run(argv)
        |> ignore

        0
