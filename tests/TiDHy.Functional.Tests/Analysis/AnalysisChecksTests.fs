/// The analysis modules' argument checks (`AnalysisChecks`): bad input to each raises an
/// `ArgumentException` naming the argument.
module TiDHy.Functional.Tests.Analysis.AnalysisChecksTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

[<Fact>]
let ``bad input raises ArgumentException naming the argument`` () =
    let x = Array2D.init 5 2 (fun i j -> float (i + j))
    let y = [| 0; 1; 0; 1; 0 |]
    throwsNaming "trainY" (fun () -> box (Decoding.knnPredict 3 x [| 0; 1 |] x))
    throwsNaming "k" (fun () -> box (Decoding.knnPredict 6 x y x))
    throwsNaming "k" (fun () -> box (Decoding.knnPredict 0 x y x))
    throwsNaming "testX" (fun () -> box (Decoding.knnPredict 3 x y (Array2D.zeroCreate 2 3)))
    throwsNaming "testX" (fun () -> box (Decoding.knnPredict 3 x y (Array2D.zeroCreate 0 2)))
    throwsNaming "trainX" (fun () -> box (Decoding.knnPredict 1 (Array2D.zeroCreate 0 2) [||] x))
    throwsNaming "testY" (fun () -> box (Decoding.knnAccuracy x y x [| 1 |]))
    throwsNaming "pred" (fun () -> box (Clustering.adjustedRandIndex [| 0; 1 |] [| 0 |]))
    throwsNaming "truth" (fun () -> box (Clustering.normalisedMutualInformation [||] [||]))
    throwsNaming "labels" (fun () -> box (Decoding.decodingScore 3 x [| 0 |] { Train = [| 0 |]; Test = [| 1 |] }))
    throwsNaming "split.Test" (fun () -> box (Decoding.decodingScore 1 x y { Train = [| 0 |]; Test = [| 9 |] }))
    throwsNaming "testFraction" (fun () -> box (Decoding.randomSplit (Random.key 1) 10 1.0))
    throwsNaming "blockLength" (fun () -> box (Decoding.blockSplit (Random.key 1) 10 6 0.25))
    throwsNaming "cost" (fun () -> box (Clustering.linearSumAssignment (array2D [ [ 1.0; nan ] ])))
    throwsNaming "a" (fun () -> box (Timescales.modes 1.0 (Array2D.zeroCreate 2 3)))
    throwsNaming "truth" (fun () -> box (Timescales.matchTimescales 0.1 [| 1.0 |] [| -1.0 |]))
    throwsNaming "weights" (fun () -> box (Mixture.entropy [| 1.0; -1.0 |]))
    throwsNaming "k" (fun () -> box (Clustering.kMeans (Random.key 1) 6 x))
    throwsNaming "states" (fun () -> box (Decoding.jointStates 2 (array2D [ [ 0; 2 ] ])))
