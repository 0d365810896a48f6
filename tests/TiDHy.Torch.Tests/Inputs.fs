/// Inputs for the autograd cross-checks (the same rules as the core tests' TestInputs, which need the
/// core's internals): observations each loss accepts and parameters whose predictions suit it.
module TiDHy.Torch.Tests.Inputs

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil


/// `[rows; cols]` uniform on [lo, hi) from `seed`.
let uniformMatrix (seed: int) (lo: float) (hi: float) (rows: int) (cols: int) =
    let u = Random.uniform (Random.key seed) lo hi (rows * cols)
    Array2D.init rows cols (fun i j -> u[i * cols + j])

/// N(0, sd²) draws pushed at least `margin` away from 0 (`sign z·(margin + |z|)`), so that the L1
/// terms' `|·|` is differentiable there.
let awayFromZero (seed: int) (sd: float) (margin: float) (rows: int) (cols: int) =
    randomMatrix seed sd rows cols
    |> Array2D.map (fun v -> (if v < 0.0 then -1.0 else 1.0) * (margin + abs v))

/// Observations the loss accepts: N(0, 1) for MSE, uniform on [0, 1) for BCE, on [0, 4) for Poisson.
let observations (loss: LossKind) (seed: int) (rows: int) (cols: int) =
    match loss with
    | LossKind.MSE -> randomMatrix seed 1.0 rows cols
    | LossKind.BCE -> uniformMatrix seed 0.0 1.0 rows cols
    | LossKind.Poisson -> uniformMatrix seed 0.0 4.0 rows cols

/// `p` with the spatial decoder's last bias raised far above its weights' reach, so that every
/// prediction is positive (the Poisson loss needs `pred > 0`).
let withPositiveDecoder (p: Params) =
    match p.SpatialDecoder with
    | LinearDecoder l ->
        { p with
            SpatialDecoder =
                LinearDecoder
                    { l with
                        Bias = Some(Array.create (Array2D.length1 l.Weight) 6.0)
                    }
        }
    | NonlinearDecoder m ->
        { p with
            SpatialDecoder =
                NonlinearDecoder
                    { m with
                        Output =
                            { m.Output with
                                Bias = Some(Array.create (Array2D.length1 m.Output.Weight) 12.0)
                            }
                    }
        }

/// `p` with N(0, sd²) noise from `seed` added to every leaf: upstream's orthogonal initialisation
/// makes the cosine regularisers' cosines ≈ 0, where `sign(cos)` (their derivative) is decided by
/// rounding, so the cross-checks move away from it.
let perturb (cfg: Config) (seed: int) (sd: float) (p: Params) =
    let leaves = ParamLayout.ofParams p

    leaves
    |> List.mapi (fun i (name, t) ->
        let z = Random.normal (Random.key (seed + 7919 * (i + 1))) t.Data.Length

        name,
        { t with
            Data = Array.map2 (fun v e -> v + sd * e) t.Data z
        })
    |> Map.ofList
    |> ParamLayout.toParams cfg
