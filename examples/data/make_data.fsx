// Writes series.csv and states.csv beside this script: the "own data" of docs/OWN-DATA.md, a
// recording a user might have. Three sensor channels in their own units (around 300, spread about
// 40) driven by a hidden 2-D oscillator that switches between a slow regime (state 0: a 25-step
// decay, a 60-step period) and a fast one (state 1: a 5-step decay, a 12-step period), staying in
// each for about 150 steps. `states.csv` holds the regime of each step. The files are committed;
// `dotnet fsi examples/data/make_data.fsx` rewrites them identically.
open System
open System.IO

let steps = 6000
let rng = Random(20261206)

let gaussian () =
    let u1 = 1.0 - rng.NextDouble()
    let u2 = rng.NextDouble()
    sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2)

// A damped rotation: eigenvalues exp(-1/tau ± 2πi/period).
let dynamics tau period =
    let a = exp (-1.0 / tau)
    let w = 2.0 * Math.PI / period
    array2D [ [ a * cos w; -a * sin w ]; [ a * sin w; a * cos w ] ]

let regimes = [| dynamics 25.0 60.0; dynamics 5.0 12.0 |]
let projection = array2D [ [ 1.0; 0.3 ]; [ -0.5; 0.9 ]; [ 0.7; -0.6 ] ]
let mutable state = 0
let mutable x = [| 1.0; 0.0 |]
let series = Array2D.zeroCreate steps 3
let states = Array.zeroCreate steps

for t in 0 .. steps - 1 do
    if rng.NextDouble() < 1.0 / 150.0 then
        state <- 1 - state

    let a = regimes[state]
    let drive = if state = 0 then 0.25 else 0.6

    x <-
        [|
            a[0, 0] * x[0] + a[0, 1] * x[1] + drive * gaussian ()
            a[1, 0] * x[0] + a[1, 1] * x[1] + drive * gaussian ()
        |]

    states[t] <- state

    for d in 0..2 do
        let clean = projection[d, 0] * x[0] + projection[d, 1] * x[1]
        series[t, d] <- 300.0 + 40.0 * (clean + 0.05 * gaussian ())

let dir = __SOURCE_DIRECTORY__
let inv = Globalization.CultureInfo.InvariantCulture

File.WriteAllLines(
    Path.Combine(dir, "series.csv"),
    Seq.append
        [ "pressure,flow,temperature" ]
        (Seq.init steps (fun t -> String.Join(",", [| for d in 0..2 -> series[t, d].ToString("F4", inv) |])))
)

File.WriteAllLines(Path.Combine(dir, "states.csv"), Seq.append [ "regime" ] (states |> Seq.map string))

printfn
    "wrote %d steps of 3 channels and their regimes (%.0f%% in state 1)"
    steps
    (100.0 * (states |> Array.averageBy float))
