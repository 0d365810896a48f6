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

/// An integer of a hand-made pickle: `Long` as LONG1 (any int64), `Text` as protocol 0's INT
/// opcode with this text (`I<text>\n`), as a crafted file may hold it.
type private PInt =
    | Long of int64
    | Text of string

/// How a hand-made pickle builds its dictionary: `collections.OrderedDict()` (as `state_dict()`),
/// EMPTY_DICT then SETITEMS (a plain dict), or MARK … DICT (protocol 0's dict).
type private DictOp =
    | Ordered
    | Plain
    | MarkDict

/// A protocol-2 pickle of a dictionary of float32 tensors `(name, storage key, storage numel, offset,
/// sizes, strides)`, written opcode by opcode (as a hostile file could be), names possibly repeated.
let private handPickle (dict: DictOp) (tensors: (string * string * int64 * PInt * PInt list * PInt list) list) =
    use m = new MemoryStream()
    use w = new BinaryWriter(m)
    let op (c: char) = w.Write(byte c)
    let ascii (s: string) = w.Write(Text.Encoding.ASCII.GetBytes s)

    let str (s: string) =
        let b = Text.Encoding.UTF8.GetBytes s
        op 'X'
        w.Write(int32 b.Length)
        w.Write b

    let int (i: PInt) =
        match i with
        | Long v ->
            let b = Numerics.BigInteger(v).ToByteArray()
            w.Write(0x8auy)
            w.Write(byte b.Length)
            w.Write b
        | Text t -> ascii $"I{t}\n"

    let tuple (xs: PInt list) =
        op '('
        List.iter int xs
        op 't'

    let ordered () = ascii "ccollections\nOrderedDict\n)R"

    w.Write(0x80uy)
    w.Write(2uy)

    match dict with
    | Ordered -> ordered ()
    | Plain -> op '}'
    | MarkDict -> ()

    op '('

    for name, key, numel, offset, size, stride in tensors do
        str name
        ascii "ctorch._utils\n_rebuild_tensor_v2\n"
        op '('
        op '('
        str "storage"
        ascii "ctorch\nFloatStorage\n"
        str key
        str "cpu"
        int (Long numel)
        op 't'
        op 'Q'
        int offset
        tuple size
        tuple stride
        w.Write(0x89uy)
        ordered ()
        op 't'
        op 'R'

    op (if dict = MarkDict then 'd' else 'u')
    op '.'
    w.Flush()
    m.ToArray()

/// Writes a torch.save-like zip at a new path: `archive/data.pkl` and each storage
/// `archive/data/<key>` (deflated when `deflate`, as a zip bomb would be).
let private handPth (pickle: byte[]) (storages: (string * byte[] * bool) list) =
    let path = tempFile "hand.pth"

    do
        use zip = ZipFile.Open(path, ZipArchiveMode.Create)

        let add (name: string) (bytes: byte[]) (deflate: bool) =
            let level =
                if deflate then
                    CompressionLevel.Optimal
                else
                    CompressionLevel.NoCompression

            use s = zip.CreateEntry(name, level).Open()
            s.Write(bytes, 0, bytes.Length)

        add "archive/data.pkl" pickle false

        for key, bytes, deflate in storages do
            add $"archive/data/{key}" bytes deflate

    path

/// 6 float32 values 0 … 5: three rows of two.
let private sixFloats =
    Array.init 6 float32
    |> Array.collect (fun (v: float32) -> BitConverter.GetBytes v)

[<Fact>]
let ``A hand-made pickle of a valid view reads as torch would`` () =
    // The helpers make files this reader accepts: rows 1 and 2 of a 3 x 2 storage, by offset and stride.
    let p =
        handPickle Ordered [ "t", "0", 6L, Long 2L, [ Long 2L; Long 2L ], [ Long 2L; Long 1L ] ]

    let t = (TorchFile.readStateDict (handPth p [ "0", sixFloats, false ]))["t"]
    Assert.Equal<int[]>([| 2; 2 |], t.Shape)
    Assert.Equal<float[]>([| 2.0; 3.0; 4.0; 5.0 |], t.Data)

[<Fact>]
let ``Strides whose reach overflows int64 are refused, not wrapped onto the first row`` () =
    // size (3, 2), stride (2^62, 1): the last element lies at 2·2^62 + 1, which wraps in int64 to a
    // negative reach inside the storage; rows 1 and 2 (at 2^62·4 bytes, wrapping to 0) read as row 0.
    let p =
        handPickle
            Ordered
            [
                "temporal", "0", 6L, Long 0L, [ Long 3L; Long 2L ], [ Long(1L <<< 62); Long 1L ]
            ]

    let path = handPth p [ "0", sixFloats, false ]
    failsWith (fun () -> TorchFile.readStateDict path) [ path; "'temporal'"; "reach beyond the storage" ]

    // An offset near the int64 limit: its sum with the strides overflows too.
    let p =
        handPickle
            Ordered
            [
                "temporal", "0", 6L, Long(Int64.MaxValue - 1L), [ Long 3L; Long 2L ], [ Long 2L; Long 1L ]
            ]

    let path = handPth p [ "0", sixFloats, false ]
    failsWith (fun () -> TorchFile.readStateDict path) [ path; "'temporal'"; "reach beyond the storage" ]

[<Fact>]
let ``A key given twice in the pickle's dictionary is refused, for every way of building it`` () =
    for dict in [ Ordered; Plain; MarkDict ] do
        let t (offset: int64) =
            "temporal", "0", 6L, Long offset, [ Long 1L; Long 2L ], [ Long 2L; Long 1L ]

        let path = handPth (handPickle dict [ t 0L; t 4L ]) [ "0", sixFloats, false ]
        failsWith (fun () -> TorchFile.readStateDict path) [ path; "'temporal'"; "more than once" ]

        // Distinct names still read (the rewriting of dictionaries keeps them intact).
        let ok =
            handPth
                (handPickle
                    dict
                    [
                        t 0L
                        ("other", "0", 6L, Long 4L, [ Long 1L; Long 2L ], [ Long 2L; Long 1L ])
                    ])
                [ "0", sixFloats, false ]

        let sd = TorchFile.readStateDict ok
        Assert.Equal<float[]>([| 0.0; 1.0 |], sd["temporal"].Data)
        Assert.Equal<float[]>([| 4.0; 5.0 |], sd["other"].Data)

[<Fact>]
let ``Decimal and overflowing integers in the pickle are one line naming the file`` () =
    for offset in [ Text "1.5"; Text "99999999999999999999999999"; Long Int64.MinValue ] do
        let p =
            handPickle Ordered [ "t", "0", 6L, offset, [ Long 1L; Long 2L ], [ Long 2L; Long 1L ] ]

        let path = handPth p [ "0", sixFloats, false ]
        failsWith (fun () -> TorchFile.readStateDict path) [ path ]

[<Fact>]
let ``A storage entry that decompresses to more than its tensors' storage needs is refused unread`` () =
    // 1 MiB of zeros deflates to about a kilobyte: a small zip bomb behind a 6-element storage.
    let p =
        handPickle Ordered [ "t", "0", 6L, Long 0L, [ Long 3L; Long 2L ], [ Long 2L; Long 1L ] ]

    let path = handPth p [ "0", Array.zeroCreate (1 <<< 20), true ]
    Assert.True(FileInfo(path).Length < 10_000L)
    failsWith (fun () -> TorchFile.readStateDict path) [ path; "1048576"; "24"; "zip bomb" ]

    // A storage whose declared size cannot be an array (nor fit the memory) is refused before reading.
    let p =
        handPickle Ordered [ "t", "0", 1L <<< 40, Long 0L, [ Long 3L; Long 2L ], [ Long 2L; Long 1L ] ]

    let path = handPth p [ "0", sixFloats, false ]
    failsWith (fun () -> TorchFile.readStateDict path) [ path; "'t'"; "holds 24 bytes" ]
