namespace TiDHy.Functional

/// The parameter arrays of a configuration, written once: the PyTorch state_dict name (`ParamNames`)
/// and shape of every leaf of `Params` (MODEL.md "Parameters"), in upstream's order. Shapes are int64, so the
/// sizes of any configuration, valid or not, are exact (a product of two int dimensions fits):
/// `Memory.estimate` counts them before validation, and `ParamLayout.expected` is this list in int
/// (exact for a valid configuration).
[<RequireQualifiedAccess>]
module internal ParamShapes =

    /// The number of hypernetwork outputs `O`: `M + R` with a dynamic bias, else `M`.
    let hyperOutputs (cfg: Config) : int64 =
        if cfg.DynBias then
            int64 cfg.MixDim + int64 cfg.RDim
        else
            int64 cfg.MixDim

    let private mlp (prefix: string) (i: int64) (h: int64) (o: int64) (outBias: bool) =
        [
            yield ParamNames.layerWeight prefix ParamNames.InputLayer, [| h; i |]
            yield ParamNames.layerBias prefix ParamNames.InputLayer, [| h |]
            yield ParamNames.layerWeight prefix ParamNames.NormLayer, [| h |]
            yield ParamNames.layerBias prefix ParamNames.NormLayer, [| h |]
            yield ParamNames.layerWeight prefix ParamNames.HiddenLayer, [| h; h |]
            yield ParamNames.layerBias prefix ParamNames.HiddenLayer, [| h |]
            yield ParamNames.layerWeight prefix ParamNames.OutputLayer, [| o; h |]
            if outBias then
                yield ParamNames.layerBias prefix ParamNames.OutputLayer, [| o |]
        ]

    /// The state_dict names and shapes of `cfg`'s parameters, in upstream's order.
    let shapes (cfg: Config) : (string * int64[]) list =
        let d, r, r2, m =
            int64 cfg.InputDim, int64 cfg.RDim, int64 cfg.R2Dim, int64 cfg.MixDim

        let h, h2 = int64 cfg.HyperHidDim, int64 cfg.R2DecoderHidDim

        [
            yield ParamNames.Temporal, (if cfg.LowRankTemp then [| m; r; 2L |] else [| m; r * r |])
            if cfg.DynBias then
                yield ParamNames.TemporalBias, [| 1L; r |]
            if cfg.NonlinDecoder then
                yield! mlp ParamNames.SpatialDecoder r h d true
            else
                yield ParamNames.SpatialDecoderWeight, [| d; r |]
                yield ParamNames.SpatialDecoderBias, [| d |]
            yield! mlp ParamNames.Hypernet r2 h (hyperOutputs cfg) (not cfg.DynBias)
            if cfg.UseR2Decoder then
                yield! mlp ParamNames.R2Decoder (r + r2) h2 r2 true
        ]
