namespace TiDHy.Functional

open System
open System.Globalization
open System.IO
open System.Text

/// Whether the first line of a CSV file is a header.
[<RequireQualifiedAccess>]
type CsvHeader =
    /// A header when none of its cells is a number, data when all are; a mix is an error.
    | Auto
    /// The first line is a header.
    | Present
    /// The first line is data.
    | Absent

/// How CSV files are read and written.
type CsvOptions =
    {
        /// The cell separator: ',', ';' or '\t'.
        Separator: char
        /// Whether the first line is a header.
        Header: CsvHeader
        /// Accept (and write) NaN and ±infinity; when false they are an error naming the position.
        AllowNonFinite: bool
    }

/// The contents of a numeric CSV file.
type CsvTable =
    {
        /// The column names, when the file has a header.
        Header: string[] option
        /// The numbers, `[rows; cols]`.
        Values: float[,]
    }

/// Numeric CSV files (invariant culture: '.' decimal point). Reading: cells may be quoted (RFC 4180,
/// within one line), spaces around cells are ignored, blank lines and lines starting with '#' (as
/// `numpy.savetxt` writes its header) are skipped; ragged rows, empty cells, text that is not a
/// number, and (unless allowed) NaN or infinity are `DataFormatException`s naming the file, line and
/// column (1-based). Writing uses the shortest round-trip form of each number, '\n' line ends,
/// and is atomic.
[<RequireQualifiedAccess>]
module Csv =

    /// ',' separated, header detected, non-finite values rejected.
    let defaultOptions =
        {
            Separator = ','
            Header = CsvHeader.Auto
            AllowNonFinite = false
        }

    let private checkSeparator (options: CsvOptions) =
        match options.Separator with
        | ','
        | ';'
        | '\t' -> ()
        | c -> invalidArg (nameof options) $"options: Separator must be ',', ';' or '\\t', got '{c}'."

    /// Splits a line into trimmed cells; `None` when a quoted cell is not closed.
    let private splitCells (sep: char) (line: string) =
        let cells = ResizeArray()
        let cell = StringBuilder()
        let mutable quoted = false
        let mutable wasQuoted = false
        let mutable i = 0

        let finish () =
            let text = cell.ToString()
            cells.Add(if wasQuoted then text else text.Trim())
            cell.Clear() |> ignore
            wasQuoted <- false

        while i < line.Length do
            let c = line[i]

            if quoted then
                if c = '"' then
                    if i + 1 < line.Length && line[i + 1] = '"' then
                        cell.Append '"' |> ignore
                        i <- i + 1
                    else
                        quoted <- false
                else
                    cell.Append c |> ignore
            elif c = '"' && cell.ToString().Trim() = "" then
                cell.Clear() |> ignore
                quoted <- true
                wasQuoted <- true
            elif c = sep then
                finish ()
            elif not (wasQuoted && Char.IsWhiteSpace c) then
                cell.Append c |> ignore

            i <- i + 1

        if quoted then
            None
        else
            finish ()
            Some(cells.ToArray())

    /// A cell as a number: invariant-culture floats, and also Python's `nan`, `inf`, `-inf`.
    let private tryNumber (text: string) =
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> Some v
        | _ ->
            match text.ToLowerInvariant() with
            | "nan"
            | "+nan"
            | "-nan" -> Some nan
            | "inf"
            | "+inf"
            | "infinity"
            | "+infinity" -> Some infinity
            | "-inf"
            | "-infinity" -> Some -infinity
            | _ -> None

    /// Parses CSV `text`; `source` names it (a file path) in errors. Returns the header (when there
    /// is one) and the values `[rows; cols]`; a header without data lines gives `[0; cols]`. Raises a
    /// `DataFormatException` for no lines at all, an unclosed quote, a row whose cell count differs
    /// from the first line's, an empty cell, a cell that is not a number, a non-finite number when
    /// `AllowNonFinite` is false, and (with `CsvHeader.Auto`) a first line mixing numbers and text.
    let parse (options: CsvOptions) (source: string) (text: string) =
        checkSeparator options

        if isNull text then
            nullArg (nameof text)

        let fail (line: int) (reason: string) : 'a =
            DataFile.fail source $"line {line}: {reason}"

        let lines =
            text.Split('\n')
            |> Array.mapi (fun i l -> i + 1, l.TrimEnd('\r'))
            |> Array.filter (fun (_, l) ->
                let t = l.Trim()
                t <> "" && not (t.StartsWith '#'))
            |> Array.map (fun (n, l) ->
                match splitCells options.Separator l with
                | Some cells -> n, cells
                | None -> fail n "a quoted cell is not closed (quoted cells must end on the same line).")

        if lines.Length = 0 then
            DataFile.fail source "no data: the file has no lines with cells."

        let firstLine, firstCells = lines[0]

        let hasHeader =
            match options.Header with
            | CsvHeader.Present -> true
            | CsvHeader.Absent -> false
            | CsvHeader.Auto ->
                let numeric = firstCells |> Array.map (fun c -> c <> "" && (tryNumber c).IsSome)

                if Array.forall id numeric then
                    false
                elif Array.forall not numeric then
                    true
                else
                    let col = Array.findIndex not numeric + 1

                    fail
                        firstLine
                        $"column {col}: '{firstCells[col - 1]}' is not a number, but other cells of this first line are; set CsvOptions.Header to Present (a header) or Absent (data) explicitly."

        let cols = firstCells.Length
        let dataLines = if hasHeader then lines[1..] else lines

        let values = Array2D.zeroCreate dataLines.Length cols

        dataLines
        |> Array.iteri (fun r (n, cells) ->
            if cells.Length <> cols then
                fail
                    n
                    $"{cells.Length} cells, expected {cols} (as on line {firstLine}); rows must all have the same number of cells."

            cells
            |> Array.iteri (fun c cell ->
                if cell = "" then
                    fail n $"column {c + 1}: empty cell; every cell must hold a number."

                match tryNumber cell with
                | None -> fail n $"column {c + 1}: '{cell}' is not a number."
                | Some v when not (Double.IsFinite v) && not options.AllowNonFinite ->
                    fail
                        n
                        $"column {c + 1}: '{cell}' is not finite; NaN and infinity are rejected unless CsvOptions.AllowNonFinite is set."
                | Some v -> values[r, c] <- v))

        {
            Header = if hasHeader then Some firstCells else None
            Values = values
        }

    /// Reads the CSV file `path` with `options` (see `parse`).
    let readWith (options: CsvOptions) (path: string) =
        parse options path (File.ReadAllText path)

    /// Reads the numbers `[rows; cols]` of the CSV file `path` with `defaultOptions` (',' separated,
    /// header detected and skipped, only finite numbers).
    let read (path: string) = (readWith defaultOptions path).Values

    let private quote (sep: char) (cell: string) =
        let needs =
            cell = ""
            || cell.IndexOfAny([| sep; '"'; '\n'; '\r' |]) >= 0
            || cell.Trim() <> cell
            || cell.StartsWith '#'

        if needs then
            "\"" + cell.Replace("\"", "\"\"") + "\""
        else
            cell

    /// The CSV text of `values` `[rows; cols]` with an optional `header` `[cols]`: one line per row,
    /// numbers in shortest round-trip form ("R", invariant), header cells quoted where needed.
    /// Raises an ArgumentException for a header of the wrong length, no columns, no rows and no
    /// header, or (unless `AllowNonFinite`) a non-finite value, naming its row and column (0-based).
    let format (options: CsvOptions) (header: string[] option) (values: float[,]) =
        checkSeparator options

        if isNull values then
            nullArg (nameof values)

        let rows = Array2D.length1 values
        let cols = Array2D.length2 values

        if cols < 1 then
            invalidArg (nameof values) $"values: expected at least one column, got {Shape.show [ rows; cols ]}."

        match header with
        | Some h when isNull h || h.Length <> cols ->
            let n = if isNull h then 0 else h.Length
            invalidArg (nameof header) $"header: expected {cols} names (one per column), got {n}."
        | None when rows = 0 ->
            invalidArg
                (nameof values)
                "values: no rows and no header; such a file could not be read back (it would have no lines)."
        | _ -> ()

        let sep = string options.Separator
        let sb = StringBuilder()

        header
        |> Option.iter (fun h ->
            sb.Append(String.Join(sep, h |> Array.map (quote options.Separator))).Append('\n')
            |> ignore)

        for r in 0 .. rows - 1 do
            for c in 0 .. cols - 1 do
                let v = values[r, c]

                if not (Double.IsFinite v) && not options.AllowNonFinite then
                    invalidArg
                        (nameof values)
                        $"values: entry [row {r}; column {c}] is {v}; set CsvOptions.AllowNonFinite to write NaN or infinity."

                if c > 0 then
                    sb.Append sep |> ignore

                sb.Append(v.ToString("R", CultureInfo.InvariantCulture)) |> ignore

            sb.Append '\n' |> ignore

        sb.ToString()

    /// Writes `values` `[rows; cols]` with an optional `header` to the CSV file `path` with `options`,
    /// atomically (see `format`).
    let writeWith (options: CsvOptions) (path: string) (header: string[] option) (values: float[,]) =
        let bytes = UTF8Encoding(false).GetBytes(format options header values)
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

    /// Writes `values` `[rows; cols]` with an optional `header` to the CSV file `path`, ','
    /// separated, atomically.
    let write (path: string) (header: string[] option) (values: float[,]) =
        writeWith defaultOptions path header values
