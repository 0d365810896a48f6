namespace TiDHy.Functional

/// The gradient of the inference objective with respect to the latents (`Inference.gradient`).
type LatentGradient =
    {
        /// `∂L/∂r`: `[batch; R]`.
        GradR: float[,]
        /// `∂L/∂r2`: `[batch; R2]`.
        GradR2: float[,]
    }

/// Inference at one time step (MODEL.md "Inference at one step"): the inner optimisation of `r`
/// and `r2` with the parameters held constant, its objective and the objective's analytic gradient.
[<RequireQualifiedAccess>]
module Inference =

    /// Nesterov momentum of the inner SGD.
    [<Literal>]
    val Momentum: float = 0.9

    /// The scale of the per-sample data terms: `1/B` with `BatchMean`, 1 with `PerSample`.
    val dataScale: cfg: Config -> batch: int -> float

    /// The step size of `r` at iteration `i` (from 0): `lr_r·0.5^k`, `k` the number of milestones
    /// `m, 2m, … < max_iter` (`m = max_iter div 10`) that are `≤ i`.
    val rStepSize: cfg: Config -> i: int -> float

    /// `method` applied to `v` with scale `scale` (used by `ScaledTanh` only): the saturation of `r`
    /// or `r2` after each inference step's shrinkage (`saturate_r_method`, `saturate_r2_method`).
    val saturate: method: Saturation -> scale: float -> v: float -> float

    /// The data domain of `loss`: whether an observation is in it, and the domain in words
    /// (MSE: any finite number; BCE: [0, 1]; Poisson: non-negative).
    val dataDomain: loss: LossKind -> (float -> bool) * string

    /// Raises an ArgumentException naming `name`, the first entry `[row; column]` (from 0) of
    /// `x [batch; D]` outside the data domain of `cfg.Loss`, and the domain.
    val checkDomain: cfg: Config -> name: string -> x: float[,] -> unit

    /// Checks the arguments of one inference step, as every engine does: `cfg` valid, `p` of its
    /// shapes, `x [batch; D]`, `rP [batch; R]` and `r2 [batch; R2]` of one batch, finite, and `x` in
    /// the loss's data domain (`checkDomain`). Returns the batch size; raises `ArgumentException`
    /// naming the first bad argument.
    val checkInputs: cfg: Config -> p: Params -> x: float[,] -> rP: float[,] -> r2: float[,] -> int

    /// The inference objective `L` of MODEL.md step 2 at the iterate `(r, r2)`, for `x [batch; D]`,
    /// `rP [batch; R]`, `r [batch; R]`, `r2 [batch; R2]`; `target [batch; R2]` is the r2 decoder's
    /// prediction `R2dec([r_iter, r2_iter])`, held constant (required iff `use_r2_decoder`).
    /// The data terms are scaled as `cfg.BatchScaling` says; the L1 terms are sums over the batch.
    val objective:
        cfg: Config ->
        p: Params ->
        x: float[,] ->
        rP: float[,] ->
        target: float[,] option ->
        r: float[,] ->
        r2: float[,] ->
            float

    /// The analytic gradient `∂L/∂r [batch; R]`, `∂L/∂r2 [batch; R2]` of `objective` (same
    /// arguments), with `d|v|/dv = sign(v)`, `sign(0) = 0` and `ReLU′(0) = 0`.
    val gradient:
        cfg: Config ->
        p: Params ->
        x: float[,] ->
        rP: float[,] ->
        target: float[,] option ->
        r: float[,] ->
        r2: float[,] ->
            LatentGradient

    /// `inf(x, r_p, r2₀)` on the reference path (the definition, whatever `cfg.Backend` says):
    /// `max_iter` at most of Nesterov SGD on `r` (from 0) and `r2` (from `r2₀`), each followed by
    /// soft-thresholding and then saturation (`saturate_r_method`, `saturate_r2_method`; none by
    /// default), stopping as `cfg.Convergence` says. `x [batch; D]`, `rP [batch; R]`,
    /// `r2 [batch; R2]`; returns `r [batch; R]`, `r2 [batch; R2]` and the counts. Raises
    /// `InferenceDivergedException` (naming the iteration, the first sample and `r` or `r2`) as soon
    /// as an iteration leaves a latent NaN or infinite.
    val inferReference: cfg: Config -> p: Params -> x: float[,] -> rP: float[,] -> r2: float[,] -> InferResult

    /// The first step's objective `⟨ℓ(decode(r), x)⟩` (data scaled as `cfg.BatchScaling` says) for
    /// `x [batch; D]` and `r [batch; R]`.
    val firstStepObjective: cfg: Config -> p: Params -> x: float[,] -> r: float[,] -> float

    /// The analytic gradient `∂/∂r [batch; R]` of `firstStepObjective` (same arguments).
    val firstStepGradient: cfg: Config -> p: Params -> x: float[,] -> r: float[,] -> float[,]

    /// AdamW hyperparameters of the first step (PyTorch's defaults).
    [<Literal>]
    val FirstStepWeightDecay: float = 0.01

    /// The iterations of `inf_first_step`'s AdamW, whatever computes them (the reference path here,
    /// tensors in TiDHy.Torch): up to `max_iter` iterations; `iterate i bc1 bc2Sqrt active` runs
    /// iteration `i` (from 0; `bc1 = 1 − β₁^(i+1)` and `bc2Sqrt = sqrt(1 − β₂^(i+1))` are AdamW's bias
    /// corrections) on the samples still `active`, and returns per sample whether its relative
    /// change fell below `tol`. The loop stops once every sample's did (`Batch`, `AllSamples`), or,
    /// with `PerSample`, once each sample has stopped on its own (a sample is frozen from the
    /// iteration its change falls below `tol`). Returns the iterations run, whether it converged and
    /// each sample's iteration count.
    val firstStepLoop:
        cfg: Config -> batch: int -> iterate: (int -> float -> float -> bool[] -> bool[]) -> int * bool * int[]

    /// `inf_first_step(x)` on the reference path: AdamW (lr `lr_r`, betas 0.9/0.999, eps 1e-8,
    /// weight decay 0.01) on `⟨ℓ(decode(r), x)⟩` from `r = 0`, no shrinkage, each step followed by
    /// the saturation of `r` (`saturate_r_method`, as upstream JAX's first step), stopping when every
    /// sample's relative change is below `tol` (each sample on its own with `PerSample`
    /// convergence). `x [batch; D]`; returns `r [batch; R]`. Raises `InferenceDivergedException` as
    /// soon as an iteration leaves `r` NaN or infinite.
    val inferFirstStepReference: cfg: Config -> p: Params -> x: float[,] -> FirstStepResult

    /// `inf(x, r_p, r2₀)` (see `inferReference` for the definition) on the implementation that
    /// `cfg.Backend` names: the generated fused kernels by default (float64, or float32 with
    /// `FusedFloat32`), or the reference path. `x [batch; D]`, `rP [batch; R]`, `r2 [batch; R2]`;
    /// returns `r [batch; R]`, `r2 [batch; R2]` and the counts. Every backend raises the same
    /// `InferenceDivergedException` (iteration, sample, latent) when the inner optimisation overflows.
    val infer: cfg: Config -> p: Params -> x: float[,] -> rP: float[,] -> r2: float[,] -> InferResult

    /// `infer` on consecutive batches of at most `batchSize` rows of `x`, `rP`, `r2` (each batch
    /// inferred on its own, as separate `infer` calls on those rows would), written into the same rows
    /// of the caller's `r [batch; R]`, `r2Out [batch; R2]`, `rHat [batch; R]` and
    /// `sampleIterations [batch]`, bit for bit. Returns the most iterations any batch took and whether
    /// every batch converged. With the fused backends it reads and writes the arrays in place and
    /// allocates nothing that grows with the batch; the reference backend copies each batch's rows.
    /// Checks as `infer` does (the whole arrays, once); an output of the wrong shape raises an
    /// `ArgumentException` that names it with the expected and the given shape.
    val inferInto:
        cfg: Config ->
        p: Params ->
        x: float[,] ->
        rP: float[,] ->
        r2: float[,] ->
        batchSize: int ->
        r: float[,] ->
        r2Out: float[,] ->
        rHat: float[,] ->
        sampleIterations: int[] ->
            struct (int * bool)

    /// `inf_first_step(x)` (see `inferFirstStepReference`) on the implementation that
    /// `cfg.Backend` names. `x [batch; D]`; returns `r [batch; R]`. Raises `InferenceDivergedException`
    /// on every backend when the optimisation overflows.
    val inferFirstStep: cfg: Config -> p: Params -> x: float[,] -> FirstStepResult

    /// The full name of the generated fused kernel class (a `[TiDHyKernel]` declaration) that runs
    /// inference for `cfg`: the most specific registered kernel that matches it, an application's own
    /// declaration included (e.g. `TiDHy.Kernels.GeneralKernel`); `None` with `Backend.Reference`,
    /// which runs the F# reference path.
    val kernelName: cfg: Config -> string option
