/// `train --force` keeps the run it replaces until the new run has a checkpoint; `--states` is
/// checked and fingerprinted; the lock is never a symbolic link; `--resume --preset`; empty model
/// files; `--device` where no backend takes it.
module TiDHy.Cli.Tests.ReplaceSafetyTests

open System
open System.IO
open System.Text
open TiDHy.Functional
open TiDHy.Cli.Tests.CliTests
open Xunit

/// The tiny configuration: windows of 10 steps, 10 apart, 3 features.
let private tinyConfig (dir: string) (extra: string) =
    let path = Path.Combine(dir, $"tiny-{Guid.NewGuid():N}.json")

    File.WriteAllText(
        path,
        $"""{{"r_dim": 2, "r2_dim": 2, "mix_dim": 2, "hyper_hid_dim": 4, "max_iter": 10, "tol": 0.01, "sequence_length": 10, "overlap": 10, "num_epochs": 1{extra}}}"""
    )

    path

/// Every file of `dir` (the lock aside) with its bytes, sorted, and whether the backup folder is there.
let private snapshot (dir: string) =
    let files =
        Directory.GetFiles dir
        |> Array.filter (fun f -> Path.GetFileName f <> ".tidhy.lock")
        |> Array.sort
        |> Array.map (fun f -> Path.GetFileName f, File.ReadAllBytes f)

    files, Directory.Exists(Path.Combine(dir, ".tidhy-replaced"))

/// `snapshot dir` equals `expected` (file names and bytes, and the backup folder's presence).
let private unchanged (expected: (string * byte[])[] * bool) (dir: string) =
    let now = snapshot dir
    let names = fst >> Array.map fst >> String.concat ", "
    Assert.True((now = expected), $"{dir} changed: {names expected} -> {names now}, backup {snd now}")

/// A finished one-epoch run in `out` on 60 steps (6 windows), batches of 3.
let private firstRun (dir: string) (out: string) =
    let data = writeSeries dir "series.csv" 60
    let cfg = tinyConfig dir ""

    let code, _, err =
        train data cfg out [ "--batch-size"; "3"; "--epochs"; "1"; "--val-fraction"; "0" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.True(File.Exists(Path.Combine(out, "model.json")))
    data

[<Fact>]
let ``train --force that fails a check or diverges in its first batch leaves the replaced run as it was`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let data = firstRun dir out
    let before = snapshot out

    // Stateful training needs a window count (6) that is a multiple of the batch size (4).
    let code, _, err =
        train data (tinyConfig dir ", \"stateful\": true") out [ "--batch-size"; "4"; "--val-fraction"; "0"; "--force" ]

    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("--batch-size 4", err)
    Assert.Contains("6 training windows", err)
    unchanged before out

    // A first batch that diverges: the replaced run is put back.
    let diverging =
        tinyConfig dir ", \"learning_rate_s\": 1.79e308, \"learning_rate_t\": 1.79e308, \"learning_rate_h\": 1.79e308"

    let code, stdout, err =
        train data diverging out [ "--batch-size"; "8"; "--val-fraction"; "0"; "--force" ]

    Assert.True((code = 1), $"exit {code}: {stdout} {err}")
    Assert.Contains("diverged at epoch 1, batch 1", err)
    Assert.Contains("restored", err)
    unchanged before out

    // A --force that trains replaces the run and keeps no copy of it.
    let code, _, err =
        train
            data
            (tinyConfig dir ", \"temp_weight\": 0.25")
            out
            [ "--batch-size"; "3"; "--val-fraction"; "0"; "--force" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    let after, backup = snapshot out
    Assert.False(backup, "the replaced run's copy is still there")
    Assert.Equal(0.25, (Checkpoint.read (Path.Combine(out, "last.tidhy.json"))).Config.TempWeight)
    Assert.False((fst before = after), "the run was not replaced")

[<Fact>]
let ``A replacement that a killed train --force left is restored, or removed once the new run had a checkpoint`` () =
    let dir = tempDir ()
    let out = Path.Combine(dir, "run")
    let data = firstRun dir out
    let before = snapshot out
    let backup = Path.Combine(out, ".tidhy-replaced")

    // Killed after setting the run aside and writing the new config.json, before a checkpoint.
    let setAside () =
        Directory.CreateDirectory backup |> ignore

        for f, _ in fst before do
            File.Move(Path.Combine(out, f), Path.Combine(backup, f))

        File.WriteAllText(Path.Combine(backup, ".complete"), "")

    setAside ()
    File.WriteAllText(Path.Combine(out, "config.json"), "{}")

    let code, _, err =
        run
            [
                "eval"
                "--model"
                Path.Combine(out, "last.tidhy.json")
                "--data"
                data
                "--out"
                out
            ]
    // eval refuses the restored run's folder (it holds a run): what matters is that it is back.
    Assert.Equal(1, code)
    Assert.Contains("Restored the run", err)
    unchanged before out

    // Killed while moving the files aside (no marker): those already moved come back.
    Directory.CreateDirectory backup |> ignore
    File.Move(Path.Combine(out, "model.json"), Path.Combine(backup, "model.json"))

    let code, _, err =
        train data (tinyConfig dir "") out [ "--batch-size"; "3"; "--val-fraction"; "0"; "--epochs"; "1"; "--resume" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Restored the run", err)
    Assert.False(Directory.Exists backup)
    Assert.True(File.Exists(Path.Combine(out, "model.json")))

    // Killed after the new run's first checkpoint: the replaced run is removed, the new one stays.
    setAside ()
    let newLast = Path.Combine(out, "last.tidhy.json")
    File.WriteAllBytes(newLast, File.ReadAllBytes(Path.Combine(backup, "last.tidhy.json")))
    let expected = [| "last.tidhy.json", File.ReadAllBytes newLast |], false

    let code, _, err = run [ "eval"; "--model"; newLast; "--data"; data; "--out"; out ]

    Assert.Equal(1, code)
    Assert.Contains("Removed the run that an interrupted --force replaced", err)
    unchanged expected out

/// A `.npy` of float64 `[rows; cols]` filled with `value`.
let private npy (path: string) (rows: int) (cols: int) (value: float) =
    let dict =
        $"{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}"

    let pad = 64 - (10 + dict.Length + 1) % 64
    let header = dict + String(' ', pad) + "\n"

    let bytes =
        [|
            yield! [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y'; 1uy; 0uy |]
            yield! BitConverter.GetBytes(uint16 header.Length)
            yield! Encoding.ASCII.GetBytes header
            for _ in 1 .. rows * cols do
                yield! BitConverter.GetBytes value
        |]

    File.WriteAllBytes(path, bytes)

[<Fact>]
let ``--states refuses a file without columns, warns for one class, and a resume checks the states`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let cfg = tinyConfig dir ""

    let trainWith (out: string) (states: string option) (extra: string list) =
        train
            data
            cfg
            out
            ([ "--batch-size"; "2"; "--val-fraction"; "0.2" ]
             @ (states |> Option.map (fun s -> [ "--states"; s ]) |> Option.defaultValue [])
             @ extra)

    let none = Path.Combine(dir, "none.npy")
    npy none 60 0 0.0

    let code, _, err =
        trainWith (Path.Combine(dir, "a")) (Some none) [ "--epochs"; "1" ]

    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("none.npy: shape [60; 0]: the data has 0 features", err)

    let one = Path.Combine(dir, "one.csv")
    File.WriteAllLines(one, Array.create 60 "3")
    let code, _, err = trainWith (Path.Combine(dir, "b")) (Some one) [ "--epochs"; "1" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("Warning: --states", err)
    Assert.Contains("one state", err)

    // Two states files that differ in the validation steps.
    let states = Path.Combine(dir, "states.csv")
    File.WriteAllLines(states, Array.init 60 (fun t -> string ((t / 3) % 2)))
    let other = Path.Combine(dir, "other.csv")
    File.WriteAllLines(other, Array.init 60 (fun t -> string ((t / 4) % 2)))
    let out = Path.Combine(dir, "c")
    let code, _, err = trainWith out (Some states) [ "--epochs"; "1" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.DoesNotContain("Warning: --states", err)
    let last = Path.Combine(out, "last.tidhy.json")
    let stored = Checkpoint.read last
    Assert.True(stored.Run.Value.StatesSha256.IsSome, "no states fingerprint in the checkpoint")
    let bytes = File.ReadAllBytes last
    let code, _, err = trainWith out (Some other) [ "--epochs"; "2"; "--resume" ]
    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("other states", err)
    let code, _, err = trainWith out None [ "--epochs"; "2"; "--resume" ]
    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("--states", err)
    Assert.Equal<byte[]>(bytes, File.ReadAllBytes last)
    let code, _, err = trainWith out (Some states) [ "--epochs"; "2"; "--resume" ]
    Assert.True((code = 0), $"exit {code}: {err}")

    // A checkpoint written before the states were recorded resumes unchecked.
    let stored = Checkpoint.read last

    Checkpoint.saveWith
        last
        stored.Config
        (Some
            { stored.Run.Value with
                StatesSha256 = None
            })
        stored.State

    Assert.DoesNotContain("states_sha256", File.ReadAllText last)
    let code, _, err = trainWith out (Some other) [ "--epochs"; "3"; "--resume" ]
    Assert.True((code = 0), $"exit {code}: {err}")

[<Fact>]
let ``A lock file planted as a symbolic link is refused, its target never created`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let out = Path.Combine(dir, "run")
    Directory.CreateDirectory out |> ignore
    let target = Path.Combine(dir, "elsewhere", "victim")
    Directory.CreateDirectory(Path.GetDirectoryName target) |> ignore
    File.CreateSymbolicLink(Path.Combine(out, ".tidhy.lock"), target) |> ignore

    let code, _, err =
        train data (tinyConfig dir "") out [ "--batch-size"; "3"; "--val-fraction"; "0" ]

    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("symbolic link", err)
    Assert.False(File.Exists target, "the link's target was created")
    Assert.False(File.Exists(Path.Combine(out, "config.json")))

[<Fact>]
let ``--resume --preset applies the preset to the checkpoint's configuration`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let cfg = tinyConfig dir ""
    let out = Path.Combine(dir, "run")
    let args = [ "--batch-size"; "3"; "--val-fraction"; "0" ]

    let code, _, err =
        train data cfg out (args @ [ "--epochs"; "1"; "--preset"; "recovery" ])

    Assert.True((code = 0), $"exit {code}: {err}")

    let resume extra =
        run (
            [ "train"; "--data"; data; "--out"; out; "--resume"; "--epochs"; "2" ]
            @ [ "--val-fraction"; "0" ]
            @ extra
        )

    // The run was made with the preset: resuming with it changes nothing.
    let code, _, err = resume [ "--preset"; "recovery" ]
    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Equal(2, (Checkpoint.read (Path.Combine(out, "last.tidhy.json"))).State.Epoch)

    // A run made without it: the preset would change it, refused naming the options.
    let plain = Path.Combine(dir, "plain")
    let code, _, err = train data cfg plain (args @ [ "--epochs"; "1" ])
    Assert.True((code = 0), $"exit {code}: {err}")

    let code, _, err =
        run (
            [ "train"; "--data"; data; "--out"; plain; "--resume"; "--epochs"; "2" ]
            @ [ "--val-fraction"; "0"; "--preset"; "recovery" ]
        )

    Assert.True((code = 1), $"exit {code}: {err}")
    Assert.Contains("--preset recovery would change", err)
    Assert.Contains("learning_rate_h", err)

[<Fact>]
let ``An empty model or state_dict file is called empty`` () =
    let dir = tempDir ()
    let data = writeSeries dir "series.csv" 60
    let cfg = tinyConfig dir ""
    let empty = Path.Combine(dir, "empty.json")
    File.WriteAllText(empty, "")

    let code, _, err =
        run
            [
                "eval"
                "--model"
                empty
                "--config"
                cfg
                "--data"
                data
                "--out"
                Path.Combine(dir, "ev")
            ]

    Assert.Equal(1, code)
    Assert.Contains("empty.json: the file is empty", err)
    let blank = Path.Combine(dir, "blank.pth")
    File.WriteAllText(blank, " \n")

    let code, _, err =
        run
            [
                "import-torch"
                "--state-dict"
                blank
                "--config"
                cfg
                "--out"
                Path.Combine(dir, "i.tidhy.json")
            ]

    Assert.Equal(1, code)
    Assert.Contains("blank.pth: the file is empty", err)

[<Fact>]
let ``tidhy bench --device is a usage error: no backend takes it`` () =
    for args in
        [
            [ "bench"; "--device"; "tpu"; "--batch"; "1" ]
            [ "bench"; "--device"; "cpu"; "train" ]
        ] do
        let code, stdout, err = run args
        Assert.True((code = 2), $"{args}: exit {code}: {err}")
        Assert.Contains("--device", err)
        Assert.Equal("", stdout)
