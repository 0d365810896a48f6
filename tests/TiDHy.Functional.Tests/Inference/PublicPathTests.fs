/// The public inference path without per-call copies (`Fused.infer` reading and writing the callers'
/// arrays in place, float32 staging buffers per thread; `Forward`'s loss terms without an array per
/// sample): bit for bit what the per-call path (flatten, convert, fresh arrays) and the per-sample
/// definitions give, for both fused backends, and the same bits under concurrent callers.
module TiDHy.Functional.Tests.PublicPathTests

open System
open System.Threading.Tasks
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private bits (a: float[,]) =
    Seq.cast<float> a |> Seq.map BitConverter.DoubleToInt64Bits |> Seq.toArray

let private flat (a: float[,]) = Seq.cast<float> a |> Seq.toArray

let private slds backend =
    { Config.defaults 20 with
        RDim = 10
        R2Dim = 5
        MixDim = 15
        HyperHidDim = 50
        MaxIter = 20
        Tol = 1e-4
        Backend = backend
    }

let private configs backend =
    [
        { smallConfig with Backend = backend }
        slds backend
        { smallConfig with
            Backend = backend
            NonlinDecoder = true
            DynBias = true
        }
        { smallConfig with
            Backend = backend
            Convergence = Convergence.PerSample
        }
    ]

let private backends = [ Backend.Fused; Backend.FusedFloat32 ]

let private toBits (a: float[]) =
    a |> Array.map BitConverter.DoubleToInt64Bits

[<Fact>]
let ``Fused inference in place gives the bits of the per-call path, both backends, any batch order`` () =
    for backend in backends do
        for cfg in configs backend do
            let p = Init.ofSeed cfg 5
            let f32 = (backend = Backend.FusedFloat32)
            let precision = if f32 then "float32" else "float64"

            // The outputs' bits in the kernel's precision (float32 → float64 → float32 is exact).
            let outBits (a: float[,]) =
                if f32 then
                    flat a |> Array.map (float32 >> BitConverter.SingleToInt32Bits >> int64)
                else
                    flat a |> toBits

            // A large batch, then smaller ones: the staging buffers are reused, never stale.
            for batch in [ 300; 7; 64; 1 ] do
                // `inferenceBitsWith`'s inputs, which it passes to the kernel as fresh flat arrays.
                let x = randomMatrix 21 0.7 batch cfg.InputDim
                let rP = randomMatrix 22 0.5 batch cfg.RDim
                let r2 = randomMatrix 23 0.5 batch cfg.R2Dim

                let perCall =
                    KernelVariantTests.inferenceBitsWith (Fused.settings cfg) (Fused.kernel cfg) cfg p batch
                    |> Map.ofList

                let what = $"{backend}, {(Fused.kernel cfg).Variant.Name}, batch {batch}"
                let got = Fused.infer cfg p x rP r2
                let st, expected = perCall[$"inf {precision}"]
                let its (a: int[]) = Array.map int64 a

                Assert.True(
                    (expected = [ outBits got.R; outBits got.R2; outBits got.RHat; its got.SampleIterations ]),
                    $"{what}: inf"
                )

                Assert.Equal((st.Iterations, st.Converged), (got.Iterations, got.Converged))
                let first = Fused.inferFirstStep cfg p x
                let stFirst, expectedFirst = perCall[$"inf_first_step {precision}"]

                Assert.True(
                    (expectedFirst = [ outBits first.R; its first.SampleIterations ]),
                    $"{what}: inf_first_step"
                )

                Assert.Equal((stFirst.Iterations, stFirst.Converged), (first.Iterations, first.Converged))

[<Fact>]
let ``The loss terms without per-sample arrays give the bits of the per-sample definition`` () =
    // D = 6 and D = 20: SIMD lanes and a scalar tail.
    for shape in [ smallConfig; slds Backend.Fused ] do
        for loss in [ LossKind.MSE; LossKind.BCE; LossKind.Poisson ] do
            for nonlin in [ false; true ] do
                let cfg =
                    { shape with
                        Loss = loss
                        NonlinDecoder = nonlin
                    }

                let p = Init.ofSeed cfg 9
                let batch = 37
                // Observations in every loss's domain ([0, 1] for BCE, ≥ 0 for Poisson).
                let x = randomMatrix 11 0.5 batch cfg.InputDim |> Array2D.map (fun v -> abs v % 1.0)
                // Any latents: a Poisson mean below 0 gives NaN, compared bit for bit like any value.
                let r = randomMatrix 12 0.3 batch cfg.RDim
                let rHat = randomMatrix 13 0.3 batch cfg.RDim
                let a = Forward.stepLosses cfg p x r rHat
                let b = Forward.stepLossesPerSample cfg p x r rHat
                let triple (u, v, w) = [| u; v; w |] |> toBits
                Assert.True((triple a = triple b), $"D = {cfg.InputDim}, {loss}, nonlinear {nonlin}: {a} vs {b}")
                let spatial = Forward.spatialLoss cfg p x r

                Assert.Equal(
                    BitConverter.DoubleToInt64Bits(Loss.batch cfg.Loss (Model.decode cfg p r) x),
                    BitConverter.DoubleToInt64Bits spatial
                )

[<Fact>]
let ``timeStep copies step t of every sample`` () =
    let z = Random.normal (Random.key 3) (5 * 4 * 6)
    let X = Array3D.init 5 4 6 (fun b t d -> z[(b * 4 + t) * 6 + d])

    for t in 0..3 do
        Assert.Equal<float[]>(flat (Array2D.init 5 6 (fun b d -> X[b, t, d])), flat (Forward.timeStep X t))

[<Fact>]
let ``Concurrent forward passes give the bits of the same passes made one at a time`` () =
    let cases =
        [|
            for backend in backends do
                for cfg in [ slds backend; { smallConfig with Backend = backend } ] do
                    for batch in [ 3; 40; 260 ] do
                        let p = Init.ofSeed cfg 7
                        let z = Random.normal (Random.key batch) (batch * 3 * cfg.InputDim)

                        let X =
                            Array3D.init batch 3 cfg.InputDim (fun b t d -> 0.5 * z[(b * 3 + t) * cfg.InputDim + d])

                        cfg, p, X
        |]

    let outcome (cfg, p, X) =
        let res = Forward.forward cfg p None X

        [
            yield
                toBits
                    [|
                        res.Losses.SpatialLossRHat
                        res.Losses.SpatialLossRBar
                        res.Losses.TempLoss
                        res.Losses.R2Loss
                    |]
            for s in res.States do
                yield bits s.R
                yield bits s.R2
        ],
        res.Iterations

    let alone = cases |> Array.map outcome
    let order = Array.init (3 * cases.Length) (fun i -> (i * 5) % cases.Length)
    let concurrent = Array.zeroCreate order.Length

    Parallel.For(
        0,
        order.Length,
        ParallelOptions(MaxDegreeOfParallelism = 8),
        fun i -> concurrent[i] <- outcome cases[order[i]]
    )
    |> ignore

    for i, c in Array.indexed order do
        let cfg, _, X = cases[c]

        Assert.True(
            (concurrent[i] = alone[c]),
            $"{cfg.Backend}, batch {Array3D.length1 X}: a concurrent forward pass differs from the pass made alone"
        )
