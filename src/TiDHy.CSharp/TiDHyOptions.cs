using System.Globalization;
using System.Text;
using System.Text.Json;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// Every hyperparameter of a TiDHy model, with upstream's SLDS defaults. Each property's
/// documentation gives its upstream (JSON) name. A plain mutable options object: set what you
/// need, then pass it to <see cref="TiDHyModel.Create"/>; the model keeps its own copy.
/// </summary>
public sealed class TiDHyOptions
{
    /// <summary>Options with upstream's defaults and <see cref="InputDim"/> = 0, which must be set before use.</summary>
    public TiDHyOptions()
        : this(0) { }

    /// <summary>Options with upstream's defaults for <paramref name="inputDim"/> observation features.</summary>
    /// <param name="inputDim">The number of observation features <c>D</c>.</param>
    public TiDHyOptions(int inputDim) => Read(F.ConfigJson.toJson(F.ConfigModule.defaults(inputDim)));

    /// <summary><c>input_dim</c>: observation features <c>D</c>.</summary>
    public int InputDim { get; set; }

    /// <summary><c>r_dim</c>: latent size <c>R</c>.</summary>
    public int RDim { get; set; }

    /// <summary><c>r2_dim</c>: higher-order latent size <c>R2</c>.</summary>
    public int R2Dim { get; set; }

    /// <summary><c>mix_dim</c>: number of dynamics matrices <c>M</c>.</summary>
    public int MixDim { get; set; }

    /// <summary><c>hyper_hid_dim</c>: hidden width of the hypernetwork and of the nonlinear decoder.</summary>
    public int HyperHidDim { get; set; }

    /// <summary><c>r2_decoder_hid_dim</c>: hidden width of the r2 decoder.</summary>
    public int R2DecoderHidDim { get; set; }

    /// <summary><c>loss_type</c>: the observation loss.</summary>
    public LossKind Loss { get; set; }

    /// <summary><c>nonlin_decoder</c>: an MLP spatial decoder instead of a linear one.</summary>
    public bool NonlinDecoder { get; set; }

    /// <summary><c>low_rank_temp</c>: low-rank dynamics matrices <c>V_k = U_k·U_kᵀ</c>.</summary>
    public bool LowRankTemp { get; set; }

    /// <summary><c>dyn_bias</c>: a dynamic bias added to the temporal prediction.</summary>
    public bool DynBias { get; set; }

    /// <summary><c>use_r2_decoder</c>: predict <c>r2_t</c> from <c>[r_{t−1}, r2_{t−1}]</c>.</summary>
    public bool UseR2Decoder { get; set; }

    /// <summary><c>max_iter</c>: inference iterations at most (at least 10).</summary>
    public int MaxIter { get; set; }

    /// <summary><c>tol</c>: relative-change tolerance of inference.</summary>
    public double Tol { get; set; }

    /// <summary><c>lr_r</c>: inference step size for <c>r</c>.</summary>
    public double LrR { get; set; }

    /// <summary><c>lr_r2</c>: inference step size for <c>r2</c>.</summary>
    public double LrR2 { get; set; }

    /// <summary><c>temp_weight</c>: weight of the temporal prediction error.</summary>
    public double TempWeight { get; set; }

    /// <summary><c>lmda_r</c>: soft threshold of <c>r</c> after each inference step.</summary>
    public double LmdaR { get; set; }

    /// <summary><c>lmda_r2</c>: soft threshold of <c>r2</c> after each inference step.</summary>
    public double LmdaR2 { get; set; }

    /// <summary><c>L1_inf_w</c>: L1 weight on the mixture weights during inference.</summary>
    public double L1InfW { get; set; }

    /// <summary><c>L1_inf_r</c>: L1 weight on <c>r</c> during inference.</summary>
    public double L1InfR { get; set; }

    /// <summary><c>L1_inf_r2</c>: L1 weight on <c>r2</c> during inference.</summary>
    public double L1InfR2 { get; set; }

    /// <summary><c>batch_scaling</c>: how inference scales the data terms (upstream: <see cref="CSharp.BatchScaling.BatchMean"/>).</summary>
    public BatchScaling BatchScaling { get; set; }

    /// <summary><c>convergence</c>: when inference stops (upstream <c>batch_converge</c>).</summary>
    public ConvergenceMode Convergence { get; set; }

    /// <summary><c>backend</c>: which implementation runs inference (not upstream; <see cref="InferenceBackend.Fused"/> by default).</summary>
    public InferenceBackend Backend { get; set; }

    /// <summary><c>stateful</c>: consecutive windows continue from the previous window's final state.</summary>
    public bool Stateful { get; set; }

    /// <summary><c>normalize_spatial</c>: unit-norm columns of the spatial decoder's first weight.</summary>
    public bool NormalizeSpatial { get; set; }

    /// <summary><c>normalize_temporal</c>: unit-norm rows of the temporal matrices.</summary>
    public bool NormalizeTemporal { get; set; }

    /// <summary><c>learning_rate_s</c>: AdamW rate of the spatial decoder.</summary>
    public double LearningRateS { get; set; }

    /// <summary><c>learning_rate_t</c>: AdamW rate of the temporal matrices and bias.</summary>
    public double LearningRateT { get; set; }

    /// <summary><c>learning_rate_h</c>: AdamW rate of the hypernetwork and the r2 decoder.</summary>
    public double LearningRateH { get; set; }

    /// <summary><c>weight_decay</c>: AdamW weight decay.</summary>
    public double WeightDecay { get; set; }

    /// <summary><c>clip_grad</c>: global gradient-norm clip (positive).</summary>
    public double ClipGrad { get; set; }

    /// <summary><c>cos_eta</c>: weight of the cosine regulariser of the temporal matrices.</summary>
    public double CosEta { get; set; }

    /// <summary><c>Orth_alpha_r2</c>: weight of the orthogonality regulariser of the hypernetwork input.</summary>
    public double OrthAlphaR2 { get; set; }

    /// <summary><c>grad_norm</c>: GradNorm task balancing.</summary>
    public bool GradNorm { get; set; }

    /// <summary><c>grad_alpha</c>: GradNorm's restoring-force exponent.</summary>
    public double GradAlpha { get; set; }

    /// <summary><c>lr_weights</c>: GradNorm's task-weight learning rate.</summary>
    public double LrWeights { get; set; }

    /// <summary><c>L1_alpha</c>: L1 weight on the temporal matrices.</summary>
    public double L1Alpha { get; set; }

    /// <summary><c>L1_alpha_W</c>: L1 weight on the hypernetwork's last weight.</summary>
    public double L1AlphaW { get; set; }

    /// <summary><c>L1_alpha_spat</c>: L1 weight on the rows of the spatial decoder's first weight.</summary>
    public double L1AlphaSpat { get; set; }

    /// <summary><c>Orth_alpha_spat</c>: orthogonality weight on the spatial decoder's first weight.</summary>
    public double OrthAlphaSpat { get; set; }

    /// <summary><c>Lnuc_alpha</c>: nuclear-norm weight on the dynamics matrices.</summary>
    public double LnucAlpha { get; set; }

    /// <summary><c>sequence_length</c>: time steps per training window.</summary>
    public int SequenceLength { get; set; }

    /// <summary><c>overlap</c>: upstream's name for the step between the starts of consecutive training windows, from 1 to <see cref="SequenceLength"/> (non-overlapping windows).</summary>
    public int Overlap { get; set; }

    /// <summary><c>num_epochs</c>: training epochs (the default of <see cref="FitSettings.Epochs"/>).</summary>
    public int NumEpochs { get; set; }

    /// <summary>
    /// Reads options from a JSON object with upstream's names (as in the fixtures' <c>config</c> and
    /// the <c>tidhy</c> CLI): <c>input_dim</c> is required, missing keys take the defaults, unknown
    /// keys are rejected.
    /// </summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The options, validated.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not valid JSON, or a key is unknown, mistyped or invalid; the message names each.</exception>
    public static TiDHyOptions FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return FromConfig(Interop.Call(() => F.ConfigJson.parse(json), nameof(json)));
    }

    /// <summary>The JSON object of these options with upstream's names; <see cref="FromJson"/> reads it back.</summary>
    /// <returns>Indented JSON text.</returns>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="Validate"/>).</exception>
    public string ToJson() => F.ConfigJson.toJson(ToConfig(null));

    /// <summary>Checks every option at once.</summary>
    /// <exception cref="ArgumentException">Some option is invalid; the message names every invalid property with its value and the reason.</exception>
    public void Validate() => ToConfig(null);

    /// <summary>A copy of these options.</summary>
    /// <returns>A new, independent options object.</returns>
    public TiDHyOptions Clone() => (TiDHyOptions)MemberwiseClone();

    /// <summary>The validated F# configuration; errors become <see cref="ArgumentException"/> with <paramref name="paramName"/>.</summary>
    internal F.Config ToConfig(string? paramName)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var field in Fields)
            {
                writer.WritePropertyName(field.Key);
                field.Write(this, writer);
            }

            writer.WriteEndObject();
        }

        var json = Encoding.UTF8.GetString(buffer.ToArray());
        return Interop.Call(() => F.ConfigJson.parse(json), paramName);
    }

    /// <summary>Options holding the values of an F# configuration.</summary>
    internal static TiDHyOptions FromConfig(F.Config config)
    {
        var options = new TiDHyOptions(config.InputDim);
        options.Read(F.ConfigJson.toJson(config));
        return options;
    }

    /// <summary>The property name of an upstream key, or the key itself when it is no property.</summary>
    internal static string PropertyOf(string key) =>
        Fields.FirstOrDefault(f => f.Key == key)?.Property ?? key;

    private void Read(string json)
    {
        using var doc = JsonDocument.Parse(json);
        foreach (var field in Fields)
        {
            if (doc.RootElement.TryGetProperty(field.Key, out var value))
            {
                field.Read(this, value);
            }
        }
    }

    private sealed record Field(
        string Key,
        string Property,
        Action<TiDHyOptions, Utf8JsonWriter> Write,
        Action<TiDHyOptions, JsonElement> Read
    );

    private static Field Int(string key, string property, Func<TiDHyOptions, int> get, Action<TiDHyOptions, int> set) =>
        new(key, property, (o, w) => w.WriteNumberValue(get(o)), (o, e) => set(o, e.GetInt32()));

    private static Field Bool(string key, string property, Func<TiDHyOptions, bool> get, Action<TiDHyOptions, bool> set) =>
        new(key, property, (o, w) => w.WriteBooleanValue(get(o)), (o, e) => set(o, e.GetBoolean()));

    // Non-finite numbers travel as the strings "NaN", "Infinity", "-Infinity", as ConfigJson reads them.
    private static Field Real(string key, string property, Func<TiDHyOptions, double> get, Action<TiDHyOptions, double> set) =>
        new(
            key,
            property,
            (o, w) =>
            {
                var v = get(o);
                if (double.IsFinite(v))
                {
                    w.WriteNumberValue(v);
                }
                else
                {
                    w.WriteStringValue(v.ToString(CultureInfo.InvariantCulture));
                }
            },
            (o, e) =>
                set(
                    o,
                    e.ValueKind == JsonValueKind.String
                        ? double.Parse(e.GetString()!, CultureInfo.InvariantCulture)
                        : e.GetDouble()
                )
        );

    private static Field Name<T>(string key, string property, Func<TiDHyOptions, T> get, Action<TiDHyOptions, T> set, params (T Value, string Name)[] names)
        where T : struct, Enum =>
        new(
            key,
            property,
            (o, w) => w.WriteStringValue(names.First(n => n.Value.Equals(get(o))).Name),
            (o, e) => set(o, names.First(n => n.Name == e.GetString()).Value)
        );

    private static readonly Field[] Fields =
    [
        Int("input_dim", nameof(InputDim), o => o.InputDim, (o, v) => o.InputDim = v),
        Int("r_dim", nameof(RDim), o => o.RDim, (o, v) => o.RDim = v),
        Int("r2_dim", nameof(R2Dim), o => o.R2Dim, (o, v) => o.R2Dim = v),
        Int("mix_dim", nameof(MixDim), o => o.MixDim, (o, v) => o.MixDim = v),
        Int("hyper_hid_dim", nameof(HyperHidDim), o => o.HyperHidDim, (o, v) => o.HyperHidDim = v),
        Int("r2_decoder_hid_dim", nameof(R2DecoderHidDim), o => o.R2DecoderHidDim, (o, v) => o.R2DecoderHidDim = v),
        Name(
            "loss_type",
            nameof(Loss),
            o => o.Loss,
            (o, v) => o.Loss = v,
            (LossKind.Mse, "MSE"),
            (LossKind.Bce, "BCE"),
            (LossKind.Poisson, "Poisson")
        ),
        Bool("nonlin_decoder", nameof(NonlinDecoder), o => o.NonlinDecoder, (o, v) => o.NonlinDecoder = v),
        Bool("low_rank_temp", nameof(LowRankTemp), o => o.LowRankTemp, (o, v) => o.LowRankTemp = v),
        Bool("dyn_bias", nameof(DynBias), o => o.DynBias, (o, v) => o.DynBias = v),
        Bool("use_r2_decoder", nameof(UseR2Decoder), o => o.UseR2Decoder, (o, v) => o.UseR2Decoder = v),
        Int("max_iter", nameof(MaxIter), o => o.MaxIter, (o, v) => o.MaxIter = v),
        Real("tol", nameof(Tol), o => o.Tol, (o, v) => o.Tol = v),
        Real("lr_r", nameof(LrR), o => o.LrR, (o, v) => o.LrR = v),
        Real("lr_r2", nameof(LrR2), o => o.LrR2, (o, v) => o.LrR2 = v),
        Real("temp_weight", nameof(TempWeight), o => o.TempWeight, (o, v) => o.TempWeight = v),
        Real("lmda_r", nameof(LmdaR), o => o.LmdaR, (o, v) => o.LmdaR = v),
        Real("lmda_r2", nameof(LmdaR2), o => o.LmdaR2, (o, v) => o.LmdaR2 = v),
        Real("L1_inf_w", nameof(L1InfW), o => o.L1InfW, (o, v) => o.L1InfW = v),
        Real("L1_inf_r", nameof(L1InfR), o => o.L1InfR, (o, v) => o.L1InfR = v),
        Real("L1_inf_r2", nameof(L1InfR2), o => o.L1InfR2, (o, v) => o.L1InfR2 = v),
        Name(
            "batch_scaling",
            nameof(BatchScaling),
            o => o.BatchScaling,
            (o, v) => o.BatchScaling = v,
            (BatchScaling.BatchMean, "BatchMean"),
            (BatchScaling.PerSample, "PerSample")
        ),
        Name(
            "convergence",
            nameof(Convergence),
            o => o.Convergence,
            (o, v) => o.Convergence = v,
            (ConvergenceMode.Batch, "Batch"),
            (ConvergenceMode.AllSamples, "AllSamples"),
            (ConvergenceMode.PerSample, "PerSample")
        ),
        Name(
            "backend",
            nameof(Backend),
            o => o.Backend,
            (o, v) => o.Backend = v,
            (InferenceBackend.Fused, "Fused"),
            (InferenceBackend.FusedFloat32, "FusedFloat32"),
            (InferenceBackend.Reference, "Reference")
        ),
        Bool("stateful", nameof(Stateful), o => o.Stateful, (o, v) => o.Stateful = v),
        Bool("normalize_spatial", nameof(NormalizeSpatial), o => o.NormalizeSpatial, (o, v) => o.NormalizeSpatial = v),
        Bool("normalize_temporal", nameof(NormalizeTemporal), o => o.NormalizeTemporal, (o, v) => o.NormalizeTemporal = v),
        Real("learning_rate_s", nameof(LearningRateS), o => o.LearningRateS, (o, v) => o.LearningRateS = v),
        Real("learning_rate_t", nameof(LearningRateT), o => o.LearningRateT, (o, v) => o.LearningRateT = v),
        Real("learning_rate_h", nameof(LearningRateH), o => o.LearningRateH, (o, v) => o.LearningRateH = v),
        Real("weight_decay", nameof(WeightDecay), o => o.WeightDecay, (o, v) => o.WeightDecay = v),
        Real("clip_grad", nameof(ClipGrad), o => o.ClipGrad, (o, v) => o.ClipGrad = v),
        Real("cos_eta", nameof(CosEta), o => o.CosEta, (o, v) => o.CosEta = v),
        Real("Orth_alpha_r2", nameof(OrthAlphaR2), o => o.OrthAlphaR2, (o, v) => o.OrthAlphaR2 = v),
        Bool("grad_norm", nameof(GradNorm), o => o.GradNorm, (o, v) => o.GradNorm = v),
        Real("grad_alpha", nameof(GradAlpha), o => o.GradAlpha, (o, v) => o.GradAlpha = v),
        Real("lr_weights", nameof(LrWeights), o => o.LrWeights, (o, v) => o.LrWeights = v),
        Real("L1_alpha", nameof(L1Alpha), o => o.L1Alpha, (o, v) => o.L1Alpha = v),
        Real("L1_alpha_W", nameof(L1AlphaW), o => o.L1AlphaW, (o, v) => o.L1AlphaW = v),
        Real("L1_alpha_spat", nameof(L1AlphaSpat), o => o.L1AlphaSpat, (o, v) => o.L1AlphaSpat = v),
        Real("Orth_alpha_spat", nameof(OrthAlphaSpat), o => o.OrthAlphaSpat, (o, v) => o.OrthAlphaSpat = v),
        Real("Lnuc_alpha", nameof(LnucAlpha), o => o.LnucAlpha, (o, v) => o.LnucAlpha = v),
        Int("sequence_length", nameof(SequenceLength), o => o.SequenceLength, (o, v) => o.SequenceLength = v),
        Int("overlap", nameof(Overlap), o => o.Overlap, (o, v) => o.Overlap = v),
        Int("num_epochs", nameof(NumEpochs), o => o.NumEpochs, (o, v) => o.NumEpochs = v),
    ];
}
