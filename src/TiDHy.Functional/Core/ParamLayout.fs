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
/// "Parameters"; `ParamNames` names the leaves, `ParamShapes` lists them with their shapes) and the conversions between `Params` and named
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
                    Weight = mat (ParamNames.layerWeight prefix n)
                    Bias =
                        if bias then
                            Some(vec (ParamNames.layerBias prefix n))
                        else
                            None
                }

            {
                Input = lin ParamNames.InputLayer true
                Norm =
                    {
                        Gamma = vec (ParamNames.layerWeight prefix ParamNames.NormLayer)
                        Beta = vec (ParamNames.layerBias prefix ParamNames.NormLayer)
                    }
                Hidden = lin ParamNames.HiddenLayer true
                Output = lin ParamNames.OutputLayer outBias
            }

        {
            SpatialDecoder =
                if cfg.NonlinDecoder then
                    NonlinearDecoder(mlp ParamNames.SpatialDecoder true)
                else
                    LinearDecoder
                        {
                            Weight = mat ParamNames.SpatialDecoderWeight
                            Bias = Some(vec ParamNames.SpatialDecoderBias)
                        }
            Temporal =
                if cfg.LowRankTemp then
                    let t = get ParamNames.Temporal
                    LowRank(Array3D.init t.Shape[0] t.Shape[1] 2 (fun k i c -> t.Data[(k * t.Shape[1] + i) * 2 + c]))
                else
                    FullRank(mat ParamNames.Temporal)
            TemporalBias =
                if cfg.DynBias then
                    Some(vec ParamNames.TemporalBias)
                else
                    None
            Hypernet = mlp ParamNames.Hypernet (not cfg.DynBias)
            R2Decoder =
                if cfg.UseR2Decoder then
                    Some(mlp ParamNames.R2Decoder true)
                else
                    None
        }

    /// The state_dict of `p`, in upstream's order (copies: changing it does not change `p`).
    let ofParams (p: Params) : (string * NamedTensor) list =
        let mlp prefix (m: MlpParams) =
            [
                yield ParamNames.layerWeight prefix ParamNames.InputLayer, ofMatrix m.Input.Weight
                yield!
                    m.Input.Bias
                    |> Option.map (fun b -> ParamNames.layerBias prefix ParamNames.InputLayer, ofVector b)
                    |> Option.toList
                yield ParamNames.layerWeight prefix ParamNames.NormLayer, ofVector m.Norm.Gamma
                yield ParamNames.layerBias prefix ParamNames.NormLayer, ofVector m.Norm.Beta
                yield ParamNames.layerWeight prefix ParamNames.HiddenLayer, ofMatrix m.Hidden.Weight
                yield!
                    m.Hidden.Bias
                    |> Option.map (fun b -> ParamNames.layerBias prefix ParamNames.HiddenLayer, ofVector b)
                    |> Option.toList
                yield ParamNames.layerWeight prefix ParamNames.OutputLayer, ofMatrix m.Output.Weight
                yield!
                    m.Output.Bias
                    |> Option.map (fun b -> ParamNames.layerBias prefix ParamNames.OutputLayer, ofVector b)
                    |> Option.toList
            ]

        [
            yield
                ParamNames.Temporal,
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
                    ParamNames.TemporalBias,
                    {
                        Shape = [| 1; c.Length |]
                        Data = Array.copy c
                    }
            | None -> ()
            match p.SpatialDecoder with
            | LinearDecoder l ->
                yield ParamNames.SpatialDecoderWeight, ofMatrix l.Weight

                yield!
                    l.Bias
                    |> Option.map (fun b -> ParamNames.SpatialDecoderBias, ofVector b)
                    |> Option.toList
            | NonlinearDecoder m -> yield! mlp ParamNames.SpatialDecoder m
            yield! mlp ParamNames.Hypernet p.Hypernet
            match p.R2Decoder with
            | Some m -> yield! mlp ParamNames.R2Decoder m
            | None -> ()
        ]
