namespace TiDHy.Functional

open System
open System.IO

/// A data file (`.npy`, `.npz`, `.csv`) that cannot be read: malformed, truncated, of an unsupported
/// dtype or shape, or holding values that are not allowed. The message names the file, and the
/// entry, line and column where they apply.
exception DataFormatException of string with
    override e.Message = e.Data0

/// What the library's file writers share (data files, state dicts, checkpoints, reports): atomic writing.
[<RequireQualifiedAccess>]
module DataFile =

    /// Raises a `DataFormatException` with message `"{source}: {reason}"`.
    let internal fail (source: string) (reason: string) : 'a =
        raise (DataFormatException $"{source}: {reason}")

    /// Reads from `s` into `buffer` until it is full or the stream ends; returns the bytes read.
    let internal readFully (s: Stream) (buffer: byte[]) : int =
        let mutable got = 0
        let mutable more = true

        while more && got < buffer.Length do
            let k = s.Read(buffer, got, buffer.Length - got)
            got <- got + k
            more <- k > 0

        got

    /// What `writeAtomic` puts between a file's name and 32 hexadecimal digits to name its temporary
    /// file: `model.json.tmp-0123…`.
    [<Literal>]
    let TempMarker = ".tmp-"

    /// Whether `name` is the name of a temporary file of `writeAtomic` (`TempMarker` and 32 hex digits).
    let isTemporary (name: string) =
        let i = name.LastIndexOf(TempMarker, StringComparison.Ordinal)

        i > 0
        && name.Length - (i + TempMarker.Length) = 32
        && name.Substring(i + TempMarker.Length) |> Seq.forall Uri.IsHexDigit

    /// Removes the temporary files of `writeAtomic` in `dir` (not in its subfolders), as a killed
    /// writer leaves them; returns how many. Call it only while no other process writes in `dir`
    /// (the `tidhy` commands hold the folder's lock).
    let removeTemporaries (dir: string) : int =
        if Directory.Exists dir then
            Directory.EnumerateFiles dir
            |> Seq.filter (Path.GetFileName >> isTemporary)
            |> Seq.toArray
            |> Array.sumBy (fun f ->
                try
                    File.Delete f
                    1
                with :? IOException ->
                    0)
        else
            0

    /// Writes `path` atomically: `write` fills a new temporary file beside it (`path` + `TempMarker`
    /// + 32 hex digits), which is flushed and
    /// then renamed over `path`. When `write` (or anything else) fails, the temporary file is removed
    /// and an existing file at `path` is left as it was.
    let writeAtomic (path: string) (write: Stream -> unit) =
        if String.IsNullOrWhiteSpace path then
            invalidArg (nameof path) $"path: expected a file path, got '{path}'."

        let full = Path.GetFullPath path
        let tmp = full + TempMarker + Guid.NewGuid().ToString "N"

        try
            do
                use f = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite)
                write f
                f.Flush true

            File.Move(tmp, full, true)
        finally
            if File.Exists tmp then
                File.Delete tmp
