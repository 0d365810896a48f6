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

    /// Writes `path` atomically: `write` fills a new temporary file beside it, which is flushed and
    /// then renamed over `path`. When `write` (or anything else) fails, the temporary file is removed
    /// and an existing file at `path` is left as it was.
    let writeAtomic (path: string) (write: Stream -> unit) =
        if String.IsNullOrWhiteSpace path then
            invalidArg (nameof path) $"path: expected a file path, got '{path}'."

        let full = Path.GetFullPath path
        let tmp = full + $".tmp-{Guid.NewGuid():N}"

        try
            do
                use f = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite)
                write f
                f.Flush true

            File.Move(tmp, full, true)
        finally
            if File.Exists tmp then
                File.Delete tmp
