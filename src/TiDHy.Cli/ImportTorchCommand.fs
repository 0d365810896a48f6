/// `tidhy import-torch`: turns an upstream PyTorch state_dict (JSON) into a checkpoint.
module TiDHy.Cli.ImportTorchCommand

open Argu
open TiDHy.Functional
open TiDHy.Cli.Args

type ImportArgs =
    | [<Mandatory>] State_Dict of file: string
    | [<Mandatory>] Config of file: string
    | [<Mandatory>] Out of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | State_Dict _ -> "PyTorch state_dict saved as JSON ({name: {\"shape\": [...], \"data\": [...]}})."
            | Config _ -> "the model's configuration JSON (upstream names)."
            | Out _ -> "the checkpoint to write (*.tidhy.json), usable by train --resume and eval."

/// `tidhy import-torch`; returns the exit code.
let run (args: ParseResults<ImportArgs>) =
    let sd = args.GetResult ImportArgs.State_Dict
    let cfg = readConfig (args.GetResult ImportArgs.Config)

    let p =
        try
            StateDict.load cfg sd
        with StateDictException msg ->
            fail msg

    let out = args.GetResult ImportArgs.Out
    Checkpoint.save out cfg (Train.initState cfg p)
    printfn "Imported %s (%d tensors) into %s." sd (ParamLayout.ofParams p).Length out
    0
