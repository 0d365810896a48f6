/// `tidhy demo`: TiDHy trained and evaluated on a built-in switching dataset.
module TiDHy.Cli.Demo

open System
open System.Diagnostics
open TiDHy.Functional

/// A built-in series `[time; features]` with its true discrete states `[time]`: a 2-D latent that
/// rotates slowly or quickly by a sticky two-state switch, seen through a random linear map with
/// Gaussian noise.
let switchingRotations (key: Key) (time: int) (features: int) =
    let kSwitch, kMap, kNoise = Random.splitN 3 key |> fun ks -> ks[0], ks[1], ks[2]
    let stay = Random.uniform01 kSwitch time
    let c = Random.normal kMap (features * 2)
    let noise = Random.normal kNoise (time * features)
    let angles = [| 2.0 * Math.PI / 60.0; 2.0 * Math.PI / 12.0 |]
    let states = Array.zeroCreate<int> time
    let series = Array2D.zeroCreate<float> time features
    let mutable x0, x1 = 1.0, 0.0

    for t in 0 .. time - 1 do
        states[t] <-
            if t = 0 then 0
            elif stay[t] < 0.97 then states[t - 1]
            else 1 - states[t - 1]

        let a = angles[states[t]]
        let y0 = 0.995 * (cos a * x0 - sin a * x1) + 0.01
        let y1 = 0.995 * (sin a * x0 + cos a * x1)
        x0 <- y0
        x1 <- y1

        for d in 0 .. features - 1 do
            series[t, d] <- (c[2 * d] * x0 + c[2 * d + 1] * x1) / sqrt 2.0 + 0.05 * noise[t * features + d]

    series, states

/// Non-overlapping windows `[count; length; features]` of a series `[time; features]`.
let windows (length: int) (series: float[,]) =
    let count = Array2D.length1 series / length
    Array3D.init count length (Array2D.length2 series) (fun w t d -> series[w * length + t, d])

/// Runs the demo: prints what it measured and writes a report folder `outDir`; returns the exit code.
let run (seed: int) (epochs: int) (outDir: string) =
    let features, time, length = 8, 400, 50
    let kData, kModel = Random.split (Random.key seed)
    let series, states = switchingRotations kData time features
    let X = windows length series

    let cfg =
        { Config.defaults features with
            MaxIter = 200
            Convergence = Convergence.PerSample
        }

    let p = Init.init cfg kModel

    printfn
        "TiDHy demo (seed %d): a %d-step, %d-feature switching series in %d windows of %d steps."
        seed
        time
        features
        (Array3D.length1 X)
        length

    printfn
        "Model: R=%d, R2=%d, M=%d, H=%d; inference max_iter=%d, tol=%g."
        cfg.RDim
        cfg.R2Dim
        cfg.MixDim
        cfg.HyperHidDim
        cfg.MaxIter
        cfg.Tol

    let switches =
        states |> Array.pairwise |> Array.filter (fun (a, b) -> a <> b) |> Array.length

    printfn
        "True discrete state switches: %d; time in the fast state: %.0f%%."
        switches
        (100.0 * (states |> Array.averageBy float))

    let watch = Stopwatch.StartNew()
    let untrained = Evaluate.evaluateRecord cfg p None X
    printfn ""
    printfn "Training %d epochs (batches of 4 windows, GradNorm on, seed %d):" epochs seed

    let fit =
        Progress.run 0 epochs (fun report ->
            Train.fit
                cfg
                { Train.defaultFitOptions cfg with
                    BatchSize = 4
                    Epochs = epochs
                    Seed = seed
                    Progress = report
                }
                X
                None
                (Train.initState cfg p))

    let trained = fit.State.Params
    let record = Evaluate.evaluateRecord cfg trained None X
    let forward = Forward.forward cfg trained None X
    watch.Stop()
    printfn ""
    printfn "Evaluation record (per window, summed over time, averaged over windows), before → after training:"

    let energy =
        (Seq.cast<float> X |> Seq.sumBy (fun v -> v * v)) / float (Array3D.length1 X)

    printfn "  data energy          ⟨x²⟩                   %10.4f   (the MSE of predicting 0)" energy

    printfn
        "  reconstruction loss  ⟨ℓ(decode(r), x)⟩      %10.4f → %10.4f"
        untrained.SpatialLossRHatAvg
        record.SpatialLossRHatAvg

    printfn
        "  forecast loss        ⟨ℓ(decode(r̂), x)⟩      %10.4f → %10.4f"
        untrained.SpatialLossRBarAvg
        record.SpatialLossRBarAvg

    printfn "  temporal loss        temp_weight·⟨(r − r̂)²⟩ %10.4f → %10.4f" untrained.TempLossAvg record.TempLossAvg

    printfn
        "  inference iterations per step: mean %.1f, max %d; converged at %d of %d steps"
        (Array.averageBy float record.Iterations)
        (Array.max record.Iterations)
        (record.Converged |> Array.filter id |> Array.length)
        record.Converged.Length

    printfn ""

    printfn
        "Training objective after training: L_hat %.4f, L_bar %.4f, temp %.4f"
        forward.SpatialLossRHat
        forward.SpatialLossRBar
        forward.TempLoss

    printfn "Reference float64 path: %.1f s in all (evaluations, training, objective)." watch.Elapsed.TotalSeconds

    let index =
        Report.write
            outDir
            "TiDHy demo: a switching rotation"
            [
                "seed", string seed
                "series", $"{time} steps × {features} features, {Array3D.length1 X} windows of {length}"
                "model", $"R={cfg.RDim}, R2={cfg.R2Dim}, M={cfg.MixDim}, H={cfg.HyperHidDim}, max_iter={cfg.MaxIter}"
                "epochs", string epochs
                "reconstruction loss (before → after)",
                $"{untrained.SpatialLossRHatAvg:F4} → {record.SpatialLossRHatAvg:F4}"
                "forecast loss (before → after)", $"{untrained.SpatialLossRBarAvg:F4} → {record.SpatialLossRBarAvg:F4}"
                "temporal loss (before → after)", $"{untrained.TempLossAvg:F4} → {record.TempLossAvg:F4}"
            ]
            fit.State.History
            (Some(Report.timeline record))
            (Some(Array2D.init time 1 (fun t _ -> float states[t])))

    printfn "Report: %s" index

    let finite =
        Double.IsFinite record.SpatialLossRHatAvg
        && Double.IsFinite record.TempLossAvg
        && Double.IsFinite forward.SpatialLossRHat

    if finite then 0 else 1
