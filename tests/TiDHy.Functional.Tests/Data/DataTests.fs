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
    let dir = TestUtil.tempDir ()

    for ext in [ ".csv"; ".npy"; ".npz"; ".NPY" ] do
        let p = Path.Combine(dir, "s" + ext)
        Data.save p series
        Assert.Equal<float[,]>(series, Data.load p)

[<Fact>]
let ``Csv files with a header and npy vectors load as series`` () =
    let dir = TestUtil.tempDir ()
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
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "many.npz")
    let other = Npy.ofMatrix (array2D [ [ 9.0 ] ])
    Npy.writeNpz p [ "labels", other; "X", Npy.ofMatrix series ]
    Assert.Equal<float[,]>(series, Data.load p)
    Npy.writeNpz p [ "X", other; "data", Npy.ofMatrix series ]
    Assert.Equal<float[,]>(series, Data.load p)
    Assert.Equal<float[,]>(array2D [ [ 9.0 ] ], Data.loadNpzEntry p "X")

[<Fact>]
let ``An npz without a recognised entry is an error listing its entries`` () =
    let dir = TestUtil.tempDir ()
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
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "cube.npy")
    Npy.writeArray3 p (Array3D.zeroCreate 2 2 2)
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains(p, e.Message)
    Assert.Contains("[2; 2; 2]", e.Message)

    let t =
        Assert.Throws<ArgumentException>(fun () -> Data.load (Path.Combine(dir, "x.txt")) |> ignore)

    Assert.Contains(".txt", t.Message)
    Assert.Contains(".npz", t.Message)

    Assert.Throws<ArgumentException>(fun () -> Data.save (Path.Combine(dir, "x.mat")) series)
    |> ignore

    Assert.Throws<FileNotFoundException>(fun () -> Data.load (Path.Combine(dir, "missing.csv")) |> ignore)
    |> ignore

[<Fact>]
let ``Malformed csv contents reach the caller with the file, line and column`` () =
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "bad.csv")
    File.WriteAllText(p, "1,2\n3,NaN\n")
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains($"{p}: line 2: column 2", e.Message)

[<Fact>]
let ``An SLDS data set saves with upstream's names and loads its training inputs`` () =
    let dir = TestUtil.tempDir ()
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

[<Fact>]
let ``NaN and infinity are refused in npy and npz series, naming the file, row and column`` () =
    let dir = TestUtil.tempDir ()
    let bad = array2D [ [ 1.0; 2.0 ]; [ 3.0; nan ]; [ 5.0; 6.0 ] ]

    for name, write in
        [
            "f8.npy", (fun p -> Npy.write p (Npy.ofMatrix bad))
            "f4.npy",
            (fun p ->
                Npy.writeAs
                    NpyDtype.Float32
                    p
                    (Npy.ofMatrix (Array2D.map (fun v -> if Double.IsNaN v then infinity else v) bad)))
            "one.npz", (fun p -> Npy.writeNpz p [ "data", Npy.ofMatrix bad ])
        ] do
        let p = Path.Combine(dir, name)
        write p
        let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
        Assert.Contains(p, e.Message)
        Assert.Contains("row 2, column 2", e.Message)
        Assert.Contains("finite", e.Message)

    let v = Path.Combine(dir, "v.npy")
    Npy.write v (Npy.ofVector [| 1.0; -infinity |])
    Assert.Contains("row 2", (Assert.Throws<DataFormatException>(fun () -> Data.load v |> ignore)).Message)

[<Fact>]
let ``A labels file of two integer columns loads as two columns, where a series file refuses it as decimal commas`` () =
    // States of two systems, labelled from 1: every row two integers whose second never starts with 0.
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "states.csv")
    File.WriteAllText(p, "1,2\n2,1\n1,1\n2,2\n")
    Assert.Equal<float[,]>(array2D [ [ 1.0; 2.0 ]; [ 2.0; 1.0 ]; [ 1.0; 1.0 ]; [ 2.0; 2.0 ] ], Data.loadLabels p)
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains("decimal comma", e.Message)
    // Every other check stays: a decimal comma in a ';' file, text, another format.
    let semi = Path.Combine(dir, "semi.csv")
    File.WriteAllText(semi, "a;b\n1,5;2\n")

    Assert.Throws<DataFormatException>(fun () -> Data.loadLabels semi |> ignore)
    |> ignore

    let npy = Path.Combine(dir, "states.npy")
    Data.save npy (array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ] ])
    Assert.Equal<float[,]>(array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ] ], Data.loadLabels npy)

[<Fact>]
let ``Semicolon and tab csv files load as documented`` () =
    let dir = TestUtil.tempDir ()

    for name, text in [ "s.csv", "a;b\n1.5;2\n3;4\n"; "t.csv", "1.5\t2\n3\t4\n" ] do
        let p = Path.Combine(dir, name)
        File.WriteAllText(p, text)
        Assert.Equal<float[,]>(array2D [ [ 1.5; 2.0 ]; [ 3.0; 4.0 ] ], Data.load p)

    let p = Path.Combine(dir, "dc.csv")
    File.WriteAllText(p, "a;b\n1,5;2\n")
    let e = Assert.Throws<DataFormatException>(fun () -> Data.load p |> ignore)
    Assert.Contains($"{p}: line 2: column 1", e.Message)
    Assert.Contains("decimal comma", e.Message)

[<Fact>]
let ``Data outside the loss's domain is refused by inference, forward and Data.checkDomain`` () =
    let cases = [ LossKind.BCE, 1.5; LossKind.BCE, -0.25; LossKind.Poisson, -1.0 ]

    for loss, v in cases do
        let cfg =
            { Config.defaults 3 with
                Loss = loss
                RDim = 3
                R2Dim = 2
                MixDim = 2
                HyperHidDim = 4
                MaxIter = 10
            }

        let p = Init.init cfg (Random.key 3)
        let x = Array2D.init 4 3 (fun i j -> if i = 2 && j = 1 then v else 0.5)

        for backend in [ Backend.Reference; Backend.Fused; Backend.FusedFloat32 ] do
            let cfg = { cfg with Backend = backend }

            let e =
                Assert.Throws<ArgumentException>(fun () ->
                    Inference.infer cfg p x (Array2D.zeroCreate 4 3) (Array2D.zeroCreate 4 2)
                    |> ignore)

            Assert.Contains("row 2; column 1", e.Message)
            Assert.Contains($"loss_type {loss}", e.Message)

            Assert.Throws<ArgumentException>(fun () -> Inference.inferFirstStep cfg p x |> ignore)
            |> ignore

            let windows = Array3D.init 4 2 3 (fun i _ j -> x[i, j])

            Assert.Throws<ArgumentException>(fun () -> Forward.forward cfg p None windows |> ignore)
            |> ignore

        let d = Assert.Throws<DataFormatException>(fun () -> Data.checkDomain cfg "s.csv" x)

        Assert.Contains("s.csv: row 3, column 2", d.Message)

    // In range, and MSE anything finite, pass.
    Data.checkDomain
        { Config.defaults 2 with
            Loss = LossKind.BCE
        }
        "s"
        (array2D [ [ 0.0; 1.0 ] ])

    Data.checkDomain
        { Config.defaults 2 with
            Loss = LossKind.Poisson
        }
        "s"
        (array2D [ [ 0.0; 7.0 ] ])

    Data.checkDomain (Config.defaults 2) "s" (array2D [ [ -5.0; 1e9 ] ])

[<Fact>]
let ``A series file with 0 features says so, naming the file`` () =
    let dir = Directory.CreateTempSubdirectory "tidhy-data-"
    let npy = Path.Combine(dir.FullName, "n_0cols.npy")
    Npy.write npy (Npy.create [| 5; 0 |] [||])
    let ex = Assert.Throws<DataFormatException>(fun () -> Data.load npy |> ignore)
    Assert.Contains(npy, ex.Message)
    Assert.Contains("0 features", ex.Message)
    let npz = Path.Combine(dir.FullName, "n_0cols.npz")
    Npy.writeNpz npz [ "data", Npy.create [| 5; 0 |] [||] ]
    let ex = Assert.Throws<DataFormatException>(fun () -> Data.load npz |> ignore)
    Assert.Contains("0 features", ex.Message)
