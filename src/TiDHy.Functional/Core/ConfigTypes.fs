namespace TiDHy.Functional

open System

/// The elementwise observation loss `ℓ(pred, obs)` (upstream `loss_type`).
[<RequireQualifiedAccess>]
[<Doc("The elementwise observation loss `ℓ(pred, obs)` (upstream `loss_type`).")>]
type LossKind =
    /// Squared error `(pred − obs)²` (upstream "MSE").
    | [<Doc("Squared error `(pred − obs)²` (upstream \"MSE\").")>] MSE
    /// Binary cross-entropy, logs clamped at −100; the decoder ends in a sigmoid (upstream "BCE").
    | [<Doc("Binary cross-entropy, logs clamped at −100; the decoder ends in a sigmoid (upstream \"BCE\").")>] BCE
    /// Poisson negative log-likelihood `pred − obs·log pred` (upstream "Poisson").
    | [<Doc("Poisson negative log-likelihood `pred − obs·log pred` (upstream \"Poisson\").")>] Poisson

/// How inference scales the per-sample data terms of its loss.
[<RequireQualifiedAccess>]
[<Doc("How inference scales the per-sample data terms of its loss.")>]
type BatchScaling =
    /// Upstream: data terms are averaged over the batch, so each sample moves by `lr/B` times its
    /// gradient.
    | [<Doc("Upstream: data terms are averaged over the batch, so each sample moves by `lr/B` times its gradient.")>] BatchMean
    /// Each sample's own sum: a sample's step does not depend on the batch size (the newer JAX
    /// behaviour).
    | [<Doc("Each sample's own sum: a sample's step does not depend on the batch size (the newer JAX behaviour).")>] PerSample

/// When inference stops iterating.
[<RequireQualifiedAccess>]
[<Doc("When inference stops iterating.")>]
type Convergence =
    /// Upstream `batch_converge = true`: relative change of the whole batch (Frobenius norms) below
    /// `tol`.
    | [<Doc("Upstream `batch_converge = true`: relative change of the whole batch (Frobenius norms) below `tol`.")>] Batch
    /// Upstream `batch_converge = false`: every sample's relative change (row norms) below `tol`,
    /// one batch-wide stop.
    | [<Doc("Upstream `batch_converge = false`: every sample's relative change (row norms) below `tol`, one batch-wide stop.")>] AllSamples
    /// Each sample stops on its own and keeps its values while the others continue.
    | [<Doc("Each sample stops on its own and keeps its values while the others continue.")>] PerSample

/// A bounding function applied to `r` or `r2` after each inference step's shrinkage (upstream JAX's
/// `saturate_r_method`); JSON also accepts upstream's spellings "none", "sigmoid", "tanh",
/// "scaled_tanh".
[<RequireQualifiedAccess>]
[<Doc("A bounding function applied to `r` or `r2` after each inference step's shrinkage (upstream JAX's `saturate_r_method`); JSON also accepts upstream's spellings \"none\", \"sigmoid\", \"tanh\", \"scaled_tanh\".")>]
type Saturation =
    /// No saturation (upstream "none"; the default, as upstream PyTorch).
    | [<Doc("No saturation (upstream \"none\"; the default, as upstream PyTorch).")>] None
    /// `σ(v) = 1/(1 + e^(−v))`, values in (0, 1) (upstream "sigmoid").
    | [<Doc("`σ(v) = 1/(1 + e^(−v))`, values in (0, 1) (upstream \"sigmoid\").")>] Sigmoid
    /// `tanh(v)`, values in (−1, 1) (upstream "tanh").
    | [<Doc("`tanh(v)`, values in (−1, 1) (upstream \"tanh\").")>] Tanh
    /// `s·tanh(v/s)` with the option's scale `s`, values in (−s, s) (upstream "scaled_tanh").
    | [<Doc("`s·tanh(v/s)` with the option's scale `s`, values in (−s, s) (upstream \"scaled_tanh\").")>] ScaledTanh

/// Which implementation runs inference (and so training and evaluation); not an upstream setting.
/// It runs `Inference.infer`, `Inference.inferFirstStep`, and so `Forward` and `Evaluate`; JSON key
/// `backend`.
[<RequireQualifiedAccess>]
[<Doc("Which implementation runs inference (and so training and evaluation); not an upstream setting.")>]
type Backend =
    /// The F# reference path in float64: the definition that the fused kernels are tested against;
    /// slow.
    | [<Doc("The F# reference path in float64: the definition that the fused kernels are tested against; slow.")>] Reference
    /// Generated fused kernels (TiDHy.Kernels) in float64: equal to the reference to rounding (the
    /// default).
    | [<Doc("Generated fused kernels (TiDHy.Kernels) in float64: equal to the reference to rounding (the default).")>] Fused
    /// Generated fused kernels in float32: several times faster, results within about 1e-3 of
    /// float64.
    | [<Doc("Generated fused kernels in float32: several times faster, results within about 1e-3 of float64.")>] FusedFloat32

/// The precision of training's parameter gradients, parameters and AdamW moments; not an upstream
/// setting. JSON key `training_precision`.
[<RequireQualifiedAccess>]
[<Doc("The precision of training's parameter gradients, parameters and AdamW moments; not an upstream setting.")>]
type TrainingPrecision =
    /// float64 throughout (the default): the fused backward pass equals the F# definition to
    /// rounding.
    | [<Doc("float64 throughout (the default): the fused backward pass equals the F# definition to rounding.")>] Float64
    /// Parameters and AdamW moments rounded to float32 after every step, and with a fused backend
    /// the backward pass in float32 (backend Reference keeps the F# float64 gradients).
    | [<Doc("Parameters and AdamW moments rounded to float32 after every step, and with a fused backend the backward pass in float32 (backend Reference keeps the F# float64 gradients).")>] Float32

/// How the outer learning rates change during training (`Optim.learningRateFactor`). Not an
/// upstream key: upstream PyTorch always halves them (StepLR), upstream JAX decays them with optax's
/// `exponential_decay` when its `use_schedule` is set. JSON key `lr_schedule`.
[<RequireQualifiedAccess>]
[<Doc("How the outer learning rates change during training (`Optim.learningRateFactor`).")>]
type LearningRateSchedule =
    /// Halved every `num_epochs div 5` epochs (upstream PyTorch's StepLR; the default).
    | [<Doc("Halved every `num_epochs div 5` epochs (upstream PyTorch's StepLR; the default).")>] Halving
    /// Constant (upstream JAX with `use_schedule` false).
    | [<Doc("Constant (upstream JAX with `use_schedule` false).")>] Constant
    /// `schedule_decay^(n / schedule_transition_steps)` at the step that follows `n` optimizer steps,
    /// smoothly (upstream JAX's `use_schedule`: optax `exponential_decay` without staircase).
    | [<Doc("`schedule_decay^(n / schedule_transition_steps)` at the step that follows `n` optimizer steps, smoothly (upstream JAX's `use_schedule`: optax `exponential_decay` without staircase).")>] Exponential
    /// `schedule_decay^(n div schedule_transition_steps)` at the step that follows `n` optimizer
    /// steps: a drop every `schedule_transition_steps` steps (optax's `staircase = True`).
    | [<Doc("`schedule_decay^(n div schedule_transition_steps)` at the step that follows `n` optimizer steps: a drop every `schedule_transition_steps` steps (optax's `staircase = True`).")>] ExponentialStaircase

/// Every hyperparameter of MODEL.md, with upstream's SLDS defaults (`Config.defaults`). Each field's
/// `ConfigOption` declaration gives its upstream name, default, range and meaning, and is the only
/// place those are written (`ConfigOptions` reads them). Immutable: derive variants with `{ cfg with … }`.
type Config =
    {
        /// observation features `D`. JSON key `input_dim`.
        [<ConfigOption("input_dim",
                       Stage = OptionStage.Shape,
                       Required = true,
                       Min = 1.0,
                       Doc = "observation features `D`.")>]
        InputDim: int
        /// latent size `R`. JSON key `r_dim`.
        [<ConfigOption("r_dim", Stage = OptionStage.Shape, Default = "10", Min = 1.0, Doc = "latent size `R`.")>]
        RDim: int
        /// higher-order latent size `R2`. JSON key `r2_dim`.
        [<ConfigOption("r2_dim",
                       Stage = OptionStage.Shape,
                       Default = "5",
                       Min = 1.0,
                       Doc = "higher-order latent size `R2`.")>]
        R2Dim: int
        /// number of dynamics matrices `M`. JSON key `mix_dim`.
        [<ConfigOption("mix_dim",
                       Stage = OptionStage.Shape,
                       Default = "15",
                       Min = 1.0,
                       Doc = "number of dynamics matrices `M`.")>]
        MixDim: int
        /// hidden width `H` of the hypernetwork and of the nonlinear decoder. JSON key
        /// `hyper_hid_dim`.
        [<ConfigOption("hyper_hid_dim",
                       Stage = OptionStage.Shape,
                       Default = "50",
                       Min = 1.0,
                       Doc = "hidden width `H` of the hypernetwork and of the nonlinear decoder.")>]
        HyperHidDim: int
        /// hidden width `H2` of the r2 decoder. JSON key `r2_decoder_hid_dim`.
        [<ConfigOption("r2_decoder_hid_dim",
                       Stage = OptionStage.Shape,
                       Default = "50",
                       Min = 1.0,
                       Doc = "hidden width `H2` of the r2 decoder.")>]
        R2DecoderHidDim: int
        /// the observation loss. JSON key `loss_type`.
        [<ConfigOption("loss_type", Stage = OptionStage.Model, Default = "MSE", Doc = "the observation loss.")>]
        Loss: LossKind
        /// an MLP spatial decoder instead of a linear one. JSON key `nonlin_decoder`.
        [<ConfigOption("nonlin_decoder",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "an MLP spatial decoder instead of a linear one.")>]
        NonlinDecoder: bool
        /// low-rank dynamics matrices `V_k = U_k·U_kᵀ` with `U_k [R; 2]`. JSON key `low_rank_temp`.
        [<ConfigOption("low_rank_temp",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "low-rank dynamics matrices `V_k = U_k·U_kᵀ` with `U_k [R; 2]`.")>]
        LowRankTemp: bool
        /// a dynamic bias `b ⊙ c` added to the temporal prediction. JSON key `dyn_bias`.
        [<ConfigOption("dyn_bias",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "a dynamic bias `b ⊙ c` added to the temporal prediction.")>]
        DynBias: bool
        /// predict `r2_t` from `[r_{t−1}, r2_{t−1}]`. JSON key `use_r2_decoder`.
        [<ConfigOption("use_r2_decoder",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "predict `r2_t` from `[r_{t−1}, r2_{t−1}]`.")>]
        UseR2Decoder: bool
        /// inference iterations at most. JSON key `max_iter`.
        [<ConfigOption("max_iter",
                       Stage = OptionStage.Inference,
                       Default = "2000",
                       Min = 10.0,
                       Why = "the r step-size milestones are max_iter div 10",
                       Doc = "inference iterations at most.")>]
        MaxIter: int
        /// relative-change tolerance of inference. JSON key `tol`.
        [<ConfigOption("tol",
                       Stage = OptionStage.Inference,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "relative-change tolerance of inference.")>]
        Tol: float
        /// inference step size for `r`. JSON key `lr_r`.
        [<ConfigOption("lr_r",
                       Stage = OptionStage.Inference,
                       Default = "0.2",
                       Min = 0.0,
                       Doc = "inference step size for `r`.")>]
        LrR: float
        /// inference step size for `r2`. JSON key `lr_r2`.
        [<ConfigOption("lr_r2",
                       Stage = OptionStage.Inference,
                       Default = "0.2",
                       Min = 0.0,
                       Doc = "inference step size for `r2`.")>]
        LrR2: float
        /// weight of the temporal prediction error. JSON key `temp_weight`.
        [<ConfigOption("temp_weight",
                       Stage = OptionStage.Objective,
                       Default = "2",
                       Min = 0.0,
                       Doc = "weight of the temporal prediction error.")>]
        TempWeight: float
        /// soft threshold of `r` after each inference step. JSON key `lmda_r`.
        [<ConfigOption("lmda_r",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "soft threshold of `r` after each inference step.")>]
        LmdaR: float
        /// soft threshold of `r2` after each inference step. JSON key `lmda_r2`.
        [<ConfigOption("lmda_r2",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "soft threshold of `r2` after each inference step.")>]
        LmdaR2: float
        /// L1 weight on the mixture weights `w` during inference. JSON key `L1_inf_w`.
        [<ConfigOption("L1_inf_w",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the mixture weights `w` during inference.")>]
        L1InfW: float
        /// L1 weight on `r` during inference. JSON key `L1_inf_r`.
        [<ConfigOption("L1_inf_r",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `r` during inference.")>]
        L1InfR: float
        /// L1 weight on `r2` during inference. JSON key `L1_inf_r2`.
        [<ConfigOption("L1_inf_r2",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `r2` during inference.")>]
        L1InfR2: float
        /// how inference scales the data terms (not upstream; upstream's is `BatchMean`). JSON key
        /// `batch_scaling`.
        [<ConfigOption("batch_scaling",
                       Stage = OptionStage.Inference,
                       Default = "BatchMean",
                       Doc = "how inference scales the data terms (not upstream; upstream's is `BatchMean`).")>]
        BatchScaling: BatchScaling
        /// when inference stops (upstream `batch_converge`: true = `Batch`, false = `AllSamples`).
        /// JSON key `convergence`.
        [<ConfigOption("convergence",
                       Stage = OptionStage.Inference,
                       Default = "Batch",
                       Doc = "when inference stops (upstream `batch_converge`: true = `Batch`, false = `AllSamples`).")>]
        Convergence: Convergence
        /// which implementation runs inference (not upstream). JSON key `backend`.
        [<ConfigOption("backend",
                       Stage = OptionStage.Engine,
                       Default = "Fused",
                       Doc = "which implementation runs inference (not upstream).")>]
        Backend: Backend
        /// the precision of training's backward pass, parameters and AdamW moments (not upstream).
        /// JSON key `training_precision`.
        [<ConfigOption("training_precision",
                       Stage = OptionStage.Engine,
                       Default = "Float64",
                       Doc = "the precision of training's backward pass, parameters and AdamW moments (not upstream).")>]
        TrainingPrecision: TrainingPrecision
        /// consecutive windows start from the previous window's final `r, r2`
        /// (`Forward.forwardWindows`, `Evaluate.evaluateWindows`). JSON key `stateful`.
        [<ConfigOption("stateful",
                       Stage = OptionStage.Run,
                       Default = "false",
                       Doc =
                           "consecutive windows start from the previous window's final `r, r2` (`Forward.forwardWindows`, `Evaluate.evaluateWindows`).")>]
        Stateful: bool
        /// unit-norm columns of `spatial_decoder.0.weight`. JSON key `normalize_spatial`.
        [<ConfigOption("normalize_spatial",
                       Stage = OptionStage.Optimiser,
                       Default = "false",
                       Doc = "unit-norm columns of `spatial_decoder.0.weight`.")>]
        NormalizeSpatial: bool
        /// unit-norm rows of `temporal`. JSON key `normalize_temporal`.
        [<ConfigOption("normalize_temporal",
                       Stage = OptionStage.Optimiser,
                       Default = "false",
                       Doc = "unit-norm rows of `temporal`.")>]
        NormalizeTemporal: bool
        /// AdamW rate of the spatial decoder. JSON key `learning_rate_s`.
        [<ConfigOption("learning_rate_s",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "AdamW rate of the spatial decoder.")>]
        LearningRateS: float
        /// AdamW rate of the temporal matrices and bias. JSON key `learning_rate_t`.
        [<ConfigOption("learning_rate_t",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "AdamW rate of the temporal matrices and bias.")>]
        LearningRateT: float
        /// AdamW rate of the hypernetwork and the r2 decoder. JSON key `learning_rate_h`.
        [<ConfigOption("learning_rate_h",
                       Stage = OptionStage.Optimiser,
                       Default = "0.001",
                       Min = 0.0,
                       Doc = "AdamW rate of the hypernetwork and the r2 decoder.")>]
        LearningRateH: float
        /// how the outer learning rates change during training (not upstream; `Halving` is upstream
        /// PyTorch's StepLR, `Exponential` upstream JAX's). JSON key `lr_schedule`.
        [<ConfigOption("lr_schedule",
                       Stage = OptionStage.Optimiser,
                       Default = "Halving",
                       Doc =
                           "how the outer learning rates change during training (not upstream; `Halving` is upstream PyTorch's StepLR, `Exponential` upstream JAX's).")>]
        LearningRateSchedule: LearningRateSchedule
        /// optimizer steps per factor `schedule_decay` of the `Exponential` schedules. JSON key
        /// `schedule_transition_steps`.
        [<ConfigOption("schedule_transition_steps",
                       Stage = OptionStage.Optimiser,
                       Default = "100",
                       Min = 1.0,
                       Doc = "optimizer steps per factor `schedule_decay` of the `Exponential` schedules.")>]
        ScheduleTransitionSteps: int
        /// the factor of the learning rates per `schedule_transition_steps` optimizer steps of the
        /// `Exponential` schedules. JSON key `schedule_decay`.
        [<ConfigOption("schedule_decay",
                       Stage = OptionStage.Optimiser,
                       Default = "0.96",
                       Min = 0.0,
                       MinExclusive = true,
                       Max = 1.0,
                       Doc =
                           "the factor of the learning rates per `schedule_transition_steps` optimizer steps of the `Exponential` schedules.")>]
        ScheduleDecay: float
        /// AdamW weight decay. JSON key `weight_decay`.
        [<ConfigOption("weight_decay",
                       Stage = OptionStage.Optimiser,
                       Default = "1e-5",
                       Min = 0.0,
                       Doc = "AdamW weight decay.")>]
        WeightDecay: float
        /// global gradient-norm clip. JSON key `clip_grad`.
        [<ConfigOption("clip_grad",
                       Stage = OptionStage.Optimiser,
                       Default = "500",
                       Min = 0.0,
                       MinExclusive = true,
                       Doc = "global gradient-norm clip.")>]
        ClipGrad: float
        /// weight of the cosine regulariser of the temporal matrices. JSON key `cos_eta`.
        [<ConfigOption("cos_eta",
                       Stage = OptionStage.Regulariser,
                       Default = "5",
                       Min = 0.0,
                       Doc = "weight of the cosine regulariser of the temporal matrices.")>]
        CosEta: float
        /// weight of the orthogonality regulariser of the hypernetwork input. JSON key
        /// `Orth_alpha_r2`.
        [<ConfigOption("Orth_alpha_r2",
                       Stage = OptionStage.Regulariser,
                       Default = "5",
                       Min = 0.0,
                       Doc = "weight of the orthogonality regulariser of the hypernetwork input.")>]
        OrthAlphaR2: float
        /// GradNorm task balancing. JSON key `grad_norm`.
        [<ConfigOption("grad_norm", Stage = OptionStage.Optimiser, Default = "true", Doc = "GradNorm task balancing.")>]
        GradNorm: bool
        /// GradNorm's restoring-force exponent. JSON key `grad_alpha`.
        [<ConfigOption("grad_alpha",
                       Stage = OptionStage.Optimiser,
                       Default = "0.5",
                       Min = 0.0,
                       Doc = "GradNorm's restoring-force exponent.")>]
        GradAlpha: float
        /// GradNorm's task-weight learning rate. JSON key `lr_weights`.
        [<ConfigOption("lr_weights",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "GradNorm's task-weight learning rate.")>]
        LrWeights: float
        /// L1 weight on the temporal matrices. JSON key `L1_alpha`.
        [<ConfigOption("L1_alpha",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the temporal matrices.")>]
        L1Alpha: float
        /// L1 weight on `hypernet.4.weight`. JSON key `L1_alpha_W`.
        [<ConfigOption("L1_alpha_W",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `hypernet.4.weight`.")>]
        L1AlphaW: float
        /// L1 weight on the rows of `spatial_decoder.0.weight`. JSON key `L1_alpha_spat`.
        [<ConfigOption("L1_alpha_spat",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the rows of `spatial_decoder.0.weight`.")>]
        L1AlphaSpat: float
        /// orthogonality weight on `spatial_decoder.0.weight`. JSON key `Orth_alpha_spat`.
        [<ConfigOption("Orth_alpha_spat",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "orthogonality weight on `spatial_decoder.0.weight`.")>]
        OrthAlphaSpat: float
        /// nuclear-norm weight on the `V_k`. JSON key `Lnuc_alpha`.
        [<ConfigOption("Lnuc_alpha",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "nuclear-norm weight on the `V_k`.")>]
        LnucAlpha: float
        /// time steps per training window. JSON key `sequence_length`.
        [<ConfigOption("sequence_length",
                       Stage = OptionStage.Run,
                       Default = "200",
                       Min = 1.0,
                       Doc = "time steps per training window.")>]
        SequenceLength: int
        /// upstream's name for the step between the starts of consecutive training windows (upstream
        /// `stack_data` advances by it), so windows share `sequence_length − overlap` steps; `overlap =
        /// sequence_length` gives non-overlapping windows. A stride: training's windows are
        /// `Series.windowsStrided sequence_length overlap`, not `Series.windows`, whose second argument
        /// counts shared steps. JSON key `overlap`.
        [<ConfigOption("overlap",
                       Stage = OptionStage.Run,
                       Default = "20",
                       Min = 1.0,
                       MaxKey = "sequence_length",
                       Why = "the step between window starts",
                       Doc =
                           "upstream's name for the step between the starts of consecutive training windows (upstream `stack_data` advances by it), so windows share `sequence_length − overlap` steps; `overlap = sequence_length` gives non-overlapping windows. A stride: training's windows are `Series.windowsStrided sequence_length overlap`, not `Series.windows`, whose second argument counts shared steps.")>]
        Overlap: int
        /// training epochs. JSON key `num_epochs`.
        [<ConfigOption("num_epochs", Stage = OptionStage.Run, Default = "1000", Min = 1.0, Doc = "training epochs.")>]
        NumEpochs: int
        /// weight of upstream JAX's SAFE sparsity of the mixture weights `w`
        /// (`Regularisers.safeRow`), averaged over every sample and inference step that has a `w`
        /// (not the first step of a window without a carry, whose zero row upstream JAX includes)
        /// and added to the temporal term (training only). JSON key `sparsity_w_safe`.
        [<ConfigOption("sparsity_w_safe",
                       Stage = OptionStage.Objective,
                       Default = "0",
                       Min = 0.0,
                       Doc =
                           "weight of upstream JAX's SAFE sparsity of the mixture weights `w` (`Regularisers.safeRow`), averaged over every sample and inference step that has a `w` (not the first step of a window without a carry, whose zero row upstream JAX includes) and added to the temporal term (training only).")>]
        SparsityWSafe: float
        /// SAFE's `ρ`: the sorted mixture probabilities past the first `ρ·M` are penalised (weight
        /// `σ(2(i − ρM))` at rank `i`). JSON key `w_min_active_ratio`.
        [<ConfigOption("w_min_active_ratio",
                       Stage = OptionStage.Objective,
                       Default = "0.25",
                       Min = 0.0,
                       Max = 1.0,
                       Doc =
                           "SAFE's `ρ`: the sorted mixture probabilities past the first `ρ·M` are penalised (weight `σ(2(i − ρM))` at rank `i`).")>]
        WMinActiveRatio: float
        /// saturation of `r` after each inference step's shrinkage (in `inf` and `inf_first_step`).
        /// JSON key `saturate_r_method`.
        [<ConfigOption("saturate_r_method",
                       Stage = OptionStage.Inference,
                       Default = "None",
                       Doc = "saturation of `r` after each inference step's shrinkage (in `inf` and `inf_first_step`).")>]
        SaturateR: Saturation
        /// saturation of `r2` after each inference step's shrinkage. JSON key `saturate_r2_method`.
        [<ConfigOption("saturate_r2_method",
                       Stage = OptionStage.Inference,
                       Default = "None",
                       Doc = "saturation of `r2` after each inference step's shrinkage.")>]
        SaturateR2: Saturation
        /// the scale `s` of `ScaledTanh` saturation of `r`. JSON key `saturate_r_scale`.
        [<ConfigOption("saturate_r_scale",
                       Stage = OptionStage.Inference,
                       Default = "5",
                       Min = 0.0,
                       MinExclusive = true,
                       Doc = "the scale `s` of `ScaledTanh` saturation of `r`.")>]
        SaturateRScale: float
        /// the scale `s` of `ScaledTanh` saturation of `r2`. JSON key `saturate_r2_scale`.
        [<ConfigOption("saturate_r2_scale",
                       Stage = OptionStage.Inference,
                       Default = "3",
                       Min = 0.0,
                       MinExclusive = true,
                       Doc = "the scale `s` of `ScaledTanh` saturation of `r2`.")>]
        SaturateR2Scale: float
    }

/// One reason a configuration is impossible: the field (upstream name), its value and why.
type ConfigError =
    {
        /// The field's upstream name, e.g. `max_iter`.
        Field: string
        /// The offending value as text, e.g. `5` or `NaN`.
        Value: string
        /// Why it is rejected.
        Reason: string
    }

    override e.ToString() = $"{e.Field} = {e.Value}: {e.Reason}"

/// Raised by `Config.validateOrThrow` with every problem found.
exception InvalidConfigException of errors: ConfigError list with
    override e.Message =
        "Invalid TiDHy configuration: " + String.Join("; ", e.errors |> List.map string)
