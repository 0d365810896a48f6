namespace TiDHy.Functional

open System
open System.Numerics
open MathNet.Numerics.LinearAlgebra
open AnalysisChecks

// The public surface of this file and its documentation: Timescales.fsi.
type DynamicsMode =
    {
        Eigenvalue: Complex
        Timescale: float
        Frequency: float
    }

type SldsModes =
    {
        System: int
        State: int
        Modes: DynamicsMode[]
    }

type TimescaleMatch =
    {
        TrueIndex: int
        RecoveredIndex: int
        True: float
        Recovered: float
        RelativeError: float
        Within: bool
    }

type TimescaleMatching =
    {
        Pairs: TimescaleMatch[]
        WithinCount: int
        Tolerance: float
    }

type StateTimescaleRecovery =
    {
        System: int
        State: int
        Mode: int
        True: float
        MedianRecovered: float
        WithinShare: float
        Steps: int
    }

[<RequireQualifiedAccess>]
module Timescales =

    // ---------------------------------------------------------------- timescales

    let private mode (dt: float) (l: Complex) =
        {
            Eigenvalue = l
            Timescale = -dt / log l.Magnitude
            Frequency = abs l.Phase / (2.0 * Math.PI * dt)
        }

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

    let modesOverTime (dt: float) (ut: float[,,,]) =
        checkNotNull (nameof ut) ut
        let t = Array4D.length2 ut
        let r = Array4D.length3 ut

        Array.init (Array4D.length1 ut * t) (fun i -> modes dt (Array2D.init r r (fun a b -> ut[i / t, i % t, a, b])))

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
