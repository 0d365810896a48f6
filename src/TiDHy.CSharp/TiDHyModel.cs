using System.Runtime.ExceptionServices;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// A TiDHy model with its training state: create or load one, fit it to windows of a time series,
/// infer latents, evaluate, and save or export it. Each member is one call into the TiDHy.Functional
/// core; arrays are <c>[windows, time, features]</c> (<c>double[,,]</c>) or <c>[batch, features]</c>
/// (<c>double[,]</c>). Every method that takes data also takes <c>float</c> arrays, widened exactly
/// to <c>double</c> (set <see cref="TiDHyOptions.Backend"/> to <see cref="Backend.FusedFloat32"/> to
/// run inference itself in float32). One
/// <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>
/// runs at a time on an instance: a second <c>Fit</c> or <see cref="UseBest"/> while one runs (from
/// another thread, or from its progress callback) throws <see cref="InvalidOperationException"/> at
/// once, changing nothing. Inference, evaluation and saving during a fit see the parameters from
/// before it.
/// </summary>
/// <remarks>
/// <see cref="Infer(double[,], double[,], double[,])"/>, <see cref="InferFirstStep(double[,])"/> and
/// <see cref="Evaluate(double[,,])"/> run their samples in consecutive batches of
/// <see cref="TrainingBatchSize"/> (or of the batch size given): under upstream's
/// <see cref="BatchScaling.BatchMean"/> scaling each sample's inference step is <c>lr/B</c> for a
/// batch of <c>B</c>, and with <see cref="Convergence.Batch"/> a batch stops together, so one batch
/// of everything would make the results depend on how many samples a call holds. In batches, the
/// same samples at the same positions give the same results however the calls are split at
/// multiples of the batch size; with <see cref="BatchScaling.PerSample"/> and
/// <see cref="Convergence.PerSample"/> every sample is independent of the others.
/// </remarks>
public sealed partial class TiDHyModel
{
    /// <summary>Training's default batch size, and so the default batch of inference and evaluation (<see cref="FitSettings.BatchSize"/>).</summary>
    private const int DefaultBatchSize = 16;

    private readonly F.Config config;
    private F.TrainState state;

    /// <summary>1 while a <c>Fit</c> (or <see cref="UseBest"/>) changes <see cref="state"/>, else 0.</summary>
    private int busy;

    private TiDHyModel(F.Config config, F.TrainState state)
    {
        this.config = config;
        this.state = state;
    }

    /// <summary>A copy of the model's options; changing it does not change the model.</summary>
    public TiDHyOptions Options => TiDHyOptions.FromConfig(config);

    /// <summary>
    /// The batch size of inference and evaluation when a call gives none: that of the last
    /// <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>
    /// on this instance, else 16 (<see cref="FitSettings.BatchSize"/>'s default), so that inference
    /// runs as it did in training (see the remarks of <see cref="TiDHyModel"/>).
    /// </summary>
    public int TrainingBatchSize { get; private set; } = DefaultBatchSize;

    /// <summary>
    /// The full name of the generated fused kernel class (a <c>[TiDHyKernel]</c> declaration) that
    /// runs this model's inference: the most specific registered kernel that matches the options,
    /// an application's own declaration included (e.g. <c>TiDHy.Kernels.SldsKernel</c>,
    /// <c>TiDHy.Kernels.GeneralKernel</c>); null with <see cref="Backend.Reference"/>, which runs the
    /// F# reference path.
    /// </summary>
    public string? InferenceKernel => Microsoft.FSharp.Core.OptionModule.ToObj(F.Inference.kernelName(config));

    /// <summary>The model's current parameters (for the analyses).</summary>
    internal F.Params CurrentParams => state.Params;

    /// <summary>Epochs completed by all fits so far.</summary>
    public int EpochsCompleted => state.Epoch;

    /// <summary>One summary per completed epoch, in order.</summary>
    public IReadOnlyList<EpochSummary> History => Array.AsReadOnly(state.History.Select(EpochSummary.From).ToArray());

    /// <summary>
    /// The epoch of the best parameters seen by <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>,
    /// counted from 1 as <see cref="EpochSummary.Epoch"/> is (<c>History[BestEpoch - 1]</c> is its summary);
    /// null before the first epoch completes.
    /// </summary>
    public int? BestEpoch => Interop.ValueOrNull(state.Best)?.Epoch + 1;

    /// <summary>A new model with parameters drawn from <paramref name="seed"/> (upstream's initialisation).</summary>
    /// <param name="options">The hyperparameters; the model keeps a copy.</param>
    /// <param name="seed">The seed of the initial parameters: the same seed gives the same model.</param>
    /// <returns>An untrained model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">The options are invalid; the message names every invalid property.</exception>
    public static TiDHyModel Create(TiDHyOptions options, int seed)
    {
        var cfg = Config(options, nameof(options));
        return new(cfg, F.Train.init(cfg, F.Random.key(seed)));
    }

    /// <summary>A model with the weights of a PyTorch state_dict saved as JSON (<c>{name: {"shape": […], "data": […]}}</c>, upstream's names).</summary>
    /// <param name="options">The hyperparameters the weights were trained with.</param>
    /// <param name="stateDictPath">The JSON file.</param>
    /// <returns>A model ready for inference, evaluation or further training.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="stateDictPath"/>.</exception>
    /// <exception cref="InvalidDataException">The file is malformed or its tensors do not fit the options; the message lists every problem.</exception>
    public static TiDHyModel ImportTorch(TiDHyOptions options, string stateDictPath)
    {
        var cfg = Config(options, nameof(options));
        Interop.RequireFile(stateDictPath, nameof(stateDictPath));
        return new(cfg, Interop.Call(() => F.Train.initState(cfg, F.StateDict.load(cfg, stateDictPath)), nameof(options)));
    }

    /// <summary>Loads a checkpoint written by <see cref="SaveCheckpoint"/> or by a fit's checkpoint folder, with the options stored in it.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The model with its whole training state: a later <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/> continues exactly where it was saved.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, or is truncated or corrupted.</exception>
    public static TiDHyModel LoadCheckpoint(string path)
    {
        Interop.RequireFile(path, nameof(path));
        var stored = Interop.Call(() => F.Checkpoint.read(path), null);
        return new(stored.Config, stored.State);
    }

    /// <summary>Loads a checkpoint and checks that it was made with <paramref name="expected"/>.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="expected">The options the checkpoint must have been made with.</param>
    /// <returns>The model with its whole training state.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="expected"/> is invalid.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid checkpoint, or was made with other options; the message lists every difference.</exception>
    public static TiDHyModel LoadCheckpoint(string path, TiDHyOptions expected)
    {
        var cfg = Config(expected, nameof(expected));
        Interop.RequireFile(path, nameof(path));
        return new(cfg, Interop.Call(() => F.Checkpoint.load(cfg, path), nameof(expected)));
    }

    /// <summary>
    /// Trains on windows of a series: epochs of shuffled batches (inference, gradients, clipping,
    /// AdamW, GradNorm), validating as <paramref name="settings"/> say and keeping the best
    /// parameters. The model keeps the training state, so a second call continues (up to
    /// <see cref="FitSettings.Epochs"/> epochs in total).
    /// </summary>
    /// <param name="train">Training windows <c>[windows, time ≥ 2, InputDimension]</c>, finite.</param>
    /// <param name="validation">Validation windows <c>[windows, time ≥ 2, InputDimension]</c>, or null for none.</param>
    /// <param name="settings">Batch size, epochs, seed, validation and checkpoint folder; null for the defaults.</param>
    /// <param name="progress">Told after every batch, on the training thread (a <see cref="Progress{T}"/> posts it to its synchronisation context).</param>
    /// <param name="cancellationToken">
    /// Checked before every batch. Cancelling is not an error: the fit returns after the batch in
    /// progress with <see cref="TrainingReport.Cancelled"/> set, and the next call resumes exactly there.
    /// </param>
    /// <returns>The history so far, the best epoch, and whether the fit was cancelled.</returns>
    /// <remarks>
    /// When the fit fails after completing epochs (training diverges, or <paramref name="progress"/>
    /// throws), the exception reaches the caller unchanged and the model keeps the state at the end
    /// of the last epoch completed, the state the checkpoint folder's <c>last.tidhy.json</c> holds;
    /// the batches of the epoch in progress are dropped, and the next call repeats them exactly.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException">A window array has the wrong shape or a non-finite entry, or a setting is out of range; the message names it.</exception>
    /// <exception cref="InvalidOperationException">Training diverged (a non-finite loss), the state was saved mid-epoch with another batch size, or another <c>Fit</c> is running on this model.</exception>
#pragma warning disable RS0026 // See the float32 overload.
    public TrainingReport Fit(
        double[,,] train,
        double[,,]? validation = null,
        FitSettings? settings = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default
    )
    {
        ArgumentNullException.ThrowIfNull(train);
        Enter(nameof(Fit));
        try
        {
            return FitExclusive(train, validation, settings ?? new FitSettings(), progress, cancellationToken);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }
#pragma warning restore RS0026

    /// <summary>Marks the model busy, or throws when a <c>Fit</c> already runs on it.</summary>
    /// <param name="member">The member called, for the message.</param>
    private void Enter(string member)
    {
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            throw new InvalidOperationException(
                $"{member}: a Fit is already running on this model (on another thread, or this call comes from its progress callback); "
                    + "a model runs one Fit at a time: wait for that Fit to return, or train another model (e.g. TiDHyModel.LoadCheckpoint of a saved checkpoint)."
            );
        }
    }

    private TrainingReport FitExclusive(
        double[,,] train,
        double[,,]? validation,
        FitSettings settings,
        IProgress<TrainingProgress>? progress,
        CancellationToken cancellationToken
    )
    {
        // The state at the end of the last epoch completed (what last.tidhy.json holds), and an
        // exception of the progress callback, rethrown unchanged (not translated by Interop.Call).
        F.TrainState? completed = null;
        ExceptionDispatchInfo? callbackFailure = null;
        var options = new F.FitOptions(
            settings.BatchSize,
            settings.Epochs ?? config.NumEpochs,
            settings.Seed,
            settings.ValidateEvery,
            Interop.Option(settings.CheckpointDirectory),
            Interop.Function<F.FitProgress>(p =>
            {
                completed = Interop.ValueOrNull(p.CompletedState) ?? completed;
                try
                {
                    progress?.Report(TrainingProgress.From(p));
                }
                catch (Exception e)
                {
                    callbackFailure = ExceptionDispatchInfo.Capture(e);
                    throw;
                }
            }),
            cancellationToken
        );
        var monitoring = Monitoring(settings, validation);
        F.FitResult result;
        try
        {
            result = Interop.Call(
                () => monitoring is null
                    ? F.Train.fit(config, options, train, Interop.Option(validation), state)
                    : F.Train.fitMonitored(config, options, monitoring, train, Interop.Option(validation), state),
                null,
                ("options", nameof(settings)),
                ("batchSize", nameof(settings)),
                ("n", nameof(train))
            );
        }
        catch when (completed is not null || callbackFailure is not null)
        {
            // Keep the epochs completed before the failure: the model agrees with the checkpoint.
            if (completed is not null)
            {
                state = completed;
                TrainingBatchSize = settings.BatchSize;
            }

            callbackFailure?.Throw();
            throw;
        }

        state = result.State;
        TrainingBatchSize = settings.BatchSize;
        return TrainingReport.From(result);
    }

    /// <summary>The monitoring that <paramref name="settings"/> ask for, or null; checks the states and the selection.</summary>
    private F.Monitoring? Monitoring(FitSettings settings, double[,,]? validation)
    {
        var selection = settings.Selection switch
        {
            FitSelection.ValidationLoss => F.Selection.ValidationLoss,
            FitSelection.R2HatAccuracy => F.Selection.NewHighestMetric(F.TrainingMonitor.R2HatAccuracy),
            FitSelection.WAccuracy => F.Selection.NewHighestMetric(F.TrainingMonitor.WAccuracy),
            _ => throw new ArgumentException($"settings.Selection = {settings.Selection}: not a selection.", nameof(settings)),
        };
        if (settings.ValidationStates is not { } states)
        {
            if (settings.Selection != FitSelection.ValidationLoss)
                throw new ArgumentException($"settings.Selection = {settings.Selection}: decodes the validation states; set settings.ValidationStates.", nameof(settings));
            return null;
        }
        if (validation is null)
            throw new ArgumentException("settings.ValidationStates: given, but there are no validation windows to decode them from.", nameof(settings));
        if (settings.MonitorEvery < 1)
            throw new ArgumentException($"settings.MonitorEvery = {settings.MonitorEvery}: must be at least 1.", nameof(settings));
        int steps = validation.GetLength(0) * validation.GetLength(1);
        if (states.GetLength(0) != steps)
            throw new ArgumentException($"settings.ValidationStates: expected {steps} rows (validation windows × time), got {states.GetLength(0)}.", nameof(settings));
        foreach (var v in states)
            if (v < 0)
                throw new ArgumentException($"settings.ValidationStates: a state is {v}; states must be non-negative.", nameof(settings));
        var labels = F.Decoding.stateLabels(states);
        var measure = Interop.Call(() => F.TrainingMonitor.decodingMonitor(config, settings.BatchSize, validation, labels), null, ("validation", nameof(settings)), ("batchSize", nameof(settings)));
        return new F.Monitoring(settings.MonitorEvery, measure, selection, Microsoft.FSharp.Core.FSharpOption<string>.None);
    }

    /// <summary>
    /// <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>
    /// on float32 windows, widened exactly to float64.
    /// </summary>
    /// <param name="train">Training windows <c>[windows, time ≥ 2, InputDimension]</c>, finite.</param>
    /// <param name="validation">Validation windows <c>[windows, time ≥ 2, InputDimension]</c>, or null for none.</param>
    /// <param name="settings">Batch size, epochs, seed, validation and checkpoint folder; null for the defaults.</param>
    /// <param name="progress">Told after every batch, on the training thread.</param>
    /// <param name="cancellationToken">Checked before every batch; a cancelled fit returns with <see cref="TrainingReport.Cancelled"/> set.</param>
    /// <returns>The history so far, the best epoch, and whether the fit was cancelled.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException">A window array has the wrong shape or a non-finite entry, or a setting is out of range.</exception>
    /// <exception cref="InvalidOperationException">Training diverged, or the state was saved mid-epoch with another batch size.</exception>
#pragma warning disable RS0026 // Optional parameters on two overloads: they differ in the type of the required first parameter, so no call but a literal null is ambiguous.
    public TrainingReport Fit(
        float[,,] train,
        float[,,]? validation,
        FitSettings? settings = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default
    )
    {
        ArgumentNullException.ThrowIfNull(train);
        return Fit(Batches.Widen(train), validation is null ? null : Batches.Widen(validation), settings, progress, cancellationToken);
    }
#pragma warning restore RS0026

    /// <summary>
    /// Switches to the best parameters seen by <see cref="Fit(double[,,], double[,,], FitSettings, IProgress{TrainingProgress}, CancellationToken)"/>; the epoch count, history and
    /// optimiser state stay as they are.
    /// </summary>
    /// <returns>False, changing nothing, when no epoch has completed yet.</returns>
    /// <exception cref="InvalidOperationException">A <c>Fit</c> is running on this model.</exception>
    public bool UseBest()
    {
        Enter(nameof(UseBest));
        try
        {
            return UseBestExclusive();
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    private bool UseBestExclusive()
    {
        if (Interop.ValueOrNull(state.Best) is not { } best)
        {
            return false;
        }

        state = new F.TrainState(
            best.Params,
            state.Optimizer,
            state.GradNorm,
            state.Epoch,
            state.Batch,
            state.Carry,
            state.Running,
            state.History,
            state.Best
        );
        return true;
    }

    /// <summary>
    /// Inference at one time step: the latents that explain <paramref name="x"/> given the previous
    /// step's latents, in batches of <see cref="TrainingBatchSize"/> samples (see the remarks of
    /// <see cref="TiDHyModel"/> for why).
    /// </summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>, where inference of <c>r2</c> starts: <c>[batch, R2Dimension]</c>.</param>
    /// <returns>The new <c>r</c> and <c>r2</c>, the mixture weights <c>W</c> (and <c>B</c>) they give, with iteration counts.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry; the message names it.</exception>
    public InferenceResult Infer(double[,] x, double[,] previousR, double[,] previousR2) => Infer(x, previousR, previousR2, TrainingBatchSize);

    /// <summary>Inference at one time step (<see cref="Infer(double[,], double[,], double[,])"/>) in batches of <paramref name="batchSize"/> samples.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>: <c>[batch, R2Dimension]</c>.</param>
    /// <param name="batchSize">Samples per inference batch (the last may be smaller); training's batch size keeps inference as it was in training.</param>
    /// <returns>The new <c>r</c> and <c>r2</c>, the mixture weights <c>W</c> (and <c>B</c>) they give, with iteration counts.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry; the message names it.</exception>
    public InferenceResult Infer(double[,] x, double[,] previousR, double[,] previousR2, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(previousR);
        ArgumentNullException.ThrowIfNull(previousR2);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Batches.RequireRows(x, previousR, nameof(previousR));
        Batches.RequireRows(x, previousR2, nameof(previousR2));
        var parts = Batches.Ranges(x.GetLength(0), batchSize)
            .Select(range =>
            {
                var (xs, rs, r2s) = (Batches.Rows(x, range), Batches.Rows(previousR, range), Batches.Rows(previousR2, range));
                return Interop.Call(
                    () =>
                    {
                        var result = F.Inference.infer(config, state.Params, xs, rs, r2s);
                        return (result, F.Model.temporalPrediction(config, state.Params, rs, result.R2));
                    },
                    null,
                    ("x", nameof(x)),
                    ("rP", nameof(previousR)),
                    ("r2", nameof(previousR2))
                );
            })
            .ToArray();
        return InferenceResult.Join(
            parts.Select(p => p.result.R),
            parts.Select(p => p.result.R2),
            parts.Select(p => p.Item2.W),
            config.DynBias ? parts.Select(p => p.Item2.B.Value) : null,
            parts.Select(p => (p.result.Iterations, p.result.Converged, p.result.SampleIterations))
        );
    }

    /// <summary><see cref="Infer(double[,], double[,], double[,])"/> on float32 arrays, widened exactly to float64.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>: <c>[batch, R2Dimension]</c>.</param>
    /// <returns>The new <c>r</c> and <c>r2</c>, the mixture weights <c>W</c> (and <c>B</c>) they give, with iteration counts.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry; the message names it.</exception>
    public InferenceResult Infer(float[,] x, float[,] previousR, float[,] previousR2) => Infer(x, previousR, previousR2, TrainingBatchSize);

    /// <summary><see cref="Infer(double[,], double[,], double[,], int)"/> on float32 arrays, widened exactly to float64.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDimension]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>: <c>[batch, R2Dimension]</c>.</param>
    /// <param name="batchSize">Samples per inference batch (the last may be smaller).</param>
    /// <returns>The new <c>r</c> and <c>r2</c>, the mixture weights <c>W</c> (and <c>B</c>) they give, with iteration counts.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry; the message names it.</exception>
    public InferenceResult Infer(float[,] x, float[,] previousR, float[,] previousR2, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(previousR);
        ArgumentNullException.ThrowIfNull(previousR2);
        return Infer(Batches.Widen(x), Batches.Widen(previousR), Batches.Widen(previousR2), batchSize);
    }

    /// <summary>
    /// Inference at the first time step, without previous latents (upstream's <c>inf_first_step</c>),
    /// in batches of <see cref="TrainingBatchSize"/> samples.
    /// </summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <returns><c>r</c>, with <c>r2</c> zero and no mixture weights: the state from which <see cref="Infer(double[,], double[,], double[,])"/> continues.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong shape or a non-finite entry.</exception>
    public InferenceResult InferFirstStep(double[,] x) => InferFirstStep(x, TrainingBatchSize);

    /// <summary>Inference at the first time step (<see cref="InferFirstStep(double[,])"/>) in batches of <paramref name="batchSize"/> samples.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="batchSize">Samples per inference batch (the last may be smaller).</param>
    /// <returns><c>r</c>, with <c>r2</c> zero and no mixture weights.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong shape or a non-finite entry.</exception>
    public InferenceResult InferFirstStep(double[,] x, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var parts = Batches.Ranges(x.GetLength(0), batchSize)
            .Select(range =>
            {
                var xs = Batches.Rows(x, range);
                return Interop.Call(() => F.Inference.inferFirstStep(config, state.Params, xs), null);
            })
            .ToArray();
        return InferenceResult.Join(
            parts.Select(p => p.R),
            parts.Select(p => new double[p.R.GetLength(0), config.R2Dim]),
            null,
            null,
            parts.Select(p => (p.Iterations, p.Converged, p.SampleIterations))
        );
    }

    /// <summary><see cref="InferFirstStep(double[,])"/> on float32 observations, widened exactly to float64.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <returns><c>r</c>, with <c>r2</c> zero and no mixture weights.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong shape or a non-finite entry.</exception>
    public InferenceResult InferFirstStep(float[,] x) => InferFirstStep(x, TrainingBatchSize);

    /// <summary><see cref="InferFirstStep(double[,], int)"/> on float32 observations, widened exactly to float64.</summary>
    /// <param name="x">Observations <c>[batch, InputDimension]</c>.</param>
    /// <param name="batchSize">Samples per inference batch (the last may be smaller).</param>
    /// <returns><c>r</c>, with <c>r2</c> zero and no mixture weights.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong shape or a non-finite entry.</exception>
    public InferenceResult InferFirstStep(float[,] x, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        return InferFirstStep(Batches.Widen(x), batchSize);
    }

    /// <summary>
    /// The evaluation record of windows, each from a fresh state (upstream's evaluation), in batches
    /// of <see cref="TrainingBatchSize"/> windows (see the remarks of <see cref="TiDHyModel"/> for why).
    /// </summary>
    /// <param name="windows">Windows <c>[windows, time ≥ 1, InputDimension]</c>, finite.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> has the wrong shape or a non-finite entry.</exception>
    public Evaluation Evaluate(double[,,] windows) => Evaluate(windows, TrainingBatchSize);

    /// <summary>
    /// The evaluation record of windows (<see cref="Evaluate(double[,,])"/>) in batches of
    /// <paramref name="batchSize"/> windows, joined: arrays in window order, averages over all
    /// windows, <see cref="Evaluation.Iterations"/> the most any batch took at each step.
    /// </summary>
    /// <param name="windows">Windows <c>[windows, time ≥ 1, InputDimension]</c>, finite.</param>
    /// <param name="batchSize">Windows per batch (the last may be smaller); training's batch size keeps inference as it was in training.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> has the wrong shape or a non-finite entry.</exception>
    public Evaluation Evaluate(double[,,] windows, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return Evaluation.From(
            Interop.Call(() => F.Evaluate.evaluateBatched(config, state.Params, batchSize, windows), null, ("X", nameof(windows)))
        );
    }

    /// <summary><see cref="Evaluate(double[,,])"/> on float32 windows, widened exactly to float64.</summary>
    /// <param name="windows">Windows <c>[windows, time ≥ 1, InputDimension]</c>, finite.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> has the wrong shape or a non-finite entry.</exception>
    public Evaluation Evaluate(float[,,] windows) => Evaluate(windows, TrainingBatchSize);

    /// <summary><see cref="Evaluate(double[,,], int)"/> on float32 windows, widened exactly to float64.</summary>
    /// <param name="windows">Windows <c>[windows, time ≥ 1, InputDimension]</c>, finite.</param>
    /// <param name="batchSize">Windows per batch (the last may be smaller).</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> has the wrong shape or a non-finite entry.</exception>
    public Evaluation Evaluate(float[,,] windows, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(windows);
        return Evaluate(Batches.Widen(windows), batchSize);
    }

    /// <summary>
    /// Writes the whole training state (options, parameters, optimiser, history, best model) to
    /// <paramref name="path"/> atomically, with a checksum; <see cref="LoadCheckpoint(string)"/> reads it.
    /// </summary>
    /// <param name="path">The file to write (replaced if it exists).</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public void SaveCheckpoint(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        F.Checkpoint.save(path, config, state);
    }

    /// <summary>Writes the parameters as a PyTorch state_dict in JSON (upstream's names), atomically; <see cref="ImportTorch"/> reads it.</summary>
    /// <param name="path">The file to write (replaced if it exists).</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public void ExportStateDict(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        F.StateDict.save(path, state.Params);
    }

    private static F.Config Config(TiDHyOptions options, string paramName)
    {
        ArgumentNullException.ThrowIfNull(options, paramName);
        return options.ToConfig(paramName);
    }
}
