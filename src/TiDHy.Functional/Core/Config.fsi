namespace TiDHy.Functional

// ModuleSuffix: compiled as `ConfigModule` (the name C# sees), beside the record of ConfigTypes.fs.
/// A configuration's defaults, its loss names and its validation.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Config =

    /// Upstream's SLDS configuration (MODEL.md "Defaults"), for `inputDim` observation features:
    /// every option's declared default.
    val defaults: inputDim: int -> Config

    /// Parses upstream's `loss_type` ("MSE", "BCE", "Poisson"); any other name is an error naming it.
    val parseLoss: name: string -> LossKind

    /// Upstream's `loss_type` name of a loss (its case name).
    val lossName: loss: LossKind -> string

    /// The number of hypernetwork outputs `O`: `M + R` with a dynamic bias, else `M`
    /// (`ParamShapes.hyperOutputs` as an int).
    val hyperOutDim: cfg: Config -> int

    /// Every problem with `cfg` (empty when it is valid), in field order: a value outside its
    /// declared range (`ConfigOption` `Min` / `Max` / `MaxKey`: a dimension ≤ 0, `max_iter < 10`, a
    /// negative rate, weight or threshold, `clip_grad ≤ 0`, an overlap (window step) outside
    /// `[1, sequence_length]`) or a NaN or infinite number; when the values are valid, sizes whose
    /// products (checked, see `Memory.estimate`) make a parameter array larger than a .NET array
    /// holds or the parameters with training's copies larger than the available memory.
    val errors: cfg: Config -> ConfigError list

    /// `Ok cfg` when `cfg` is valid, else `Error` with every problem (see `errors`).
    val validate: cfg: Config -> Result<Config, ConfigError list>

    /// Raises an ArgumentException naming the sizes, the batch and the window length when
    /// `Memory.estimate cfg batch windowLength` exceeds the available memory; call it before
    /// allocating batches (training, evaluation).
    val checkMemory: cfg: Config -> batch: int -> windowLength: int -> unit

    /// Returns `cfg` when it is valid; raises `InvalidConfigException` naming each bad field otherwise.
    val validateOrThrow: cfg: Config -> Config
