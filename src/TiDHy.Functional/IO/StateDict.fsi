namespace TiDHy.Functional

/// The state_dict file format: `ParamLayout`'s named tensors as JSON
/// (`{name: {"shape": [...], "data": [...]}}`), so that weights trained upstream load here and
/// weights trained here load upstream.
[<RequireQualifiedAccess>]
module StateDict =

    /// Reads one tensor `{"shape": [...], "data": [...]}`; `what` names it in errors.
    val tensorOfJson: what: string -> e: System.Text.Json.JsonElement -> NamedTensor

    /// Reads a state_dict object `{name: tensor, ...}` (the fixtures' `params` format); a name given
    /// twice is an error naming it.
    val ofJsonElement: e: System.Text.Json.JsonElement -> Map<string, NamedTensor>

    /// Parses a state_dict from JSON text.
    val parseJson: text: string -> Map<string, NamedTensor>

    /// The JSON text of a state_dict, numbers in round-trip form.
    val toJson: entries: (string * NamedTensor) list -> string

    /// Reads a state_dict JSON file and converts it for `cfg` (see `ParamLayout.toParams`); errors name the file.
    val load: cfg: Config -> path: string -> Params

    /// Writes the state_dict of `p` as JSON to `path`, atomically: a temporary file beside it is
    /// written, then renamed, so that a failure leaves any existing file intact. Raises
    /// `StateDictException` naming the tensor when a value is NaN or infinite, writing nothing.
    val save: path: string -> p: Params -> unit
