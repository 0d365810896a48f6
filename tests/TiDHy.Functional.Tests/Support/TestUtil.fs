module TiDHy.Functional.Tests.TestUtil

open System
open System.IO
open TiDHy.Functional
open Xunit

/// The repository root: the folder holding TiDHy.Functional.sln above the test binaries.
let repoRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then
            failwith $"TiDHy.Functional.sln not found above {AppContext.BaseDirectory}"
        elif File.Exists(Path.Combine(dir.FullName, "TiDHy.Functional.sln")) then
            dir.FullName
        else
            up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// The fixture folder: `$TIDHY_REFERENCE_DIR` when set, else the repository's `tests/reference`.
let referenceDir =
    match Environment.GetEnvironmentVariable "TIDHY_REFERENCE_DIR" with
    | null
    | "" -> Path.Combine(repoRoot, "tests", "reference")
    | dir -> Path.GetFullPath dir

/// `max|a − b| / max|b|` (the infinity-norm relative error); when `b` is all zeros, `max|a|`.
let relError (actual: float seq) (expected: float seq) =
    let a = Seq.toArray actual
    let e = Seq.toArray expected

    if a.Length <> e.Length then
        infinity
    else
        let diff = Array.fold2 (fun m x y -> max m (abs (x - y))) 0.0 a e
        let scale = e |> Array.fold (fun m y -> max m (abs y)) 0.0

        if Array.exists Double.IsNaN a then nan
        elif scale = 0.0 then diff
        else diff / scale

/// When `$TIDHY_ERROR_REPORT` names a file, appends the measured error `err` of `what` and its
/// tolerance to it (a tab-separated line), so that a run can list every error it measured.
let report (what: string) (err: float) (tol: float) =
    match Environment.GetEnvironmentVariable "TIDHY_ERROR_REPORT" with
    | null
    | "" -> ()
    | path -> lock repoRoot (fun () -> File.AppendAllText(path, $"{what}\t{err:E3}\t{tol:E0}\n"))

/// Fails unless `relError actual expected ≤ tol`, naming `what` and the error; the error is
/// `report`ed.
let assertClose (what: string) (tol: float) (actual: float seq) (expected: float seq) =
    let a = Seq.toArray actual
    let e = Seq.toArray expected

    if a.Length <> e.Length then
        Assert.Fail($"{what}: {a.Length} values, expected {e.Length}")

    let err = relError a e
    report what err tol

    if not (err <= tol) then
        Assert.Fail($"{what}: relative error {err:E3} > {tol:E0}")

/// Fails unless `actual` is within `tol` relative error of `expected` (scalars).
let assertCloseScalar (what: string) (tol: float) (actual: float) (expected: float) =
    assertClose what tol [ actual ] [ expected ]

/// FsCheck's settings for `n` cases of a property whose comparisons depend on rounding. CI replays
/// a fixed seed, so a run is reproducible; `TIDHY_PROPERTY_SEED=random` explores new cases and
/// `TIDHY_PROPERTY_SEED=seed,gamma[,size]` replays the case a failure printed.
let propertyRuns (n: int) =
    let config = FsCheck.Config.QuickThrowOnFailure.WithMaxTest n

    let replay (seed: string) (gamma: string) (size: int option) =
        config.WithReplay(
            Some
                {
                    Rnd = FsCheck.Rnd(uint64 seed, uint64 gamma)
                    Size = size
                }
        )

    match Environment.GetEnvironmentVariable "TIDHY_PROPERTY_SEED" with
    | null
    | "" -> replay "20261201" "7" None
    | "random" -> config
    | s ->
        match s.Split ',' with
        | [| seed; gamma |] -> replay seed gamma None
        | [| seed; gamma; size |] -> replay seed gamma (Some(int size))
        | _ -> failwith $"TIDHY_PROPERTY_SEED: expected random, seed,gamma or seed,gamma,size; got {s}"

/// A `[rows; cols]` matrix of N(0, sd²) draws from `seed`.
let randomMatrix (seed: int) (sd: float) (rows: int) (cols: int) =
    let z = Random.normal (Random.key seed) (rows * cols)
    Array2D.init rows cols (fun i j -> sd * z[i * cols + j])

/// A small configuration for tests (sizes as in the fixtures).
let smallConfig =
    { Config.defaults 6 with
        RDim = 4
        R2Dim = 3
        MixDim = 5
        HyperHidDim = 8
        R2DecoderHidDim = 7
        MaxIter = 30
        Tol = 1e-3
    }

/// A fresh temporary folder for one test.
let tempDir () =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-data-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d
