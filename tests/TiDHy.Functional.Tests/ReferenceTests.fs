/// The upstream PyTorch fixtures, one test case per fixture file and case, at the tolerances of
/// `reference/README.md`: stages 1e-10, inference / forward / evaluation 1e-7, equal iteration counts.
module TiDHy.Functional.Tests.ReferenceTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open Xunit

/// Relative error allowed for `temporal_prediction` and `decode`.
let stageTol = 1e-10

/// Relative error allowed for inference, forward and evaluation outputs.
let inferenceTol = 1e-7

let private flat (a: 'T[,]) = Seq.cast<'T> a |> Seq.toArray
let private flat3 (a: 'T[,,]) = Seq.cast<'T> a |> Seq.toArray

let private checkShape what (actual: int[]) (e: JsonElement) =
    Assert.True((actual = shape e), $"{what}: shape {Shape.show actual}, expected {Shape.show (shape e)}")

let private runTemporalPrediction (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let tp =
        Model.temporalPrediction f.Config f.Params (matrix (prop "r_p" i)) (matrix (prop "r2" i))

    assertClose $"{f.Name} r_hat" stageTol (flat tp.RHat) (data (prop "r_hat" o))
    checkShape "V_t" (Shape.ofArray3 tp.Vt) (prop "V_t" o)
    assertClose $"{f.Name} V_t" stageTol (flat3 tp.Vt) (data (prop "V_t" o))
    assertClose $"{f.Name} w" stageTol (flat tp.W) (data (prop "w" o))

let private runDecode (f: Fixture) (case: JsonElement) =
    let x = Model.decode f.Config f.Params (matrix (prop "r" (prop "inputs" case)))
    assertClose $"{f.Name} x" stageTol (flat x) (data (prop "x" (prop "outputs" case)))

let private runInf (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let res =
        Inference.infer f.Config f.Params (matrix (prop "x" i)) (matrix (prop "r_p" i)) (matrix (prop "r2" i))

    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))
    assertClose $"{f.Name} r2" inferenceTol (flat res.R2) (data (prop "r2" o))

let private runInfFirstStep (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case
    let res = Inference.inferFirstStep f.Config f.Params (matrix (prop "x" i))
    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))

let private runForward (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case
    let res = Forward.forward f.Config f.Params None (array3 (prop "X" i))

    let expectedIters =
        (prop "iterations" o).EnumerateArray() |> Seq.map _.GetInt32() |> Seq.toArray

    Assert.Equal<int[]>(expectedIters, res.Iterations)
    let scalar name = (prop name o).GetDouble()
    assertCloseScalar $"{f.Name} spatial_loss_rhat" inferenceTol res.Losses.SpatialLossRHat (scalar "spatial_loss_rhat")
    assertCloseScalar $"{f.Name} spatial_loss_rbar" inferenceTol res.Losses.SpatialLossRBar (scalar "spatial_loss_rbar")
    assertCloseScalar $"{f.Name} temp_loss" inferenceTol res.Losses.TempLoss (scalar "temp_loss")
    assertCloseScalar $"{f.Name} r2_losses" inferenceTol res.Losses.R2Loss (scalar "r2_losses")
    assertClose $"{f.Name} r_first" inferenceTol (flat res.RFirst) (data (prop "r_first" o))
    assertClose $"{f.Name} r2_last" inferenceTol (flat res.R2Last) (data (prop "r2_last" o))

let private runEvaluateRecord (f: Fixture) (case: JsonElement) =
    let res =
        Evaluate.evaluateRecord f.Config f.Params None (array3 (prop "X" (prop "inputs" case)))

    checkEvaluateRecord f (prop "outputs" case) res

let private runners =
    Map
        [
            "temporal_prediction", runTemporalPrediction
            "decode", runDecode
            "inf", runInf
            "inf_first_step", runInfFirstStep
            "forward", runForward
            "evaluate_record", runEvaluateRecord
        ]

/// Runs one model case of a fixture with inference on `backend` (the fixture's name gains the
/// backend's name when it is not the reference path, so that reported errors say which ran).
let runCase (backend: Backend) (case: string) (f: Fixture) =
    let f =
        { f with
            Name =
                (if backend = Backend.Reference then
                     f.Name
                 else
                     $"{f.Name} [{backend}]")
            Config = { f.Config with Backend = backend }
        }

    runners[case] f f.Cases[case]

/// One row per (fixture file, model case); a single failing row when the folder has no fixture.
let cases () : obj[] seq =
    let files = files referenceDir

    if files.Length = 0 then
        Seq.singleton [| box $"(no *.json in {referenceDir})"; box "none" |]
    else
        seq {
            for file in files do
                let f = load file

                for name in f.Cases.Keys do
                    if modelCases.Contains name then
                        yield [| box (Path.GetFileNameWithoutExtension file); box name |]
        }

[<Theory>]
[<MemberData(nameof cases)>]
let ``Reference fixture matches upstream PyTorch`` (fixture: string, case: string) =
    let path = Path.Combine(referenceDir, fixture + ".json")
    Assert.True(File.Exists path, $"Reference fixture {path} not found (folder: {referenceDir}).")
    runCase Backend.Reference case (load path)

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
