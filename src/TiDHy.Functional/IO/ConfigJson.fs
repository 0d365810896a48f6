namespace TiDHy.Functional

open System
open System.Text.Json

/// Reading and writing a `Config` as JSON with upstream's hyperparameter names (MODEL.md), as in
/// the fixtures' `config` object. Missing keys take `Config.defaults`; unknown keys are rejected.
[<RequireQualifiedAccess>]
module ConfigJson =

    /// Upstream keys that this port accepts and ignores, because upstream's model stores them but
    /// never uses them in the computations of MODEL.md (or, for `learning_rate_gamma`, fixes them).
    let ignoredUpstreamKeys =
        set
            [
                "spat_weight"
                "L1_alpha_inf"
                "L1_alpha_r2"
                "lr_weights_inf"
                "grad_alpha_inf"
            ]

    let private fail key (value: string) reason =
        raise (
            InvalidConfigException
                [
                    {
                        Field = key
                        Value = value
                        Reason = reason
                    }
                ]
        )

    /// A JSON number, or one of the strings "NaN", "Infinity", "-Infinity" (how this library writes
    /// non-finite values); `None` for anything else.
    let tryFloat (e: JsonElement) : float option =
        match e.ValueKind with
        | JsonValueKind.Number -> Some(e.GetDouble())
        | JsonValueKind.String ->
            match e.GetString() with
            | "NaN" -> Some nan
            | "Infinity" -> Some infinity
            | "-Infinity" -> Some -infinity
            | _ -> None
        | _ -> None

    let private getFloat key (e: JsonElement) =
        match tryFloat e with
        | Some v -> v
        | None -> fail key (e.GetRawText()) "expected a number"

    let private getInt key (e: JsonElement) =
        let mutable i = 0

        if e.ValueKind = JsonValueKind.Number && e.TryGetInt32(&i) then
            i
        else
            fail key (e.GetRawText()) "expected an integer"

    let private getBool key (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.True -> true
        | JsonValueKind.False -> false
        | _ -> fail key (e.GetRawText()) "expected true or false"

    let private getString key (e: JsonElement) =
        if e.ValueKind = JsonValueKind.String then
            e.GetString()
        else
            fail key (e.GetRawText()) "expected a string"

    let private apply (cfg: Config) (key: string) (e: JsonElement) : Config =
        let f () = getFloat key e
        let i () = getInt key e
        let b () = getBool key e

        match key with
        | "input_dim" -> { cfg with InputDim = i () }
        | "r_dim" -> { cfg with RDim = i () }
        | "r2_dim" -> { cfg with R2Dim = i () }
        | "mix_dim" -> { cfg with MixDim = i () }
        | "hyper_hid_dim" -> { cfg with HyperHidDim = i () }
        | "r2_decoder_hid_dim" -> { cfg with R2DecoderHidDim = i () }
        | "loss_type" ->
            { cfg with
                Loss = Config.parseLoss (getString key e)
            }
        | "nonlin_decoder" -> { cfg with NonlinDecoder = b () }
        | "low_rank_temp" -> { cfg with LowRankTemp = b () }
        | "dyn_bias" -> { cfg with DynBias = b () }
        | "use_r2_decoder" -> { cfg with UseR2Decoder = b () }
        | "max_iter" -> { cfg with MaxIter = i () }
        | "tol" -> { cfg with Tol = f () }
        | "lr_r" -> { cfg with LrR = f () }
        | "lr_r2" -> { cfg with LrR2 = f () }
        | "temp_weight" -> { cfg with TempWeight = f () }
        | "lmda_r" -> { cfg with LmdaR = f () }
        | "lmda_r2" -> { cfg with LmdaR2 = f () }
        | "L1_inf_w" -> { cfg with L1InfW = f () }
        | "L1_inf_r" -> { cfg with L1InfR = f () }
        | "L1_inf_r2" -> { cfg with L1InfR2 = f () }
        | "stateful" -> { cfg with Stateful = b () }
        | "normalize_spatial" -> { cfg with NormalizeSpatial = b () }
        | "normalize_temporal" -> { cfg with NormalizeTemporal = b () }
        | "learning_rate_s" -> { cfg with LearningRateS = f () }
        | "learning_rate_t" -> { cfg with LearningRateT = f () }
        | "learning_rate_h" -> { cfg with LearningRateH = f () }
        | "weight_decay" -> { cfg with WeightDecay = f () }
        | "clip_grad" -> { cfg with ClipGrad = f () }
        | "cos_eta" -> { cfg with CosEta = f () }
        | "Orth_alpha_r2" -> { cfg with OrthAlphaR2 = f () }
        | "grad_norm" -> { cfg with GradNorm = b () }
        | "grad_alpha" -> { cfg with GradAlpha = f () }
        | "lr_weights" -> { cfg with LrWeights = f () }
        | "L1_alpha" -> { cfg with L1Alpha = f () }
        | "L1_alpha_W" -> { cfg with L1AlphaW = f () }
        | "L1_alpha_spat" -> { cfg with L1AlphaSpat = f () }
        | "Orth_alpha_spat" -> { cfg with OrthAlphaSpat = f () }
        | "Lnuc_alpha" -> { cfg with LnucAlpha = f () }
        | "sequence_length" -> { cfg with SequenceLength = i () }
        | "overlap" -> { cfg with Overlap = i () }
        | "num_epochs" -> { cfg with NumEpochs = i () }
        | "batch_converge" ->
            { cfg with
                Convergence = if b () then Convergence.Batch else Convergence.AllSamples
            }
        | "convergence" ->
            match getString key e with
            | "Batch" ->
                { cfg with
                    Convergence = Convergence.Batch
                }
            | "AllSamples" ->
                { cfg with
                    Convergence = Convergence.AllSamples
                }
            | "PerSample" ->
                { cfg with
                    Convergence = Convergence.PerSample
                }
            | s -> fail key $"\"{s}\"" "expected \"Batch\", \"AllSamples\" or \"PerSample\""
        | "batch_scaling" ->
            match getString key e with
            | "BatchMean" ->
                { cfg with
                    BatchScaling = BatchScaling.BatchMean
                }
            | "PerSample" ->
                { cfg with
                    BatchScaling = BatchScaling.PerSample
                }
            | s -> fail key $"\"{s}\"" "expected \"BatchMean\" or \"PerSample\""
        | "backend" ->
            match getString key e with
            | "Reference" -> { cfg with Backend = Backend.Reference }
            | "Fused" -> { cfg with Backend = Backend.Fused }
            | "FusedFloat32" ->
                { cfg with
                    Backend = Backend.FusedFloat32
                }
            | s -> fail key $"\"{s}\"" "expected \"Reference\", \"Fused\" or \"FusedFloat32\""
        | "learning_rate_gamma" ->
            if f () <> 0.5 then
                fail key (e.GetRawText()) "only 0.5 is supported (MODEL.md: the outer rates halve)"

            cfg
        | "grad_norm_inf" ->
            if b () then
                fail key "true" "GradNorm inside inference is not part of MODEL.md and is not supported"

            cfg
        | k when ignoredUpstreamKeys.Contains k -> cfg
        | k -> fail k (e.GetRawText()) "unknown configuration key"

    /// A configuration from a JSON object element with upstream names. `input_dim` is required;
    /// `overlap` (the window step) defaults to `max 1 (sequence_length div 10)`. `batch_converge` and `convergence` must agree
    /// when both are given. The result is validated (`Config.validateOrThrow`).
    let ofElement (json: JsonElement) : Config =
        if json.ValueKind <> JsonValueKind.Object then
            fail "config" (json.ValueKind.ToString()) "expected a JSON object"

        let props = json.EnumerateObject() |> Seq.toList

        let inputDim =
            match props |> List.tryFind (fun p -> p.Name = "input_dim") with
            | Some p -> getInt "input_dim" p.Value
            | None -> fail "input_dim" "missing" "is required"

        let cfg =
            props
            |> List.fold (fun c p -> apply c p.Name p.Value) (Config.defaults inputDim)

        let has name =
            props |> List.exists (fun p -> p.Name = name)

        let cfg =
            if has "overlap" then
                cfg
            else
                { cfg with
                    Overlap = max 1 (cfg.SequenceLength / 10)
                }

        // `convergence` is the finer setting; `batch_converge` may accompany it only if it agrees.
        let cfg =
            match props |> List.tryFind (fun p -> p.Name = "convergence") with
            | None -> cfg
            | Some cv ->
                let withCv = apply cfg cv.Name cv.Value

                match props |> List.tryFind (fun p -> p.Name = "batch_converge") with
                | Some bc when getBool bc.Name bc.Value <> (withCv.Convergence = Convergence.Batch) ->
                    fail "convergence" (cv.Value.GetRawText()) $"contradicts batch_converge = {bc.Value.GetRawText()}"
                | _ -> withCv

        Config.validateOrThrow cfg

    /// A configuration from JSON text (see `ofElement`).
    let parse (text: string) : Config =
        use doc =
            try
                JsonDocument.Parse text
            with :? JsonException as ex ->
                raise (
                    InvalidConfigException
                        [
                            {
                                Field = "config"
                                Value = "(text)"
                                Reason = $"not valid JSON: {ex.Message}"
                            }
                        ]
                )

        ofElement doc.RootElement

    let private jsonFloat (v: float) =
        if Double.IsFinite v then
            v.ToString("R", Globalization.CultureInfo.InvariantCulture)
        else
            $"\"{v}\""

    /// The JSON object of `cfg`, with upstream names and the port's `batch_scaling`,
    /// `convergence` and `backend`; `parse (toJson cfg) = cfg`.
    let toJson (cfg: Config) : string =
        let b (v: bool) = if v then "true" else "false"
        let s (v: string) = $"\"{v}\""

        let fields =
            [
                "input_dim", string cfg.InputDim
                "r_dim", string cfg.RDim
                "r2_dim", string cfg.R2Dim
                "mix_dim", string cfg.MixDim
                "hyper_hid_dim", string cfg.HyperHidDim
                "r2_decoder_hid_dim", string cfg.R2DecoderHidDim
                "loss_type", s (Config.lossName cfg.Loss)
                "nonlin_decoder", b cfg.NonlinDecoder
                "low_rank_temp", b cfg.LowRankTemp
                "dyn_bias", b cfg.DynBias
                "use_r2_decoder", b cfg.UseR2Decoder
                "max_iter", string cfg.MaxIter
                "tol", jsonFloat cfg.Tol
                "lr_r", jsonFloat cfg.LrR
                "lr_r2", jsonFloat cfg.LrR2
                "temp_weight", jsonFloat cfg.TempWeight
                "lmda_r", jsonFloat cfg.LmdaR
                "lmda_r2", jsonFloat cfg.LmdaR2
                "L1_inf_w", jsonFloat cfg.L1InfW
                "L1_inf_r", jsonFloat cfg.L1InfR
                "L1_inf_r2", jsonFloat cfg.L1InfR2
                "batch_scaling", s (string cfg.BatchScaling)
                "convergence", s (string cfg.Convergence)
                "backend", s (string cfg.Backend)
                "stateful", b cfg.Stateful
                "normalize_spatial", b cfg.NormalizeSpatial
                "normalize_temporal", b cfg.NormalizeTemporal
                "learning_rate_s", jsonFloat cfg.LearningRateS
                "learning_rate_t", jsonFloat cfg.LearningRateT
                "learning_rate_h", jsonFloat cfg.LearningRateH
                "weight_decay", jsonFloat cfg.WeightDecay
                "clip_grad", jsonFloat cfg.ClipGrad
                "cos_eta", jsonFloat cfg.CosEta
                "Orth_alpha_r2", jsonFloat cfg.OrthAlphaR2
                "grad_norm", b cfg.GradNorm
                "grad_alpha", jsonFloat cfg.GradAlpha
                "lr_weights", jsonFloat cfg.LrWeights
                "L1_alpha", jsonFloat cfg.L1Alpha
                "L1_alpha_W", jsonFloat cfg.L1AlphaW
                "L1_alpha_spat", jsonFloat cfg.L1AlphaSpat
                "Orth_alpha_spat", jsonFloat cfg.OrthAlphaSpat
                "Lnuc_alpha", jsonFloat cfg.LnucAlpha
                "sequence_length", string cfg.SequenceLength
                "overlap", string cfg.Overlap
                "num_epochs", string cfg.NumEpochs
            ]

        "{\n"
        + String.Join(",\n", fields |> List.map (fun (k, v) -> $"  \"{k}\": {v}"))
        + "\n}"
