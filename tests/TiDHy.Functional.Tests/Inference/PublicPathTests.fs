/// The public inference path without per-call copies (`Fused.infer` reading and writing the callers'
/// arrays in place, float32 staging buffers per thread; `Forward`'s loss terms without an array per
/// sample): bit for bit what the per-call path (flatten, convert, fresh arrays) and the per-sample
/// definitions give, for both fused backends, and the same bits under concurrent callers.
[<Xunit.Collection("Allocation counts, run alone")>]
module TiDHy.Functional.Tests.PublicPathTests

open System
open System.Threading.Tasks
open TiDHy.Functional
open FsCheck.FSharp
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

/// Every loss with both decoders at D = 6 and D = 20 (SIMD lanes and a scalar tail).
let private lossConfigs =
    [
        for shape in [ smallConfig; slds Backend.Fused ] do
            for loss in [ LossKind.MSE; LossKind.BCE; LossKind.Poisson ] do
                for nonlin in [ false; true ] do
                    { shape with
                        Loss = loss
                        NonlinDecoder = nonlin
                    }
    ]

[<Fact>]
let ``The loss terms without per-sample arrays give the bits of the per-sample definition`` () =
    for cfg in lossConfigs do
        let loss, nonlin = cfg.Loss, cfg.NonlinDecoder
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
let ``The first step's loss with r = 0 decoded once gives the bits of the loss of every zero row`` () =
    // Every loss, both decoders, with and without bias.
    for cfg in lossConfigs do
        let loss, nonlin = cfg.Loss, cfg.NonlinDecoder
        let p = Init.ofSeed cfg 5
        let x = randomMatrix 21 0.5 29 cfg.InputDim |> Array2D.map (fun v -> abs v % 1.0)
        let zeros = Array2D.zeroCreate<float> 29 cfg.RDim

        Assert.Equal(
            BitConverter.DoubleToInt64Bits(Forward.spatialLoss cfg p x zeros),
            BitConverter.DoubleToInt64Bits(Forward.spatialLossAtZero cfg p x zeros)
        )

[<Fact>]
let ``The float32 staging conversions in SIMD lanes give the bits of the scalar conversions`` () =
    // Lengths around the lane counts (a SIMD part and a scalar tail), values that round when narrowed.
    for n in [ 0; 1; 3; 7; 8; 9; 15; 16; 17; 33; 250 ] do
        let z = Random.normal (Random.key (40 + n)) (max n 1)

        let src =
            Array.init n (fun i -> z[i] * (if i % 3 = 0 then 1e-30 else 1e3) + 1.0 / 3.0)

        let narrowed = Array.zeroCreate<float32> n
        Fused.narrow (ReadOnlySpan src) (Span narrowed)
        // Bit for bit (float32 equality would let −0 and 0 pass as equal).
        let bits32 (a: float32[]) =
            Array.map BitConverter.SingleToInt32Bits a

        Assert.Equal<int[]>(bits32 (Array.map float32 src), bits32 narrowed)
        let widened = Array.zeroCreate<float> n
        Fused.widen (ReadOnlySpan narrowed) (Span widened)
        Assert.Equal<int64[]>(Array.map (float >> BitConverter.DoubleToInt64Bits) narrowed, toBits widened)

[<Fact>]
let ``The finite checks find a NaN or an infinity anywhere, SIMD lanes and tail, and pass finite extremes`` () =
    let finite =
        Array2D.init 3 7 (fun i j -> if (i + j) % 2 = 0 then Double.MaxValue else -Double.Epsilon)

    Shape.checkFiniteMatrix "a" finite
    Shape.checkFiniteArray3 "X" (Array3D.init 3 7 5 (fun i j k -> finite[i, j] * 0.5 * float (k - 2)))

    for bad in [ nan; infinity; -infinity ] do
        for k in 0 .. 3 * 7 - 1 do
            let a = Array2D.copy finite
            a[k / 7, k % 7] <- bad
            let ex = Assert.Throws<ArgumentException>(fun () -> Shape.checkFiniteMatrix "a" a)
            Assert.Contains($"entry {k} (row-major)", ex.Message)

        for k in [ 0; 4; 5; 3 * 7 * 5 - 1 ] do
            let X = Array3D.zeroCreate<float> 3 7 5
            X[k / 35, k / 5 % 7, k % 5] <- bad
            let ex = Assert.Throws<ArgumentException>(fun () -> Shape.checkFiniteArray3 "X" X)
            Assert.Contains($"entry {k} (row-major)", ex.Message)

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

// ---- forwardInto: the caller-owned buffers of the public inference path ----

/// Every output of a forward pass as bits: the four losses, `RFirst`, each state's `r` and `r2`,
/// the final carry, `R2Last`, the iterations and the convergence flags.
let private resultBits (res: ForwardResult) =
    [
        yield
            toBits
                [|
                    res.Losses.SpatialLossRHat
                    res.Losses.SpatialLossRBar
                    res.Losses.TempLoss
                    res.Losses.R2Loss
                |]
        yield bits res.RFirst
        for s in res.States do
            yield bits s.R
            yield bits s.R2
        yield bits res.Final.R
        yield bits res.Final.R2
        yield bits res.R2Last
        yield res.Iterations |> Array.map int64
        yield res.Converged |> Array.map (fun c -> if c then 1L else 0L)
    ]

/// The same outputs read from the buffers after `forwardInto`.
let private bufferBits (b: ForwardBuffers) =
    [
        yield
            toBits
                [|
                    b.Losses.SpatialLossRHat
                    b.Losses.SpatialLossRBar
                    b.Losses.TempLoss
                    b.Losses.R2Loss
                |]
        yield bits b.RFirst
        for s in b.States do
            yield bits s.R
            yield bits s.R2
        yield bits b.Final.R
        yield bits b.Final.R2
        yield bits b.Final.R2
        yield b.Iterations |> Array.map int64
        yield b.Converged |> Array.map (fun c -> if c then 1L else 0L)
    ]

/// A window `[batch; time; D]` of N(0, 0.25) draws from `seed`.
let private window (seed: int) (batch: int) (time: int) (d: int) =
    let z = Random.normal (Random.key seed) (batch * time * d)
    Array3D.init batch time d (fun b t k -> 0.5 * z[(b * time + t) * d + k])

/// A carry of N(0, 0.09) draws from `seed`.
let private carry (cfg: Config) (seed: int) (batch: int) =
    {
        R = randomMatrix seed 0.3 batch cfg.RDim
        R2 = randomMatrix (seed + 1) 0.3 batch cfg.R2Dim
    }

let private copyCarry (c: Carry) =
    {
        R = Array2D.copy c.R
        R2 = Array2D.copy c.R2
    }

[<Fact>]
let ``forwardInto gives the bits of forward, both fused backends, several batch sizes, with and without a carry`` () =
    for backend in backends do
        for cfg in configs backend do
            let p = Init.ofSeed cfg 5

            for batch in [ 1; 7; 64; 300 ] do
                for withCarry in [ false; true ] do
                    let time = 3
                    let X = window (batch + 31) batch time cfg.InputDim
                    let init = if withCarry then Some(carry cfg 41 batch) else None
                    let expected = Forward.forward cfg p init X |> resultBits
                    let buffers = Forward.buffers cfg batch time withCarry
                    Forward.forwardInto cfg p init X buffers

                    Assert.True(
                        (bufferBits buffers = expected),
                        $"{backend}, D = {cfg.InputDim}, nonlinear {cfg.NonlinDecoder}, {cfg.Convergence}, batch {batch}, carry {withCarry}"
                    )

[<Fact>]
let ``forwardInto with the reference backend gives the bits of forward`` () =
    for cfg in
        [
            { smallConfig with
                Backend = Backend.Reference
            }
            { smallConfig with
                Backend = Backend.Reference
                UseR2Decoder = true
            }
        ] do
        let p = Init.ofSeed cfg 3

        for batch in [ 1; 9 ] do
            let X = window 5 batch 3 cfg.InputDim
            let buffers = Forward.buffers cfg batch 3 false
            Forward.forwardInto cfg p None X buffers
            let expected = Forward.forward cfg p None X |> resultBits
            Assert.True((bufferBits buffers = expected), $"reference, r2 decoder {cfg.UseR2Decoder}, batch {batch}")

[<Fact>]
let ``Property: forwardInto gives the bits of forward for random models, batches and windows`` () =
    let problems =
        gen {
            let! model = ConfigGen.model ConfigGen.smallSizes (Config.defaults 1)
            let! scaling = ConfigGen.batchScaling
            let! convergence = ConfigGen.convergence
            let! backend = Gen.elements backends
            let! batch = Gen.choose (1, 40)
            let! time = Gen.choose (2, 4)
            let! withCarry = Gen.elements [ false; true ]
            let! seed = Gen.choose (0, 1_000_000)
            let! maxIter = Gen.choose (10, 30)
            let! tol = Gen.elements [ 0.0; 1e-3 ]

            let cfg =
                { model with
                    Backend = backend
                    BatchScaling = scaling
                    Convergence = convergence
                    MaxIter = maxIter
                    Tol = tol
                    LrR = 0.05
                    LrR2 = 0.05
                }

            return cfg, batch, time, withCarry, seed
        }

    let property (cfg: Config, batch, time, withCarry, seed) =
        let p = Init.ofSeed cfg seed
        // Observations in [0, 1): in every loss's domain.
        let X = window seed batch time cfg.InputDim |> Array3D.map (fun v -> abs v % 1.0)
        let init = if withCarry then Some(carry cfg (seed + 1) batch) else None

        let outcome run =
            try
                Ok(run ())
            with :? TiDHy.Kernels.InferenceDivergedException as e ->
                Error e.Message

        let expected = outcome (fun () -> Forward.forward cfg p init X |> resultBits)
        let buffers = Forward.buffers cfg batch time withCarry

        let got =
            outcome (fun () ->
                Forward.forwardInto cfg p init X buffers
                bufferBits buffers)

        got = expected

    FsCheck.Check.One(propertyRuns 40, Prop.forAll (Arb.fromGen problems) property)

[<Fact>]
let ``The same buffers reused across calls give each call's own result`` () =
    for backend in backends do
        let cfg = slds backend
        let p = Init.ofSeed cfg 11
        let batch = 24
        // Three inference steps either way: a window of 4 without a carry, of 3 with one.
        let buffers = Forward.buffers cfg batch 4 false
        let X1 = window 1 batch 3 cfg.InputDim
        let X2 = window 2 batch 4 cfg.InputDim
        let X3 = window 3 batch 3 cfg.InputDim
        let c1 = carry cfg 7 batch

        // With a carry (RFirst and R2First filled), then without one (they must be zeros again).
        Forward.forwardInto cfg p (Some c1) X1 buffers
        let got1 = bufferBits buffers
        Assert.True((got1 = resultBits (Forward.forward cfg p (Some c1) X1)), $"{backend}: first call")
        Forward.forwardInto cfg p None X2 buffers
        let expected2 = Forward.forward cfg p None X2
        Assert.True((bufferBits buffers = resultBits expected2), $"{backend}: second call")
        Assert.False((got1 = bufferBits buffers), $"{backend}: the two calls gave the same bits")

        // Stateful chaining through the buffers' own final state.
        let final2 = copyCarry buffers.Final
        Forward.forwardInto cfg p (Some buffers.Final) X3 buffers

        Assert.True(
            (bufferBits buffers = resultBits (Forward.forward cfg p (Some final2) X3)),
            $"{backend}: chained call"
        )

let private expectBufferError (name: string) (expected: string) (given: string) (run: unit -> unit) =
    let e = Assert.ThrowsAny<ArgumentException>(run)
    Assert.Equal(name, e.ParamName)
    Assert.Contains($"{name}: expected shape {expected}, got {given}", e.Message)

[<Fact>]
let ``Buffers of the wrong shape are rejected with the buffer's name and the expected and given shapes`` () =
    let cfg =
        { smallConfig with
            Backend = Backend.Fused
        }

    let p = Init.ofSeed cfg 1
    let X = window 1 8 3 cfg.InputDim
    let good () = Forward.buffers cfg 8 3 false
    // R = 4, R2 = 3, D = 6; 8 samples, 2 steps.
    let b = good ()

    expectBufferError "buffers.RFirst" "[8; 4]" "[7; 4]" (fun () ->
        Forward.forwardInto
            cfg
            p
            None
            X
            { b with
                RFirst = Array2D.zeroCreate 7 4
            })

    expectBufferError "buffers.R2First" "[8; 3]" "[8; 4]" (fun () ->
        Forward.forwardInto
            cfg
            p
            None
            X
            { b with
                R2First = Array2D.zeroCreate 8 4
            })

    expectBufferError "buffers.States" "[2]" "[3]" (fun () ->
        Forward.forwardInto cfg p None X (Forward.buffers cfg 8 3 true))

    let states = Array.copy b.States

    states[1] <-
        { states[1] with
            R2 = Array2D.zeroCreate 8 2
        }

    expectBufferError "buffers.States[1].R2" "[8; 3]" "[8; 2]" (fun () ->
        Forward.forwardInto cfg p None X { b with States = states })

    expectBufferError "buffers.Iterations" "[2]" "[1]" (fun () ->
        Forward.forwardInto
            cfg
            p
            None
            X
            { b with
                Iterations = Array.zeroCreate 1
            })

    expectBufferError "buffers.SampleIterations" "[8]" "[16]" (fun () ->
        Forward.forwardInto
            cfg
            p
            None
            X
            { b with
                SampleIterations = Array.zeroCreate 16
            })

    expectBufferError "buffers.Input" "[8; 6]" "[8; 5]" (fun () ->
        Forward.forwardInto
            cfg
            p
            None
            X
            { b with
                Input = Array2D.zeroCreate 8 5
            })

    // Buffers for another batch size: the first buffer named.
    expectBufferError "buffers.RFirst" "[8; 4]" "[16; 4]" (fun () ->
        Forward.forwardInto cfg p None X (Forward.buffers cfg 16 3 false))

    Assert.Throws<ArgumentNullException>(fun () -> Forward.forwardInto cfg p None X (Unchecked.defaultof<_>))
    |> ignore

    Assert.Throws<ArgumentException>(fun () -> Forward.buffers cfg 0 3 false |> ignore)
    |> ignore

    Assert.Throws<ArgumentException>(fun () -> Forward.buffers cfg 8 1 false |> ignore)
    |> ignore
    // The good buffers still work after all that.
    Forward.forwardInto cfg p None X b
    Assert.True((bufferBits b = resultBits (Forward.forward cfg p None X)))

[<Fact>]
let ``Concurrent forwardInto calls with their own buffers give the bits of serial forward passes`` () =
    let cases =
        [|
            for backend in backends do
                for cfg in [ slds backend; { smallConfig with Backend = backend } ] do
                    for batch in [ 3; 40; 260 ] do
                        let p = Init.ofSeed cfg 7
                        cfg, p, window batch batch 3 cfg.InputDim
        |]

    let serial =
        cases
        |> Array.map (fun (cfg, p, X) -> Forward.forward cfg p None X |> resultBits)

    let order = Array.init (3 * cases.Length) (fun i -> (i * 5) % cases.Length)

    let buffers =
        order
        |> Array.map (fun c ->
            let cfg, _, X = cases[c]
            Forward.buffers cfg (Array3D.length1 X) 3 false)

    let concurrent = Array.zeroCreate order.Length

    Parallel.For(
        0,
        order.Length,
        ParallelOptions(MaxDegreeOfParallelism = 8),
        fun i ->
            let cfg, p, X = cases[order[i]]
            Forward.forwardInto cfg p None X buffers[i]
            concurrent[i] <- bufferBits buffers[i]
    )
    |> ignore

    for i, c in Array.indexed order do
        let cfg, _, X = cases[c]

        Assert.True(
            (concurrent[i] = serial[c]),
            $"{cfg.Backend}, batch {Array3D.length1 X}: a concurrent forwardInto differs from the serial forward pass"
        )

/// The fewest bytes this thread allocated in one of 3 calls of `run` (after 3 warm-up calls).
let private threadAllocations (run: unit -> unit) =
    for _ in 1..3 do
        run ()

    [
        for _ in 1..3 do
            let before = GC.GetAllocatedBytesForCurrentThread()
            run ()
            GC.GetAllocatedBytesForCurrentThread() - before
    ]
    |> List.min

[<Fact>]
let ``forwardInto allocates nothing that grows with the batch, where forward allocates per sample`` () =
    for backend in backends do
        let cfg = { slds backend with MaxIter = 10 }
        let p = Init.ofSeed cfg 2

        let perCall batch =
            let X = window batch batch 3 cfg.InputDim
            let buffers = Forward.buffers cfg batch 3 false

            threadAllocations (fun () -> Forward.forwardInto cfg p None X buffers),
            threadAllocations (fun () -> Forward.forward cfg p None X |> ignore)

        let newSmall, oldSmall = perCall 16
        let newLarge, oldLarge = perCall 1024
        // The old path's result alone: r, r2 of the zero carry and of 2 steps, and 2 r̂, all float64.
        let resultBytes =
            int64 (1024 - 16) * int64 (8 * (3 * (cfg.RDim + cfg.R2Dim) + 2 * cfg.RDim))
        // The check can fail: the allocating path grows by at least its results' bytes.
        Assert.True(oldLarge - oldSmall >= resultBytes, $"{backend}: forward {oldSmall} → {oldLarge} bytes")

        Assert.True(
            newLarge - newSmall < 512L,
            $"{backend}: forwardInto allocated {newSmall} bytes at batch 16, {newLarge} at batch 1024"
        )

[<Fact>]
let ``Inference.inferInto in batches allocates nothing per batch`` () =
    // Each batch is one kernel call: the call's settings and packed model are looked up, not made
    // again (before, each call made its settings record and a lookup closure: about 250 bytes).
    for backend in backends do
        let cfg = { slds backend with MaxIter = 10 }
        let p = Init.ofSeed cfg 2

        let bytes batch batchSize =
            let x = randomMatrix 21 0.7 batch cfg.InputDim
            let rP = randomMatrix 22 0.5 batch cfg.RDim
            let r2 = randomMatrix 23 0.5 batch cfg.R2Dim

            let r, r2o, rHat =
                Array2D.zeroCreate batch cfg.RDim, Array2D.zeroCreate batch cfg.R2Dim, Array2D.zeroCreate batch cfg.RDim

            let iters = Array.zeroCreate batch

            threadAllocations (fun () -> Inference.inferInto cfg p x rP r2 batchSize r r2o rHat iters |> ignore)

        let one = bytes 16 16
        let many = bytes 1024 16

        Assert.True(
            many - one < 512L,
            $"{backend}: inferInto allocated {one} bytes for one batch of 16, {many} for 64 batches of 16"
        )

[<Fact>]
let ``Inference.inferInto gives the bits of infer on each batch of rows, every backend`` () =
    for backend in Backend.Reference :: backends do
        for cfg in configs backend do
            let p = Init.ofSeed cfg 5

            for batch, batchSize in [ 1, 4; 7, 7; 33, 8; 300, 64 ] do
                let x = randomMatrix 21 0.7 batch cfg.InputDim
                let rP = randomMatrix 22 0.5 batch cfg.RDim
                let r2 = randomMatrix 23 0.5 batch cfg.R2Dim
                let r = Array2D.zeroCreate batch cfg.RDim
                let r2Out = Array2D.zeroCreate batch cfg.R2Dim
                let rHat = Array2D.zeroCreate batch cfg.RDim
                let iters = Array.zeroCreate batch

                let struct (iterations, converged) =
                    Inference.inferInto cfg p x rP r2 batchSize r r2Out rHat iters

                // The expected rows: `infer` on each batch's rows copied out, joined.
                let parts =
                    [
                        for start in 0..batchSize .. batch - 1 do
                            let n = min batchSize (batch - start)
                            let rows (a: float[,]) = a[start .. start + n - 1, *]
                            Inference.infer cfg p (rows x) (rows rP) (rows r2)
                    ]

                let joined (f: InferResult -> float[,]) =
                    parts |> List.map (f >> flat) |> Array.concat

                let what = $"{backend}, D = {cfg.InputDim}, batch {batch} in batches of {batchSize}"
                Assert.True((toBits (joined _.R) = bits r), $"{what}: r")
                Assert.True((toBits (joined _.R2) = bits r2Out), $"{what}: r2")
                Assert.True((toBits (joined _.RHat) = bits rHat), $"{what}: rHat")
                Assert.Equal<int[]>(parts |> List.map _.SampleIterations |> Array.concat, iters)
                Assert.Equal(parts |> List.map _.Iterations |> List.max, iterations)
                Assert.Equal(parts |> List.forall _.Converged, converged)

    let cfg =
        { smallConfig with
            Backend = Backend.Fused
        }

    let p = Init.ofSeed cfg 5
    let x = randomMatrix 1 0.7 5 cfg.InputDim
    let rP = randomMatrix 2 0.5 5 cfg.RDim
    let r2 = randomMatrix 3 0.5 5 cfg.R2Dim

    let e =
        Assert.ThrowsAny<ArgumentException>(fun () ->
            Inference.inferInto
                cfg
                p
                x
                rP
                r2
                4
                (Array2D.zeroCreate 5 cfg.RDim)
                (Array2D.zeroCreate 6 cfg.R2Dim)
                (Array2D.zeroCreate 5 cfg.RDim)
                (Array.zeroCreate 5)
            |> ignore)

    Assert.Equal("r2Out", e.ParamName)
    Assert.Contains("r2Out: expected shape [5; 3], got [6; 3]", e.Message)

    let e =
        Assert.ThrowsAny<ArgumentException>(fun () ->
            Inference.inferInto
                cfg
                p
                x
                rP
                r2
                4
                (Array2D.zeroCreate 5 cfg.RDim)
                (Array2D.zeroCreate 5 cfg.R2Dim)
                (Array2D.zeroCreate 5 cfg.RDim)
                (Array.zeroCreate 4)
            |> ignore)

    Assert.Equal("sampleIterations", e.ParamName)
    Assert.Contains("sampleIterations: expected shape [5], got [4]", e.Message)
