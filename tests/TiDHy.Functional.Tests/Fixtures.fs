/// Reading the reference fixtures (`tests/reference/README.md`).
module TiDHy.Functional.Tests.Fixtures

open System.IO
open System.Text.Json
open TiDHy.Functional

/// A fixture file: its configuration, its parameters and its cases as raw JSON.
type Fixture =
    {
        Name: string
        File: string
        Config: Config
        Params: Params
        Cases: Map<string, JsonElement>
    }

/// The cases of the fixture format that the inference / evaluation tests run.
let modelCases =
    set
        [
            "temporal_prediction"
            "decode"
            "inf"
            "inf_first_step"
            "forward"
            "evaluate_record"
        ]

/// The training cases, run by the training tests.
let trainingCases = set [ "train_step"; "train_gradnorm" ]

let private cache =
    System.Collections.Concurrent.ConcurrentDictionary<string, Fixture>()

/// Loads a fixture file (cached per path).
let load (path: string) =
    cache.GetOrAdd(
        path,
        fun path ->
            let doc = JsonDocument.Parse(File.ReadAllText path)
            let root = doc.RootElement
            let cfg = ConfigJson.ofElement (root.GetProperty "config")

            let p =
                ParamLayout.toParams cfg (StateDict.ofJsonElement (root.GetProperty "params"))

            {
                Name = root.GetProperty("name").GetString()
                File = path
                Config = cfg
                Params = p
                Cases =
                    root.GetProperty("cases").EnumerateObject()
                    |> Seq.map (fun c -> c.Name, c.Value.Clone())
                    |> Map.ofSeq
            }
    )

/// Every `*.json` file of the reference folder, sorted.
let files (dir: string) =
    if Directory.Exists dir then
        Directory.GetFiles(dir, "*.json") |> Array.sort
    else
        [||]

/// A tensor's shape and row-major data.
let tensor (e: JsonElement) =
    StateDict.tensorOfJson "fixture tensor" e

/// A property of a case's `inputs` or `outputs`.
let prop (name: string) (e: JsonElement) = e.GetProperty name

/// A `[n0; n1]` tensor as a matrix.
let matrix (e: JsonElement) =
    let t = tensor e
    Array2D.init t.Shape[0] t.Shape[1] (fun i j -> t.Data[i * t.Shape[1] + j])

/// A `[n0; n1; n2]` tensor as a rank-3 array.
let array3 (e: JsonElement) =
    let t = tensor e
    let n1, n2 = t.Shape[1], t.Shape[2]
    Array3D.init t.Shape[0] n1 n2 (fun i j k -> t.Data[(i * n1 + j) * n2 + k])

/// The flat data of a tensor.
let data (e: JsonElement) = (tensor e).Data

/// The shape of a tensor.
let shape (e: JsonElement) = (tensor e).Shape
