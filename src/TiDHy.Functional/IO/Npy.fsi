namespace TiDHy.Functional

/// The element types `.npy` files are read and written with (little-endian).
[<RequireQualifiedAccess>]
type NpyDtype =
    /// `'<f8'`, float64.
    | Float64
    /// `'<f4'`, float32: read into `float` exactly; written rounded to the nearest float32.
    | Float32

/// An n-dimensional array as `.npy` files hold it: the dimensions `Shape` `[n0; …]` and the entries
/// `Data` in C (row-major) order, `Data[((i0·n1 + i1)·n2 + i2)…]`. The same record as the
/// `NamedTensor` of state_dicts, so parameters move to and from `.npz` as they are; `Npy` reads
/// and writes ranks 1 to 4.
type NpyArray = NamedTensor

/// NumPy `.npy` and `.npz` files (format versions 1.0, 2.0 and 3.0; dtypes `<f8` and `<f4`; C order;
/// rank 1 to 4), read and written without Python. Writes match `numpy.save` byte for byte (header
/// dict with keys in sorted order, spare room for growing the first axis, padded with spaces and a
/// newline to a multiple of 64 bytes) and are atomic. Errors are `DataFormatException`s naming the
/// file (and the `.npz` entry) and what is wrong.
[<RequireQualifiedAccess>]
module Npy =

    /// Rank limits of the arrays read and written.
    [<Literal>]
    val maxRank: int = 4

    /// Checks `a`: rank 1 to 4, dimensions ≥ 0, and `Data.Length` the product of `Shape`; the
    /// ArgumentException names `name`, the shape and the data length.
    val check: name: string -> a: NpyArray -> unit

    /// An array of `shape` `[n0; …]` (rank 1 to 4) over `data` in C order, checked.
    val create: shape: int[] -> data: float[] -> NamedTensor

    /// A rank-1 array `[n]` of `v` `[n]`.
    val ofVector: v: float[] -> NamedTensor

    /// A rank-2 array `[rows; cols]` of `m` `[rows; cols]`.
    val ofMatrix: m: float[,] -> NamedTensor

    /// A rank-3 array `[n0; n1; n2]` of `a` `[n0; n1; n2]` (e.g. windows `[batch; T; D]`).
    val ofArray3: a: float[,,] -> NamedTensor

    /// The vector `[n]` of a rank-1 array; raises an ArgumentException for any other rank.
    val toVector: a: NpyArray -> float[]

    /// The matrix `[rows; cols]` of a rank-2 array; raises an ArgumentException for any other rank.
    val toMatrix: a: NpyArray -> float[,]

    /// The rank-3 array `[n0; n1; n2]` of a rank-3 array; raises an ArgumentException for any other rank.
    val toArray3: a: NpyArray -> float[,,]

    /// The bytes of a `.npy` file holding `a` as `dtype`. Raises an ArgumentException when `a` is
    /// malformed (see `check`), or when a finite entry overflows float32 under `Float32`.
    val toBytes: dtype: NpyDtype -> a: NpyArray -> byte[]

    /// Parses the `.npy` bytes `bytes`; `source` names the file (or `.npz` entry) in errors. Returns
    /// the array and the dtype it was stored with. Raises a `DataFormatException` for a bad magic
    /// string, an unknown format version, a malformed header, a dtype other than `<f8` / `<f4`,
    /// `fortran_order: True`, a rank outside 1 to 4, or data shorter or longer than the shape needs.
    val internal parseWithDtype: source: string -> bytes: byte[] -> NamedTensor * NpyDtype

    /// Raises a `DataFormatException` naming `source` and the first NaN or infinite entry of `a` by
    /// its index (`row r, column c` for rank 2, `row r` for rank 1, the C-order position otherwise).
    val checkFinite: source: string -> a: NpyArray -> unit

    /// Parses the `.npy` bytes `bytes` (see `parseWithDtype`); `source` names them in errors.
    val parse: source: string -> bytes: byte[] -> NamedTensor

    /// Reads the `.npy` file `path`: an array of rank 1 to 4, float32 entries widened to `float`.
    /// Raises a `DataFormatException` naming the file when it is malformed (see `parseWithDtype`).
    val read: path: string -> NamedTensor

    /// Writes `a` to the `.npy` file `path` as `dtype`, atomically.
    val writeAs: dtype: NpyDtype -> path: string -> a: NpyArray -> unit

    /// Writes `a` to the `.npy` file `path` as float64, atomically.
    val write: path: string -> a: NpyArray -> unit

    /// Reads a rank-2 `.npy` file as a matrix `[rows; cols]`; other ranks are a `DataFormatException`.
    val readMatrix: path: string -> float[,]

    /// Writes the matrix `m` `[rows; cols]` to the `.npy` file `path` as float64, atomically.
    val writeMatrix: path: string -> m: float[,] -> unit

    /// Reads a rank-3 `.npy` file as `[n0; n1; n2]`; other ranks are a `DataFormatException`.
    val readArray3: path: string -> float[,,]

    /// Writes `a` `[n0; n1; n2]` to the `.npy` file `path` as float64, atomically.
    val writeArray3: path: string -> a: float[,,] -> unit

    /// The entries of the `.npz` archive `bytes` as `(name, array)` in archive order, names without
    /// the `.npy` suffix (as `numpy.load` keys them); stored and deflated entries are both read.
    /// `source` names the archive in errors, which also name the entry. An entry whose declared
    /// uncompressed size (or the archive's total) exceeds `maxEntryBytes`, or whose data is longer or
    /// shorter than declared, is an error naming it (a zip bomb never fills memory).
    val parseNpz: source: string -> bytes: byte[] -> (string * NamedTensor)[]

    /// Reads the `.npz` file `path`: `(name, array)` in archive order (see `parseNpz`).
    val readNpz: path: string -> (string * NamedTensor)[]

    /// The bytes of a `.npz` archive holding each `(name, array)` as `name.npy` with `dtype`; stored
    /// like `numpy.savez`, or deflated like `numpy.savez_compressed` when `compress`.
    val npzBytes: dtype: NpyDtype -> compress: bool -> entries: (string * NpyArray) seq -> byte[]

    /// Writes the `.npz` file `path` holding each `(name, array)` as `name.npy` with `dtype`, deflated
    /// when `compress`, atomically.
    val writeNpzAs: dtype: NpyDtype -> compress: bool -> path: string -> entries: (string * NpyArray) seq -> unit

    /// Writes the `.npz` file `path` holding each `(name, array)` as float64, stored (as
    /// `numpy.savez`), atomically.
    val writeNpz: path: string -> entries: (string * NpyArray) seq -> unit
