namespace TiDHy.Functional

open System
open System.IO
open PureHDF

/// HDF5 files (through PureHDF): float32 and float64 datasets read as float64, datasets written as
/// float64, in groups named by `/` paths, as upstream's `io_dict_to_hdf5` and h5py make them.
[<RequireQualifiedAccess>]
module Hdf5 =

    let private join (xs: 'a seq) = String.Join(", ", xs)

    let private fail (path: string) (reason: string) : 'a = DataFile.fail path reason

    let private openRead (path: string) =
        if not (File.Exists path) then
            raise (FileNotFoundException($"{path}: no such file.", path))

        try
            H5File.OpenRead path
        with ex ->
            fail path $"not a readable HDF5 file: {ex.Message}"

    /// The paths (`/group/name`) of every dataset in the file's group `g`, depth first.
    let rec private datasets (prefix: string) (g: IH5Group) : (string * IH5Dataset) list =
        [
            for child in g.Children() do
                match child with
                | :? IH5Dataset as d -> yield prefix + "/" + child.Name, d
                | :? IH5Group as sub -> yield! datasets (prefix + "/" + child.Name) sub
                | _ -> ()
        ]

    let private readArray (path: string) (name: string) (d: IH5Dataset) : NpyArray =
        let source = $"{path}, dataset '{name}'"
        let dims = d.Space.Dimensions

        if dims.Length = 0 then
            fail source "a scalar dataset; expected an array"

        if dims |> Array.exists (fun n -> n > uint64 Int32.MaxValue) then
            fail source $"dimensions ({join dims}) too large"

        let shape = dims |> Array.map int

        let data =
            match d.Type.Class, d.Type.Size with
            | H5DataTypeClass.FloatingPoint, 8 -> d.Read<float[]>()
            | H5DataTypeClass.FloatingPoint, 4 -> d.Read<float32[]>() |> Array.map float
            | cls, size -> fail source $"type {cls} of {size} bytes; only float32 and float64 datasets are read"

        let count = shape |> Array.fold (fun a n -> a * int64 n) 1L

        if int64 data.Length <> count then
            fail source $"{data.Length} values for the dimensions ({join dims})"

        { Shape = shape; Data = data }

    /// The names (`/group/name`) of the datasets in the HDF5 file `path`.
    let datasetNames (path: string) : string list =
        use f = openRead path
        datasets "" f |> List.map fst

    /// Reads the dataset `name` (`/group/name` or `group/name`) of the HDF5 file `path` (float32 or
    /// float64, converted to float64; row-major). Raises `DataFormatException` naming the file and
    /// the dataset, listing the datasets when there is none of that name.
    let read (path: string) (name: string) : NpyArray =
        use f = openRead path
        let all = datasets "" f
        let wanted = if name.StartsWith "/" then name else "/" + name

        match all |> List.tryFind (fun (n, _) -> n = wanted) with
        | Some(n, d) -> readArray path n d
        | None ->
            let names = all |> List.map (fun (n, _) -> $"'{n}'")
            fail path $"no dataset '{wanted}'; the file holds [{join names}]"

    /// Reads the only dataset of `path` when it holds one, else its only rank-2 dataset, else an
    /// error listing the datasets (name one with `read`); returns its name and array.
    let readOnly (path: string) : string * NpyArray =
        use f = openRead path
        let all = datasets "" f

        let pick =
            match all with
            | [ one ] -> Some one
            | _ ->
                match all |> List.filter (fun (_, d) -> d.Space.Dimensions.Length = 2) with
                | [ one ] -> Some one
                | _ -> None

        match pick with
        | Some(n, d) -> n, readArray path n d
        | None ->
            let names = all |> List.map (fun (n, _) -> $"'{n}'")

            fail
                path
                $"{all.Length} datasets [{join names}] and not exactly one of rank 2; name one as {path}:/path/to/dataset"

    /// Writes `entries` (names such as `I` or `group/sub/name`, and arrays) to the HDF5 file `path` as
    /// float64 datasets, groups created as named, atomically. Raises `DataFormatException` naming the
    /// file and entry for a shape that does not match its data or a name given twice.
    let write (path: string) (entries: (string * NpyArray) list) =
        let root = H5File()

        for name, a in entries do
            let count = a.Shape |> Array.fold (fun acc n -> acc * int64 n) 1L

            if a.Shape |> Array.exists (fun n -> n < 0) || count <> int64 a.Data.Length then
                fail path $"entry '{name}': {a.Data.Length} values for shape {Shape.show a.Shape}"

            let parts = name.Trim('/').Split('/')

            if parts |> Array.exists String.IsNullOrEmpty then
                fail path $"entry '{name}': not a name of the form group/name"

            let mutable g: H5Group = root

            for p in parts[.. parts.Length - 2] do
                match g.TryGetValue p with
                | true, (:? H5Group as sub) -> g <- sub
                | true, _ -> fail path $"entry '{name}': '{p}' is a dataset, not a group"
                | _ ->
                    let sub = H5Group()
                    g[p] <- sub
                    g <- sub

            let leaf = parts[parts.Length - 1]

            if g.ContainsKey leaf then
                fail path $"entry '{name}' is given twice"

            g[leaf] <- H5Dataset(a.Data, fileDims = (a.Shape |> Array.map uint64))

        DataFile.writeAtomic path (fun stream -> root.Write stream)
