namespace TiDHy.Functional

open System
open System.IO
open PureHDF

/// HDF5 files (through PureHDF): float32 and float64 datasets read as float64, datasets written as
/// float64, in groups named by `/` paths, as upstream's `io_dict_to_hdf5` and h5py make them. A
/// dataset's declared size is checked before it is read: against the file's size (contiguous data
/// must lie in the file, chunked data within deflate's 1032-fold expansion of it) and against
/// `Memory.dataBudgetBytes`. Whatever PureHDF cannot read (truncated files, big-endian data, filters
/// such as lzf) is a `DataFormatException` naming the file and dataset.
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

    /// `f ()`, with what PureHDF raises on a file it cannot read (a truncated or corrupted file, a
    /// filter it lacks such as lzf or szip, big-endian data) turned into one line naming `source`.
    let private guarded (source: string) (f: unit -> 'a) : 'a =
        try
            f ()
        with
        | DataFormatException _
        | :? OutOfMemoryException
        | :? FileNotFoundException -> reraise ()
        | ex when ex.Message.Contains("Byte order", StringComparison.OrdinalIgnoreCase) ->
            fail
                source
                "big-endian data, which this reader does not convert; store the dataset little-endian (h5py: dtype '<f8' or '<f4')"
        | ex ->
            fail
                source
                $"cannot be read (truncated or corrupted, or compressed with a filter this reader lacks, such as lzf or szip; gzip/deflate and shuffle are read): {ex.Message}"

    /// The most that compression explains: deflate expands at most 1032-fold (its longest matches),
    /// so chunked data declaring more than this many times the file's size was never written (its
    /// chunks would read as fill values) or belongs to a truncated file.
    [<Literal>]
    let private maxCompression = 1032L

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

        let size =
            match d.Type.Class, d.Type.Size with
            | H5DataTypeClass.FloatingPoint, (8 | 4 as size) -> size
            | cls, size -> fail source $"type {cls} of {size} bytes; only float32 and float64 datasets are read"

        // The declared size, in checked arithmetic, against what the file can hold and the memory
        // allows, before anything is read.
        let count = Shape.elementCount shape

        if count > int64 Array.MaxLength then
            fail source $"dimensions ({join dims}) hold {count} values, more than a .NET array holds"

        let raw = count * int64 size
        let fileLength = FileInfo(path).Length

        match d.Layout.Class with
        | H5DataLayoutClass.Contiguous
        | H5DataLayoutClass.Compact when raw > fileLength ->
            fail
                source
                $"dimensions ({join dims}) of {size}-byte values declare {raw} bytes of data, more than the whole file's {fileLength} bytes: the file is truncated or the dataset was never written"
        | H5DataLayoutClass.Chunked when raw > fileLength * maxCompression ->
            fail
                source
                $"dimensions ({join dims}) of {size}-byte values declare {raw} bytes of chunked data, more than {maxCompression} times the file's {fileLength} bytes (more than compression explains): the file is truncated or the dataset was never written"
        | _ -> ()

        // What reading takes: the values as read, then as float64.
        let need = count * 8L + (if size = 4 then count * 4L else 0L)
        let budget = Memory.dataBudgetBytes ()

        if need > budget then
            fail
                source
                $"dimensions ({join dims}) need {need} bytes ({Memory.gibText need}) to read, more than the {budget} bytes ({Memory.gibText budget}) this reader accepts (half the available memory)"

        let data =
            guarded source (fun () ->
                if size = 8 then
                    d.Read<float[]>()
                else
                    d.Read<float32[]>() |> Array.map float)

        if int64 data.Length <> count then
            fail source $"{data.Length} values for the dimensions ({join dims})"

        { Shape = shape; Data = data }

    /// The names (`/group/name`) of the datasets in the HDF5 file `path`.
    let datasetNames (path: string) : string list =
        use f = openRead path
        guarded path (fun () -> datasets "" f |> List.map fst)

    /// Reads the dataset `name` (`/group/name` or `group/name`) of the HDF5 file `path` (float32 or
    /// float64, converted to float64; row-major). Raises `DataFormatException` naming the file and
    /// the dataset, listing the datasets when there is none of that name.
    let read (path: string) (name: string) : NpyArray =
        use f = openRead path
        let all = guarded path (fun () -> datasets "" f)
        let wanted = if name.StartsWith "/" then name else "/" + name

        match all |> List.tryFind (fun (n, _) -> n = wanted) with
        | Some(n, d) -> guarded $"{path}, dataset '{n}'" (fun () -> readArray path n d)
        | None ->
            let names = all |> List.map (fun (n, _) -> $"'{n}'")
            fail path $"no dataset '{wanted}'; the file holds [{join names}]"

    /// Reads the only dataset of `path` when it holds one, else its only rank-2 dataset, else an
    /// error listing the datasets (name one with `read`); returns its name and array.
    let readOnly (path: string) : string * NpyArray =
        use f = openRead path
        let all = guarded path (fun () -> datasets "" f)

        let pick =
            guarded path (fun () ->
                match all with
                | [ one ] -> Some one
                | _ ->
                    match all |> List.filter (fun (_, d) -> d.Space.Dimensions.Length = 2) with
                    | [ one ] -> Some one
                    | _ -> None)

        match pick with
        | Some(n, d) -> n, guarded $"{path}, dataset '{n}'" (fun () -> readArray path n d)
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
