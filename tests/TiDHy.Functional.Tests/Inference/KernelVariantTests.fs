/// Every declared kernel variant computes the bits of the general kernel. A variant fixes options or
/// sizes so that the generated code can unroll, not so that it sums in another order: if it did, the
/// result of a call would depend on which variants happen to be registered when it is made (a
/// variant declared in an application registers itself when its assembly is first touched, which can
/// be in the middle of a run).
module TiDHy.Functional.Tests.KernelVariantTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Kernels
open Xunit

/// The variants beside the general kernel, each with configurations it covers: the sizes it fixes
/// (upstream's SLDS sizes, the tests' small sizes) or, where it fixes none, sizes whose rows leave
/// every remainder of the matrix–vector chunks (5, 6 and 7 rows after whole chunks of 8).
let private variants () =
    let mse (cfg: Config) =
        { cfg with
            Loss = LossKind.MSE
            NonlinDecoder = false
            LowRankTemp = false
            DynBias = false
            UseR2Decoder = false
            MaxIter = 40
            Tol = 1e-4
        }

    let slds =
        mse
            { Config.defaults 20 with
                RDim = 10
                R2Dim = 5
                MixDim = 15
                HyperHidDim = 50
            }

    let odd =
        mse
            { Config.defaults 13 with
                RDim = 7
                R2Dim = 6
                MixDim = 14
                HyperHidDim = 21
            }

    [
        TiDHy.Kernels.SldsKernel.Kernel, slds
        TiDHy.Kernels.MseLinearKernel.Kernel, slds
        TiDHy.Kernels.MseLinearKernel.Kernel, odd
        TiDHy.CustomKernels.SmallConfigKernel.Kernel, mse smallConfig
    ]

/// The run-time choices a variant leaves open, so that every path of its loop is compared.
let private runTimeChoices (cfg: Config) =
    [
        cfg
        { cfg with
            BatchScaling = BatchScaling.PerSample
            Convergence = Convergence.PerSample
            SaturateR = Saturation.Tanh
            SaturateR2 = Saturation.ScaledTanh
            L1InfR = 0.01
            L1InfR2 = 0.02
            L1InfW = 0.03
        }
    ]

let private bits64 (a: float[]) =
    Array.map BitConverter.DoubleToInt64Bits a

let private bits32 (a: float32[]) =
    Array.map (BitConverter.SingleToInt32Bits >> int64) a

/// The stats of a call without the worker count it ran on (the results never depend on it).
let withoutWorkers (st: InferenceStats) =
    InferenceStats(st.Iterations, st.Converged, st.DivergedIteration, st.DivergedSample, st.DivergedQuantity)

/// Every output of `inf` and `inf_first_step` through `kernel`, in float64 and float32, under
/// `settings` (the configuration's, on one worker, when called through `inferenceBits`): the stats
/// and the bits of r, r2, r̂ and the per-sample iteration counts.
let inferenceBitsWith (settings: InferenceSettings) (kernel: InferenceKernel) (cfg: Config) (p: Params) (batch: int) =
    let m = Fused.model cfg p
    let s = settings
    let flat (a: float[,]) = Seq.cast<float> a |> Seq.toArray
    let x = flat (randomMatrix 21 0.7 batch cfg.InputDim)
    let rP = flat (randomMatrix 22 0.5 batch cfg.RDim)
    let r2 = flat (randomMatrix 23 0.5 batch cfg.R2Dim)

    let x32, rP32, r232 =
        Array.map float32 x, Array.map float32 rP, Array.map float32 r2

    let outputs (zero: int -> 'T[]) =
        zero (batch * cfg.RDim), zero (batch * cfg.R2Dim), zero (batch * cfg.RDim), Array.zeroCreate<int> batch

    let inf64 =
        let r, r2o, rHat, its = outputs Array.zeroCreate<float>

        let st =
            kernel.Infer(
                m.Double,
                s,
                batch,
                ReadOnlySpan x,
                ReadOnlySpan rP,
                ReadOnlySpan r2,
                Span r,
                Span r2o,
                Span rHat,
                Span its
            )

        st, [ bits64 r; bits64 r2o; bits64 rHat; Array.map int64 its ]

    let inf32 =
        let r, r2o, rHat, its = outputs Array.zeroCreate<float32>

        let st =
            kernel.Infer(
                m.Single,
                s,
                batch,
                ReadOnlySpan x32,
                ReadOnlySpan rP32,
                ReadOnlySpan r232,
                Span r,
                Span r2o,
                Span rHat,
                Span its
            )

        st, [ bits32 r; bits32 r2o; bits32 rHat; Array.map int64 its ]

    let first64 =
        let r, _, _, its = outputs Array.zeroCreate<float>
        let st = kernel.InferFirstStep(m.Double, s, batch, ReadOnlySpan x, Span r, Span its)
        st, [ bits64 r; Array.map int64 its ]

    let first32 =
        let r, _, _, its = outputs Array.zeroCreate<float32>

        let st =
            kernel.InferFirstStep(m.Single, s, batch, ReadOnlySpan x32, Span r, Span its)

        st, [ bits32 r; Array.map int64 its ]

    [
        "inf float64", inf64
        "inf float32", inf32
        "inf_first_step float64", first64
        "inf_first_step float32", first32
    ]

/// `inferenceBitsWith` on one worker.
let private inferenceBits (kernel: InferenceKernel) (cfg: Config) (p: Params) (batch: int) =
    inferenceBitsWith ((Fused.settings cfg).WithThreads 1) kernel cfg p batch

[<Fact>]
let ``Every declared inference variant gives the general kernel's bits`` () =
    for kernel, cfg0 in variants () do
        for cfg in runTimeChoices cfg0 do
            let p = paramsFor cfg 5
            // 37 samples: whole blocks of lanes and a part-filled one, in both precisions.
            let general = inferenceBits GeneralKernel.Kernel cfg p 37
            let variant = inferenceBits kernel cfg p 37

            for (what, (stG, bitsG)), (_, (stV, bitsV)) in List.zip general variant do
                let name = $"{kernel.Variant.Name} {what} ({cfg.BatchScaling}, {cfg.Convergence})"
                Assert.True(stG.Iterations > 1, $"{name}: the general kernel ran {stG.Iterations} iteration(s)")
                Assert.True((stG = stV), $"{name}: stats {stV} differ from the general kernel's {stG}")

                List.iteri2
                    (fun i (g: int64[]) (v: int64[]) ->
                        let differ = Array.fold2 (fun n a b -> if a = b then n else n + 1) 0 g v

                        Assert.True(
                            (differ = 0),
                            $"{name}: output {i} differs from the general kernel's in {differ} of {g.Length} values"
                        ))
                    bitsG
                    bitsV

[<Fact>]
let ``Every declared training variant gives the general kernel's terms and gradients exactly`` () =
    for kernel, cfg in variants () do
        let p = paramsFor cfg 9
        let traj = randomTrajectory cfg 31 37 3 true

        for float32 in [ false; true ] do
            let shape = FusedObjective.shape cfg

            let run (k: InferenceKernel) =
                FusedObjective.termsOn (k.CreateTraining(shape, float32)) cfg p traj

            let general = run GeneralKernel.Kernel
            let variant = run kernel

            Assert.True(
                (general = variant),
                $"{kernel.Variant.Name} float32={float32}: terms or gradients differ from the general kernel's"
            )
