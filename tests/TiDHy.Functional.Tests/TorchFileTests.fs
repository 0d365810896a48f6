/// `TorchFile` against files that PyTorch wrote (tests/fixtures/torch, made by
/// tests/scripts/make_torch_fixtures.py, which also checks that torch.load reads our writer's files).
module TiDHy.Functional.Tests.TorchFileTests

open System
open System.IO
open System.IO.Compression
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let fixtureDir = Path.Combine(repoRoot, "tests", "fixtures", "torch")
let fixture (name: string) = Path.Combine(fixtureDir, name)

/// The state_dict `key` of expected.json (the values the script saved, from the same tensors).
let expected (key: string) : Map<string, NamedTensor> =
    use doc = JsonDocument.Parse(File.ReadAllText(fixture "expected.json"))
    StateDict.ofJsonElement (doc.RootElement.GetProperty key)

let private tempFile (name: string) =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-torch-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    Path.Combine(d, name)

let private failsWith (f: unit -> 'a) (parts: string list) =
    let ex = Assert.Throws<DataFormatException>(fun () -> f () |> ignore)

    for p in parts do
        Assert.Contains(p, ex.Message)

[<Fact>]
let ``torch.save state_dicts in float64 and float32 read exactly`` () =
    let f64 = expected "float64"
    let f32 = expected "float32"
    Assert.Equal(11, f64.Count)
    Assert.Equal<Map<string, NamedTensor>>(f64, TorchFile.readStateDict (fixture "state_dict_f64.pth"))
    Assert.Equal<Map<string, NamedTensor>>(f32, TorchFile.readStateDict (fixture "state_dict_f32.pth"))
    // float32 values differ from the float64 ones: the test distinguishes the two.
    Assert.NotEqual<Map<string, NamedTensor>>(f64, f32)

[<Fact>]
let ``A training checkpoint gives its state_dict entry, whatever else it holds`` () =
    Assert.Equal<Map<string, NamedTensor>>(expected "float64", TorchFile.readStateDict (fixture "checkpoint.pth"))
    // Beside the state_dict: a datetime.date and an nn.Module, ignored.
    Assert.Equal<Map<string, NamedTensor>>(expected "float64", TorchFile.readStateDict (fixture "object.pth"))

[<Fact>]
let ``Offsets and strides of views into one storage are honoured`` () =
    let read = TorchFile.readStateDict (fixture "strided.pth")
    Assert.Equal<Map<string, NamedTensor>>(expected "strided", read)
    Assert.Equal<int[]>([| 3; 4 |], read["t"].Shape)

[<Fact>]
let ``The torch files load as Params for their configuration`` () =
    let cfg = ConfigJson.parse (File.ReadAllText(fixture "config.json"))
    let p = TorchFile.load cfg (fixture "state_dict_f64.pth")
    Assert.Equal<Map<string, NamedTensor>>(expected "float64", Map.ofList (ParamLayout.ofParams p))

[<Fact>]
let ``Files our writer made read back, and torch read them (make_torch_fixtures.py)`` () =
    Assert.Equal<Map<string, NamedTensor>>(
        expected "float64",
        TorchFile.readStateDict (fixture "written_by_tidhy_f64.pth")
    )

    Assert.Equal<Map<string, NamedTensor>>(
        expected "float32",
        TorchFile.readStateDict (fixture "written_by_tidhy_f32.pth")
    )

[<Fact>]
let ``Write then read gives the same tensors, bit for bit, in float64 and float32`` () =
    let entries =
        [
            "a",
            {
                Shape = [| 2; 3 |]
                Data = [| 1e-300; -0.0; Math.PI; 1.0 / 3.0; -7.5; Double.Epsilon |]
            }
            "scalar", { Shape = [||]; Data = [| 42.25 |] }
            "empty", { Shape = [| 0; 4 |]; Data = [||] }
            "v.é",
            {
                Shape = [| 3 |]
                Data = [| 1.0; 2.0; 3.0 |]
            }
        ]

    let path = tempFile "model.pth"
    TorchFile.writeStateDict path entries
    Assert.Equal<Map<string, NamedTensor>>(Map.ofList entries, TorchFile.readStateDict path)
    Assert.True(TorchFile.isZip path)

    use zip = ZipFile.OpenRead path
    let names = zip.Entries |> Seq.map _.FullName |> Set.ofSeq

    for n in [ "archive/data.pkl"; "archive/version"; "archive/byteorder"; "archive/data/0" ] do
        Assert.True(names.Contains n, $"{n} missing")

    let path32 = tempFile "model32.pth"
    TorchFile.writeStateDictAs true path32 entries
    let read32 = TorchFile.readStateDict path32

    for name, t in entries do
        Assert.Equal<float[]>(t.Data |> Array.map (float32 >> float), read32[name].Data)

    failsWith
        (fun () -> TorchFile.writeStateDictAs true path32 [ "big", { Shape = [| 1 |]; Data = [| 1e300 |] } ])
        [ path32; "big"; "float32" ]

[<Fact>]
let ``Another dtype, other Python objects and non-torch files are errors naming the file`` () =
    failsWith (fun () -> TorchFile.readStateDict (fixture "int64.pth")) [ "int64.pth"; "steps"; "int64" ]

    failsWith
        (fun () -> TorchFile.readStateDict (fixture "module.pth"))
        [ "module.pth"; "'m'"; "torch.nn.modules.linear.Identity" ]

    failsWith (fun () -> TorchFile.readStateDict (fixture "expected.json")) [ "expected.json"; "not a PyTorch zip" ]

[<Fact>]
let ``A truncated file is an error naming it`` () =
    let bytes = File.ReadAllBytes(fixture "state_dict_f64.pth")

    for keep in [ 10; bytes.Length / 2; bytes.Length - 30 ] do
        let path = tempFile "cut.pth"
        File.WriteAllBytes(path, bytes[.. keep - 1])
        failsWith (fun () -> TorchFile.readStateDict path) [ path ]
