namespace TiDHy.Functional

open System
open System.Diagnostics
open System.IO
open System.Security.Cryptography
open System.Threading

// The public surface of this file and its documentation: Train.fsi.
[<RequireQualifiedAccess>]
module Train =

    let initState (cfg: Config) (p: Params) : TrainState =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p

        {
            Params = p
            Optimizer = Optim.init p
            GradNorm = GradNorm.init cfg
            Epoch = 0
            Batch = 0
            Carry = None
            Running = EpochLosses.zero
            History = [||]
            Best = None
        }

    let init (cfg: Config) (key: Key) = initState cfg (Init.init cfg key)

    let groups (cfg: Config) (epoch: int) (steps: int) =
        let factor = Optim.learningRateFactor cfg epoch steps

        fun name ->
            let g = Optim.groupOf cfg name

            { g with
                LearningRate = g.LearningRate * factor
            }

    /// The task losses and unweighted task gradients of GradNorm (MODEL.md); the optional
    /// regularisers join every task, as upstream adds them to each task loss.
    let private tasks (cfg: Config) (terms: ObjectiveTerms) (core: Term) (optional: Term) =
        let sum (ts: Term list) =
            {
                Value = ts |> List.sumBy _.Value
                Grad = ts |> List.map _.Grad |> List.reduce ParamTree.add
            }

        [|
            yield sum [ terms.SpatialLossRHat; optional ]
            yield sum [ terms.SpatialLossRBar; optional ]
            yield sum [ terms.TempLoss; core; optional ]
            if cfg.UseR2Decoder then
                yield sum [ terms.R2Loss; optional ]
        |]

    let objective (cfg: Config) (state: TrainState) (X: float[,,]) : StepObjective =
        let cfg = Config.validateOrThrow cfg
        let p = state.Params
        let init = if cfg.Stateful then state.Carry else None
        let run = Objective.trajectory cfg p init X
        let traj, fwd = run.Trajectory, run.Forward
        let terms = FusedObjective.terms cfg p traj
        let coreRegs = Regularisers.core cfg p
        let core, cosReg, orthR2 = coreRegs.Term, coreRegs.CosReg, coreRegs.OrthR2
        let optional = Regularisers.optional cfg p

        let plain = [| yield! LossTerms.toList terms; core; optional |]

        let taskTerms =
            if cfg.GradNorm then
                Some(tasks cfg terms core optional)
            else
                None

        {
            Terms = terms
            CosReg = cosReg
            OrthR2 = orthR2
            Regularisers = optional.Value
            Total = plain |> Array.sumBy _.Value
            Tasks = taskTerms
            Gradient =
                match taskTerms with
                | Some ts -> ParamTree.linearCombination state.GradNorm.Weights (ts |> Array.map _.Grad)
                | None -> ParamTree.linearCombination (Array.create plain.Length 1.0) (plain |> Array.map _.Grad)
            Forward = fwd
        }

    let fingerprint (windows: float[,,]) : string =
        use sha = IncrementalHash.CreateHash HashAlgorithmName.SHA256

        for n in [ Array3D.length1 windows; Array3D.length2 windows; Array3D.length3 windows ] do
            sha.AppendData(BitConverter.GetBytes n)

        let buf = Array.zeroCreate<byte> 8

        for v in Seq.cast<float> windows do
            Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(), v)
            sha.AppendData buf

        Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant()

    let meanIterations (iterations: int[]) =
        if iterations.Length = 0 then
            0.0
        else
            Array.averageBy float iterations

    let maxIterShare (maxIter: int) (iterations: int[]) =
        if iterations.Length = 0 then
            0.0
        else
            float (iterations |> Array.filter (fun i -> i >= maxIter) |> Array.length)
            / float iterations.Length

    let internal stepGeneric (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        let cfg = Config.validateOrThrow cfg

        let o =
            TrainingDivergence.guardInference state.Epoch state.Batch "the training step" (fun () ->
                objective cfg state X)

        let gradNorm, gnStep =
            match o.Tasks with
            | Some ts ->
                let update =
                    GradNorm.update cfg state.GradNorm (ts |> Array.map _.Value) (ts |> Array.map _.Grad)

                update.State, Some update.Step
            | None -> state.GradNorm, None

        let clipped = Optim.clipGradNorm cfg.ClipGrad o.Gradient

        let stepped =
            Optim.adamW
                Optim.adamWDefaults
                (groups cfg state.Epoch state.Optimizer.Step)
                state.Optimizer
                state.Params
                clipped.Gradient

        // training_precision Float32: parameters and moments are stored as float32 values.
        let stored =
            match cfg.TrainingPrecision with
            | TrainingPrecision.Float32 -> ParamTree.map (fun x -> float (float32 x))
            | TrainingPrecision.Float64 -> id

        let next =
            { state with
                Params = stored (Init.normalize cfg stepped.Params)
                Optimizer =
                    { stepped.State with
                        ExpAvg = stored stepped.State.ExpAvg
                        ExpAvgSq = stored stepped.State.ExpAvgSq
                    }
                GradNorm = gradNorm
                Batch = state.Batch + 1
                Carry = if cfg.Stateful then Some o.Forward.Final else None
            }

        let diverged quantity value =
            raise (TrainingDivergedException(state.Epoch, state.Batch, quantity, value))

        if not (Double.IsFinite o.Total) then
            diverged "the loss" o.Total

        match Checkpoint.nonFinite next with
        | Some(quantity, value) -> diverged quantity value
        | None -> ()

        let iterations = o.Forward.Iterations

        next,
        {
            Losses = LossTerms.map _.Value o.Terms
            CosReg = o.CosReg
            OrthR2 = o.OrthR2
            Regularisers = o.Regularisers
            Total = o.Total
            GradNormBeforeClip = clipped.NormBeforeClip
            GradNorm = gnStep
            MeanIterations = meanIterations iterations
            MaxIterShare = maxIterShare cfg.MaxIter iterations
        }

    let step (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        let cfg = Config.validateOrThrow cfg

        if FusedObjective.supports cfg then
            FusedStep.step cfg state X
        else
            stepGeneric cfg state X

    let internal stepCancellable (cancel: CancellationToken) (cfg: Config) (state: TrainState) (X: float[,,]) =
        let cfg = Config.validateOrThrow cfg
        cancel.ThrowIfCancellationRequested()

        if FusedObjective.supports cfg then
            FusedStep.stepCancellable cancel cfg state X
        else
            stepGeneric cfg state X

    let defaultFitOptions (cfg: Config) : FitOptions =
        {
            BatchSize = 16
            Epochs = cfg.NumEpochs
            Seed = 0
            ValidateEvery = 1
            CheckpointDirectory = None
            Progress = ignore
            Cancellation = CancellationToken.None
        }

    let epochOrder (seed: int) (epoch: int) (n: int) =
        Random.permutation (Random.foldIn epoch (Random.key seed)) n

    let batches (cfg: Config) (batchSize: int) (seed: int) (epoch: int) (n: int) : int[][] =
        if batchSize <= 0 then
            invalidArg (nameof batchSize) $"batchSize: expected a positive batch size, got {batchSize}."

        if n <= 0 then
            invalidArg (nameof n) $"n: expected at least one window, got {n}."

        if cfg.Stateful then
            if n % batchSize <> 0 then
                invalidArg
                    (nameof n)
                    $"n: stateful training needs a window count that is a multiple of the batch size; got {n} windows for batches of {batchSize}."

            let length = n / batchSize
            Array.init length (fun k -> Array.init batchSize (fun i -> i * length + k))
        else
            epochOrder seed epoch n |> Array.chunkBySize batchSize

    let private gather (windows: float[,,]) (idx: int[]) =
        Array3D.init idx.Length (Array3D.length2 windows) (Array3D.length3 windows) (fun b t d -> windows[idx[b], t, d])

    let validationLoss (cfg: Config) (p: Params) (batchSize: int) (windows: float[,,]) =
        let n = Array3D.length1 windows

        let total =
            Array.init n id
            |> Array.chunkBySize (max 1 batchSize)
            |> Array.sumBy (fun idx ->
                let r = Forward.forward cfg p None (gather windows idx)

                float idx.Length * LossTerms.sum r.Losses)

        total / float n

    [<Literal>]
    let LastCheckpoint = "last.tidhy.json"

    [<Literal>]
    let BestCheckpoint = "best.tidhy.json"

    /// The core's training session: the state of `stepCancellable`'s last step, on the host.
    type private CoreSession(cfg: Config, state: TrainState, train: float[,,], validation: float[,,] option) =
        let mutable current = state

        interface ITrainingSession with
            member _.Step(epoch, batch, rows, cancel) =
                // A batch cancelled midway is dropped: the state stays where the batch began.
                try
                    let next, m =
                        stepCancellable
                            cancel
                            cfg
                            { current with
                                Epoch = epoch
                                Batch = batch
                            }
                            (gather train rows)

                    current <- next
                    Some m
                with :? OperationCanceledException when cancel.IsCancellationRequested ->
                    None

            member _.ValidationLoss batchSize =
                validationLoss cfg current.Params batchSize validation.Value

            member _.Snapshot s =
                { s with
                    Params = current.Params
                    Optimizer = current.Optimizer
                    GradNorm = current.GradNorm
                    Carry = current.Carry
                }

            member _.ResetCarry() =
                current <- { current with Carry = None }

            member _.Dispose() = ()

    let engine (backend: Backend) : Engine =
        let check (cfg: Config) =
            Config.validateOrThrow { cfg with Backend = backend }

        {
            Name =
                match backend with
                | Backend.Reference -> "Reference"
                | Backend.Fused -> "Fused"
                | Backend.FusedFloat32 -> "FusedFloat32"
            Check = check
            Decode = fun cfg -> Model.decode (check cfg)
            TemporalPrediction = fun cfg -> Model.temporalPrediction (check cfg)
            Infer = fun cfg -> Inference.infer (check cfg)
            InferFirstStep = fun cfg -> Inference.inferFirstStep (check cfg)
            Forward = fun cfg -> Forward.forward (check cfg)
            EvaluateRecord = fun cfg -> Evaluate.evaluateRecord (check cfg)
            Objective = fun cfg -> objective (check cfg)
            Step = fun cfg -> step (check cfg)
            ValidationLoss = fun cfg -> validationLoss (check cfg)
            Open =
                fun cfg state train validation ->
                    new CoreSession(check cfg, state, train, validation) :> ITrainingSession
        }

    let fitOn
        (engine: Engine)
        (cfg: Config)
        (options: FitOptions)
        (monitoring: Monitoring option)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        let cfg = engine.Check cfg
        Model.checkParams cfg state.Params
        let n, _ = Shape.checkWindow (nameof train) 2 cfg.InputDim train
        Shape.checkFinite (nameof train) (Seq.cast train)

        match validation with
        | Some v ->
            Shape.checkWindow (nameof validation) 2 cfg.InputDim v |> ignore
            Shape.checkFinite (nameof validation) (Seq.cast v)
        | None -> ()

        if options.Epochs < 0 then
            invalidArg (nameof options) $"options.Epochs: expected a count >= 0, got {options.Epochs}."

        if options.ValidateEvery < 0 then
            invalidArg (nameof options) $"options.ValidateEvery: expected a count >= 0, got {options.ValidateEvery}."

        Epochs.checkMonitoring monitoring

        if options.BatchSize > 0 then
            Config.checkMemory cfg (min n options.BatchSize) (Array3D.length2 train)

        options.CheckpointDirectory |> Option.iter (Directory.CreateDirectory >> ignore)

        let run =
            lazy
                {
                    BatchSize = options.BatchSize
                    Seed = options.Seed
                    TrainSha256 = fingerprint train
                    ValidationSha256 = validation |> Option.map fingerprint
                    StatesSha256 = monitoring |> Option.bind _.StatesSha256
                }

        let save name s =
            options.CheckpointDirectory
            |> Option.iter (fun dir -> Checkpoint.saveWith (Path.Combine(dir, name)) cfg (Some run.Value) s)

        use session = engine.Open cfg state train validation
        let clock = Stopwatch.StartNew()
        let mutable s = state
        let mutable cancelled = false
        let mutable epochStart = clock.Elapsed

        while not cancelled && s.Epoch < options.Epochs do
            let epoch = s.Epoch
            let bs = batches cfg options.BatchSize options.Seed epoch n

            if s.Batch >= bs.Length then
                invalidOp $"state: batch {s.Batch} of epoch {epoch}, but an epoch has {bs.Length} batches."

            let stepped =
                if options.Cancellation.IsCancellationRequested then
                    None
                else
                    session.Step(epoch, s.Batch, bs[s.Batch], options.Cancellation)

            match stepped with
            | None -> cancelled <- true
            | Some m ->
                s <-
                    { s with
                        Batch = s.Batch + 1
                        Running = Epochs.addLosses s.Running m
                    }

                let completed =
                    if s.Batch = bs.Length then
                        let last = epoch + 1 = options.Epochs

                        let validated =
                            Epochs.validateIfDue
                                options
                                epoch
                                bs.Length
                                last
                                (validation |> Option.map (fun _ () -> session.ValidationLoss options.BatchSize))

                        // The monitor measures the parameters on the host.
                        let host = session.Snapshot s
                        session.ResetCarry()

                        let record, next, improved =
                            Epochs.closeEpoch
                                cfg
                                monitoring
                                validation.IsSome
                                epoch
                                bs.Length
                                last
                                validated
                                (clock.Elapsed - epochStart).TotalSeconds
                                host

                        s <- next

                        save LastCheckpoint s

                        if improved then
                            save BestCheckpoint s

                        epochStart <- clock.Elapsed
                        Some record
                    else
                        None

                options.Progress
                    {
                        Epoch = epoch
                        Epochs = options.Epochs
                        Batch = (if completed.IsSome then bs.Length else s.Batch)
                        Batches = bs.Length
                        Metrics = m
                        Completed = completed
                        CompletedState = completed |> Option.map (fun _ -> s)
                        Elapsed = clock.Elapsed
                    }

        // Mid-epoch (cancelled, or resumed and stopped there) the session holds what the state lacks.
        let s = if s.Batch > 0 || cancelled then session.Snapshot s else s

        if cancelled then
            save LastCheckpoint s

        { State = s; Cancelled = cancelled }

    let fit
        (cfg: Config)
        (options: FitOptions)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        fitOn (engine cfg.Backend) cfg options None train validation state

    let fitMonitored
        (cfg: Config)
        (options: FitOptions)
        (monitoring: Monitoring)
        (train: float[,,])
        (validation: float[,,] option)
        (state: TrainState)
        : FitResult =
        fitOn (engine cfg.Backend) cfg options (Some monitoring) train validation state

    let consoleProgress (p: FitProgress) : unit =
        match p.Completed with
        | None -> ()
        | Some e ->
            let l = e.Train.Losses

            let validation =
                match e.Validation with
                | Some v -> $", validation %.4g{v}"
                | None -> ""

            printfn
                "epoch %d/%d: train %.4g (L_hat %.3g, L_bar %.3g, temp %.3g, r2 %.3g)%s, %.0f it/step, %.1f s"
                (e.Epoch + 1)
                p.Epochs
                e.Train.Total
                l.SpatialLossRHat
                l.SpatialLossRBar
                l.TempLoss
                l.R2Loss
                validation
                p.Metrics.MeanIterations
                e.Seconds
