/// What the commands write besides the report: the evaluation record as `.npz` and `.h5`, and the
/// line on how many inference steps stopped at `max_iter`.
[<RequireQualifiedAccess>]
module TiDHy.Cli.Output

open TiDHy.Functional

/// The entries of an evaluation record's `.npz`, with upstream's names: the `[window; T; ·]`
/// arrays, `Ut [window; T; R; R]`, `b` with a dynamic bias, the elementwise losses and the three
/// averaged losses as 1-element arrays.
let recordEntries (r: EvaluationRecord) : (string * NpyArray) list =
    let ut =
        Npy.create
            [|
                Array4D.length1 r.Ut
                Array4D.length2 r.Ut
                Array4D.length3 r.Ut
                Array4D.length4 r.Ut
            |]
            [|
                for i in 0 .. Array4D.length1 r.Ut - 1 do
                    for j in 0 .. Array4D.length2 r.Ut - 1 do
                        for k in 0 .. Array4D.length3 r.Ut - 1 do
                            for l in 0 .. Array4D.length4 r.Ut - 1 do
                                yield r.Ut[i, j, k, l]
            |]

    let scalar v = Npy.create [| 1 |] [| v |]

    [
        "I", Npy.ofArray3 r.I
        "I_hat", Npy.ofArray3 r.IHat
        "I_bar", Npy.ofArray3 r.IBar
        "R_hat", Npy.ofArray3 r.RHat
        "R_bar", Npy.ofArray3 r.RBar
        "R2_hat", Npy.ofArray3 r.R2Hat
        "W", Npy.ofArray3 r.W
        "Ut", ut
        yield! r.B |> Option.map (fun b -> "b", Npy.ofArray3 b) |> Option.toList
        "spatial_loss_rhat", Npy.ofArray3 r.SpatialLossRHat
        "spatial_loss_rbar", Npy.ofArray3 r.SpatialLossRBar
        "temp_loss", Npy.ofArray3 r.TempLoss
        "spatial_loss_rhat_avg", scalar r.SpatialLossRHatAvg
        "spatial_loss_rbar_avg", scalar r.SpatialLossRBarAvg
        "temp_loss_avg", scalar r.TempLossAvg
    ]

/// Writes the evaluation record to `path` as `.npz` (float64, atomically).
let saveRecord (path: string) (r: EvaluationRecord) = Npy.writeNpz path (recordEntries r)

/// Writes the evaluation record to `path` as HDF5 (`record.h5`): the entries of `recordEntries` as
/// float64 datasets at the root, as upstream's `io_dict_to_hdf5` names them (atomically).
let saveRecordHdf5 (path: string) (r: EvaluationRecord) = Hdf5.write path (recordEntries r)

/// The share of inference steps that stop at `max_iter` above which the commands warn.
[<Literal>]
let MaxIterWarning = 0.1

/// Prints how many inference steps stopped at `max_iter` (`share`), and a warning on standard error
/// when more than `MaxIterWarning` of them did.
let reportMaxIter (what: string) (maxIter: int) (share: float) =
    printfn "Inference: %.1f%% of %s inference steps stopped at max_iter = %d." (100.0 * share) what maxIter

    if share > MaxIterWarning then
        eprintfn
            "Warning: %.1f%% of %s inference steps stopped at max_iter = %d without converging; the results are unreliable (raise max_iter or tol, or lower lr_r / lr_r2)."
            (100.0 * share)
            what
            maxIter
