/// The upstream PyTorch fixtures on the reference path, one test case per fixture file and model
/// case, through the conformance suite (`Conformance`: the tolerances of `reference/README.md`).
module TiDHy.Functional.Tests.ReferenceTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open Xunit

/// One row per (fixture file, model case).
let cases () = Conformance.cases modelCases

[<Theory>]
[<MemberData(nameof cases)>]
let ``Reference fixture matches upstream PyTorch`` (fixture: string, case: string) =
    Conformance.run (Train.engine Backend.Reference) fixture case

[<Fact>]
let ``Reference folder holds fixtures whose every case is a known kind`` () =
    let files = files referenceDir
    Assert.True(files.Length > 0, $"No reference fixtures in {referenceDir}")

    for file in files do
        let f = load file

        for name in f.Cases.Keys do
            Assert.True(
                modelCases.Contains name || trainingCases.Contains name,
                $"{Path.GetFileName file}: unknown case kind '{name}'"
            )
