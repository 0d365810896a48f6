module TiDHy.Functional.Tests.ParamNamesTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// Every variant of `InitTests`, and a nonlinear decoder with `dyn_bias` (no hypernetwork output bias).
let private configs =
    InitTests.variants
    @ [
        { smallConfig with
            NonlinDecoder = true
            DynBias = true
            LowRankTemp = true
        }
    ]

[<Fact>]
let ``The named leaves are their layers' weights and biases`` () =
    Assert.Equal("hypernet.4", ParamNames.layer ParamNames.Hypernet ParamNames.OutputLayer)
    Assert.Equal("R2_Decoder.1.weight", ParamNames.layerWeight ParamNames.R2Decoder ParamNames.NormLayer)
    Assert.Equal("spatial_decoder.3.bias", ParamNames.layerBias ParamNames.SpatialDecoder ParamNames.HiddenLayer)

    Assert.Equal(
        ParamNames.layerWeight ParamNames.SpatialDecoder ParamNames.InputLayer,
        ParamNames.SpatialDecoderWeight
    )

    Assert.Equal(ParamNames.layerBias ParamNames.SpatialDecoder ParamNames.InputLayer, ParamNames.SpatialDecoderBias)

    Assert.Equal(
        ParamNames.layerWeight ParamNames.SpatialDecoder ParamNames.OutputLayer,
        ParamNames.SpatialDecoderOutputWeight
    )

    Assert.Equal(ParamNames.layerWeight ParamNames.Hypernet ParamNames.InputLayer, ParamNames.HypernetInputWeight)
    Assert.Equal(ParamNames.layerWeight ParamNames.Hypernet ParamNames.OutputLayer, ParamNames.HypernetOutputWeight)
    Assert.True(ParamNames.inModule ParamNames.Hypernet "hypernet.0.bias")
    Assert.False(ParamNames.inModule ParamNames.Temporal ParamNames.TemporalBias)

[<Fact>]
let ``ParamLayout names upstream's state_dict leaves`` () =
    let mlp prefix outBias =
        [
            for layer in [ "0"; "1"; "3"; "4" ] do
                yield $"{prefix}.{layer}.weight"

                if layer <> "4" || outBias then
                    yield $"{prefix}.{layer}.bias"
        ]

    let names cfg =
        ParamLayout.expected cfg |> List.map fst

    Assert.Equal<string list>(
        [ "temporal"; "spatial_decoder.0.weight"; "spatial_decoder.0.bias" ]
        @ mlp "hypernet" true,
        names smallConfig
    )

    Assert.Equal<string list>(
        [ "temporal"; "temporal_bias" ]
        @ mlp "spatial_decoder" true
        @ mlp "hypernet" false
        @ mlp "R2_Decoder" true,
        names
            { smallConfig with
                NonlinDecoder = true
                DynBias = true
                UseR2Decoder = true
            }
    )

/// The C# kernels (TiDHy.Kernels cannot reference this library) name the leaves in their shape
/// errors; each must be the name `ParamNames` gives the same tensor.
[<Fact>]
let ``The kernels' model names every leaf as ParamNames does`` () =
    for cfg in configs do
        let leaves =
            ParamLayout.ofParams (Init.ofSeed cfg 1)
            |> List.map (fun (name, t) -> name, t.Data)
            |> Map.ofList

        let model (leaves: Map<string, float[]>) =
            Fused.modelOfLeaves cfg (fun name -> Map.tryFind name leaves |> Option.toObj)

        model leaves |> ignore

        let rejects (name: string) (leaves: Map<string, float[]>) =
            let ex = Assert.ThrowsAny<ArgumentException>(fun () -> model leaves |> ignore)
            Assert.StartsWith(name + ":", ex.Message)

        for name, data in Map.toList leaves do
            rejects name (leaves.Add(name, Array.take (data.Length - 1) data))

        if cfg.DynBias then
            let outBias = ParamNames.layerBias ParamNames.Hypernet ParamNames.OutputLayer
            rejects outBias (leaves.Add(outBias, Array.zeroCreate cfg.MixDim))
