module TiDHy.Functional.Tests.StateDictTests

open System
open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private asMap entries = Map.ofList entries

[<Fact>]
let ``Params survive a state_dict round trip for every variant`` () =
    for cfg in InitTests.variants do
        let p = Init.ofSeed cfg 3
        Assert.Equal(p, ParamLayout.toParams cfg (asMap (ParamLayout.ofParams p)))

[<Fact>]
let ``State dict JSON round-trips bit for bit`` () =
    let cfg =
        { smallConfig with
            NonlinDecoder = true
            UseR2Decoder = true
        }

    let p = Init.ofSeed cfg 3
    let entries = ParamLayout.ofParams p
    Assert.Equal<Map<string, NamedTensor>>(asMap entries, StateDict.parseJson (StateDict.toJson entries))

[<Fact>]
let ``Every fixture's params export to exactly the fixture's tensors`` () =
    for file in Fixtures.files referenceDir do
        let f = Fixtures.load file
        use doc = JsonDocument.Parse(File.ReadAllText file)
        let original = StateDict.ofJsonElement (doc.RootElement.GetProperty "params")
        Assert.Equal<Map<string, NamedTensor>>(original, asMap (ParamLayout.ofParams f.Params))

let private fails (cfg: Config) (sd: Map<string, NamedTensor>) (fragment: string) =
    let ex =
        Assert.Throws<StateDictException>(fun () -> ParamLayout.toParams cfg sd |> ignore)

    Assert.Contains(fragment, ex.Message)

[<Fact>]
let ``A missing tensor is an error naming it`` () =
    let sd = asMap (ParamLayout.ofParams (Init.ofSeed smallConfig 1))
    fails smallConfig (sd.Remove "hypernet.3.bias") "missing tensor 'hypernet.3.bias' (expected shape [8])"

[<Fact>]
let ``A misshapen tensor is an error naming it and both shapes`` () =
    let sd = asMap (ParamLayout.ofParams (Init.ofSeed smallConfig 1))

    let bad =
        sd.Add(
            "temporal",
            {
                Shape = [| 5; 4; 4 |]
                Data = Array.zeroCreate 80
            }
        )

    fails smallConfig bad "tensor 'temporal' has shape [5; 4; 4], expected [5; 16]"
    // Weights of another config: the decoder for D = 6 does not fit D = 7.
    fails { smallConfig with InputDim = 7 } sd "tensor 'spatial_decoder.0.weight' has shape [6; 4], expected [7; 4]"

[<Fact>]
let ``An unexpected tensor is an error naming it`` () =
    let sd = asMap (ParamLayout.ofParams (Init.ofSeed smallConfig 1))

    fails
        smallConfig
        (sd.Add(
            "temporal_bias",
            {
                Shape = [| 1; 4 |]
                Data = Array.zeroCreate 4
            }
        ))
        "unexpected tensor 'temporal_bias'"
    // With dyn_bias the last hypernetwork layer has no bias: upstream's dict for it has none.
    let cfgBias = { smallConfig with DynBias = true }
    let sdBias = asMap (ParamLayout.ofParams (Init.ofSeed cfgBias 1))

    fails
        cfgBias
        (sdBias.Add(
            "hypernet.4.bias",
            {
                Shape = [| 9 |]
                Data = Array.zeroCreate 9
            }
        ))
        "unexpected tensor 'hypernet.4.bias'"

[<Fact>]
let ``A non-finite weight is an error naming the tensor`` () =
    let sd = asMap (ParamLayout.ofParams (Init.ofSeed smallConfig 1))
    let t = sd["hypernet.0.bias"]
    let data = Array.copy t.Data
    data[2] <- nan

    fails
        smallConfig
        (sd.Add("hypernet.0.bias", { t with Data = data }))
        "tensor 'hypernet.0.bias' has a non-finite value NaN at flat index 2"

[<Fact>]
let ``Malformed JSON is a clear error`` () =
    let fails (json: string) (fragment: string) =
        let ex =
            Assert.Throws<StateDictException>(fun () -> StateDict.parseJson json |> ignore)

        Assert.Contains(fragment, ex.Message)

    fails "{\"temporal\": {\"shape\": [2], \"data\": [1.0]}}" "1 values for shape [2]"
    fails "{\"temporal\": {\"shape\": [2], \"data\": [1.0, \"x\"]}}" "data entry 1"
    fails "{\"temporal\": {\"data\": [1.0]}}" "missing \"shape\""
    fails "[1, 2]" "expected a JSON object"
    fails "{\"temporal\": " "not valid JSON"

[<Fact>]
let ``Save then load gives the same params, and a failed save leaves the old file intact`` () =
    let dir = Directory.CreateTempSubdirectory "tidhy-statedict-"

    try
        let path = Path.Combine(dir.FullName, "model.json")
        let p = Init.ofSeed smallConfig 5
        StateDict.save path p
        Assert.Equal(p, StateDict.load smallConfig path)
        let before = File.ReadAllText path
        // A params value that cannot be serialised (a null array) fails the save midway.
        let broken = { p with TemporalBias = Some null }
        Assert.ThrowsAny<exn>(fun () -> StateDict.save path broken) |> ignore
        Assert.Equal(before, File.ReadAllText path)
        Assert.Equal<string[]>([| path |], Directory.GetFiles dir.FullName)
    finally
        dir.Delete true

[<Fact>]
let ``Loading a file names the file in the error`` () =
    let dir = Directory.CreateTempSubdirectory "tidhy-statedict-"

    try
        let path = Path.Combine(dir.FullName, "truncated.json")
        File.WriteAllText(path, (StateDict.toJson (ParamLayout.ofParams (Init.ofSeed smallConfig 1))).Substring(0, 200))

        let ex =
            Assert.Throws<StateDictException>(fun () -> StateDict.load smallConfig path |> ignore)

        Assert.Contains(path, ex.Message)
        let missing = Path.Combine(dir.FullName, "absent.json")

        let ex =
            Assert.Throws<StateDictException>(fun () -> StateDict.load smallConfig missing |> ignore)

        Assert.Contains(missing, ex.Message)
    finally
        dir.Delete true

[<Fact>]
let ``A shape whose product overflows is refused, not read as empty`` () =
    // 65536 · 65536 wraps to 0 in int32: an empty data array would match it.
    for shape in
        [
            "[65536, 65536]"
            "[2147483647, 2147483647, 4]"
            "[65536, 65536, 65536, 65536, 0]"
        ] do
        let json = $"{{\"shape\": {shape}, \"data\": []}}"
        use doc = JsonDocument.Parse json

        if shape.EndsWith ", 0]" then
            // A zero dimension: truly empty.
            Assert.Empty((StateDict.tensorOfJson "t" doc.RootElement).Data)
        else
            let ex =
                Assert.Throws<StateDictException>(fun () -> StateDict.tensorOfJson "t" doc.RootElement |> ignore)

            Assert.Contains("0 values for shape", ex.Message)
