/// `Train.fitOn` the torch engine against `Train.fit`: the same epochs, batches, schedule, GradNorm, validation,
/// best model and (stateful) carries give the same parameters and history.
module TiDHy.Torch.Tests.FitTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Torch
open Xunit

let private checkParams (what: string) (actual: Params) (expected: Params) =
    let a = ParamTree.leaves actual |> Map.ofList

    for name, e in ParamTree.leaves expected do
        assertClose $"{what} {name}" 1e-7 a[name] e

/// The fit tests' problem: `smallConfig` changed by `configure`, 12 training and 2 validation
/// windows of 5 steps, batches of 4 over `epochs` epochs, and a state away from the orthogonal
/// initialisation, where the cosines of cos_reg are ≈ ±1e-17 and the sign their gradient takes is a
/// rounding accident in every implementation (Inputs.perturb).
let private fitProblem (configure: Config -> Config) (epochs: int) =
    let cfg =
        configure
            { smallConfig with
                NumEpochs = 5
                SequenceLength = 5
                Overlap = 5
                Backend = Backend.Reference
            }

    let series =
        Array2D.init 60 6 (fun t d -> sin (0.2 * float t + float d) + 0.1 * cos (0.7 * float (t * d)))

    let windows = Array3D.init 12 5 6 (fun w t d -> series[w * 5 + t, d])
    let validation = Array3D.init 2 5 6 (fun w t d -> 0.5 * series[w * 5 + t, d])

    let options =
        { Train.defaultFitOptions cfg with
            BatchSize = 4
            Epochs = epochs
            Seed = 7
        }

    let state0 =
        Train.initState cfg (Init.init cfg (Random.key 11) |> Inputs.perturb cfg 11 0.3)

    cfg, windows, validation, options, state0

[<Theory>]
[<InlineData(false, false, false)>]
[<InlineData(true, false, false)>]
[<InlineData(false, true, false)>]
[<InlineData(false, true, true)>]
let ``Train.fitOn the torch engine equals Train.fit`` (stateful: bool, normalize: bool, lowRankNonlin: bool) =
    // normalize: unit columns of spatial_decoder.0.weight and unit rows of temporal after every step
    // (Init.normalize), on the full-rank linear model and on the low-rank nonlinear one.
    let cfg, windows, validation, options, state0 =
        fitProblem
            (fun c ->
                { c with
                    Stateful = stateful
                    NormalizeSpatial = normalize
                    NormalizeTemporal = normalize
                    LowRankTemp = lowRankNonlin
                    NonlinDecoder = lowRankNonlin
                })
            3

    let core = Train.fit cfg options windows (Some validation) state0

    let torch =
        Train.fitOn (TorchBackend.engine TorchOptions.cpu) cfg options None windows (Some validation) state0

    Assert.Equal(core.State.Epoch, torch.State.Epoch)
    Assert.Equal(core.State.Optimizer.Step, torch.State.Optimizer.Step)
    checkParams "params" torch.State.Params core.State.Params
    checkParams "AdamW second moment" torch.State.Optimizer.ExpAvgSq core.State.Optimizer.ExpAvgSq
    assertClose "GradNorm weights" 1e-7 torch.State.GradNorm.Weights core.State.GradNorm.Weights

    for e, t in Array.zip core.State.History torch.State.History do
        assertCloseScalar $"epoch {e.Epoch} total" 1e-7 t.Train.Total e.Train.Total
        assertCloseScalar $"epoch {e.Epoch} validation" 1e-7 t.Validation.Value e.Validation.Value

    Assert.Equal(core.State.Best.Value.Epoch, torch.State.Best.Value.Epoch)

[<Fact>]
let ``Train.fitOn the torch engine with a monitor records and selects as Train.fitMonitored`` () =
    let cfg, windows, validation, options, state0 = fitProblem id 4

    // Continuous metrics of the parameters, measured on epochs 2 and 4 (every 2nd and the last);
    // the selection is by the distance of the temporal weights from 1, highest wins.
    let measure (p: Params) =
        let temporal =
            ParamTree.leaves p |> List.find (fst >> (=) ParamNames.Temporal) |> snd

        let ss = temporal |> Array.sumBy (fun v -> v * v)

        [
            "temporal_ss", ss
            "score", -abs(ss - 1.0)
            "validation", Train.validationLoss cfg p 4 validation
        ]

    let monitoring =
        {
            Every = 2
            Measure = measure
            Selection = HighestMetric "score"
            StatesSha256 = None
        }

    let core =
        Train.fitMonitored cfg options monitoring windows (Some validation) state0

    let torch =
        Train.fitOn
            (TorchBackend.engine TorchOptions.cpu)
            cfg
            options
            (Some monitoring)
            windows
            (Some validation)
            state0

    Assert.Equal<int list>([ 0; 3; 0; 3 ], torch.State.History |> Array.map _.Monitor.Length |> Array.toList)

    for e, t in Array.zip core.State.History torch.State.History do
        Assert.Equal<string list>(List.map fst e.Monitor, List.map fst t.Monitor)
        assertClose $"epoch {e.Epoch} monitor" 1e-7 (List.map snd t.Monitor) (List.map snd e.Monitor)

    Assert.Equal("score", torch.State.Best.Value.Criterion)
    Assert.Equal(core.State.Best.Value.Epoch, torch.State.Best.Value.Epoch)
    Assert.Equal(core.State.Best.Value.Score, torch.State.Best.Value.Score, 6)
    checkParams "best params" torch.State.Best.Value.Params core.State.Best.Value.Params

    let bad =
        Assert.Throws<ArgumentException>(fun () ->
            Train.fitOn
                (TorchBackend.engine TorchOptions.cpu)
                cfg
                options
                (Some { monitoring with Every = 0 })
                windows
                (Some validation)
                state0
            |> ignore)

    Assert.Contains("monitoring.Every", bad.Message)

[<Fact>]
let ``An inference that diverges in a torch training step is reported as Train.step reports it`` () =
    // lr_r = 1e6 multiplies r by about 1e6 per iteration, so a window with one huge sample overflows.
    let cfg =
        { smallConfig with
            LrR = 1e6
            MaxIter = 400
            Backend = Backend.Reference
        }

    let X =
        Array3D.init 3 4 cfg.InputDim (fun s t j -> if s = 1 && t = 2 then 1e30 * float (j + 1) else 1e-3)

    let state = Train.init cfg (Random.key 2)

    let core =
        Assert.Throws<TrainingDivergedException>(fun () -> Train.step cfg state X |> ignore)

    let torch =
        Assert.Throws<TrainingDivergedException>(fun () ->
            (TorchBackend.engine TorchOptions.cpu).Step cfg state X |> ignore)

    Assert.Contains("the training step (r", torch.Message)
    Assert.Contains("(inference diverged)", torch.Message)
    Assert.Equal(core.Message, torch.Message)

[<Theory>]
[<InlineData(false)>]
[<InlineData(true)>]
let ``Conformance: a torch fit cancelled midway and resumed ends where the fit in one go does`` (stateful: bool) =
    // Not bit for bit: two identical torch fits can differ in the last bits of the AdamW moments
    // (libtorch's CPU kernels under a varying thread count; seen here with the machine loaded), and
    // a resumed fit by a relative 1e-16 (seen here, in `temporal`): 1e-12 leaves room for that
    // rounding and none for a lost carry, moment or batch.
    Conformance.checkFitResumes
        1e-12
        (TorchBackend.engine TorchOptions.cpu)
        { smallConfig with
            Stateful = stateful
            GradNorm = true
        }

[<Fact>]
let ``Conformance: a diverging fit is reported by the torch engine as by the reference engine`` () =
    Assert.Equal(
        Conformance.divergenceReport (Train.engine Backend.Reference),
        Conformance.divergenceReport (TorchBackend.engine TorchOptions.cpu)
    )
