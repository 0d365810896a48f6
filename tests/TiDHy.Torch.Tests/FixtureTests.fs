/// The upstream PyTorch fixtures (tests/reference, or `$TIDHY_REFERENCE_DIR`) on the torch backend:
/// float64 on the CPU at the fixtures' tolerances (stages 1e-10; inference, forward, evaluation and
/// training 1e-7; equal iteration counts), the same the F# tests use; float32 within 1e-3 where the
/// iteration counts agree (the README's float32 tolerance, the one the fused float32 path meets).
module TiDHy.Torch.Tests.FixtureTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open TiDHy.Torch
open Xunit

let stageTol = 1e-10
let inferenceTol = 1e-7
let trainingTol = 1e-7
let float32Tol = 1e-3

let private o64 = TorchOptions.cpu

let private o32 =
    {
        Device = "cpu"
        Precision = Precision.Float32
    }

let private flat (a: 'T[,]) = Seq.cast<'T> a |> Seq.toArray
let private flat3 (a: 'T[,,]) = Seq.cast<'T> a |> Seq.toArray

let private floats (e: JsonElement) =
    e.EnumerateArray() |> Seq.map _.GetDouble() |> Seq.toArray

let private ints (e: JsonElement) =
    e.EnumerateArray() |> Seq.map _.GetInt32() |> Seq.toArray

let private runTemporalPrediction (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let tp =
        (TorchBackend.engine o64).TemporalPrediction f.Config f.Params (matrix (prop "r_p" i)) (matrix (prop "r2" i))

    assertClose $"{f.Name} r_hat" stageTol (flat tp.RHat) (data (prop "r_hat" o))
    Assert.Equal<int[]>(shape (prop "V_t" o), [| Array3D.length1 tp.Vt; Array3D.length2 tp.Vt; Array3D.length3 tp.Vt |])
    assertClose $"{f.Name} V_t" stageTol (flat3 tp.Vt) (data (prop "V_t" o))
    assertClose $"{f.Name} w" stageTol (flat tp.W) (data (prop "w" o))

let private runDecode (f: Fixture) (case: JsonElement) =
    let x =
        (TorchBackend.engine o64).Decode f.Config f.Params (matrix (prop "r" (prop "inputs" case)))

    assertClose $"{f.Name} x" stageTol (flat x) (data (prop "x" (prop "outputs" case)))

let private runInf (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let res =
        (TorchBackend.engine o64).Infer
            f.Config
            f.Params
            (matrix (prop "x" i))
            (matrix (prop "r_p" i))
            (matrix (prop "r2" i))

    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))
    assertClose $"{f.Name} r2" inferenceTol (flat res.R2) (data (prop "r2" o))

let private runInfFirstStep (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let res =
        (TorchBackend.engine o64).InferFirstStep f.Config f.Params (matrix (prop "x" i))

    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))

let private runForward (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let res =
        (TorchBackend.engine o64).Forward f.Config f.Params None (array3 (prop "X" i))

    Assert.Equal<int[]>(ints (prop "iterations" o), res.Iterations)
    let scalar name = (prop name o).GetDouble()
    assertCloseScalar $"{f.Name} spatial_loss_rhat" inferenceTol res.Losses.SpatialLossRHat (scalar "spatial_loss_rhat")
    assertCloseScalar $"{f.Name} spatial_loss_rbar" inferenceTol res.Losses.SpatialLossRBar (scalar "spatial_loss_rbar")
    assertCloseScalar $"{f.Name} temp_loss" inferenceTol res.Losses.TempLoss (scalar "temp_loss")
    assertCloseScalar $"{f.Name} r2_losses" inferenceTol res.Losses.R2Loss (scalar "r2_losses")
    assertClose $"{f.Name} r_first" inferenceTol (flat res.RFirst) (data (prop "r_first" o))
    assertClose $"{f.Name} r2_last" inferenceTol (flat res.R2Last) (data (prop "r2_last" o))

let private runEvaluateRecord (f: Fixture) (case: JsonElement) =
    let res =
        (TorchBackend.engine o64).EvaluateRecord f.Config f.Params None (array3 (prop "X" (prop "inputs" case)))

    checkEvaluateRecord f (prop "outputs" case) res

/// Compares every named tensor of `expected` with the leaves of `actual` (the same names).
let private checkTree (what: string) (tol: float) (actual: Params) (expected: JsonElement) =
    let leaves = ParamTree.leaves actual |> Map.ofList
    let names = expected.EnumerateObject() |> Seq.map _.Name |> Set.ofSeq
    Assert.Equal<Set<string>>(names, leaves.Keys |> Set.ofSeq)

    for p in expected.EnumerateObject() do
        assertClose $"{what} {p.Name}" tol leaves[p.Name] (tensor p.Value).Data

let private runTrainStep (f: Fixture) (case: JsonElement) =
    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let state = Train.initState f.Config f.Params
    let objective = (TorchBackend.engine o64).Objective f.Config state X
    let state', metrics = (TorchBackend.engine o64).Step f.Config state X
    let losses = prop "losses" o
    let scalar name = (prop name losses).GetDouble()

    for name, actual in
        [
            "spatial_loss_rhat", metrics.Losses.SpatialLossRHat
            "spatial_loss_rbar", metrics.Losses.SpatialLossRBar
            "temp_loss", metrics.Losses.TempLoss
            "r2_losses", metrics.Losses.R2Loss
            "cos_reg", metrics.CosReg
            "orth_r2", metrics.OrthR2
            "total", metrics.Total
        ] do
        assertCloseScalar $"{f.Name} {name}" trainingTol actual (scalar name)

    assertCloseScalar $"{f.Name} objective total" trainingTol objective.Total (scalar "total")
    checkTree $"{f.Name} grad" trainingTol objective.Gradient (prop "grads" o)

    assertCloseScalar
        $"{f.Name} grad_norm_before_clip"
        trainingTol
        metrics.GradNormBeforeClip
        ((prop "grad_norm_before_clip" o).GetDouble())

    checkTree $"{f.Name} params_after" trainingTol state'.Params (prop "params_after" o)

let private runTrainGradNorm (f: Fixture) (case: JsonElement) =
    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let steps = (prop "steps" o).EnumerateArray() |> Seq.toArray
    Assert.True(steps.Length >= 1, $"{f.Name}: no steps in train_gradnorm")
    let mutable state = Train.initState f.Config f.Params

    steps
    |> Array.iteri (fun k expected ->
        let state', metrics = (TorchBackend.engine o64).Step f.Config state X
        state <- state'

        let gn =
            metrics.GradNorm |> Option.defaultWith (fun () -> failwith "grad_norm is off")

        let what = $"{f.Name} step {k}"
        assertClose $"{what} losses" trainingTol gn.Losses (floats (prop "losses" expected))
        assertClose $"{what} task_grad_norms" trainingTol gn.TaskGradNorms (floats (prop "task_grad_norms" expected))
        assertClose $"{what} target" trainingTol gn.Target (floats (prop "target" expected))
        assertCloseScalar $"{what} gradnorm_loss" trainingTol gn.Loss ((prop "gradnorm_loss" expected).GetDouble())
        assertClose $"{what} weights_after" trainingTol gn.WeightsAfter (floats (prop "weights_after" expected))
        checkTree $"{what} params_after" trainingTol state.Params (prop "params_after" expected))

    assertClose $"{f.Name} l0" trainingTol (state.GradNorm.L0 |> Option.defaultValue [||]) (floats (prop "l0" o))

let private runners =
    Map
        [
            "temporal_prediction", runTemporalPrediction
            "decode", runDecode
            "inf", runInf
            "inf_first_step", runInfFirstStep
            "forward", runForward
            "evaluate_record", runEvaluateRecord
            "train_step", runTrainStep
            "train_gradnorm", runTrainGradNorm
        ]

/// One row per (fixture file, case); a single failing row when the folder has no fixture.
let cases () : obj[] seq =
    let files = files referenceDir

    if files.Length = 0 then
        Seq.singleton [| box $"(no *.json in {referenceDir})"; box "none" |]
    else
        seq {
            for file in files do
                let f = load file

                for name in f.Cases.Keys do
                    yield [| box (Path.GetFileNameWithoutExtension file); box name |]
        }

[<Theory>]
[<MemberData(nameof cases)>]
let ``Torch backend in float64 matches the upstream PyTorch fixture`` (fixture: string, case: string) =
    let path = Path.Combine(referenceDir, fixture + ".json")
    Assert.True(File.Exists path, $"Reference fixture {path} not found (folder: {referenceDir}).")
    let f = load path
    Assert.True(runners.ContainsKey case, $"{fixture}: unknown case kind '{case}'")
    runners[case] { f with Name = $"{f.Name} [torch]" } f.Cases[case]

/// float32: inference, the first step and the forward objective within 1e-3 of the fixtures on
/// every case where the core's fused float32 path meets 1e-3 with the same iteration counts (its
/// error is measured here, by the other implementation); the cases where it does not are listed in
/// the test output, not compared. Most cases must be compared.
[<Fact>]
let ``Torch backend in float32 is within 1e-3 of the fixtures where the fused float32 path is`` () =
    let files = files referenceDir
    Assert.True(files.Length > 0, $"No reference fixtures in {referenceDir}")
    let mutable compared, skipped = 0, []

    let gate (what: string) (fusedErrs: float list) (fusedIters: bool) (torchIters: bool) (check: unit -> unit) =
        if fusedIters && torchIters && List.forall (fun e -> e <= float32Tol) fusedErrs then
            compared <- compared + 1
            check ()
        else
            skipped <-
                $"{what} (fused float32 errors {fusedErrs}, iteration counts agree: fused {fusedIters}, torch {torchIters})"
                :: skipped

    for file in files do
        let f = load file
        let name = $"{f.Name} [torch float32]"

        let fused =
            { f.Config with
                Backend = Backend.FusedFloat32
            }

        match f.Cases.TryFind "inf" with
        | Some case ->
            let i, o = prop "inputs" case, prop "outputs" case
            let x, rP, r2 = matrix (prop "x" i), matrix (prop "r_p" i), matrix (prop "r2" i)
            let expected = (prop "iterations" o).GetInt32()
            let res = (TorchBackend.engine o32).Infer f.Config f.Params x rP r2
            let ref32 = Inference.infer fused f.Params x rP r2

            gate
                $"{name} inf"
                [
                    relError (flat ref32.R) (data (prop "r" o))
                    relError (flat ref32.R2) (data (prop "r2" o))
                ]
                (ref32.Iterations = expected)
                (res.Iterations = expected)
                (fun () ->
                    assertClose $"{name} inf r" float32Tol (flat res.R) (data (prop "r" o))
                    assertClose $"{name} inf r2" float32Tol (flat res.R2) (data (prop "r2" o)))
        | None -> ()

        match f.Cases.TryFind "inf_first_step" with
        | Some case ->
            let i, o = prop "inputs" case, prop "outputs" case
            let x = matrix (prop "x" i)
            let expected = (prop "iterations" o).GetInt32()
            let res = (TorchBackend.engine o32).InferFirstStep f.Config f.Params x
            let ref32 = Inference.inferFirstStep fused f.Params x

            gate
                $"{name} inf_first_step"
                [ relError (flat ref32.R) (data (prop "r" o)) ]
                (ref32.Iterations = expected)
                (res.Iterations = expected)
                (fun () -> assertClose $"{name} inf_first_step r" float32Tol (flat res.R) (data (prop "r" o)))
        | None -> ()

        match f.Cases.TryFind "forward" with
        | Some case ->
            let i, o = prop "inputs" case, prop "outputs" case
            let X = array3 (prop "X" i)
            let expected = ints (prop "iterations" o)
            let res = (TorchBackend.engine o32).Forward f.Config f.Params None X
            let ref32 = Forward.forward fused f.Params None X
            let scalar name = (prop name o).GetDouble()

            let pairs (r: ForwardResult) =
                [
                    "spatial_loss_rhat", r.Losses.SpatialLossRHat
                    "spatial_loss_rbar", r.Losses.SpatialLossRBar
                    "temp_loss", r.Losses.TempLoss
                ]

            gate
                $"{name} forward"
                [
                    for n, v in pairs ref32 do
                        yield relError [ v ] [ scalar n ]
                    yield relError (flat ref32.R2Last) (data (prop "r2_last" o))
                ]
                (ref32.Iterations = expected)
                (res.Iterations = expected)
                (fun () ->
                    for n, v in pairs res do
                        assertCloseScalar $"{name} {n}" float32Tol v (scalar n)

                    assertClose $"{name} r2_last" float32Tol (flat res.R2Last) (data (prop "r2_last" o)))
        | None -> ()

    for s in skipped do
        printfn "float32, not compared: %s" s

    Assert.True(
        compared > 2 * skipped.Length,
        $"float32: compared {compared} cases, skipped {skipped.Length}: {skipped}"
    )
