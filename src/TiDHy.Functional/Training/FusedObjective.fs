namespace TiDHy.Functional

open System
open System.Collections.Concurrent
open TiDHy.Kernels

/// The training objective's parameter gradients through the fused backward pass that TiDHy.Generators
/// emits for each `[TiDHyKernel]` declaration (the most specific registered variant that covers the
/// configuration: samples vectorised in tiles, allocation-free, float64 or float32, a fixed reduction
/// order), and the one dispatch between it and the F# definition `Objective.terms`.
[<RequireQualifiedAccess>]
module FusedObjective =

    /// The stages (`ConfigOption.Stage`) whose options the fused pass reads: the sizes, the model's
    /// functions, the objective's terms and the precision. Options of the other stages do not enter
    /// its four terms: inference's reach it only through the trajectory, which it takes as data, and
    /// the regularisers, the optimiser and the run are computed outside it.
    let readStages =
        set
            [
                OptionStage.Shape
                OptionStage.Model
                OptionStage.Objective
                OptionStage.Engine
            ]

    /// The options of `readStages` whose every value the fused pass implements. An option of those
    /// stages missing here sends every configuration where it differs from its default to
    /// `Objective.terms` (unknown options are routed to the definition); a test checks that each such
    /// option is here or in `definitionOnlyOptions`, so an option added later is declared one way or
    /// the other.
    let handledOptions: Set<string> =
        set
            [
                "input_dim"
                "r_dim"
                "r2_dim"
                "mix_dim"
                "hyper_hid_dim"
                "r2_decoder_hid_dim"
                "loss_type"
                "nonlin_decoder"
                "low_rank_temp"
                "dyn_bias"
                "use_r2_decoder"
                "temp_weight"
                // Used only with `sparsity_w_safe` > 0, which is not handled.
                "w_min_active_ratio"
                "backend"
                "training_precision"
            ]

    /// The options of `readStages` the fused pass does not implement: SAFE sparsity runs in F#
    /// (`Objective.terms`).
    let definitionOnlyOptions: Set<string> = set [ "sparsity_w_safe" ]

    /// The options of `cfg` of `readStages` whose keys are not in `handled` and whose values differ
    /// from their defaults (a required option, without default, counts as handled only when listed).
    let internal unhandledBy (handled: Set<string>) (cfg: Config) : string list =
        let values = ConfigOptions.values cfg

        ConfigOptions.all
        |> List.filter (fun o ->
            readStages.Contains o.Stage
            && not (handled.Contains o.Key)
            && o.Default <> Some values[o.Index])
        |> List.map _.Key

    /// The options of `cfg` that the fused pass does not know and that differ from their defaults
    /// (upstream keys); empty when the fused pass computes `Objective.terms` for `cfg`.
    let unhandledOptions (cfg: Config) : string list = unhandledBy handledOptions cfg

    /// True when `Objective.termsFor` takes the fused pass for `cfg`: a fused backend
    /// (`Fused` or `FusedFloat32`) and no unknown option away from its default.
    let supports (cfg: Config) =
        cfg.Backend <> Backend.Reference && List.isEmpty (unhandledOptions cfg)

    /// The kernel shape of `cfg`.
    let internal shape (cfg: Config) =
        TrainingShape(
            cfg.InputDim,
            cfg.RDim,
            cfg.R2Dim,
            cfg.MixDim,
            cfg.HyperHidDim,
            cfg.R2DecoderHidDim,
            (match cfg.Loss with
             | LossKind.MSE -> KernelLoss.Mse
             | LossKind.BCE -> KernelLoss.Bce
             | LossKind.Poisson -> KernelLoss.Poisson),
            cfg.NonlinDecoder,
            cfg.LowRankTemp,
            cfg.DynBias,
            cfg.UseR2Decoder,
            cfg.TempWeight
        )

    /// Kernels are reused from call to call (each owns its buffers); one call at a time uses one.
    let private pool =
        ConcurrentDictionary<struct (TrainingShape * bool * string), ConcurrentBag<ITrainingKernel>>()

    /// The packed offset of every state_dict tensor of `cfg`, in `ParamLayout.expected` order (the
    /// kernel's `TrainingLayout`, checked by the tests).
    let internal offsets (cfg: Config) =
        ParamLayout.expected cfg
        |> List.mapFold (fun at (name, shape) -> (name, at), at + Array.fold (*) 1 shape) 0
        |> fst
        |> dict

    /// Copies `a [n; f]` (row-major) into `dst` from row `row0`.
    let private fill (dst: float[]) (row0: int) (a: float[,]) =
        Buffer.BlockCopy(a, 0, dst, row0 * Array2D.length2 a * sizeof<float>, a.Length * sizeof<float>)

    /// The tensors of `p` in state_dict order (`ParamLayout.expected`), as they are (no copies).
    let internal tensors (p: Params) : Array list =
        let linear (l: LinearParams) =
            [
                yield l.Weight :> Array
                match l.Bias with
                | Some b -> yield b :> Array
                | None -> ()
            ]

        let mlp (m: MlpParams) =
            linear m.Input
            @ [ m.Norm.Gamma :> Array; m.Norm.Beta :> Array ]
            @ linear m.Hidden
            @ linear m.Output

        [
            match p.Temporal with
            | FullRank t -> yield t :> Array
            | LowRank u -> yield u :> Array
            match p.TemporalBias with
            | Some c -> yield c :> Array
            | None -> ()
            match p.SpatialDecoder with
            | LinearDecoder l -> yield! linear l
            | NonlinearDecoder m -> yield! mlp m
            yield! mlp p.Hypernet
            match p.R2Decoder with
            | Some m -> yield! mlp m
            | None -> ()
        ]

    /// A tree shaped like `p` holding `src[start ..]` in state_dict order (the inverse of `tensors`).
    let internal unpack (p: Params) (src: float[]) (start: int) : Params =
        let at = ref start

        let take (dst: Array) =
            Buffer.BlockCopy(src, at.Value * 8, dst, 0, dst.Length * 8)
            at.Value <- at.Value + dst.Length

        let vector (v: float[]) =
            let r = Array.zeroCreate v.Length
            take r
            r

        let matrix (a: float[,]) =
            let r = Array2D.zeroCreate (Array2D.length1 a) (Array2D.length2 a)
            take r
            r

        let linear (l: LinearParams) =
            let w = matrix l.Weight
            let b = l.Bias |> Option.map vector
            { Weight = w; Bias = b }

        let mlp (m: MlpParams) =
            let input = linear m.Input
            let gamma = vector m.Norm.Gamma
            let beta = vector m.Norm.Beta
            let hidden = linear m.Hidden
            let output = linear m.Output

            {
                Input = input
                Norm = { Gamma = gamma; Beta = beta }
                Hidden = hidden
                Output = output
            }

        let temporal =
            match p.Temporal with
            | FullRank t -> FullRank(matrix t)
            | LowRank u ->
                let r =
                    Array3D.zeroCreate (Array3D.length1 u) (Array3D.length2 u) (Array3D.length3 u)

                take r
                LowRank r

        let bias = p.TemporalBias |> Option.map vector

        let decoder =
            match p.SpatialDecoder with
            | LinearDecoder l -> LinearDecoder(linear l)
            | NonlinearDecoder m -> NonlinearDecoder(mlp m)

        let hyper = mlp p.Hypernet
        let r2 = p.R2Decoder |> Option.map mlp

        {
            SpatialDecoder = decoder
            Temporal = temporal
            TemporalBias = bias
            Hypernet = hyper
            R2Decoder = r2
        }

    /// The four terms of the objective through `kernel` (made for `shape cfg`).
    let internal termsOn (kernel: ITrainingKernel) (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        let cfg = Config.validateOrThrow cfg
        Model.checkParams cfg p

        if kernel.Layout.Shape <> shape cfg then
            invalidArg (nameof kernel) "kernel: made for another configuration."

        let batch =
            match traj.Initial, Array.tryHead traj.Steps with
            | Some x0, _ -> Array2D.length1 x0
            | None, Some s -> Array2D.length1 s.X
            | None, None -> 1

        traj.Initial
        |> Option.iter (fun x0 ->
            if Array2D.length2 x0 <> cfg.InputDim then
                invalidArg (nameof traj) $"traj: X_0 has {Array2D.length2 x0} features, expected {cfg.InputDim}.")

        for s in traj.Steps do
            for name, a, cols in
                [
                    "X", s.X, cfg.InputDim
                    "RPrev", s.RPrev, cfg.RDim
                    "R", s.R, cfg.RDim
                    "R2Prev", s.R2Prev, cfg.R2Dim
                    "R2", s.R2, cfg.R2Dim
                ] do
                if Array2D.length1 a <> batch || Array2D.length2 a <> cols then
                    invalidArg
                        (nameof traj)
                        $"traj: step {name} is [{Array2D.length1 a}; {Array2D.length2 a}], expected [{batch}; {cols}]."

        let inputs = kernel.Inputs
        inputs.Resize(shape cfg, batch, traj.Steps.Length, traj.Initial.IsSome)
        traj.Initial |> Option.iter (fill inputs.X0 0)

        traj.Steps
        |> Array.iteri (fun k s ->
            fill inputs.X (k * batch) s.X
            fill inputs.R (k * batch) s.R
            fill inputs.RPrev (k * batch) s.RPrev
            fill inputs.R2 (k * batch) s.R2
            fill inputs.R2Prev (k * batch) s.R2Prev)

        let packed = kernel.Parameters
        let mutable at = 0

        for t in tensors p do
            Buffer.BlockCopy(t, 0, packed, at * sizeof<float>, t.Length * sizeof<float>)
            at <- at + t.Length

        kernel.Run packed
        let count = kernel.Layout.Count
        let grad k = unpack p kernel.Gradients (k * count)

        let term k =
            {
                Value = kernel.Values[k]
                Grad = grad k
            }

        {
            SpatialLossRHat = term 0
            SpatialLossRBar = term 1
            TempLoss = term 2
            R2Loss = term 3
        }

    /// The four terms of the objective through the fused backward pass, in float32 when `float32`
    /// (parameters and latents rounded to float32, every product and sum in float32, the chunks'
    /// gradients and the loss sums added in float64), else float64. Equals `Objective.terms` to
    /// rounding for every configuration (`supports` says when the dispatch uses it). Reuses one of
    /// a pool of kernels (each owns its buffers) of the most specific generated variant for `cfg`.
    let termsWith (float32: bool) (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        let cfg = Config.validateOrThrow cfg
        let variant = TrainingKernels.Find(shape cfg)

        let bag =
            pool.GetOrAdd(struct (shape cfg, float32, variant.Variant.Name), fun _ -> ConcurrentBag())

        let kernel =
            match bag.TryTake() with
            | true, k -> k
            | _ -> variant.CreateTraining(shape cfg, float32)

        try
            termsOn kernel cfg p traj
        finally
            bag.Add kernel

    /// The dispatch: the fused pass when `supports cfg` (in float32 when `training_precision` is
    /// `Float32`), else the definition `Objective.terms`. `Train.objective` calls this.
    let terms (cfg: Config) (p: Params) (traj: Trajectory) : ObjectiveTerms =
        if supports cfg then
            termsWith (cfg.TrainingPrecision = TrainingPrecision.Float32) cfg p traj
        else
            Objective.terms cfg p traj
