namespace TiDHy.Functional

open System
open System.Threading

// The public surface of this file and its documentation: Engine.fsi.
type ITrainingSession =
    inherit IDisposable

    abstract Step: epoch: int * batch: int * rows: int[] * cancel: CancellationToken -> StepMetrics option

    abstract ValidationLoss: batchSize: int -> float

    abstract Snapshot: state: TrainState -> TrainState

    abstract ResetCarry: unit -> unit

[<NoEquality; NoComparison>]
type Engine =
    {
        Name: string
        Check: Config -> Config
        Decode: Config -> Params -> float[,] -> float[,]
        TemporalPrediction: Config -> Params -> float[,] -> float[,] -> TemporalPrediction
        Infer: Config -> Params -> float[,] -> float[,] -> float[,] -> InferResult
        InferFirstStep: Config -> Params -> float[,] -> FirstStepResult
        Forward: Config -> Params -> Carry option -> float[,,] -> ForwardResult
        EvaluateRecord: Config -> Params -> Carry option -> float[,,] -> EvaluationRecord
        Objective: Config -> TrainState -> float[,,] -> StepObjective
        Step: Config -> TrainState -> float[,,] -> TrainState * StepMetrics
        ValidationLoss: Config -> Params -> int -> float[,,] -> float
        Open: Config -> TrainState -> float[,,] -> float[,,] option -> ITrainingSession
    }
