/// Tests of `tidhy data slds` (the SLDS benchmark written to HDF5) and of `tidhy train --full-batch`.
module TiDHy.Cli.Tests.DataCliTests

open System.IO
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

[<Fact>]
let ``data slds --scale demo writes the demo's data with its true states, and train reads it`` () =
    let dir = tempDir ()
    let file = Path.Combine(dir, "slds.h5")

    let code, out, err =
        run [ "data"; "slds"; "--scale"; "demo"; "--seed"; "3"; "--out"; file ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("20000/2000/2000", out)
    // The demo's data of the same seed (Demo.run: the first key of the seed's split).
    let expected = Slds.generate Slds.demo (fst (Random.split (Random.key 3)))
    Assert.Equal(expected.Train.Observations, Data.load (file + ":/train/observations"))
    Assert.Equal(Array2D.map float expected.Val.States, Data.loadLabels (file + ":/val/states"))
    Assert.Equal(expected.Test.Latents, Data.load (file + ":/test/latents"))
    // An existing file is kept without --force; an unknown scale is a usage error.
    let code, _, err = run [ "data"; "slds"; "--scale"; "demo"; "--out"; file ]
    Assert.Equal(1, code)
    Assert.Contains("--force", err)

    let code, _, err =
        run [ "data"; "slds"; "--scale"; "huge"; "--out"; Path.Combine(dir, "x.h5") ]

    Assert.Equal(2, code)
    Assert.Contains("\"demo\" or \"paper\"", err)
    Assert.False(File.Exists(Path.Combine(dir, "x.h5")))
    // An --out that cannot be written: in a missing folder, under a file, a folder; refused at once.
    for out, says in
        [
            Path.Combine(dir, "missing", "x.h5"), "does not exist"
            Path.Combine(file, "x.h5"), "is a file, not a folder"
            dir, "is a folder"
        ] do
        let code, _, err = run [ "data"; "slds"; "--scale"; "demo"; "--out"; out ]
        Assert.Equal(1, code)
        Assert.StartsWith("tidhy: --out", err)
        Assert.Contains(says, err)

    Assert.False(Directory.Exists(Path.Combine(dir, "missing")))
    // tidhy train on the file's observations, validated on its val split with its states.
    let cfg = writeConfig dir ""
    let run1 = Path.Combine(dir, "run")

    let code, _, err =
        train
            (file + ":/train/observations")
            cfg
            run1
            [
                "--val-data"
                file + ":/val/observations"
                "--states"
                file + ":/val/states"
                "--epochs"
                "1"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")

[<Fact>]
let ``train --full-batch trains every window in one batch and records the window count as the batch size`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 120
    let cfg = writeConfig dir ""
    let out = Path.Combine(dir, "run")
    let code, _, err = train data cfg out [ "--full-batch"; "--epochs"; "2" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    // 120 steps, the last 10% held out: 108 training steps, windows of 10 starting 5 apart: 20.
    let state =
        Checkpoint.load
            (ConfigJson.parse (File.ReadAllText(Path.Combine(out, "config.json"))))
            (Path.Combine(out, "last.tidhy.json"))

    Assert.Equal(2, state.Optimizer.Step)
    Assert.Contains("\"batch_size\": 20", File.ReadAllText(Path.Combine(out, "last.tidhy.json")))
    // With --batch-size it is a usage error.
    let code, _, err =
        train data cfg (Path.Combine(dir, "other")) [ "--full-batch"; "--batch-size"; "4" ]

    Assert.Equal(2, code)
    Assert.Contains("--full-batch", err)
