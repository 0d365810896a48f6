/// `tidhy` with upstream's file formats: `torch.save` files (tests/fixtures/torch, written by
/// PyTorch; see tests/scripts/make_torch_fixtures.py).
module TiDHy.Cli.Tests.InteropTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

let private torchFixture (name: string) =
    Path.Combine(TiDHy.Functional.Tests.TestUtil.repoRoot, "tests", "fixtures", "torch", name)

let private expected64 () =
    use doc = JsonDocument.Parse(File.ReadAllText(torchFixture "expected.json"))
    StateDict.ofJsonElement (doc.RootElement.GetProperty "float64")

[<Fact>]
let ``import-torch reads a torch.save state_dict or checkpoint, recognised by its zip signature`` () =
    let dir = tempDir ()
    let cfg = torchFixture "config.json"

    for source in [ "state_dict_f64.pth"; "checkpoint.pth" ] do
        let out = Path.Combine(dir, $"{source}.tidhy.json")

        let code, stdout, err =
            run
                [
                    "import-torch"
                    "--state-dict"
                    torchFixture source
                    "--config"
                    cfg
                    "--out"
                    out
                ]

        Assert.True((code = 0), $"exit {code}: {err}")
        Assert.Contains("Imported", stdout)
        let read = Checkpoint.read out
        Assert.Equal<Map<string, NamedTensor>>(expected64 (), Map.ofList (ParamLayout.ofParams read.State.Params))

    // The same file under another extension is still a torch file; an int64 one is refused naming it.
    let renamed = Path.Combine(dir, "weights.bin")
    File.Copy(torchFixture "state_dict_f64.pth", renamed)

    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                renamed
                "--config"
                cfg
                "--out"
                Path.Combine(dir, "b.tidhy.json")
            ]

    Assert.True((code = 0), err)

    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                torchFixture "int64.pth"
                "--config"
                cfg
                "--out"
                Path.Combine(dir, "c.tidhy.json")
            ]

    Assert.Equal(1, code)
    Assert.Contains("int64.pth", err)
    Assert.Contains("int64", err)
    Assert.False(File.Exists(Path.Combine(dir, "c.tidhy.json")))

[<Fact>]
let ``train and eval read --data file.h5:/dataset; eval writes record.h5 beside record.npz with the same entries`` () =
    let dir = tempDir ()
    let csv = writeSeries dir "series.csv" 80
    let series = Data.load csv
    // The series inside a group of an HDF5 file that also holds another dataset.
    let h5 = Path.Combine(dir, "session.h5")

    Hdf5.write
        h5
        [
            "rec/traces", Npy.ofMatrix series
            "rec/time", Npy.create [| 80 |] (Array.init 80 float)
            "rec/other", Npy.create [| 2; 2 |] [| 1.0; 2.0; 3.0; 4.0 |]
        ]

    let cfg = writeConfig dir ""
    let runDir = Path.Combine(dir, "run")

    let code, _, err = train (h5 + ":/rec/traces") cfg runDir [ "--epochs"; "1" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let out = Path.Combine(dir, "eval")

    let code, stdout, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(runDir, "last.tidhy.json")
                "--data"
                h5 + ":rec/traces"
                "--out"
                out
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Evaluated continuously: one pass over", stdout)
    let npz = Npy.readNpz (Path.Combine(out, "record.npz"))
    let recordH5 = Path.Combine(out, "record.h5")

    Assert.Equal<string list>(
        npz |> Array.map (fst >> (+) "/") |> Array.toList |> List.sort,
        Hdf5.datasetNames recordH5 |> List.sort
    )

    for name, a in npz do
        Assert.Equal(a, Hdf5.read recordH5 name)

    // The record of the CSV is the same: the HDF5 path read the same series.
    let out2 = Path.Combine(dir, "eval-csv")

    let code, _, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(runDir, "last.tidhy.json")
                "--data"
                csv
                "--out"
                out2
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Equal(Hdf5.read recordH5 "I_hat", Hdf5.read (Path.Combine(out2, "record.h5")) "I_hat")

    // Without a dataset, two of rank 2: an error naming the file and listing them; a missing file.
    let code, _, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(runDir, "last.tidhy.json")
                "--data"
                h5
                "--out"
                Path.Combine(dir, "e3")
            ]

    Assert.Equal(1, code)
    Assert.Contains("session.h5", err)
    Assert.Contains("/rec/traces", err)

    let code, _, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(runDir, "last.tidhy.json")
                "--data"
                Path.Combine(dir, "no.h5") + ":/x"
                "--out"
                Path.Combine(dir, "e4")
            ]

    Assert.Equal(1, code)
    Assert.Contains("no.h5: no such file", err)
