/// The upstream PyTorch training fixtures (`train_step`, `train_gradnorm`), one test case per
/// fixture file and case, at the tolerance of `reference/README.md` (1e-7 relative).
module TiDHy.Functional.Tests.TrainingReferenceTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open Xunit

/// Relative error allowed for training outputs.
let trainingTol = 1e-7

let private floats (e: JsonElement) =
    e.EnumerateArray() |> Seq.map _.GetDouble() |> Seq.toArray

/// Compares every named tensor of `expected` (a JSON object of tensors) with the leaves of `actual`;
/// the two must hold the same names.
let private checkTree (what: string) (actual: Params) (expected: JsonElement) =
    let leaves = ParamTree.leaves actual |> Map.ofList
    let names = expected.EnumerateObject() |> Seq.map _.Name |> Set.ofSeq
    Assert.Equal<Set<string>>(names, leaves.Keys |> Set.ofSeq)

    for p in expected.EnumerateObject() do
        let t = tensor p.Value
        assertClose $"{what} {p.Name}" trainingTol leaves[p.Name] t.Data

let private runTrainStep (f: Fixture) (case: JsonElement) =
    let f =
        { f with
            Name = $"{f.Name} [{f.Config.Backend}]"
        }

    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let state = Train.initState f.Config f.Params
    let objective = Train.objective f.Config state X
    let state', metrics = Train.step f.Config state X
    let losses = prop "losses" o
    let scalar name = (prop name losses).GetDouble()

    let pairs =
        [
            "spatial_loss_rhat", metrics.Losses.SpatialLossRHat
            "spatial_loss_rbar", metrics.Losses.SpatialLossRBar
            "temp_loss", metrics.Losses.TempLoss
            "r2_losses", metrics.Losses.R2Loss
            "cos_reg", metrics.CosReg
            "orth_r2", metrics.OrthR2
            "total", metrics.Total
        ]

    for name, actual in pairs do
        assertCloseScalar $"{f.Name} {name}" trainingTol actual (scalar name)

    checkTree $"{f.Name} grad" objective.Gradient (prop "grads" o)

    assertCloseScalar
        $"{f.Name} grad_norm_before_clip"
        trainingTol
        metrics.GradNormBeforeClip
        ((prop "grad_norm_before_clip" o).GetDouble())

    checkTree $"{f.Name} params_after" state'.Params (prop "params_after" o)

let private runTrainGradNorm (f: Fixture) (case: JsonElement) =
    let f =
        { f with
            Name = $"{f.Name} [{f.Config.Backend}]"
        }

    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let steps = (prop "steps" o).EnumerateArray() |> Seq.toArray
    Assert.True(steps.Length >= 1, $"{f.Name}: no steps in train_gradnorm")
    let mutable state = Train.initState f.Config f.Params

    steps
    |> Array.iteri (fun k expected ->
        let state', metrics = Train.step f.Config state X
        state <- state'

        let gn =
            metrics.GradNorm |> Option.defaultWith (fun () -> failwith "grad_norm is off")

        let what = $"{f.Name} step {k}"
        assertClose $"{what} losses" trainingTol gn.Losses (floats (prop "losses" expected))
        assertClose $"{what} task_grad_norms" trainingTol gn.TaskGradNorms (floats (prop "task_grad_norms" expected))
        assertClose $"{what} target" trainingTol gn.Target (floats (prop "target" expected))
        assertCloseScalar $"{what} gradnorm_loss" trainingTol gn.Loss ((prop "gradnorm_loss" expected).GetDouble())
        assertClose $"{what} weights_after" trainingTol gn.WeightsAfter (floats (prop "weights_after" expected))
        checkTree $"{what} params_after" state.Params (prop "params_after" expected))

    assertClose $"{f.Name} l0" trainingTol (state.GradNorm.L0 |> Option.defaultValue [||]) (floats (prop "l0" o))

let private runners =
    Map [ "train_step", runTrainStep; "train_gradnorm", runTrainGradNorm ]

/// One row per (fixture file, training case, inference backend): the training step with inference
/// through the F# reference path and through the fused float64 kernels; a single failing row when
/// the folder has no training case at all.
let cases () : obj[] seq =
    let rows =
        [
            for file in files referenceDir do
                let f = load file

                for name in f.Cases.Keys do
                    if trainingCases.Contains name then
                        for backend in [ "Reference"; "Fused" ] do
                            yield [| box (Path.GetFileNameWithoutExtension file); box name; box backend |]
        ]

    if rows.IsEmpty then
        Seq.singleton [| box $"(no training case in {referenceDir})"; box "none"; box "Fused" |]
    else
        Seq.ofList rows

[<Theory>]
[<MemberData(nameof cases)>]
let ``Reference training fixture matches upstream PyTorch`` (fixture: string, case: string, backend: string) =
    let path = Path.Combine(referenceDir, fixture + ".json")
    Assert.True(File.Exists path, $"Reference fixture {path} not found (folder: {referenceDir}).")
    let f = load path

    let backend =
        match backend with
        | "Reference" -> Backend.Reference
        | _ -> Backend.Fused

    runners[case]
        { f with
            Config = { f.Config with Backend = backend }
        }
        f.Cases[case]
