/// `tidhy train`: trains a model on a series file, writing checkpoints, the best weights as a
/// state_dict, metrics and a report.
module TiDHy.Cli.TrainCommand

open System.IO
open System.Threading
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args

type TrainArgs =
    | [<Mandatory>] Data of file: string
    | Config of file: string
    | [<Mandatory>] Out of dir: string
    | Val_Data of file: string
    | Val_Fraction of float
    | Epochs of int
    | Batch_Size of int
    | Seed of int
    | Validate_Every of int
    | Resume

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "training series [time × features]: .csv (header optional), .npy or .npz."
            | Config _ ->
                "configuration JSON with MODEL.md's names; missing keys take the defaults, input_dim comes from the data."
            | Out _ -> "output folder: config.json, checkpoints, model.json, metrics.csv, plots and index.html."
            | Val_Data _ -> "validation series (default: the last --val-fraction of --data)."
            | Val_Fraction _ ->
                "fraction of the series held out for validation when --val-data is absent (default 0.1; 0 for none)."
            | Epochs _ -> "train until this many epochs are complete (default: the config's num_epochs)."
            | Batch_Size _ -> "windows per batch (default 16)."
            | Seed _ -> "seed of the initialisation and the shuffle (default 0)."
            | Validate_Every _ -> "validate every this many epochs (default 1)."
            | Resume -> "continue from the output folder's last.tidhy.json."

let private summaryOf (cfg: Config) (state: TrainState) =
    [
        "model",
        $"D={cfg.InputDim}, R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, loss {Config.lossName cfg.Loss}"
        "epochs", string state.Epoch
        match state.Best with
        | Some b -> "best", $"epoch {b.Epoch + 1}, score {b.Score:F6}"
        | None -> ()
    ]

/// The training and validation series: `--val-data`, or the last `--val-fraction` of the series
/// (`Series.splitTail`; none when it rounds to 0 steps).
let private split (args: ParseResults<TrainArgs>) (series: float[,]) =
    match args.TryGetResult TrainArgs.Val_Data with
    | Some v -> series, Some(loadSeries v)
    | None ->
        let fraction = args.GetResult(TrainArgs.Val_Fraction, 0.1)

        if not (fraction >= 0.0 && fraction < 1.0) then
            fail $"--val-fraction: expected a fraction in [0, 1), got {fraction}."

        let split = Series.splitTail fraction series

        if Array2D.length1 split.Val = 0 then
            series, None
        else
            split.Train, Some split.Val

/// `tidhy train`; returns the exit code.
let run (args: ParseResults<TrainArgs>) =
    let dataPath = args.GetResult TrainArgs.Data
    let out = args.GetResult TrainArgs.Out
    let series = loadSeries dataPath
    let cfg = configFor (args.TryGetResult TrainArgs.Config) (Array2D.length2 series)
    let trainSeries, validSeries = split args series
    let trainWindows = windowsOf dataPath cfg cfg.Overlap trainSeries

    let validWindows =
        match validSeries, args.TryGetResult TrainArgs.Val_Data with
        | Some v, None when Array2D.length1 v < cfg.SequenceLength ->
            printfn
                "Note: the held-out %d steps are fewer than one window of %d; training without validation."
                (Array2D.length1 v)
                cfg.SequenceLength

            None
        | Some v, Some file -> Some(windowsOf file cfg cfg.SequenceLength v)
        | Some v, None -> Some(windowsOf "validation data" cfg cfg.SequenceLength v)
        | None, _ -> None

    Directory.CreateDirectory out |> ignore
    let last = Path.Combine(out, Train.LastCheckpoint)

    let state =
        if args.Contains TrainArgs.Resume then
            if not (File.Exists last) then
                fail $"--resume: {last} does not exist."

            try
                Checkpoint.load cfg last
            with CheckpointException msg ->
                fail msg
        elif File.Exists last then
            fail $"{out} already holds {Train.LastCheckpoint}; pass --resume to continue it, or choose another --out."
        else
            Train.init cfg (Random.key (args.GetResult(TrainArgs.Seed, 0)))

    Report.writeAtomic (Path.Combine(out, "config.json")) (ConfigJson.toJson cfg + "\n")

    let options =
        { Train.defaultFitOptions cfg with
            BatchSize = args.GetResult(TrainArgs.Batch_Size, 16)
            Epochs = args.GetResult(TrainArgs.Epochs, cfg.NumEpochs)
            Seed = args.GetResult(TrainArgs.Seed, 0)
            ValidateEvery = args.GetResult(TrainArgs.Validate_Every, 1)
            CheckpointDirectory = Some out
        }

    printfn
        "Training on %s: %d windows of %d steps starting %d apart, %s; epochs %d → %d; output %s"
        dataPath
        (Array3D.length1 trainWindows)
        cfg.SequenceLength
        cfg.Overlap
        (match validWindows with
         | Some v -> $"{Array3D.length1 v} validation windows"
         | None -> "no validation")
        state.Epoch
        options.Epochs
        out

    use cts = new CancellationTokenSource()
    use _ = cancelOnCtrlC cts

    let res =
        Progress.run state.Epoch options.Epochs (fun report ->
            Train.fit
                cfg
                { options with
                    Progress = report
                    Cancellation = cts.Token
                }
                trainWindows
                validWindows
                state)

    let s = res.State
    let best = s.Best |> Option.map _.Params |> Option.defaultValue s.Params
    StateDict.save (Path.Combine(out, "model.json")) best

    let tl =
        validWindows
        |> Option.map (fun v -> Report.timeline (Evaluate.evaluateBatched cfg best options.BatchSize v))

    let index = Report.write out "TiDHy training" (summaryOf cfg s) s.History tl None
    printfn "Report: %s" index

    if res.Cancelled then
        printfn "Stopped at epoch %d, batch %d; checkpoint %s. Resume with --resume." s.Epoch s.Batch last
        130
    else
        printfn "Done: %d epochs; best parameters in %s." s.Epoch (Path.Combine(out, "model.json"))
        0
