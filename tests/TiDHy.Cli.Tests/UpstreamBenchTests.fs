/// `tidhy bench train --upstream DIR` and `tidhy bench --upstream DIR`: the parsing of rows, the
/// ratios and speedups and their lines against hand-computed values, the embedded harness, and the
/// errors that come before any timing (no test here needs torch or asserts a time).
module TiDHy.Cli.Tests.UpstreamBenchTests

open System
open System.IO
open System.Text.Json
open TiDHy.Cli
open TiDHy.Cli.Tests.CliTests
open Xunit

[<Fact>]
let ``parseRow reads impl, setting and windows_per_second from our rows and upstream's, and nothing else`` () =
    let ours =
        """{"impl": "fused-float32", "backend": "FusedFloat32", "setting": "fixed", "batch": 16, "length": 100, "seconds_per_step": 0.04, "windows_per_second": 400, "mean_iterations": 50}"""

    let upstream =
        """{"impl": "upstream-pytorch", "backend": "pytorch", "setting": "converge", "batch": 16, "windows_per_second": 1.25, "torch": "1.13.0a0", "stubbed": ["jax"]}"""

    Assert.Equal(Some("fused-float32", "fixed", 400.0), UpstreamBenchmark.parseRow ours)
    Assert.Equal(Some("upstream-pytorch", "converge", 1.25), UpstreamBenchmark.parseRow upstream)

    for line in
        [
            """{"machine": {"cpu": "AMD EPYC", "cores": 2}}"""
            """{"setting": "fixed", "upstream_windows_per_second": 4, "ratio_to_upstream": {"fused-float32": 300}}"""
            """{"impl": "fused-float32", "setting": "fixed", "windows_per_second": 0}"""
            """{"impl": "fused-float32", "setting": "fixed", "windows_per_second": -3}"""
            """{"impl": "fused-float32", "setting": "fixed", "windows_per_second": "400"}"""
            """{"impl": 3, "setting": "fixed", "windows_per_second": 400}"""
            """[1, 2]"""
            "not json"
            ""
        ] do
        Assert.Equal(None, UpstreamBenchmark.parseRow line)

[<Fact>]
let ``ratios divide each of our rows by upstream's windows per second of the same setting`` () =
    let ours =
        [
            "fused-float64", "fixed", 480.0
            "fused-float32", "fixed", 1200.0
            "fused-float64", "converge", 300.0
        ]

    let upstream =
        [
            "upstream-pytorch", "fixed", 4.0
            "upstream-pytorch", "converge", 2.5
            // No row of ours for this setting: no ratio.
            "upstream-pytorch", "other", 1.0
        ]

    let expected: UpstreamBenchmark.Ratio list =
        [
            {
                Setting = "fixed"
                UpstreamWindowsPerSecond = 4.0
                Ratios = [ "fused-float64", 120.0; "fused-float32", 300.0 ]
            }
            {
                Setting = "converge"
                UpstreamWindowsPerSecond = 2.5
                Ratios = [ "fused-float64", 120.0 ]
            }
        ]

    Assert.Equal<UpstreamBenchmark.Ratio list>(expected, UpstreamBenchmark.ratios ours upstream)
    Assert.Empty(UpstreamBenchmark.ratios ours [])
    Assert.Empty(UpstreamBenchmark.ratios [] upstream)

[<Fact>]
let ``a ratio line names the setting, upstream's windows per second and each impl's ratio`` () =
    let line =
        UpstreamBenchmark.ratioJson
            {
                Setting = "fixed"
                UpstreamWindowsPerSecond = 2.5
                Ratios = [ "fused-float64", 120.0; "fused-float32", 312.5 ]
            }

    Assert.Equal(
        """{"setting": "fixed", "upstream_windows_per_second": 2.5, "ratio_to_upstream": {"fused-float64": 120, "fused-float32": 312.5}}""",
        line
    )

    use doc = JsonDocument.Parse line
    let ratio = doc.RootElement.GetProperty "ratio_to_upstream"
    Assert.Equal(312.5, ratio.GetProperty("fused-float32").GetDouble())
    // A ratio line is not a row.
    Assert.Equal(None, UpstreamBenchmark.parseRow line)

[<Fact>]
let ``the harness ships inside the program and prints rows with our field names`` () =
    let text = UpstreamBenchmark.harnessText ()

    for field in
        [
            "\"upstream-pytorch\""
            "\"setting\""
            "\"batch\""
            "\"length\""
            "\"seconds_per_step\""
            "\"best_seconds_per_step\""
            "\"windows_per_second\""
            "\"threads\""
            "\"torch\""
            // --inference's rows, with the field names of `tidhy bench --json`'s
            "--inference"
            "\"seconds_per_iteration\""
            "\"sample_iterations_per_second\""
            "\"forward_seconds\""
            "\"runs\""
        ] do
        Assert.Contains(field, text)

/// A folder shaped like upstream's checkout: TiDHy/models/TiDHy.py (empty).
let private fakeCheckout () =
    let dir = tempDir ()
    let models = Path.Combine(dir, "TiDHy", "models")
    Directory.CreateDirectory models |> ignore
    File.WriteAllText(Path.Combine(models, "TiDHy.py"), "")
    dir

/// `command` with `--upstream` fails in one line before timing anything (nothing on standard
/// output, not even the machine line or the FMA limit) when the checkout or the python is wrong.
let private failsBeforeTiming (command: string list) =
    let missing =
        Path.Combine(Path.GetTempPath(), $"tidhy-no-upstream-{Guid.NewGuid():N}")

    let empty = tempDir ()
    let checkout = fakeCheckout ()

    try
        let cases =
            [
                [ "--upstream"; missing ], 1, $"tidhy: --upstream {missing}: no such directory."
                [ "--upstream"; empty ], 1, $"tidhy: --upstream {empty}: no TiDHy/models/TiDHy.py there"
                [ "--upstream"; checkout; "--python"; Path.Combine(empty, "python3") ],
                1,
                $"""tidhy: --python {Path.Combine(empty, "python3")}: no such file."""
                [ "--upstream"; checkout; "--python"; $"no-such-python-{Guid.NewGuid():N}" ],
                1,
                "tidhy: --python no-such-python-"
                [ "--python"; "python3" ], 2, "tidhy: --python: goes with --upstream."
            ]

        for extra, expectedCode, message in cases do
            let code, out, err = run (command @ extra)

            let shown = String.Join(" ", extra)
            Assert.True((code = expectedCode), $"{shown}: exit {code}: {err}")
            Assert.StartsWith(message, err)
            Assert.Equal(1, err.Trim().Split('\n').Length)
            // Nothing was timed: not even the machine line.
            Assert.Equal("", out)

        // A python that fails (here /bin/false, exit 1) is named with its exit code; the harness's
        // temporary folder is removed.
        if File.Exists "/bin/false" then
            let before = Directory.GetDirectories(Path.GetTempPath(), "tidhy-upstream-*").Length

            let code, out, err =
                run (command @ [ "--upstream"; checkout; "--python"; "/bin/false" ])

            Assert.Equal(1, code)
            Assert.StartsWith("tidhy: --upstream: the harness (/bin/false train_step.py) failed with exit code 1", err)
            Assert.Equal(1, err.Trim().Split('\n').Length)
            Assert.Equal("", out)

            Assert.True(
                Directory.GetDirectories(Path.GetTempPath(), "tidhy-upstream-*").Length
                <= before
            )
    finally
        Directory.Delete(empty, true)
        Directory.Delete(checkout, true)

[<Fact>]
let ``bench train --upstream fails in one line before timing anything when the checkout or the python is wrong`` () =
    failsBeforeTiming [ "bench"; "train"; "--length"; "2"; "--steps"; "1" ]

[<Fact>]
let ``bench --upstream fails in one line before timing anything when the checkout or the python is wrong`` () =
    failsBeforeTiming [ "bench"; "--batch"; "1"; "--no-reference" ]

[<Fact>]
let ``bench's --upstream and --python go with the inference rows, not with bench train or bench scale`` () =
    for args in
        [
            [ "bench"; "--upstream"; "."; "train" ]
            [ "bench"; "--python"; "python3"; "scale" ]
        ] do
        let code, out, err = run args
        Assert.Equal(2, code)
        Assert.StartsWith("tidhy: --upstream, --python: after `bench train`", err)
        Assert.Equal("", out)

[<Fact>]
let ``parseInferenceRow reads our inference rows and upstream's, and nothing else`` () =
    let ours =
        """{"impl": "fused-float32", "batch": 16, "seconds_per_iteration": 2E-06, "sample_iterations_per_second": 8000000, "forward_seconds": 0.0002, "runs": 200, "cores": 2, "fma_limit_sample_iterations_per_second": 17000000, "share_of_fma_limit": 0.47}"""

    let upstream =
        """{"impl": "upstream-pytorch", "backend": "pytorch", "batch": 256, "length": 3, "max_iter": 50, "tol": 0.0, "precision": "float32", "seconds_per_iteration": 0.004, "sample_iterations_per_second": 64000, "forward_seconds": 0.4, "runs": 5, "iterations_per_forward": 100.0, "threads": 2, "torch": "1.13.0a0"}"""

    let expected: UpstreamBenchmark.InferenceRow =
        {
            Impl = "fused-float32"
            Batch = 16
            SecondsPerIteration = 2e-6
            SampleIterationsPerSecond = 8e6
            Runs = 200
            Threads = None
            Torch = None
        }

    Assert.Equal(Some expected, UpstreamBenchmark.parseInferenceRow ours)

    Assert.Equal(
        Some
            { expected with
                Impl = "upstream-pytorch"
                Batch = 256
                SecondsPerIteration = 0.004
                SampleIterationsPerSecond = 64000.0
                Runs = 5
                Threads = Some 2
                Torch = Some "1.13.0a0"
            },
        UpstreamBenchmark.parseInferenceRow upstream
    )

    for line in
        [
            """{"impl": "reference", "batch": 16, "skipped": "--no-reference"}"""
            """{"impl": "fused-float32", "batch": 16, "upstream_sample_iterations_per_second": 1000, "speedup_vs_upstream": 8000}"""
            // A training row: no inference fields.
            """{"impl": "upstream-pytorch", "setting": "fixed", "batch": 16, "windows_per_second": 1.25, "runs": 3}"""
            """{"impl": "fused-float32", "batch": 0, "seconds_per_iteration": 1, "sample_iterations_per_second": 1, "runs": 1}"""
            """{"impl": "fused-float32", "batch": 16.5, "seconds_per_iteration": 1, "sample_iterations_per_second": 1, "runs": 1}"""
            """{"impl": "fused-float32", "batch": 16, "seconds_per_iteration": 0, "sample_iterations_per_second": 1, "runs": 1}"""
            """{"impl": "fused-float32", "batch": 16, "seconds_per_iteration": 1, "sample_iterations_per_second": "1", "runs": 1}"""
            """{"impl": "fused-float32", "batch": 16, "seconds_per_iteration": 1, "sample_iterations_per_second": 1}"""
            """[1, 2]"""
            "not json"
            ""
        ] do
        Assert.Equal(None, UpstreamBenchmark.parseInferenceRow line)

[<Fact>]
let ``speedups divide each of our rows by upstream's sample-iterations per second at the same batch size`` () =
    let ours =
        [
            "fused-float32", 16, 2_000_000.0
            "fused-float64", 16, 1_000_000.0
            "fused-float32", 256, 6_000_000.0
            // No upstream row at this batch size: no speedup.
            "fused-float32", 2048, 9_000_000.0
        ]

    let upstream =
        [
            "upstream-pytorch", 16, 12_500.0
            "upstream-pytorch", 256, 75_000.0
            "upstream-pytorch", 4096, 1.0
        ]

    let expected: UpstreamBenchmark.Speedup list =
        [
            {
                Impl = "fused-float32"
                Batch = 16
                UpstreamSampleIterationsPerSecond = 12_500.0
                Speedup = 160.0
            }
            {
                Impl = "fused-float64"
                Batch = 16
                UpstreamSampleIterationsPerSecond = 12_500.0
                Speedup = 80.0
            }
            {
                Impl = "fused-float32"
                Batch = 256
                UpstreamSampleIterationsPerSecond = 75_000.0
                Speedup = 80.0
            }
        ]

    Assert.Equal<UpstreamBenchmark.Speedup list>(expected, UpstreamBenchmark.speedups ours upstream)
    Assert.Empty(UpstreamBenchmark.speedups ours [])
    Assert.Empty(UpstreamBenchmark.speedups [] upstream)

    let line = UpstreamBenchmark.speedupJson expected[0]

    Assert.Equal(
        """{"impl": "fused-float32", "batch": 16, "upstream_sample_iterations_per_second": 12500, "speedup_vs_upstream": 160}""",
        line
    )

    // A speedup line is not a row.
    Assert.Equal(None, UpstreamBenchmark.parseInferenceRow line)

    let text = UpstreamBenchmark.speedupText expected[1]
    Assert.StartsWith("fused-float64    batch    16:", text)
    Assert.Contains("80.00x upstream-pytorch's", text)

[<Fact>]
let ``without --upstream bench prints no upstream figure`` () =
    let row: InferenceBenchmark.Measurement =
        {
            Impl = "fused-float32"
            Batch = 16
            Seconds = 0.01
            Runs = 5
        }

    Assert.DoesNotContain("upstream", InferenceBenchmark.json (Some 1e7) row None)
    Assert.DoesNotContain("upstream", InferenceBenchmark.text (Some 1e7) row None)

    for extra in [ [ "--json" ]; [] ] do
        let code, out, err = run ([ "bench"; "--batch"; "16"; "--no-reference" ] @ extra)
        Assert.True((code = 0), $"exit {code}: {err}")
        Assert.DoesNotContain("upstream", out)
