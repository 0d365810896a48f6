namespace TiDHy.Functional

/// Reading and writing a `Config` as JSON with upstream's hyperparameter names (MODEL.md), as in
/// the fixtures' `config` object. Missing keys take `Config.defaults`; unknown keys are rejected.
[<RequireQualifiedAccess>]
module ConfigJson =

    /// Upstream keys that this port accepts and ignores, because upstream's model stores them but
    /// never uses them in the computations of MODEL.md (or, for `learning_rate_gamma`, fixes them).
    val ignoredUpstreamKeys: Set<string>

    /// A JSON number, or one of the strings "NaN", "Infinity", "-Infinity" (how this library writes
    /// non-finite values); `None` for anything else.
    val tryFloat: e: System.Text.Json.JsonElement -> float option

    /// A configuration from a JSON object element with upstream names; a key given twice is an
    /// error naming it. Required options
    /// (`input_dim`) must be given, missing ones take their declared defaults, and `overlap` (the
    /// window step) defaults to `max 1 (sequence_length div 10)`. `batch_converge` and
    /// `convergence` must agree when both are given. The result is validated (`Config.validateOrThrow`).
    val ofElement: json: System.Text.Json.JsonElement -> Config

    /// A configuration from JSON text (see `ofElement`).
    val parse: text: string -> Config

    /// The JSON text of `option`'s value (boxed in the field's type).
    val valueText: option: ConfigOption -> value: obj -> string

    /// Every option of `cfg` as its upstream key and JSON value text, in field order.
    val fields: cfg: Config -> (string * string) list

    /// The JSON object of `cfg`: every option by its upstream key, in field order (the port's own
    /// options `batch_scaling`, `convergence` and `backend` among them); `parse (toJson cfg) = cfg`.
    val toJson: cfg: Config -> string
