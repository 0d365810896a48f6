namespace TiDHy.Functional

/// A `Linear(i→o)` layer: `W·v + b`.
type LinearParams =
    {
        /// `[o; i]`.
        Weight: float[,]
        /// `[o]`, or `None` for a layer without bias.
        Bias: float[] option
    }

/// A LayerNorm's affine parameters.
type LayerNormParams =
    {
        /// γ `[n]`.
        Gamma: float[]
        /// β `[n]`.
        Beta: float[]
    }

/// The MLP shape that TiDHy uses three times (nonlinear decoder, hypernetwork, r2 decoder):
/// `Linear(i→h)`, `LayerNorm(h)`, `ELU`, `Linear(h→h)`, `Linear(h→o)`; state_dict layers `.0`, `.1`, `.3`, `.4`.
type MlpParams =
    {
        /// `.0`: `[h; i]`, bias `[h]`.
        Input: LinearParams
        /// `.1`: γ, β `[h]`.
        Norm: LayerNormParams
        /// `.3`: `[h; h]`, bias `[h]`.
        Hidden: LinearParams
        /// `.4`: `[o; h]`, bias `[o]` (none in the hypernetwork with a dynamic bias).
        Output: LinearParams
    }

/// The spatial decoder `p(x | r)`.
type SpatialDecoderParams =
    /// `Linear(R→D)` (followed by a sigmoid when the loss is BCE).
    | LinearDecoder of LinearParams
    /// `Linear(R→H), LayerNorm, ELU, Linear(H→H), Linear(H→D)`.
    | NonlinearDecoder of MlpParams

/// The M dynamics matrices.
type TemporalParams =
    /// `temporal [M; R·R]`: row k is `V_k` flattened row-major.
    | FullRank of float[,]
    /// `temporal [M; R; 2]`: `V_k = U_k·U_kᵀ`.
    | LowRank of float[,,]

/// All learned parameters of a TiDHy model; immutable by convention (never mutate an array held here).
type Params =
    {
        /// `spatial_decoder.*`.
        SpatialDecoder: SpatialDecoderParams
        /// `temporal`.
        Temporal: TemporalParams
        /// `temporal_bias [1; R]`, held as `[R]`; present iff `dyn_bias`.
        TemporalBias: float[] option
        /// `hypernet.*`: `R2 → O`, followed by ReLU; `O = M` (+ R with `dyn_bias`).
        Hypernet: MlpParams
        /// `R2_Decoder.*`: `R + R2 → R2`; present iff `use_r2_decoder`.
        R2Decoder: MlpParams option
    }
