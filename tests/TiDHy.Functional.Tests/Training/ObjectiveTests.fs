/// Tests of `Objective`: every parameter gradient of the training objective against central
/// differences of its values, for every option, and the values against `Forward.forward`.
module TiDHy.Functional.Tests.ObjectiveTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open Xunit


/// One combination of the options the training objective depends on.
type ObjectiveCase =
    {
        Loss: LossKind
        NonlinDecoder: bool
        LowRankTemp: bool
        DynBias: bool
        UseR2Decoder: bool
    }

    override c.ToString() =
        $"{Config.lossName c.Loss} nonlin={c.NonlinDecoder} lowrank={c.LowRankTemp} "
        + $"dyn_bias={c.DynBias} r2_decoder={c.UseR2Decoder}"

    /// The small test configuration with these options.
    member c.Config =
        { smallConfig with
            Loss = c.Loss
            NonlinDecoder = c.NonlinDecoder
            LowRankTemp = c.LowRankTemp
            DynBias = c.DynBias
            UseR2Decoder = c.UseR2Decoder
        }

/// Every combination: 3 losses × decoder × temporal rank × dynamic bias × r2 decoder.
let objectiveCases =
    [
        for loss in [ LossKind.MSE; LossKind.BCE; LossKind.Poisson ] do
            for nonlin in [ false; true ] do
                for lowRank in [ false; true ] do
                    for dynBias in [ false; true ] do
                        for r2Dec in [ false; true ] do
                            {
                                Loss = loss
                                NonlinDecoder = nonlin
                                LowRankTemp = lowRank
                                DynBias = dynBias
                                UseR2Decoder = r2Dec
                            }
    ]

/// True when every term of the objective is smooth in the parameters at `traj`: the decoder at
/// `r_t`, at `r̂_t` and at 0, the hypernetwork at `r2_t`, and the r2 decoder at `[r_{t−1}, r2_{t−1}]`.
let objectiveSmoothIn (cfg: Config) (p: Params) (traj: Trajectory) =
    traj.Steps
    |> Array.forall (fun s ->
        let rHat = (Model.temporalPrediction cfg p s.RPrev s.R2).RHat

        decoderSmoothAt cfg p s.R
        && decoderSmoothAt cfg p rHat
        && Numerics.rows s.R2 |> Array.forall (mlpSmoothAt p.Hypernet true)
        && (match p.R2Decoder with
            | Some m ->
                Array.forall2
                    (fun a b -> mlpSmoothAt m false (Array.append a b))
                    (Numerics.rows s.RPrev)
                    (Numerics.rows s.R2Prev)
            | None -> true))
    && (match traj.Initial with
        | Some x0 -> decoderSmoothAt cfg p (Array2D.zeroCreate (Array2D.length1 x0) cfg.RDim)
        | None -> true)

/// The relative errors of the four terms' analytic gradients (`Objective.terms`) against central
/// differences of `Objective.values`, at smooth parameters and a random trajectory.
let objectiveGradientErrors (cfg: Config) (initial: bool) =
    let p, traj =
        firstSmooth
            (string cfg)
            (fun seed -> paramsFor cfg seed, randomTrajectory cfg (seed + 11) 2 3 initial)
            (fun (p, traj) -> objectiveSmoothIn cfg p traj)

    let terms = Objective.terms cfg p traj

    let numerical =
        GradientCheck.paramGradients (fun q -> Objective.values cfg q traj |> LossTerms.toList |> List.toArray) p

    terms
    |> LossTerms.toList
    |> List.map _.Grad
    |> List.toArray
    |> Array.mapi (fun k g -> GradientCheck.paramRelativeError g numerical[k])

[<Fact>]
let ``Every parameter gradient of the objective matches central differences for every option`` () =
    let failures =
        [
            for c in objectiveCases do
                let errs = objectiveGradientErrors c.Config true
                let names = [| "L_hat"; "L_bar"; "L_temp"; "L_r2" |]

                for k in 0..3 do
                    report $"objective gradient {c} {names[k]}" errs[k] GradientCheck.tolerance

                    if not (errs[k] <= GradientCheck.tolerance) then
                        yield $"{c} {names[k]}: {errs[k]:E3}"
        ]

    Assert.True(failures.IsEmpty, String.concat "\n" failures)

[<Fact>]
let ``Objective gradients match central differences in stateful mode (no X_0 term)`` () =
    for c in objectiveCases |> List.filter (fun c -> c.Loss = LossKind.MSE) do
        let errs = objectiveGradientErrors c.Config false

        errs
        |> Array.iteri (fun k e -> report $"objective gradient stateful {c} term {k}" e GradientCheck.tolerance)

        Assert.True(Array.forall (fun e -> e <= GradientCheck.tolerance) errs, $"{c}: %A{errs}")

[<Fact>]
let ``Objective values equal the forward pass over the same window`` () =
    for c in
        objectiveCases
        |> List.filter (fun c -> not c.NonlinDecoder || c.Loss = LossKind.MSE) do
        let cfg = c.Config
        let p = paramsFor cfg 5

        let X =
            Array3D.init 3 4 cfg.InputDim (fun b t d -> (observations cfg.Loss (40 + t) 3 cfg.InputDim)[b, d])

        let run = Objective.trajectory cfg p None X
        let traj, fwd = run.Trajectory, run.Forward
        let v = Objective.values cfg p traj
        let hat, bar, temp, r2 = v.SpatialLossRHat, v.SpatialLossRBar, v.TempLoss, v.R2Loss
        assertCloseScalar $"{c} L_hat" 1e-12 hat fwd.Losses.SpatialLossRHat
        assertCloseScalar $"{c} L_bar" 1e-12 bar fwd.Losses.SpatialLossRBar
        assertCloseScalar $"{c} L_temp" 1e-12 temp fwd.Losses.TempLoss
        assertCloseScalar $"{c} L_r2" 1e-12 r2 fwd.Losses.R2Loss
        Assert.Equal(3, traj.Steps.Length)
        let terms = Objective.terms cfg p traj
        assertCloseScalar $"{c} terms L_hat" 1e-12 terms.SpatialLossRHat.Value hat
        assertCloseScalar $"{c} terms L_bar" 1e-12 terms.SpatialLossRBar.Value bar
        assertCloseScalar $"{c} terms L_temp" 1e-12 terms.TempLoss.Value temp
        assertCloseScalar $"{c} terms L_r2" 1e-12 terms.R2Loss.Value r2

[<Fact>]
let ``With SAFE sparsity the temporal term's gradient matches central differences (SAFE alone and with L_temp)`` () =
    // temp_weight = 0 leaves SAFE alone in the temporal term, so that its gradient is checked on its
    // own and not hidden by L_temp's; then both together.
    let failures =
        [
            for c in objectiveCases |> List.filter (fun c -> c.Loss = LossKind.MSE) do
                for tempWeight, safe in [ 0.0, 1.0; 2.0, 0.5 ] do
                    for initial in [ true; false ] do
                        let cfg =
                            { c.Config with
                                TempWeight = tempWeight
                                SparsityWSafe = safe
                                WMinActiveRatio = 0.3
                            }

                        let errs = objectiveGradientErrors cfg initial

                        report
                            $"objective gradient with SAFE {c} temp_weight={tempWeight}"
                            errs[2]
                            GradientCheck.tolerance

                        if not (Array.forall (fun e -> e <= GradientCheck.tolerance) errs) then
                            yield $"{c} temp_weight={tempWeight} safe={safe} initial={initial}: %A{errs}"
        ]

    Assert.True(failures.IsEmpty, String.concat "\n" failures)

[<Fact>]
let ``SAFE is the mean of its row value over every step and sample that has a w, added to the temporal term`` () =
    for initial in [ true; false ] do
        let cfg =
            { smallConfig with
                SparsityWSafe = 0.7
                WMinActiveRatio = 0.4
            }

        let p = paramsFor cfg 3
        let traj = randomTrajectory cfg 21 3 4 initial
        let off = Objective.values { cfg with SparsityWSafe = 0.0 } p traj
        let on = Objective.values cfg p traj
        let terms = Objective.terms cfg p traj

        // Rows: 4 steps × 3 samples, each w = hypernet(r2_t) (not the X_0 term, which has none).
        let rows =
            [|
                for s in traj.Steps do
                    yield! Numerics.rows (Model.hypernet cfg p s.R2)
            |]

        Assert.Equal(12, rows.Length)
        let safe = rows |> Array.averageBy (fun w -> fst (Regularisers.safeRow 0.4 w))
        Assert.True(safe > 0.0)
        Assert.Equal(off.TempLoss + 0.7 * safe, on.TempLoss, 12)
        Assert.Equal(on.TempLoss, terms.TempLoss.Value, 12)

        Assert.Equal(
            (off.SpatialLossRHat, off.SpatialLossRBar, off.R2Loss),
            (on.SpatialLossRHat, on.SpatialLossRBar, on.R2Loss)
        )
        // Its gradient reaches only the hypernetwork (and L_temp's parameters through L_temp).
        let offTerms = Objective.terms { cfg with SparsityWSafe = 0.0 } p traj
        let diff = ParamTree.map2 (-) terms.TempLoss.Grad offTerms.TempLoss.Grad

        for name, data in ParamTree.leaves diff do
            let moved = data |> Array.exists (fun v -> v <> 0.0)
            Assert.True((moved = ParamNames.inModule ParamNames.Hypernet name), $"{name}: changed = {moved}")
