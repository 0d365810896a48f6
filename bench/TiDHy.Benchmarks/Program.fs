/// `dotnet run -c Release --project bench/TiDHy.Benchmarks -- --filter '*' --job short`: the
/// BenchmarkDotNet suite (see README "Benchmarks"); any BenchmarkDotNet option is accepted. `kernel`
/// times the inference kernel alone (KernelThroughput); `profile-forward` breaks down the public path
/// (ProfileForward).
module TiDHy.Benchmarks.Program

open BenchmarkDotNet.Running

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | [ "profile-forward" ] ->
        for b in [ 256; 2048 ] do
            for be in [ TiDHy.Functional.Backend.FusedFloat32; TiDHy.Functional.Backend.Fused ] do
                ProfileForward.run b be

        0
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

        let automatic = TiDHy.Kernels.KernelSchedule.Automatic

        let schedule =
            TiDHy.Kernels.KernelSchedule(
                IterationGroup =
                    (opt "--group" rest
                     |> Option.map int
                     |> Option.defaultValue automatic.IterationGroup),
                TileBytes =
                    (opt "--tile-kib" rest
                     |> Option.map (fun t -> 1024L * int64 t)
                     |> Option.defaultValue automatic.TileBytes)
            )

        KernelThroughput.run
            batches
            (opt "--threads" rest |> Option.map int |> Option.defaultValue 0)
            schedule
            (opt "--seconds" rest |> Option.map float |> Option.defaultValue 1.0)

        0
    | _ ->
        BenchmarkSwitcher.FromAssembly(typeof<Benchmarks.InferenceKernelBenchmarks>.Assembly).Run(argv)
        |> ignore

        0
