namespace TiDHy.Torch

open System
open TorchSharp
open TiDHy.Functional

/// The floating-point precision of the torch backend's tensors.
[<RequireQualifiedAccess>]
type Precision =
    /// float64: equal to the reference path to rounding.
    | Float64
    /// float32: faster (above all on a GPU), results within about 1e-3 of float64.
    | Float32

/// Where and in what precision the torch backend computes: `Device` is a TorchSharp device name
/// (`"cpu"`, `"cuda"`, `"cuda:0"`, …), the caller's choice; nothing in the backend assumes a CPU.
type TorchOptions =
    {
        /// The device name, e.g. `"cpu"` or `"cuda:0"`.
        Device: string
        /// The tensors' precision.
        Precision: Precision
    }

/// Constructors of `TorchOptions`.
[<RequireQualifiedAccess>]
module TorchOptions =

    /// float64 on the CPU (the options under which the backend is exact against the fixtures).
    let cpu =
        {
            Device = "cpu"
            Precision = Precision.Float64
        }

    /// float64 on device `device` (`"cpu"`, `"cuda:0"`, …).
    let onDevice (device: string) =
        {
            Device = device
            Precision = Precision.Float64
        }

/// Why the torch backend cannot compute on a device (`TorchDevice.problem`).
[<RequireQualifiedAccess>]
type DeviceProblem =
    /// Not a device name the backend takes (it takes `cpu`, `cuda` and `cuda:N`); the reason.
    | Unknown of string
    /// A CUDA device this machine lacks; the reason.
    | Unavailable of string

/// Checks of device names.
[<RequireQualifiedAccess>]
module TorchDevice =

    /// Why the torch backend cannot compute on `device` here, as one line, or `None` when it can:
    /// the names are `cpu`, `cuda` (the first CUDA device) and `cuda:N` (N from 0); a CUDA device
    /// must exist (TorchSharp's CUDA libraries loaded and the index below the device count).
    let problem (device: string) : DeviceProblem option =
        let cudaIndex =
            match device with
            | null -> None
            | "cuda" -> Some 0
            | d when d.StartsWith("cuda:", StringComparison.Ordinal) ->
                let digits = d.Substring 5

                match
                    Int32.TryParse(digits, Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture)
                with
                | true, i -> Some i
                | _ -> Some -1
            | _ -> None

        match device, cudaIndex with
        | "cpu", _ -> None
        | _, Some i when i < 0 ->
            Some(DeviceProblem.Unknown $"'{device}' is not a device: expected cpu, cuda or cuda:N (N = 0, 1, …).")
        | _, Some i ->
            let available =
                try
                    torch.cuda.is_available ()
                with _ ->
                    false

            if not available then
                Some(
                    DeviceProblem.Unavailable
                        $"'{device}': no CUDA device here (no GPU, or TorchSharp's CPU-only libraries); use cpu."
                )
            else
                let count = torch.cuda.device_count ()

                if i >= count then
                    Some(
                        DeviceProblem.Unavailable
                            $"'{device}': this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}."
                    )
                else
                    None
        | _ -> Some(DeviceProblem.Unknown $"'{device}' is not a device: expected cpu, cuda or cuda:N (N = 0, 1, …).")

/// The device and dtype that every tensor of one call lives on.
type internal Ctx =
    {
        Device: torch.Device
        DType: torch.ScalarType
    }

/// Arithmetic with scalars that stays safe under garbage collection. A TorchSharp `Scalar` owns
/// native memory that its finalizer frees, and nothing holds a temporary one while the native call
/// that reads it runs: `t * x.ToScalar()`, TorchSharp's own implicit conversions (`t * 2.0`), and
/// the scalars that TorchSharp makes inside `Tensor.add(Tensor)` (alpha 1), `square()` (`pow(2)`)
/// and `elu(alpha)`. A collection on another thread can then free the scalar mid-call (libtorch
/// fails `INTERNAL ASSERT FAILED at c10/core/Scalar.h`, or reads freed memory). Tensors are safe:
/// the dispose scopes hold them. So every scalar this backend hands to TorchSharp is one of the
/// constants below, alive for the whole process, or is made by `withScalar`, which disposes it only
/// after the call has returned. `ScalarSafetyTests` checks the compiled code for the other forms.
module internal TensorOps =

    type private Tensor = torch.Tensor

    /// The integer 1, as `Tensor.add(Tensor)` passes it for alpha.
    let private one = (1).ToScalar()

    /// The integer 2, as `Tensor.square()` passes it to `pow`.
    let private two = (2).ToScalar()

    /// 1.0, ELU's alpha, scale and input scale (`Tensor.elu(1.0)`).
    let private oneF = (1.0).ToScalar()

    /// `f s` with `s` the scalar `x`, alive until `f` has returned (`use` disposes it only then).
    let withScalar (x: float) (f: Scalar -> Tensor) : Tensor =
        use s = x.ToScalar()
        f s

    /// `a + b`, element-wise (broadcasting).
    let (+.) (a: Tensor) (b: Tensor) : Tensor = a.add (b, one)

    /// `t·x`.
    let ( *. ) (t: Tensor) (x: float) : Tensor = withScalar x (fun s -> t * s)

    /// `t/x`.
    let (/.) (t: Tensor) (x: float) : Tensor = withScalar x (fun s -> t / s)

    /// `t + x`.
    let (+%) (t: Tensor) (x: float) : Tensor = withScalar x (fun s -> t.add (s, one))

    /// `t − x`.
    let (-%) (t: Tensor) (x: float) : Tensor = withScalar x (fun s -> t - s)

    /// `t²` (`Tensor.square()`, that is `pow(t, 2)`).
    let sq (t: Tensor) : Tensor = t.pow two

    /// `max(t, x)`.
    let clampMin (x: float) (t: Tensor) : Tensor = withScalar x (fun s -> t.clamp_min s)

    /// `elu(t)` with alpha 1 (`torch.nn.functional.elu(t, 1.0)`).
    let elu (t: Tensor) : Tensor = t.elu (oneF, oneF, oneF)

/// Small helpers over TorchSharp: conversions between .NET arrays and tensors.
module internal T =

    open TensorOps

    type Tensor = torch.Tensor

    let ctx (o: TorchOptions) : Ctx =
        if String.IsNullOrWhiteSpace o.Device then
            invalidArg "options" "options.Device: expected a device name such as \"cpu\" or \"cuda:0\"."

        match TorchDevice.problem o.Device with
        | Some(DeviceProblem.Unknown why)
        | Some(DeviceProblem.Unavailable why) -> invalidArg "options" $"options.Device: {why}"
        | None -> ()

        let device =
            try
                torch.device o.Device
            with ex ->
                // One line: TorchSharp's messages can carry a native trace after a line break.
                let first = ex.Message.Split('\n').[0].Trim()
                invalidArg "options" $"options.Device: '{o.Device}' is not a TorchSharp device ({first})."

        {
            Device = device
            DType =
                match o.Precision with
                | Precision.Float64 -> torch.ScalarType.Float64
                | Precision.Float32 -> torch.ScalarType.Float32
        }

    let ofFlat (c: Ctx) (data: float[]) (shape: int[]) : Tensor =
        let t = torch.tensor (data, dtype = Nullable c.DType, device = c.Device)
        t.reshape (shape |> Array.map int64)

    let ofMatrix (c: Ctx) (a: float[,]) : Tensor =
        torch.tensor (a, dtype = Nullable c.DType, device = c.Device)

    let ofArray3 (c: Ctx) (a: float[,,]) : Tensor =
        torch.tensor (a, dtype = Nullable c.DType, device = c.Device)

    let zeros (c: Ctx) (shape: int64 list) : Tensor =
        torch.zeros (List.toArray shape, dtype = Nullable c.DType, device = c.Device)

    /// The values of `t` as float64 on the host, row-major.
    let toFlat (t: Tensor) : float[] =
        use _ = torch.NewDisposeScope()
        let h = t.detach().cpu().to_type(torch.ScalarType.Float64)
        h.contiguous().data<float>().ToArray()

    let toMatrix (t: Tensor) : float[,] =
        let d = toFlat t
        let n0, n1 = int t.shape[0], int t.shape[1]
        Array2D.init n0 n1 (fun i j -> d[i * n1 + j])

    let toArray3 (t: Tensor) : float[,,] =
        let d = toFlat t
        let n0, n1, n2 = int t.shape[0], int t.shape[1], int t.shape[2]
        Array3D.init n0 n1 n2 (fun i j k -> d[(i * n1 + j) * n2 + k])

    let toArray4 (t: Tensor) : float[,,,] =
        let d = toFlat t
        let n0, n1, n2, n3 = int t.shape[0], int t.shape[1], int t.shape[2], int t.shape[3]
        Array4D.init n0 n1 n2 n3 (fun i j k l -> d[((i * n1 + j) * n2 + k) * n3 + l])

    let toBools (t: Tensor) : bool[] =
        use _ = torch.NewDisposeScope()
        let h = t.detach().cpu()
        h.contiguous().data<bool>().ToArray()

    let scalar (t: Tensor) : float =
        use _ = torch.NewDisposeScope()
        let h = t.detach().cpu().to_type(torch.ScalarType.Float64)
        h.item<float>()

    /// `sign(v)·max(|v| − λ, 0)`.
    let softThreshold (lambda: float) (v: Tensor) : Tensor =
        if lambda = 0.0 then
            v
        else
            v.sign () * clampMin 0.0 (v.abs () -% lambda)

    /// `Inference.saturate` on every entry: the bound applied to `r` or `r2` after each inference
    /// step (`saturate_r_method`, `saturate_r2_method`; `scale` is used by `ScaledTanh` only).
    let saturate (method: Saturation) (scale: float) (v: Tensor) : Tensor =
        match method with
        | Saturation.None -> v
        | Saturation.Sigmoid -> v.sigmoid ()
        | Saturation.Tanh -> v.tanh ()
        | Saturation.ScaledTanh -> (v /. scale).tanh() *. scale

/// A model's parameters as tensors, in `ParamLayout.expected` order (state_dict names).
type internal TParams =
    {
        Names: string[]
        Leaves: T.Tensor[]
    }

    member p.Get(name: string) =
        match Array.IndexOf(p.Names, name) with
        | -1 -> invalidOp $"no parameter '{name}'"
        | i -> p.Leaves[i]

    member p.TryGet(name: string) =
        match Array.IndexOf(p.Names, name) with
        | -1 -> None
        | i -> Some p.Leaves[i]

/// Moving parameters between `Params` records and tensors.
module internal TParams =

    /// Raises an ArgumentException unless `p` has the shapes `cfg` requires.
    let check (cfg: Config) (p: Params) = Model.checkParams cfg p

    /// The parameters on the device (one copy each, not requiring gradients).
    let ofParams (c: Ctx) (cfg: Config) (p: Params) : TParams =
        check cfg p
        let leaves = ParamLayout.ofParams p

        {
            Names = leaves |> List.map fst |> List.toArray
            Leaves = leaves |> List.map (fun (_, t) -> T.ofFlat c t.Data t.Shape) |> List.toArray
        }

    /// The parameters as a `Params` record (copied to the host in float64).
    let toParams (cfg: Config) (p: TParams) : Params =
        let entries =
            Array.map2
                (fun (n: string) (t: T.Tensor) ->
                    n,
                    {
                        Shape = t.shape |> Array.map int
                        Data = T.toFlat t
                    })
                p.Names
                p.Leaves
            |> Map.ofArray

        ParamLayout.toParams cfg entries

    /// The same names with other tensors.
    let withLeaves (p: TParams) (leaves: T.Tensor[]) = { Names = p.Names; Leaves = leaves }

    /// Every leaf detached from the autograd graph (sharing storage).
    let detach (p: TParams) =
        withLeaves p (p.Leaves |> Array.map (fun t -> t.detach ()))
