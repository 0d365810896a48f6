/// One conformance suite for every engine (`Engine`: the core's reference path and fused kernels,
/// the torch package's tensors): each upstream PyTorch fixture case (tests/reference, or
/// `$TIDHY_REFERENCE_DIR`) run through the engine's operations at the tolerances of
/// `reference/README.md` (stages 1e-10; inference, forward, evaluation and training 1e-7; equal
/// iteration counts), a fit resumed after a cancellation against the same fit in one go, and the
/// report of a fit that diverges. The core's tests and the torch tests run these same checks.
module TiDHy.Functional.Tests.Conformance

open System.IO
open System.Threading
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open Xunit

/// Relative error allowed for `temporal_prediction` and `decode`.
let stageTol = 1e-10

/// Relative error allowed for inference, forward and evaluation outputs.
let inferenceTol = 1e-7

/// Relative error allowed for training outputs.
let trainingTol = 1e-7

let private flat (a: 'T[,]) = Seq.cast<'T> a |> Seq.toArray
let private flat3 (a: 'T[,,]) = Seq.cast<'T> a |> Seq.toArray

let private floats (e: JsonElement) =
    e.EnumerateArray() |> Seq.map _.GetDouble() |> Seq.toArray

let private ints (e: JsonElement) =
    e.EnumerateArray() |> Seq.map _.GetInt32() |> Seq.toArray

let private checkShape what (actual: int[]) (e: JsonElement) =
    Assert.True((actual = shape e), $"{what}: shape {Shape.show actual}, expected {Shape.show (shape e)}")

let private runTemporalPrediction (e: Engine) (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let tp =
        e.TemporalPrediction f.Config f.Params (matrix (prop "r_p" i)) (matrix (prop "r2" i))

    assertClose $"{f.Name} r_hat" stageTol (flat tp.RHat) (data (prop "r_hat" o))
    checkShape "V_t" (Shape.ofArray3 tp.Vt) (prop "V_t" o)
    assertClose $"{f.Name} V_t" stageTol (flat3 tp.Vt) (data (prop "V_t" o))
    assertClose $"{f.Name} w" stageTol (flat tp.W) (data (prop "w" o))

let private runDecode (e: Engine) (f: Fixture) (case: JsonElement) =
    let x = e.Decode f.Config f.Params (matrix (prop "r" (prop "inputs" case)))
    assertClose $"{f.Name} x" stageTol (flat x) (data (prop "x" (prop "outputs" case)))

let private runInf (e: Engine) (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case

    let res =
        e.Infer f.Config f.Params (matrix (prop "x" i)) (matrix (prop "r_p" i)) (matrix (prop "r2" i))

    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))
    assertClose $"{f.Name} r2" inferenceTol (flat res.R2) (data (prop "r2" o))

let private runInfFirstStep (e: Engine) (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case
    let res = e.InferFirstStep f.Config f.Params (matrix (prop "x" i))
    Assert.Equal((prop "iterations" o).GetInt32(), res.Iterations)
    assertClose $"{f.Name} r" inferenceTol (flat res.R) (data (prop "r" o))

let private runForward (e: Engine) (f: Fixture) (case: JsonElement) =
    let i, o = prop "inputs" case, prop "outputs" case
    let res = e.Forward f.Config f.Params None (array3 (prop "X" i))
    Assert.Equal<int[]>(ints (prop "iterations" o), res.Iterations)
    let scalar name = (prop name o).GetDouble()
    assertCloseScalar $"{f.Name} spatial_loss_rhat" inferenceTol res.Losses.SpatialLossRHat (scalar "spatial_loss_rhat")
    assertCloseScalar $"{f.Name} spatial_loss_rbar" inferenceTol res.Losses.SpatialLossRBar (scalar "spatial_loss_rbar")
    assertCloseScalar $"{f.Name} temp_loss" inferenceTol res.Losses.TempLoss (scalar "temp_loss")
    assertCloseScalar $"{f.Name} r2_losses" inferenceTol res.Losses.R2Loss (scalar "r2_losses")
    assertClose $"{f.Name} r_first" inferenceTol (flat res.RFirst) (data (prop "r_first" o))
    assertClose $"{f.Name} r2_last" inferenceTol (flat res.R2Last) (data (prop "r2_last" o))

let private runEvaluateRecord (e: Engine) (f: Fixture) (case: JsonElement) =
    let res =
        e.EvaluateRecord f.Config f.Params None (array3 (prop "X" (prop "inputs" case)))

    checkEvaluateRecord f (prop "outputs" case) res

/// Compares every named tensor of `expected` (a JSON object of tensors) with the leaves of `actual`;
/// the two must hold the same names.
let private checkTree (what: string) (actual: Params) (expected: JsonElement) =
    let leaves = ParamTree.leaves actual |> Map.ofList
    let names = expected.EnumerateObject() |> Seq.map _.Name |> Set.ofSeq
    Assert.Equal<Set<string>>(names, leaves.Keys |> Set.ofSeq)

    for p in expected.EnumerateObject() do
        assertClose $"{what} {p.Name}" trainingTol leaves[p.Name] (tensor p.Value).Data

let private runTrainStep (e: Engine) (f: Fixture) (case: JsonElement) =
    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let state = Train.initState f.Config f.Params
    let objective = e.Objective f.Config state X
    let state', metrics = e.Step f.Config state X
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
    checkTree $"{f.Name} grad" objective.Gradient (prop "grads" o)

    assertCloseScalar
        $"{f.Name} grad_norm_before_clip"
        trainingTol
        metrics.GradNormBeforeClip
        ((prop "grad_norm_before_clip" o).GetDouble())

    checkTree $"{f.Name} params_after" state'.Params (prop "params_after" o)

let private runTrainGradNorm (e: Engine) (f: Fixture) (case: JsonElement) =
    let o = prop "outputs" case
    let X = array3 (prop "X" (prop "inputs" case))
    let steps = (prop "steps" o).EnumerateArray() |> Seq.toArray
    Assert.True(steps.Length >= 1, $"{f.Name}: no steps in train_gradnorm")
    let mutable state = Train.initState f.Config f.Params

    steps
    |> Array.iteri (fun k expected ->
        let state', metrics = e.Step f.Config state X
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

/// Runs case `case` of fixture `f` on `engine`; the fixture's name gains the engine's, so that a
/// reported error says which ran.
let runCase (engine: Engine) (case: string) (f: Fixture) =
    Assert.True(runners.ContainsKey case, $"{f.Name}: unknown case kind '{case}'")

    runners[case]
        engine
        { f with
            Name = $"{f.Name} [{engine.Name}]"
        }
        f.Cases[case]

/// One row `(fixture file, case)` per case of a kind in `kinds` in the fixture folder; a single
/// failing row when there is none.
let cases (kinds: Set<string>) : obj[] seq =
    let rows =
        [
            for file in files referenceDir do
                for name in (load file).Cases.Keys do
                    if kinds.Contains name then
                        yield [| box (Path.GetFileNameWithoutExtension file); box name |]
        ]

    if rows.IsEmpty then
        Seq.singleton [| box $"(no case of {Set.toList kinds} in {referenceDir})"; box "none" |]
    else
        Seq.ofList rows

/// Loads fixture file `fixture` (a name from `cases`) and runs its case `case` on `engine`.
let run (engine: Engine) (fixture: string) (case: string) =
    let path = Path.Combine(referenceDir, fixture + ".json")
    Assert.True(File.Exists path, $"Reference fixture {path} not found (folder: {referenceDir}).")
    runCase engine case (load path)

let private leaves (p: Params) =
    ParamTree.leaves p |> List.map (fun (n, v) -> n, Array.copy v)

/// Fits on `engine` three epochs in one go, and again cancelled after the second batch of the
/// second epoch and resumed from the state it returned: the two end states agree to `tol`
/// (relative; 0: bit for bit) in the parameters, AdamW moments and step, GradNorm's weights, the
/// epochs' losses and the best epoch.
let checkFitResumes (tol: float) (engine: Engine) (cfg: Config) =
    let windows = TestInputs.syntheticWindows 11 8 6 cfg.InputDim
    let validation = TestInputs.syntheticWindows 12 4 6 cfg.InputDim
    let state0 = Train.init cfg (Random.key 3)

    let options =
        { Train.defaultFitOptions cfg with
            BatchSize = 2
            Epochs = 3
            Seed = 4
        }

    let whole = Train.fitOn engine cfg options None windows (Some validation) state0
    use cts = new CancellationTokenSource()

    let cancelling =
        { options with
            Cancellation = cts.Token
            Progress =
                fun p ->
                    if p.Epoch = 1 && p.Batch = 2 then
                        cts.Cancel()
        }

    let part = Train.fitOn engine cfg cancelling None windows (Some validation) state0
    Assert.True(part.Cancelled, $"{engine.Name}: the fit was not cancelled")
    Assert.Equal((1, 2), (part.State.Epoch, part.State.Batch))

    let resumed =
        Train.fitOn engine cfg options None windows (Some validation) part.State

    Assert.False(resumed.Cancelled)
    let a, b = whole.State, resumed.State
    let what = $"{engine.Name} (stateful {cfg.Stateful})"

    let same (name: string) (x: Params) (y: Params) =
        for (n, u), (_, v) in List.zip (leaves x) (leaves y) do
            if tol = 0.0 then
                Assert.True((u = v), $"{what}: {name} {n} differ")
            else
                assertClose $"{what}: {name} {n}" tol u v

    same "parameters" a.Params b.Params
    same "AdamW first moments" a.Optimizer.ExpAvg b.Optimizer.ExpAvg
    same "AdamW second moments" a.Optimizer.ExpAvgSq b.Optimizer.ExpAvgSq
    Assert.Equal(a.Optimizer.Step, b.Optimizer.Step)
    assertClose $"{what}: GradNorm weights" tol a.GradNorm.Weights b.GradNorm.Weights
    Assert.Equal(a.History.Length, b.History.Length)

    for ea, eb in Array.zip a.History b.History do
        assertCloseScalar $"{what}: epoch {ea.Epoch} training loss" tol ea.Train.Total eb.Train.Total

        assertClose
            $"{what}: epoch {ea.Epoch} validation loss"
            tol
            (Option.toArray ea.Validation)
            (Option.toArray eb.Validation)

    Assert.Equal(a.Best.Value.Epoch, b.Best.Value.Epoch)

/// A fit on `engine` whose first batch's inference overflows (lr_r = 1e6 on a window with one huge
/// sample): raises `TrainingDivergedException` naming epoch 0, batch 0 and the inference, before
/// anything reaches its checkpoint folder. Returns the message, for comparing engines.
let divergenceReport (engine: Engine) =
    let cfg =
        { smallConfig with
            LrR = 1e6
            MaxIter = 400
        }

    let X =
        Array3D.init 4 4 cfg.InputDim (fun s t j -> if s = 1 && t = 2 then 1e30 * float (j + 1) else 1e-3)

    let dir = tempDir ()

    try
        let options =
            { Train.defaultFitOptions cfg with
                BatchSize = 4
                Epochs = 1
                CheckpointDirectory = Some dir
            }

        let ex =
            Assert.Throws<TrainingDivergedException>(fun () ->
                Train.fitOn engine cfg options None X None (Train.init cfg (Random.key 2))
                |> ignore)

        Assert.Equal((0, 0), (ex.Epoch, ex.Batch))
        Assert.Contains("(inference diverged)", ex.Message)
        Assert.Empty(Directory.GetFiles dir)
        ex.Message
    finally
        Directory.Delete(dir, true)
