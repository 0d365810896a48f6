/// `Hdf5` and `Data.load` on HDF5 files that h5py wrote (tests/fixtures/h5, made by
/// tests/scripts/make_h5_fixtures.py, which also checks that h5py reads our writer's file).
module TiDHy.Functional.Tests.Hdf5Tests

open System
open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private fixture (name: string) =
    Path.Combine(repoRoot, "tests", "fixtures", "h5", name)

/// The datasets of `file` in expected.json (written by the script from the same arrays).
let private expected (file: string) : Map<string, NamedTensor> =
    use doc = JsonDocument.Parse(File.ReadAllText(fixture "expected.json"))
    StateDict.ofJsonElement (doc.RootElement.GetProperty file)

let private matrix (t: NamedTensor) =
    Array2D.init t.Shape[0] t.Shape[1] (fun i j -> t.Data[i * t.Shape[1] + j])

let private tempFile (name: string) =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-h5-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    Path.Combine(d, name)

[<Fact>]
let ``h5py's float64 and float32 datasets, in groups, read exactly`` () =
    let want = expected "series.h5"
    Assert.Equal<string list>([ "/group/sub/x32"; "/t"; "/x64" ], Hdf5.datasetNames (fixture "series.h5") |> List.sort)

    for name in [ "/x64"; "/group/sub/x32"; "/t" ] do
        Assert.Equal(want[name], Hdf5.read (fixture "series.h5") name)

    // Without the leading '/', and through Data.load's file:dataset syntax.
    Assert.Equal(want["/group/sub/x32"], Hdf5.read (fixture "series.h5") "group/sub/x32")
    Assert.Equal<float[,]>(matrix want["/x64"], Data.load (fixture "series.h5" + ":/x64"))
    Assert.Equal<float[,]>(matrix want["/group/sub/x32"], Data.load (fixture "series.h5" + ":group/sub/x32"))
    // A rank-1 dataset is one feature.
    Assert.Equal<float[,]>(Array2D.init 5 1 (fun i _ -> float i), Data.load (fixture "series.h5" + ":/t"))

[<Fact>]
let ``A file with one rank-2 dataset needs no dataset path; with several it lists them`` () =
    let want = expected "single.h5"
    Assert.Equal<float[,]>(matrix want["/recording/traces"], Data.load (fixture "single.h5"))

    let ex =
        Assert.Throws<DataFormatException>(fun () -> Data.load (fixture "series.h5") |> ignore)

    Assert.Contains("series.h5", ex.Message)
    Assert.Contains("'/x64'", ex.Message)
    Assert.Contains("'/group/sub/x32'", ex.Message)

    let ex =
        Assert.Throws<DataFormatException>(fun () -> Data.load (fixture "series.h5" + ":/nope") |> ignore)

    Assert.Contains("/nope", ex.Message)
    Assert.Contains("'/x64'", ex.Message)

[<Fact>]
let ``NaN and integer datasets are refused naming the file, dataset, row and column`` () =
    let ex =
        Assert.Throws<DataFormatException>(fun () -> Data.load (fixture "nan.h5") |> ignore)

    Assert.Contains("nan.h5", ex.Message)
    Assert.Contains("'/data'", ex.Message)
    Assert.Contains("row 3, column 2", ex.Message)

    let ex =
        Assert.Throws<DataFormatException>(fun () -> Data.load (fixture "int.h5") |> ignore)

    Assert.Contains("int.h5", ex.Message)
    Assert.Contains("FixedPoint", ex.Message)

[<Fact>]
let ``Our writer's file reads back, and h5py read it (make_h5_fixtures.py)`` () =
    let want = expected "series.h5"

    for KeyValue(name, t) in want do
        Assert.Equal(t, Hdf5.read (fixture "written_by_tidhy.h5") name)

[<Fact>]
let ``Write then read gives the same arrays, in groups and of rank 1 to 4`` () =
    let entries =
        [
            "I",
            {
                Shape = [| 2; 3; 2 |]
                Data = Array.init 12 (fun i -> float i / 7.0)
            }
            "Ut",
            {
                Shape = [| 1; 2; 2; 2 |]
                Data = Array.init 8 (fun i -> -float i * Math.PI)
            }
            "a/b/c",
            {
                Shape = [| 4 |]
                Data = [| 1e-300; -0.0; Double.MaxValue; 0.1 |]
            }
            "m",
            {
                Shape = [| 3; 2 |]
                Data = [| 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 |]
            }
        ]

    let path = tempFile "record.h5"
    Hdf5.write path entries

    for name, t in entries do
        Assert.Equal(t, Hdf5.read path name)

    let series = Array2D.init 7 3 (fun i j -> float (i * 3 + j) / 3.0)
    let p2 = tempFile "series.hdf5"
    Data.save p2 series
    Assert.Equal<float[,]>(series, Data.load p2)
    Assert.Equal<float[,]>(series, Data.load (p2 + ":/data"))

/// `bytes` with every occurrence of `find` replaced by `replace` (of the same length); at least one.
let private patch (find: byte[]) (replace: byte[]) (bytes: byte[]) =
    let out = Array.copy bytes
    let mutable n = 0

    for i in 0 .. bytes.Length - find.Length do
        if bytes.AsSpan(i, find.Length).SequenceEqual(ReadOnlySpan find) then
            Array.blit replace 0 out i replace.Length
            n <- n + 1

    Assert.True(n > 0, "pattern not found")
    out

/// Two dimensions as a dataspace message holds them (8-byte little-endian lengths).
let private dims2 (a: uint64) (b: uint64) =
    Array.append (BitConverter.GetBytes a) (BitConverter.GetBytes b)

let private dataFails (path: string) (parts: string list) =
    let ex = Assert.Throws<DataFormatException>(fun () -> Data.load path |> ignore)

    for p in parts do
        Assert.Contains(p, ex.Message)

[<Fact>]
let ``A contiguous dataset declaring more data than the file holds is refused before reading`` () =
    // single.h5's /recording/traces is [5; 2] float32, contiguous, in a 4752-byte file; declared as
    // [100000; 20] it needs 8 MB that the file does not have.
    let path = tempFile "declared.h5"

    File.WriteAllBytes(
        path,
        File.ReadAllBytes(fixture "single.h5")
        |> patch (dims2 5UL 2UL) (dims2 100_000UL 20UL)
    )

    dataFails (path + ":/recording/traces") [ path; "'/recording/traces'"; "100000, 20"; "8000000 bytes"; "4752" ]

    // Dimensions whose product is more than an array holds (it does not overflow silently either).
    File.WriteAllBytes(
        path,
        File.ReadAllBytes(fixture "single.h5")
        |> patch (dims2 5UL 2UL) (dims2 2_000_000_000UL 2_000_000_000UL)
    )

    dataFails (path + ":/recording/traces") [ path; "more than a .NET array holds" ]

[<Fact>]
let ``A chunked dataset declaring far more than its file could expand to is refused before reading`` () =
    // A 300-byte file whose chunked [5; 2] dataset is declared [200000; 20]: 32 MB of never-written
    // chunks that would read as fill values.
    let path = tempFile "chunked.h5"
    let root = PureHDF.H5File()
    root["x"] <- PureHDF.H5Dataset(Array.init 10 float, fileDims = [| 5UL; 2UL |], chunks = [| 5u; 2u |])
    root.Write path
    Assert.Equal<float[,]>(Array2D.init 5 2 (fun i j -> float (2 * i + j)), Data.load path)
    File.WriteAllBytes(path, File.ReadAllBytes path |> patch (dims2 5UL 2UL) (dims2 200_000UL 20UL))
    dataFails path [ path; "'/x'"; "200000, 20"; "chunked"; "1032 times" ]

[<Fact>]
let ``Big-endian, truncated and unsupported-filter files are one line naming the file`` () =
    // The float32 datatype of single.h5 with its byte-order bit set.
    let path = tempFile "big-endian.h5"
    let le = [| 0x11uy; 0x20uy; 0x1fuy; 0x00uy; 0x04uy; 0uy; 0uy; 0uy |]
    let be = [| 0x11uy; 0x21uy; 0x1fuy; 0x00uy; 0x04uy; 0uy; 0uy; 0uy |]
    File.WriteAllBytes(path, File.ReadAllBytes(fixture "single.h5") |> patch le be)
    dataFails path [ path; "big-endian" ]

    let cut = tempFile "cut.h5"
    File.WriteAllBytes(cut, (File.ReadAllBytes(fixture "single.h5"))[..2999])
    dataFails cut [ cut ]

    // A deflated dataset whose filter is changed to szip (id 4), which PureHDF does not have.
    let szip = tempFile "szip.h5"
    let root = PureHDF.H5File()
    root["x"] <- PureHDF.H5Dataset(Array.init 10 float, fileDims = [| 5UL; 2UL |], chunks = [| 5u; 2u |])

    let options =
        PureHDF.H5WriteOptions(
            Filters =
                Collections.Generic.List<PureHDF.Filters.H5Filter>(
                    [ PureHDF.Filters.H5Filter(PureHDF.Filters.DeflateFilter.Id) ]
                )
        )

    root.Write(szip, options)
    Assert.Equal<float[,]>(Array2D.init 5 2 (fun i j -> float (2 * i + j)), Data.load szip)
    // Filter pipeline message v2: one filter, id 1 (deflate), flags 0, one value (level 6).
    let deflate = [| 2uy; 1uy; 1uy; 0uy; 0uy; 0uy; 1uy; 0uy; 6uy; 0uy; 0uy; 0uy |]
    let other = [| 2uy; 1uy; 4uy; 0uy; 0uy; 0uy; 1uy; 0uy; 6uy; 0uy; 0uy; 0uy |]
    File.WriteAllBytes(szip, File.ReadAllBytes szip |> patch deflate other)
    dataFails szip [ szip; "'/x'"; "filter" ]
