/// The torch backend refuses, generically, every option it does not implement.
module TiDHy.Torch.Tests.OptionsTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Torch
open Xunit

[<Fact>]
let ``Defaults are accepted`` () =
    Assert.Empty(TorchSupport.unsupported smallConfig)
    TorchSupport.check smallConfig |> ignore

[<Fact>]
let ``An option outside the supported list is refused when it differs from its default, naming it`` () =
    let p = Init.init smallConfig (Random.key 1)
    let x = Array2D.zeroCreate 2 6

    for cfg, key in
        [
            { smallConfig with
                TrainingPrecision = TrainingPrecision.Float32
            },
            "training_precision"
        ] do
        let ex =
            Assert.Throws<NotSupportedException>(fun () ->
                (TorchBackend.engine TorchOptions.cpu).InferFirstStep cfg p x |> ignore)

        Assert.Contains(key, ex.Message)

[<Fact>]
let ``Every Config option is either in the supported list or refused away from its default`` () =
    // The refusal is read from ConfigOptions.all: an option added to Config later and not listed in
    // TorchSupport.supportedKeys is refused until someone implements it.
    let unsupported =
        ConfigOptions.all
        |> List.filter (fun o -> not (TorchSupport.supportedKeys.Contains o.Key))

    for o in unsupported do
        match o.Kind with
        | OptionKind.Bool ->
            let cfg = ConfigOptions.set o (box (not (o.Default.Value :?> bool))) smallConfig
            Assert.Contains(o.Key, TorchSupport.unsupported cfg |> List.map fst)
        | _ -> ()

    for k in TorchSupport.supportedKeys do
        Assert.True((ConfigOptions.tryFind k).IsSome, $"supported key {k} is no Config option")

[<Fact>]
let ``Every Config option is declared supported or refused by the torch engine, once`` () =
    for o in ConfigOptions.all do
        let supported = TorchSupport.supportedKeys.Contains o.Key
        let refused = TorchSupport.refusedKeys.Contains o.Key
        Assert.True(supported <> refused, $"{o.Key}: declare it in TorchSupport.supportedKeys or refusedKeys (once)")

    for k in TorchSupport.refusedKeys do
        Assert.True((ConfigOptions.tryFind k).IsSome, $"refused key {k} is no Config option")

[<Fact>]
let ``A bad device name is a clear error`` () =
    let p = Init.init smallConfig (Random.key 1)

    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            (TorchBackend.engine
                { TorchOptions.cpu with
                    Device = "nodevice:7"
                })
                .InferFirstStep
                smallConfig
                p
                (Array2D.zeroCreate 2 6)
            |> ignore)

    Assert.Contains("nodevice:7", ex.Message)
