namespace TiDHy.Functional

open System

/// A named tensor as PyTorch's state_dict holds it: a shape and its row-major data.
type NamedTensor =
    {
        /// Dimensions, e.g. `[| 6; 4 |]`; `[||]` for a scalar.
        Shape: int[]
        /// Row-major data; its length is the product of `Shape`.
        Data: float[]
    }

/// Raised when a state_dict does not fit a configuration; the message lists every problem.
exception StateDictException of message: string with
    override e.Message = e.message

/// The parameter layout: the PyTorch state_dict names and shapes of `Params` (MODEL.md
/// "Parameters"; `ParamShapes` writes them) and the conversions between `Params` and named
/// tensors. No file format here:
/// `StateDict` (IO) reads and writes these named tensors as JSON.
[<RequireQualifiedAccess>]
module ParamLayout =

    /// The state_dict names and shapes that `cfg` requires, in upstream's order: `ParamShapes.shapes`
    /// in int (exact for a valid configuration).
    let expected (cfg: Config) : (string * int[]) list =
        ParamShapes.shapes cfg
        |> List.map (fun (name, shape) -> name, Array.map int shape)

    let private matrix (t: NamedTensor) =
        Array2D.init t.Shape[0] t.Shape[1] (fun i j -> t.Data[i * t.Shape[1] + j])

    let private ofMatrix (a: float[,]) =
        {
            Shape = Shape.ofMatrix a
            Data =
                let d = Array.zeroCreate<float> a.Length
                Buffer.BlockCopy(a, 0, d, 0, a.Length * sizeof<float>)
                d
        }

    let private ofVector (v: float[]) =
        {
            Shape = [| v.Length |]
            Data = Array.copy v
        }

    /// Converts a state_dict to `Params` for `cfg`. Every required name must be present with its
    /// exact shape, finite data and no extra names; otherwise raises `StateDictException` listing
    /// every missing, unexpected, misshapen or non-finite tensor.
    let toParams (cfg: Config) (stateDict: Map<string, NamedTensor>) : Params =
        let cfg = Config.validateOrThrow cfg
        let want = expected cfg
        let wanted = want |> List.map fst |> set

        let problems =
            [
                for name, shape in want do
                    match stateDict.TryFind name with
                    | None -> yield $"missing tensor '{name}' (expected shape {Shape.show shape})"
                    | Some t when t.Shape <> shape ->
                        yield $"tensor '{name}' has shape {Shape.show t.Shape}, expected {Shape.show shape}"
                    | Some t when t.Data.Length <> Array.fold (*) 1 shape ->
                        yield $"tensor '{name}' has {t.Data.Length} values for shape {Shape.show shape}"
                    | Some t ->
                        match t.Data |> Array.tryFindIndex (Double.IsFinite >> not) with
                        | Some i -> yield $"tensor '{name}' has a non-finite value {t.Data[i]} at flat index {i}"
                        | None -> ()
                for name in stateDict.Keys do
                    if not (wanted.Contains name) then
                        yield $"unexpected tensor '{name}' for this configuration"
            ]

        if not problems.IsEmpty then
            raise (StateDictException("State dict does not match the configuration: " + String.Join("; ", problems)))

        let get name = stateDict[name]
        let vec name = Array.copy (get name).Data
        let mat name = matrix (get name)

        let mlp prefix outBias : MlpParams =
            let lin n bias =
                {
                    Weight = mat $"{prefix}.{n}.weight"
                    Bias = if bias then Some(vec $"{prefix}.{n}.bias") else None
                }

            {
                Input = lin 0 true
                Norm =
                    {
                        Gamma = vec $"{prefix}.1.weight"
                        Beta = vec $"{prefix}.1.bias"
                    }
                Hidden = lin 3 true
                Output = lin 4 outBias
            }

        {
            SpatialDecoder =
                if cfg.NonlinDecoder then
                    NonlinearDecoder(mlp "spatial_decoder" true)
                else
                    LinearDecoder
                        {
                            Weight = mat "spatial_decoder.0.weight"
                            Bias = Some(vec "spatial_decoder.0.bias")
                        }
            Temporal =
                if cfg.LowRankTemp then
                    let t = get "temporal"
                    LowRank(Array3D.init t.Shape[0] t.Shape[1] 2 (fun k i c -> t.Data[(k * t.Shape[1] + i) * 2 + c]))
                else
                    FullRank(mat "temporal")
            TemporalBias = if cfg.DynBias then Some(vec "temporal_bias") else None
            Hypernet = mlp "hypernet" (not cfg.DynBias)
            R2Decoder =
                if cfg.UseR2Decoder then
                    Some(mlp "R2_Decoder" true)
                else
                    None
        }

    /// The state_dict of `p`, in upstream's order (copies: changing it does not change `p`).
    let ofParams (p: Params) : (string * NamedTensor) list =
        let mlp prefix (m: MlpParams) =
            [
                yield $"{prefix}.0.weight", ofMatrix m.Input.Weight
                yield!
                    m.Input.Bias
                    |> Option.map (fun b -> $"{prefix}.0.bias", ofVector b)
                    |> Option.toList
                yield $"{prefix}.1.weight", ofVector m.Norm.Gamma
                yield $"{prefix}.1.bias", ofVector m.Norm.Beta
                yield $"{prefix}.3.weight", ofMatrix m.Hidden.Weight
                yield!
                    m.Hidden.Bias
                    |> Option.map (fun b -> $"{prefix}.3.bias", ofVector b)
                    |> Option.toList
                yield $"{prefix}.4.weight", ofMatrix m.Output.Weight
                yield!
                    m.Output.Bias
                    |> Option.map (fun b -> $"{prefix}.4.bias", ofVector b)
                    |> Option.toList
            ]

        [
            yield
                "temporal",
                (match p.Temporal with
                 | FullRank t -> ofMatrix t
                 | LowRank u ->
                     {
                         Shape = Shape.ofArray3 u
                         Data = Seq.cast<float> u |> Seq.toArray
                     })
            match p.TemporalBias with
            | Some c ->
                yield
                    "temporal_bias",
                    {
                        Shape = [| 1; c.Length |]
                        Data = Array.copy c
                    }
            | None -> ()
            match p.SpatialDecoder with
            | LinearDecoder l ->
                yield "spatial_decoder.0.weight", ofMatrix l.Weight

                yield!
                    l.Bias
                    |> Option.map (fun b -> "spatial_decoder.0.bias", ofVector b)
                    |> Option.toList
            | NonlinearDecoder m -> yield! mlp "spatial_decoder" m
            yield! mlp "hypernet" p.Hypernet
            match p.R2Decoder with
            | Some m -> yield! mlp "R2_Decoder" m
            | None -> ()
        ]
