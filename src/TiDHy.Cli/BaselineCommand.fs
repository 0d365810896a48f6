/// `tidhy baseline arhmm`: fits the autoregressive HMM baseline (`Arhmm`) to a series and reports
/// its log-likelihood per step, its timescales and, with true states, its state accuracy on held-out
/// blocks after Hungarian matching.
module TiDHy.Cli.BaselineCommand

open System
open System.IO
open System.Text.Json
open Argu
open TiDHy.Functional
open TiDHy.Cli.Args
open TiDHy.Cli.Inputs

type ArhmmArgs =
    | [<Mandatory>] Data of file: string
    | States of file: string
    | Train of file: string
    | K of int
    | Restarts of int
    | Iterations of int
    | Seed of int
    | Block_Length of int
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "series [time × features] to score: .csv, .npy, .npz or .h5 (file.h5:/path/to/dataset)."
            | States _ ->
                "true discrete states [time × systems] of --data (.csv, .npy or .npz): scores the states on held-out blocks."
            | Train _ -> "series to fit on (default: --data itself), with the same features."
            | K _ ->
                "discrete states, >= 1 (default with --states: the number of distinct joint states; else required)."
            | Restarts _ -> "EM restarts, >= 1; the best likelihood is kept (default 5)."
            | Iterations _ -> "most EM iterations per restart, >= 1 (default 100)."
            | Seed _ -> "seed of the restarts and of the block splits (default 0)."
            | Block_Length _ -> "length of the held-out blocks, >= 1 (default 100); 5 splits hold out 25% each."
            | Out _ -> "output folder for arhmm.json (the model and the scores)."

type BaselineArgs =
    | [<CliPrefix(CliPrefix.None)>] Arhmm of ParseResults<ArhmmArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Arhmm _ ->
                "an autoregressive HMM (K states, AR(1) Gaussian emissions, EM with restarts), Linderman's ssm ARHMM."

/// The splits of the held-out accuracy: 5 block splits holding out 25%.
[<Literal>]
let Splits = 5

[<Literal>]
let HeldOut = 0.25

/// The joint-state labels (`Decoding.stateLabels`) of a `--states` file of `steps` rows; errors name it.
let private labelsOf (path: string) (steps: int) =
    let states = loadStates path

    if Array2D.length2 states = 0 then
        fail $"{path}: no columns; --states needs one column per system, each step's discrete state (an integer >= 0)."

    if Array2D.length1 states <> steps then
        fail
            $"{path}: {Array2D.length1 states} rows, but --data has {steps} time steps; --states needs one row per step."

    for t in 0 .. Array2D.length1 states - 1 do
        for j in 0 .. Array2D.length2 states - 1 do
            let v = states[t, j]

            if not (v >= 0.0 && v = Math.Floor v && v < 2147483648.0) then
                fail $"{path}: row {t + 1}, column {j + 1} is {v}; states must be non-negative integers."

    Decoding.stateLabels (Array2D.map int states)

/// `f ()`, its `ArgumentException` as one error naming `what`.
let private naming (what: string) (f: unit -> 'a) =
    try
        f ()
    with :? ArgumentException as ex ->
        let suffix =
            if isNull ex.ParamName then
                ""
            else
                $" (Parameter '{ex.ParamName}')"

        fail $"{what}: {ex.Message.Replace(suffix, String.Empty)}"

let private jagged (a: float[,]) =
    Array.init (Array2D.length1 a) (fun i -> a[i, *])

/// The contents of arhmm.json.
let private summary (fit: ArhmmFit) (b: ArhmmBaseline) (options: ArhmmOptions) =
    let m = fit.Model

    dict
        [
            "states", box options.States
            "restarts", box options.Restarts
            "kept_restart", box fit.Restart
            "restart_log_likelihoods", box fit.RestartLogLikelihoods
            "iterations", box fit.Iterations
            "converged", box fit.Converged
            "train_log_likelihood", box fit.LogLikelihood
            "log_likelihood_per_step", box b.LogLikelihoodPerStep
            "timescales", box b.Timescales
            if b.Accuracies.Length > 0 then
                "accuracy_mean", box b.AccuracyMean
                "accuracy_std", box b.AccuracyStd
                "chance_mean", box b.ChanceMean
                "accuracies", box (b.Accuracies |> Array.map _.Accuracy)
            "viterbi_states", box b.States
            "model",
            box (
                dict
                    [
                        "initial", box m.Initial
                        "transition", box (jagged m.Transition)
                        "dynamics", box (m.Dynamics |> Array.map jagged)
                        "bias", box m.Bias
                        "covariance", box (m.Covariance |> Array.map jagged)
                        "initial_mean", box m.InitialMean
                        "initial_covariance", box (jagged m.InitialCovariance)
                    ]
            )
        ]

/// `tidhy baseline arhmm`; returns the exit code.
let runArhmm (args: ParseResults<ArhmmArgs>) =
    let restarts = args.GetResult(ArhmmArgs.Restarts, 5) |> positive "--restarts"

    let iterations =
        args.GetResult(ArhmmArgs.Iterations, 100) |> positive "--iterations"

    let blockLength =
        args.GetResult(ArhmmArgs.Block_Length, 100) |> positive "--block-length"

    let k = args.TryGetResult ArhmmArgs.K |> Option.map (positive "--k")
    let statesPath = args.TryGetResult ArhmmArgs.States

    if k.IsNone && statesPath.IsNone then
        usage "--k: required without --states (the number of discrete states)."

    let seed = args.GetResult(ArhmmArgs.Seed, 0)
    let dataPath = args.GetResult ArhmmArgs.Data
    let data = loadSeries dataPath
    let trainPath = args.GetResult(ArhmmArgs.Train, dataPath)
    let train = if trainPath = dataPath then data else loadSeries trainPath

    if Array2D.length2 train <> Array2D.length2 data then
        fail $"{trainPath}: {Array2D.length2 train} features, but --data {dataPath} has {Array2D.length2 data}."

    let steps = Array2D.length1 data
    let labels = statesPath |> Option.map (fun p -> labelsOf p steps)

    let k =
        match k, labels with
        | Some k, _ -> k
        | None, Some l -> Array.max l + 1
        | None, None -> 0 // refused above

    if labels.IsSome && blockLength > steps / 2 then
        usage $"--block-length: expected at most half the {steps} steps of --data, got {blockLength}."

    let options =
        { Arhmm.defaults with
            States = k
            Restarts = restarts
            Iterations = iterations
        }

    // --out checked (writable, no file in the way) before the fit, which can take minutes.
    args.TryGetResult ArhmmArgs.Out
    |> Option.iter (RunFolder.checkFolderTarget "--out")

    // On the training series' principal components (every axis of non-zero variance): channels
    // of lower rank than their count would make the covariances singular.
    let projection, fit =
        naming trainPath (fun () ->
            // The library's check (row and column named) before the projection reads the values.
            Shape.checkFiniteMatrix "x" train
            let projection = Measures.principalAxes (Array2D.length2 train) train
            projection, Arhmm.fit (Random.key seed) options (Measures.project projection train))

    let splits =
        match labels with
        | Some _ -> Decoding.blockSplits (Random.key seed) Splits steps blockLength HeldOut
        | None -> [||]

    let b =
        naming dataPath (fun () -> Arhmm.baseline 1.0 fit.Model (Measures.project projection data) labels splits None)

    printfn
        "ARHMM baseline: K = %d states fitted on %s (%d steps, %d features, on their %d principal components); %d restarts, kept restart %d (%d EM iterations, %s)."
        k
        trainPath
        (Array2D.length1 train)
        (Array2D.length2 train)
        (Array2D.length2 projection.Axes)
        restarts
        fit.Restart
        fit.Iterations
        (if fit.Converged then "converged" else "not converged")

    printfn "Log-likelihood per step on %s: %.6f" dataPath b.LogLikelihoodPerStep

    let tau =
        if b.Timescales.Length = 0 then
            "none (no stable mode)"
        else
            String.Join(
                ", ",
                b.Timescales
                |> Array.map (fun t -> t.ToString("G4", Globalization.CultureInfo.InvariantCulture))
            )

    printfn "Timescales (steps, stable modes of the A_k): %s" tau

    if b.Accuracies.Length > 0 then
        printfn
            "State accuracy on held-out %d-step blocks (%d splits, %.0f%% held out, states matched on the training blocks): %.3f ± %.3f (chance %.3f)"
            blockLength
            Splits
            (100.0 * HeldOut)
            b.AccuracyMean
            b.AccuracyStd
            b.ChanceMean

    match args.TryGetResult ArhmmArgs.Out with
    | Some out ->
        Directory.CreateDirectory out |> ignore
        let path = Path.Combine(out, "arhmm.json")

        let json =
            JsonSerializer.Serialize(summary fit b options, JsonSerializerOptions(WriteIndented = true))

        Report.writeAtomic path json
        printfn "Wrote %s" path
    | None -> ()

    0

/// `tidhy baseline`; returns the exit code.
let run (args: ParseResults<BaselineArgs>) =
    match args.GetSubCommand() with
    | BaselineArgs.Arhmm a -> runArhmm a
