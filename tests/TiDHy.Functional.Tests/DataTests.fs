/// Tests of `Data`: loading and saving series by extension, the choice of `.npz` entry, and errors.
module TiDHy.Functional.Tests.DataTests

open System
open System.IO
open TiDHy.Functional
open Xunit

let private series =
    Array2D.init 7 3 (fun t j -> Math.Sin(float (t * 3 + j)) * 10.0 ** float (j - 1))

[<Fact>]
let ``A series saved as csv, npy or npz loads back exactly`` () =
    let dir = NpyTests.tempDir ()

    for ext in [ ".csv"; ".npy"; ".npz"; ".NPY" ] do
        let p = Path.Combine(dir, "s" + ext)
        Data.save p series
        Assert.Equal<float[,]>(series, Data.load p)

[<Fact>]
let ``Csv files with a header and npy vectors load as series`` () =
    let dir = NpyTests.tempDir ()
    let csv = Path.Combine(dir, "h.csv")
    File.WriteAllText(csv, "a,b\n1,2\n3,4\n")
    Assert.Equal<float[,]>(array2D [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ] ], Data.load csv)
    let npy = Path.Combine(dir, "v.npy")
    Npy.write npy (Npy.ofVector [| 1.0; 2.0; 3.0 |])
    Assert.Equal<float[,]>(array2D [ [ 1.0 ]; [ 2.0 ]; [ 3.0 ] ], Data.load npy)
    Npy.writeAs NpyDtype.Float32 npy (Npy.ofMatrix (array2D [ [ 0.5 ] ]))
    Assert.Equal<float[,]>(array2D [ [ 0.5 ] ], Data.load npy)

[<Fact>]
let ``An npz with several arrays loads the one named data, X, x or inputs_train`` () =
    let dir = NpyTests.tempDir ()
    let p = Path.Combine(dir, "many.npz")
    let other = Npy.ofMatrix (array2D [ [ 9.0 ] ])
    Npy.writeNpz p [ "labels", other; "X", Npy.ofMatrix series ]
    Assert.Equal<float[,]>(series, Data.load p)
    Npy.writeNpz p [ "X", other; "data", Npy.ofMatrix series ]
    Assert.Equal<float[,]>(series, Data.load p)
    Assert.Equal<float[,]>(array2D [ [ 9.0 ] ], Data.loadNpzEntry p "X")

[<Fact>]
let ``An npz without a recognised entry is an error listing its entries`` () =
    let dir = NpyTests.tempDir ()
    let p = Path.Combine(dir, "two.npz")
    let a = Npy.ofMatrix (array2D [ [ 1.0 ] ])
    Npy.writeNpz p [ "first", a; "second", a ]
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains(p, e.Message)
    Assert.Contains("'first', 'second'", e.Message)
    Assert.Contains("loadNpzEntry", e.Message)

    let e2 =
        Assert.Throws<DataFormatException>(fun () -> Data.loadNpzEntry p "third" |> ignore)

    Assert.Contains("no entry 'third'", e2.Message)

[<Fact>]
let ``Arrays that are not series and unknown extensions are errors naming the file`` () =
    let dir = NpyTests.tempDir ()
    let p = Path.Combine(dir, "cube.npy")
    Npy.writeArray3 p (Array3D.zeroCreate 2 2 2)
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains(p, e.Message)
    Assert.Contains("[2; 2; 2]", e.Message)

    let t =
        Assert.Throws<ArgumentException>(fun () -> Data.load (Path.Combine(dir, "x.txt")) |> ignore)

    Assert.Contains(".txt", t.Message)
    Assert.Contains(".npz", t.Message)

    Assert.Throws<ArgumentException>(fun () -> Data.save (Path.Combine(dir, "x.h5")) series)
    |> ignore

    Assert.Throws<FileNotFoundException>(fun () -> Data.load (Path.Combine(dir, "missing.csv")) |> ignore)
    |> ignore

[<Fact>]
let ``Malformed csv contents reach the caller with the file, line and column`` () =
    let dir = NpyTests.tempDir ()
    let p = Path.Combine(dir, "bad.csv")
    File.WriteAllText(p, "1,2\n3,NaN\n")
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains($"{p}: line 2: column 2", e.Message)

[<Fact>]
let ``An SLDS data set saves with upstream's names and loads its training inputs`` () =
    let dir = NpyTests.tempDir ()
    let p = Path.Combine(dir, "slds.npz")

    let d =
        Slds.generate
            { Slds.defaults with
                TrainLength = 400
                ValLength = 300
                TestLength = 300
                MinStateFraction = 0.3
            }
            (Random.key 1)

    Data.saveSlds p d
    let names = Npy.readNpz p |> Array.map fst

    Assert.Equal<string[]>(
        [|
            "inputs_train"
            "states_z"
            "states_x"
            "inputs_val"
            "states_z_val"
            "states_x_val"
            "inputs_test"
            "states_z_test"
            "states_x_test"
            "projection"
        |],
        names
    )

    Assert.Equal<float[,]>(d.Train.Observations, Data.load p)
    Assert.Equal<float[,]>(Array2D.map float d.Test.States, Data.loadNpzEntry p "states_z_test")
