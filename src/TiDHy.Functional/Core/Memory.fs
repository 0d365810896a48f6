namespace TiDHy.Functional

open System

/// What a configuration needs in memory (`Memory.estimate`), in bytes unless said otherwise;
/// every product is computed in checked 64-bit arithmetic, saturating at `Int64.MaxValue`.
type MemoryEstimate =
    {
        /// The number of parameters (every leaf of `Params`).
        Parameters: int64
        /// The largest single array the parameters or their initialisation need, in entries.
        LargestArray: int64
        /// The option whose size drives `LargestArray` (its upstream key, e.g. `r_dim`).
        LargestArrayKey: string
        /// The parameters with what training keeps beside them: gradients, AdamW's two moments,
        /// GradNorm's task gradients, the best model and the kernels' packed copies.
        ParameterBytes: int64
        /// One batch's work: the windows, the inference trajectory and the kernels' workspace.
        BatchBytes: int64
        /// `ParameterBytes + BatchBytes`.
        TotalBytes: int64
        /// What the machine has (`GC.GetGCMemoryInfo().TotalAvailableMemoryBytes`).
        AvailableBytes: int64
    }

/// The memory a configuration needs (`estimate`), the budget of what a reader or a series may
/// allocate, and sizes in GiB for messages.
[<RequireQualifiedAccess>]
module Memory =

    /// `a·b` in checked 64-bit arithmetic, `Int64.MaxValue` when it overflows.
    let private mul (a: int64) (b: int64) =
        try
            Checked.(*) a b
        with :? OverflowException ->
            Int64.MaxValue

    /// `a + b` in checked 64-bit arithmetic, `Int64.MaxValue` when it overflows.
    let private add (a: int64) (b: int64) =
        try
            Checked.(+) a b
        with :? OverflowException ->
            Int64.MaxValue

    let private prod (xs: int64 list) = List.fold mul 1L xs
    let private total (xs: int64 list) = List.fold add 0L xs

    /// The parameter arrays of `cfg` (`ParamShapes.shapes`), `(upstream key of the size that
    /// drives it, entries)`: the spatial decoder's arrays first (on a tie, its key is named), then
    /// the temporal matrices (`M·R·R`, or `M·R·2` low rank; the orthogonal initialisation
    /// factorises an `M × R·R` matrix) and bias, the hypernetwork and the r2 decoder.
    let private parameterArrays (cfg: Config) : (string * int64) list =
        let part (name: string) = name.Split('.')[0]

        let key (name: string) =
            match part name with
            | ParamNames.SpatialDecoder when cfg.NonlinDecoder -> "hyper_hid_dim"
            | ParamNames.SpatialDecoder -> "input_dim"
            | ParamNames.Temporal
            | ParamNames.TemporalBias -> "r_dim"
            | ParamNames.Hypernet -> "hyper_hid_dim"
            | _ -> "r2_decoder_hid_dim"

        let decoder, rest =
            ParamShapes.shapes cfg
            |> List.partition (fun (name, _) -> part name = ParamNames.SpatialDecoder)

        decoder @ rest
        |> List.map (fun (name, shape) -> key name, prod (List.ofArray shape))

    /// The memory `cfg` needs to train or evaluate batches of `batch` windows of `windowLength`
    /// steps: its parameters (with gradients, AdamW moments, GradNorm's task gradients, the best
    /// model and the kernels' packed float64 and float32 copies: 10 copies in all) and one batch's
    /// work (windows, the inference trajectory of `r`, `r2`, predictions and gradients per step, and
    /// the kernels' workspace with `V_k·r_p` per sample), against what the machine has. An estimate
    /// for refusing hopeless sizes before allocating, not an exact account; every product is
    /// checked and saturates instead of overflowing. Raises an ArgumentException for a negative
    /// `batch` or `windowLength`.
    let estimate (cfg: Config) (batch: int) (windowLength: int) : MemoryEstimate =
        if batch < 0 then
            invalidArg (nameof batch) $"batch: must not be negative, got {batch}."

        if windowLength < 0 then
            invalidArg (nameof windowLength) $"windowLength: must not be negative, got {windowLength}."

        let arrays = parameterArrays cfg
        let parameters = total (arrays |> List.map snd)
        let largestKey, largest = arrays |> List.maxBy snd

        let d, r, r2, m =
            int64 cfg.InputDim, int64 cfg.RDim, int64 cfg.R2Dim, int64 cfg.MixDim

        let h, h2 = int64 cfg.HyperHidDim, int64 cfg.R2DecoderHidDim
        // Per sample and step: x, r, r2, r̂, decode, W (and its gradient), hidden layers, r2 decoder.
        let perStep = total [ mul 3L d; mul 6L r; mul 4L r2; mul 3L m; mul 6L h; mul 3L h2 ]
        // Per sample in the kernels: V_k·r_p and the scratch of one iteration.
        let perSampleKernel = total [ mul m r; perStep ]

        let batchEntries =
            total
                [
                    prod [ int64 batch; int64 windowLength; perStep ]
                    mul (int64 batch) perSampleKernel
                ]

        let parameterBytes = prod [ parameters; 10L; 8L ]
        let batchBytes = prod [ batchEntries; 2L; 8L ]

        {
            Parameters = parameters
            LargestArray = largest
            LargestArrayKey = largestKey
            ParameterBytes = parameterBytes
            BatchBytes = batchBytes
            TotalBytes = add parameterBytes batchBytes
            AvailableBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes
        }

    /// `bytes` in GiB for messages (`more than 9.2e9 GiB` for a saturated size).
    let internal gibText (bytes: int64) =
        if bytes = Int64.MaxValue then
            "more than 9.2e9 GiB"
        else
            (float bytes / 1073741824.0).ToString("0.###", Globalization.CultureInfo.InvariantCulture)
            + " GiB"

    /// The most bytes that one array read from a file or cut from a series (windows) may take: half
    /// the memory available to the process (`GC.GetGCMemoryInfo().TotalAvailableMemoryBytes`, as in
    /// `estimate`), the other half left to what training or evaluation keep beside it. The
    /// readers and `Series.windowsStrided` refuse larger sizes, named, before allocating.
    let internal dataBudgetBytes () =
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2L
