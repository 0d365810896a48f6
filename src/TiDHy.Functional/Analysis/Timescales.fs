namespace TiDHy.Functional

open System
open System.Numerics
open MathNet.Numerics.LinearAlgebra
open AnalysisChecks

/// A mode of linear dynamics `x_{t+1} = A·x_t`: a real eigenvalue of `A`, or one of a
/// complex-conjugate pair (the one with positive imaginary part).
type DynamicsMode =
    {
        /// The eigenvalue `λ`.
        Eigenvalue: Complex
        /// `τ = −dt / log|λ|`: the time over which the mode decays by a factor e (+∞ when `|λ| = 1`,
        /// negative when the mode grows, 0 when `λ = 0`).
        Timescale: float
        /// `|arg λ| / (2π·dt)`: cycles per unit of time.
        Frequency: float
    }

/// The modes of the true dynamics of one state of one system of an SLDS data set.
type SldsModes =
    {
        /// The system.
        System: int
        /// The discrete state.
        State: int
        /// The modes of that state's dynamics matrix `A_k`.
        Modes: DynamicsMode[]
    }

/// One true timescale and the recovered one matched to it.
type TimescaleMatch =
    {
        /// Index of the true timescale.
        TrueIndex: int
        /// Index of the recovered timescale matched to it.
        RecoveredIndex: int
        /// The true timescale.
        True: float
        /// The recovered timescale.
        Recovered: float
        /// `|Recovered − True| / True`.
        RelativeError: float
        /// Whether `RelativeError ≤` the tolerance.
        Within: bool
    }

/// A one-to-one matching of true to recovered timescales that minimises the summed relative error.
type TimescaleMatching =
    {
        /// One pair per matched true timescale, in the order of the true ones.
        Pairs: TimescaleMatch[]
        /// How many pairs are within the tolerance.
        WithinCount: int
        /// The relative tolerance.
        Tolerance: float
    }

/// How well the dynamics over time `V_t` recover one mode of one true state, over the steps on
/// which that state is active.
type StateTimescaleRecovery =
    {
        /// The system.
        System: int
        /// Its discrete state.
        State: int
        /// Index of the mode among that state's modes.
        Mode: int
        /// The true timescale.
        True: float
        /// The median of the recovered timescales matched to it (NaN when it was never matched).
        MedianRecovered: float
        /// The share of the steps on which the matched timescale is within the tolerance.
        WithinShare: float
        /// The steps on which the state was active (and `V_t` is not zero).
        Steps: int
    }

/// Timescales of linear dynamics: the modes of a model's dynamics matrices `V_k`, of the dynamics
/// over time `V_t` and of the true dynamics of an SLDS data set, and how well the recovered
/// timescales match the true ones (tests/scripts/make_analysis_expected.py for the modes).
[<RequireQualifiedAccess>]
module Timescales =

    // ---------------------------------------------------------------- timescales

    let private mode (dt: float) (l: Complex) =
        {
            Eigenvalue = l
            Timescale = -dt / log l.Magnitude
            Frequency = abs l.Phase / (2.0 * Math.PI * dt)
        }

    /// The modes of `x_{t+1} = A·x_t` for `a [n; n]` with time step `dt`: one per real eigenvalue
    /// and per complex-conjugate pair, sorted by timescale, longest first (then by imaginary part,
    /// then real part, largest first): `[≤ n]`.
    let modes (dt: float) (a: float[,]) =
        checkNotNull (nameof a) a
        let n = Array2D.length1 a

        if n < 1 || Array2D.length2 a <> n then
            fail (nameof a) $"expected a non-empty square matrix, got [{n}; {Array2D.length2 a}]."

        if not (dt > 0.0 && Double.IsFinite dt) then
            fail (nameof dt) $"expected a positive time step, got {dt}."

        if a |> Seq.cast<float> |> Seq.exists (Double.IsFinite >> not) then
            fail (nameof a) "expected finite values."

        let evd = Matrix<float>.Build.DenseOfArray(a).Evd()

        evd.EigenValues.ToArray()
        |> Array.filter (fun l -> l.Imaginary >= 0.0)
        |> Array.map (mode dt)
        |> Array.sortWith (fun x y ->
            compare
                (-x.Timescale, -x.Eigenvalue.Imaginary, -x.Eigenvalue.Real)
                (-y.Timescale, -y.Eigenvalue.Imaginary, -y.Eigenvalue.Real))

    /// The modes of each of a model's dynamics matrices `V_k` (time step `dt`): `[M]` arrays of
    /// `modes`.
    let componentModes (dt: float) (p: Params) =
        Model.dynamicsMatrices p |> Array.map (modes dt)

    let private isZero (ut: float[,,,]) (b: int) (t: int) =
        let r = Array4D.length3 ut
        let mutable zero = true

        for i in 0 .. r - 1 do
            for j in 0 .. Array4D.length4 ut - 1 do
                if ut[b, t, i, j] <> 0.0 then
                    zero <- false

        zero

    /// The modes of the dynamics used at each step, `V_t` (the record's `Ut [windows; T; R; R]`),
    /// with time step `dt`: `[windows·T]` arrays of `modes`, window-major; a step whose `V_t` is
    /// zero (the first of a window, which has no prediction) gives the modes of the zero matrix.
    let modesOverTime (dt: float) (ut: float[,,,]) =
        checkNotNull (nameof ut) ut
        let t = Array4D.length2 ut
        let r = Array4D.length3 ut

        Array.init (Array4D.length1 ut * t) (fun i -> modes dt (Array2D.init r r (fun a b -> ut[i / t, i % t, a, b])))

    /// The true modes of an SLDS data set's systems (time step `dt`): one entry per (system,
    /// state), system-major, `[Systems·States]`.
    let sldsModes (dt: float) (systems: SldsSystem[]) =
        checkNotNull (nameof systems) systems

        [|
            for i in 0 .. systems.Length - 1 do
                for s in 0 .. systems[i].Dynamics.Length - 1 do
                    {
                        System = i
                        State = s
                        Modes = modes dt systems[i].Dynamics[s]
                    }
        |]

    /// Raises `ArgumentException` unless `tolerance` is finite and `>= 0`.
    let private checkTolerance (tolerance: float) =
        if not (Double.IsFinite tolerance && tolerance >= 0.0) then
            fail (nameof tolerance) $"expected a finite relative tolerance >= 0, got {tolerance}."

    /// The cost of matching `recovered` to `truth`: the relative error, or 1e6 when the recovered
    /// timescale is not finite and positive (capped at 1e6 so that the assignment stays finite).
    let private matchCost (truth: float) (recovered: float) =
        if Double.IsFinite recovered && recovered > 0.0 then
            min 1e6 (abs (recovered - truth) / truth)
        else
            1e6

    /// Matches each true timescale `truth [n]` (finite, positive) to a different recovered one
    /// `recovered [m]` so that the summed relative error `|recovered − true| / true` is least
    /// (Hungarian algorithm); all true ones are matched when `n ≤ m`. A pair is within tolerance when
    /// its relative error is at most `tolerance`. Infinite or non-positive recovered timescales
    /// (what `modes` gives a unit-modulus or unstable mode) are never within tolerance. Raises
    /// `ArgumentException` for a NaN recovered timescale, a true one that is not finite and
    /// positive, and a tolerance that is not finite and `>= 0`.
    let matchTimescales (tolerance: float) (recovered: float[]) (truth: float[]) =
        checkNotNull (nameof recovered) recovered
        checkNotNull (nameof truth) truth
        checkNotEmpty (nameof recovered) recovered.Length
        checkNotEmpty (nameof truth) truth.Length
        checkTolerance tolerance

        match truth |> Array.tryFindIndex (fun v -> not (Double.IsFinite v && v > 0.0)) with
        | Some i -> fail (nameof truth) $"expected finite, positive timescales, got {truth[i]} at index {i}."
        | None -> ()

        match recovered |> Array.tryFindIndex Double.IsNaN with
        | Some i ->
            fail
                (nameof recovered)
                $"got NaN at index {i}; a timescale is a number (infinite or negative for a unit-modulus or unstable mode, as modes gives them)."
        | None -> ()

        let cost =
            Array2D.init truth.Length recovered.Length (fun i j -> matchCost truth[i] recovered[j])

        let a = Clustering.linearSumAssignment cost

        let pairs =
            Array.map2
                (fun i j ->
                    let err =
                        if Double.IsFinite recovered[j] && recovered[j] > 0.0 then
                            abs (recovered[j] - truth[i]) / truth[i]
                        else
                            infinity

                    {
                        TrueIndex = i
                        RecoveredIndex = j
                        True = truth[i]
                        Recovered = recovered[j]
                        RelativeError = err
                        Within = err <= tolerance
                    })
                a.Rows
                a.Columns

        {
            Pairs = pairs
            WithinCount = pairs |> Array.filter _.Within |> Array.length
            Tolerance = tolerance
        }

    let private median (xs: float[]) =
        if xs.Length = 0 then
            nan
        else
            let s = Array.sort xs
            let h = s.Length / 2
            if s.Length % 2 = 1 then s[h] else (s[h - 1] + s[h]) / 2.0

    /// How well the dynamics over time recover the true timescales of an SLDS data set. At each
    /// step of `ut [windows; T; R; R]` (window-major, with `states [≥ windows·T; systems]` the true
    /// discrete states of the same steps), the modes of `V_t` are matched (`matchTimescales`) to the
    /// true modes of the states active at that step (one set per system); steps whose `V_t` is zero
    /// are skipped. One result per (system, state, mode) of `systems`, system-major. Raises
    /// `ArgumentException` for a tolerance that is not finite and `>= 0`, even when no step is matched.
    let stateTimescaleRecovery
        (tolerance: float)
        (dt: float)
        (ut: float[,,,])
        (states: int[,])
        (systems: SldsSystem[])
        =
        checkNotNull (nameof ut) ut
        checkNotNull (nameof states) states
        checkNotNull (nameof systems) systems
        checkTolerance tolerance
        let t = Array4D.length2 ut
        let steps = Array4D.length1 ut * t

        if Array2D.length1 states < steps || Array2D.length2 states <> systems.Length then
            fail
                (nameof states)
                $"expected at least [{steps}; {systems.Length}] (the record's steps; the systems), got [{Array2D.length1 states}; {Array2D.length2 states}]."

        let truth = sldsModes dt systems

        let entry i s =
            truth |> Array.findIndex (fun m -> m.System = i && m.State = s)

        for i in 0 .. systems.Length - 1 do
            for step in 0 .. steps - 1 do
                let s = states[step, i]

                if s < 0 || s >= systems[i].Dynamics.Length then
                    fail
                        (nameof states)
                        $"expected states of system {i} in [0, {systems[i].Dynamics.Length - 1}], got {s}."

        let matched =
            truth
            |> Array.map (fun m -> m.Modes |> Array.map (fun _ -> ResizeArray<float>()))

        let within = truth |> Array.map (fun m -> Array.zeroCreate<int> m.Modes.Length)
        let active = Array.zeroCreate<int> truth.Length

        let r = Array4D.length3 ut

        for step in 0 .. steps - 1 do
            let b = step / t
            let tt = step % t

            if not (isZero ut b tt) then
                let recovered =
                    modes dt (Array2D.init r r (fun x y -> ut[b, tt, x, y]))
                    |> Array.map _.Timescale

                let owners =
                    [|
                        for i in 0 .. systems.Length - 1 do
                            let e = entry i states[step, i]

                            for m in 0 .. truth[e].Modes.Length - 1 do
                                e, m
                    |]

                let trueTau = owners |> Array.map (fun (e, m) -> truth[e].Modes[m].Timescale)

                for i in 0 .. systems.Length - 1 do
                    let e = entry i states[step, i]
                    active[e] <- active[e] + 1

                if trueTau |> Array.forall (fun v -> Double.IsFinite v && v > 0.0) then
                    let res = matchTimescales tolerance recovered trueTau

                    for p in res.Pairs do
                        let e, m = owners[p.TrueIndex]
                        matched[e].[m].Add(p.Recovered)

                        if p.Within then
                            within[e].[m] <- within[e].[m] + 1

        [|
            for e in 0 .. truth.Length - 1 do
                for m in 0 .. truth[e].Modes.Length - 1 do
                    {
                        System = truth[e].System
                        State = truth[e].State
                        Mode = m
                        True = truth[e].Modes[m].Timescale
                        MedianRecovered = median (Seq.toArray (matched[e].[m]))
                        WithinShare =
                            if active[e] = 0 then
                                nan
                            else
                                float (within[e].[m]) / float (active[e])
                        Steps = active[e]
                    }
        |]
