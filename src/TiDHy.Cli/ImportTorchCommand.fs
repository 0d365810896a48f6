/// `tidhy import-torch`: turns an upstream PyTorch state_dict (a `torch.save` file, or JSON) into a checkpoint.
module TiDHy.Cli.ImportTorchCommand

open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Inputs
open TiDHy.Cli.RunFolder

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
            | Config _ ->
                "the model's configuration JSON (upstream names, as train reads and writes it); input_dim comes from the state_dict."
            | Out _ ->
                "the checkpoint to write (*.tidhy.json), usable by train --resume and eval; never an existing file without --force."
            | Force -> "replace an existing file at --out."

/// The observation features `input_dim` of a state_dict: the outputs of its spatial decoder (the
/// last layer `spatial_decoder.4` of the nonlinear decoder, else the linear `spatial_decoder.0`).
let inputDimOf (path: string) (tensors: Map<string, NamedTensor>) =
    match
        Map.tryFind ParamNames.SpatialDecoderOutputWeight tensors, Map.tryFind ParamNames.SpatialDecoderWeight tensors
    with
    | Some w, _
    | None, Some w when w.Shape.Length = 2 -> w.Shape[0]
    | _ ->
        fail
            $"{path}: no spatial decoder weight ('{ParamNames.SpatialDecoderWeight}' or '{ParamNames.SpatialDecoderOutputWeight}') of two dimensions."

/// `tidhy import-torch`; returns the exit code. The configuration is the one `train` reads and
/// writes: `input_dim` comes from the state_dict when absent, and must match it when present.
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

    let configPath = args.GetResult ImportArgs.Config

    if File.Exists sd && isBlank sd then
        fail $"{sd}: the file is empty; --state-dict takes a torch.save file (.pth) or a state_dict JSON."

    let tensors =
        try
            if TorchFile.isZip sd then
                TorchFile.readStateDict sd
            else
                StateDict.parseJson (File.ReadAllText sd)
        with
        | StateDictException msg -> fail $"{sd}: {msg}"
        | DataFormatException msg -> fail msg
        | :? IOException as ex -> fail $"{sd}: cannot be read: {ex.Message}"

    let d = inputDimOf sd tensors

    let declared =
        try
            match JsonNode.Parse(File.ReadAllText configPath) with
            | :? JsonObject as o ->
                match o["input_dim"] with
                | null -> None
                | v when v.GetValueKind() = JsonValueKind.Number -> Some(v.ToJsonString())
                | _ -> None
            | _ -> None
        with _ ->
            None // configFor reports unreadable or invalid files

    match declared with
    | Some v when v <> string d ->
        fail
            $"{configPath}: input_dim = {v} but the state_dict {sd} has {d} observation features (spatial decoder outputs)."
    | _ -> ()

    let cfg = configFor (Some configPath) d

    let p =
        try
            ParamLayout.toParams cfg tensors
        with StateDictException msg ->
            fail $"{sd}: {msg}"

    Checkpoint.save out cfg (Train.initState cfg p)
    printfn "Imported %s (%d tensors) into %s." sd (ParamLayout.ofParams p).Length out
    0
