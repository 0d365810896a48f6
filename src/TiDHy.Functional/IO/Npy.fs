namespace TiDHy.Functional

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression
open System.Text
open System.Text.RegularExpressions

// The public surface of this file and its documentation: Npy.fsi.
[<RequireQualifiedAccess>]
type NpyDtype =
    | Float64
    | Float32

type NpyArray = NamedTensor

[<RequireQualifiedAccess>]
module Npy =

    let private magic = [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y' |]

    [<Literal>]
    let maxRank = 4

    let private shapeText (shape: int seq) =
        match Seq.toList shape with
        | [ n ] -> $"({n},)"
        | dims -> "(" + String.Join(", ", dims) + ")"

    let check (name: string) (a: NpyArray) =
        if isNull (box a) || isNull a.Shape || isNull a.Data then
            nullArg name

        if a.Shape.Length < 1 || a.Shape.Length > maxRank then
            invalidArg
                name
                $"{name}: expected rank 1 to {maxRank}, got shape {shapeText a.Shape} (rank {a.Shape.Length})."

        if Array.exists (fun n -> n < 0) a.Shape then
            invalidArg name $"{name}: negative dimension in shape {shapeText a.Shape}."

        if Shape.elementCount a.Shape <> int64 a.Data.Length then
            invalidArg
                name
                $"{name}: shape {shapeText a.Shape} holds {Shape.elementCount a.Shape} entries but Data has {a.Data.Length}."

    let create (shape: int[]) (data: float[]) =
        let a =
            {
                Shape = Array.copy shape
                Data = data
            }

        check "array" a
        a

    let ofVector (v: float[]) =
        if isNull v then
            nullArg (nameof v)

        {
            Shape = [| v.Length |]
            Data = Array.copy v
        }

    let ofMatrix (m: float[,]) =
        if isNull m then
            nullArg (nameof m)

        let r = Array2D.length1 m
        let c = Array2D.length2 m

        {
            Shape = [| r; c |]
            Data = Array.init (r * c) (fun k -> m[k / c, k % c])
        }

    let ofArray3 (a: float[,,]) =
        if isNull a then
            nullArg (nameof a)

        let n0, n1, n2 = Array3D.length1 a, Array3D.length2 a, Array3D.length3 a

        {
            Shape = [| n0; n1; n2 |]
            Data = Array.init (n0 * n1 * n2) (fun k -> a[k / (n1 * n2), (k / n2) % n1, k % n2])
        }

    let private checkRank (name: string) (rank: int) (a: NpyArray) =
        check name a

        if a.Shape.Length <> rank then
            invalidArg name $"{name}: expected a rank-{rank} array, got shape {shapeText a.Shape}."

    let toVector (a: NpyArray) =
        checkRank (nameof a) 1 a
        Array.copy a.Data

    let toMatrix (a: NpyArray) =
        checkRank (nameof a) 2 a
        let c = a.Shape[1]
        Array2D.init a.Shape[0] c (fun i j -> a.Data[i * c + j])

    let toArray3 (a: NpyArray) =
        checkRank (nameof a) 3 a
        let n1, n2 = a.Shape[1], a.Shape[2]
        Array3D.init a.Shape[0] n1 n2 (fun i j k -> a.Data[(i * n1 + j) * n2 + k])

    let private descr =
        function
        | NpyDtype.Float64 -> "<f8"
        | NpyDtype.Float32 -> "<f4"

    /// The header of `numpy.save`: the dict, spare spaces for the first axis to grow to 21 digits,
    /// then spaces and a newline up to a multiple of 64 bytes; version 1.0 unless that needs a
    /// header over 65535 bytes, then 2.0.
    let private header (dtype: NpyDtype) (shape: int[]) =
        let dict =
            $"{{'descr': '{descr dtype}', 'fortran_order': False, 'shape': {shapeText shape}, }}"
            + String(' ', 21 - string(shape[0]).Length)

        let wrap (lengthBytes: int) =
            let hlen = dict.Length + 1
            let padlen = 64 - ((magic.Length + 2 + lengthBytes + hlen) % 64)
            let text = Encoding.ASCII.GetBytes(dict + String(' ', padlen) + "\n")
            let total = hlen + padlen
            let prefix = Array.zeroCreate (magic.Length + 2 + lengthBytes)
            Array.blit magic 0 prefix 0 magic.Length

            if lengthBytes = 2 then
                prefix[6] <- 1uy
                BinaryPrimitives.WriteUInt16LittleEndian(prefix.AsSpan 8, uint16 total)
            else
                prefix[6] <- 2uy
                BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan 8, uint32 total)

            Array.append prefix text, total

        match wrap 2 with
        | bytes, total when total <= 65535 -> bytes
        | _ -> fst (wrap 4)

    let toBytes (dtype: NpyDtype) (a: NpyArray) =
        check (nameof a) a
        let head = header dtype a.Shape

        match dtype with
        | NpyDtype.Float64 ->
            let out = Array.zeroCreate (head.Length + 8 * a.Data.Length)
            Array.blit head 0 out 0 head.Length

            for k in 0 .. a.Data.Length - 1 do
                BinaryPrimitives.WriteDoubleLittleEndian(out.AsSpan(head.Length + 8 * k), a.Data[k])

            out
        | NpyDtype.Float32 ->
            let out = Array.zeroCreate (head.Length + 4 * a.Data.Length)
            Array.blit head 0 out 0 head.Length

            for k in 0 .. a.Data.Length - 1 do
                let v = a.Data[k]
                let s = float32 v

                if Double.IsFinite v && not (Single.IsFinite s) then
                    invalidArg (nameof a) $"a: entry {k} (C order) = {v} overflows float32; write it as Float64."

                BinaryPrimitives.WriteSingleLittleEndian(out.AsSpan(head.Length + 4 * k), s)

            out

    let private dictEntry (key: string) (value: string) =
        Regex($@"['""]{key}['""]\s*:\s*{value}", RegexOptions.CultureInvariant)

    let private descrPattern = dictEntry "descr" @"(?:'([^']*)'|""([^""]*)""|(\S[^,]*))"
    let private fortranPattern = dictEntry "fortran_order" @"(\w+)"
    let private shapePattern = dictEntry "shape" @"\(([^)]*)\)"

    let internal parseWithDtype (source: string) (bytes: byte[]) =
        let fail reason = DataFile.fail source reason

        if
            bytes.Length < magic.Length
            || not (bytes.AsSpan(0, magic.Length).SequenceEqual(ReadOnlySpan magic))
        then
            let shown = bytes |> Array.truncate magic.Length |> Array.map (fun b -> $"{b:x2}")

            fail
                $"not a .npy file: bad magic string (expected the bytes 93 4e 55 4d 50 59, \"\\x93NUMPY\"; found {String.Join(' ', shown)})."

        if bytes.Length < 8 then
            fail $"truncated: {bytes.Length} bytes, too short for the .npy format version."

        let major, minor = int bytes[6], int bytes[7]

        let lengthBytes =
            match major, minor with
            | 1, 0 -> 2
            | 2, 0
            | 3, 0 -> 4
            | _ -> fail $"unsupported .npy format version {major}.{minor}; supported: 1.0, 2.0, 3.0."

        let headerStart = 8 + lengthBytes

        if bytes.Length < headerStart then
            fail $"truncated: {bytes.Length} bytes, too short for the header length of format {major}.{minor}."

        let headerLength =
            if lengthBytes = 2 then
                int64 (BinaryPrimitives.ReadUInt16LittleEndian(ReadOnlySpan(bytes, 8, 2)))
            else
                int64 (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(bytes, 8, 4)))

        if int64 headerStart + headerLength > int64 bytes.Length then
            fail
                $"truncated: the header claims {headerLength} bytes but only {bytes.Length - headerStart} follow the preamble."

        let text =
            let encoding = if major = 3 then Encoding.UTF8 else Encoding.Latin1
            encoding.GetString(bytes, headerStart, int headerLength).Trim()

        if not (text.StartsWith '{' && text.EndsWith '}') then
            fail $"malformed header: expected a Python dict literal, got \"{text}\"."

        let descrMatch = descrPattern.Match text

        if not descrMatch.Success then
            fail $"malformed header: no 'descr' in \"{text}\"."

        let descrText =
            [ 1..3 ]
            |> List.pick (fun g ->
                if descrMatch.Groups[g].Success then
                    Some descrMatch.Groups[g].Value
                else
                    None)

        let dtype =
            match descrText with
            | "<f8" -> NpyDtype.Float64
            | "<f4" -> NpyDtype.Float32
            | other ->
                fail
                    $"unsupported dtype {other}; supported: '<f8' (little-endian float64) and '<f4' (little-endian float32)."

        let fortran = fortranPattern.Match text

        match (if fortran.Success then fortran.Groups[1].Value else "") with
        | "False" -> ()
        | "True" -> fail "fortran_order: True is not supported; save the array in C order (numpy.ascontiguousarray)."
        | _ -> fail $"malformed header: no 'fortran_order': True/False in \"{text}\"."

        let shapeMatch = shapePattern.Match text

        if not shapeMatch.Success then
            fail $"malformed header: no 'shape' tuple in \"{text}\"."

        let shape =
            shapeMatch.Groups[1].Value.Split(',')
            |> Array.map (fun s -> s.Trim().TrimEnd('L'))
            |> Array.filter (fun s -> s <> "")
            |> Array.map (fun s ->
                match
                    Int32.TryParse(s, Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture)
                with
                | true, n -> n
                | _ ->
                    fail
                        $"malformed header: shape ({shapeMatch.Groups[1].Value}) has a dimension '{s}' that is not a non-negative int32.")

        if shape.Length < 1 || shape.Length > maxRank then
            fail $"unsupported rank {shape.Length} (shape {shapeText shape}); supported: rank 1 to {maxRank}."

        let count = Shape.elementCount shape

        if count > int64 Array.MaxLength then
            fail $"shape {shapeText shape} has {count} entries, more than a .NET array holds."

        let itemSize = if dtype = NpyDtype.Float64 then 8 else 4
        let dataStart = headerStart + int headerLength
        let expected = count * int64 itemSize
        let actual = int64 (bytes.Length - dataStart)

        if actual < expected then
            fail
                $"truncated: shape {shapeText shape} of {descrText} needs {expected} bytes of data, the file has {actual}."

        if actual > expected then
            fail
                $"{actual - expected} unexpected bytes after the data: shape {shapeText shape} of {descrText} needs {expected} bytes, the file has {actual}."

        let n = int count

        let data =
            match dtype with
            | NpyDtype.Float64 ->
                Array.init n (fun k ->
                    BinaryPrimitives.ReadDoubleLittleEndian(ReadOnlySpan(bytes, dataStart + 8 * k, 8)))
            | NpyDtype.Float32 ->
                Array.init n (fun k ->
                    float (BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(bytes, dataStart + 4 * k, 4))))

        { Shape = shape; Data = data }, dtype

    let checkFinite (source: string) (a: NpyArray) =
        match Array.tryFindIndex (fun v -> not (Double.IsFinite v)) a.Data with
        | None -> ()
        | Some k ->
            let at =
                match a.Shape with
                | [| _ |] -> $"row {k + 1}"
                | [| _; c |] -> $"row {k / c + 1}, column {k % c + 1}"
                | dims ->
                    let idx = Array.zeroCreate dims.Length
                    let mutable rest = k

                    for d in dims.Length - 1 .. -1 .. 0 do
                        idx[d] <- rest % dims[d]
                        rest <- rest / dims[d]

                    "entry [" + String.Join(", ", idx) + "] (from 0)"

            DataFile.fail
                source
                $"{at}: {a.Data[k]}; the data must be finite (NaN and infinity are refused: fill or drop the missing values first)."

    let parse (source: string) (bytes: byte[]) = fst (parseWithDtype source bytes)

    let read (path: string) = parse path (File.ReadAllBytes path)

    let writeAs (dtype: NpyDtype) (path: string) (a: NpyArray) =
        let bytes = toBytes dtype a
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

    let write (path: string) (a: NpyArray) = writeAs NpyDtype.Float64 path a

    let private expectRank (source: string) (rank: int) (a: NpyArray) =
        if a.Shape.Length <> rank then
            DataFile.fail source $"expected a rank-{rank} array, got shape {shapeText a.Shape}."

    let readMatrix (path: string) =
        let a = read path
        expectRank path 2 a
        toMatrix a

    let writeMatrix (path: string) (m: float[,]) = write path (ofMatrix m)

    let readArray3 (path: string) =
        let a = read path
        expectRank path 3 a
        toArray3 a

    let writeArray3 (path: string) (a: float[,,]) = write path (ofArray3 a)

    /// The most uncompressed bytes `parseNpz` accepts for the entries of one archive: the largest
    /// byte array, and at most half the memory available to the process.
    let private maxEntryBytes () =
        min (int64 Array.MaxLength) (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2L)

    let parseNpz (source: string) (bytes: byte[]) =
        let archive =
            try
                new ZipArchive(new MemoryStream(bytes, false), ZipArchiveMode.Read)
            with :? InvalidDataException as ex ->
                DataFile.fail source $"not a valid .npz (zip) archive: {ex.Message}"

        use archive = archive
        let mutable declared = 0L

        let entries =
            archive.Entries
            |> Seq.filter (fun e -> not (e.FullName.EndsWith '/'))
            |> Seq.map (fun e ->
                let name =
                    if e.FullName.EndsWith(".npy", StringComparison.Ordinal) then
                        e.FullName.Substring(0, e.FullName.Length - 4)
                    else
                        e.FullName

                let entrySource = $"{source}, entry '{e.FullName}'"

                // A zip bomb declares (or decompresses to) more than memory holds: the declared size
                // is capped, and no more than it is ever read.
                if e.Length > maxEntryBytes () then
                    DataFile.fail
                        entrySource
                        $"the entry declares {e.Length} uncompressed bytes, more than the {maxEntryBytes ()} this reader accepts (the largest array or the available memory)."

                declared <- declared + e.Length

                if declared > maxEntryBytes () then
                    DataFile.fail
                        entrySource
                        $"the entries declare {declared} uncompressed bytes in all, more than the {maxEntryBytes ()} this reader accepts (the largest array or the available memory)."

                let content =
                    try
                        use s = e.Open()
                        let buffer = Array.zeroCreate<byte>(int e.Length)
                        let n = DataFile.readFully s buffer

                        if n < buffer.Length then
                            DataFile.fail
                                entrySource
                                $"corrupted entry: {n} bytes, but the archive declares {e.Length}."

                        if s.ReadByte() >= 0 then
                            DataFile.fail
                                entrySource
                                $"corrupted entry: more bytes than the {e.Length} the archive declares."

                        buffer
                    with :? InvalidDataException as ex ->
                        DataFile.fail entrySource $"corrupted entry: {ex.Message}"

                name, parse entrySource content)
            |> Seq.toArray

        match entries |> Array.countBy fst |> Array.tryFind (fun (_, c) -> c > 1) with
        | Some(name, _) -> DataFile.fail source $"the archive holds more than one entry named '{name}'."
        | None -> entries

    let readNpz (path: string) = parseNpz path (File.ReadAllBytes path)

    let private checkEntryNames (entries: (string * NpyArray)[]) =
        for name, a in entries do
            if String.IsNullOrEmpty name || name.Contains '/' || name.Contains '\\' then
                invalidArg (nameof entries) $"entries: '{name}' is not a valid entry name (non-empty, no slashes)."

            check $"entries['{name}']" a

        match entries |> Array.countBy fst |> Array.tryFind (fun (_, c) -> c > 1) with
        | Some(name, _) -> invalidArg (nameof entries) $"entries: the name '{name}' appears more than once."
        | None -> ()

    let npzBytes (dtype: NpyDtype) (compress: bool) (entries: (string * NpyArray) seq) =
        let entries = Seq.toArray entries
        checkEntryNames entries
        use m = new MemoryStream()

        do
            use zip = new ZipArchive(m, ZipArchiveMode.Create, true)

            for name, a in entries do
                let level =
                    if compress then
                        CompressionLevel.Optimal
                    else
                        CompressionLevel.NoCompression

                let e = zip.CreateEntry(name + ".npy", level)
                use s = e.Open()
                let bytes = toBytes dtype a
                s.Write(bytes, 0, bytes.Length)

        m.ToArray()

    let writeNpzAs (dtype: NpyDtype) (compress: bool) (path: string) (entries: (string * NpyArray) seq) =
        let bytes = npzBytes dtype compress entries
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

    let writeNpz (path: string) (entries: (string * NpyArray) seq) =
        writeNpzAs NpyDtype.Float64 false path entries
