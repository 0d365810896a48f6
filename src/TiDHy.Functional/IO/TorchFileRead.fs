namespace TiDHy.Functional

open System
open System.Collections
open System.Collections.Generic
open System.IO
open System.IO.Compression
open System.Text
open Razorvine.Pickle
open Razorvine.Pickle.Objects

/// Reading PyTorch's `torch.save` files, the work of `TorchFile.readStateDict`: the zip, its pickle
/// (through Razorvine.Pickle, with PyTorch's constructors) and its storages, every size bounded
/// before it is read. Internal but for `TorchDict`, which the unpickler needs public.
[<RequireQualifiedAccess>]
module TorchFileRead =

    /// A storage type of the pickle (`torch.FloatStorage`, …): its name and element size, and
    /// whether it is one this module reads (float32 or float64).
    type internal StorageType(name: string, dtype: string, itemSize: int) =
        member _.Name = name
        member _.Dtype = dtype
        member _.ItemSize = itemSize

        interface IObjectConstructor with
            member _.construct _ =
                raise (PickleException $"torch.{name} called as a function")

    /// A persistent storage reference `('storage', type, key, location, numel)`.
    type internal StorageRef =
        {
            Type: StorageType
            Key: string
            Numel: int64
        }

    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    type internal TensorRef =
        {
            Storage: StorageRef
            Offset: int64
            Size: int64[]
            Stride: int64[]
        }

    /// `collections.OrderedDict` (and every other dictionary of a pickle this module reads): a
    /// dictionary that accepts (and ignores) the `_metadata` state that `state_dict()` pickles, and
    /// notices a key set twice (`torch.load` would keep the last value; this module refuses it).
    /// Public: the unpickler calls `__setstate__` by reflection, which fails on an internal type.
    type TorchDict() =
        inherit Hashtable()
        let duplicates = ResizeArray<obj>()

        /// The keys the pickle set more than once.
        member internal _.Duplicates = duplicates

        override this.Item
            with get (key: obj) = base.[key]
            and set (key: obj) (value: obj) =
                if this.ContainsKey key then
                    duplicates.Add key

                base.[key] <- value

        member _.__setstate__(_state: Hashtable) = ()

    let private storageTypes =
        [
            "FloatStorage", "float32", 4
            "DoubleStorage", "float64", 8
            "HalfStorage", "float16", 2
            "BFloat16Storage", "bfloat16", 2
            "LongStorage", "int64", 8
            "IntStorage", "int32", 4
            "ShortStorage", "int16", 2
            "CharStorage", "int8", 1
            "ByteStorage", "uint8", 1
            "BoolStorage", "bool", 1
            "ComplexFloatStorage", "complex64", 8
            "ComplexDoubleStorage", "complex128", 16
        ]

    let private toInt64 (what: string) (o: obj) =
        match o with
        | :? int as i -> int64 i
        | :? int64 as i -> i
        | :? Numerics.BigInteger as b when
            b >= Numerics.BigInteger Int64.MinValue
            && b <= Numerics.BigInteger Int64.MaxValue
            ->
            int64 b
        | _ -> raise (PickleException $"{what}: expected an integer, got {o}")

    let private int64s (what: string) (o: obj) =
        match o with
        | :? (obj[]) as items -> items |> Array.map (toInt64 what)
        | _ -> raise (PickleException $"{what}: expected a tuple of integers, got {o}")

    type private RebuildTensor() =
        interface IObjectConstructor with
            member _.construct args =
                if args.Length < 6 || args.Length > 7 then
                    raise (PickleException $"_rebuild_tensor_v2 with {args.Length} arguments (6 or 7 expected)")

                match args[0] with
                | :? StorageRef as s ->
                    box
                        {
                            Storage = s
                            Offset = toInt64 "storage offset" args[1]
                            Size = int64s "size" args[2]
                            Stride = int64s "stride" args[3]
                        }
                | o -> raise (PickleException $"_rebuild_tensor_v2 of {o}, not a storage")

    type private RebuildParameter() =
        interface IObjectConstructor with
            member _.construct args =
                match args with
                | [| :? TensorRef as t; _; _ |] -> box t
                | _ -> raise (PickleException "_rebuild_parameter: expected (tensor, requires_grad, hooks)")

    type private NewDict() =
        interface IObjectConstructor with
            member _.construct _ = box (TorchDict())

    /// Razorvine's constructors are process-wide: registered once, before the first unpickling.
    let private registered =
        lazy
            (for name, dtype, size in storageTypes do
                Unpickler.registerConstructor ("torch", name, StorageType(name, dtype, size))

             Unpickler.registerConstructor ("torch._utils", "_rebuild_tensor_v2", RebuildTensor())
             Unpickler.registerConstructor ("torch._utils", "_rebuild_parameter", RebuildParameter())
             Unpickler.registerConstructor ("collections", "OrderedDict", NewDict()))

    /// The pickle `bytes` with each dictionary built as a `TorchDict`, so that a key set twice is
    /// noticed: `EMPTY_DICT` (`}`) becomes `collections.OrderedDict()`, and `MARK … DICT` becomes
    /// `collections.OrderedDict() MARK … SETITEMS`. Opcodes are walked by their argument lengths (the
    /// arguments are copied as they are); a malformed tail is copied unchanged for the unpickler to refuse.
    let private dictsAsTorchDicts (bytes: byte[]) : byte[] =
        let newDict = Encoding.ASCII.GetBytes "ccollections\nOrderedDict\n)R"
        let out = ResizeArray<byte>(bytes.Length + 64)
        let marks = Stack<int>()
        let n = bytes.Length
        let mutable i = 0
        let mutable fin = false

        let lineEnd (from: int) =
            let j = Array.IndexOf(bytes, byte '\n', from)
            if j < 0 then n else j + 1

        let counted (from: int) (width: int) =
            if from + width > n then
                n
            else
                let len =
                    match width with
                    | 1 -> int64 bytes[from]
                    | 4 -> int64 (BitConverter.ToInt32(bytes, from))
                    | _ -> BitConverter.ToInt64(bytes, from)

                if len < 0L || len > int64 (n - from - width) then
                    n
                else
                    from + width + int len

        while not fin && i < n do
            let op = char bytes[i]
            let a = i + 1

            let next =
                match op with
                | 'I'
                | 'L'
                | 'F'
                | 'S'
                | 'V'
                | 'p'
                | 'g'
                | 'P' -> lineEnd a
                | 'c'
                | 'i' -> lineEnd (lineEnd a)
                | 'K'
                | 'q'
                | 'h'
                | '\x80'
                | '\x82' -> a + 1
                | 'M'
                | '\x83' -> a + 2
                | 'J'
                | 'r'
                | 'j'
                | '\x84' -> a + 4
                | 'G'
                | '\x95' -> a + 8
                | 'U'
                | '\x8c'
                | 'C'
                | '\x8a' -> counted a 1
                | 'T'
                | 'X'
                | 'B'
                | '\x8b' -> counted a 4
                | '\x8d'
                | '\x8e'
                | '\x96' -> counted a 8
                | _ -> a

            let next = min next n

            match op with
            | '}' -> out.AddRange newDict
            | '(' ->
                marks.Push out.Count
                out.Add bytes[i]
            | 'd' when marks.Count > 0 ->
                out.InsertRange(marks.Pop(), newDict)
                out.Add(byte 'u')
            | _ ->
                match op with
                | 't'
                | 'l'
                | 'u'
                | 'e'
                | '1'
                | 'o'
                | 'i'
                | '\x90'
                | '\x91' when marks.Count > 0 -> marks.Pop() |> ignore
                | '.' -> fin <- true
                | _ -> ()

                for k in i .. next - 1 do
                    out.Add bytes[k]

            i <- next

        for k in i .. n - 1 do
            out.Add bytes[k]

        out.ToArray()

    type private TorchUnpickler() =
        inherit Unpickler()

        override _.persistentLoad(pid: obj) =
            match pid with
            | :? (obj[]) as t when t.Length = 5 && (t[0] :? string) && string t[0] = "storage" ->
                match t[1] with
                | :? StorageType as st ->
                    box
                        {
                            Type = st
                            Key = string t[2]
                            Numel = toInt64 "storage size" t[4]
                        }
                | :? ClassDictConstructor as c ->
                    let modul = c.``module``
                    raise (PickleException $"unexpected storage type {modul}.{c.name}")
                | o -> raise (PickleException $"unexpected storage type {o}")
            | _ -> raise (PickleException $"unexpected persistent id {pid}")

    let private show (xs: int64[]) = String.Join(", ", xs)

    let private fail (path: string) (reason: string) : 'a = DataFile.fail path reason

    let private describe (v: obj) =
        match v with
        | :? ClassDict as c ->
            let cls = c["__class__"]
            $"an object of {cls}"
        | null -> "None"
        | v -> $"{v} ({v.GetType().Name})"

    /// The tensor references of the state_dict in `root`: its entry `state_dict` or
    /// `model_state_dict` when it has one (a training checkpoint; the rest is ignored), else
    /// `root` itself, which must then map names to tensors.
    let private stateDictOf (path: string) (root: obj) : (string * TensorRef) list =
        let once (what: string) (d: IDictionary) =
            match d with
            | :? TorchDict as t when t.Duplicates.Count > 0 ->
                fail
                    path
                    $"{what}: the key '{t.Duplicates[0]}' is given more than once (torch.load would keep one of the values without a word); each key may appear once"
            | _ -> ()

        let entries (what: string) (d: IDictionary) =
            once what d

            [
                for k in d.Keys do
                    match k, d[k] with
                    | (:? string as name), (:? TensorRef as t) -> name, t
                    | _, v ->
                        fail
                            path
                            $"{what}: the entry '{k}' is {describe v}, not a float tensor (a state_dict maps names to tensors; a checkpoint holds one in 'state_dict' or 'model_state_dict')"
            ]

        match root with
        | :? IDictionary as d ->
            once "the pickled dictionary" d

            match [ "state_dict"; "model_state_dict" ] |> List.tryFind (fun k -> d.Contains k) with
            | Some k ->
                match d[k] with
                | :? IDictionary as sd -> entries $"the entry '{k}'" sd
                | v -> fail path $"the entry '{k}' is {describe v}, not a dictionary of tensors"
            | None -> entries "state_dict" d
        | o -> fail path $"the pickle holds {describe o}, not a dictionary of tensors"

    /// `TorchFile.readStateDict` (its documentation lists what is refused).
    let internal readStateDict (path: string) : Map<string, NamedTensor> =
        let bytes =
            try
                File.ReadAllBytes path
            with
            | :? FileNotFoundException
            | :? DirectoryNotFoundException -> reraise ()
            | ex -> fail path $"cannot be read: {ex.Message}"

        if bytes.Length < 4 || bytes[0] <> 0x50uy || bytes[1] <> 0x4Buy then
            fail
                path
                "not a PyTorch zip file (torch.save since PyTorch 1.6); files of the legacy format are converted by torch.load and torch.save in Python"

        use zip =
            try
                new ZipArchive(new MemoryStream(bytes, false), ZipArchiveMode.Read)
            with :? InvalidDataException as ex ->
                fail path $"not a valid zip archive (truncated?): {ex.Message}"

        let pkl =
            zip.Entries
            |> Seq.tryFind (fun e ->
                e.FullName = "data.pkl"
                || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))

        let pkl =
            match pkl with
            | Some e -> e
            | None -> fail path "no data.pkl in the archive; not a torch.save file"

        let prefix = pkl.FullName.Substring(0, pkl.FullName.Length - "data.pkl".Length)

        // What the entries may take in memory, all together (a zip bomb never fills memory): the
        // storages the tensors need, and the tensors as float64.
        let budget = Memory.dataBudgetBytes ()
        let mutable used = 0L

        let spend (what: string) (bytes: int64) =
            let total =
                try
                    Checked.(+) used bytes
                with :? OverflowException ->
                    Int64.MaxValue

            if total > budget || bytes > int64 Array.MaxLength then
                fail
                    path
                    $"{what} need {bytes} bytes ({Memory.gibText bytes}), {total} in all with what is read before; more than the {budget} bytes ({Memory.gibText budget}) this reader accepts (half the available memory, and the largest array)"

            used <- total

        /// Exactly the `length` bytes of the entry `e`, never more: an entry that decompresses to
        /// fewer or more bytes than that is an error naming it.
        let read (e: ZipArchiveEntry) (length: int64) =
            try
                use s = e.Open()
                let buffer = Array.zeroCreate<byte>(int length)
                let got = DataFile.readFully s buffer

                if got < buffer.Length then
                    fail path $"the entry '{e.FullName}' holds {got} bytes, {length} expected (truncated or corrupted?)"

                if s.ReadByte() >= 0 then
                    fail
                        path
                        $"the entry '{e.FullName}' decompresses to more than the {length} bytes expected (a zip bomb or a corrupted file)"

                buffer
            with :? InvalidDataException as ex ->
                fail path $"the entry '{e.FullName}' cannot be read (truncated or corrupted?): {ex.Message}"

        // A state_dict's pickle holds names, sizes and strides: far less than this.
        let maxPickleBytes = min budget (256L * 1024L * 1024L)

        if pkl.Length > maxPickleBytes then
            fail
                path
                $"the entry '{pkl.FullName}' declares {pkl.Length} bytes, more than the {maxPickleBytes} a state_dict's pickle may take here"

        let root =
            try
                registered.Force()
                use u = new TorchUnpickler()
                u.loads (dictsAsTorchDicts (read pkl pkl.Length))
            with
            | :? PickleException as ex -> fail path $"{pkl.FullName}: {ex.Message}"
            | DataFormatException _
            | :? OutOfMemoryException -> reraise ()
            | ex -> fail path $"{pkl.FullName}: malformed pickle: {ex.Message}"

        let storages = Dictionary<string, byte[]>()

        let storage (tensor: string) (s: StorageRef) =
            match storages.TryGetValue s.Key with
            | true, b -> b
            | _ ->
                let name = $"{prefix}data/{s.Key}"
                let item = int64 s.Type.ItemSize

                let need =
                    try
                        if s.Numel < 0L then -1L else Checked.(*) s.Numel item
                    with :? OverflowException ->
                        -1L

                if need < 0L then
                    fail path $"tensor '{tensor}': the storage '{s.Key}' declares {s.Numel} elements"

                match zip.GetEntry name with
                | null -> fail path $"the storage '{name}' is missing"
                | e when e.Length < need ->
                    fail
                        path
                        $"tensor '{tensor}': the storage '{s.Key}' holds {e.Length} bytes, {s.Numel} x {item} expected"
                | e when e.Length > need ->
                    fail
                        path
                        $"tensor '{tensor}': the storage entry '{name}' declares {e.Length} bytes, more than the {need} its {s.Numel} elements of {s.Type.Dtype} take (a zip bomb or a corrupted file)"
                | e ->
                    spend $"tensor '{tensor}': the storage '{s.Key}' ({s.Numel} x {item} bytes)" need
                    let b = read e need
                    storages[s.Key] <- b
                    b

        stateDictOf path root
        |> List.map (fun (name, t) ->
            let bad reason = fail path $"tensor '{name}': {reason}"

            if t.Storage.Type.Dtype <> "float32" && t.Storage.Type.Dtype <> "float64" then
                bad $"dtype {t.Storage.Type.Dtype} (torch.{t.Storage.Type.Name}); only float32 and float64 are read"

            if t.Size.Length <> t.Stride.Length then
                bad $"{t.Size.Length} sizes and {t.Stride.Length} strides"

            if t.Size |> Array.exists (fun d -> d < 0L || d > int64 Int32.MaxValue) then
                bad $"size ({show t.Size}) out of range"

            let count =
                try
                    t.Size |> Array.fold (fun a d -> Checked.(*) a d) 1L
                with :? OverflowException ->
                    bad $"size ({show t.Size}) too large"

            if count > 0L && (t.Offset < 0L || Array.exists (fun s -> s < 0L) t.Stride) then
                bad $"offset {t.Offset} and stride ({show t.Stride}) must not be negative"

            if count > int64 Array.MaxLength then
                bad $"{count} elements are more than an array holds"

            let bytes = storage name t.Storage
            let item = t.Storage.Type.ItemSize
            let available = int64 bytes.Length / int64 item

            // The last element the strides reach must lie in the storage (in checked arithmetic: a
            // sum that overflows reaches beyond any storage).
            let reach =
                if count = 0L then
                    0L
                else
                    try
                        Array.fold2 (fun a d s -> Checked.(+) a (Checked.(*) (d - 1L) s)) t.Offset t.Size t.Stride
                    with :? OverflowException ->
                        Int64.MaxValue

            if count > 0L && reach >= available then
                bad
                    $"offset {t.Offset}, size ({show t.Size}) and stride ({show t.Stride}) reach beyond the storage of {available} elements"

            spend $"tensor '{name}' ({count} float64 values)" (count * 8L)

            let n = int count
            let rank = t.Size.Length
            let data = Array.zeroCreate<float> n
            let index = Array.zeroCreate<int64> rank

            for k in 0 .. n - 1 do
                let mutable at = t.Offset

                for j in 0 .. rank - 1 do
                    at <- at + index[j] * t.Stride[j]

                let b = int (at * int64 item)

                data[k] <-
                    if item = 8 then
                        BitConverter.ToDouble(bytes, b)
                    else
                        float (BitConverter.ToSingle(bytes, b))

                // Row-major increment of the index.
                let mutable j = rank - 1
                let mutable carry = true

                while carry && j >= 0 do
                    index[j] <- index[j] + 1L

                    if index[j] < t.Size[j] then
                        carry <- false
                    else
                        index[j] <- 0L
                        j <- j - 1

            name,
            {
                Shape = t.Size |> Array.map int
                Data = data
            })
        |> Map.ofList
