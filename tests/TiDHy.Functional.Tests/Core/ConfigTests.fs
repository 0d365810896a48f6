module TiDHy.Functional.Tests.ConfigTests

open System.IO
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private errorsOf cfg =
    match Config.validate cfg with
    | Ok _ -> []
    | Error es -> es

/// Asserts that validation rejects `cfg` with an error naming `field` and showing `value`.
let private rejects (field: string) (value: string) (cfg: Config) =
    let es = errorsOf cfg

    Assert.True(
        es |> List.exists (fun e -> e.Field = field && e.Value = value),
        $"expected an error on {field} = {value}, got %A{es}"
    )

    let ex =
        Assert.Throws<InvalidConfigException>(fun () -> Config.validateOrThrow cfg |> ignore)

    Assert.Contains($"{field} = {value}", ex.Message)

[<Fact>]
let ``The defaults are upstream's SLDS configuration and valid`` () =
    let cfg = Config.defaults 20
    Assert.Equal<ConfigError list>([], errorsOf cfg)
    Assert.Equal((10, 5, 15, 50, 50), (cfg.RDim, cfg.R2Dim, cfg.MixDim, cfg.HyperHidDim, cfg.R2DecoderHidDim))
    Assert.Equal((2000, 0.01, 0.2, 0.2, 2.0), (cfg.MaxIter, cfg.Tol, cfg.LrR, cfg.LrR2, cfg.TempWeight))

    Assert.Equal(
        (0.01, 0.01, 0.001, 1e-5, 500.0),
        (cfg.LearningRateS, cfg.LearningRateT, cfg.LearningRateH, cfg.WeightDecay, cfg.ClipGrad)
    )

    Assert.Equal((5.0, 5.0, true, 0.5, 0.01), (cfg.CosEta, cfg.OrthAlphaR2, cfg.GradNorm, cfg.GradAlpha, cfg.LrWeights))
    Assert.Equal((200, 20, 1000), (cfg.SequenceLength, cfg.Overlap, cfg.NumEpochs))
    Assert.Equal(LossKind.MSE, cfg.Loss)
    Assert.Equal(BatchScaling.BatchMean, cfg.BatchScaling)
    Assert.Equal(Convergence.Batch, cfg.Convergence)

[<Fact>]
let ``Every dimension at or below zero is rejected by name`` () =
    let cfg = Config.defaults 6

    for field, set in
        [
            "input_dim", (fun v -> { cfg with InputDim = v })
            "r_dim", (fun v -> { cfg with RDim = v })
            "r2_dim", (fun v -> { cfg with R2Dim = v })
            "mix_dim", (fun v -> { cfg with MixDim = v })
            "hyper_hid_dim", (fun v -> { cfg with HyperHidDim = v })
            "r2_decoder_hid_dim", (fun v -> { cfg with R2DecoderHidDim = v })
            "sequence_length",
            (fun v ->
                { cfg with
                    SequenceLength = v
                    Overlap = 1
                })
            "num_epochs", (fun v -> { cfg with NumEpochs = v })
        ] do
        rejects field "0" (set 0)
        rejects field "-3" (set -3)

[<Fact>]
let ``max_iter below 10 is rejected`` () =
    rejects "max_iter" "9" { Config.defaults 6 with MaxIter = 9 }
    Assert.Equal<ConfigError list>([], errorsOf { Config.defaults 6 with MaxIter = 10 })

[<Fact>]
let ``A negative tolerance or learning rate is rejected`` () =
    let cfg = Config.defaults 6
    rejects "tol" "-0.1" { cfg with Tol = -0.1 }
    rejects "lr_r" "-0.2" { cfg with LrR = -0.2 }
    rejects "lr_r2" "-1" { cfg with LrR2 = -1.0 }
    rejects "learning_rate_s" "-0.01" { cfg with LearningRateS = -0.01 }
    rejects "learning_rate_t" "-0.01" { cfg with LearningRateT = -0.01 }
    rejects "learning_rate_h" "-0.001" { cfg with LearningRateH = -0.001 }
    rejects "lr_weights" "-0.01" { cfg with LrWeights = -0.01 }

[<Fact>]
let ``NaN in any numeric field is rejected by name`` () =
    let cfg = Config.defaults 6

    let setters: (string * (float -> Config)) list =
        [
            "tol", (fun v -> { cfg with Tol = v })
            "lr_r", (fun v -> { cfg with LrR = v })
            "lr_r2", (fun v -> { cfg with LrR2 = v })
            "temp_weight", (fun v -> { cfg with TempWeight = v })
            "lmda_r", (fun v -> { cfg with LmdaR = v })
            "lmda_r2", (fun v -> { cfg with LmdaR2 = v })
            "L1_inf_w", (fun v -> { cfg with L1InfW = v })
            "L1_inf_r", (fun v -> { cfg with L1InfR = v })
            "L1_inf_r2", (fun v -> { cfg with L1InfR2 = v })
            "learning_rate_s", (fun v -> { cfg with LearningRateS = v })
            "learning_rate_t", (fun v -> { cfg with LearningRateT = v })
            "learning_rate_h", (fun v -> { cfg with LearningRateH = v })
            "weight_decay", (fun v -> { cfg with WeightDecay = v })
            "clip_grad", (fun v -> { cfg with ClipGrad = v })
            "cos_eta", (fun v -> { cfg with CosEta = v })
            "Orth_alpha_r2", (fun v -> { cfg with OrthAlphaR2 = v })
            "grad_alpha", (fun v -> { cfg with GradAlpha = v })
            "lr_weights", (fun v -> { cfg with LrWeights = v })
            "L1_alpha", (fun v -> { cfg with L1Alpha = v })
            "L1_alpha_W", (fun v -> { cfg with L1AlphaW = v })
            "L1_alpha_spat", (fun v -> { cfg with L1AlphaSpat = v })
            "Orth_alpha_spat", (fun v -> { cfg with OrthAlphaSpat = v })
            "Lnuc_alpha", (fun v -> { cfg with LnucAlpha = v })
            "sparsity_w_safe", (fun v -> { cfg with SparsityWSafe = v })
            "w_min_active_ratio", (fun v -> { cfg with WMinActiveRatio = v })
            "saturate_r_scale", (fun v -> { cfg with SaturateRScale = v })
            "saturate_r2_scale", (fun v -> { cfg with SaturateR2Scale = v })
        ]

    for field, set in setters do
        rejects field "NaN" (set nan)
        rejects field "Infinity" (set infinity)

[<Fact>]
let ``An unknown loss is rejected naming loss_type and the value`` () =
    let ex =
        Assert.Throws<InvalidConfigException>(fun () -> Config.parseLoss "L2" |> ignore)

    Assert.Contains("loss_type = \"L2\"", ex.Message)

    let ex =
        Assert.Throws<InvalidConfigException>(fun () ->
            ConfigJson.parse """{"input_dim": 4, "loss_type": "Gaussian"}""" |> ignore)

    Assert.Contains("loss_type = \"Gaussian\"", ex.Message)

[<Fact>]
let ``A window step (overlap) outside 1 … sequence_length and a zero clip are rejected`` () =
    rejects "overlap" "201" { Config.defaults 6 with Overlap = 201 }
    rejects "overlap" "0" { Config.defaults 6 with Overlap = 0 }
    Assert.True(Config.errors { Config.defaults 6 with Overlap = 200 } |> List.isEmpty)

    rejects
        "clip_grad"
        "0"
        { Config.defaults 6 with
            ClipGrad = 0.0
        }

[<Fact>]
let ``Validation reports every problem at once`` () =
    let es =
        errorsOf
            { Config.defaults 0 with
                MaxIter = 3
                Tol = nan
            }

    Assert.Equal<string list>([ "input_dim"; "max_iter"; "tol" ], es |> List.map _.Field)

[<Fact>]
let ``JSON with upstream names round-trips`` () =
    let cfg =
        { smallConfig with
            Loss = LossKind.Poisson
            DynBias = true
            BatchScaling = BatchScaling.PerSample
            Convergence = Convergence.PerSample
            LmdaR = 0.125
            Tol = 1e-3 / 7.0
        }

    Assert.Equal(cfg, ConfigJson.parse (ConfigJson.toJson cfg))

[<Fact>]
let ``JSON takes defaults for missing keys and upstream batch_converge`` () =
    let cfg =
        ConfigJson.parse """{"input_dim": 7, "batch_converge": false, "sequence_length": 50}"""

    Assert.Equal(
        { Config.defaults 7 with
            Convergence = Convergence.AllSamples
            SequenceLength = 50
            Overlap = 5
        },
        cfg
    )

[<Fact>]
let ``JSON rejects unknown keys, a missing input_dim, contradictions and unsupported upstream options`` () =
    let fails (json: string) (fragment: string) =
        let ex =
            Assert.Throws<InvalidConfigException>(fun () -> ConfigJson.parse json |> ignore)

        Assert.Contains(fragment, ex.Message)

    fails """{"input_dim": 4, "r_dimm": 3}""" "r_dimm"
    fails """{"r_dim": 3}""" "input_dim"
    fails """{"input_dim": 4, "batch_converge": true, "convergence": "PerSample"}""" "contradicts batch_converge"
    fails """{"input_dim": 4, "grad_norm_inf": true}""" "grad_norm_inf"
    fails """{"input_dim": 4, "max_iter": 2.5}""" "max_iter"
    fails """{"input_dim": 4, "max_iter": 5}""" "max_iter = 5"
    fails """{"input_dim": 4, "tol": "NaN"}""" "tol = NaN"
    fails """{"input_dim": 4,""" "not valid JSON"

[<Fact>]
let ``Every reference fixture's config parses`` () =
    let files = Fixtures.files referenceDir
    Assert.NotEmpty files

    for file in files do
        use doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText file)
        let cfg = ConfigJson.ofElement (doc.RootElement.GetProperty "config")
        Assert.Equal(doc.RootElement.GetProperty("config").GetProperty("r_dim").GetInt32(), cfg.RDim)

[<Fact>]
let ``Every Config field has exactly one option declaration with a unique key`` () =
    let fields = Microsoft.FSharp.Reflection.FSharpType.GetRecordFields typeof<Config>

    for f in fields do
        Assert.Single(f.GetCustomAttributes(typeof<ConfigOptionAttribute>, false))
        |> ignore

    Assert.Equal<string list>(fields |> Array.map _.Name |> Array.toList, ConfigOptions.all |> List.map _.Property)
    Assert.Equal(fields.Length, ConfigOptions.all |> List.distinctBy _.Key |> List.length)
    Assert.Equal<string list>([ "input_dim" ], ConfigOptions.all |> List.filter _.Default.IsNone |> List.map _.Key)

    for o in ConfigOptions.all do
        Assert.Equal(o, ConfigOptions.find o.Key)
        Assert.False(System.String.IsNullOrWhiteSpace o.Doc, o.Key)

[<Fact>]
let ``The defaults are the declared defaults`` () =
    let cfg = Config.defaults 9

    for o in ConfigOptions.all do
        match o.Default with
        | Some d -> Assert.Equal(d, ConfigOptions.get o cfg)
        | None -> Assert.Equal(box 9, ConfigOptions.get o cfg)

/// A valid value of `o` other than its value in `cfg`.
let private another (o: ConfigOption) (cfg: Config) : obj =
    match o.Kind, ConfigOptions.get o cfg with
    | OptionKind.Int, (:? int as v) -> box (if o.Key = "overlap" then v - 1 else v + 1)
    | OptionKind.Float, (:? float as v) ->
        box (
            if o.Max |> Option.exists (fun m -> v + 0.375 > m) then
                v - 0.375
            else
                v + 0.375
        )
    | OptionKind.Bool, (:? bool as v) -> box (not v)
    | OptionKind.Enum cases, v -> cases.Values |> List.find (fun c -> not (c.Equals v))
    | _ -> failwith "unexpected kind"

[<Fact>]
let ``Every option round-trips through JSON and is named when it differs`` () =
    let cfg = Config.defaults 6

    for o in ConfigOptions.all do
        let changed = ConfigOptions.set o (another o cfg) cfg
        Assert.Equal(Ok changed, Config.validate changed)
        Assert.NotEqual(cfg, changed)
        let back = ConfigJson.parse (ConfigJson.toJson changed)
        Assert.Equal(changed, back)
        Assert.Equal(ConfigOptions.get o changed, ConfigOptions.get o back)

        let differing =
            List.zip (ConfigJson.fields cfg) (ConfigJson.fields changed)
            |> List.filter (fun (a, b) -> a <> b)
            |> List.map (fst >> fst)

        Assert.Equal<string list>([ o.Key ], differing)

[<Fact>]
let ``Every enum option reads its case names and rejects others listing them`` () =
    for o in ConfigOptions.all do
        match o.Kind with
        | OptionKind.Enum cases ->
            for name, value in List.zip cases.Names cases.Values do
                let cfg = ConfigJson.parse $"""{{"input_dim": 3, "{o.Key}": "{name}"}}"""
                Assert.Equal(value, ConfigOptions.get o cfg)
                Assert.Equal(name, ConfigOptions.caseName cases value)

            let ex =
                Assert.Throws<InvalidConfigException>(fun () ->
                    ConfigJson.parse $"""{{"input_dim": 3, "{o.Key}": "Nope"}}""" |> ignore)

            Assert.Contains($"{o.Key} = \"Nope\": expected \"{cases.Names.Head}\"", ex.Message)
        | _ -> ()

[<Fact>]
let ``batch_converge = false agrees with either per-sample convergence`` () =
    let cfg =
        ConfigJson.parse """{"input_dim": 4, "batch_converge": false, "convergence": "PerSample"}"""

    Assert.Equal(Convergence.PerSample, cfg.Convergence)

    let cfg = ConfigJson.parse """{"input_dim": 4, "batch_converge": true}"""
    Assert.Equal(Convergence.Batch, cfg.Convergence)

[<Fact>]
let ``Sizes whose products overflow an array are rejected by name, before anything is allocated`` () =
    let cfg = Config.defaults 20
    // M·R·R = 15·30000² = 1.35e10 entries (an int32 product wraps to a negative count).
    rejects "r_dim" "30000" { cfg with RDim = 30000 }

    Assert.Contains("13500000000 entries", (errorsOf { cfg with RDim = 30000 } |> List.head).Reason)

    rejects "r_dim" "1000000" { cfg with RDim = 1_000_000 }

    rejects
        "r_dim"
        "2147483647"
        { cfg with
            RDim = System.Int32.MaxValue
            MixDim = System.Int32.MaxValue
        }

    rejects "hyper_hid_dim" "100000" { cfg with HyperHidDim = 100_000 }
    rejects "input_dim" "300000000" { cfg with InputDim = 300_000_000 }

    rejects
        "r2_decoder_hid_dim"
        "60000"
        { cfg with
            UseR2Decoder = true
            R2DecoderHidDim = 60_000
        }
    // The same R is fine where nothing multiplies it by itself.
    Assert.Empty(
        errorsOf
            { cfg with
                RDim = 30000
                LowRankTemp = true
            }
    )
    // Init refuses at once instead of hanging or being killed.
    let watch = System.Diagnostics.Stopwatch.StartNew()

    Assert.Throws<InvalidConfigException>(fun () -> Init.init { cfg with RDim = 70000 } (Random.key 1) |> ignore)
    |> ignore

    Assert.True(watch.Elapsed.TotalSeconds < 5.0, $"took {watch.Elapsed}")

[<Fact>]
let ``The memory estimate counts every parameter and refuses what the machine cannot hold`` () =
    for nonlin, lowRank, dynBias, r2Dec in
        [
            false, false, false, false
            true, true, true, true
            true, false, true, false
            false, true, false, true
        ] do
        let cfg =
            { Config.defaults 7 with
                RDim = 5
                R2Dim = 3
                MixDim = 4
                HyperHidDim = 6
                R2DecoderHidDim = 9
                NonlinDecoder = nonlin
                LowRankTemp = lowRank
                DynBias = dynBias
                UseR2Decoder = r2Dec
            }

        let p = Init.init cfg (Random.key 2)
        let count = ParamTree.leaves p |> List.sumBy (fun (_, v) -> int64 v.Length)
        let e = Memory.estimate cfg 16 100
        Assert.Equal(count, e.Parameters)
        Assert.True(e.BatchBytes > 0L && e.TotalBytes = e.ParameterBytes + e.BatchBytes)
        Config.checkMemory cfg 16 100

    // Near the largest array: rejected exactly when the parameters do not fit this machine.
    let big =
        { Config.defaults 20 with
            RDim = 11000
            MixDim = 17
        }

    let e = Memory.estimate big 0 0
    Assert.True(e.LargestArray <= int64 System.Array.MaxLength)
    Assert.Equal(e.ParameterBytes > e.AvailableBytes, not (errorsOf big).IsEmpty)
    // A batch that cannot fit names the sizes; products saturate instead of wrapping.
    let cfg = Config.defaults 20

    let m =
        Assert.Throws<System.ArgumentException>(fun () -> Config.checkMemory cfg System.Int32.MaxValue 1_000_000)

    Assert.Contains("batch = 2147483647 windows of 1000000 steps", m.Message)
    Assert.Contains("r_dim = 10", m.Message)
    Assert.True((Memory.estimate cfg System.Int32.MaxValue System.Int32.MaxValue).TotalBytes > 0L)

[<Fact>]
let ``The memory estimate's counts and bytes equal an independent count of the parameter layout`` () =
    // Parameters: the sum of ParamLayout's leaf sizes; the largest array: the largest leaf (its key,
    // on a tie, the first of: spatial decoder, temporal, hypernetwork, r2 decoder); 10 float64
    // copies of the parameters; per batch, 2 float64 copies of each window's trajectory and the
    // kernels' per-sample workspace.
    let check (cfg: Config) (batch: int) (window: int) (key: string) =
        let e = Memory.estimate cfg batch window

        let sizes =
            ParamLayout.expected cfg
            |> List.map (fun (_, s) -> s |> Array.fold (fun a d -> a * int64 d) 1L)

        let d, r, r2, m =
            int64 cfg.InputDim, int64 cfg.RDim, int64 cfg.R2Dim, int64 cfg.MixDim

        let h, h2 = int64 cfg.HyperHidDim, int64 cfg.R2DecoderHidDim
        let perStep = 3L * d + 6L * r + 4L * r2 + 3L * m + 6L * h + 3L * h2
        let b, t = int64 batch, int64 window
        Assert.Equal(List.sum sizes, e.Parameters)
        Assert.Equal(List.max sizes, e.LargestArray)
        Assert.Equal(key, e.LargestArrayKey)
        Assert.Equal(e.Parameters * 10L * 8L, e.ParameterBytes)
        Assert.Equal((b * t * perStep + b * (m * r + perStep)) * 2L * 8L, e.BatchBytes)
        Assert.Equal(e.ParameterBytes + e.BatchBytes, e.TotalBytes)

    let small =
        { Config.defaults 7 with
            RDim = 5
            R2Dim = 3
            MixDim = 4
            HyperHidDim = 6
            R2DecoderHidDim = 9
        }

    check (Config.defaults 20) 16 200 "hyper_hid_dim"
    check { small with UseR2Decoder = true } 3 50 "r_dim"

    check
        { small with
            NonlinDecoder = true
            LowRankTemp = true
            DynBias = true
            UseR2Decoder = true
        }
        16
        100
        "r2_decoder_hid_dim"
    // Ties: the linear decoder (D·R = 1500) with the temporal matrices (M·R·R = 1500) ...
    check
        { Config.defaults 150 with
            HyperHidDim = 30
        }
        4
        10
        "input_dim"
    // ... and the nonlinear decoder (H·H = 100) with them (M·R·R = 100).
    check
        { Config.defaults 10 with
            MixDim = 1
            R2Dim = 10
            HyperHidDim = 10
            NonlinDecoder = true
        }
        2
        3
        "hyper_hid_dim"

    // Sizes whose products pass an int: exact in int64.
    let e = Memory.estimate { Config.defaults 20 with RDim = 70000 } 0 0

    Assert.Equal(
        (73501403735L, 73500000000L, "r_dim", 5880112298800L, 0L),
        (e.Parameters, e.LargestArray, e.LargestArrayKey, e.ParameterBytes, e.BatchBytes)
    )

    // Products that pass int64 saturate.
    let huge =
        { Config.defaults System.Int32.MaxValue with
            RDim = System.Int32.MaxValue
            MixDim = System.Int32.MaxValue
            HyperHidDim = System.Int32.MaxValue
            DynBias = true
        }

    let e = Memory.estimate huge System.Int32.MaxValue System.Int32.MaxValue
    let most = System.Int64.MaxValue

    Assert.Equal(
        (most, most, "r_dim", most, most, most),
        (e.Parameters, e.LargestArray, e.LargestArrayKey, e.ParameterBytes, e.BatchBytes, e.TotalBytes)
    )

[<Fact>]
let ``SAFE sparsity and saturation are off by default, with upstream JAX's ratio and scales`` () =
    let cfg = Config.defaults 6
    Assert.Equal((0.0, 0.25), (cfg.SparsityWSafe, cfg.WMinActiveRatio))
    Assert.Equal((Saturation.None, Saturation.None), (cfg.SaturateR, cfg.SaturateR2))
    Assert.Equal((5.0, 3.0), (cfg.SaturateRScale, cfg.SaturateR2Scale))

[<Fact>]
let ``SAFE's weight and ratio and the saturation scales are range-checked by name`` () =
    let cfg = Config.defaults 6
    rejects "sparsity_w_safe" "-0.1" { cfg with SparsityWSafe = -0.1 }
    rejects "w_min_active_ratio" "-0.1" { cfg with WMinActiveRatio = -0.1 }
    rejects "w_min_active_ratio" "1.5" { cfg with WMinActiveRatio = 1.5 }
    rejects "saturate_r_scale" "0" { cfg with SaturateRScale = 0.0 }
    rejects "saturate_r2_scale" "-3" { cfg with SaturateR2Scale = -3.0 }

    Assert.True(
        Config.errors
            { cfg with
                WMinActiveRatio = 1.0
                SparsityWSafe = 2.0
            }
        |> List.isEmpty
    )

[<Fact>]
let ``The saturation methods read upstream JAX's spellings and this project's case names`` () =
    for upstream, name, expected in
        [
            "none", "None", Saturation.None
            "sigmoid", "Sigmoid", Saturation.Sigmoid
            "tanh", "Tanh", Saturation.Tanh
            "scaled_tanh", "ScaledTanh", Saturation.ScaledTanh
        ] do
        for text in [ upstream; name ] do
            let cfg =
                ConfigJson.parse
                    $"""{{"input_dim": 4, "saturate_r_method": "{text}", "saturate_r2_method": "{text}"}}"""

            Assert.Equal((expected, expected), (cfg.SaturateR, cfg.SaturateR2))
            // Written with the case name, which reads back to the same value.
            Assert.Contains($"\"saturate_r_method\": \"{name}\"", ConfigJson.toJson cfg)

    let ex =
        Assert.Throws<InvalidConfigException>(fun () ->
            ConfigJson.parse """{"input_dim": 4, "saturate_r2_method": "softsign"}"""
            |> ignore)

    Assert.Contains("saturate_r2_method = \"softsign\"", ex.Message)
    // Upstream spellings are only accepted for the saturation methods.
    Assert.Throws<InvalidConfigException>(fun () ->
        ConfigJson.parse """{"input_dim": 4, "loss_type": "mse"}""" |> ignore)
    |> ignore

[<Fact>]
let ``A preset sets only its options, and an unknown preset is an error naming the known ones`` () =
    let cfg =
        { Config.defaults 6 with
            RDim = 7
            LearningRateH = 0.5
        }

    for preset in Presets.all do
        let applied = Presets.apply preset.Name cfg
        // Every option the preset names takes the preset's value …
        let json = ConfigJson.toJson applied

        for key, value in preset.Options do
            Assert.Contains($"\"{key}\"", json)
            let o = ConfigOptions.find key
            Assert.Equal<obj>(ConfigOptions.parse o value, ConfigOptions.get o applied)

        // … and every other option keeps its value.
        for o in ConfigOptions.all do
            if not (preset.Options |> List.exists (fun (k, _) -> k = o.Key)) then
                Assert.Equal<obj>(ConfigOptions.get o cfg, ConfigOptions.get o applied)

    let recovery = Presets.apply "recovery" cfg

    Assert.Equal((0.00003, 0.003, 0.003), (recovery.LearningRateH, recovery.LearningRateS, recovery.LearningRateT))

    let ex =
        Assert.Throws<System.ArgumentException>(fun () -> Presets.apply "nosuch" cfg |> ignore)

    Assert.Contains("\"recovery\"", ex.Message)

[<Fact>]
let ``The paper presets set upstream's two SLDS configurations`` () =
    // From a configuration far from both, so that every value below comes from the preset.
    let far =
        { Config.defaults 20 with
            RDim = 3
            R2Dim = 3
            MixDim = 3
            HyperHidDim = 7
            MaxIter = 11
            Tol = 0.5
            LrR = 0.7
            LrR2 = 0.7
            OrthAlphaR2 = 0.0
            L1InfR2 = 0.9
            GradNorm = false
            ClipGrad = 3.0
            LearningRateS = 0.5
            LearningRateT = 0.5
            LearningRateH = 0.5
            WeightDecay = 0.5
            SequenceLength = 50
            Overlap = 50
            NumEpochs = 7
            LearningRateSchedule = LearningRateSchedule.Constant
            ScheduleTransitionSteps = 7
            ScheduleDecay = 0.5
        }

    let pt = Presets.apply "paper-pytorch" far
    Assert.Equal((10, 5, 15, 50), (pt.RDim, pt.R2Dim, pt.MixDim, pt.HyperHidDim))
    Assert.Equal((2000, 0.01, 0.2, 0.2), (pt.MaxIter, pt.Tol, pt.LrR, pt.LrR2))
    Assert.Equal((5.0, true, 500.0), (pt.OrthAlphaR2, pt.GradNorm, pt.ClipGrad))
    Assert.Equal((0.01, 0.01, 0.001, 1e-5), (pt.LearningRateS, pt.LearningRateT, pt.LearningRateH, pt.WeightDecay))
    Assert.Equal(LearningRateSchedule.Halving, pt.LearningRateSchedule)
    Assert.Equal((200, 20, 1500), (pt.SequenceLength, pt.Overlap, pt.NumEpochs))
    Assert.Equal(20, pt.InputDim)

    let jx = Presets.apply "paper-jax" far
    Assert.Equal((8, 8, 8, 32), (jx.RDim, jx.R2Dim, jx.MixDim, jx.HyperHidDim))
    Assert.Equal((250, 0.01, 0.01, 0.01, 0.05), (jx.MaxIter, jx.Tol, jx.LrR, jx.LrR2, jx.L1InfR2))
    Assert.Equal(BatchScaling.PerSample, jx.BatchScaling)
    Assert.Equal((Saturation.ScaledTanh, 5.0), (jx.SaturateR, jx.SaturateRScale))
    Assert.Equal((0.02, 0.25), (jx.SparsityWSafe, jx.WMinActiveRatio))
    Assert.Equal((false, 1.0), (jx.GradNorm, jx.ClipGrad))
    Assert.Equal((0.01, 0.01, 0.001, 1e-5), (jx.LearningRateS, jx.LearningRateT, jx.LearningRateH, jx.WeightDecay))

    Assert.Equal(
        (LearningRateSchedule.Exponential, 100, 0.96),
        (jx.LearningRateSchedule, jx.ScheduleTransitionSteps, jx.ScheduleDecay)
    )

    Assert.Equal((200, 20, 1000), (jx.SequenceLength, jx.Overlap, jx.NumEpochs))
    // Windows of 200 steps starting 20 apart: the paper's 200 000 training steps give 9 991.
    Assert.Equal(
        9991,
        Array3D.length1 (Series.windowsStrided jx.SequenceLength jx.Overlap (Array2D.zeroCreate 200000 1))
    )

[<Fact>]
let ``The default schedule options keep upstream PyTorch's StepLR, and the new options are range-checked`` () =
    let d = Config.defaults 6

    Assert.Equal(
        (LearningRateSchedule.Halving, 100, 0.96),
        (d.LearningRateSchedule, d.ScheduleTransitionSteps, d.ScheduleDecay)
    )

    let fields (cfg: Config) =
        Config.errors cfg |> List.map _.Field |> List.sort

    Assert.Equal<string list>([ "schedule_transition_steps" ], fields { d with ScheduleTransitionSteps = 0 })
    Assert.Equal<string list>([ "schedule_decay" ], fields { d with ScheduleDecay = 0.0 })
    Assert.Equal<string list>([ "schedule_decay" ], fields { d with ScheduleDecay = 1.5 })
    Assert.Empty(fields { d with ScheduleDecay = 1.0 })

[<Fact>]
let ``The memory check refuses a full batch that cannot fit, naming the estimate and the available memory`` () =
    let cfg = Presets.apply "paper-jax" (Config.defaults 20)
    // The paper's full batch (9 991 windows of 200 steps) with windows 10 000 times longer: about
    // 150 TiB by the estimate, more than any machine this runs on.
    let e = Memory.estimate cfg 9991 2_000_000

    let m =
        Assert.Throws<System.ArgumentException>(fun () -> Config.checkMemory cfg 9991 2_000_000)

    Assert.True(e.TotalBytes > e.AvailableBytes)
    Assert.Contains("batch = 9991 windows of 2000000 steps", m.Message)
    Assert.Contains(Memory.gibText e.TotalBytes + " needed", m.Message)
    Assert.Contains("more than the " + Memory.gibText e.AvailableBytes + " available", m.Message)
