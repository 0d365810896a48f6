// Moving data to and from Python: read a series from CSV or NumPy .npy/.npz, window it, evaluate a
// model, and write the results as .npz (numpy.load reads them). Build the library first
// (`dotnet build src/TiDHy.Functional -c Release`). `dotnet fsi examples/data_files.fsx`.
#r "../src/TiDHy.Functional/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/TiDHy.Functional/bin/Release/net10.0/Sep.dll"
#r "../src/TiDHy.Functional/bin/Release/net10.0/TiDHy.Functional.dll"

open System.IO
open TiDHy.Functional

let dir = Path.Combine(Path.GetTempPath(), "tidhy-data-example")
Directory.CreateDirectory dir |> ignore

// A series [time; features], saved three ways: CSV with a header, .npy (float32) and .npz.
let series =
    Array2D.init 300 3 (fun t d -> sin (0.1 * float t * float (d + 1)) + 0.1 * float d)

let csv = Path.Combine(dir, "series.csv")
Csv.write csv (Some [| "x"; "y"; "z" |]) series
let npy = Path.Combine(dir, "series.npy")
Npy.writeAs NpyDtype.Float32 npy (Npy.ofMatrix series)
let npz = Path.Combine(dir, "series.npz")
Npy.writeNpz npz (Seq.singleton ("data", Npy.ofMatrix series))

// `Data.load` picks the reader by extension; all three give the same series (float32 rounds).
let fromCsv = Data.load csv
let fromNpy = Data.load npy
let fromNpz = Data.load npz

printfn
    "csv = npz: %b; npy (float32) max error %.2g"
    (fromCsv = fromNpz)
    (Seq.max (Seq.map2 (fun a b -> abs (a - b)) (Seq.cast<float> fromNpy) (Seq.cast<float> series)))

// Windows of 50 steps starting 25 apart (upstream's stack_data), a z-scored copy, and a model.
let norm = Series.fitZScore fromCsv
let windows = Series.windowsStrided 50 25 (Series.normalise norm fromCsv)

let cfg =
    { Config.defaults 3 with
        MaxIter = 50
        RDim = 4
        R2Dim = 2
        MixDim = 4
        HyperHidDim = 16
    }

let p = Init.init cfg (Random.key 3)
let record = Evaluate.evaluateRecord cfg p None windows

// The latents and mixture weights as .npz, named as upstream's evaluation record.
let out = Path.Combine(dir, "record.npz")

Npy.writeNpz
    out
    [
        "R_hat", Npy.ofArray3 record.RHat
        "R2_hat", Npy.ofArray3 record.R2Hat
        "W", Npy.ofArray3 record.W
    ]

for name, a in Npy.readNpz out do
    printfn "%s %A" name a.Shape

// In Python: d = numpy.load(".../record.npz"); d["W"].shape == (11, 50, 4)
// Errors name the file and position:
File.WriteAllText(Path.Combine(dir, "bad.csv"), "1,2,3\n4,oops,6\n")

try
    Data.load (Path.Combine(dir, "bad.csv")) |> ignore
with DataFormatException msg ->
    printfn "as expected: %s" msg
