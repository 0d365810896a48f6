module TiDHy.Functional.Tests.FsiTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private lines (s: string) = s.Split '\n'

[<Fact>]
let ``The FSI texts are a few lines with shapes and key numbers`` () =
    let cfg = { smallConfig with MaxIter = 20 }

    let X =
        Array3D.init 4 5 cfg.InputDim (fun w t d -> sin (0.3 * float (w * 5 + t) + float d))

    let state = Train.init cfg (Random.key 3)

    let fit =
        Train.fit
            cfg
            { Train.defaultFitOptions cfg with
                BatchSize = 2
                Epochs = 1
            }
            X
            None
            state

    let texts =
        [
            Fsi.config cfg
            Fsi.parameters fit.State.Params
            Fsi.trainState fit.State
            Fsi.fitResult fit
            Fsi.evaluationRecord (Evaluate.evaluateRecord cfg fit.State.Params None X)
            Fsi.forwardResult (Forward.forward cfg fit.State.Params None X)
            Fsi.firstStepResult (Inference.inferFirstStep cfg fit.State.Params X[*, 0, *])
            Fsi.inferResult (
                Inference.infer
                    cfg
                    fit.State.Params
                    X[*, 1, *]
                    (Array2D.zeroCreate 4 cfg.RDim)
                    (Array2D.zeroCreate 4 cfg.R2Dim)
            )
            Fsi.array3 X
            Fsi.array2 X[0, *, *]
        ]

    for t in texts do
        Assert.InRange((lines t).Length, 1, 6)
        Assert.DoesNotContain("rank=", t)

    Assert.StartsWith("float[4; 5; 6]  min ", Fsi.array3 X)
    Assert.StartsWith("TrainState: 1 epochs and 0 batches done, 2 AdamW steps", Fsi.trainState fit.State)
    Assert.Contains("max_iter 20", Fsi.config cfg)
    Assert.StartsWith("EvaluationRecord: 4 windows × 5 steps", texts[4])
    // A small matrix is shown whole: three rows of three values.
    Assert.Equal(4, (lines (Fsi.array2 (Array2D.init 3 3 (fun i j -> float (i + j))))).Length)
    Assert.Contains("NaN", Fsi.array3 (Array3D.create 1 1 2 nan))
