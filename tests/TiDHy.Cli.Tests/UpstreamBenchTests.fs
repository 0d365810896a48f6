/// `tidhy bench train --upstream DIR`: the parsing of rows, the ratios and their JSON lines against
/// hand-computed values, the embedded harness, and the errors that come before any timing (no
/// test here needs torch or measures time).
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
        ] do
        Assert.Contains(field, text)

/// A folder shaped like upstream's checkout: TiDHy/models/TiDHy.py (empty).
let private fakeCheckout () =
    let dir = tempDir ()
    let models = Path.Combine(dir, "TiDHy", "models")
    Directory.CreateDirectory models |> ignore
    File.WriteAllText(Path.Combine(models, "TiDHy.py"), "")
    dir

[<Fact>]
let ``bench train --upstream fails in one line before timing anything when the checkout or the python is wrong`` () =
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
            let code, out, err =
                run ([ "bench"; "train"; "--length"; "2"; "--steps"; "1" ] @ extra)

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
                run [ "bench"; "train"; "--upstream"; checkout; "--python"; "/bin/false" ]

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
