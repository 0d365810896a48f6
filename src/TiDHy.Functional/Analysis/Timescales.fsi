namespace TiDHy.Functional

open System.Numerics

/// A mode of linear dynamics `x_{t+1} = A·x_t`: a real eigenvalue of `A`, or one of a
/// complex-conjugate pair (the one with positive imaginary part).
type DynamicsMode =
    {
        /// The eigenvalue `λ`.
        Eigenvalue: Complex
        /// `τ = −dt / log|λ|`: the time over which the mode decays by a factor e (+∞ when `|λ| = 1`,
        /// negative when the mode grows, 0 when `λ = 0`).
        Timescale: float
        /// `|arg λ| / (2π·dt)`: cycles per unit of time.
        Frequency: float
    }

/// The modes of the true dynamics of one state of one system of an SLDS data set.
type SldsModes =
    {
        /// The system.
        System: int
        /// The discrete state.
        State: int
        /// The modes of that state's dynamics matrix `A_k`.
        Modes: DynamicsMode[]
    }

/// One true timescale and the recovered one matched to it.
type TimescaleMatch =
    {
        /// Index of the true timescale.
        TrueIndex: int
        /// Index of the recovered timescale matched to it.
        RecoveredIndex: int
        /// The true timescale.
        True: float
        /// The recovered timescale.
        Recovered: float
        /// `|Recovered − True| / True`.
        RelativeError: float
        /// Whether `RelativeError ≤` the tolerance.
        Within: bool
    }

/// A one-to-one matching of true to recovered timescales that minimises the summed relative error.
type TimescaleMatching =
    {
        /// One pair per matched true timescale, in the order of the true ones.
        Pairs: TimescaleMatch[]
        /// How many pairs are within the tolerance.
        WithinCount: int
        /// The relative tolerance.
        Tolerance: float
    }

/// How well the dynamics over time `V_t` recover one mode of one true state, over the steps on
/// which that state is active.
type StateTimescaleRecovery =
    {
        /// The system.
        System: int
        /// Its discrete state.
        State: int
        /// Index of the mode among that state's modes.
        Mode: int
        /// The true timescale.
        True: float
        /// The median of the recovered timescales matched to it (NaN when it was never matched).
        MedianRecovered: float
        /// The share of the steps on which the matched timescale is within the tolerance.
        WithinShare: float
        /// The steps on which the state was active (and `V_t` is not zero).
        Steps: int
    }

/// Timescales of linear dynamics: the modes of a model's dynamics matrices `V_k`, of the dynamics
/// over time `V_t` and of the true dynamics of an SLDS data set, and how well the recovered
/// timescales match the true ones (tests/scripts/make_analysis_expected.py for the modes).
[<RequireQualifiedAccess>]
module Timescales =

    /// The modes of `x_{t+1} = A·x_t` for `a [n; n]` with time step `dt`: one per real eigenvalue
    /// and per complex-conjugate pair, sorted by timescale, longest first (then by imaginary part,
    /// then real part, largest first): `[≤ n]`.
    val modes: dt: float -> a: float[,] -> DynamicsMode[]

    /// The modes of each of a model's dynamics matrices `V_k` (time step `dt`): `[M]` arrays of
    /// `modes`.
    val componentModes: dt: float -> p: Params -> DynamicsMode[][]

    /// The modes of the dynamics used at each step, `V_t` (the record's `Ut [windows; T; R; R]`),
    /// with time step `dt`: `[windows·T]` arrays of `modes`, window-major; a step whose `V_t` is
    /// zero (the first of a window, which has no prediction) gives the modes of the zero matrix.
    val modesOverTime: dt: float -> ut: float[,,,] -> DynamicsMode[][]

    /// The true modes of an SLDS data set's systems (time step `dt`): one entry per (system,
    /// state), system-major, `[Systems·States]`.
    val sldsModes: dt: float -> systems: SldsSystem[] -> SldsModes[]

    /// Matches each true timescale `truth [n]` (finite, positive) to a different recovered one
    /// `recovered [m]` so that the summed relative error `|recovered − true| / true` is least
    /// (Hungarian algorithm); all true ones are matched when `n ≤ m`. A pair is within tolerance when
    /// its relative error is at most `tolerance`. Infinite or non-positive recovered timescales
    /// (what `modes` gives a unit-modulus or unstable mode) are never within tolerance. Raises
    /// `ArgumentException` for a NaN recovered timescale, a true one that is not finite and
    /// positive, and a tolerance that is not finite and `>= 0`.
    val matchTimescales: tolerance: float -> recovered: float[] -> truth: float[] -> TimescaleMatching

    /// How well the dynamics over time recover the true timescales of an SLDS data set. At each
    /// step of `ut [windows; T; R; R]` (window-major, with `states [≥ windows·T; systems]` the true
    /// discrete states of the same steps), the modes of `V_t` are matched (`matchTimescales`) to the
    /// true modes of the states active at that step (one set per system); steps whose `V_t` is zero
    /// are skipped. One result per (system, state, mode) of `systems`, system-major. Raises
    /// `ArgumentException` for a tolerance that is not finite and `>= 0`, even when no step is matched.
    val stateTimescaleRecovery:
        tolerance: float ->
        dt: float ->
        ut: float[,,,] ->
        states: int[,] ->
        systems: SldsSystem[] ->
            StateTimescaleRecovery[]
