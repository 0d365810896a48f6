namespace TiDHy.Functional

open System
open System.IO

// The public surface of this file and its documentation: Data.fsi.
[<RequireQualifiedAccess>]
module Data =

    let npzEntryNames = [ "data"; "X"; "x"; "inputs_train" ]

    let private joined (items: string seq) = String.Join(", ", items)

    let private extension (path: string) =
        if String.IsNullOrWhiteSpace path then
            invalidArg (nameof path) $"path: expected a file path, got '{path}'."

        Path.GetExtension(path).ToLowerInvariant()

    let private unsupported (path: string) (ext: string) : 'a =
        invalidArg
            (nameof path)
            $"path: '{path}' has the extension '{ext}'; supported: .csv (numbers, header optional), .npy and .npz (NumPy, float64 or float32), .h5 and .hdf5 (HDF5, float64 or float32; file.h5:/path/to/dataset)."

    let splitDatasetPath (path: string) : string * string option =
        if isNull path then
            nullArg (nameof path)

        let lower = path.ToLowerInvariant()

        let at =
            [ ".h5:"; ".hdf5:" ]
            |> List.map (fun m -> m, lower.LastIndexOf(m, StringComparison.Ordinal))
            |> List.filter (fun (_, i) -> i > 0)
            |> List.sortByDescending snd
            |> List.tryHead

        match at with
        | Some(m, i) when i + m.Length < path.Length ->
            path.Substring(0, i + m.Length - 1), Some(path.Substring(i + m.Length))
        | _ -> path, None

    /// A series `[time; features]` of an array: rank 2 as is, rank 1 `[n]` as one feature `[n; 1]`.
    let private asSeries (source: string) (a: NpyArray) =
        Npy.checkFinite source a

        match a.Shape.Length with
        | 2 when a.Shape[1] = 0 ->
            DataFile.fail
                source
                $"shape {Shape.show a.Shape}: the data has 0 features (columns); a series [time; features] needs at least one."
        | 2 -> Npy.toMatrix a
        | 1 -> Array2D.init a.Shape[0] 1 (fun i _ -> a.Data[i])
        | _ ->
            DataFile.fail
                source
                $"expected a series [time; features] (rank 2, or rank 1 for one feature), got shape {Shape.show a.Shape}."

    let loadNpzEntry (path: string) (entry: string) =
        let entries = Npy.readNpz path

        match entries |> Array.tryFind (fun (n, _) -> n = entry) with
        | Some(_, a) -> asSeries $"{path}, entry '{entry}'" a
        | None ->
            let names = entries |> Array.map (fun (n, _) -> $"'{n}'")
            DataFile.fail path $"no entry '{entry}'; the archive holds [{joined names}]."

    let load (path: string) : float[,] =
        let file, dataset = splitDatasetPath path

        match extension file with
        | ".h5"
        | ".hdf5" ->
            let name, a =
                match dataset with
                | Some d -> d, Hdf5.read file d
                | None -> Hdf5.readOnly file

            asSeries $"{file}, dataset '{name}'" a
        | ".csv" -> Csv.read path
        | ".npy" -> asSeries path (Npy.read path)
        | ".npz" ->
            let entries = Npy.readNpz path

            match entries with
            | [| name, a |] -> asSeries $"{path}, entry '{name}'" a
            | _ ->
                match
                    npzEntryNames
                    |> List.tryPick (fun n -> entries |> Array.tryFind (fun (e, _) -> e = n))
                with
                | Some(name, a) -> asSeries $"{path}, entry '{name}'" a
                | None ->
                    let names = entries |> Array.map (fun (n, _) -> $"'{n}'")

                    DataFile.fail
                        path
                        $"{entries.Length} entries [{joined names}] and none named {joined npzEntryNames}; choose one with Data.loadNpzEntry."
        | ext -> unsupported path ext

    let loadLabels (path: string) : float[,] =
        let file, _ = splitDatasetPath path

        match extension file with
        | ".csv" -> Csv.readLabels path
        | _ -> load path

    let checkDomain (cfg: Config) (source: string) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        let inside, domain = Inference.dataDomain cfg.Loss

        for t in 0 .. Array2D.length1 series - 1 do
            for j in 0 .. Array2D.length2 series - 1 do
                if not (inside series[t, j]) then
                    DataFile.fail
                        source
                        $"row {t + 1}, column {j + 1}: {series[t, j]} is outside the data of loss_type {cfg.Loss}, {domain}; rescale the data or choose another loss_type."

    let save (path: string) (series: float[,]) =
        if isNull series then
            nullArg (nameof series)

        match extension path with
        | ".csv" -> Csv.write path None series
        | ".npy" -> Npy.writeMatrix path series
        | ".npz" -> Npy.writeNpz path [ "data", Npy.ofMatrix series ]
        | ".h5"
        | ".hdf5" -> Hdf5.write path [ "data", Npy.ofMatrix series ]
        | ext -> unsupported path ext

    let private ofInts (m: int[,]) = Array2D.map float m |> Npy.ofMatrix

    let saveSlds (path: string) (data: SldsData) =
        let split (suffix: string) (s: SldsSplit) =
            [
                "inputs" + (if suffix = "" then "_train" else suffix), Npy.ofMatrix s.Observations
                "states_z" + suffix, ofInts s.States
                "states_x" + suffix, Npy.ofMatrix s.Latents
            ]

        let entries =
            split "" data.Train
            @ split "_val" data.Val
            @ split "_test" data.Test
            @ (data.Projection
               |> Option.map (fun p -> [ "projection", Npy.ofMatrix p ])
               |> Option.defaultValue [])

        Npy.writeNpz path entries
