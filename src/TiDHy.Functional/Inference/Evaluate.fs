namespace TiDHy.Functional

// The public surface of this file and its documentation: Evaluate.fsi.
type EvaluationRecord =
    {
        SpatialLossRHatAvg: float
        SpatialLossRBarAvg: float
        TempLossAvg: float
        IBar: float[,,]
        IHat: float[,,]
        I: float[,,]
        RBar: float[,,]
        RHat: float[,,]
        R2Hat: float[,,]
        W: float[,,]
        Ut: float[,,,]
        B: float[,,] option
        TempLoss: float[,,]
        SpatialLossRHat: float[,,]
        SpatialLossRBar: float[,,]
        Iterations: int[]
        Converged: bool[]
        Final: Carry
    }

type EvaluationStep =
    {
        IBar: float[,]
        IHat: float[,]
        RBar: float[,]
        RHat: float[,]
        R2Hat: float[,]
        W: float[,]
        Ut: float[,,]
        B: float[,]
        TempLoss: float[,]
        Iterations: int
        Converged: bool
    }

[<RequireQualifiedAccess>]
module Evaluate =

    let step (cfg: Config) (p: Params) (carry: Carry) (x: float[,]) : Carry * EvaluationStep =
        let forecast = Model.temporalPrediction cfg p carry.R carry.R2
        let inf = Inference.infer cfg p x carry.R carry.R2
        let wb = Model.hypernet cfg p inf.R2
        let batch = Array2D.length1 x

        { R = inf.R; R2 = inf.R2 },
        {
            IBar = Model.decode cfg p forecast.RHat
            IHat = Model.decode cfg p inf.R
            RBar = forecast.RHat
            RHat = inf.R
            R2Hat = inf.R2
            W = wb[*, 0 .. cfg.MixDim - 1]
            Ut = forecast.Vt
            B =
                if cfg.DynBias then
                    wb[*, cfg.MixDim ..]
                else
                    Array2D.zeroCreate batch 0
            TempLoss = Array2D.init batch cfg.RDim (fun s i -> (inf.R[s, i] - forecast.RHat[s, i]) ** 2.0)
            Iterations = inf.Iterations
            Converged = inf.Converged
        }

    let firstStep (cfg: Config) (p: Params) (x: float[,]) : Carry * EvaluationStep =
        let batch = Array2D.length1 x
        let zero = Forward.zeroCarry cfg batch
        let first = Inference.inferFirstStep cfg p x

        { zero with R = first.R },
        {
            IBar = Model.decode cfg p zero.R
            IHat = Model.decode cfg p first.R
            RBar = zero.R
            RHat = first.R
            R2Hat = zero.R2
            W = Array2D.zeroCreate batch cfg.MixDim
            Ut = Array3D.zeroCreate batch cfg.RDim cfg.RDim
            B = Array2D.zeroCreate batch (if cfg.DynBias then cfg.RDim else 0)
            TempLoss = Array2D.zeroCreate batch cfg.RDim
            Iterations = first.Iterations
            Converged = first.Converged
        }

    let private stack (steps: float[,][]) =
        let b, n = Array2D.length1 steps[0], Array2D.length2 steps[0]
        Array3D.init b steps.Length n (fun s t j -> steps[t][s, j])

    let evaluateRecord (cfg: Config) (p: Params) (init: Carry option) (X: float[,,]) : EvaluationRecord =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p
        let batch, time = Shape.checkWindow (nameof X) 1 cfg.InputDim X
        Shape.checkFiniteArray3 (nameof X) X
        let xs = Array.init time (Forward.timeStep X)

        let final, steps =
            match init with
            | None ->
                let c0, s0 = firstStep cfg p xs[0]
                let c, rest = Forward.scan (step cfg p) c0 xs[1..]
                c, Array.append [| s0 |] rest
            | Some c ->
                Shape.checkMatrix "init.R" batch cfg.RDim c.R
                Shape.checkMatrix "init.R2" batch cfg.R2Dim c.R2
                Forward.scan (step cfg p) c xs

        let iBar = steps |> Array.map _.IBar |> stack
        let iHat = steps |> Array.map _.IHat |> stack
        let rBar = steps |> Array.map _.RBar |> stack
        let rHat = steps |> Array.map _.RHat |> stack
        let ell = Loss.element cfg.Loss
        let lossRHat = Array3D.mapi (fun s t d v -> ell v X[s, t, d]) iHat
        let lossRBar = Array3D.mapi (fun s t d v -> ell v X[s, t, d]) iBar
        let tempLoss = steps |> Array.map _.TempLoss |> stack

        let avg (a: float[,,]) =
            let mutable sum = 0.0
            a |> Array3D.iter (fun v -> sum <- sum + v)
            sum / float batch

        {
            SpatialLossRHatAvg = avg lossRHat
            SpatialLossRBarAvg = avg lossRBar
            TempLossAvg = cfg.TempWeight * avg tempLoss
            IBar = iBar
            IHat = iHat
            I = Array3D.init batch time cfg.InputDim (fun s t d -> X[s, t, d])
            RBar = rBar
            RHat = rHat
            R2Hat = steps |> Array.map _.R2Hat |> stack
            W = steps |> Array.map _.W |> stack
            Ut = Array4D.init batch time cfg.RDim cfg.RDim (fun s t i j -> steps[t].Ut[s, i, j])
            B =
                if cfg.DynBias then
                    Some(steps |> Array.map _.B |> stack)
                else
                    None
            TempLoss = tempLoss
            SpatialLossRHat = lossRHat
            SpatialLossRBar = lossRBar
            Iterations = steps |> Array.map _.Iterations
            Converged = steps |> Array.map _.Converged
            Final = final
        }

    let evaluateWindows (cfg: Config) (p: Params) (windows: float[,,] seq) : EvaluationRecord[] =
        windows
        |> Forward.scan
            (fun carry X ->
                let record = evaluateRecord cfg p carry X
                (if cfg.Stateful then Some record.Final else None), record)
            None
        |> snd

    let joinBatches (parts: (int * EvaluationRecord)[]) : EvaluationRecord =
        if isNull parts || parts.Length = 0 then
            invalidArg (nameof parts) "parts: expected the records of one or more batches."

        let n = parts |> Array.sumBy fst

        let cat3 (f: EvaluationRecord -> float[,,]) =
            let arrays = parts |> Array.map (snd >> f)
            let t, k = Array3D.length2 arrays[0], Array3D.length3 arrays[0]
            let offsets = Array.scan (+) 0 (arrays |> Array.map Array3D.length1)

            let owner i =
                Array.findIndexBack (fun o -> o <= i) offsets[.. arrays.Length - 1]

            Array3D.init n t k (fun i j l ->
                let a = owner i
                arrays[a][i - offsets[a], j, l])

        let ut =
            let arrays = parts |> Array.map (fun (_, r) -> r.Ut)
            let t, r = Array4D.length2 arrays[0], Array4D.length3 arrays[0]
            let out = Array4D.zeroCreate n t r r
            let mutable i0 = 0

            for a in arrays do
                for i in 0 .. Array4D.length1 a - 1 do
                    for j in 0 .. t - 1 do
                        for k in 0 .. r - 1 do
                            for l in 0 .. r - 1 do
                                out[i0 + i, j, k, l] <- a[i, j, k, l]

                i0 <- i0 + Array4D.length1 a

            out

        let avg (f: EvaluationRecord -> float) =
            (parts |> Array.sumBy (fun (b, r) -> float b * f r)) / float n

        let rows (f: Carry -> float[,]) =
            parts
            |> Array.collect (fun (_, r) -> Numerics.rows (f r.Final))
            |> Numerics.ofRows (Array2D.length2 (f (snd parts[0]).Final))

        let first = snd parts[0]

        {
            SpatialLossRHatAvg = avg _.SpatialLossRHatAvg
            SpatialLossRBarAvg = avg _.SpatialLossRBarAvg
            TempLossAvg = avg _.TempLossAvg
            IBar = cat3 _.IBar
            IHat = cat3 _.IHat
            I = cat3 _.I
            RBar = cat3 _.RBar
            RHat = cat3 _.RHat
            R2Hat = cat3 _.R2Hat
            W = cat3 _.W
            Ut = ut
            B = first.B |> Option.map (fun _ -> cat3 (fun r -> r.B.Value))
            TempLoss = cat3 _.TempLoss
            SpatialLossRHat = cat3 _.SpatialLossRHat
            SpatialLossRBar = cat3 _.SpatialLossRBar
            Iterations =
                Array.init first.Iterations.Length (fun j ->
                    parts |> Array.map (fun (_, r) -> r.Iterations[j]) |> Array.max)
            Converged =
                Array.init first.Converged.Length (fun j -> parts |> Array.forall (fun (_, r) -> r.Converged[j]))
            Final = { R = rows _.R; R2 = rows _.R2 }
        }

    let evaluateBatchedWith
        (evaluate: float[,,] -> EvaluationRecord)
        (cfg: Config)
        (batchSize: int)
        (X: float[,,])
        : EvaluationRecord =
        if batchSize <= 0 then
            invalidArg (nameof batchSize) $"batchSize: expected a positive batch size, got {batchSize}."

        let n, time = Shape.checkWindow (nameof X) 1 cfg.InputDim X
        Config.checkMemory cfg (min n batchSize) time

        Array.init n id
        |> Array.chunkBySize batchSize
        |> Array.map (fun idx -> idx.Length, evaluate X[idx[0] .. idx[idx.Length - 1], *, *])
        |> joinBatches

    let evaluateSeriesWindowsWith
        (evaluate: float[,,] -> EvaluationRecord)
        (cfg: Config)
        (batchSize: int)
        (X: float[,,])
        : EvaluationRecord =
        if cfg.Stateful then
            let n, t = Shape.checkWindow (nameof X) 1 cfg.InputDim X
            evaluate (Array3D.init 1 (n * t) cfg.InputDim (fun _ i d -> X[i / t, i % t, d]))
        else
            evaluateBatchedWith evaluate cfg batchSize X

    let evaluateBatched (cfg: Config) (p: Params) (batchSize: int) (X: float[,,]) : EvaluationRecord =
        evaluateBatchedWith (evaluateRecord cfg p None) cfg batchSize X

    let evaluateSeriesWindows (cfg: Config) (p: Params) (batchSize: int) (X: float[,,]) : EvaluationRecord =
        evaluateSeriesWindowsWith (evaluateRecord cfg p None) cfg batchSize X
