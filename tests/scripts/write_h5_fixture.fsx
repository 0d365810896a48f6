// Writes tests/fixtures/h5/written_by_tidhy.h5 with TiDHy's writer (Hdf5.write) from the
// "series.h5" datasets of expected.json, for make_h5_fixtures.py to read with h5py. Run from the
// repository root after a build:
//   dotnet build src/TiDHy.Functional && dotnet fsi tests/scripts/write_h5_fixture.fsx
#r "../../src/TiDHy.Functional/bin/Debug/net10.0/TiDHy.Functional.dll"

open System.IO
open System.Text.Json
open TiDHy.Functional

let dir = Path.Combine("tests", "fixtures", "h5")
let doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")))

let entries =
    [
        for p in doc.RootElement.GetProperty("series.h5").EnumerateObject() ->
            p.Name, StateDict.tensorOfJson p.Name p.Value
    ]

Hdf5.write (Path.Combine(dir, "written_by_tidhy.h5")) entries
printfn "written"
