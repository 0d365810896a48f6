/// Other implementations of training and evaluation, chosen by `--backend NAME` (`tidhy train`,
/// `tidhy eval`) and timed by `tidhy bench`. The `tidhy` tool registers none, so that it (and the
/// demo) never needs TorchSharp; `tidhy-torch` (src/TiDHy.Torch.Cli, which references TiDHy.Torch)
/// registers "torch" and then runs these same commands.
module TiDHy.Cli.Backends

open System
open System.Collections.Generic
open TiDHy.Functional
open TiDHy.Cli.Args

/// A registered implementation; each function takes the device name (`--device`) first.
type Backend =
    {
        /// The `--backend` name, e.g. "torch".
        Name: string
        /// The default `--device`.
        DefaultDevice: string
        /// Checks that `--device` names a device this backend runs on here, before anything is
        /// read or written: a usage error (`Args.usage`) for a name it does not take, a user error
        /// (`Args.fail`) for a device this machine lacks.
        CheckDevice: string -> unit
        /// Checks that the backend implements a configuration, before a run's files are replaced;
        /// a user error (`Args.fail`) naming what it lacks.
        CheckConfig: Config -> unit
        /// The engine on a device (`Train.fitOn`, `Evaluate.evaluateBatchedWith`).
        Engine: string -> Engine
        /// Rows of `tidhy bench`: the device, the batch sizes, JSON lines or text.
        Benchmark: string -> int list -> bool -> unit
    }

let private registry = Dictionary<string, Backend>()

/// Makes `backend` available to `--backend backend.Name`.
let register (backend: Backend) = registry[backend.Name] <- backend

/// The registered backends, by name.
let registered () =
    registry.Values |> Seq.sortBy _.Name |> Seq.toList

/// What `--backend NAME` (and `--device DEV`) choose: the name is the one the configuration's
/// `backend` key takes (`Reference`, `Fused`, `FusedFloat32`, in any spelling that key accepts), a
/// registered backend's (`torch` in `tidhy-torch`), or `core` (the default): the configuration's own.
type Choice =
    /// The core's engine: the configuration's `backend` (`None`), or the one named.
    | Core of TiDHy.Functional.Backend option
    /// A registered backend on a device.
    | Registered of Backend * string

let private configBackend = ConfigOptions.find "backend"

/// The core engine that `name` names as the configuration's `backend` key does, if it does.
let private coreNamed (name: string) =
    try
        Some(ConfigOptions.parse configBackend name :?> TiDHy.Functional.Backend)
    with :? InvalidConfigException ->
        None

/// The choice of `--backend NAME` and `--device DEV`: a usage error for an unknown name, a device
/// with a core engine or a device the backend does not take, and a user error for a device this
/// machine lacks (`Backend.CheckDevice`).
let resolve (name: string option) (device: string option) : Choice =
    let onCpu (choice: Choice) =
        match device with
        | Some d -> usage $"--device {d}: the core's engines run on the CPU; --device goes with --backend torch."
        | None -> choice

    match name with
    | None
    | Some "core" -> onCpu (Core None)
    | Some n ->
        match registry.TryGetValue n with
        | true, b ->
            let d = defaultArg device b.DefaultDevice
            b.CheckDevice d
            Registered(b, d)
        | _ ->
            match coreNamed n with
            | Some backend -> onCpu (Core(Some backend))
            | None ->
                let cases =
                    match configBackend.Kind with
                    | OptionKind.Enum c -> c.Names
                    | _ -> []

                let names = "core" :: cases @ (registered () |> List.map _.Name)
                let here = String.concat ", " names

                match
                    names
                    |> List.tryFind (fun m -> m.Equals(n.Trim(), StringComparison.OrdinalIgnoreCase))
                with
                | Some m ->
                    usage
                        $"--backend {n}: no engine of that name; the names are case-sensitive: did you mean {m}? (it has: {here})"
                | None -> ()

                usage
                    $"--backend {n}: not in this program (it has: {here}). The torch backend runs in `tidhy-torch` (src/TiDHy.Torch.Cli), which carries TorchSharp; `tidhy` stays free of it."

/// `cfg` with the backend that `choice` names (`--backend Reference`, …), as the run records it in
/// its configuration; unchanged for the configuration's own backend or a registered backend.
let configure (choice: Choice) (cfg: Config) : Config =
    match choice with
    | Core(Some backend) -> { cfg with Backend = backend }
    | Core None
    | Registered _ -> cfg

/// The engine that runs a command: a registered backend's on its device, or the core's for the
/// backend named or, by default, the configuration's (`Train.engine`).
let engineOf (choice: Choice) (cfg: Config) : Engine =
    match choice with
    | Registered(b, device) -> b.Engine device
    | Core(Some backend) -> Train.engine backend
    | Core None -> Train.engine cfg.Backend
