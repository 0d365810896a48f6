/// `dotnet run -c Release --project bench/TiDHy.Bench -- inference --batch 1,16,256,2048 --json`
/// (see `TiDHy.Cli.InferenceBenchmark`, src/TiDHy.Cli/InferenceBenchmark.fs, which `tidhy bench` runs too)
/// and `-- train [--steps 3]` (`TiDHy.Cli.TrainBenchmark`, which `tidhy bench train` runs).
module TiDHy.Bench.Program

open TiDHy.Cli.InferenceBenchmark

[<EntryPoint>]
let main argv =
    let args = List.ofArray argv

    let rec opt name =
        function
        | n :: v :: _ when n = name -> Some v
        | _ :: rest -> opt name rest
        | [] -> None

    match args with
    | "inference" :: rest ->
        let batches =
            opt "--batch" rest
            |> Option.defaultValue "1,16,256,2048"
            |> fun s -> s.Split(',') |> Array.map int |> List.ofArray

        let maxRef =
            opt "--max-reference-batch" rest |> Option.map int |> Option.defaultValue 4096

        inference batches (List.contains "--json" rest) (not (List.contains "--no-reference" rest)) maxRef
        |> ignore

        0
    | "train" :: rest ->
        let steps = opt "--steps" rest |> Option.map int |> Option.defaultValue 3
        let warmup = opt "--warmup" rest |> Option.map float |> Option.defaultValue 1.0

        TiDHy.Cli.TrainBenchmark.train
            16
            100
            warmup
            steps
            (List.map fst TiDHy.Cli.TrainBenchmark.impls)
            (List.map fst TiDHy.Cli.TrainBenchmark.settings)

        0
    | _ ->
        eprintfn
            "usage: TiDHy.Bench inference [--batch 1,16,256,2048] [--json] [--no-reference] [--max-reference-batch N] | train [--steps N] [--warmup SECONDS]"

        2
