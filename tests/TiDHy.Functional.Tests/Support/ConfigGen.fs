/// The FsCheck generators of configurations that the property tests share (fused kernels against
/// the reference path, the fused objective and step, autograd against the hand-derived gradients):
/// sizes drawn from ranges, and the model and inference options such tests vary.
module TiDHy.Functional.Tests.ConfigGen

open FsCheck
open FsCheck.FSharp
open TiDHy.Functional

/// Inclusive ranges of the generated sizes.
type Sizes =
    {
        Input: int * int
        R: int * int
        R2: int * int
        Mix: int * int
        Hidden: int * int
        R2Hidden: int * int
    }

/// Sizes small enough for hundreds of property runs: `D` 1–7, `R` 1–6, `R2` 1–4, `M` 1–5, the
/// hypernetwork's hidden size 1–9 and the r2 decoder's 1–7.
let smallSizes =
    {
        Input = (1, 7)
        R = (1, 6)
        R2 = (1, 4)
        Mix = (1, 5)
        Hidden = (1, 9)
        R2Hidden = (1, 7)
    }

/// `false` or `true`.
let flag = Gen.elements [ false; true ]

/// Every loss: MSE, BCE, Poisson.
let loss = Gen.elements [ LossKind.MSE; LossKind.BCE; LossKind.Poisson ]

/// Every convergence rule.
let convergence =
    Gen.elements [ Convergence.Batch; Convergence.AllSamples; Convergence.PerSample ]

/// Both batch scalings.
let batchScaling = Gen.elements [ BatchScaling.BatchMean; BatchScaling.PerSample ]

/// `baseCfg` with its sizes drawn from `sizes`, a loss, and each of the four model switches on or
/// off (nonlinear decoder, low-rank dynamics, dynamic bias, r2 decoder).
let model (sizes: Sizes) (baseCfg: Config) : Gen<Config> =
    gen {
        let! d = Gen.choose sizes.Input
        let! r = Gen.choose sizes.R
        let! r2 = Gen.choose sizes.R2
        let! m = Gen.choose sizes.Mix
        let! h = Gen.choose sizes.Hidden
        let! h2 = Gen.choose sizes.R2Hidden
        let! loss = loss
        let! nonlin = flag
        let! lowRank = flag
        let! dynBias = flag
        let! r2Dec = flag

        return
            { baseCfg with
                InputDim = d
                RDim = r
                R2Dim = r2
                MixDim = m
                HyperHidDim = h
                R2DecoderHidDim = h2
                Loss = loss
                NonlinDecoder = nonlin
                LowRankTemp = lowRank
                DynBias = dynBias
                UseR2Decoder = r2Dec
            }
    }
