namespace TiDHy.Functional

open System

/// A named set of option values that `Presets.apply` sets on a configuration (`tidhy train
/// --preset`, `tidhy demo --preset`): the options it names change, every other option keeps its
/// value.
type Preset =
    {
        /// The preset's name, e.g. `recovery`.
        Name: string
        /// What it is for and where its values come from, in one line.
        Doc: string
        /// The options it sets, as `(upstream key, value)` with the value in the option's own terms
        /// (`ConfigOptions.parse`: a number or `true` / `false` as JSON writes it, a case name).
        Options: (string * string) list
    }

/// The named presets (`Presets.all`) and how to apply one.
[<RequireQualifiedAccess>]
module Presets =

    /// Every preset, by name.
    let all: Preset list =
        [
            {
                Name = "recovery"
                Doc =
                    "the best settings of docs/SWEEP.md for recovering discrete states on the SLDS benchmark over long training: the hypernetwork learns about 33 times slower (learning_rate_h = 3e-5), which keeps W from collapsing onto one or two components, and the spatial decoder and the dynamics about 3 times slower (learning_rate_s = learning_rate_t = 3e-3), which steadies recovery across seeds."
                Options =
                    [
                        "learning_rate_h", "0.00003"
                        "learning_rate_s", "0.003"
                        "learning_rate_t", "0.003"
                    ]
            }
            {
                Name = "paper-pytorch"
                Doc =
                    "the paper's SLDS configuration of upstream's PyTorch era (da3d280): R 10, R2 5, M 15, H 50, inference max_iter 2000 with lr_r = lr_r2 = 0.2, Orth_alpha_r2 5, GradNorm, learning rates 0.01 / 0.01 / 0.001 halved every num_epochs div 5 epochs, 1500 epochs on windows of 200 steps starting 20 apart; upstream trained it in batches of 32 768 windows, more than the 9 991 of the paper's data: full batch (tidhy train --full-batch)."
                Options =
                    [
                        "r_dim", "10"
                        "r2_dim", "5"
                        "mix_dim", "15"
                        "hyper_hid_dim", "50"
                        "max_iter", "2000"
                        "tol", "0.01"
                        "lr_r", "0.2"
                        "lr_r2", "0.2"
                        "Orth_alpha_r2", "5"
                        "grad_norm", "true"
                        "clip_grad", "500"
                        "learning_rate_s", "0.01"
                        "learning_rate_t", "0.01"
                        "learning_rate_h", "0.001"
                        "weight_decay", "1e-5"
                        "lr_schedule", "Halving"
                        "sequence_length", "200"
                        "overlap", "20"
                        "num_epochs", "1500"
                    ]
            }
            {
                Name = "paper-jax"
                Doc =
                    "the paper's SLDS configuration of upstream's JAX code (HEAD, configs/model/r2_sparse.yaml and dataset/SLDS.yaml): R 8, R2 8, M 8, H 32, inference max_iter 250 with lr_r = lr_r2 = 0.01 and L1_inf_r2 0.05, r saturated by 5·tanh(r/5), SAFE sparsity 0.02 of w, no GradNorm, gradients clipped to global norm 1, learning rates 0.01 / 0.01 / 0.001 decaying ×0.96 per 100 optimizer steps (optax exponential_decay), weight decay 1e-5, 1000 epochs on windows of 200 steps starting 20 apart, full batch (tidhy train --full-batch)."
                Options =
                    [
                        "r_dim", "8"
                        "r2_dim", "8"
                        "mix_dim", "8"
                        "hyper_hid_dim", "32"
                        "max_iter", "250"
                        "tol", "0.01"
                        "lr_r", "0.01"
                        "lr_r2", "0.01"
                        "L1_inf_r2", "0.05"
                        "batch_scaling", "PerSample"
                        "saturate_r_method", "ScaledTanh"
                        "saturate_r_scale", "5"
                        "sparsity_w_safe", "0.02"
                        "w_min_active_ratio", "0.25"
                        "grad_norm", "false"
                        "clip_grad", "1"
                        "learning_rate_s", "0.01"
                        "learning_rate_t", "0.01"
                        "learning_rate_h", "0.001"
                        "weight_decay", "1e-5"
                        "lr_schedule", "Exponential"
                        "schedule_transition_steps", "100"
                        "schedule_decay", "0.96"
                        "sequence_length", "200"
                        "overlap", "20"
                        "num_epochs", "1000"
                    ]
            }
        ]

    /// The preset named `name`, if any.
    let tryFind (name: string) : Preset option =
        all |> List.tryFind (fun p -> p.Name = name)

    /// `cfg` with the options of `preset` set; raises `InvalidConfigException` for a value that is
    /// none of its option's or if the result is invalid.
    let applyPreset (preset: Preset) (cfg: Config) : Config =
        preset.Options
        |> List.fold
            (fun cfg (key, text) ->
                let o = ConfigOptions.find key
                ConfigOptions.set o (ConfigOptions.parse o text) cfg)
            cfg
        |> Config.validateOrThrow

    /// `cfg` with the options of the preset named `name` set; raises an ArgumentException naming the
    /// known presets for an unknown name.
    let apply (name: string) (cfg: Config) : Config =
        match tryFind name with
        | Some p -> applyPreset p cfg
        | None ->
            let known = all |> List.map _.Name |> ConfigOptions.quotedList
            invalidArg (nameof name) $"preset \"{name}\": no such preset; expected {known}."
