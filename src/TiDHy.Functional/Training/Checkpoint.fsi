namespace TiDHy.Functional

/// What a checkpoint file holds: the configuration it was made under and the training state.
type StoredCheckpoint =
    {
        /// The stored configuration.
        Config: Config
        /// The training state.
        State: TrainState
        /// What the fit that wrote it trained on (`None` for checkpoints saved without it, or
        /// written before it was recorded).
        Run: TrainingRun option
    }

/// A checkpoint that cannot be used: unreadable, truncated, corrupted, or made for another
/// configuration. The message names the file and the problem.
exception CheckpointException of string

/// Training checkpoints: the configuration, parameters, AdamW state, GradNorm state, epoch and
/// batch position, stateful carry, metrics history and best model, in one file. The file is a header
/// line `TIDHY-CHECKPOINT 1 sha256=<hex>` followed by a JSON payload whose SHA-256 the header holds,
/// so truncation and corruption are detected. Numbers are written in round-trip form, so a loaded
/// state continues training bit for bit as the saved one would.
[<RequireQualifiedAccess>]
module Checkpoint =

    /// The first word of every checkpoint file.
    [<Literal>]
    val Magic: string = "TIDHY-CHECKPOINT"

    /// The format version this library writes and reads.
    [<Literal>]
    val Version: int = 1

    /// Whether the file at `path` starts with `Magic`, the first word of every checkpoint (a header
    /// probe that reads `Magic.Length` bytes; `read` checks the rest, checksum included). False for
    /// a state_dict JSON or any other file, even a shorter one. Raises the IO exceptions of
    /// `File.OpenRead` (no such file, no permission).
    val isCheckpoint: path: string -> bool

    /// The first non-finite value of `state` as `(quantity, value)`: the parameters, the AdamW
    /// moments, the GradNorm weights and `l0`, the stateful carry and the best model, each leaf named
    /// (`params 'temporal'`, `optimizer.exp_avg_sq 'spatial_decoder.weight'`, …); `None` when all are finite.
    val nonFinite: state: TrainState -> (string * float) option

    /// The bytes of the checkpoint file of training state `s` under `cfg`, recording `run` when
    /// given. Raises `CheckpointException` when `s` holds a NaN or infinite parameter, AdamW moment,
    /// GradNorm weight or `l0`, carry, best model or validation loss: no checkpoint holds one.
    val toBytesWith: cfg: Config -> run: TrainingRun option -> s: TrainState -> byte[]

    /// `toBytesWith cfg None s`.
    val toBytes: cfg: Config -> s: TrainState -> byte[]

    /// Writes the checkpoint of `s` under `cfg` (recording `run` when given) to `path` atomically: a
    /// temporary file beside it is written and flushed, then renamed over `path`, so a failure leaves
    /// any existing checkpoint intact. Raises `CheckpointException` naming `path` and the quantity for
    /// a non-finite state (`toBytesWith`), writing nothing.
    val saveWith: path: string -> cfg: Config -> run: TrainingRun option -> s: TrainState -> unit

    /// `saveWith path cfg None s`.
    val save: path: string -> cfg: Config -> s: TrainState -> unit

    /// The configuration differences between `expected` and `stored`, option by option (the table
    /// `ConfigOptions.all`), as `name: stored in the checkpoint, expected here`.
    val differences: expected: Config -> stored: Config -> string list

    /// Parses checkpoint bytes; `what` names the source in errors. Returns the stored configuration,
    /// training state and run. Raises `CheckpointException` naming `what` and the field for anything
    /// malformed, even under a valid checksum: a count (`epoch`, `batch`, `optimizer.step`, …) that is
    /// not a non-negative integer below 2^31, a missing or mistyped field, duplicate JSON keys, a
    /// NaN or infinite parameter, moment, GradNorm value or validation loss.
    val ofBytes: what: string -> bytes: byte[] -> StoredCheckpoint

    /// Reads the checkpoint at `path`: its stored configuration and training state. Raises
    /// `CheckpointException` naming the file when it cannot be read, is truncated or corrupted.
    val read: path: string -> StoredCheckpoint

    /// Reads the checkpoint at `path` and checks that it was made under `cfg`; raises
    /// `CheckpointException` listing every differing hyperparameter otherwise.
    val load: cfg: Config -> path: string -> TrainState
