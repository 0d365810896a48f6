/// What the analysis tests share: the expected values in analysis-expected.json (computed from
/// fixed inputs by tests/scripts/make_analysis_expected.py with scikit-learn and SciPy) and a check
/// that bad input raises an `ArgumentException` naming the argument.
module TiDHy.Functional.Tests.Analysis.AnalysisExpected

open System
open System.IO
open System.Text.Json
open TiDHy.Functional.Tests.TestUtil
open Xunit

let expected =
    lazy
        (JsonDocument.Parse(
            File.ReadAllText(Path.Combine(repoRoot, "tests", "TiDHy.Functional.Tests", "analysis-expected.json"))
        ))

let cases (name: string) =
    [ for c in expected.Value.RootElement.GetProperty(name).EnumerateArray() -> c ]

let floats (e: JsonElement) =
    [| for v in e.EnumerateArray() -> v.GetDouble() |]

let ints (e: JsonElement) =
    [| for v in e.EnumerateArray() -> v.GetInt32() |]

let matrix (e: JsonElement) =
    let rows = [| for r in e.EnumerateArray() -> floats r |]
    Array2D.init rows.Length rows[0].Length (fun i j -> rows[i][j])

let caseNames (name: string) =
    cases name
    |> List.map (fun c -> [| box (c.GetProperty("name").GetString()) |])
    |> List.toSeq

let case (name: string) (caseName: string) =
    cases name |> List.find (fun c -> c.GetProperty("name").GetString() = caseName)

/// Raises unless `f` raises an `ArgumentException` whose `ParamName` is `name`.
let throwsNaming (name: string) (f: unit -> obj) =
    let e = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    Assert.Equal(name, e.ParamName)
