/// `Timescales` against SciPy's `eigvals` (analysis-expected.json, from
/// tests/scripts/make_analysis_expected.py) and the SLDS generator: modes, matching, recovery.
module TiDHy.Functional.Tests.Analysis.TimescalesTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

let modeCases () = caseNames "modes"

[<Theory>]
[<MemberData(nameof modeCases)>]
let ``modes agree with SciPy's eigvals`` (name: string) =
    let c = case "modes" name

    let m =
        Timescales.modes (c.GetProperty("dt").GetDouble()) (matrix (c.GetProperty "matrix"))

    let re = floats (c.GetProperty "real")
    Assert.Equal(re.Length, m.Length)
    // Two eigensolvers (MathNet's and LAPACK's): agreement to rounding, relative to the largest.
    assertClose $"modes {name}: real parts" 1e-10 (m |> Array.map _.Eigenvalue.Real) re

    assertClose
        $"modes {name}: imaginary parts"
        1e-10
        (m |> Array.map _.Eigenvalue.Imaginary)
        (floats (c.GetProperty "imag"))

    let tau = floats (c.GetProperty "timescales")

    for i in 0 .. m.Length - 1 do
        assertClose $"modes {name}: timescale {i}" 1e-9 [ m[i].Timescale ] [ tau[i] ]

    assertClose $"modes {name}: frequencies" 1e-10 (m |> Array.map _.Frequency) (floats (c.GetProperty "frequencies"))

[<Fact>]
let ``matchTimescales pairs each true timescale with the nearest free recovered one`` () =
    let m =
        Timescales.matchTimescales 0.1 [| 10.5; 3.0; 100.0; infinity |] [| 4.0; 10.0 |]

    Assert.Equal<int[]>([| 1; 0 |], m.Pairs |> Array.map _.RecoveredIndex)
    Assert.Equal<int[]>([| 0; 1 |], m.Pairs |> Array.map _.TrueIndex)
    Assert.Equal(0.25, m.Pairs[0].RelativeError)
    Assert.False m.Pairs[0].Within
    Assert.Equal(0.05, m.Pairs[1].RelativeError, 15)
    Assert.True m.Pairs[1].Within
    Assert.Equal(1, m.WithinCount)
    // A non-finite recovered timescale is never within tolerance.
    let only = Timescales.matchTimescales 10.0 [| -5.0 |] [| 4.0 |]
    Assert.Equal(0, only.WithinCount)

let private sldsSmall () =
    Slds.generate
        { Slds.defaults with
            TrainLength = 300
            ValLength = 300
            TestLength = 300
            MinStateFraction = 0.0
            Projection = None
        }
        (Random.key 4)

[<Fact>]
let ``sldsModes: the generator's poles exp(τ) ± 2πi·f`` () =
    let data = sldsSmall ()
    let o = data.Options
    let modes = Timescales.sldsModes 1.0 data.Systems
    Assert.Equal(6, modes.Length)

    for m in modes do
        let p = m.System * o.States + m.State
        let a = exp o.Timescales[p]
        let omega = 2.0 * Math.PI * o.Frequencies[p]
        Assert.Equal(1, m.Modes.Length)
        assertClose "SLDS eigenvalue" 1e-12 [ m.Modes[0].Eigenvalue.Real; m.Modes[0].Eigenvalue.Imaginary ] [ a; omega ]
        assertClose "SLDS timescale" 1e-12 [ m.Modes[0].Timescale ] [ -1.0 / log (sqrt (a * a + omega * omega)) ]

[<Fact>]
let ``stateTimescaleRecovery finds the active systems' timescales in V_t, and only those`` () =
    let data = sldsSmall ()
    let states = data.Test.States
    let windows, t, r = 3, 100, 8
    // V_t: the active states' dynamics block-diagonally, plus two fast modes (0.1, −0.2), in a
    // fixed random basis; zero at the first step of each window.
    let z = Random.normal (Random.key 6) (r * r)

    let build (a: float[,]) =
        MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfArray a

    let basis =
        build (Array2D.init r r (fun i j -> z[i * r + j] + (if i = j then 3.0 else 0.0)))

    let ut (scale: float) =
        let u = Array4D.zeroCreate windows t r r

        for w in 0 .. windows - 1 do
            for s in 1 .. t - 1 do
                let step = w * t + s
                let d = Array2D.zeroCreate r r

                for i in 0..2 do
                    let a = data.Systems[i].Dynamics[states[step, i]]

                    for x in 0..1 do
                        for y in 0..1 do
                            d[2 * i + x, 2 * i + y] <- scale * a[x, y]

                d[6, 6] <- 0.1
                d[7, 7] <- -0.2
                let b = basis * build d * basis.Inverse()

                for x in 0 .. r - 1 do
                    for y in 0 .. r - 1 do
                        u[w, s, x, y] <- b[x, y]

        u

    let exact = Timescales.stateTimescaleRecovery 0.01 1.0 (ut 1.0) states data.Systems
    Assert.Equal(6, exact.Length)

    for e in exact do
        Assert.True(e.Steps > 0, $"system {e.System} state {e.State} never active")
        Assert.Equal(1.0, e.WithinShare)
        assertClose "recovered timescale" 1e-8 [ e.MedianRecovered ] [ e.True ]

    Assert.Equal(3 * 99 * 3, exact |> Array.sumBy _.Steps)
    // Dynamics 0.7 times as large: every timescale is off by more than 1%.
    let off = Timescales.stateTimescaleRecovery 0.01 1.0 (ut 0.7) states data.Systems

    for e in off do
        Assert.Equal(0.0, e.WithinShare)

[<Fact>]
let ``modesOverTime: the zero V_t of a window's first step has timescale 0`` () =
    let ut = Array4D.init 1 2 2 2 (fun _ t i j -> if t = 1 && i = j then 0.5 else 0.0)
    let m = Timescales.modesOverTime 1.0 ut
    let slowest = m |> Array.map (fun modes -> modes[0].Timescale)
    assertClose "timescales of 0 and 0.5" 1e-15 slowest [ 0.0; 1.0 / log 2.0 ]

[<Fact>]
let ``matchTimescales refuses a NaN recovered timescale and a tolerance that is not finite and non-negative`` () =
    for tol in [ nan; -0.1; infinity; -infinity ] do
        throwsNaming "tolerance" (fun () -> box (Timescales.matchTimescales tol [| 1.0 |] [| 1.0 |]))

    for truth in [ nan; infinity; 0.0; -2.0 ] do
        throwsNaming "truth" (fun () -> box (Timescales.matchTimescales 0.1 [| 1.0 |] [| 4.0; truth |]))

    throwsNaming "recovered" (fun () -> box (Timescales.matchTimescales 0.1 [| 4.0; nan |] [| 4.0 |]))
    // What `modes` reports for a unit-modulus (infinite) or unstable (negative) mode stays accepted,
    // never within tolerance.
    let m = Timescales.matchTimescales 0.1 [| -infinity; -3.0 |] [| 4.0 |]
    Assert.Equal(0, m.WithinCount)

[<Fact>]
let ``stateTimescaleRecovery refuses a bad tolerance even when no step is matched`` () =
    let data = sldsSmall ()
    // Every V_t zero: nothing is matched, the tolerance is still checked.
    let ut = Array4D.zeroCreate 1 3 2 2

    for tol in [ nan; -1.0; infinity ] do
        throwsNaming "tolerance" (fun () ->
            box (
                Timescales.stateTimescaleRecovery tol 1.0 ut data.Train.States data.Systems
                |> ignore
            ))
