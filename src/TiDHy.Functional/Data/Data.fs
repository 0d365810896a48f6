namespace TiDHy.Functional

open System
open System.IO

/// Loading and saving series `[time; features]` by file extension: `.csv`, `.npy`, `.npz` and `.h5`.
[<RequireQualifiedAccess>]
module Data =

    /// The `.npz` entry names `load` looks for, in order, when an archive holds several arrays.
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

    /// Splits `file.h5:/path/to/dataset` (also `.hdf5`, any case) into the file and the dataset;
    /// other paths, and HDF5 files without a dataset, give `None` as the dataset.
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

    /// The series `[time; features]` in entry `entry` of the `.npz` file `path` (rank 2, or rank 1 as
    /// one feature). Raises a `DataFormatException` naming the file and listing its entries when there
    /// is no such entry.
    let loadNpzEntry (path: string) (entry: string) =
        let entries = Npy.readNpz path

        match entries |> Array.tryFind (fun (n, _) -> n = entry) with
        | Some(_, a) -> asSeries $"{path}, entry '{entry}'" a
        | None ->
            let names = entries |> Array.map (fun (n, _) -> $"'{n}'")
            DataFile.fail path $"no entry '{entry}'; the archive holds [{joined names}]."

    /// Loads the series `[time; features]` of `path`, by extension (case-insensitive):
    /// `.csv` — numbers, ',', ';' or tab separated (detected), header optional (see `Csv.read`);
    /// `.npy` — a rank-2 array, or rank 1 read as one feature `[n; 1]`, float64 or float32;
    /// `.npz` — its only array, else the first of the entries named in `npzEntryNames`
    /// (`data`, `X`, `x`, `inputs_train`), else an error listing the entries (use `loadNpzEntry`);
    /// `.h5` / `.hdf5` — `file.h5:/path/to/dataset`, or without a dataset the file's only dataset
    /// or only rank-2 one (see `Hdf5.readOnly`), float64 or float32.
    /// Raises an ArgumentException for another extension, FileNotFoundException for a missing file
    /// and `DataFormatException` (naming the file, entry and position) for malformed contents,
    /// NaN and infinity included in every format (row and column from 1, as in CSV lines).
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

    /// `load` for a file of integer labels (discrete states, one column per system): the same
    /// formats, except that a headerless CSV file whose rows all hold two integers is read as two
    /// columns (`Csv.readLabels`), not refused as one column of decimal commas.
    let loadLabels (path: string) : float[,] =
        let file, _ = splitDatasetPath path

        match extension file with
        | ".csv" -> Csv.readLabels path
        | _ -> load path

    /// Raises a `DataFormatException` naming `source` (the file) and the first row and column (from
    /// 1) of `series` `[time; features]` outside the data domain of `cfg.Loss` (BCE: [0, 1];
    /// Poisson: non-negative; MSE: any). Call it where a series meets a configuration, before
    /// training or evaluating; inference also refuses such data (`Inference.checkDomain`), without
    /// the file.
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

    /// Saves the series `series` `[time; features]` to `path`, by extension, atomically: `.csv`
    /// without a header, `.npy` as float64, `.npz` as float64 in the entry `data`, `.h5` / `.hdf5`
    /// as the float64 dataset `/data`.
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

    /// Saves an SLDS data set to the `.npz` file `path` with upstream's names: `inputs_train`,
    /// `inputs_val`, `inputs_test` (observations `[time; channels]`), `states_z`, `states_z_val`,
    /// `states_z_test` (discrete states `[time; Systems]`, as floats), `states_x`, `states_x_val`,
    /// `states_x_test` (latents `[time; Systems·2]`), and `projection` `[channels; n]` when the
    /// data were projected; float64, atomically. `load` on this file gives `inputs_train`.
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
