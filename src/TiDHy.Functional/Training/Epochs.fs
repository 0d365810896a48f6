namespace TiDHy.Functional

open System

/// The end of an epoch in `Train.fitOn`, whatever the engine: the running losses, validation when
/// due, the monitor, the epoch's record and the best model.
[<RequireQualifiedAccess>]
module internal Epochs =

    let addLosses (a: EpochLosses) (m: StepMetrics) : EpochLosses =
        {
            Losses = LossTerms.map2 (+) a.Losses m.Losses
            Total = a.Total + m.Total
            MaxIterShare = a.MaxIterShare + m.MaxIterShare
        }

    let meanLosses (a: EpochLosses) (count: int) : EpochLosses =
        let c = float count

        {
            Losses = LossTerms.map (fun v -> v / c) a.Losses
            Total = a.Total / c
            MaxIterShare = a.MaxIterShare / c
        }

    /// Raises `ArgumentException` for a `monitoring` whose `Every` is below 1.
    let checkMonitoring (monitoring: Monitoring option) =
        match monitoring with
        | Some m when m.Every < 1 ->
            invalidArg (nameof monitoring) $"monitoring.Every: expected a count >= 1, got {m.Every}."
        | _ -> ()

    /// The validation loss of epoch `epoch` (`batches` batches; `last` when it is the fit's last)
    /// when `options.ValidateEvery` says it is due and the fit has validation data (`loss`). Raises `TrainingDivergedException` when it is not
    /// finite or its inference diverges.
    let validateIfDue
        (options: FitOptions)
        (epoch: int)
        (batches: int)
        (last: bool)
        (loss: (unit -> float) option)
        : float option =
        match loss with
        | Some f when options.ValidateEvery > 0 && ((epoch + 1) % options.ValidateEvery = 0 || last) ->
            let v =
                TrainingDivergence.guardInference epoch (batches - 1) "the validation loss" f

            if not (Double.IsFinite v) then
                raise (TrainingDivergedException(epoch, batches - 1, "the validation loss", v))

            Some v
        | _ -> None

    /// The end of epoch `epoch` of a fit under `cfg` (`batches` batches; `last` when it is the fit's
    /// last): runs `monitoring`'s
    /// `Measure` on the parameters of `s` (the state after the epoch's last batch) when due, builds
    /// the epoch's record from the mean of `s.Running` and the validation loss (`validated`, when
    /// validation ran; `hasValidation` when the fit has validation data), and compares its score
    /// with `s.Best` under the selection. Returns the record, the state at the start of the next
    /// epoch (the record in its history, the best model updated) and whether this epoch became the
    /// best. Raises as `fitMonitored` documents.
    let closeEpoch
        (cfg: Config)
        (monitoring: Monitoring option)
        (hasValidation: bool)
        (epoch: int)
        (batches: int)
        (last: bool)
        (validated: float option)
        (seconds: float)
        (s: TrainState)
        : EpochRecord * TrainState * bool =
        let parameters = s.Params
        let trainLosses = meanLosses s.Running s.Batch

        let criterion =
            match monitoring with
            | Some { Selection = HighestMetric name } -> name
            | _ -> BestModel.LossCriterion

        let measured =
            match monitoring with
            | Some m when (epoch + 1) % m.Every = 0 || last ->
                let metrics =
                    TrainingDivergence.guardInference epoch (batches - 1) "the monitor" (fun () -> m.Measure parameters)

                match metrics |> List.countBy fst |> List.tryFind (fun (_, c) -> c > 1) with
                | Some(name, _) ->
                    invalidArg (nameof monitoring) $"monitoring.Measure: the metric '{name}' appears twice."
                | None -> ()

                match metrics |> List.tryFind (snd >> Double.IsFinite >> not) with
                | Some(name, v) ->
                    raise (TrainingDivergedException(epoch, batches - 1, $"the monitor metric '{name}'", v))
                | None -> ()

                metrics
            | _ -> []

        let record =
            {
                Epoch = epoch
                Train = trainLosses
                Validation = validated
                LearningRateFactor = Optim.learningRateFactor cfg epoch (max 0 (s.Optimizer.Step - 1))
                Seconds = seconds
                Monitor = measured
            }

        let score =
            match monitoring with
            | Some { Selection = HighestMetric name } ->
                if measured.IsEmpty then
                    None
                else
                    match List.tryFind (fst >> (=) name) measured with
                    | Some(_, v) -> Some v
                    | None ->
                        let names = String.Join(", ", measured |> List.map fst)

                        invalidArg
                            (nameof monitoring)
                            $"monitoring.Selection: no monitor metric '{name}'; the monitor measures {names}."
            | _ ->
                match hasValidation, validated with
                | true, Some v -> Some v
                | true, None -> None
                | false, _ -> Some trainLosses.Total

        let better (sc: float) (b: BestModel) =
            if b.Criterion <> criterion then true
            elif criterion = BestModel.LossCriterion then sc < b.Score
            else sc > b.Score

        let improved =
            match score, s.Best with
            | Some sc, Some b -> Double.IsFinite sc && better sc b
            | Some sc, None -> Double.IsFinite sc
            | None, _ -> false

        let next =
            { s with
                Epoch = epoch + 1
                Batch = 0
                Carry = None
                Running = EpochLosses.zero
                History = Array.append s.History [| record |]
                Best =
                    if improved then
                        Some
                            {
                                Params = parameters
                                Epoch = epoch
                                Score = score.Value
                                Criterion = criterion
                            }
                    else
                        s.Best
            }

        record, next, improved
