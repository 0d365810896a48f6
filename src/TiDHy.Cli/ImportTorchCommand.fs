/// `tidhy import-torch`: turns an upstream PyTorch state_dict (a `torch.save` file, or JSON) into a checkpoint.
module TiDHy.Cli.ImportTorchCommand

open System.IO
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args

type ImportArgs =
    | [<Mandatory>] State_Dict of file: string
    | [<Mandatory>] Config of file: string
    | [<Mandatory>] Out of file: string
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | State_Dict _ ->
                "the PyTorch weights: a torch.save file (model.pth: a state_dict, or a checkpoint holding one in 'state_dict' or 'model_state_dict'; float32 or float64), recognised by its zip signature, or a state_dict saved as JSON ({name: {\"shape\": [...], \"data\": [...]}})."
            | Config _ -> "the model's configuration JSON (upstream names)."
            | Out _ ->
                "the checkpoint to write (*.tidhy.json), usable by train --resume and eval; never an existing file without --force."
            | Force -> "replace an existing file at --out."

/// `tidhy import-torch`; returns the exit code.
let run (args: ParseResults<ImportArgs>) =
    let sd = args.GetResult ImportArgs.State_Dict
    let out = args.GetResult ImportArgs.Out

    if Directory.Exists out then
        let example = Path.Combine(out, "imported.tidhy.json")
        fail $"--out {out} is a folder; name the checkpoint file to write (e.g. {example})."

    let dir = Path.GetDirectoryName(Path.GetFullPath out)
    use _lock = lockOutput dir

    if File.Exists out && not (args.Contains ImportArgs.Force) then
        fail $"{out} already exists; pass --force to replace it, or choose another --out."

    let cfg = readConfig (args.GetResult ImportArgs.Config)

    let p =
        try
            if TorchFile.isZip sd then
                TorchFile.load cfg sd
            else
                StateDict.load cfg sd
        with
        | StateDictException msg
        | DataFormatException msg -> fail msg

    Checkpoint.save out cfg (Train.initState cfg p)
    printfn "Imported %s (%d tensors) into %s." sd (ParamLayout.ofParams p).Length out
    0
