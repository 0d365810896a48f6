using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// A TiDHy model with its training state: create or load one, fit it to windows of a time series,
/// infer latents, evaluate, and save or export it. Each member is one call into the TiDHy.Functional
/// core; arrays are <c>[windows, time, features]</c> (<c>double[,,]</c>) or <c>[batch, features]</c>
/// (<c>double[,]</c>). An instance is not safe for concurrent use while <see cref="Fit"/> runs.
/// </summary>
public sealed class TiDHyModel
{
    private readonly F.Config config;
    private F.TrainState state;

    private TiDHyModel(F.Config config, F.TrainState state)
    {
        this.config = config;
        this.state = state;
    }

    /// <summary>A copy of the model's options; changing it does not change the model.</summary>
    public TiDHyOptions Options => TiDHyOptions.FromConfig(config);

    /// <summary>Epochs completed by all fits so far.</summary>
    public int EpochsCompleted => state.Epoch;

    /// <summary>One summary per completed epoch, in order.</summary>
    public IReadOnlyList<EpochSummary> History => Array.AsReadOnly(state.History.Select(EpochSummary.From).ToArray());

    /// <summary>The epoch of the best parameters seen by <see cref="Fit"/>; null before the first epoch completes.</summary>
    public int? BestEpoch => Interop.ValueOrNull(state.Best)?.Epoch;

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
    /// <returns>The model with its whole training state: a later <see cref="Fit"/> continues exactly where it was saved.</returns>
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
    /// <param name="train">Training windows <c>[windows, time ≥ 2, InputDim]</c>, finite.</param>
    /// <param name="validation">Validation windows <c>[windows, time ≥ 2, InputDim]</c>, or null for none.</param>
    /// <param name="settings">Batch size, epochs, seed, validation and checkpoint folder; null for the defaults.</param>
    /// <param name="progress">Told after every batch, on the training thread (a <see cref="Progress{T}"/> posts it to its synchronisation context).</param>
    /// <param name="cancellationToken">
    /// Checked before every batch. Cancelling is not an error: the fit returns after the batch in
    /// progress with <see cref="TrainingReport.Cancelled"/> set, and the next call resumes exactly there.
    /// </param>
    /// <returns>The history so far, the best epoch, and whether the fit was cancelled.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException">A window array has the wrong shape or a non-finite entry, or a setting is out of range; the message names it.</exception>
    /// <exception cref="InvalidOperationException">Training diverged (a non-finite loss), or the state was saved mid-epoch with another batch size.</exception>
    public TrainingReport Fit(
        double[,,] train,
        double[,,]? validation = null,
        FitSettings? settings = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default
    )
    {
        ArgumentNullException.ThrowIfNull(train);
        settings ??= new FitSettings();
        var options = new F.FitOptions(
            settings.BatchSize,
            settings.Epochs ?? config.NumEpochs,
            settings.Seed,
            settings.ValidateEvery,
            Interop.Option(settings.CheckpointDirectory),
            Interop.Function<F.FitProgress>(p => progress?.Report(TrainingProgress.From(p))),
            cancellationToken
        );
        var result = Interop.Call(
            () => F.Train.fit(config, options, train, Interop.Option(validation), state),
            null,
            ("options", nameof(settings)),
            ("batchSize", nameof(settings)),
            ("n", nameof(train))
        );
        state = result.State;
        return TrainingReport.From(result);
    }

    /// <summary>
    /// Switches to the best parameters seen by <see cref="Fit"/>; the epoch count, history and
    /// optimiser state stay as they are.
    /// </summary>
    /// <returns>False, changing nothing, when no epoch has completed yet.</returns>
    public bool UseBest()
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

    /// <summary>Inference at one time step: the latents that explain <paramref name="x"/> given the previous step's latents.</summary>
    /// <param name="x">Observations <c>[batch, InputDim]</c>.</param>
    /// <param name="previousR">The previous step's <c>r</c>: <c>[batch, RDim]</c>.</param>
    /// <param name="previousR2">The previous step's <c>r2</c>, where inference of <c>r2</c> starts: <c>[batch, R2Dim]</c>.</param>
    /// <returns>The new <c>r</c> and <c>r2</c> with iteration counts.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An array has the wrong shape or a non-finite entry; the message names it.</exception>
    public InferenceResult Infer(double[,] x, double[,] previousR, double[,] previousR2)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(previousR);
        ArgumentNullException.ThrowIfNull(previousR2);
        return InferenceResult.From(
            Interop.Call(
                () => F.Inference.infer(config, state.Params, x, previousR, previousR2),
                null,
                ("rP", nameof(previousR)),
                ("r2", nameof(previousR2))
            )
        );
    }

    /// <summary>Inference at the first time step, without previous latents (upstream's <c>inf_first_step</c>).</summary>
    /// <param name="x">Observations <c>[batch, InputDim]</c>.</param>
    /// <returns><c>r</c>, with <c>r2</c> zero: the state from which <see cref="Infer"/> continues.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong shape or a non-finite entry.</exception>
    public InferenceResult InferFirstStep(double[,] x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return InferenceResult.From(Interop.Call(() => F.Inference.inferFirstStep(config, state.Params, x), null), config.R2Dim);
    }

    /// <summary>The evaluation record of windows, each from a fresh state (upstream's evaluation).</summary>
    /// <param name="windows">Windows <c>[windows, time ≥ 1, InputDim]</c>, finite.</param>
    /// <returns>Reconstructions, predictions, latents, mixture weights and losses over time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> has the wrong shape or a non-finite entry.</exception>
    public Evaluation Evaluate(double[,,] windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        return Evaluation.From(
            Interop.Call(
                () => F.Evaluate.evaluateRecord(config, state.Params, Interop.Option<F.Carry>(null), windows),
                null,
                ("X", nameof(windows))
            )
        );
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
