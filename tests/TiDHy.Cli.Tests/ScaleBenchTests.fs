/// `tidhy bench scale` on tiny grids: the rows of scale.json and their arithmetic, the skip rule, the
/// page, and the usage errors. No test looks at a timing's value.
module TiDHy.Cli.Tests.ScaleBenchTests

open System
open TiDHy.Cli.Tests.CliTests
open Xunit

let private scale (out: string) (args: string list) =
    run ([ "bench"; "scale"; "--seconds"; "0"; "--out"; out ] @ args)

/// scale.json's root, read from `out`.
let private table (out: string) =
    Text.Json.JsonDocument.Parse(IO.File.ReadAllText(IO.Path.Combine(out, "scale.json")))

[<Fact>]
let ``bench scale writes one row per case with consistent arithmetic, and the page with both charts`` () =
    let out = IO.Path.Combine(tempDir (), "scale")

    let code, stdout, err =
        scale out [ "--batches"; "1,3"; "--lengths"; "5,8"; "--precision"; "float32,float64" ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("sample-it/s", stdout)
    use doc = table out
    let root = doc.RootElement
    let machine = root.GetProperty "machine"
    Assert.True(machine.GetProperty("cores").GetInt32() >= 1)

    for field in [ "cpu"; "runtime"; "avx512"; "load_average_1min" ] do
        Assert.True(machine.TryGetProperty(field) |> fst, $"machine.{field}")

    let limits = root.GetProperty "fma_limit"
    let limit32 = limits.GetProperty("float32_sample_iterations_per_second").GetDouble()
    let limit64 = limits.GetProperty("float64_sample_iterations_per_second").GetDouble()
    Assert.True(limit32 > 0.0 && Double.IsFinite limit32)
    Assert.Equal(limit32 / 2.0, limit64, 6)
    Assert.Equal(0, root.GetProperty("skipped").GetArrayLength())
    Assert.True(root.GetProperty("complete").GetBoolean(), "complete once every case has run")

    let rows = [ for r in root.GetProperty("rows").EnumerateArray() -> r ]

    // Both kinds, both precisions, every batch size and length: 2 × 2 × 2 × 2 cases.
    let cases =
        rows
        |> List.map (fun r ->
            r.GetProperty("what").GetString(),
            r.GetProperty("precision").GetString(),
            r.GetProperty("batch").GetInt32(),
            r.GetProperty("length").GetInt32())

    Assert.Equal(16, cases.Length)

    Assert.Equal<(string * string * int * int) list>(
        [
            for length in [ 5; 8 ] do
                for batch in [ 1; 3 ] do
                    for what in [ "inference"; "train" ] do
                        for precision in [ "float32"; "float64" ] do
                            what, precision, batch, length
        ],
        cases
    )

    for r in rows do
        let line = r.GetRawText()
        let get (name: string) = r.GetProperty(name).GetDouble()
        let batch, length = get "batch", get "length"
        Assert.Equal("fixed", r.GetProperty("setting").GetString())
        Assert.True(r.GetProperty("calls").GetInt32() >= 1, line)
        // The fixed setting runs every inference step (all steps but the first) to max_iter 50.
        Assert.Equal(50.0, get "iterations_per_inference_step")
        Assert.Equal(batch * (length - 1.0) * 50.0, get "sample_iterations_per_call")
        let seconds = get "seconds_per_call"
        Assert.True(seconds > 0.0 && seconds <= get "mean_seconds_per_call" * (1.0 + 1e-12), line)
        let sips = get "sample_iterations_per_second"
        Assert.Equal(1.0, sips / (get "sample_iterations_per_call" / seconds), 12)

        let limit =
            if r.GetProperty("precision").GetString() = "float32" then
                limit32
            else
                limit64

        Assert.Equal(1.0, get "fma_limit_sample_iterations_per_second" / limit, 12)
        Assert.Equal(1.0, get "share_of_fma_limit" / (sips / limit), 12)
        Assert.Equal(1.0, get "ms_per_window_step" / (1000.0 * seconds / (batch * length)), 12)

    let html = IO.File.ReadAllText(IO.Path.Combine(out, "scale.html"))
    Assert.Contains(TiDHy.Cli.ScaleBenchmark.timeTitle, html)
    Assert.Contains(TiDHy.Cli.ScaleBenchmark.throughputTitle, html)
    Assert.Contains("FMA limit, float64", html)

[<Fact>]
let ``bench scale skips the cases whose one call would exceed --max-sample-iterations`` () =
    let out = IO.Path.Combine(tempDir (), "scale")

    // One call: batch × (length − 1) × 50 sample-iterations: 200 (batch 1), 600 (batch 3), 1000 (batch 5).
    let code, stdout, err =
        scale
            out
            [
                "--batches"
                "1,3,5"
                "--lengths"
                "5"
                "--what"
                "inference"
                "--max-sample-iterations"
                "600"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    Assert.Contains("skipped: about 1,000 sample-iterations", stdout)
    use doc = table out
    let root = doc.RootElement

    let batches (name: string) =
        [
            for r in root.GetProperty(name).EnumerateArray() -> r.GetProperty("batch").GetInt32()
        ]

    Assert.Equal<int list>([ 1; 3 ], batches "rows")
    Assert.Equal<int list>([ 5 ], batches "skipped")
    let skipped = root.GetProperty("skipped")[0]
    Assert.Equal(1000.0, skipped.GetProperty("estimated_sample_iterations").GetDouble())
    Assert.Equal("inference", skipped.GetProperty("what").GetString())

[<Fact>]
let ``bench scale refuses bad grids with a usage error naming the option, before writing anything`` () =
    let dir = tempDir ()
    let out = IO.Path.Combine(dir, "scale")

    for bad in
        [
            [ "--batches"; "" ]
            [ "--batches"; "0" ]
            [ "--batches"; "1,-3" ]
            [ "--batches"; "1,x" ]
            [ "--lengths"; "1" ]
            [ "--lengths"; "" ]
            [ "--what"; "forward" ]
            [ "--what"; "" ]
            [ "--precision"; "float16" ]
            [ "--setting"; "slow" ]
            [ "--seconds"; "-1" ]
            [ "--max-sample-iterations"; "0" ]
        ] do
        let code, _, err = scale out bad
        let shown = String.Join(" ", bad)
        Assert.True((code = 2), $"{shown}: exit {code}: {err}")
        Assert.Contains(bad[0], err)
        Assert.DoesNotContain("unexpected", err)

    // A case that runs must fit an array and the memory; one that is skipped need not.
    let code, _, err =
        scale
            out
            [
                "--batches"
                "40000000"
                "--lengths"
                "1000"
                "--max-sample-iterations"
                "1e30"
            ]

    Assert.Equal(2, code)
    Assert.StartsWith("tidhy: --batches: ", err)

    let code, _, err = run [ "bench"; "--device"; "cpu"; "scale" ]
    Assert.Equal(2, code)
    Assert.Contains("--device", err)

    Assert.False(IO.Directory.Exists out, "no output for a refused grid")

[<Fact>]
let ``bench scale refuses an --out that cannot be a writable folder before measuring anything`` () =
    let dir = tempDir ()
    let file = IO.Path.Combine(dir, "a-file")
    IO.File.WriteAllText(file, "kept")

    for out, says in
        [
            file, "is a file"
            IO.Path.Combine(file, "scale"), "is a file, not a folder"
            "/proc/tidhy-scale-test/scale", "cannot be written"
            "", "empty"
        ] do
        let code, stdout, err =
            scale out [ "--batches"; "1"; "--lengths"; "5"; "--what"; "inference" ]

        Assert.True((code = 1 || code = 2), $"--out '{out}': exit {code}: {err}")
        Assert.StartsWith("tidhy: --out", err)
        Assert.Contains(says, err)
        // Refused before the FMA limit, the first thing a run measures, is printed.
        Assert.DoesNotContain("FMA limit", stdout)

    Assert.Equal("kept", IO.File.ReadAllText file)
    Assert.Equal<string[]>([| file |], IO.Directory.GetFileSystemEntries dir)

[<Fact>]
let ``bench scale --config times that model: its sizes, its max_iter under converge, and its own FMA limit`` () =
    let dir = tempDir ()
    let config = IO.Path.Combine(dir, "model.json")
    // The JAX-era paper model's sizes, with a short fixed inner loop: max_iter 10, tol 0.
    IO.File.WriteAllText(
        config,
        """{"r_dim": 8, "r2_dim": 8, "mix_dim": 8, "hyper_hid_dim": 32, "max_iter": 10, "tol": 0.0}"""
    )

    let out = IO.Path.Combine(dir, "scale")

    let code, _, err =
        scale
            out
            [
                "--config"
                config
                "--setting"
                "converge"
                "--batches"
                "2"
                "--lengths"
                "6"
            ]

    Assert.True((code = 0), $"exit {code}: {err}")
    use doc = table out
    let root = doc.RootElement
    let model = root.GetProperty "model"

    for key, value in [ "r_dim", 8; "r2_dim", 8; "mix_dim", 8; "hyper_hid_dim", 32; "input_dim", 20 ] do
        Assert.Equal(value, model.GetProperty(key).GetInt32())

    // 2 · (D·R + R2·H + H·M + M·R) = 2 · (20·8 + 8·32 + 32·8 + 8·8) = 1 472, by hand.
    let limits = root.GetProperty "fma_limit"
    Assert.Equal(1472.0, limits.GetProperty("multiply_adds_per_sample_iteration").GetDouble())

    let perLane =
        limits.GetProperty("float32_lane_fmas_per_second").GetDouble() / 1472.0

    Assert.Equal(1.0, limits.GetProperty("float32_sample_iterations_per_second").GetDouble() / perLane, 12)

    let rows = [ for r in root.GetProperty("rows").EnumerateArray() -> r ]
    Assert.Equal(2, rows.Length)

    for r in rows do
        Assert.Equal("converge", r.GetProperty("setting").GetString())
        Assert.Equal(10.0, r.GetProperty("iterations_per_inference_step").GetDouble())
        Assert.Equal(2.0 * 5.0 * 10.0, r.GetProperty("sample_iterations_per_call").GetDouble())

    // A model whose multiply-adds the limit does not count is refused before anything runs.
    let nonlinear = IO.Path.Combine(dir, "nonlinear.json")
    IO.File.WriteAllText(nonlinear, """{"nonlin_decoder": true}""")
    let refused = IO.Path.Combine(dir, "refused")

    let code, _, err =
        scale refused [ "--config"; nonlinear; "--batches"; "1"; "--lengths"; "3" ]

    Assert.Equal(2, code)
    Assert.Contains("--config", err)
    Assert.False(IO.Directory.Exists refused)
