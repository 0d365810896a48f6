namespace TiDHy.Functional

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices

/// Shape checks, in one place. Each one raises an ArgumentException that names the argument, the
/// expected shape and the actual one, so that a bad input fails before any arithmetic runs. Every
/// engine (the core's, TiDHy.Torch's) checks its inputs with them, so the messages are the same.
[<RequireQualifiedAccess>]
module Shape =

    /// Formats dimensions as `[2; 3]`.
    let show (dims: int seq) = "[" + String.Join("; ", dims) + "]"

    /// The number of elements of an array of dimensions `shape`, in checked 64-bit arithmetic
    /// (int32 dimensions can overflow: (65536, 65536) would wrap to 0), `Int64.MaxValue` where even
    /// that overflows, and 0 when a dimension is 0. For readers that check a declared shape before
    /// they allocate.
    let elementCount (shape: int seq) =
        if Seq.contains 0 shape then
            0L
        else
            try
                shape |> Seq.fold (fun acc n -> Checked.(*) acc (int64 n)) 1L
            with :? OverflowException ->
                Int64.MaxValue

    /// The dimensions of a matrix `[rows; cols]`.
    let ofMatrix (a: float[,]) =
        [| Array2D.length1 a; Array2D.length2 a |]

    /// The dimensions of a rank-3 array `[n0; n1; n2]`.
    let ofArray3 (a: float[,,]) =
        [| Array3D.length1 a; Array3D.length2 a; Array3D.length3 a |]

    let private fail name (expected: string) (actual: int seq) =
        raise (ArgumentException($"{name}: expected shape {expected}, got {show actual}.", (name: string)))

    /// Checks that a vector has `n` entries.
    let checkVector (name: string) (n: int) (v: float[]) =
        if isNull v then
            nullArg name

        if v.Length <> n then
            fail name (show [ n ]) [ v.Length ]

    /// Checks that a matrix is `[rows; cols]`.
    let checkMatrix (name: string) (rows: int) (cols: int) (a: float[,]) =
        if isNull a then
            nullArg name

        if Array2D.length1 a <> rows || Array2D.length2 a <> cols then
            fail name (show [ rows; cols ]) (ofMatrix a)

    /// Checks that a batch matrix has `cols` columns and at least one row; returns the row count.
    let checkBatch (name: string) (cols: int) (a: float[,]) =
        if isNull a then
            nullArg name

        if Array2D.length1 a < 1 || Array2D.length2 a <> cols then
            fail name (sprintf "[batch >= 1; %d]" cols) (ofMatrix a)

        Array2D.length1 a

    /// Checks that a window `[batch; time; features]` has `features` features, and at least one
    /// sample and `minTime` time steps; returns `(batch, time)`.
    let checkWindow (name: string) (minTime: int) (features: int) (a: float[,,]) =
        if isNull a then
            nullArg name

        let dims = ofArray3 a

        if dims[0] < 1 || dims[1] < minTime || dims[2] <> features then
            fail name (sprintf "[batch >= 1; time >= %d; %d]" minTime features) dims

        dims[0], dims[1]

    /// Checks that every entry of a sequence is finite (no NaN, no infinity).
    let checkFinite (name: string) (values: float seq) =
        values
        |> Seq.iteri (fun i v ->
            if not (Double.IsFinite v) then
                raise (ArgumentException($"{name}: entry {i} (row-major) is {v}; the data must be finite.", name)))

    /// The elements of an array of any rank in row-major order, read in place (no copy).
    let private elements (a: Array) : ReadOnlySpan<float> =
        MemoryMarshal.CreateReadOnlySpan(&Unsafe.As<byte, float>(&MemoryMarshal.GetArrayDataReference a), a.Length)

    /// Whether every entry of `s` is finite: `v − v` is 0 for a finite `v` and NaN for NaN or an
    /// infinity, and a NaN stays in the lanes' sum; SIMD lanes, no branch per entry.
    let private allFinite (s: ReadOnlySpan<float>) =
        let lanes = Vector<float>.Count
        let mutable acc = Vector<float>.Zero
        let mutable i = 0

        while i + lanes <= s.Length do
            let v = Vector<float>(s.Slice(i, lanes))
            acc <- acc + (v - v)
            i <- i + lanes

        let mutable tail = 0.0

        while i < s.Length do
            tail <- tail + (s[i] - s[i])
            i <- i + 1

        Vector.EqualsAll(acc, Vector<float>.Zero) && tail = 0.0

    /// `checkFinite` for a matrix, scanning it without boxing its entries (the same error).
    let checkFiniteMatrix (name: string) (a: float[,]) =
        if not (allFinite (elements a)) then
            checkFinite name (Seq.cast a)

    /// `checkFinite` for a rank-3 array, scanning it without boxing its entries (the same error).
    let checkFiniteArray3 (name: string) (a: float[,,]) =
        if not (allFinite (elements a)) then
            checkFinite name (Seq.cast a)
