namespace TiDHy.Functional

/// The PyTorch state_dict names of the leaves of `Params` (MODEL.md "Parameters"), written once.
/// They are part of the file formats (the `.pth` files `TorchFile` reads and writes, the JSON state
/// dicts of `StateDict` and checkpoints), so they must stay equal to upstream's module names: a leaf
/// is `module.layer.kind` (`hypernet.4.weight`) or a bare parameter (`temporal`). The literals work
/// in pattern matches; `ParamShapes` lists every leaf of a configuration with its shape. The C#
/// kernels (TiDHy.Kernels/KernelModel.cs) name the same leaves in their error messages; a test checks
/// that they agree with these.
[<RequireQualifiedAccess>]
module ParamNames =

    /// The spatial decoder's module: `nn.Linear(R, D)` as layer 0, or an MLP (i = R, o = D).
    [<Literal>]
    let SpatialDecoder = "spatial_decoder"

    /// The temporal matrices `V`, a bare parameter: `[M; R·R]` full rank, `[M; R; 2]` low rank.
    [<Literal>]
    let Temporal = "temporal"

    /// The temporal bias `c` of `dyn_bias`, a bare parameter `[1; R]`.
    [<Literal>]
    let TemporalBias = "temporal_bias"

    /// The hypernetwork's module, an MLP (i = R2, o = M, or M + R with `dyn_bias`).
    [<Literal>]
    let Hypernet = "hypernet"

    /// The r2 decoder's module, an MLP (i = R + R2, h = H2, o = R2); upstream capitalises it.
    [<Literal>]
    let R2Decoder = "R2_Decoder"

    /// The input `Linear(i, h)` of an MLP `nn.Sequential(Linear, LayerNorm, ELU, Linear, Linear)`.
    [<Literal>]
    let InputLayer = 0

    /// The `LayerNorm(h)` of an MLP (its weight is `gamma`, its bias `beta`).
    [<Literal>]
    let NormLayer = 1

    /// The hidden `Linear(h, h)` of an MLP (after the ELU, layer 2, which has no parameters).
    [<Literal>]
    let HiddenLayer = 3

    /// The output `Linear(h, o)` of an MLP.
    [<Literal>]
    let OutputLayer = 4

    /// The name of layer `index` of the module `prefix`: `layer Hypernet OutputLayer` = `"hypernet.4"`.
    let layer (prefix: string) (index: int) : string = prefix + "." + string index

    /// The weight of the layer named `layer`: `weight "hypernet.4"` = `"hypernet.4.weight"`.
    let weight (layer: string) : string = layer + ".weight"

    /// The bias of the layer named `layer`: `bias "hypernet.4"` = `"hypernet.4.bias"`.
    let bias (layer: string) : string = layer + ".bias"

    /// The weight of layer `index` of the module `prefix`: `layerWeight Hypernet InputLayer` =
    /// `"hypernet.0.weight"`.
    let layerWeight (prefix: string) (index: int) : string = weight (layer prefix index)

    /// The bias of layer `index` of the module `prefix`: `layerBias Hypernet InputLayer` =
    /// `"hypernet.0.bias"`.
    let layerBias (prefix: string) (index: int) : string = bias (layer prefix index)

    /// Whether the leaf `name` belongs to the module `prefix` (`name` starts with `prefix.`).
    let inModule (prefix: string) (name: string) : bool = name.StartsWith(prefix + ".")

    /// The linear spatial decoder's weight `[D; R]`: `layerWeight SpatialDecoder InputLayer`.
    [<Literal>]
    let SpatialDecoderWeight = SpatialDecoder + ".0.weight"

    /// The linear spatial decoder's bias `[D]`: `layerBias SpatialDecoder InputLayer`.
    [<Literal>]
    let SpatialDecoderBias = SpatialDecoder + ".0.bias"

    /// The nonlinear spatial decoder's output weight `[D; H]`: `layerWeight SpatialDecoder OutputLayer`.
    [<Literal>]
    let SpatialDecoderOutputWeight = SpatialDecoder + ".4.weight"

    /// The hypernetwork's input weight `[H; R2]`: `layerWeight Hypernet InputLayer`.
    [<Literal>]
    let HypernetInputWeight = Hypernet + ".0.weight"

    /// The hypernetwork's output weight `[O; H]`: `layerWeight Hypernet OutputLayer`.
    [<Literal>]
    let HypernetOutputWeight = Hypernet + ".4.weight"
