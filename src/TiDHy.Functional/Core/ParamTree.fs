namespace TiDHy.Functional

open System

/// `Params` as a tree of named tensors: gradients, optimiser moments and updates have the same
/// shape as the parameters, so they are `Params` values too. Each leaf is visited under its
/// PyTorch state_dict name (`hypernet.3.weight`, `temporal`, …) with its data flattened row-major.
[<RequireQualifiedAccess>]
module ParamTree =

    /// The entries of a 2-D or 3-D float array, row-major (one block copy; no boxing).
    let private flat (a: Array) =
        let r = Array.zeroCreate<float> a.Length
        Buffer.BlockCopy(a, 0, r, 0, a.Length * sizeof<float>)
        r

    let private flat2 (a: float[,]) = flat a
    let private flat3 (a: float[,,]) = flat a

    let internal mismatch () =
        invalidArg
            "trees"
            "trees: parameter trees of different structure (decoder kind, rank, bias or r2 decoder differ)."

    /// Builds a tree shaped like `trees[0]` whose leaf named `n` is `f n leaves`, where `leaves` holds
    /// that leaf's flattened data from every tree (in order) and `f` returns the new flattened data.
    /// Raises `ArgumentException` when the trees differ in structure or `f` changes a leaf's length.
    let mapN (f: string -> float[][] -> float[]) (trees: Params[]) : Params =
        if trees.Length = 0 then
            invalidArg (nameof trees) "trees: at least one tree is needed."

        let call name (leaves: float[][]) =
            if leaves |> Array.exists (fun l -> l.Length <> leaves[0].Length) then
                mismatch ()

            let out = f name leaves

            if out.Length <> leaves[0].Length then
                invalidArg (nameof f) $"f: returned {out.Length} values for '{name}' of {leaves[0].Length}."

            out

        let vector name (vs: float[][]) = call name vs

        let matrix name (ms: float[,][]) =
            let out = call name (ms |> Array.map flat2)
            let m = Array2D.zeroCreate (Array2D.length1 ms[0]) (Array2D.length2 ms[0])
            Buffer.BlockCopy(out, 0, m, 0, m.Length * sizeof<float>)
            m

        let linear name (ls: LinearParams[]) : LinearParams =
            {
                Weight = matrix (ParamNames.weight name) (ls |> Array.map _.Weight)
                Bias =
                    match ls[0].Bias with
                    | Some _ ->
                        Some(
                            vector
                                (ParamNames.bias name)
                                (ls |> Array.map (fun l -> l.Bias |> Option.defaultWith mismatch))
                        )
                    | None ->
                        if ls |> Array.exists _.Bias.IsSome then
                            mismatch ()

                        None
            }

        let mlp prefix (ms: MlpParams[]) : MlpParams =
            {
                Input = linear (ParamNames.layer prefix ParamNames.InputLayer) (ms |> Array.map _.Input)
                Norm =
                    {
                        Gamma =
                            vector (ParamNames.layerWeight prefix ParamNames.NormLayer) (ms |> Array.map _.Norm.Gamma)
                        Beta = vector (ParamNames.layerBias prefix ParamNames.NormLayer) (ms |> Array.map _.Norm.Beta)
                    }
                Hidden = linear (ParamNames.layer prefix ParamNames.HiddenLayer) (ms |> Array.map _.Hidden)
                Output = linear (ParamNames.layer prefix ParamNames.OutputLayer) (ms |> Array.map _.Output)
            }

        let decoder =
            match trees[0].SpatialDecoder with
            | LinearDecoder _ ->
                trees
                |> Array.map (fun p ->
                    match p.SpatialDecoder with
                    | LinearDecoder l -> l
                    | NonlinearDecoder _ -> mismatch ())
                |> linear (ParamNames.layer ParamNames.SpatialDecoder ParamNames.InputLayer)
                |> LinearDecoder
            | NonlinearDecoder _ ->
                trees
                |> Array.map (fun p ->
                    match p.SpatialDecoder with
                    | NonlinearDecoder m -> m
                    | LinearDecoder _ -> mismatch ())
                |> mlp ParamNames.SpatialDecoder
                |> NonlinearDecoder

        let temporal =
            match trees[0].Temporal with
            | FullRank _ ->
                trees
                |> Array.map (fun p ->
                    match p.Temporal with
                    | FullRank t -> t
                    | LowRank _ -> mismatch ())
                |> matrix ParamNames.Temporal
                |> FullRank
            | LowRank u0 ->
                let us =
                    trees
                    |> Array.map (fun p ->
                        match p.Temporal with
                        | LowRank u -> u
                        | FullRank _ -> mismatch ())

                let out = call ParamNames.Temporal (us |> Array.map flat3)
                let n2, n3 = Array3D.length2 u0, Array3D.length3 u0
                LowRank(Array3D.init (Array3D.length1 u0) n2 n3 (fun k i c -> out[(k * n2 + i) * n3 + c]))

        let optional (get: Params -> 'a option) (build: 'a[] -> 'b) =
            match get trees[0] with
            | Some _ -> Some(build (trees |> Array.map (fun p -> get p |> Option.defaultWith mismatch)))
            | None ->
                if trees |> Array.exists (fun p -> (get p).IsSome) then
                    mismatch ()

                None

        {
            SpatialDecoder = decoder
            Temporal = temporal
            TemporalBias = optional _.TemporalBias (vector ParamNames.TemporalBias)
            Hypernet = mlp ParamNames.Hypernet (trees |> Array.map _.Hypernet)
            R2Decoder = optional _.R2Decoder (mlp ParamNames.R2Decoder)
        }

    /// Like `mapN`, but `f` returns `count` arrays per leaf, giving `count` trees shaped like `trees[0]`.
    let mapMany (count: int) (f: string -> float[][] -> float[][]) (trees: Params[]) : Params[] =
        let results = Collections.Generic.Dictionary<string, float[][]>()

        mapN
            (fun name leaves ->
                let r = f name leaves

                if r.Length <> count then
                    invalidArg (nameof f) $"f: returned {r.Length} arrays for '{name}', expected {count}."

                results[name] <- r
                r[0])
            trees
        |> ignore

        Array.init count (fun k -> mapN (fun name _ -> results[name][k]) [| trees[0] |])

    /// `f` applied to every value: a tree shaped like `p`.
    let map (f: float -> float) (p: Params) =
        mapN (fun _ xs -> Array.map f xs[0]) [| p |]

    /// `f` applied to corresponding values of two trees of the same structure.
    let map2 (f: float -> float -> float) (a: Params) (b: Params) =
        mapN (fun _ xs -> Array.map2 f xs[0] xs[1]) [| a; b |]

    /// A tree shaped like `p` with every value 0.
    let zerosLike (p: Params) = map (fun _ -> 0.0) p

    /// `a + b`, leaf by leaf.
    let add (a: Params) (b: Params) = map2 (+) a b

    /// `c·a`, leaf by leaf.
    let scale (c: float) (a: Params) = map (fun x -> c * x) a

    /// `Σ_i c_i·trees_i` for trees of the same structure (`coefficients` and `trees` of equal length).
    let linearCombination (coefficients: float[]) (trees: Params[]) =
        if coefficients.Length <> trees.Length then
            invalidArg
                (nameof coefficients)
                $"coefficients: {coefficients.Length} coefficients for {trees.Length} trees."

        mapN
            (fun _ leaves ->
                Array.init leaves[0].Length (fun j ->
                    let mutable s = 0.0

                    for i in 0 .. leaves.Length - 1 do
                        s <- s + coefficients[i] * leaves[i][j]

                    s))
            trees

    /// The leaves of `p` as `(state_dict name, flattened data)` in upstream's state_dict order.
    let leaves (p: Params) : (string * float[]) list =
        ParamLayout.ofParams p |> List.map (fun (n, t) -> n, t.Data)

    /// The Euclidean norm of every leaf of `p` together (PyTorch's global gradient norm).
    let norm (p: Params) =
        leaves p |> List.sumBy (fun (_, d) -> Array.sumBy (fun x -> x * x) d) |> sqrt

    /// The Euclidean norm of each leaf, by state_dict name.
    let leafNorms (p: Params) : Map<string, float> =
        leaves p
        |> List.map (fun (n, d) -> n, sqrt (Array.sumBy (fun x -> x * x) d))
        |> Map.ofList

    /// True when every value of `p` is finite.
    let isFinite (p: Params) =
        leaves p |> List.forall (fun (_, d) -> Array.forall Double.IsFinite d)
