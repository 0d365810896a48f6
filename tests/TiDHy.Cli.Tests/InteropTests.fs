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
