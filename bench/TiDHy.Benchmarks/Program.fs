/// `dotnet run -c Release --project bench/TiDHy.Benchmarks -- --filter '*' --job short`: the
/// BenchmarkDotNet suite (see README "Benchmarks"); any BenchmarkDotNet option is accepted.
module TiDHy.Benchmarks.Program

open BenchmarkDotNet.Running

[<EntryPoint>]
let main argv =
    BenchmarkSwitcher.FromAssembly(typeof<Benchmarks.InferenceKernelBenchmarks>.Assembly).Run(argv)
    |> ignore

    0
