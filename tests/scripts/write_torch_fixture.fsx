// Writes tests/fixtures/torch/written_by_tidhy_{f64,f32}.pth with TiDHy's writer (TorchFile) from
// the "float64" and "float32" state_dicts of expected.json, for make_torch_fixtures.py to load with
// torch.load(weights_only=True). Run from the repository root after a build:
//   dotnet build src/TiDHy.Functional && dotnet fsi tests/scripts/write_torch_fixture.fsx
#r "../../src/TiDHy.Functional/bin/Debug/net10.0/TiDHy.Functional.dll"

open System.IO
open System.Text.Json
open TiDHy.Functional

let dir = Path.Combine("tests", "fixtures", "torch")
let doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")))

let entries (key: string) =
    [
        for p in doc.RootElement.GetProperty(key).EnumerateObject() -> p.Name, StateDict.tensorOfJson p.Name p.Value
    ]

TorchFile.writeStateDictAs false (Path.Combine(dir, "written_by_tidhy_f64.pth")) (entries "float64")
TorchFile.writeStateDictAs true (Path.Combine(dir, "written_by_tidhy_f32.pth")) (entries "float32")
printfn "written"
