/// Other implementations of training and evaluation, chosen by `--backend NAME` (`tidhy train`,
/// `tidhy eval`) and timed by `tidhy bench`. The `tidhy` tool registers none, so that it (and the
/// demo) never needs TorchSharp; `tidhy-torch` (src/TiDHy.Torch.Cli, which references TiDHy.Torch)
/// registers "torch" and then runs these same commands.
module TiDHy.Cli.Backends

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

/// The backend and device that `--backend NAME` and `--device DEV` choose: `None` for the core
/// (no `--backend`, or `--backend core`); a usage error for an unknown name, a device without a
/// backend or a device the backend does not take, and a user error for a device this machine lacks
/// (`Backend.CheckDevice`).
let resolve (name: string option) (device: string option) : (Backend * string) option =
    match name with
    | None
    | Some "core" ->
        match device with
        | Some d -> usage $"--device {d}: the core backend runs on the CPU; --device goes with --backend torch."
        | None -> None
    | Some n ->
        match registry.TryGetValue n with
        | true, b ->
            let d = defaultArg device b.DefaultDevice
            b.CheckDevice d
            Some(b, d)
        | _ ->
            let here = String.concat ", " ("core" :: (registered () |> List.map _.Name))

            usage
                $"--backend {n}: not in this program (it has: {here}). The torch backend runs in `tidhy-torch` (src/TiDHy.Torch.Cli), which carries TorchSharp; `tidhy` stays free of it."

/// The engine that runs a command: the registered backend's on its device (`resolve`), or the
/// core's for the configuration's `backend` (`Train.engine`).
let engineOf (choice: (Backend * string) option) (cfg: Config) : Engine =
    match choice with
    | Some(b, device) -> b.Engine device
    | None -> Train.engine cfg.Backend
