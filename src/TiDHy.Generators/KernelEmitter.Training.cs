using System;
using System.Collections.Generic;
using TiDHy.Kernels;

namespace TiDHy.Generators;

/// <summary>
/// The training backward pass of a declaration: a subclass of <c>K.TrainingKernel&lt;T&gt;</c> per precision
/// whose tile code (the four terms of the training objective and their parameter gradients on one tile of
/// samples) has every option the declaration fixes resolved here, at generation time, and every size it
/// fixes as a constant. The runtime base owns the buffers, the chunk scheduling and the fixed-order
/// reduction; <c>K.TrainingLanes&lt;T&gt;</c> holds the lane primitives (products, the MLP's forward and
/// reverse passes) shared by every variant. The algorithm and its summation order are those of the
/// definition's fused form: results do not depend on which variant runs a configuration it covers.
/// </summary>
internal static partial class KernelEmitter
{
    /// <summary>Emits the nested training classes <c>TrainingF32</c> and <c>TrainingF64</c> of <paramref name="spec"/>.</summary>
    private static void EmitTraining(SourceWriter w, KernelSpec spec)
    {
        new TrainingEmitter(w, spec, "float", "F32").Emit();
        new TrainingEmitter(w, spec, "double", "F64").Emit();
    }

    /// <summary>The facade's factory of training kernels (a member of the registry entry).</summary>
    private static void EmitTrainingFactory(SourceWriter w) =>
        w.Line("public override K.ITrainingKernel CreateTraining(K.TrainingShape shape, bool float32) => float32 ? new TrainingF32(shape) : new TrainingF64(shape);");

    private sealed class TrainingEmitter
    {
        private readonly SourceWriter w;
        private readonly KernelSpec spec;
        private readonly KernelOptions o;
        private readonly KernelSizes z;
        private readonly string T;
        private readonly string Vt;
        private readonly string TL;
        private readonly string name;
        private readonly string Zero;
        private readonly string One;

        public TrainingEmitter(SourceWriter w, KernelSpec spec, string t, string suffix)
        {
            this.w = w;
            this.spec = spec;
            o = spec.Options;
            z = spec.Sizes;
            T = t;
            Vt = $"global::System.Numerics.Vector<{t}>";
            TL = $"K.TrainingLanes<{t}>";
            name = "Training" + suffix;
            Zero = t == "float" ? "0f" : "0.0";
            One = t == "float" ? "1f" : "1.0";
        }

        /// <summary>Writes <paramref name="text"/> line by line at the current indentation.</summary>
        private void Block(string text)
        {
            foreach (var line in text.Replace("\r\n", "\n").Split('\n'))
                w.Line(line.TrimEnd());
        }

        /// <summary>A two-way option: one branch when fixed, else a run-time test of <paramref name="flag"/>.</summary>
        private void Opt(KernelSwitch sw, string flag, Action on, Action? off)
        {
            if (sw == KernelSwitch.On) on();
            else if (sw == KernelSwitch.Off) off?.Invoke();
            else
            {
                w.Open($"if ({flag})");
                on();
                w.Close();
                if (off is null) return;
                w.Open("else");
                off();
                w.Close();
            }
        }

        private KernelSwitch Nonlin => o.Decoder switch
        {
            KernelDecoder.Linear => KernelSwitch.Off,
            KernelDecoder.Nonlinear => KernelSwitch.On,
            _ => KernelSwitch.Any,
        };

        public void Emit()
        {
            w.Line($"/// <summary>The training backward pass in {T}, specialised for this declaration.</summary>");
            w.Open($"private sealed class {name} : K.TrainingKernel<{T}>");
            Fields();
            Constructor();
            PrepareTemporal();
            InitialTile();
            StepTile();
            Decoder();
            Temporal();
            w.Close();
            w.Line();
        }

        private void Fields()
        {
            w.Line($"private static readonly int NV = Lanes / {Vt}.Count;");
            if (o.Loss is KernelLoss.Bce or KernelLoss.Any)
            {
                w.Line($"private static readonly {T} BceGuard = ({T})K.ModelConstants.BceGuard;");
                w.Line($"private static readonly {T} Hundred = ({T})(-100.0);");
            }
            w.Line($"private static readonly {T} Two = ({T})2.0;");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M) })
                w.Line(v > 0 ? $"private const int {n} = {v};" : $"private readonly int {n};");
            int fixedO = o.DynBias switch
            {
                KernelSwitch.Off => z.M,
                KernelSwitch.On => z.M > 0 && z.R > 0 ? z.M + z.R : 0,
                _ => 0,
            };
            w.Line(fixedO > 0 ? $"private const int O = {fixedO};" : "private readonly int O;");
            if (o.Loss == KernelLoss.Any) w.Line("private readonly K.KernelLoss lossKind;");
            if (Nonlin == KernelSwitch.Any) w.Line("private readonly bool nonlin;");
            if (o.LowRank == KernelSwitch.Any) w.Line("private readonly bool lowRank;");
            if (o.DynBias == KernelSwitch.Any) w.Line("private readonly bool dynBias;");
            if (o.R2Decoder == KernelSwitch.Any) w.Line("private readonly bool r2dec;");
            w.Line();
            w.Line($"public override string VariantName => {spec.ClassName}.Variant.Name;");
            w.Line();
        }

        private void Constructor()
        {
            var covers = new List<string>();
            if (o.Loss != KernelLoss.Any) covers.Add($"shape.Loss == {EnumLit(o.Loss)}");
            if (Nonlin != KernelSwitch.Any) covers.Add(Nonlin == KernelSwitch.On ? "shape.Nonlinear" : "!shape.Nonlinear");
            foreach (var (n, sw) in new[] { ("LowRank", o.LowRank), ("DynBias", o.DynBias), ("R2Decoder", o.R2Decoder) })
                if (sw != KernelSwitch.Any) covers.Add(sw == KernelSwitch.On ? $"shape.{n}" : $"!shape.{n}");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M), ("H", z.H), ("H2", z.H2) })
                if (v > 0) covers.Add($"shape.{n} == {v}");

            w.Line("/// <summary>Raises <see cref=\"global::System.ArgumentException\"/> when this variant does not cover <paramref name=\"shape\"/>.</summary>");
            w.Open("private static K.TrainingShape Covered(K.TrainingShape shape)");
            if (covers.Count > 0)
            {
                w.Open($"if (!({string.Join(" && ", covers)}))");
                w.Line($"throw new global::System.ArgumentException($\"shape: {{shape}} is not covered by the kernel variant {spec.FullName} ({Describe(spec)}).\", nameof(shape));");
                w.Close();
            }
            w.Line("return shape;");
            w.Close();
            w.Line();
            w.Open($"public {name}(K.TrainingShape shape) : base(Covered(shape))");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M) })
                if (v == 0) w.Line($"{n} = shape.{n};");
            if (!(o.DynBias == KernelSwitch.Off && z.M > 0) && !(o.DynBias == KernelSwitch.On && z.M > 0 && z.R > 0)) w.Line("O = shape.O;");
            if (o.Loss == KernelLoss.Any) w.Line("lossKind = shape.Loss;");
            if (Nonlin == KernelSwitch.Any) w.Line("nonlin = shape.Nonlinear;");
            if (o.LowRank == KernelSwitch.Any) w.Line("lowRank = shape.LowRank;");
            if (o.DynBias == KernelSwitch.Any) w.Line("dynBias = shape.DynBias;");
            if (o.R2Decoder == KernelSwitch.Any) w.Line("r2dec = shape.R2Decoder;");
            w.Close();
            w.Line();
        }

        private void PrepareTemporal()
        {
            w.Open("protected override void PrepareTemporal()");
            w.Line("int at = Layout.Temporal;");
            w.Open("for (int k = 0; k < M; k++)");
            w.Open("for (int i = 0; i < R; i++)");
            w.Open("for (int j = 0; j < R; j++)");
            Opt(o.LowRank, "lowRank",
                () => w.Line("V[(k * R + i) * R + j] = P[at + (k * R + i) * 2] * P[at + (k * R + j) * 2] + P[at + (k * R + i) * 2 + 1] * P[at + (k * R + j) * 2 + 1];"),
                () => w.Line("V[(k * R + i) * R + j] = P[at + k * R * R + i * R + j];"));
            w.Close().Close().Close().Close();
            w.Line();
        }

        private void InitialTile()
        {
            w.Open($"protected override void InitialTile(K.TrainingChunk<{T}> ch, int start, int n, {T} scale)");
            Block($$"""
                {{TL}}.Load(Inputs.X0, start, n, D, ch.X);
                global::System.Array.Clear(ch.Z);
                ch.Sums[0] += Decoder(ch, ch.Z, n, scale, 0, null);
                """);
            w.Close();
            w.Line();
        }

        private void StepTile()
        {
            w.Open($"protected override void StepTile(K.TrainingChunk<{T}> ch, int start, int n, {T} scale)");
            Block($$"""
                var inp = Inputs;
                {{TL}}.Load(inp.X, start, n, D, ch.X);
                {{TL}}.Load(inp.R, start, n, R, ch.R);
                {{TL}}.Load(inp.RPrev, start, n, R, ch.RP);
                {{TL}}.Load(inp.R2, start, n, R2, ch.R2);

                // L_hat: decode(r_t).
                ch.Sums[0] += Decoder(ch, ch.R, n, scale, 0, null);

                // The temporal prediction: wb = relu(hypernet(r2)), P_k = V_k·r_p, r̂ = Σ_k w_k·P_k (+ b ⊙ c).
                {{TL}}.MlpForward(P, Layout.Hyp, ch.R2, ch.Hyp);
                var hout = ch.Hyp.Out;
                for (int i = 0; i < O * Lanes; i++)
                    ch.Wb[i] = hout[i] > {{Zero}} ? hout[i] : {{Zero}};
                for (int k = 0; k < M; k++)
                    {{TL}}.Linear(V, k * R * R, -1, R, R, ch.RP, new global::System.Span<{{T}}>(ch.P, k * R * Lanes, R * Lanes));
                var wbV = {{TL}}.Vec(ch.Wb);
                var pV = {{TL}}.Vec(ch.P);
                var rHatV = {{TL}}.Vec(ch.RHat);
                """);
            if (o.DynBias != KernelSwitch.Off) w.Line("int bias = Layout.Bias;");
            w.Open("for (int i = 0; i < R; i++)");
            w.Open("for (int q = 0; q < NV; q++)");
            w.Line($"var acc = {Vt}.Zero;");
            w.Line("for (int k = 0; k < M; k++)");
            w.Line("    acc += wbV[k * NV + q] * pV[(k * R + i) * NV + q];");
            Opt(o.DynBias, "dynBias", () => w.Line($"acc += wbV[(M + i) * NV + q] * new {Vt}(P[bias + i]);"), null);
            w.Line("rHatV[i * NV + q] = acc;");
            w.Close().Close();
            Block($$"""

                // L_bar: decode(r̂), with the gradient w.r.t. r̂ passed on to the temporal prediction.
                ch.Sums[1] += Decoder(ch, ch.RHat, n, scale, 1, ch.GRHat);
                Temporal(ch, ch.GRHat, 1);

                // temp_weight·L_temp: the seed −2·temp_weight·scale·(r − r̂) on r̂.
                {{T}} c2 = -Two * ({{T}})Shape.TempWeight * scale;
                double temp = 0;
                for (int i = 0; i < R; i++)
                    for (int l = 0; l < Lanes; l++)
                    {
                        int at = i * Lanes + l;
                        if (l < n)
                        {
                            {{T}} d = ch.R[at] - ch.RHat[at];
                            temp += (double)(d * d);
                            ch.GT[at] = c2 * d;
                        }
                        else
                            ch.GT[at] = {{Zero}};
                    }
                ch.Sums[2] += temp;
                Temporal(ch, ch.GT, 2);
                """);
            Opt(o.R2Decoder, "r2dec", () => Block($$"""
                // L_r2: R2dec([r_{t−1}, r2_{t−1}]) against r2_t.
                {{TL}}.Load(inp.RPrev, start, n, R, ch.QIn);
                var tail = new global::System.Span<{{T}}>(ch.QIn, R * Lanes, ch.QIn.Length - R * Lanes);
                for (int f = 0; f < R2; f++)
                    for (int l = 0; l < Lanes; l++)
                        tail[f * Lanes + l] = l < n ? ({{T}})inp.R2Prev[(start + l) * R2 + f] : {{Zero}};
                {{TL}}.MlpForward(P, Layout.Q, ch.QIn, ch.Q);
                {{T}} cq = -Two * scale;
                double r2l = 0;
                for (int i = 0; i < R2; i++)
                    for (int l = 0; l < Lanes; l++)
                    {
                        int at = i * Lanes + l;
                        if (l < n)
                        {
                            {{T}} d = ch.R2[at] - ch.Q.Out[at];
                            r2l += (double)(d * d);
                            ch.GQ[at] = cq * d;
                        }
                        else
                            ch.GQ[at] = {{Zero}};
                    }
                ch.Sums[3] += r2l;
                {{TL}}.MlpBackward(P, Layout.Q, ch.Q, ch.QIn, ch.GQ, ch, new global::System.Span<{{T}}>(ch.Grad, 3 * Layout.Count, Layout.Count), null);
                """), null);
            w.Close();
            w.Line();
        }

        private void Decoder()
        {
            w.Line("/// <summary><c>decode(z)</c> against the tile's <c>x</c>: adds the parameter gradient of <c>scale·Σ_d ℓ(decode(z)_d, x_d)</c> into gradient <paramref name=\"term\"/>, writes the gradient w.r.t. <c>z</c> into <paramref name=\"gz\"/> when given, and returns the loss summed over the valid lanes.</summary>");
            w.Open($"private double Decoder(K.TrainingChunk<{T}> ch, {T}[] z, int n, {T} scale, int term, {T}[]? gz)");
            w.Line($"var acc = new global::System.Span<{T}>(ch.Grad, term * Layout.Count, Layout.Count);");
            w.Line($"{T}[] y;");
            Opt(Nonlin, "nonlin",
                () => Block($$"""
                    {{TL}}.MlpForward(P, Layout.Dec, z, ch.Dec);
                    y = ch.Dec.Out;
                    """),
                () => Block($$"""
                    {{TL}}.Linear(P, Layout.DecW, Layout.DecB, D, R, z, ch.Y);
                    y = ch.Y;
                    """));
            w.Line("double loss = 0;");
            w.Line("var gy = ch.GY;");
            w.Open("for (int d = 0; d < D; d++)");
            w.Open("for (int l = 0; l < Lanes; l++)");
            Block($$"""
                int at = d * Lanes + l;
                if (l >= n)
                {
                    gy[at] = {{Zero}};
                    continue;
                }
                {{T}} obs = ch.X[at];
                """);
            string mse = $$"""
                {{T}} pr = y[at];
                loss += (double)((pr - obs) * (pr - obs));
                gy[at] = scale * (Two * (pr - obs));
                """;
            string bce = $$"""
                {{T}} pr = {{One}} / ({{One}} + {{T}}.Exp(-y[at]));
                {{T}} l1 = {{T}}.Max({{T}}.Log(pr), Hundred), l0 = {{T}}.Max({{T}}.Log({{One}} - pr), Hundred);
                loss += (double)(-(obs * l1 + ({{One}} - obs) * l0));
                {{T}} dl = (pr - obs) / {{T}}.Max(pr * ({{One}} - pr), BceGuard);
                gy[at] = scale * dl * (pr * ({{One}} - pr));
                """;
            string poisson = $$"""
                {{T}} pr = y[at];
                loss += (double)(pr - obs * {{T}}.Log(pr));
                gy[at] = scale * ({{One}} - obs / pr);
                """;
            switch (o.Loss)
            {
                case KernelLoss.Mse: Block(mse); break;
                case KernelLoss.Bce: Block(bce); break;
                case KernelLoss.Poisson: Block(poisson); break;
                default:
                    w.Open("switch (lossKind)");
                    foreach (var (lit, body) in new[] { ("case K.KernelLoss.Mse:", mse), ("case K.KernelLoss.Bce:", bce), ("default:", poisson) })
                    {
                        w.Line(lit);
                        w.Open();
                        Block(body);
                        w.Line("break;");
                        w.Close();
                    }
                    w.Close();
                    break;
            }
            w.Close().Close();
            Opt(Nonlin, "nonlin",
                () => w.Line($"{TL}.MlpBackward(P, Layout.Dec, ch.Dec, z, gy, ch, acc, gz);"),
                () => Block($$"""
                    {{TL}}.AccOuter(acc, Layout.DecW, gy, z, D, R);
                    {{TL}}.AccSum(acc, Layout.DecB, gy, D);
                    if (gz is not null)
                        {{TL}}.TMul(P, Layout.DecW, D, R, gy, gz);
                    """));
            w.Line("return loss;");
            w.Close();
            w.Line();
        }

        private void Temporal()
        {
            w.Line("/// <summary>Adds into gradient <paramref name=\"term\"/> the parameter gradient of <c>Σ g·r̂</c> for the tile's temporal prediction (<c>temporal</c>, <c>temporal_bias</c> and the hypernetwork; <c>r2</c> and <c>r_p</c> are data).</summary>");
            w.Open($"private void Temporal(K.TrainingChunk<{T}> ch, {T}[] g, int term)");
            Block($$"""
                var acc = new global::System.Span<{{T}}>(ch.Grad, term * Layout.Count, Layout.Count);
                int tOff = Layout.Temporal;
                var gV = {{TL}}.Vec(g);
                var pV = {{TL}}.Vec(ch.P);
                var wbV = {{TL}}.Vec(ch.Wb);
                var rpV = {{TL}}.Vec(ch.RP);
                var goV = {{TL}}.Vec(ch.GOut);
                var tmpV = {{TL}}.Vec(ch.Tmp);

                // ∂/∂w_k = g·P_k.
                for (int k = 0; k < M; k++)
                    for (int q = 0; q < NV; q++)
                    {
                        var a = {{Vt}}.Zero;
                        for (int i = 0; i < R; i++)
                            a += gV[i * NV + q] * pV[(k * R + i) * NV + q];
                        goV[k * NV + q] = a;
                    }

                """);
            Opt(o.LowRank, "lowRank",
                () => Block($$"""
                    // V_k = U_k·U_kᵀ: ∂/∂U_k[i, c] = Σ_lanes w_k·(g_i·(r_p·U_k[:, c]) + r_p,i·(g·U_k[:, c])).
                    for (int k = 0; k < M; k++)
                        for (int c = 0; c < 2; c++)
                        {
                            for (int q = 0; q < NV; q++)
                            {
                                var a = {{Vt}}.Zero;
                                var b = {{Vt}}.Zero;
                                for (int j = 0; j < R; j++)
                                {
                                    var u = new {{Vt}}(P[tOff + (k * R + j) * 2 + c]);
                                    a += rpV[j * NV + q] * u;
                                    b += gV[j * NV + q] * u;
                                }
                                tmpV[q] = a * wbV[k * NV + q];
                                tmpV[NV + q] = b * wbV[k * NV + q];
                            }
                            for (int i = 0; i < R; i++)
                            {
                                var sum = {{Vt}}.Zero;
                                for (int q = 0; q < NV; q++)
                                    sum += gV[i * NV + q] * tmpV[q] + rpV[i * NV + q] * tmpV[NV + q];
                                acc[tOff + (k * R + i) * 2 + c] += global::System.Numerics.Vector.Sum(sum);
                            }
                        }
                    """),
                () => Block($$"""
                    // ∂/∂V_k[i, j] = Σ_lanes w_k·g_i·r_p,j.
                    for (int k = 0; k < M; k++)
                    {
                        for (int i = 0; i < R; i++)
                            for (int q = 0; q < NV; q++)
                                tmpV[i * NV + q] = wbV[k * NV + q] * gV[i * NV + q];
                        {{TL}}.AccOuter(acc, tOff + k * R * R, ch.Tmp, ch.RP, R, R);
                    }
                    """));
            Opt(o.DynBias, "dynBias", () => Block($$"""
                int bias = Layout.Bias;
                for (int i = 0; i < R; i++)
                {
                    var sum = {{Vt}}.Zero;
                    var c = new {{Vt}}(P[bias + i]);
                    for (int q = 0; q < NV; q++)
                    {
                        sum += gV[i * NV + q] * wbV[(M + i) * NV + q];
                        goV[(M + i) * NV + q] = gV[i * NV + q] * c;
                    }
                    acc[bias + i] += global::System.Numerics.Vector.Sum(sum);
                }
                """), null);
            Block($$"""

                // Through the final ReLU, then the hypernetwork's backward.
                var hout = ch.Hyp.Out;
                for (int i = 0; i < O * Lanes; i++)
                    if (!(hout[i] > {{Zero}}))
                        ch.GOut[i] = {{Zero}};
                {{TL}}.MlpBackward(P, Layout.Hyp, ch.Hyp, ch.R2, ch.GOut, ch, acc, null);
                """);
            w.Close();
        }
    }
}
