/// Properties of the forward pieces of `Model`: the hypernetwork's sign, the temporal prediction as
/// a mixture linear in its weights, the spatial decoder's range and row independence, and the
/// shape errors of the batch functions.
module TiDHy.Functional.Tests.ModelTests

open FsCheck
open FsCheck.FSharp
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// Runs a property; a counterexample fails the test.
let private check (property: Property) = Check.One(propertyRuns 100, property)

/// Finite floats uniform on [lo, hi), at a resolution of 2⁻⁵³·(hi − lo).
let private floatIn (lo: float) (hi: float) =
    Gen.choose64 (0L, (1L <<< 53) - 1L)
    |> Gen.map (fun i -> lo + (hi - lo) * (float i / 9007199254740992.0))

/// A `[rows; cols]` matrix with entries uniform on [lo, hi).
let private matrixIn (lo: float) (hi: float) (rows: int) (cols: int) =
    Gen.arrayOfLength (rows * cols) (floatIn lo hi)
    |> Gen.map (fun xs -> Array2D.init rows cols (fun i j -> xs[i * cols + j]))

let private seeds = Gen.choose (0, 1_000_000)
let private bools = Gen.elements [ false; true ]

let private flat (a: 'T[,]) = Seq.cast<'T> a |> Seq.toArray
let private flat3 (a: float[,,]) = Seq.cast<float> a |> Seq.toArray

/// `|a − b| ≤ tol·(1 + max|b|)` entrywise.
let private allNear (tol: float) (a: float[]) (b: float[]) =
    let scale = 1.0 + (b |> Array.fold (fun m x -> max m (abs x)) 0.0)
    a.Length = b.Length && Array.forall2 (fun x y -> abs (x - y) <= tol * scale) a b

/// `V_t` of sample `s` as a matrix `[R; R]`.
let private vtOf (vt: float[,,]) (s: int) =
    Array2D.init (Array3D.length2 vt) (Array3D.length3 vt) (fun i j -> vt[s, i, j])

/// `A·x` written out, independent of `Numerics.matVec`.
let private apply (a: float[,]) (x: float[]) =
    [|
        for i in 0 .. Array2D.length1 a - 1 -> Seq.sum (seq { for j in 0 .. x.Length - 1 -> a[i, j] * x[j] })
    |]

/// `Σ_k w_k·V_k` written out.
let private mixture (vs: float[,][]) (w: float[]) =
    let r = Array2D.length1 vs[0]
    Array2D.init r r (fun i j -> Seq.sum (seq { for k in 0 .. w.Length - 1 -> w[k] * vs[k][i, j] }))

/// `smallConfig` with the given temporal rank and dynamic bias.
let private temporalConfig (lowRank: bool) (dynBias: bool) =
    { smallConfig with
        LowRankTemp = lowRank
        DynBias = dynBias
    }

/// `p` with its hypernetwork rewired to output the constant `wb [O]` for every `r2` (`wb ≥ 0`, so
/// the final ReLU passes it unchanged): the hidden layer outputs the unit vector `e_0`, and the
/// output layer's first column is `wb`. This lets a test choose the mixture weights.
let private withHypernetOutput (p: Params) (wb: float[]) =
    let h = p.Hypernet
    let hid = Array2D.length1 h.Hidden.Weight

    { p with
        Hypernet =
            { h with
                Hidden =
                    {
                        Weight = Array2D.zeroCreate hid hid
                        Bias = Some(Array.init hid (fun i -> if i = 0 then 1.0 else 0.0))
                    }
                Output =
                    {
                        Weight = Array2D.init wb.Length hid (fun o i -> if i = 0 then wb[o] else 0.0)
                        Bias = h.Output.Bias |> Option.map (fun b -> Array.zeroCreate b.Length)
                    }
            }
    }

// ---------------------------------------------------------------------------------------------
// Hypernetwork

[<Fact>]
let ``hypernet outputs are nonnegative for random parameters and inputs`` () =
    let cases =
        gen {
            let! seed = seeds
            let! dynBias = bools
            let! batch = Gen.choose (1, 4)
            let! r2 = matrixIn -10.0 10.0 batch smallConfig.R2Dim
            return seed, dynBias, r2
        }

    Prop.forAll (Arb.fromGen cases) (fun (seed, dynBias, r2) ->
        let cfg = { smallConfig with DynBias = dynBias }
        let wb = Model.hypernet cfg (Init.init cfg (Random.key seed)) r2
        let outDim = if dynBias then cfg.MixDim + cfg.RDim else cfg.MixDim

        Array2D.length1 wb = Array2D.length1 r2
        && Array2D.length2 wb = outDim
        && flat wb |> Array.forall (fun x -> x >= 0.0 && System.Double.IsFinite x))
    |> check

// ---------------------------------------------------------------------------------------------
// Temporal prediction

[<Fact>]
let ``full rank dynamics matrices are the rows of temporal reshaped row-major`` () =
    Prop.forAll (Arb.fromGen seeds) (fun seed ->
        let cfg = temporalConfig false false
        let p = Init.init cfg (Random.key seed)
        let r = cfg.RDim

        match p.Temporal with
        | FullRank t ->
            let vs = Model.dynamicsMatrices p

            vs.Length = cfg.MixDim
            && vs
               |> Array.mapi (fun k v -> Array2D.length1 v = r && Array2D.length2 v = r && flat v = Numerics.row t k)
               |> Array.forall id
        | LowRank _ -> false)
    |> check

[<Fact>]
let ``low rank dynamics matrices are U times U transposed, symmetric and positive semidefinite`` () =
    let cfg = temporalConfig true false
    let m, r = cfg.MixDim, cfg.RDim

    let cases =
        gen {
            let! u = Gen.arrayOfLength (m * r * 2) (floatIn -2.0 2.0)
            let! x = Gen.arrayOfLength r (floatIn -3.0 3.0)
            return Array3D.init m r 2 (fun k i c -> u[(k * r + i) * 2 + c]), x
        }

    let p0 = Init.init cfg (Random.key 1)

    Prop.forAll (Arb.fromGen cases) (fun (u, x) ->
        let vs = Model.dynamicsMatrices { p0 with Temporal = LowRank u }

        vs.Length = m
        && vs
           |> Array.mapi (fun k v ->
               let uut =
                   Array2D.init r r (fun i j -> u[k, i, 0] * u[k, j, 0] + u[k, i, 1] * u[k, j, 1])

               let symmetric =
                   Array2D.init r r (fun i j -> v[i, j] = v[j, i]) |> flat |> Array.forall id
               // xᵀ·V_k·x = |U_kᵀ·x|² ≥ 0.
               let quad = Array.fold2 (fun s xi vxi -> s + xi * vxi) 0.0 x (apply v x)

               let utx =
                   Array.init 2 (fun c -> Seq.sum (seq { for i in 0 .. r - 1 -> u[k, i, c] * x[i] }))

               let expectedQuad = utx |> Array.sumBy (fun y -> y * y)

               allNear 1e-12 (flat v) (flat uut)
               && symmetric
               && quad >= -1e-12
               && abs (quad - expectedQuad) <= 1e-10 * (1.0 + expectedQuad))
           |> Array.forall id)
    |> check

// ---------------------------------------------------------------------------------------------
// Temporal prediction: the mixture

/// `(seed, lowRank, dynBias, rP [batch; R], r2 [batch; R2])`.
let private temporalCase =
    gen {
        let! seed = seeds
        let! lowRank = bools
        let! dynBias = bools
        let! batch = Gen.choose (1, 4)
        let! rP = matrixIn -3.0 3.0 batch smallConfig.RDim
        let! r2 = matrixIn -3.0 3.0 batch smallConfig.R2Dim
        return seed, lowRank, dynBias, rP, r2
    }

[<Fact>]
let ``temporal prediction mixes the dynamics matrices with its own weights`` () =
    Prop.forAll (Arb.fromGen temporalCase) (fun (seed, lowRank, dynBias, rP, r2) ->
        let cfg = temporalConfig lowRank dynBias
        let p = Init.init cfg (Random.key seed)
        let m, r = cfg.MixDim, cfg.RDim
        let tp = Model.temporalPrediction cfg p rP r2
        let vs = Model.dynamicsMatrices p
        let wb = Model.hypernet cfg p r2
        let batch = Array2D.length1 rP

        let sample s =
            let w = Numerics.row tp.W s
            let vt = vtOf tp.Vt s
            let rHat = apply vt (Numerics.row rP s)

            let rHat, biasOk =
                match tp.B, p.TemporalBias with
                | Some b, Some c when dynBias ->
                    let bs = Numerics.row b s
                    Array.init r (fun i -> rHat[i] + bs[i] * c[i]), bs = (Numerics.row wb s)[m..]
                | None, None when not dynBias -> rHat, true
                | _ -> rHat, false

            w = (Numerics.row wb s)[0 .. m - 1]
            && biasOk
            && allNear 1e-12 (flat vt) (flat (mixture vs w))
            && allNear 1e-12 (Numerics.row tp.RHat s) rHat

        Array3D.length1 tp.Vt = batch
        && Array2D.length1 tp.RHat = batch
        && List.forall sample [ 0 .. batch - 1 ])
    |> check

/// `(seed, lowRank, dynBias, wb1, wb2, a, b, rP, r2)`: two nonnegative hypernetwork outputs, two
/// nonnegative coefficients and the latents.
let private linearityCase =
    gen {
        let! seed, lowRank, dynBias, rP, r2 = temporalCase
        let outDim = Config.hyperOutDim (temporalConfig lowRank dynBias)
        let! wb1 = Gen.arrayOfLength outDim (floatIn 0.0 2.0)
        let! wb2 = Gen.arrayOfLength outDim (floatIn 0.0 2.0)
        let! a = floatIn 0.0 3.0
        let! b = floatIn 0.0 3.0
        return seed, lowRank, dynBias, wb1, wb2, a, b, rP, r2
    }

[<Fact>]
let ``temporal prediction is linear in the mixture weights`` () =
    // The hypernetwork ends in a ReLU, so reachable weights are ≥ 0: linearity on that cone is
    // additivity plus homogeneity for nonnegative coefficients.
    Prop.forAll (Arb.fromGen linearityCase) (fun (seed, lowRank, dynBias, wb1, wb2, a, b, rP, r2) ->
        let cfg = temporalConfig lowRank dynBias
        let p = Init.init cfg (Random.key seed)

        let predict wb =
            Model.temporalPrediction cfg (withHypernetOutput p wb) rP r2

        let wb12 = Array.map2 (fun x y -> a * x + b * y) wb1 wb2
        let t1, t2, t12 = predict wb1, predict wb2, predict wb12

        let combine (x: float[]) (y: float[]) =
            Array.map2 (fun u v -> a * u + b * v) x y

        flat t12.W
        |> Array.chunkBySize cfg.MixDim
        |> Array.forall (fun w -> w = wb12[0 .. cfg.MixDim - 1])
        && allNear 1e-12 (flat3 t12.Vt) (combine (flat3 t1.Vt) (flat3 t2.Vt))
        && allNear 1e-12 (flat t12.RHat) (combine (flat t1.RHat) (flat t2.RHat)))
    |> check

[<Fact>]
let ``temporal prediction with one-hot mixture weights applies that dynamics matrix`` () =
    let cases =
        gen {
            let! seed, lowRank, _, rP, r2 = temporalCase
            let! k = Gen.choose (0, smallConfig.MixDim - 1)
            return seed, lowRank, k, rP, r2
        }

    Prop.forAll (Arb.fromGen cases) (fun (seed, lowRank, k, rP, r2) ->
        let cfg = temporalConfig lowRank false
        let p = Init.init cfg (Random.key seed)
        let oneHot = Array.init cfg.MixDim (fun i -> if i = k then 1.0 else 0.0)
        let tp = Model.temporalPrediction cfg (withHypernetOutput p oneHot) rP r2
        let vk = (Model.dynamicsMatrices p)[k]

        [ 0 .. Array2D.length1 rP - 1 ]
        |> List.forall (fun s ->
            flat (vtOf tp.Vt s) = flat vk
            && allNear 1e-12 (Numerics.row tp.RHat s) (apply vk (Numerics.row rP s))))
    |> check

// ---------------------------------------------------------------------------------------------
// Decoder

let private lossKinds =
    Gen.elements [ LossKind.MSE; LossKind.BCE; LossKind.Poisson ]

/// `(seed, loss, nonlinear decoder, r [batch; R])`.
let private decodeCase =
    gen {
        let! seed = seeds
        let! loss = lossKinds
        let! nonlin = bools
        let! batch = Gen.choose (1, 5)
        let! r = matrixIn -3.0 3.0 batch smallConfig.RDim
        return seed, loss, nonlin, r
    }

let private decoderConfig loss nonlin =
    { smallConfig with
        Loss = loss
        NonlinDecoder = nonlin
    }

[<Fact>]
let ``decode with a BCE loss gives outputs strictly between 0 and 1`` () =
    Prop.forAll (Arb.fromGen decodeCase) (fun (seed, _, nonlin, r) ->
        let cfg = decoderConfig LossKind.BCE nonlin
        let x = Model.decode cfg (Init.init cfg (Random.key seed)) r

        Array2D.length1 x = Array2D.length1 r
        && Array2D.length2 x = cfg.InputDim
        && flat x |> Array.forall (fun v -> v > 0.0 && v < 1.0))
    |> check

[<Fact>]
let ``decode of a batch equals decode of each row alone`` () =
    Prop.forAll (Arb.fromGen decodeCase) (fun (seed, loss, nonlin, r) ->
        let cfg = decoderConfig loss nonlin
        let p = Init.init cfg (Random.key seed)
        let x = Model.decode cfg p r

        [ 0 .. Array2D.length1 r - 1 ]
        |> List.forall (fun s ->
            let alone = Model.decode cfg p (Array2D.init 1 cfg.RDim (fun _ j -> r[s, j]))
            allNear 1e-14 (flat alone) (Numerics.row x s)))
    |> check

[<Fact>]
let ``the linear decoder computes W r plus b, through a sigmoid for BCE`` () =
    Prop.forAll (Arb.fromGen decodeCase) (fun (seed, loss, _, r) ->
        let cfg = decoderConfig loss false
        let p = Init.init cfg (Random.key seed)
        let x = Model.decode cfg p r

        match p.SpatialDecoder with
        | LinearDecoder { Weight = w; Bias = Some b } ->
            [ 0 .. Array2D.length1 r - 1 ]
            |> List.forall (fun s ->
                let y = Array.map2 (+) (apply w (Numerics.row r s)) b

                let expected =
                    if loss = LossKind.BCE then
                        y |> Array.map (fun v -> 1.0 / (1.0 + exp -v))
                    else
                        y

                allNear 1e-12 (Numerics.row x s) expected)
        | _ -> false)
    |> check

// ---------------------------------------------------------------------------------------------
// Shape errors

/// Runs `f`; true when it raises an `ArgumentException` for parameter `name` whose message starts
/// with the name, mentions the actual shape `[rows; cols]` and, elsewhere, the expected column count.
let private failsNaming (name: string) (rows: int) (cols: int) (expectedCols: int) (f: unit -> 'a) =
    try
        f () |> ignore
        false
    with :? System.ArgumentException as e ->
        let actual = $"[{rows}; {cols}]"

        e.ParamName = name
        && e.Message.StartsWith(name + ":")
        && e.Message.Contains actual
        && e.Message.Replace(actual, "").Contains(string expectedCols)

/// A batch shape `[rows; cols]` that is not `[≥ 1; cols0]`.
let private badShape (cols0: int) =
    Gen.zip (Gen.choose (0, 4)) (Gen.choose (0, 9))
    |> Gen.filter (fun (rows, cols) -> rows = 0 || cols <> cols0)

[<Fact>]
let ``decode with a wrong number of columns raises an ArgumentException naming r`` () =
    let cfg = smallConfig
    let p = Init.init cfg (Random.key 7)

    Prop.forAll (Arb.fromGen (badShape cfg.RDim)) (fun (rows, cols) ->
        failsNaming "r" rows cols cfg.RDim (fun () -> Model.decode cfg p (Array2D.zeroCreate rows cols)))
    |> check

[<Fact>]
let ``hypernet and temporal prediction with a wrong shape raise an ArgumentException naming the latent`` () =
    let cfg = smallConfig
    let p = Init.init cfg (Random.key 7)
    let good rows cols = Array2D.create rows cols 0.5

    let r2Cases = badShape cfg.R2Dim |> Gen.map (fun s -> "r2", s)
    let rPCases = badShape cfg.RDim |> Gen.map (fun s -> "rP", s)

    Prop.forAll (Arb.fromGen (Gen.oneof [ r2Cases; rPCases ])) (fun (which, (rows, cols)) ->
        let bad = Array2D.zeroCreate rows cols

        if which = "r2" then
            failsNaming "r2" rows cols cfg.R2Dim (fun () -> Model.hypernet cfg p bad)
            && failsNaming "r2" rows cols cfg.R2Dim (fun () ->
                Model.temporalPrediction cfg p (good (max rows 1) cfg.RDim) bad)
        else
            failsNaming "rP" rows cols cfg.RDim (fun () ->
                Model.temporalPrediction cfg p bad (good (max rows 1) cfg.R2Dim)))
    |> check

[<Fact>]
let ``temporal prediction with different batch sizes names r2`` () =
    let cfg = smallConfig
    let p = Init.init cfg (Random.key 7)

    let ex =
        Assert.ThrowsAny<System.ArgumentException>(fun () ->
            Model.temporalPrediction cfg p (Array2D.zeroCreate 2 cfg.RDim) (Array2D.zeroCreate 3 cfg.R2Dim)
            |> ignore)

    Assert.Equal("r2", ex.ParamName)
