namespace TiDHy.Functional

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
        /// The cell separator, ',', ';' or '\t'; `None` (the default): detected per file when reading
        /// (tab or ';' when the first line has them outside quotes, else ','), ',' when writing.
        Separator: char option
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

/// Numeric CSV files (invariant culture: '.' decimal point), read and written with Sep. Reading:
/// the separator is ',', ';' or tab, detected per file unless given; cells may be quoted (RFC 4180,
/// within one line), spaces around cells are ignored, blank lines and lines starting with '#' (as
/// `numpy.savetxt` writes its header) are skipped; ragged rows, empty cells, text that is not a
/// number, decimal commas (`1,5`: with ';' or tab separators, split over two cells of a ','
/// file as a leading-zero fraction such as `1,05`, or a headerless ',' file, separator detected,
/// whose rows all hold two unsigned-fraction integers such as `1,25`) and (unless allowed) NaN or
/// infinity are `DataFormatException`s naming the file, line and column (1-based). Line ends may be
/// "\r\n", "\n" or "\r". Writing uses the shortest
/// round-trip form of each number, '\n' line ends, and is atomic.
[<RequireQualifiedAccess>]
module Csv =

    /// Separator detected per file, header detected, non-finite values rejected.
    val defaultOptions: CsvOptions

    /// `parse`, with the refusal of rows that all hold two integers (one column of decimal commas
    /// such as `1,25`) only when `pairsMayBeDecimalCommas`: integer labels read with it off.
    val internal parseWith:
        pairsMayBeDecimalCommas: bool -> options: CsvOptions -> source: string -> text: string -> CsvTable

    /// Parses CSV `text`; `source` names it (a file path) in errors. Returns the header (when there
    /// is one) and the values `[rows; cols]`; a header without data lines gives `[0; cols]`. Raises a
    /// `DataFormatException` for no lines at all, an unclosed quote, a row whose cell count differs
    /// from the first line's, an empty cell, a cell that is not a number (with a hint when it is a
    /// decimal comma), a decimal comma split over two cells of a ',' file, a non-finite number when
    /// `AllowNonFinite` is false, and (with `CsvHeader.Auto`) a first line mixing numbers and text.
    val parse: options: CsvOptions -> source: string -> text: string -> CsvTable

    /// Reads the CSV file `path` with `options` (see `parse`).
    val readWith: options: CsvOptions -> path: string -> CsvTable

    /// Reads the numbers `[rows; cols]` of the CSV file `path` with `defaultOptions` (separator
    /// detected, header detected and skipped, only finite numbers).
    val read: path: string -> float[,]

    /// `read` for a file of integer labels (such as discrete states, one column per system): rows
    /// of two integers are two columns, not one column of decimal commas.
    val readLabels: path: string -> float[,]

    /// The CSV text of `values` `[rows; cols]` with an optional `header` `[cols]`: one line per row,
    /// numbers in shortest round-trip form ("R", invariant), header cells quoted where needed.
    /// Raises an ArgumentException for a header of the wrong length, no columns, no rows and no
    /// header, or (unless `AllowNonFinite`) a non-finite value, naming its row and column (0-based).
    val format: options: CsvOptions -> header: string[] option -> values: float[,] -> string

    /// Writes `values` `[rows; cols]` with an optional `header` to the CSV file `path` with `options`,
    /// atomically (see `format`).
    val writeWith: options: CsvOptions -> path: string -> header: string[] option -> values: float[,] -> unit

    /// Writes `values` `[rows; cols]` with an optional `header` to the CSV file `path`, ','
    /// separated (`defaultOptions`), atomically.
    val write: path: string -> header: string[] option -> values: float[,] -> unit
