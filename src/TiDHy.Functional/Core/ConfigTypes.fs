namespace TiDHy.Functional

open System

[<RequireQualifiedAccess>]
[<Doc("The elementwise observation loss `ℓ(pred, obs)` (upstream `loss_type`).")>]
type LossKind =
    | [<Doc("Squared error `(pred − obs)²` (upstream \"MSE\").")>] MSE
    | [<Doc("Binary cross-entropy, logs clamped at −100; the decoder ends in a sigmoid (upstream \"BCE\").")>] BCE
    | [<Doc("Poisson negative log-likelihood `pred − obs·log pred` (upstream \"Poisson\").")>] Poisson

[<RequireQualifiedAccess>]
[<Doc("How inference scales the per-sample data terms of its loss.")>]
type BatchScaling =
    | [<Doc("Upstream: data terms are averaged over the batch, so each sample moves by `lr/B` times its gradient.")>] BatchMean
    | [<Doc("Each sample's own sum: a sample's step does not depend on the batch size (the newer JAX behaviour).")>] PerSample

[<RequireQualifiedAccess>]
[<Doc("When inference stops iterating.")>]
type Convergence =
    | [<Doc("Upstream `batch_converge = true`: relative change of the whole batch (Frobenius norms) below `tol`.")>] Batch
    | [<Doc("Upstream `batch_converge = false`: every sample's relative change (row norms) below `tol`, one batch-wide stop.")>] AllSamples
    | [<Doc("Each sample stops on its own and keeps its values while the others continue.")>] PerSample

[<RequireQualifiedAccess>]
[<Doc("A bounding function applied to `r` or `r2` after each inference step's shrinkage (upstream JAX's `saturate_r_method`); JSON also accepts upstream's spellings \"none\", \"sigmoid\", \"tanh\", \"scaled_tanh\".")>]
type Saturation =
    | [<Doc("No saturation (upstream \"none\"; the default, as upstream PyTorch).")>] None
    | [<Doc("`σ(v) = 1/(1 + e^(−v))`, values in (0, 1) (upstream \"sigmoid\").")>] Sigmoid
    | [<Doc("`tanh(v)`, values in (−1, 1) (upstream \"tanh\").")>] Tanh
    | [<Doc("`s·tanh(v/s)` with the option's scale `s`, values in (−s, s) (upstream \"scaled_tanh\").")>] ScaledTanh

/// Which implementation runs inference (`Inference.infer`, `Inference.inferFirstStep`, and so
/// `Forward` and `Evaluate`). Not an upstream setting; JSON key `backend`.
[<RequireQualifiedAccess>]
[<Doc("Which implementation runs inference (and so training and evaluation); not an upstream setting.")>]
type Backend =
    | [<Doc("The F# reference path in float64: the definition that the fused kernels are tested against; slow.")>] Reference
    | [<Doc("Generated fused kernels (TiDHy.Kernels) in float64: equal to the reference to rounding (the default).")>] Fused
    | [<Doc("Generated fused kernels in float32: several times faster, results within about 1e-3 of float64.")>] FusedFloat32

/// The precision of training's backward pass and optimiser state. Not an upstream setting; JSON key
/// `training_precision`.
[<RequireQualifiedAccess>]
[<Doc("The precision of training's parameter gradients, parameters and AdamW moments; not an upstream setting.")>]
type TrainingPrecision =
    | [<Doc("float64 throughout (the default): the fused backward pass equals the F# definition to rounding.")>] Float64
    | [<Doc("Parameters and AdamW moments rounded to float32 after every step, and with a fused backend the backward pass in float32 (backend Reference keeps the F# float64 gradients).")>] Float32

/// Every hyperparameter of MODEL.md, with upstream's SLDS defaults (`Config.defaults`). Each field's
/// `ConfigOption` declaration gives its upstream name, default, range and meaning, and is the only
/// place those are written (`ConfigOptions` reads them). Immutable: derive variants with `{ cfg with … }`.
type Config =
    {
        [<ConfigOption("input_dim",
                       Stage = OptionStage.Shape,
                       Required = true,
                       Min = 1.0,
                       Doc = "observation features `D`.")>]
        InputDim: int
        [<ConfigOption("r_dim", Stage = OptionStage.Shape, Default = "10", Min = 1.0, Doc = "latent size `R`.")>]
        RDim: int
        [<ConfigOption("r2_dim",
                       Stage = OptionStage.Shape,
                       Default = "5",
                       Min = 1.0,
                       Doc = "higher-order latent size `R2`.")>]
        R2Dim: int
        [<ConfigOption("mix_dim",
                       Stage = OptionStage.Shape,
                       Default = "15",
                       Min = 1.0,
                       Doc = "number of dynamics matrices `M`.")>]
        MixDim: int
        [<ConfigOption("hyper_hid_dim",
                       Stage = OptionStage.Shape,
                       Default = "50",
                       Min = 1.0,
                       Doc = "hidden width `H` of the hypernetwork and of the nonlinear decoder.")>]
        HyperHidDim: int
        [<ConfigOption("r2_decoder_hid_dim",
                       Stage = OptionStage.Shape,
                       Default = "50",
                       Min = 1.0,
                       Doc = "hidden width `H2` of the r2 decoder.")>]
        R2DecoderHidDim: int
        [<ConfigOption("loss_type", Stage = OptionStage.Model, Default = "MSE", Doc = "the observation loss.")>]
        Loss: LossKind
        [<ConfigOption("nonlin_decoder",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "an MLP spatial decoder instead of a linear one.")>]
        NonlinDecoder: bool
        [<ConfigOption("low_rank_temp",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "low-rank dynamics matrices `V_k = U_k·U_kᵀ` with `U_k [R; 2]`.")>]
        LowRankTemp: bool
        [<ConfigOption("dyn_bias",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "a dynamic bias `b ⊙ c` added to the temporal prediction.")>]
        DynBias: bool
        [<ConfigOption("use_r2_decoder",
                       Stage = OptionStage.Model,
                       Default = "false",
                       Doc = "predict `r2_t` from `[r_{t−1}, r2_{t−1}]`.")>]
        UseR2Decoder: bool
        [<ConfigOption("max_iter",
                       Stage = OptionStage.Inference,
                       Default = "2000",
                       Min = 10.0,
                       Why = "the r step-size milestones are max_iter div 10",
                       Doc = "inference iterations at most.")>]
        MaxIter: int
        [<ConfigOption("tol",
                       Stage = OptionStage.Inference,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "relative-change tolerance of inference.")>]
        Tol: float
        [<ConfigOption("lr_r",
                       Stage = OptionStage.Inference,
                       Default = "0.2",
                       Min = 0.0,
                       Doc = "inference step size for `r`.")>]
        LrR: float
        [<ConfigOption("lr_r2",
                       Stage = OptionStage.Inference,
                       Default = "0.2",
                       Min = 0.0,
                       Doc = "inference step size for `r2`.")>]
        LrR2: float
        [<ConfigOption("temp_weight",
                       Stage = OptionStage.Objective,
                       Default = "2",
                       Min = 0.0,
                       Doc = "weight of the temporal prediction error.")>]
        TempWeight: float
        [<ConfigOption("lmda_r",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "soft threshold of `r` after each inference step.")>]
        LmdaR: float
        [<ConfigOption("lmda_r2",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "soft threshold of `r2` after each inference step.")>]
        LmdaR2: float
        [<ConfigOption("L1_inf_w",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the mixture weights `w` during inference.")>]
        L1InfW: float
        [<ConfigOption("L1_inf_r",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `r` during inference.")>]
        L1InfR: float
        [<ConfigOption("L1_inf_r2",
                       Stage = OptionStage.Inference,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `r2` during inference.")>]
        L1InfR2: float
        [<ConfigOption("batch_scaling",
                       Stage = OptionStage.Inference,
                       Default = "BatchMean",
                       Doc = "how inference scales the data terms (not upstream; upstream's is `BatchMean`).")>]
        BatchScaling: BatchScaling
        [<ConfigOption("convergence",
                       Stage = OptionStage.Inference,
                       Default = "Batch",
                       Doc = "when inference stops (upstream `batch_converge`: true = `Batch`, false = `AllSamples`).")>]
        Convergence: Convergence
        [<ConfigOption("backend",
                       Stage = OptionStage.Engine,
                       Default = "Fused",
                       Doc = "which implementation runs inference (not upstream).")>]
        Backend: Backend
        [<ConfigOption("training_precision",
                       Stage = OptionStage.Engine,
                       Default = "Float64",
                       Doc = "the precision of training's backward pass, parameters and AdamW moments (not upstream).")>]
        TrainingPrecision: TrainingPrecision
        [<ConfigOption("stateful",
                       Stage = OptionStage.Run,
                       Default = "false",
                       Doc =
                           "consecutive windows start from the previous window's final `r, r2` (`Forward.forwardWindows`, `Evaluate.evaluateWindows`).")>]
        Stateful: bool
        [<ConfigOption("normalize_spatial",
                       Stage = OptionStage.Optimiser,
                       Default = "false",
                       Doc = "unit-norm columns of `spatial_decoder.0.weight`.")>]
        NormalizeSpatial: bool
        [<ConfigOption("normalize_temporal",
                       Stage = OptionStage.Optimiser,
                       Default = "false",
                       Doc = "unit-norm rows of `temporal`.")>]
        NormalizeTemporal: bool
        [<ConfigOption("learning_rate_s",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "AdamW rate of the spatial decoder.")>]
        LearningRateS: float
        [<ConfigOption("learning_rate_t",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "AdamW rate of the temporal matrices and bias.")>]
        LearningRateT: float
        [<ConfigOption("learning_rate_h",
                       Stage = OptionStage.Optimiser,
                       Default = "0.001",
                       Min = 0.0,
                       Doc = "AdamW rate of the hypernetwork and the r2 decoder.")>]
        LearningRateH: float
        [<ConfigOption("weight_decay",
                       Stage = OptionStage.Optimiser,
                       Default = "1e-5",
                       Min = 0.0,
                       Doc = "AdamW weight decay.")>]
        WeightDecay: float
        [<ConfigOption("clip_grad",
                       Stage = OptionStage.Optimiser,
                       Default = "500",
                       Min = 0.0,
                       MinExclusive = true,
                       Doc = "global gradient-norm clip.")>]
        ClipGrad: float
        [<ConfigOption("cos_eta",
                       Stage = OptionStage.Regulariser,
                       Default = "5",
                       Min = 0.0,
                       Doc = "weight of the cosine regulariser of the temporal matrices.")>]
        CosEta: float
        [<ConfigOption("Orth_alpha_r2",
                       Stage = OptionStage.Regulariser,
                       Default = "5",
                       Min = 0.0,
                       Doc = "weight of the orthogonality regulariser of the hypernetwork input.")>]
        OrthAlphaR2: float
        [<ConfigOption("grad_norm", Stage = OptionStage.Optimiser, Default = "true", Doc = "GradNorm task balancing.")>]
        GradNorm: bool
        [<ConfigOption("grad_alpha",
                       Stage = OptionStage.Optimiser,
                       Default = "0.5",
                       Min = 0.0,
                       Doc = "GradNorm's restoring-force exponent.")>]
        GradAlpha: float
        [<ConfigOption("lr_weights",
                       Stage = OptionStage.Optimiser,
                       Default = "0.01",
                       Min = 0.0,
                       Doc = "GradNorm's task-weight learning rate.")>]
        LrWeights: float
        [<ConfigOption("L1_alpha",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the temporal matrices.")>]
        L1Alpha: float
        [<ConfigOption("L1_alpha_W",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on `hypernet.4.weight`.")>]
        L1AlphaW: float
        [<ConfigOption("L1_alpha_spat",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "L1 weight on the rows of `spatial_decoder.0.weight`.")>]
        L1AlphaSpat: float
        [<ConfigOption("Orth_alpha_spat",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "orthogonality weight on `spatial_decoder.0.weight`.")>]
        OrthAlphaSpat: float
        [<ConfigOption("Lnuc_alpha",
                       Stage = OptionStage.Regulariser,
                       Default = "0",
                       Min = 0.0,
                       Doc = "nuclear-norm weight on the `V_k`.")>]
        LnucAlpha: float
        [<ConfigOption("sequence_length",
                       Stage = OptionStage.Run,
                       Default = "200",
                       Min = 1.0,
                       Doc = "time steps per training window.")>]
        SequenceLength: int
        [<ConfigOption("overlap",
                       Stage = OptionStage.Run,
                       Default = "20",
                       Min = 1.0,
                       MaxKey = "sequence_length",
                       Why = "the step between window starts",
                       Doc =
                           "upstream's name for the step between the starts of consecutive training windows (upstream `stack_data` advances by it), so windows share `sequence_length − overlap` steps; `overlap = sequence_length` gives non-overlapping windows.")>]
        Overlap: int
        [<ConfigOption("num_epochs", Stage = OptionStage.Run, Default = "1000", Min = 1.0, Doc = "training epochs.")>]
        NumEpochs: int
        [<ConfigOption("sparsity_w_safe",
                       Stage = OptionStage.Objective,
                       Default = "0",
                       Min = 0.0,
                       Doc =
                           "weight of upstream JAX's SAFE sparsity of the mixture weights `w` (`Regularisers.safeRow`), averaged over every sample and inference step that has a `w` (not the first step of a window without a carry, whose zero row upstream JAX includes) and added to the temporal term (training only).")>]
        SparsityWSafe: float
        [<ConfigOption("w_min_active_ratio",
                       Stage = OptionStage.Objective,
                       Default = "0.25",
                       Min = 0.0,
                       Max = 1.0,
                       Doc =
                           "SAFE's `ρ`: the sorted mixture probabilities past the first `ρ·M` are penalised (weight `σ(2(i − ρM))` at rank `i`).")>]
        WMinActiveRatio: float
        [<ConfigOption("saturate_r_method",
                       Stage = OptionStage.Inference,
                       Default = "None",
                       Doc = "saturation of `r` after each inference step's shrinkage (in `inf` and `inf_first_step`).")>]
        SaturateR: Saturation
        [<ConfigOption("saturate_r2_method",
                       Stage = OptionStage.Inference,
                       Default = "None",
                       Doc = "saturation of `r2` after each inference step's shrinkage.")>]
        SaturateR2: Saturation
        [<ConfigOption("saturate_r_scale",
                       Stage = OptionStage.Inference,
                       Default = "5",
                       Min = 0.0,
                       MinExclusive = true,
                       Doc = "the scale `s` of `ScaledTanh` saturation of `r`.")>]
        SaturateRScale: float
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
