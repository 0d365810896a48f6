namespace TiDHy.Functional

open System
open TiDHy.Kernels

/// The packed buffers of `FusedStep`: a state_dict tensor's place in the packed float64 vector
/// (`Leaf`, state_dict order as `ParamLayout.expected`), the `Workspace` of one step shape (the
/// training kernel, the inference model refilled from the packed parameters, the packed vectors and
/// scratch the step writes) and `pack`, which copies a `Params` into a packed vector.
module internal FusedWorkspace =

    /// A state_dict tensor in the packed vector.
    [<NoComparison; NoEquality>]
    type Leaf =
        {
            Name: string
            Start: int
            Length: int
            Shape: int[]
        }

    /// The buffers of one step shape (a training kernel and everything the step writes), reused
    /// from step to step; one step at a time uses one.
    [<AllowNullLiteral>]
    type Workspace(cfg: Config, kernel: ITrainingKernel) =
        let leaves =
            ParamLayout.expected cfg
            |> List.mapFold
                (fun at (name, shape) ->
                    let n = Array.fold (*) 1 shape

                    {
                        Name = name
                        Start = at
                        Length = n
                        Shape = shape
                    },
                    at + n)
                0
            |> fst
            |> List.toArray

        let count = kernel.Layout.Count

        do
            let last = leaves[leaves.Length - 1]

            if last.Start + last.Length <> count then
                invalidOp "FusedStep: the kernel's layout differs from ParamLayout.expected."

        // The inference model: one array per tensor, refilled from the packed parameters.
        let arrays = leaves |> Array.map (fun l -> Array.zeroCreate<float> l.Length)

        let model =
            let get name =
                match Array.tryFindIndex (fun l -> l.Name = name) leaves with
                | Some i -> arrays[i]
                | None -> null

            Fused.modelOfLeaves cfg get

        // The leaves in the order of a `Map` by name (GradNorm's per-task sums run in that order).
        let byName =
            Array.init leaves.Length id
            |> Array.sortWith (fun a b -> String.CompareOrdinal(leaves[a].Name, leaves[b].Name))

        let vec () = Array.zeroCreate<float> count

        member _.Kernel = kernel
        member _.Leaves = leaves
        member _.Count = count
        member _.Model = model
        member _.ByName = byName
        /// Parameters, first and second moments, the step's gradient.
        member val P = vec ()
        member val M = vec ()
        member val V = vec ()
        member val G = vec ()
        /// cos_reg's and orth_r2's gradients (zero outside their tensor), the core and optional terms.
        member val CosGrad = vec ()
        member val OrthGrad = vec ()
        member val Core = vec ()
        member val Optional = vec ()
        /// The optional regularisers' gradients, one per kind (`Regularisers.optional`'s order).
        member val Parts: float[][] = Array.init 5 (fun _ -> vec ())
        /// The task gradients of GradNorm.
        member val Tasks: float[][] = Array.init 4 (fun _ -> vec ())
        /// Per-row scratch of the regularisers and normalisations.
        member val Norms = Array.zeroCreate<float>(List.max [ cfg.MixDim; cfg.RDim; cfg.R2Dim; cfg.HyperHidDim ])

        /// Copies the packed parameters `P` into the inference model and repacks its blocks.
        member this.RefillModel() =
            for i in 0 .. leaves.Length - 1 do
                Array.Copy(this.P, leaves[i].Start, arrays[i], 0, leaves[i].Length)

            model.Refill()

        // Inference scratch, grown on demand.
        member val RHat = Array.zeroCreate<float> 0 with get, set
        member val Iters = Array.zeroCreate<int> 0 with get, set
        member val X32 = Array.zeroCreate<float32> 0 with get, set
        member val R32 = Array.zeroCreate<float32> 0 with get, set
        member val R2_32 = Array.zeroCreate<float32> 0 with get, set
        member val RP0_32 = Array.zeroCreate<float32> 0 with get, set
        member val R2P0_32 = Array.zeroCreate<float32> 0 with get, set
        member val RHat32 = Array.zeroCreate<float32> 0 with get, set

    /// Copies the tensors of `p` (state_dict order) into `dst`.
    let pack (p: Params) (dst: float[]) =
        let mutable at = 0

        for t in FusedObjective.tensors p do
            Buffer.BlockCopy(t, 0, dst, at * sizeof<float>, t.Length * sizeof<float>)
            at <- at + t.Length
