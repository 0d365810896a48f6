/// `tidhy data slds`: writes the paper's SLDS benchmark (`Slds.generate`) at a named scale to an
/// HDF5 file that `tidhy train` / `eval` and other tools read.
module TiDHy.Cli.DataCommand

open System.IO
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args

type SldsArgs =
    | Scale of name: string
    | Seed of int
    | [<Mandatory>] Out of file: string
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Scale _ ->
                "paper (upstream's sizes: 200000/50000/50000 steps, the default) or demo (tidhy demo's: 20000/2000/2000)."
            | Seed _ ->
                "data seed (default 10, the paper's first); the same seed gives tidhy demo --seed's data at --scale demo."
            | Out _ ->
                "the HDF5 file: /train, /val and /test each with observations, states, latents and emissions; /systems/i with each system's parameters; /projection; /true_timescales."
            | Force -> "replace the file at --out."

type DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Slds of ParseResults<SldsArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Slds _ ->
                "the SLDS benchmark of the paper (3 switching linear systems, partially superimposed, projected to 20 channels) with its true states and latents."

/// `tidhy data slds`: generates the data of `--scale` from `--seed` and writes it to `--out`.
let private runSlds (args: ParseResults<SldsArgs>) =
    let scale = args.GetResult(SldsArgs.Scale, "paper")

    let options =
        match Slds.scales |> List.tryFind (fst >> (=) scale) with
        | Some(_, o) -> o
        | None ->
            let known = Slds.scales |> List.map fst |> ConfigOptions.quotedList
            usage $"--scale {scale}: expected {known}."

    let seed = args.GetResult(SldsArgs.Seed, 10)
    let out = args.GetResult SldsArgs.Out

    if File.Exists out && not (args.Contains SldsArgs.Force) then
        fail $"{out}: already exists; use --force to replace it."

    RunFolder.checkFileTarget "--out" out

    // The demo's data key (Demo.run: the first half of the seed's key).
    let kData, _ = Random.split (Random.key seed)
    let data = Slds.generate options kData
    Slds.writeHdf5 out data

    printfn
        "SLDS benchmark (scale %s, seed %d): %d systems × %d states, %d channels; %d/%d/%d time steps (train/val/test) written to %s."
        scale
        seed
        options.Systems
        options.States
        (Slds.channels options)
        options.TrainLength
        options.ValLength
        options.TestLength
        out

    printfn
        "Train on it with: tidhy train --data %s:/train/observations --val-data %s:/val/observations --states %s:/val/states --out RUN"
        out
        out
        out

    0

/// `tidhy data` with its subcommand; returns the exit code.
let run (args: ParseResults<DataArgs>) =
    match args.GetSubCommand() with
    | DataArgs.Slds a -> runSlds a
