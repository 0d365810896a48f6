namespace TiDHy.Functional

open System
open System.Threading

/// A training run held by an `Engine`: the parameters, the AdamW state, GradNorm's state and (in
/// stateful mode) the carry, wherever the engine keeps them (the torch engine keeps them on its
/// device). `Train.fitOn` drives one; the epoch, the batch, the running losses, the history and the
/// best model stay with the loop, in its `TrainState`.
type ITrainingSession =
    inherit IDisposable

    /// One outer training step (`Train.step`) on the training windows `rows` as batch `batch` of
    /// epoch `epoch`, from the session's parameters and carry: returns its metrics, or `None` when
    /// `cancel` stopped it before it completed (nothing of the step is kept). Raises
    /// `TrainingDivergedException` as `Train.step` does.
    abstract Step: epoch: int * batch: int * rows: int[] * cancel: CancellationToken -> StepMetrics option

    /// The validation objective (`Train.validationLoss`) of the session's parameters on its
    /// validation windows, in batches of `batchSize`.
    abstract ValidationLoss: batchSize: int -> float

    /// `state` with the session's parameters, AdamW state, GradNorm state and carry, as host values.
    abstract Snapshot: state: TrainState -> TrainState

    /// Forgets the carry: the next step starts from zero latents (an epoch ended).
    abstract ResetCarry: unit -> unit

/// An implementation of TiDHy's inference, evaluation and training, as a value: the core's
/// `Train.engine` for each of the config's backends (Reference, Fused, FusedFloat32), or the
/// TiDHy.Torch package's `TorchBackend.engine` (TorchSharp tensors on a CPU or CUDA device). Every
/// operation takes the same records in and out on every engine and validates its arguments;
/// `Train.fitOn` and `Evaluate.evaluateBatchedWith` run the same loops over any of them, and the
/// conformance tests check every engine against the same fixtures.
[<NoEquality; NoComparison>]
type Engine =
    {
        /// The name `tidhy --backend` takes: the configuration's `backend` name ("Reference",
        /// "Fused", "FusedFloat32") or a registered engine's ("torch").
        Name: string
        /// The configuration this engine runs for `cfg`: validated (`Config.validateOrThrow`), with
        /// `backend` set where the engine is one of the config's backends; raises
        /// `ArgumentException` naming the options the engine does not implement.
        Check: Config -> Config
        /// `Model.decode`: `r [batch; R]` → `x̄ [batch; D]`.
        Decode: Config -> Params -> float[,] -> float[,]
        /// `Model.temporalPrediction`: `rP [batch; R]`, `r2 [batch; R2]`.
        TemporalPrediction: Config -> Params -> float[,] -> float[,] -> TemporalPrediction
        /// `Inference.infer`: `x [batch; D]`, `rP [batch; R]`, `r2 [batch; R2]`.
        Infer: Config -> Params -> float[,] -> float[,] -> float[,] -> InferResult
        /// `Inference.inferFirstStep`: `x [batch; D]`.
        InferFirstStep: Config -> Params -> float[,] -> FirstStepResult
        /// `Forward.forward`: the training objective over a window `X [batch; T; D]` from a carry
        /// (stateful mode) or from zeros.
        Forward: Config -> Params -> Carry option -> float[,,] -> ForwardResult
        /// `Evaluate.evaluateRecord`: the evaluation record of a window `X [batch; T; D]`.
        EvaluateRecord: Config -> Params -> Carry option -> float[,,] -> EvaluationRecord
        /// `Train.objective`: a batch's objective terms and the gradient a step follows.
        Objective: Config -> TrainState -> float[,,] -> StepObjective
        /// `Train.step`: one outer training step on windows `X [batch; T; D]`.
        Step: Config -> TrainState -> float[,,] -> TrainState * StepMetrics
        /// `Train.validationLoss`: parameters, batch size, windows `[n; T; D]`.
        ValidationLoss: Config -> Params -> int -> float[,,] -> float
        /// A training session (`Train.fitOn`) from a state, on training windows `[n; T; D]` and
        /// optional validation windows, after the loop's checks of `cfg` (`Check`), the parameters
        /// and the windows' shapes and values.
        Open: Config -> TrainState -> float[,,] -> float[,,] option -> ITrainingSession
    }
