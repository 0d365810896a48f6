/// Tests of `Npy`: byte-exact headers, round trips of `.npy` and `.npz` (float64 and float32, ranks
/// 1 to 4, stored and deflated), every malformed-input error, and atomic writes.
module TiDHy.Functional.Tests.NpyTests

open System
open System.IO
open System.IO.Compression
open System.Text
open FsCheck.FSharp
open TiDHy.Functional
open Xunit

let private m23 = array2D [ [ 1.0; 2.0; 3.0 ]; [ 4.0; 5.0; 6.0 ] ]

/// The preamble and header NumPy writes for `shape` (numpy.lib.format, ARRAY_ALIGN = 64).
let private numpyHeader (major: byte) (dict: string) =
    let lengthBytes = if major = 1uy then 2 else 4
    let total = 64 * ((6 + 2 + lengthBytes + dict.Length + 1 + 63) / 64)
    let hlen = total - (6 + 2 + lengthBytes)
    let text = dict.PadRight(hlen - 1) + "\n"

    [|
        yield! [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y'; major; 0uy |]
        if lengthBytes = 2 then
            yield! BitConverter.GetBytes(uint16 hlen)
        else
            yield! BitConverter.GetBytes(uint32 hlen)
        yield! Encoding.ASCII.GetBytes text
    |]

[<Fact>]
let ``The header of a 2 by 3 float64 array is NumPy's byte for byte`` () =
    let bytes = Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix m23)
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
    let expected = numpyHeader 1uy dict
    Assert.Equal(128, expected.Length)
    Assert.Equal<byte[]>(expected, bytes[.. expected.Length - 1])
    // magic, version 1.0, header length 118 little-endian
    Assert.Equal<byte[]>([| 0x93uy; 0x4Euy; 0x55uy; 0x4Duy; 0x50uy; 0x59uy; 1uy; 0uy; 118uy; 0uy |], bytes[..9])
    Assert.Equal(byte '\n', bytes[127])
    Assert.Equal(128 + 48, bytes.Length)
    Assert.Equal(1.0, BitConverter.ToDouble(bytes, 128))
    Assert.Equal(6.0, BitConverter.ToDouble(bytes, 128 + 40))

[<Fact>]
let ``Headers of other shapes and float32 follow the same rules`` () =
    let v = Npy.toBytes NpyDtype.Float32 (Npy.ofVector [| 1.5; -2.0; 0.25 |])
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
    let head = numpyHeader 1uy dict
    Assert.Equal<byte[]>(head, v[.. head.Length - 1])
    Assert.Equal(head.Length + 12, v.Length)
    Assert.Equal(-2.0f, BitConverter.ToSingle(v, head.Length + 4))

    // NumPy leaves room for the first axis to grow to 21 digits: with a long shape the header
    // passes 64 bytes only because of that spare room.
    let a4 = Npy.create [| 1; 2; 3; 4 |] (Array.zeroCreate 24)
    let b4 = Npy.toBytes NpyDtype.Float64 a4
    let hlen = int (BitConverter.ToUInt16(b4, 8))
    Assert.Equal(0, (10 + hlen) % 64)
    let text = Encoding.ASCII.GetString(b4, 10, hlen)
    Assert.StartsWith("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3, 4), }", text)
    Assert.True(text.Length - text.TrimEnd().Length >= 20)

let private genArray =
    gen {
        let! rank = Gen.choose (1, 4)
        let! shape = Gen.arrayOfLength rank (Gen.choose (0, 4))
        let n = Array.fold (*) 1 shape
        let! mantissas = Gen.arrayOfLength n (Gen.choose (-1_000_000, 1_000_000))
        let! exps = Gen.arrayOfLength n (Gen.choose (-30, 30))

        return
            {
                Shape = shape
                Data = Array.map2 (fun (m: int) (e: int) -> float m * 2.0 ** float e / 3.0) mantissas exps
            }
    }

let private sameArray (a: NpyArray) (b: NpyArray) = a.Shape = b.Shape && a.Data = b.Data

[<Fact>]
let ``Arrays of rank 1 to 4 round-trip exactly through float64 bytes`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genArray) (fun a ->
            let back, dtype = Npy.parseWithDtype "mem" (Npy.toBytes NpyDtype.Float64 a)
            sameArray a back && dtype = NpyDtype.Float64)
    )

[<Fact>]
let ``Float32 data round-trips exactly and float64 rounds to the nearest float32`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genArray) (fun a ->
            let single =
                { a with
                    Data = a.Data |> Array.map (float32 >> float)
                }

            let back, dtype = Npy.parseWithDtype "mem" (Npy.toBytes NpyDtype.Float32 single)
            let rounded = Npy.parse "mem" (Npy.toBytes NpyDtype.Float32 a)

            sameArray single back && dtype = NpyDtype.Float32 && sameArray single rounded)
    )

[<Fact>]
let ``Files round-trip through read and write for vectors, matrices and rank-3 arrays`` () =
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "m.npy")
    Npy.writeMatrix p m23
    Assert.Equal<float[,]>(m23, Npy.readMatrix p)
    let a3 = Array3D.init 2 3 4 (fun i j k -> float (100 * i + 10 * j + k))
    Npy.writeArray3 p a3
    Assert.Equal<float[,,]>(a3, Npy.readArray3 p)
    Npy.write p (Npy.ofVector [| 1.0; 2.0 |])
    Assert.Equal<float[]>([| 1.0; 2.0 |], Npy.toVector (Npy.read p))
    Npy.writeAs NpyDtype.Float32 p (Npy.ofMatrix m23)
    Assert.Equal<float[,]>(m23, Npy.readMatrix p)
    let e = Assert.Throws<DataFormatException>(fun () -> Npy.readArray3 p |> ignore)
    Assert.Contains(p, e.Message)
    Assert.Contains("rank-3", e.Message)
    Assert.Contains("(2, 3)", e.Message)
    Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"))

/// Parses `bytes` as `name` and returns the error message.
let private parseError (bytes: byte[]) =
    let e =
        Assert.Throws<DataFormatException>(fun () -> Npy.parse "bad.npy" bytes |> ignore)

    Assert.StartsWith("bad.npy: ", e.Message)
    e.Message

/// `.npy` bytes with a hand-written header dict and `data` bytes after it.
let private withHeader (major: byte) (dict: string) (data: byte[]) =
    Array.append (numpyHeader major dict) data

let private f8Data (values: float[]) =
    values |> Array.collect BitConverter.GetBytes

[<Fact>]
let ``A bad magic string is an error naming the file`` () =
    Assert.Contains("bad magic", parseError (Encoding.ASCII.GetBytes "PK\003\004 not numpy at all"))
    Assert.Contains("bad magic", parseError [||])

[<Fact>]
let ``Unknown versions and truncated preambles and headers are errors`` () =
    let good = Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix m23)
    let v4 = Array.copy good
    v4[6] <- 4uy
    Assert.Contains("version 4.0", parseError v4)
    Assert.Contains("truncated", parseError good[..6])
    Assert.Contains("truncated", parseError good[..8])
    Assert.Contains("truncated", parseError good[..60])

[<Fact>]
let ``Data shorter or longer than the shape needs is an error`` () =
    let good = Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix m23)
    let short = parseError good[.. good.Length - 9]
    Assert.Contains("truncated", short)
    Assert.Contains("48 bytes", short)
    Assert.Contains("40", short)
    Assert.Contains("unexpected bytes", parseError (Array.append good [| 0uy |]))

[<Fact>]
let ``Unsupported dtypes are named`` () =
    for d in [ "<i8"; ">f8"; "<c16"; "|b1"; "<f2" ] do
        let msg =
            parseError (
                withHeader 1uy $"{{'descr': '{d}', 'fortran_order': False, 'shape': (1,), }}" (Array.zeroCreate 8)
            )

        Assert.Contains("unsupported dtype", msg)
        Assert.Contains(d, msg)

    let structured =
        parseError (
            withHeader 1uy "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (1,), }" (Array.zeroCreate 8)
        )

    Assert.Contains("unsupported dtype", structured)

[<Fact>]
let ``Fortran order is an error naming the file`` () =
    let msg =
        parseError (
            withHeader 1uy "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }" (f8Data (Array.zeroCreate 6))
        )

    Assert.Contains("fortran_order: True", msg)

[<Fact>]
let ``Ranks outside 1 to 4 and malformed headers are errors`` () =
    Assert.Contains(
        "rank 0",
        parseError (withHeader 1uy "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" (f8Data [| 1.0 |]))
    )

    Assert.Contains(
        "rank 5",
        parseError (
            withHeader 1uy "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }" (f8Data [| 1.0 |])
        )
    )

    Assert.Contains("malformed header", parseError (withHeader 1uy "not a dict" [||]))
    Assert.Contains("no 'shape'", parseError (withHeader 1uy "{'descr': '<f8', 'fortran_order': False, }" [||]))

    Assert.Contains(
        "'-2'",
        parseError (withHeader 1uy "{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3), }" [||])
    )

    Assert.Contains("fortran_order", parseError (withHeader 1uy "{'descr': '<f8', 'shape': (1,), }" (f8Data [| 1.0 |])))

[<Fact>]
let ``Versions 2.0 and 3.0 and other dict spellings are read`` () =
    let data = f8Data [| 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 |]

    for major in [ 2uy; 3uy ] do
        let a =
            Npy.parse "v.npy" (withHeader major "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" data)

        Assert.Equal<float[,]>(m23, Npy.toMatrix a)

    // keys in another order, double quotes, Python 2 long integers, no trailing comma
    let odd = "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f8\"}"
    Assert.Equal<float[,]>(m23, Npy.toMatrix (Npy.parse "v.npy" (withHeader 1uy odd data)))

[<Fact>]
let ``Writing checks the shape against the data and float32 overflow`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () ->
            Npy.toBytes
                NpyDtype.Float64
                {
                    Shape = [| 2; 3 |]
                    Data = Array.zeroCreate 5
                }
            |> ignore)

    Assert.Contains("(2, 3) holds 6 entries but Data has 5", e.Message)

    Assert.Throws<ArgumentException>(fun () -> Npy.create [| 1; 1; 1; 1; 1 |] [| 1.0 |] |> ignore)
    |> ignore

    let o =
        Assert.Throws<ArgumentException>(fun () ->
            Npy.toBytes NpyDtype.Float32 (Npy.ofVector [| 1.0; 1e300 |]) |> ignore)

    Assert.Contains("entry 1", o.Message)
    Assert.Contains("float32", o.Message)

[<Fact>]
let ``A failed write leaves the existing file intact and no temporary file`` () =
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "keep.npy")
    Npy.writeMatrix p m23
    let before = File.ReadAllBytes p

    Assert.Throws<ArgumentException>(fun () -> Npy.write p { Shape = [| 4 |]; Data = [| 1.0 |] })
    |> ignore

    Assert.Throws<InvalidOperationException>(fun () ->
        DataFile.writeAtomic p (fun s ->
            s.Write(Array.zeroCreate 10, 0, 10)
            invalidOp "disk full"))
    |> ignore

    Assert.Equal<byte[]>(before, File.ReadAllBytes p)
    Assert.Equal<string[]>([| p |], Directory.GetFiles dir)

let private genEntries =
    gen {
        let! n = Gen.choose (1, 4)
        let! arrays = Gen.arrayOfLength n genArray
        return arrays |> Array.mapi (fun i a -> $"a{i}", a)
    }

[<Fact>]
let ``Npz archives round-trip named arrays, stored or deflated, float64 or float32`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genEntries) (fun entries ->
            [ false; true ]
            |> List.forall (fun compress ->
                let back = Npy.parseNpz "mem.npz" (Npy.npzBytes NpyDtype.Float64 compress entries)

                let single =
                    entries
                    |> Array.map (fun (n, a) ->
                        n,
                        { a with
                            Data = a.Data |> Array.map (float32 >> float)
                        })

                let back32 = Npy.parseNpz "mem.npz" (Npy.npzBytes NpyDtype.Float32 compress single)

                Array.map fst back = Array.map fst entries
                && Array.forall2 (fun (_, a) (_, b) -> sameArray a b) entries back
                && Array.forall2 (fun (_, a) (_, b) -> sameArray a b) single back32))
    )

[<Fact>]
let ``Npz entries are stored like numpy.savez and deflated like savez_compressed`` () =
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "a.npz")
    Npy.writeNpz p [ "data", Npy.ofMatrix m23; "v", Npy.ofVector [| 1.0 |] ]

    do
        use z = ZipFile.OpenRead p
        Assert.Equal<string[]>([| "data.npy"; "v.npy" |], z.Entries |> Seq.map (fun e -> e.FullName) |> Seq.toArray)
        // stored: the compressed size is the size
        Assert.Equal(z.Entries[0].Length, z.Entries[0].CompressedLength)
        use s = z.Entries[0].Open()
        use m = new MemoryStream()
        s.CopyTo m
        Assert.Equal<byte[]>(Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix m23), m.ToArray())

    let big = Npy.ofVector (Array.zeroCreate 1000)
    Npy.writeNpzAs NpyDtype.Float64 true p [ "zeros", big ]

    do
        use z = ZipFile.OpenRead p
        Assert.True(z.Entries[0].CompressedLength < z.Entries[0].Length / 10L)

    Assert.Equal<float[]>(big.Data, (snd (Npy.readNpz p).[0]).Data)

[<Fact>]
let ``Malformed npz archives and entries are errors naming the file and entry`` () =
    let e1 =
        Assert.Throws<DataFormatException>(fun () ->
            Npy.parseNpz "x.npz" (Encoding.ASCII.GetBytes "not a zip") |> ignore)

    Assert.Contains("x.npz", e1.Message)
    Assert.Contains("zip", e1.Message)

    let zipOf (entries: (string * byte[]) list) =
        use m = new MemoryStream()

        do
            use z = new ZipArchive(m, ZipArchiveMode.Create, true)

            for name, bytes in entries do
                use s = z.CreateEntry(name).Open()
                s.Write(bytes, 0, bytes.Length)

        m.ToArray()

    let good = Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix m23)

    let e2 =
        Assert.Throws<DataFormatException>(fun () ->
            Npy.parseNpz "x.npz" (zipOf [ "ok.npy", good; "cut.npy", good[..140] ])
            |> ignore)

    Assert.Contains("x.npz, entry 'cut.npy'", e2.Message)
    Assert.Contains("truncated", e2.Message)

    let e3 =
        Assert.Throws<DataFormatException>(fun () ->
            Npy.parseNpz "x.npz" (zipOf [ "a.npy", good; "a", good ]) |> ignore)

    Assert.Contains("more than one entry named 'a'", e3.Message)

    let cut = Npy.npzBytes NpyDtype.Float64 false [ "data", Npy.ofMatrix m23 ]

    Assert.Throws<DataFormatException>(fun () -> Npy.parseNpz "x.npz" cut[.. cut.Length - 30] |> ignore)
    |> ignore

[<Fact>]
let ``Npz entry names must be valid and unique`` () =
    let a = Npy.ofVector [| 1.0 |]

    for bad in [ [ "", a ]; [ "a/b", a ]; [ "x", a; "x", a ] ] do
        Assert.Throws<ArgumentException>(fun () -> Npy.npzBytes NpyDtype.Float64 false bad |> ignore)
        |> ignore

[<Fact>]
let ``A shape whose entry count overflows int64 is refused, not read as empty`` () =
    // 65536^4 = 2^64 wraps to 0 in int64: no data would have matched it.
    for shape in [ "(65536, 65536, 65536, 65536)"; "(2147483647, 2147483647, 2147483647, 2)" ] do
        let msg =
            parseError (withHeader 1uy $"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}" [||])

        Assert.Contains("more than a .NET array holds", msg)
