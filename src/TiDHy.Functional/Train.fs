namespace TiDHy.Functional

open System
open System.Diagnostics
open System.Threading

/// What one training step measured.
type StepMetrics =
    {
        /// `L_hat`.
        SpatialLossRHat: float
        /// `L_bar`.
        SpatialLossRBar: float
        /// `temp_weight·L_temp`.
        TempLoss: float
        /// `L_r2` (0 without the r2 decoder).
        R2Loss: float
        /// `cos_reg` (unweighted).
        CosReg: float
        /// `orth_r2` (unweighted).
        OrthR2: float
        /// The optional regularisers, weighted and summed (0 when all are off).
        Regularisers: float
        /// `L_hat + L_bar + temp_weight·L_temp + L_r2 + cos_eta·cos_reg + Orth_alpha_r2·orth_r2`
        /// + the optional regularisers: the plain loss, whatever the GradNorm weights.
        Total: float
        /// The global gradient norm before clipping.
        GradNormBeforeClip: float
        /// The GradNorm update of this step (`None` without `grad_norm`).
        GradNorm: GradNormStep option
        /// Mean inference iterations per inference step of the window.
        MeanIterations: float
    }

/// The mean training losses of one epoch (batch metrics averaged over its batches).
type EpochLosses =
    {
        /// `L_hat`.
        SpatialLossRHat: float
        /// `L_bar`.
        SpatialLossRBar: float
        /// `temp_weight·L_temp`.
        TempLoss: float
        /// `L_r2`.
        R2Loss: float
        /// The plain total loss (`StepMetrics.Total`).
        Total: float
    }

/// One epoch of the metrics history.
type EpochRecord =
    {
        /// The epoch, from 0.
        Epoch: int
        /// Mean training losses over the epoch's batches.
        Train: EpochLosses
        /// The validation objective `L_hat + L_bar + temp_weight·L_temp + L_r2`, per window averaged
        /// over the validation windows, when validation ran in this epoch.
        Validation: float option
        /// The outer learning-rate factor of the epoch schedule.
        LearningRateFactor: float
        /// Wall-clock seconds of the epoch (validation included).
        Seconds: float
    }

/// The best parameters seen by `Train.fit`.
type BestModel =
    {
        /// The parameters at the end of `Epoch`.
        Params: Params
        /// The epoch they are from.
        Epoch: int
        /// The score that made them best: the validation objective, or the epoch's mean training
        /// total when there is no validation data.
        Score: float
    }

/// Everything training carries from step to step; a checkpoint stores it whole.
type TrainState =
    {
        /// The model parameters.
        Params: Params
        /// The outer AdamW state.
        Optimizer: AdamWState
        /// GradNorm's task weights and first losses (unused without `grad_norm`).
        GradNorm: GradNormState
        /// Completed epochs.
        Epoch: int
        /// Completed batches of the current epoch.
        Batch: int
        /// The latent state after the last batch, passed to the next batch in stateful mode.
        Carry: Carry option
        /// One record per completed epoch.
        History: EpochRecord[]
        /// The best parameters so far.
        Best: BestModel option
    }

/// The objective of one training batch and the gradient a step follows (`Train.objective`).
type StepObjective =
    {
        /// The objective's four terms with their gradients.
        Terms: ObjectiveTerms
        /// `cos_reg` (unweighted).
        CosReg: float
        /// `orth_r2` (unweighted).
        OrthR2: float
        /// The optional regularisers, weighted and summed.
        Regularisers: float
        /// The plain total loss (`StepMetrics.Total`).
        Total: float
        /// GradNorm's task losses with their unweighted gradients (`None` without `grad_norm`).
        Tasks: Term[] option
        /// The network gradient before clipping, shaped like the parameters.
        Gradient: Params
        /// The forward pass (inference included) over the window.
        Forward: ForwardResult
    }

/// Progress of `Train.fit`, reported after every batch.
type FitProgress =
    {
        /// The current epoch, from 0.
        Epoch: int
        /// The epoch at which the fit ends (exclusive).
        Epochs: int
        /// Batches done in this epoch.
        Batch: int
        /// Batches per epoch.
        Batches: int
        /// The metrics of the batch just done.
        Metrics: StepMetrics
        /// The epoch just completed, on the last batch of an epoch.
        Completed: EpochRecord option
        /// Time since the fit started.
        Elapsed: TimeSpan
    }

/// Options of `Train.fit` (hyperparameters of the model itself live in `Config`).
type FitOptions =
    {
        /// Windows per batch (the last batch of an epoch may be smaller unless stateful).
        BatchSize: int
        /// Train until this many epochs are complete (counting those already in the state).
        Epochs: int
        /// Seed of the per-epoch shuffle of the windows.
        Seed: int
        /// Validate every this many epochs (and after the last); 0 never.
        ValidateEvery: int
        /// A folder for `last.tidhy.json` (after every epoch and on cancellation) and
        /// `best.tidhy.json` (when the best model improves); `None` writes nothing.
        CheckpointDirectory: string option
        /// Called after every batch.
        Progress: FitProgress -> unit
        /// Checked before every batch: a cancelled fit stops after the batch in progress.
        Cancellation: CancellationToken
    }

/// The result of `Train.fit`.
type FitResult =
    {
        /// The state at the end (or where the fit was cancelled): resume by passing it back.
        State: TrainState
        /// True when the fit stopped because of the cancellation token.
        Cancelled: bool
    }

/// The outer optimisation of MODEL.md ("One outer training step", GradNorm) as a pure step, and the
/// epoch loop over windows.
[<RequireQualifiedAccess>]
module Train =

    /// A fresh training state: parameters `p`, a fresh AdamW, GradNorm weights 1, epoch 0.
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
            History = [||]
            Best = None
        }

    /// `initState cfg (Init.init cfg key)`.
    let init (cfg: Config) (key: Key) = initState cfg (Init.init cfg key)

    /// The parameter group of each leaf, with the learning rate scaled for `epoch` (`Optim.scheduleFactor`).
    let groups (cfg: Config) (epoch: int) =
        let factor = Optim.scheduleFactor cfg epoch

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

    /// The objective of one batch and the network gradient that a training step follows, before
    /// clipping: `Σ` of every term's gradient, or `Σ a_i·∂L_i/∂θ` with `grad_norm` (`a` the
    /// current GradNorm weights). In stateful mode the window starts from `state.Carry`.
    /// `X [batch; T; D]`.
    let objective (cfg: Config) (state: TrainState) (X: float[,,]) : StepObjective =
        let cfg = Config.validateOrThrow cfg
        let p = state.Params
        let init = if cfg.Stateful then state.Carry else None
        let traj, fwd = Objective.trajectory cfg p init X
        let terms = Objective.terms cfg p traj
        let core, cosReg, orthR2 = Regularisers.core cfg p
        let optional = Regularisers.optional cfg p

        let plain =
            [|
                terms.SpatialLossRHat
                terms.SpatialLossRBar
                terms.TempLoss
                terms.R2Loss
                core
                optional
            |]

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

    /// One outer training step on a batch of windows `X [batch; T; D]`: inference over the window,
    /// the objective's gradients (`objective`), clipping, one AdamW step (rates of epoch
    /// `state.Epoch`), GradNorm's update with `grad_norm`, and upstream's normalisations. Pure:
    /// returns the new state (with `Batch` advanced) and the step's metrics.
    let step (cfg: Config) (state: TrainState) (X: float[,,]) : TrainState * StepMetrics =
        let cfg = Config.validateOrThrow cfg
        let o = objective cfg state X

        let gradNorm, gnStep =
            match o.Tasks with
            | Some ts ->
                let gn, record =
                    GradNorm.update cfg state.GradNorm (ts |> Array.map _.Value) (ts |> Array.map _.Grad)

                gn, Some record
            | None -> state.GradNorm, None

        let clipped, normBefore = Optim.clipGradNorm cfg.ClipGrad o.Gradient

        let p', opt =
            Optim.adamW Optim.adamWDefaults (groups cfg state.Epoch) state.Optimizer state.Params clipped

        { state with
            Params = Init.normalize cfg p'
            Optimizer = opt
            GradNorm = gradNorm
            Batch = state.Batch + 1
            Carry = if cfg.Stateful then Some o.Forward.Final else None
        },
        {
            SpatialLossRHat = o.Terms.SpatialLossRHat.Value
            SpatialLossRBar = o.Terms.SpatialLossRBar.Value
            TempLoss = o.Terms.TempLoss.Value
            R2Loss = o.Terms.R2Loss.Value
            CosReg = o.CosReg
            OrthR2 = o.OrthR2
            Regularisers = o.Regularisers
            Total = o.Total
            GradNormBeforeClip = normBefore
            GradNorm = gnStep
            MeanIterations =
                if o.Forward.Iterations.Length = 0 then
                    0.0
                else
                    Array.averageBy float o.Forward.Iterations
        }
