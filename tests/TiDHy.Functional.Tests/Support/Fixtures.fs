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

/// The relative error allowed for inference, forward and evaluation outputs (reference/README.md).
let evaluationTol = 1e-7

/// Checks an evaluation record `res` against the outputs `o` of fixture `f`'s `evaluate_record`
/// case, whichever backend computed it: the three averages, every array's shape and values (and
/// `b` exactly when the fixture has it, and `Ut`) to `evaluationTol`.
let checkEvaluateRecord (f: Fixture) (o: JsonElement) (res: EvaluationRecord) =
    let scalar name = (prop name o).GetDouble()
    let flat3 (a: float[,,]) = Seq.cast<float> a |> Seq.toArray

    for name, actual in
        [
            "spatial_loss_rhat_avg", res.SpatialLossRHatAvg
            "spatial_loss_rbar_avg", res.SpatialLossRBarAvg
            "temp_loss_avg", res.TempLossAvg
        ] do
        TestUtil.assertCloseScalar $"{f.Name} {name}" evaluationTol actual (scalar name)

    let arrays =
        [
            "I_bar", res.IBar
            "I_hat", res.IHat
            "I", res.I
            "R_bar", res.RBar
            "R_hat", res.RHat
            "R2_hat", res.R2Hat
            "W", res.W
            "temp_loss", res.TempLoss
            "spatial_loss_rhat", res.SpatialLossRHat
            "spatial_loss_rbar", res.SpatialLossRBar
        ]
        @ (res.B |> Option.map (fun b -> "b", b) |> Option.toList)

    for name, a in arrays do
        let actual = [| Array3D.length1 a; Array3D.length2 a; Array3D.length3 a |]
        let expected = shape (prop name o)

        Xunit.Assert.True(
            (actual = expected),
            $"{f.Name} {name}: shape {Shape.show actual}, expected {Shape.show expected}"
        )

        TestUtil.assertClose $"{f.Name} {name}" evaluationTol (flat3 a) (data (prop name o))

    let mutable bEl = Unchecked.defaultof<JsonElement>
    Xunit.Assert.Equal(o.TryGetProperty("b", &bEl), res.B.IsSome)
    let ut, expectedUt = res.Ut, prop "Ut" o
    let utShape = [| for d in 0..3 -> ut.GetLength d |]

    Xunit.Assert.True(
        (utShape = shape expectedUt),
        $"{f.Name} Ut: shape {Shape.show utShape}, expected {Shape.show (shape expectedUt)}"
    )

    TestUtil.assertClose $"{f.Name} Ut" evaluationTol (Seq.cast<float> ut) (data expectedUt)
