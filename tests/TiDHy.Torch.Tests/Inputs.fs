/// Inputs for the autograd cross-checks beyond the core tests' `TestInputs` (linked into this
/// project): parameters moved away from upstream's orthogonal initialisation.
module TiDHy.Torch.Tests.Inputs

open TiDHy.Functional

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
