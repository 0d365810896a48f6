namespace TiDHy.Functional

open System

/// Options of the SLDS benchmark generator; `Slds.defaults` are upstream's
/// (`conf/dataset/SLDS.yaml`). Every system has a 2-D continuous latent (`Slds.latentDim`).
type SldsOptions =
    {
        /// `Nlds`: independent switching linear dynamical systems.
        Systems: int
        /// `n_disc_states`: discrete states `K` of each system.
        States: int
        /// `obs_dim`: Gaussian observation channels of each system.
        ObsDim: int
        /// `τ` of each (system, state), system-major, `[Systems·States]`: the eigenvalues of that
        /// state's dynamics are `exp(τ) ± 2πi·f`.
        Timescales: float[]
        /// `f` of each (system, state), system-major, `[Systems·States]`.
        Frequencies: float[]
        /// `z_timescale`: the diagonal of the transition matrix before its rows are renormalised
        /// (`P = s·I + (1 − s)`, rows divided by their sums).
        Stickiness: float
        /// `overlap`: the first `Overlap` observation channels of every system are summed into shared
        /// channels; 0 keeps all `Systems·ObsDim` channels apart. In `[0, ObsDim]`.
        Overlap: int
        /// `rand_dim` when `random_projection`: the superimposed channels are multiplied by one
        /// standard normal matrix `[channels; n]`; `None` keeps them.
        Projection: int option
        /// `normalize`: divide each observation channel, and each latent coordinate, by its maximum
        /// absolute value within its own split (train, val and test each by their own, as upstream).
        Normalise: bool
        /// `time_bins_train`.
        TrainLength: int
        /// `time_bins_test` for the validation split.
        ValLength: int
        /// `time_bins_test`.
        TestLength: int
        /// A sample of one system is redrawn until each of its discrete states covers at least this
        /// fraction of the time bins (upstream 0.45). In `[0, 1/States]`.
        MinStateFraction: float
        /// Redraws allowed per (system, split) before the generator gives up with an error.
        MaxAttempts: int
    }

/// The parameters of one switching linear dynamical system: in state `k`,
/// `x_{t+1} = A_k·x_t + b_k + w`, `w ~ N(0, Q_k)`, and `y_t = C·x_t + d + v`, `v ~ N(0, diag η)`.
type SldsSystem =
    {
        /// `A_k`, `States` matrices `[2; 2]`.
        Dynamics: float[,][]
        /// `b_k`, `States` vectors `[2]`, uniform in [−1, 1].
        Biases: float[][]
        /// `Q_k = S·Sᵀ` with `S` standard normal, `States` matrices `[2; 2]`.
        NoiseCovariances: float[,][]
        /// `C`, `[ObsDim; 2]`, standard normal.
        Emission: float[,]
        /// `d`, `[ObsDim]`, standard normal.
        EmissionBias: float[]
        /// `η = exp(−1 + N(0, 1))` per channel, `[ObsDim]`.
        EmissionNoiseVariances: float[]
        /// The sticky transition matrix `[States; States]`, rows summing to 1.
        Transitions: float[,]
    }

/// One split (train, val or test) of an SLDS data set.
type SldsSplit =
    {
        /// What a model sees: `[time; channels]` after superposition, projection and normalisation.
        Observations: float[,]
        /// The true discrete state of each system, `[time; Systems]`, in `0 … States − 1`.
        States: int[,]
        /// The true continuous latents, `[time; Systems·2]`, system-major (column `2·i + j` is
        /// coordinate `j` of system `i`); normalised per column when `Normalise` is set.
        Latents: float[,]
        /// The raw observations of every system, `[time; Systems·ObsDim]`, system-major, before
        /// superposition, projection and normalisation.
        Emissions: float[,]
    }

/// A generated SLDS data set: three splits, the systems that produced them and the projection.
type SldsData =
    {
        /// `time_bins_train` steps.
        Train: SldsSplit
        /// `time_bins_test` steps.
        Val: SldsSplit
        /// `time_bins_test` steps.
        Test: SldsSplit
        /// The `Systems` systems, shared by the three splits.
        Systems: SldsSystem[]
        /// The random projection `[superimposed channels; Projection]`, shared by the three splits.
        Projection: float[,] option
        /// The options it was generated with.
        Options: SldsOptions
    }

/// The SLDS benchmark of the TiDHy paper (MODEL.md, "The SLDS benchmark data"): independent sticky
/// switching linear dynamical systems whose observations are partially superimposed, optionally
/// randomly projected, and scaled per channel. Generation is a pure function of the options and a
/// `Key`. Upstream samples with the `ssm` package; this generator follows its model: `z_0` uniform,
/// `x_0 ~ N(0, I)`, then `z_t ~ P[z_{t−1}]`, `x_t = A_{z_t}·x_{t−1} + b_{z_t} + w`, and the
/// returned series are steps `1 … T` (the initial draw is discarded, as in `ssm`). The dynamics
/// matrix of a state is `B·[[a, −ω]; [ω, a]]·B⁻¹` with `a = exp τ`, `ω = 2π f` and `B` a standard
/// normal 2×2 matrix of condition number at most 10 (upstream places the same poles with a random
/// input matrix); its eigenvalues are exactly `exp τ ± 2πi f`.
[<RequireQualifiedAccess>]
module Slds =

    let private list (items: 'a seq) = "[" + String.Join("; ", items) + "]"

    /// The dimension of each system's continuous latent.
    [<Literal>]
    let latentDim = 2

    /// Upstream's SLDS configuration: 3 systems × 2 states, 3 observation channels each, overlap 2
    /// (5 channels), projection to 20, normalised, 200 000 / 50 000 / 50 000 bins, sticky 0.975,
    /// states redrawn until each covers 45% of the bins (at most 1000 attempts).
    let defaults =
        {
            Systems = 3
            States = 2
            ObsDim = 3
            Timescales = [| -0.025; -0.25; -0.1; -0.5; -0.015; -0.75 |]
            Frequencies = [| 0.0075; 0.05; 0.025; 0.075; 0.01; 0.075 |]
            Stickiness = 0.975
            Overlap = 2
            Projection = Some 20
            Normalise = true
            TrainLength = 200000
            ValLength = 50000
            TestLength = 50000
            MinStateFraction = 0.45
            MaxAttempts = 1000
        }

    /// The number of channels after superposition: `Systems·ObsDim − (Systems − 1)·Overlap`.
    let superimposedChannels (o: SldsOptions) =
        o.Systems * o.ObsDim - (o.Systems - 1) * o.Overlap

    /// The number of observation channels a model sees: `Projection` when set, else
    /// `superimposedChannels`.
    let channels (o: SldsOptions) =
        match o.Projection with
        | Some p -> p
        | None -> superimposedChannels o

    /// Every problem with `o`, each naming the option, its value and what is expected; empty when valid.
    let validate (o: SldsOptions) =
        [
            let positive name v =
                [
                    if v < 1 then
                        $"{name}: expected >= 1, got {v}."
                ]

            yield! positive "Systems" o.Systems
            yield! positive "States" o.States
            yield! positive "ObsDim" o.ObsDim
            yield! positive "TrainLength" o.TrainLength
            yield! positive "ValLength" o.ValLength
            yield! positive "TestLength" o.TestLength
            yield! positive "MaxAttempts" o.MaxAttempts
            let pairs = o.Systems * o.States

            for name, (a: float[]) in [ "Timescales", o.Timescales; "Frequencies", o.Frequencies ] do
                if isNull a then
                    $"{name}: expected {pairs} values (Systems·States), got null."
                elif a.Length <> pairs then
                    $"{name}: expected {pairs} values (Systems {o.Systems} · States {o.States}), got {a.Length}."
                elif not (Array.forall Double.IsFinite a) then
                    $"{name}: expected finite values, got {list a}."

            if not (o.Stickiness >= 0.0 && o.Stickiness <= 1.0) then
                $"Stickiness: expected in [0, 1], got {o.Stickiness}."

            if o.Overlap < 0 || o.Overlap > o.ObsDim then
                $"Overlap: expected in [0, ObsDim = {o.ObsDim}], got {o.Overlap}."

            match o.Projection with
            | Some p when p < 1 -> $"Projection: expected Some n with n >= 1, got Some {p}."
            | _ -> ()

            if not (o.MinStateFraction >= 0.0 && o.MinStateFraction * float o.States <= 1.0) then
                $"MinStateFraction: expected in [0, 1/States = {1.0 / float o.States}], got {o.MinStateFraction}."
        ]

    let private matMul2 (a: float[,]) (b: float[,]) =
        Array2D.init 2 2 (fun i j -> a[i, 0] * b[0, j] + a[i, 1] * b[1, j])

    /// A 2×2 matrix with eigenvalues `a ± iω` in a random basis of condition number at most 10.
    let private dynamicsMatrix (key: Key) (a: float) (omega: float) =
        let rotation = array2D [ [ a; -omega ]; [ omega; a ] ]

        let rec draw attempt =
            if attempt >= 1000 then
                invalidOp "Slds: no well-conditioned basis in 1000 draws (cannot happen with a working generator)."

            let z = Random.normal (Random.foldIn attempt key) 4
            let det = z[0] * z[3] - z[1] * z[2]
            let frob2 = z |> Array.sumBy (fun v -> v * v)
            // cond = σ1/σ2 with σ1·σ2 = |det| and σ1² + σ2² = ‖B‖²_F, so cond + 1/cond = ‖B‖²_F / |det|.
            if abs det > 1e-12 && frob2 / abs det <= 10.0 + 0.1 then
                let b = array2D [ [ z[0]; z[1] ]; [ z[2]; z[3] ] ]
                let inv = array2D [ [ z[3] / det; -z[1] / det ]; [ -z[2] / det; z[0] / det ] ]
                matMul2 (matMul2 b rotation) inv
            else
                draw (attempt + 1)

        draw 0

    let private makeSystem (o: SldsOptions) (i: int) (key: Key) =
        let keys = Random.splitN 6 key
        let k = o.States

        let dynamics =
            Array.init k (fun s ->
                let p = i * k + s
                dynamicsMatrix (Random.foldIn s keys[0]) (exp o.Timescales[p]) (2.0 * Math.PI * o.Frequencies[p]))

        let biases =
            Array.init k (fun s -> Random.uniform (Random.foldIn s keys[1]) -1.0 1.0 latentDim)

        let noise =
            Array.init k (fun s ->
                let z = Random.normal (Random.foldIn s keys[2]) 4
                let sq = array2D [ [ z[0]; z[1] ]; [ z[2]; z[3] ] ]
                Array2D.init 2 2 (fun a b -> sq[a, 0] * sq[b, 0] + sq[a, 1] * sq[b, 1]))

        let c = Random.normal keys[3] (o.ObsDim * latentDim)
        let d = Random.normal keys[4] o.ObsDim
        let eta = Random.normal keys[5] o.ObsDim |> Array.map (fun v -> exp (-1.0 + v))

        let transitions =
            let raw =
                Array2D.init k k (fun a b -> (if a = b then o.Stickiness else 0.0) + (1.0 - o.Stickiness))

            Array2D.init k k (fun a b ->
                let sum = Seq.sum (seq { for c in 0 .. k - 1 -> raw[a, c] })
                raw[a, b] / sum)

        {
            Dynamics = dynamics
            Biases = biases
            NoiseCovariances = noise
            Emission = Array2D.init o.ObsDim latentDim (fun a b -> c[a * latentDim + b])
            EmissionBias = d
            EmissionNoiseVariances = eta
            Transitions = transitions
        }

    /// Cholesky factor of a 2×2 covariance (zero where it is singular).
    let private chol2 (q: float[,]) =
        let l00 = sqrt (max q[0, 0] 0.0)
        let l10 = if l00 > 0.0 then q[1, 0] / l00 else 0.0
        let l11 = sqrt (max (q[1, 1] - l10 * l10) 0.0)
        l00, l10, l11

    /// One sample of `time` steps of `sys`: states `[time]`, latents `[time; 2]`, emissions `[time; ObsDim]`.
    let private sample (sys: SldsSystem) (obsDim: int) (time: int) (key: Key) =
        let k = sys.Transitions |> Array2D.length1
        let keys = Random.splitN 4 key
        let u = Random.uniform01 keys[0] (time + 1)
        let x0 = Random.normal keys[1] latentDim
        let w = Random.normal keys[2] (latentDim * time)
        let v = Random.normal keys[3] (obsDim * time)
        let chols = sys.NoiseCovariances |> Array.map chol2
        let sd = sys.EmissionNoiseVariances |> Array.map sqrt
        let states = Array.zeroCreate time
        let latents = Array2D.zeroCreate time latentDim
        let emissions = Array2D.zeroCreate time obsDim

        let next (z: int) (r: float) =
            let mutable acc = 0.0
            let mutable s = 0
            let mutable found = -1

            while found < 0 do
                acc <- acc + sys.Transitions[z, s]

                if r < acc || s = k - 1 then found <- s else s <- s + 1

            found

        let mutable z = min (k - 1) (int (u[0] * float k))
        let mutable x1 = x0[0]
        let mutable x2 = x0[1]

        for t in 0 .. time - 1 do
            z <- next z u[t + 1]
            let a = sys.Dynamics[z]
            let b = sys.Biases[z]
            let l00, l10, l11 = chols[z]
            let e1 = w[2 * t]
            let e2 = w[2 * t + 1]
            let n1 = a[0, 0] * x1 + a[0, 1] * x2 + b[0] + l00 * e1
            let n2 = a[1, 0] * x1 + a[1, 1] * x2 + b[1] + l10 * e1 + l11 * e2
            x1 <- n1
            x2 <- n2
            states[t] <- z
            latents[t, 0] <- x1
            latents[t, 1] <- x2

            for c in 0 .. obsDim - 1 do
                emissions[t, c] <-
                    sys.Emission[c, 0] * x1
                    + sys.Emission[c, 1] * x2
                    + sys.EmissionBias[c]
                    + sd[c] * v[obsDim * t + c]

        states, latents, emissions

    /// The fraction of `states` spent in each of `k` states, `[k]`.
    let stateFractions (k: int) (states: int[]) =
        let counts = Array.zeroCreate k

        for s in states do
            counts[s] <- counts[s] + 1

        counts |> Array.map (fun c -> float c / float (max 1 states.Length))

    /// Partial superposition of per-system channels `emissions` `[time; systems·obsDim]`
    /// (system-major) into `[time; systems·obsDim − (systems − 1)·overlap]`: channel `c < overlap` is
    /// the sum over systems of their channel `c`; then come channels `overlap … obsDim − 1` of system
    /// 0, of system 1, and so on (the column order of upstream's mixing matrix).
    let superpose (systems: int) (obsDim: int) (overlap: int) (emissions: float[,]) =
        if systems < 1 || obsDim < 1 then
            invalidArg (nameof systems) $"systems, obsDim: expected >= 1, got {systems}, {obsDim}."

        if overlap < 0 || overlap > obsDim then
            invalidArg (nameof overlap) $"overlap: expected in [0, obsDim = {obsDim}], got {overlap}."

        let time = Array2D.length1 emissions
        Shape.checkMatrix (nameof emissions) time (systems * obsDim) emissions
        let own = obsDim - overlap

        Array2D.init time (overlap + systems * own) (fun t c ->
            if c < overlap then
                let mutable s = 0.0

                for i in 0 .. systems - 1 do
                    s <- s + emissions[t, i * obsDim + c]

                s
            else
                let i = (c - overlap) / own
                emissions[t, i * obsDim + overlap + (c - overlap) % own])

    let private matMul (a: float[,]) (b: float[,]) =
        let n = Array2D.length1 a
        let m = Array2D.length2 a
        let p = Array2D.length2 b
        let out = Array2D.zeroCreate n p

        for i in 0 .. n - 1 do
            for l in 0 .. m - 1 do
                let ail = a[i, l]

                if ail <> 0.0 then
                    for j in 0 .. p - 1 do
                        out[i, j] <- out[i, j] + ail * b[l, j]

        out

    let private maxAbsScaled (a: float[,]) = Series.normalise (Series.fitMaxAbs a) a

    /// Generates the SLDS data set of `options` from `key`: `Train`, `Val` and `Test` splits of
    /// `TrainLength`, `ValLength` and `TestLength` steps, with observations `[time; channels
    /// options]`, states `[time; Systems]` and latents `[time; Systems·2]`. The systems' parameters
    /// and the projection are shared by the splits; each split is sampled independently, and each
    /// system's sample of a split is redrawn until every discrete state covers at least
    /// `MinStateFraction` of its bins. Raises an ArgumentException listing every invalid option,
    /// and an InvalidOperationException naming the system and split when `MaxAttempts` draws
    /// never satisfy that rule. `Slds.generate Slds.defaults (Random.key 10)` is upstream's setting.
    let generate (options: SldsOptions) (key: Key) =
        match validate options with
        | [] -> ()
        | errs -> invalidArg (nameof options) ("options: " + String.Join(" ", errs))

        let o = options
        let systemsKey, rest = Random.split key
        let projectionKey, samplesKey = Random.split rest

        let systems =
            Array.init o.Systems (fun i -> makeSystem o i (Random.foldIn i systemsKey))

        let sup = superimposedChannels o

        let projection =
            o.Projection
            |> Option.map (fun p ->
                let z = Random.normal projectionKey (sup * p)
                Array2D.init sup p (fun a b -> z[a * p + b]))

        let makeSplit (splitIndex: int) (splitName: string) (time: int) =
            let states = Array2D.zeroCreate time o.Systems
            let latents = Array2D.zeroCreate time (o.Systems * latentDim)
            let emissions = Array2D.zeroCreate time (o.Systems * o.ObsDim)

            for i in 0 .. o.Systems - 1 do
                let splitKey = Random.foldIn splitIndex (Random.foldIn i samplesKey)

                let rec draw attempt (lastFractions: float[]) =
                    if attempt >= o.MaxAttempts then
                        let shown = lastFractions |> Array.map (fun f -> $"{100.0 * f:F1}%%")

                        invalidOp (
                            $"Slds.generate: system {i}, {splitName} split ({time} bins): none of {o.MaxAttempts} draws "
                            + $"(MaxAttempts) had every discrete state on at least {100.0 * o.MinStateFraction}%% of the bins "
                            + $"(MinStateFraction); the last had {list shown}. Use longer splits, a lower "
                            + "MinStateFraction, or more attempts."
                        )

                    let z, x, y = sample systems[i] o.ObsDim time (Random.foldIn attempt splitKey)
                    let fractions = stateFractions o.States z

                    if Array.forall (fun f -> f >= o.MinStateFraction) fractions then
                        z, x, y
                    else
                        draw (attempt + 1) fractions

                let z, x, y = draw 0 [||]

                for t in 0 .. time - 1 do
                    states[t, i] <- z[t]

                    for j in 0 .. latentDim - 1 do
                        latents[t, i * latentDim + j] <- x[t, j]

                    for c in 0 .. o.ObsDim - 1 do
                        emissions[t, i * o.ObsDim + c] <- y[t, c]

            let superimposed = superpose o.Systems o.ObsDim o.Overlap emissions

            let projected =
                match projection with
                | Some r -> matMul superimposed r
                | None -> superimposed

            {
                Observations = if o.Normalise then maxAbsScaled projected else projected
                States = states
                Latents = if o.Normalise then maxAbsScaled latents else latents
                Emissions = emissions
            }

        {
            Train = makeSplit 0 "train" o.TrainLength
            Val = makeSplit 1 "val" o.ValLength
            Test = makeSplit 2 "test" o.TestLength
            Systems = systems
            Projection = projection
            Options = o
        }

    /// The true timescales of a data set's dynamics, in steps (`τ = −1/log|λ|`, `dt = 1`): for each
    /// (system, state), system-major, one per mode of that state's dynamics matrix `A_k`, longest
    /// first: one per complex-conjugate pair (the pair shares `|λ|`, so it is one timescale, as
    /// `Timescales.modes` counts it) and one per real eigenvalue. Every state of the generator has
    /// eigenvalues `exp τ ± 2πi·f`, so a state with `f ≠ 0` gives one timescale,
    /// `−1/log √(exp(2τ) + (2πf)²)`; with `f = 0` its eigenvalue `exp τ` is double, and rounding
    /// decides whether it comes out as one pair or two real eigenvalues (one or two timescales).
    /// A growing mode (`|λ| > 1`) gives a negative timescale, a unit-modulus one +∞. With the demo's
    /// data (`Slds.defaults`): 41.96, 5.73, 11.74, 3.79, 77.10, 2.47 steps.
    let trueTimescales (data: SldsData) =
        if isNull (box data) || isNull data.Systems then
            nullArg (nameof data)

        [|
            for sys in data.Systems do
                for a in sys.Dynamics do
                    yield!
                        MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfArray(a).Evd().EigenValues.ToArray()
                        |> Array.filter (fun l -> l.Imaginary >= 0.0)
                        |> Array.map (fun l -> -1.0 / log l.Magnitude)
                        |> Array.sortDescending
        |]

    /// The model configuration of the SLDS benchmark as `tidhy demo`, `tidhy bench train` and
    /// docs/SWEEP.md run it, for `features` channels: upstream's defaults with windows of 100 steps
    /// starting 50 apart, 200 inference iterations, and `PerSample` batch scaling with the step that
    /// upstream's batch mean gives at batch 16 (lr 0.2 / 16), so that inference does not depend on how
    /// many windows a batch holds (the last, smaller batches of an epoch and of validation included).
    let benchmarkConfig (features: int) =
        { Config.defaults features with
            MaxIter = 200
            SequenceLength = 100
            Overlap = 50
            NumEpochs = 100
            BatchScaling = BatchScaling.PerSample
            LrR = 0.2 / 16.0
            LrR2 = 0.2 / 16.0
        }

    /// The demo's SLDS data (`tidhy demo`): `defaults` shortened to 20 000 / 2 000 / 2 000 steps, a
    /// tenth of the paper's training series.
    let demo =
        { defaults with
            TrainLength = 20000
            ValLength = 2000
            TestLength = 2000
        }

    /// The paper's SLDS data: `defaults`, upstream's parameters and sizes (200 000 / 50 000 / 50 000
    /// steps; 9 991 training windows of 200 steps starting 20 apart).
    let paper = defaults

    /// The named sizes of the benchmark (`tidhy data slds --scale`): `demo` and `paper`.
    let scales: (string * SldsOptions) list = [ "demo", demo; "paper", paper ]

    /// The options of the scale named `name` (`scales`); raises an ArgumentException naming the
    /// scales for another name.
    let ofScale (name: string) : SldsOptions =
        match scales |> List.tryFind (fst >> (=) name) with
        | Some(_, o) -> o
        | None ->
            let known = String.Join(" or ", scales |> List.map (fun (n, _) -> $"\"{n}\""))
            invalidArg (nameof name) $"scale \"{name}\": no such SLDS scale; expected {known}."

    let private tensor (shape: int[]) (data: float[]) : NpyArray = { Shape = shape; Data = data }

    let private ofMatrix (a: float[,]) =
        tensor [| Array2D.length1 a; Array2D.length2 a |] (Seq.cast<float> a |> Seq.toArray)

    let private ofMatrices (ms: float[,][]) =
        tensor [| ms.Length; 2; 2 |] (ms |> Array.collect (fun m -> Seq.cast<float> m |> Seq.toArray))

    /// The datasets of the HDF5 file `writeHdf5` writes, by path: for each split (`train`, `val`,
    /// `test`) `observations` `[time; channels]` (what `tidhy train --data FILE.h5:/train/observations`
    /// reads), `states` `[time; Systems]` (the discrete states as numbers; `--states
    /// FILE.h5:/val/states`), `latents` `[time; Systems·2]` and `emissions` `[time; Systems·ObsDim]`;
    /// for each system `i` `systems/i/dynamics` `[States; 2; 2]`, `biases` `[States; 2]`,
    /// `noise_covariances` `[States; 2; 2]`, `emission` `[ObsDim; 2]`, `emission_bias`,
    /// `emission_noise_variances` `[ObsDim]` and `transitions` `[States; States]`; `projection`
    /// `[superimposed channels; Projection]` when there is one; and `true_timescales`
    /// (`trueTimescales`).
    let hdf5Entries (data: SldsData) : (string * NpyArray) list =
        [
            for name, split in [ "train", data.Train; "val", data.Val; "test", data.Test ] do
                $"{name}/observations", ofMatrix split.Observations
                $"{name}/states", ofMatrix (Array2D.map float split.States)
                $"{name}/latents", ofMatrix split.Latents
                $"{name}/emissions", ofMatrix split.Emissions
            for i, s in Array.indexed data.Systems do
                $"systems/{i}/dynamics", ofMatrices s.Dynamics
                $"systems/{i}/biases", tensor [| s.Biases.Length; latentDim |] (Array.concat s.Biases)
                $"systems/{i}/noise_covariances", ofMatrices s.NoiseCovariances
                $"systems/{i}/emission", ofMatrix s.Emission
                $"systems/{i}/emission_bias", tensor [| s.EmissionBias.Length |] s.EmissionBias

                $"systems/{i}/emission_noise_variances",
                tensor [| s.EmissionNoiseVariances.Length |] s.EmissionNoiseVariances

                $"systems/{i}/transitions", ofMatrix s.Transitions
            match data.Projection with
            | Some p -> "projection", ofMatrix p
            | None -> ()
            let ts = trueTimescales data
            "true_timescales", tensor [| ts.Length |] ts
        ]

    /// Writes `data` to the HDF5 file `path` (float64 datasets, `hdf5Entries`), atomically.
    let writeHdf5 (path: string) (data: SldsData) = Hdf5.write path (hdf5Entries data)
