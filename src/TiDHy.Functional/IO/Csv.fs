namespace TiDHy.Functional

open System
open System.Globalization
open System.IO
open System.Text
open nietras.SeparatedValues

// The public surface of this file and its documentation: Csv.fsi.
[<RequireQualifiedAccess>]
type CsvHeader =
    | Auto
    | Present
    | Absent

type CsvOptions =
    {
        Separator: char option
        Header: CsvHeader
        AllowNonFinite: bool
    }

type CsvTable =
    {
        Header: string[] option
        Values: float[,]
    }

[<RequireQualifiedAccess>]
module Csv =

    let defaultOptions =
        {
            Separator = None
            Header = CsvHeader.Auto
            AllowNonFinite = false
        }

    let private checkSeparator (options: CsvOptions) =
        match options.Separator with
        | None
        | Some ','
        | Some ';'
        | Some '\t' -> ()
        | Some c -> invalidArg (nameof options) $"options: Separator must be ',', ';' or '\\t', got '{c}'."

    /// A cell as a number: invariant-culture floats, and also Python's `nan`, `inf`, `-inf`.
    let private tryNumber (text: ReadOnlySpan<char>) =
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> ValueSome v
        | _ ->
            match text.ToString().ToLowerInvariant() with
            | "nan"
            | "+nan"
            | "-nan" -> ValueSome nan
            | "inf"
            | "+inf"
            | "infinity"
            | "+infinity" -> ValueSome infinity
            | "-inf"
            | "-infinity" -> ValueSome -infinity
            | _ -> ValueNone

    /// A number written with a decimal comma: digits, one ',', digits (an optional sign first).
    let private decimalComma =
        RegularExpressions.Regex(
            @"^[+-]?[0-9]+,[0-9]+([eE][+-]?[0-9]+)?$",
            RegularExpressions.RegexOptions.CultureInvariant
        )

    /// The fraction half of a decimal comma split by a ',' separator: digits with a leading zero.
    let private leadingZeroDigits =
        RegularExpressions.Regex(@"^0[0-9]+$", RegularExpressions.RegexOptions.CultureInvariant)

    /// The integer half of a decimal comma split by a ',' separator.
    let private integerDigits =
        RegularExpressions.Regex(@"^[+-]?[0-9]+$", RegularExpressions.RegexOptions.CultureInvariant)

    /// The fraction half of a decimal comma without a sign.
    let private unsignedDigits =
        RegularExpressions.Regex(@"^[0-9]+$", RegularExpressions.RegexOptions.CultureInvariant)

    let private decimalCommaHint =
        "numbers must use '.' as the decimal point; a decimal comma (1,5) reads as two cells in a ',' file: write 1.5, or separate cells with ';' or tab and use '.'"

    /// The count of `c` outside double quotes in `line`.
    let private countOutsideQuotes (c: char) (line: string) =
        let mutable quoted = false
        let mutable n = 0

        for ch in line do
            if ch = '"' then
                quoted <- not quoted
            elif ch = c && not quoted then
                n <- n + 1

        n

    /// The separator of a file whose first significant line is `line`: tab or ';' when it holds
    /// them outside quotes (the more frequent; tab on a tie), else ','.
    let private detectSeparator (line: string) =
        let tabs = countOutsideQuotes '\t' line
        let semis = countOutsideQuotes ';' line

        if tabs = 0 && semis = 0 then ','
        elif tabs >= semis then '\t'
        else ';'

    let internal parseWith (pairsMayBeDecimalCommas: bool) (options: CsvOptions) (source: string) (text: string) =
        checkSeparator options

        if isNull text then
            nullArg (nameof text)

        let fail (line: int) (reason: string) : 'a =
            DataFile.fail source $"line {line}: {reason}"

        // Sep reads the significant lines (not blank, not '#'), each one row since a quote must close on
        // its own line; `numbers` maps a row back to its line in the file.
        // Lines end with "\r\n", "\n" or a lone "\r" (classic Mac OS, as Python's universal newlines).
        let significant =
            text.Split([| "\r\n"; "\r"; "\n" |], StringSplitOptions.None)
            |> Array.mapi (fun i l -> i + 1, l)
            |> Array.filter (fun (_, l) ->
                let t = l.Trim()
                t <> "" && not (t.StartsWith '#'))

        for n, l in significant do
            if (l |> Seq.filter ((=) '"') |> Seq.length) % 2 = 1 then
                fail n "a quoted cell is not closed (quoted cells must end on the same line)."

        if significant.Length = 0 then
            DataFile.fail source "no data: the file has no lines with cells."

        let numbers = significant |> Array.map fst

        let sep =
            match options.Separator with
            | Some c -> c
            | None -> detectSeparator (snd significant[0])

        let readerOptions =
            SepReaderOptions(
                Nullable(Sep(sep)),
                HasHeader = false,
                DisableColCountCheck = true,
                Unescape = true,
                Trim = SepTrim.Outer,
                CultureInfo = CultureInfo.InvariantCulture
            )

        let rows = ResizeArray<int * string[]>()

        do
            use reader = readerOptions.FromText(String.Join("\n", Array.map snd significant))

            while reader.MoveNext() do
                let cells = Array.zeroCreate reader.Current.ColCount

                for c in 0 .. cells.Length - 1 do
                    cells[c] <- reader.Current[c].ToString()

                let row = reader.Current.RowIndex

                if row >= numbers.Length then
                    DataFile.fail
                        source
                        $"read more rows than the file's {numbers.Length} lines; quoted cells must end on their line."

                rows.Add(numbers[row], cells)

        if rows.Count <> significant.Length then
            DataFile.fail
                source
                $"read {rows.Count} rows from {significant.Length} lines; quoted cells must end on their line."

        let firstLineNo, firstCells = rows[0]

        let isNumber (c: string) =
            c <> "" && (tryNumber (c.AsSpan())).IsSome

        let hasHeader =
            match options.Header with
            | CsvHeader.Present -> true
            | CsvHeader.Absent -> false
            | CsvHeader.Auto ->
                let numeric = firstCells |> Array.map isNumber

                if Array.forall id numeric then
                    false
                elif Array.forall not numeric then
                    true
                else
                    let col = Array.findIndex not numeric + 1

                    fail
                        firstLineNo
                        $"column {col}: '{firstCells[col - 1]}' is not a number, but other cells of this first line are; set CsvOptions.Header to Present (a header) or Absent (data) explicitly."

        let cols = firstCells.Length
        let dataRows = if hasHeader then rows.GetRange(1, rows.Count - 1) else rows

        // One column of decimal commas without a leading-zero fraction (`1,25`) reads as two integer
        // columns: with the separator detected and no header, rows that all hold two integers, the
        // second unsigned and never starting with 0 (`1,05` is refused cell by cell below), are
        // refused; a header line or an explicit separator says that they are two columns.
        if
            pairsMayBeDecimalCommas
            && options.Separator.IsNone
            && sep = ','
            && not hasHeader
            && cols = 2
            && dataRows.Count > 0
            && dataRows
               |> Seq.forall (fun (_, cells) ->
                   cells.Length = 2
                   && integerDigits.IsMatch cells[0]
                   && unsignedDigits.IsMatch cells[1]
                   && not (cells[1].StartsWith '0'))
        then
            let n, cells = dataRows[0]

            fail
                n
                $"every row holds two integers such as '{cells[0]},{cells[1]}', which looks like one column of numbers with decimal commas; {decimalCommaHint}. If the file really holds two integer columns, give it a header line (such as a,b) or set the separator explicitly (CsvOptions.Separator)."

        let values = Array2D.zeroCreate dataRows.Count cols

        dataRows
        |> Seq.iteri (fun r (n, cells) ->
            if cells.Length <> cols then
                let hint = if sep = ',' then $" ({decimalCommaHint})" else ""

                fail
                    n
                    $"{cells.Length} cells, expected {cols} (as on line {firstLineNo}); rows must all have the same number of cells{hint}."

            cells
            |> Array.iteri (fun c cell ->
                if cell = "" then
                    fail n $"column {c + 1}: empty cell; every cell must hold a number."

                if
                    sep = ','
                    && c > 0
                    && leadingZeroDigits.IsMatch cell
                    && integerDigits.IsMatch cells[c - 1]
                then
                    fail
                        n
                        $"columns {c}-{c + 1}: '{cells[c - 1]},{cell}' looks like one number with a decimal comma split over two cells; {decimalCommaHint}."

                match tryNumber (cell.AsSpan()) with
                | ValueNone when decimalComma.IsMatch cell ->
                    fail n $"column {c + 1}: '{cell}' is not a number: {decimalCommaHint}."
                | ValueNone -> fail n $"column {c + 1}: '{cell}' is not a number."
                | ValueSome v when not (Double.IsFinite v) && not options.AllowNonFinite ->
                    fail
                        n
                        $"column {c + 1}: '{cell}' is not finite; NaN and infinity are rejected unless CsvOptions.AllowNonFinite is set."
                | ValueSome v -> values[r, c] <- v))

        {
            Header = if hasHeader then Some firstCells else None
            Values = values
        }

    let parse (options: CsvOptions) (source: string) (text: string) = parseWith true options source text

    let readWith (options: CsvOptions) (path: string) =
        parse options path (File.ReadAllText path)

    let read (path: string) = (readWith defaultOptions path).Values

    let readLabels (path: string) =
        (parseWith false defaultOptions path (File.ReadAllText path)).Values

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

        let sepChar = defaultArg options.Separator ','

        let writerOptions =
            SepWriterOptions(
                Sep(sepChar),
                WriteHeader = false,
                Escape = false,
                CultureInfo = CultureInfo.InvariantCulture
            )

        use writer = writerOptions.ToText()

        let writeRow (cells: int -> string) =
            use row = writer.NewRow()

            for c in 0 .. cols - 1 do
                row[c].Set(cells(c).AsSpan())

        header |> Option.iter (fun h -> writeRow (fun c -> quote sepChar h[c]))

        for r in 0 .. rows - 1 do
            writeRow (fun c ->
                let v = values[r, c]

                if not (Double.IsFinite v) && not options.AllowNonFinite then
                    invalidArg
                        (nameof values)
                        $"values: entry [row {r}; column {c}] is {v}; set CsvOptions.AllowNonFinite to write NaN or infinity."

                v.ToString("R", CultureInfo.InvariantCulture))

        writer.ToString().Replace("\r\n", "\n")

    let writeWith (options: CsvOptions) (path: string) (header: string[] option) (values: float[,]) =
        let bytes = UTF8Encoding(false).GetBytes(format options header values)
        DataFile.writeAtomic path (fun s -> s.Write(bytes, 0, bytes.Length))

    let write (path: string) (header: string[] option) (values: float[,]) =
        writeWith defaultOptions path header values
