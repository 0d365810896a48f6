/// `tidhy-torch` (src/TiDHy.Torch.Cli): `train` and `eval` with `--backend torch` end to end, against
/// the same commands on the core backend.
module TiDHy.Torch.Tests.CliTests

open System
open System.IO
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private folder () =
    let d =
        Path.Combine(Path.GetTempPath(), "tidhy-torch-cli-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory d |> ignore
    d

let private writeInputs (dir: string) =
    let csv = Path.Combine(dir, "s.csv")

    File.WriteAllLines(
        csv,
        Array.init 240 (fun t ->
            String.Join(
                ",",
                Array.init 3 (fun d ->
                    (sin (0.1 * float t + float d) + 0.3 * cos (0.05 * float t * float (d + 1)))
                        .ToString("R", Globalization.CultureInfo.InvariantCulture))
            ))
    )

    let cfg = Path.Combine(dir, "cfg.json")

    File.WriteAllText(
        cfg,
        // mix_dim > r_dim²: the orthogonal initialisation cannot make the M flattened dynamics matrices
        // orthogonal, so cos_reg's cosines are not ≈ 0 and the sign of their gradient is not decided by
        // rounding (which would let two correct backends part; see FitTests).
        """{"r_dim": 2, "r2_dim": 2, "mix_dim": 6, "hyper_hid_dim": 6, "max_iter": 15, "sequence_length": 20, "overlap": 20, "num_epochs": 2}"""
    )

    csv, cfg

[<Fact>]
let ``tidhy-torch train and eval with --backend torch equal the core backend's`` () =
    let dir = folder ()

    try
        let csv, cfg = writeInputs dir

        let train (out: string) (extra: string list) =
            TiDHy.Torch.Cli.Program.main (
                List.toArray (
                    [ "train"; "--data"; csv; "--config"; cfg; "--out"; Path.Combine(dir, out) ]
                    @ [ "--epochs"; "2"; "--batch-size"; "4" ]
                    @ extra
                )
            )

        Assert.Equal(0, train "torch" [ "--backend"; "torch"; "--device"; "cpu" ])
        Assert.Equal(0, train "core" [])

        let config =
            ConfigJson.parse (File.ReadAllText(Path.Combine(dir, "core", "config.json")))

        let torchModel = StateDict.load config (Path.Combine(dir, "torch", "model.json"))
        let coreModel = StateDict.load config (Path.Combine(dir, "core", "model.json"))
        let t = ParamTree.leaves torchModel |> Map.ofList

        for name, v in ParamTree.leaves coreModel do
            assertClose $"model.json {name}" 1e-7 t[name] v

        let eval (out: string) (extra: string list) =
            TiDHy.Torch.Cli.Program.main (
                List.toArray (
                    [ "eval"; "--model"; Path.Combine(dir, "core", "model.json"); "--config" ]
                    @ [
                        Path.Combine(dir, "core", "config.json")
                        "--data"
                        csv
                        "--out"
                        Path.Combine(dir, out)
                    ]
                    @ extra
                )
            )

        Assert.Equal(0, eval "eval-torch" [ "--backend"; "torch" ])
        Assert.Equal(0, eval "eval-core" [])
        // metrics.csv: the three average losses and the max_iter share, one row.
        let metrics (out: string) =
            (File.ReadAllLines(Path.Combine(dir, out, "metrics.csv"))[1]).Split(',')
            |> Array.map (fun v -> Double.Parse(v, Globalization.CultureInfo.InvariantCulture))

        Assert.True(File.Exists(Path.Combine(dir, "eval-torch", "record.npz")))
        assertClose "eval metrics.csv" 1e-7 (metrics "eval-torch") (metrics "eval-core")
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tidhy-torch train --backend torch --states monitors and selects as the core backend does`` () =
    let dir = folder ()

    try
        let csv, cfg = writeInputs dir
        let states = Path.Combine(dir, "states.csv")
        File.WriteAllLines(states, Array.init 240 (fun t -> string ((t / 30) % 2)))

        let train (out: string) (extra: string list) =
            TiDHy.Torch.Cli.Program.main (
                List.toArray (
                    [ "train"; "--data"; csv; "--config"; cfg; "--out"; Path.Combine(dir, out) ]
                    @ [ "--epochs"; "3"; "--batch-size"; "4"; "--val-fraction"; "0.25" ]
                    @ [ "--states"; states; "--select"; "r2"; "--monitor-every"; "2" ]
                    @ extra
                )
            )

        Assert.Equal(0, train "torch" [ "--backend"; "torch" ])
        Assert.Equal(0, train "core" [])

        // metrics.csv: the monitored accuracies on epochs 2 and 3 (every 2nd and the last), empty
        // on epoch 1, equal in both.
        let column (out: string) (name: string) =
            let lines = File.ReadAllLines(Path.Combine(dir, out, "metrics.csv"))
            let k = Array.IndexOf(lines[0].Split(','), name)
            Assert.True(k >= 0, $"{out}/metrics.csv has no column {name}: {lines[0]}")
            lines[1..] |> Array.map (fun l -> l.Split(',')[k])

        for name in [ "r2_hat_accuracy"; "w_accuracy" ] do
            let torch, core = column "torch" name, column "core" name
            Assert.Equal(3, torch.Length)
            Assert.Equal("", torch[0])
            Assert.NotEqual<string>("", torch[1])
            Assert.Equal<string[]>(core, torch)

        let config =
            ConfigJson.parse (File.ReadAllText(Path.Combine(dir, "core", "config.json")))

        let best (out: string) =
            (Checkpoint.load config (Path.Combine(dir, out, "best.tidhy.json"))).Best.Value

        let torchBest, coreBest = best "torch", best "core"
        Assert.Equal("r2_hat_accuracy", torchBest.Criterion)
        Assert.Equal(coreBest.Epoch, torchBest.Epoch)
        let t = ParamTree.leaves torchBest.Params |> Map.ofList

        for name, v in ParamTree.leaves coreBest.Params do
            assertClose $"best {name}" 1e-7 t[name] v
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``An unknown --backend is a usage error before anything is written`` () =
    let dir = folder ()

    try
        let csv, cfg = writeInputs dir
        let out = Path.Combine(dir, "out")

        let rc =
            TiDHy.Torch.Cli.Program.main
                [|
                    "train"
                    "--data"
                    csv
                    "--config"
                    cfg
                    "--out"
                    out
                    "--backend"
                    "nosuch"
                |]

        Assert.Equal(2, rc)
        Assert.False(Directory.Exists out)
    finally
        Directory.Delete(dir, true)

/// `tidhy-torch args` with standard error collected (other tests' output may join it).
let private withError (args: string list) =
    let err = new StringWriter()
    let old = Console.Error
    Console.SetError err

    try
        let code = TiDHy.Torch.Cli.Program.main (List.toArray args)
        code, err.ToString()
    finally
        Console.SetError old

[<Fact>]
let ``--device is checked before anything is written, and train --force keeps the run it cannot replace`` () =
    let dir = folder ()

    try
        let csv, cfg = writeInputs dir
        let out = Path.Combine(dir, "out")

        let train (extra: string list) =
            withError (
                [ "train"; "--data"; csv; "--config"; cfg; "--out"; out; "--epochs"; "1" ]
                @ extra
            )

        for d in [ "tpu"; "cuda:x"; "cuda:-1"; "mps"; "meta" ] do
            let code, err = train [ "--backend"; "torch"; "--device"; d ]
            Assert.True((code = 2), $"--device {d}: exit {code}: {err}")
            Assert.Contains($"--device '{d}' is not a device", err)
            Assert.False(Directory.Exists out, $"--device {d}: created {out}")

        let code, err =
            withError [ "bench"; "--device"; "tpu"; "--batch"; "1"; "--no-reference" ]

        Assert.True((code = 2), $"bench --device tpu: exit {code}: {err}")

        // A run to replace.
        let code, err = train [ "--batch-size"; "4" ]
        Assert.True((code = 0), $"exit {code}: {err}")

        let snapshot () =
            Directory.GetFiles out
            |> Array.filter (fun f -> Path.GetFileName f <> ".tidhy.lock")
            |> Array.sort
            |> Array.map (fun f -> f, File.ReadAllBytes f)

        let before = snapshot ()

        // An option the torch backend does not implement: refused before the run is touched.
        let float32 = Path.Combine(dir, "float32.json")

        File.WriteAllText(
            float32,
            (File.ReadAllText cfg)
                .Replace("\"num_epochs\": 2", "\"num_epochs\": 2, \"training_precision\": \"float32\"")
        )

        let code, err =
            withError (
                [ "train"; "--data"; csv; "--config"; float32; "--out"; out; "--epochs"; "1" ]
                @ [ "--backend"; "torch"; "--force" ]
            )

        Assert.True((code = 1), $"exit {code}: {err}")
        Assert.Contains("training_precision", err)
        Assert.True((before = snapshot ()), "the run changed")

        // CUDA where this machine has none: one line, before anything is written.
        if not (TorchSharp.torch.cuda.is_available ()) then
            let code, err = train [ "--backend"; "torch"; "--device"; "cuda"; "--force" ]
            Assert.True((code = 1), $"exit {code}: {err}")
            Assert.Contains("--device 'cuda': no CUDA device here", err)
            Assert.DoesNotContain("Trace", err)
            Assert.True((before = snapshot ()), "the run changed")
    finally
        Directory.Delete(dir, true)
