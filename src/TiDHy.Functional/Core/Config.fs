namespace TiDHy.Functional

open System

/// The elementwise observation loss `ℓ(pred, obs)` (upstream `loss_type`).
[<RequireQualifiedAccess>]
type LossKind =
    /// `(pred − obs)²` (upstream "MSE").
    | MSE
    /// `−[obs·log pred + (1 − obs)·log(1 − pred)]`, logs clamped at −100; the decoder ends in a sigmoid (upstream "BCE").
    | BCE
    /// `pred − obs·log pred` (upstream "Poisson").
    | Poisson

/// How inference scales the per-sample data terms of its loss.
[<RequireQualifiedAccess>]
type BatchScaling =
    /// Upstream: data terms are averaged over the batch, so each sample moves by `lr/B` times its gradient.
    | BatchMean
    /// Each sample's own sum: a sample's step does not depend on the batch size (the newer JAX behaviour).
    | PerSample

/// When inference stops iterating.
[<RequireQualifiedAccess>]
type Convergence =
    /// Upstream `batch_converge = true`: relative change of the whole batch (Frobenius norms) below `tol`.
    | Batch
    /// Upstream `batch_converge = false`: every sample's relative change (row norms) below `tol`, one batch-wide stop.
    | AllSamples
    /// Each sample stops on its own and keeps its values while the others continue.
    | PerSample

/// Which implementation runs inference (`Inference.infer`, `Inference.inferFirstStep`, and so
/// `Forward` and `Evaluate`). Not an upstream setting; JSON key `backend`.
[<RequireQualifiedAccess>]
type Backend =
    /// The F# reference path in float64: the definition that the fused kernels are tested against.
    | Reference
    /// Generated fused kernels (TiDHy.Kernels) in float64: equal to the reference to rounding (the default).
    | Fused
    /// Generated fused kernels in float32: several times faster, results within about 1e-3 of float64.
    | FusedFloat32

/// Every hyperparameter of MODEL.md, with upstream's SLDS defaults (`Config.defaults`). Field
/// documentation gives the upstream name. Immutable: derive variants with `{ cfg with … }`.
type Config =
    {
        /// `input_dim`: observation features `D`.
        InputDim: int
        /// `r_dim`: latent size `R`.
        RDim: int
        /// `r2_dim`: higher-order latent size `R2`.
        R2Dim: int
        /// `mix_dim`: number of dynamics matrices `M`.
        MixDim: int
        /// `hyper_hid_dim`: hidden width `H` of the hypernetwork and of the nonlinear decoder.
        HyperHidDim: int
        /// `r2_decoder_hid_dim`: hidden width `H2` of the r2 decoder.
        R2DecoderHidDim: int
        /// `loss_type`.
        Loss: LossKind
        /// `nonlin_decoder`: MLP spatial decoder instead of a linear one.
        NonlinDecoder: bool
        /// `low_rank_temp`: `V_k = U_k·U_kᵀ` with `U_k [R; 2]`.
        LowRankTemp: bool
        /// `dyn_bias`: a dynamic bias `b ⊙ c` added to the temporal prediction.
        DynBias: bool
        /// `use_r2_decoder`: predict `r2_t` from `[r_{t−1}, r2_{t−1}]`.
        UseR2Decoder: bool
        /// `max_iter`: inference iterations at most (≥ 10).
        MaxIter: int
        /// `tol`: relative-change tolerance of inference.
        Tol: float
        /// `lr_r`: inference step size for `r`.
        LrR: float
        /// `lr_r2`: inference step size for `r2`.
        LrR2: float
        /// `temp_weight`: weight of the temporal prediction error.
        TempWeight: float
        /// `lmda_r`: soft-threshold of `r` after each inference step.
        LmdaR: float
        /// `lmda_r2`: soft-threshold of `r2` after each inference step.
        LmdaR2: float
        /// `L1_inf_w`: L1 weight on the mixture weights `w` during inference.
        L1InfW: float
        /// `L1_inf_r`: L1 weight on `r` during inference.
        L1InfR: float
        /// `L1_inf_r2`: L1 weight on `r2` during inference.
        L1InfR2: float
        /// Inference batch scaling (upstream: `BatchMean`).
        BatchScaling: BatchScaling
        /// Inference convergence (upstream `batch_converge`: true = `Batch`, false = `AllSamples`).
        Convergence: Convergence
        /// Inference implementation (not upstream; `Backend.Fused` by default).
        Backend: Backend
        /// `stateful`: in `Forward.forwardWindows` / `Evaluate.evaluateWindows`, each window starts
        /// from the previous window's final `r, r2`.
        Stateful: bool
        /// `normalize_spatial`: unit-norm columns of `spatial_decoder.0.weight`.
        NormalizeSpatial: bool
        /// `normalize_temporal`: unit-norm rows of `temporal`.
        NormalizeTemporal: bool
        /// `learning_rate_s`: AdamW rate of the spatial decoder.
        LearningRateS: float
        /// `learning_rate_t`: AdamW rate of the temporal matrices and bias.
        LearningRateT: float
        /// `learning_rate_h`: AdamW rate of the hypernetwork and the r2 decoder.
        LearningRateH: float
        /// `weight_decay`: AdamW weight decay.
        WeightDecay: float
        /// `clip_grad`: global gradient-norm clip.
        ClipGrad: float
        /// `cos_eta`: weight of the cosine regulariser of the temporal matrices.
        CosEta: float
        /// `Orth_alpha_r2`: weight of the orthogonality regulariser of the hypernetwork input.
        OrthAlphaR2: float
        /// `grad_norm`: GradNorm task balancing.
        GradNorm: bool
        /// `grad_alpha`: GradNorm's restoring-force exponent.
        GradAlpha: float
        /// `lr_weights`: GradNorm's task-weight learning rate.
        LrWeights: float
        /// `L1_alpha`: L1 weight on the temporal matrices.
        L1Alpha: float
        /// `L1_alpha_W`: L1 weight on `hypernet.4.weight`.
        L1AlphaW: float
        /// `L1_alpha_spat`: L1 weight on the rows of `spatial_decoder.0.weight`.
        L1AlphaSpat: float
        /// `Orth_alpha_spat`: orthogonality weight on `spatial_decoder.0.weight`.
        OrthAlphaSpat: float
        /// `Lnuc_alpha`: nuclear-norm weight on the `V_k`.
        LnucAlpha: float
        /// `sequence_length`: time steps per training window.
        SequenceLength: int
        /// `overlap`: upstream's name for the step between the starts of consecutive training windows
        /// (upstream `stack_data` advances by it), so windows share `sequence_length − overlap` steps;
        /// `overlap = sequence_length` gives non-overlapping windows.
        Overlap: int
        /// `num_epochs`: training epochs.
        NumEpochs: int
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

/// Constructing, reading and validating configurations.
[<RequireQualifiedAccess>]
module Config =

    /// Upstream's SLDS configuration (MODEL.md "Defaults"), for `inputDim` observation features.
    let defaults (inputDim: int) : Config =
        {
            InputDim = inputDim
            RDim = 10
            R2Dim = 5
            MixDim = 15
            HyperHidDim = 50
            R2DecoderHidDim = 50
            Loss = LossKind.MSE
            NonlinDecoder = false
            LowRankTemp = false
            DynBias = false
            UseR2Decoder = false
            MaxIter = 2000
            Tol = 0.01
            LrR = 0.2
            LrR2 = 0.2
            TempWeight = 2.0
            LmdaR = 0.0
            LmdaR2 = 0.0
            L1InfW = 0.0
            L1InfR = 0.0
            L1InfR2 = 0.0
            BatchScaling = BatchScaling.BatchMean
            Convergence = Convergence.Batch
            Backend = Backend.Fused
            Stateful = false
            NormalizeSpatial = false
            NormalizeTemporal = false
            LearningRateS = 0.01
            LearningRateT = 0.01
            LearningRateH = 0.001
            WeightDecay = 1e-5
            ClipGrad = 500.0
            CosEta = 5.0
            OrthAlphaR2 = 5.0
            GradNorm = true
            GradAlpha = 0.5
            LrWeights = 0.01
            L1Alpha = 0.0
            L1AlphaW = 0.0
            L1AlphaSpat = 0.0
            OrthAlphaSpat = 0.0
            LnucAlpha = 0.0
            SequenceLength = 200
            Overlap = 20
            NumEpochs = 1000
        }

    /// Parses upstream's `loss_type` ("MSE", "BCE", "Poisson"); any other name is an error naming it.
    let parseLoss (name: string) =
        match name with
        | "MSE" -> LossKind.MSE
        | "BCE" -> LossKind.BCE
        | "Poisson" -> LossKind.Poisson
        | other ->
            raise (
                InvalidConfigException
                    [
                        {
                            Field = "loss_type"
                            Value = $"\"{other}\""
                            Reason = "unknown loss; expected \"MSE\", \"BCE\" or \"Poisson\""
                        }
                    ]
            )

    /// Upstream's `loss_type` name of a loss.
    let lossName (loss: LossKind) =
        match loss with
        | LossKind.MSE -> "MSE"
        | LossKind.BCE -> "BCE"
        | LossKind.Poisson -> "Poisson"

    /// The number of hypernetwork outputs `O`: `M + R` with a dynamic bias, else `M`.
    let hyperOutDim (cfg: Config) =
        if cfg.DynBias then cfg.MixDim + cfg.RDim else cfg.MixDim

    let private floats (cfg: Config) =
        [
            "tol", cfg.Tol
            "lr_r", cfg.LrR
            "lr_r2", cfg.LrR2
            "temp_weight", cfg.TempWeight
            "lmda_r", cfg.LmdaR
            "lmda_r2", cfg.LmdaR2
            "L1_inf_w", cfg.L1InfW
            "L1_inf_r", cfg.L1InfR
            "L1_inf_r2", cfg.L1InfR2
            "learning_rate_s", cfg.LearningRateS
            "learning_rate_t", cfg.LearningRateT
            "learning_rate_h", cfg.LearningRateH
            "weight_decay", cfg.WeightDecay
            "clip_grad", cfg.ClipGrad
            "cos_eta", cfg.CosEta
            "Orth_alpha_r2", cfg.OrthAlphaR2
            "grad_alpha", cfg.GradAlpha
            "lr_weights", cfg.LrWeights
            "L1_alpha", cfg.L1Alpha
            "L1_alpha_W", cfg.L1AlphaW
            "L1_alpha_spat", cfg.L1AlphaSpat
            "Orth_alpha_spat", cfg.OrthAlphaSpat
            "Lnuc_alpha", cfg.LnucAlpha
        ]

    /// Every problem with `cfg` (empty when it is valid): a dimension ≤ 0, `max_iter < 10`, a NaN or
    /// infinite value, a negative tolerance, learning rate, weight or threshold, `clip_grad ≤ 0`,
    /// or an overlap (window step) outside `[1, sequence_length]`.
    let errors (cfg: Config) : ConfigError list =
        let err field (value: obj) reason =
            {
                Field = field
                Value = string value
                Reason = reason
            }

        let dims =
            [
                "input_dim", cfg.InputDim
                "r_dim", cfg.RDim
                "r2_dim", cfg.R2Dim
                "mix_dim", cfg.MixDim
                "hyper_hid_dim", cfg.HyperHidDim
                "r2_decoder_hid_dim", cfg.R2DecoderHidDim
                "sequence_length", cfg.SequenceLength
                "num_epochs", cfg.NumEpochs
            ]
            |> List.choose (fun (name, v) ->
                if v <= 0 then
                    Some(err name v "must be a positive integer")
                else
                    None)

        let maxIter =
            if cfg.MaxIter < 10 then
                [
                    err "max_iter" cfg.MaxIter "must be at least 10 (the r step-size milestones are max_iter div 10)"
                ]
            else
                []

        let nonFinite, finite =
            floats cfg |> List.partition (fun (_, v) -> not (Double.IsFinite v))

        let notFinite =
            nonFinite |> List.map (fun (name, v) -> err name v "must be a finite number")

        let negative =
            finite
            |> List.choose (fun (name, v) ->
                if v < 0.0 then
                    Some(err name v "must not be negative")
                else
                    None)

        let clip =
            if Double.IsFinite cfg.ClipGrad && cfg.ClipGrad = 0.0 then
                [ err "clip_grad" cfg.ClipGrad "must be positive" ]
            else
                []

        let overlap =
            if cfg.Overlap < 1 || (cfg.SequenceLength > 0 && cfg.Overlap > cfg.SequenceLength) then
                [
                    err
                        "overlap"
                        cfg.Overlap
                        $"must be in [1, sequence_length = {cfg.SequenceLength}] (the step between window starts)"
                ]
            else
                []

        dims @ maxIter @ notFinite @ negative @ clip @ overlap

    /// `Ok cfg` when `cfg` is valid, else `Error` with every problem (see `errors`).
    let validate (cfg: Config) : Result<Config, ConfigError list> =
        match errors cfg with
        | [] -> Ok cfg
        | es -> Error es

    /// Returns `cfg` when it is valid; raises `InvalidConfigException` naming each bad field otherwise.
    let validateOrThrow (cfg: Config) =
        match errors cfg with
        | [] -> cfg
        | es -> raise (InvalidConfigException es)
