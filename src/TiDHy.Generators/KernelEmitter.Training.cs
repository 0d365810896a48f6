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

    /// <summary>
    /// Emits one precision's training class. Its lanes are <c>System.Numerics.Vector&lt;T&gt;</c> (the width
    /// <c>K.TrainingLanes&lt;T&gt;</c>, its runtime half, is written for), not the inference job's
    /// <c>Vector512</c>: a horizontal sum's order follows that width, and the results are defined by it.
    /// </summary>
    private sealed class TrainingEmitter : LaneEmitter
    {
        private readonly KernelSizes z;
        private readonly string TL;
        private readonly string name;
        private readonly string Zero;
        private readonly string One;

        public TrainingEmitter(SourceWriter w, KernelSpec s, string t, string suffix)
            : base(w, s, t, $"global::System.Numerics.Vector<{t}>", "global::System.Numerics.Vector")
        {
            z = s.Sizes;
            TL = $"K.TrainingLanes<{t}>";
            name = "Training" + suffix;
            Zero = Lit(0.0);
            One = Lit(1.0);
        }

        /// <summary>The decoder's kind as an on/off option (on: nonlinear), for the fields and the cover check.</summary>
        private KernelSwitch Nonlin => opt.Decoder switch
        {
            KernelDecoder.Linear => KernelSwitch.Off,
            KernelDecoder.Nonlinear => KernelSwitch.On,
            _ => KernelSwitch.Any,
        };

        public void Emit()
        {
            w.Line($"/// <summary>The training backward pass in {T}, specialised for this declaration.</summary>");
            w.Open($"private sealed class {name} : K.TrainingKernel<{T}>");
            EmitFields();
            EmitConstructor();
            EmitPrepareTemporal();
            EmitInitialTile();
            EmitStepTile();
            EmitDecoder();
            EmitTemporal();
            w.Close();
            w.Line();
        }

        /// <summary>The class's constants (fixed sizes, the loss's numbers) and its run-time sizes and options.</summary>
        private void EmitFields()
        {
            w.Line($"private static readonly int NV = Lanes / {V}.Count;");
            if (opt.Loss is KernelLoss.Bce or KernelLoss.Any)
            {
                w.Line($"private static readonly {T} BceGuard = {Const(nameof(ModelConstants.BceGuard))};");
                w.Line($"private static readonly {T} Hundred = {Lit(-100.0)};");
            }
            w.Line($"private static readonly {T} Two = {Lit(2.0)};");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M) })
                w.Line(v > 0 ? $"private const int {n} = {v};" : $"private readonly int {n};");
            int fixedO = opt.DynBias switch
            {
                KernelSwitch.Off => z.M,
                KernelSwitch.On => z.M > 0 && z.R > 0 ? z.M + z.R : 0,
                _ => 0,
            };
            w.Line(fixedO > 0 ? $"private const int O = {fixedO};" : "private readonly int O;");
            if (opt.Loss == KernelLoss.Any) w.Line("private readonly K.KernelLoss loss;");
            if (Nonlin == KernelSwitch.Any) w.Line("private readonly bool nonlin;");
            if (opt.LowRank == KernelSwitch.Any) w.Line("private readonly bool lowRank;");
            if (opt.DynBias == KernelSwitch.Any) w.Line("private readonly bool dynBias;");
            if (opt.R2Decoder == KernelSwitch.Any) w.Line("private readonly bool r2dec;");
            w.Line();
            w.Line($"public override string VariantName => {s.ClassName}.Variant.Name;");
            w.Line();
        }

        /// <summary><c>Covered</c> (the check of a shape against the declaration) and the constructor, which copies the run-time sizes and options.</summary>
        private void EmitConstructor()
        {
            var covers = new List<string>();
            if (opt.Loss != KernelLoss.Any) covers.Add($"shape.Loss == {EnumLit(opt.Loss)}");
            if (Nonlin != KernelSwitch.Any) covers.Add(Nonlin == KernelSwitch.On ? "shape.Nonlinear" : "!shape.Nonlinear");
            foreach (var (n, sw) in new[] { ("LowRank", opt.LowRank), ("DynBias", opt.DynBias), ("R2Decoder", opt.R2Decoder) })
                if (sw != KernelSwitch.Any) covers.Add(sw == KernelSwitch.On ? $"shape.{n}" : $"!shape.{n}");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M), ("H", z.H), ("H2", z.H2) })
                if (v > 0) covers.Add($"shape.{n} == {v}");

            w.Line("/// <summary>Raises <see cref=\"global::System.ArgumentException\"/> when this variant does not cover <paramref name=\"shape\"/>.</summary>");
            w.Open("private static K.TrainingShape Covered(K.TrainingShape shape)");
            if (covers.Count > 0)
            {
                w.Open($"if (!({string.Join(" && ", covers)}))");
                w.Line($"throw new global::System.ArgumentException($\"shape: {{shape}} is not covered by the kernel variant {s.FullName} ({Describe(s)}).\", nameof(shape));");
                w.Close();
            }
            w.Line("return shape;");
            w.Close();
            w.Line();
            w.Open($"public {name}(K.TrainingShape shape) : base(Covered(shape))");
            foreach (var (n, v) in new[] { ("D", z.D), ("R", z.R), ("R2", z.R2), ("M", z.M) })
                if (v == 0) w.Line($"{n} = shape.{n};");
            if (!(opt.DynBias == KernelSwitch.Off && z.M > 0) && !(opt.DynBias == KernelSwitch.On && z.M > 0 && z.R > 0)) w.Line("O = shape.O;");
            if (opt.Loss == KernelLoss.Any) w.Line("loss = shape.Loss;");
            if (Nonlin == KernelSwitch.Any) w.Line("nonlin = shape.Nonlinear;");
            if (opt.LowRank == KernelSwitch.Any) w.Line("lowRank = shape.LowRank;");
            if (opt.DynBias == KernelSwitch.Any) w.Line("dynBias = shape.DynBias;");
            if (opt.R2Decoder == KernelSwitch.Any) w.Line("r2dec = shape.R2Decoder;");
            w.Close();
            w.Line();
        }

        /// <summary><c>PrepareTemporal</c>: the dynamics matrices V_k (full rank, or <c>U_k·U_kᵀ</c> from the low-rank factors).</summary>
        private void EmitPrepareTemporal()
        {
            w.Open("protected override void PrepareTemporal()");
            w.Line("int at = Layout.Temporal;");
            w.Open("for (int k = 0; k < M; k++)");
            w.Open("for (int i = 0; i < R; i++)");
            w.Open("for (int j = 0; j < R; j++)");
            Switch(opt.LowRank, "lowRank",
                () => w.Line("V[(k * R + i) * R + j] = P[at + (k * R + i) * 2] * P[at + (k * R + j) * 2] + P[at + (k * R + i) * 2 + 1] * P[at + (k * R + j) * 2 + 1];"),
                () => w.Line("V[(k * R + i) * R + j] = P[at + k * R * R + i * R + j];"));
            w.Close().Close().Close().Close();
            w.Line();
        }

        /// <summary><c>InitialTile</c>: the first step's term, <c>decode(0)</c> against x_0.</summary>
        private void EmitInitialTile()
        {
            w.Open($"protected override void InitialTile(K.TrainingChunk<{T}> ch, int start, int n, {T} scale)");
            w.Line($"{TL}.Load(Inputs.X0, start, n, D, ch.X);");
            w.Line("global::System.Array.Clear(ch.Z);");
            w.Line("ch.Sums[0] += Decoder(ch, ch.Z, n, scale, 0, null);");
            w.Close();
            w.Line();
        }

        /// <summary><c>StepTile</c>: the four terms of one tile of steps (L_hat, L_bar, the temporal term, L_r2) and their parameter gradients.</summary>
        private void EmitStepTile()
        {
            w.Open($"protected override void StepTile(K.TrainingChunk<{T}> ch, int start, int n, {T} scale)");
            w.Line("var inp = Inputs;");
            w.Line($"{TL}.Load(inp.X, start, n, D, ch.X);");
            w.Line($"{TL}.Load(inp.R, start, n, R, ch.R);");
            w.Line($"{TL}.Load(inp.RPrev, start, n, R, ch.RP);");
            w.Line($"{TL}.Load(inp.R2, start, n, R2, ch.R2);");
            w.Line();
            w.Line("// L_hat: decode(r_t).");
            w.Line("ch.Sums[0] += Decoder(ch, ch.R, n, scale, 0, null);");
            w.Line();
            w.Line("// The temporal prediction: wb = relu(hypernet(r2)), P_k = V_k·r_p, r̂ = Σ_k w_k·P_k (+ b ⊙ c).");
            w.Line($"{TL}.MlpForward(P, Layout.Hyp, ch.R2, ch.Hyp);");
            w.Line("var hout = ch.Hyp.Out;");
            w.Line($"for (int i = 0; i < O * Lanes; i++) ch.Wb[i] = hout[i] > {Zero} ? hout[i] : {Zero};");
            w.Line($"for (int k = 0; k < M; k++) {TL}.Linear(V, k * R * R, -1, R, R, ch.RP, new global::System.Span<{T}>(ch.P, k * R * Lanes, R * Lanes));");
            w.Line($"var wbV = {TL}.Vec(ch.Wb);");
            w.Line($"var pV = {TL}.Vec(ch.P);");
            w.Line($"var rHatV = {TL}.Vec(ch.RHat);");
            if (opt.DynBias != KernelSwitch.Off) w.Line("int bias = Layout.Bias;");
            w.Open("for (int i = 0; i < R; i++)");
            w.Open("for (int q = 0; q < NV; q++)");
            w.Line($"var acc = {V}.Zero;");
            w.Line("for (int k = 0; k < M; k++) acc += wbV[k * NV + q] * pV[(k * R + i) * NV + q];");
            Switch(opt.DynBias, "dynBias", () => w.Line($"acc += wbV[(M + i) * NV + q] * {Bc("P[bias + i]")};"));
            w.Line("rHatV[i * NV + q] = acc;");
            w.Close().Close();
            w.Line();
            w.Line("// L_bar: decode(r̂), with the gradient w.r.t. r̂ passed on to the temporal prediction.");
            w.Line("ch.Sums[1] += Decoder(ch, ch.RHat, n, scale, 1, ch.GRHat);");
            w.Line("Temporal(ch, ch.GRHat, 1);");
            w.Line();
            w.Line("// temp_weight·L_temp: the seed −2·temp_weight·scale·(r − r̂) on r̂.");
            w.Line($"{T} c2 = -Two * ({T})Shape.TempWeight * scale;");
            w.Line("double temp = 0;");
            EmitSquaredError("temp", "R", "ch.R", "ch.RHat", "ch.GT", "c2");
            w.Line("ch.Sums[2] += temp;");
            w.Line("Temporal(ch, ch.GT, 2);");
            Switch(opt.R2Decoder, "r2dec", () =>
            {
                w.Line("// L_r2: R2dec([r_{t−1}, r2_{t−1}]) against r2_t.");
                w.Line($"{TL}.Load(inp.RPrev, start, n, R, ch.QIn);");
                w.Line($"var tail = new global::System.Span<{T}>(ch.QIn, R * Lanes, ch.QIn.Length - R * Lanes);");
                w.Open("for (int f = 0; f < R2; f++)");
                w.Line($"for (int l = 0; l < Lanes; l++) tail[f * Lanes + l] = l < n ? ({T})inp.R2Prev[(start + l) * R2 + f] : {Zero};");
                w.Close();
                w.Line($"{TL}.MlpForward(P, Layout.Q, ch.QIn, ch.Q);");
                w.Line($"{T} cq = -Two * scale;");
                w.Line("double r2l = 0;");
                EmitSquaredError("r2l", "R2", "ch.R2", "ch.Q.Out", "ch.GQ", "cq");
                w.Line("ch.Sums[3] += r2l;");
                w.Line($"{TL}.MlpBackward(P, Layout.Q, ch.Q, ch.QIn, ch.GQ, ch, new global::System.Span<{T}>(ch.Grad, 3 * Layout.Count, Layout.Count), null);");
            });
            w.Close();
            w.Line();
        }

        /// <summary>
        /// A squared-error term over the valid lanes of <paramref name="n"/> features: adds Σ (target − pred)² to
        /// <paramref name="sum"/> (in double) and writes the seed <c>c·(target − pred)</c> into <paramref name="grad"/>, 0 on the invalid lanes.
        /// </summary>
        private void EmitSquaredError(string sum, string n, string target, string pred, string grad, string c)
        {
            w.Open($"for (int i = 0; i < {n}; i++)");
            w.Open("for (int l = 0; l < Lanes; l++)");
            w.Line("int at = i * Lanes + l;");
            w.Open("if (l < n)");
            w.Line($"{T} d = {target}[at] - {pred}[at];");
            w.Line($"{sum} += (double)(d * d);");
            w.Line($"{grad}[at] = {c} * d;");
            w.Close();
            w.Line($"else {grad}[at] = {Zero};");
            w.Close().Close();
        }

        /// <summary><c>Decoder</c>: <c>Model.decode</c>, the loss and <c>Model.decodeVjp</c> on a tile.</summary>
        private void EmitDecoder()
        {
            w.Line("/// <summary><c>decode(z)</c> against the tile's <c>x</c>: adds the parameter gradient of <c>scale·Σ_d ℓ(decode(z)_d, x_d)</c> into gradient <paramref name=\"term\"/>, writes the gradient w.r.t. <c>z</c> into <paramref name=\"gz\"/> when given, and returns the loss summed over the valid lanes.</summary>");
            w.Open($"private double Decoder(K.TrainingChunk<{T}> ch, {T}[] z, int n, {T} scale, int term, {T}[]? gz)");
            w.Line($"var acc = new global::System.Span<{T}>(ch.Grad, term * Layout.Count, Layout.Count);");
            w.Line($"{T}[] y;");
            Decoder(() =>
            {
                w.Line($"{TL}.Linear(P, Layout.DecW, Layout.DecB, D, R, z, ch.Y);");
                w.Line("y = ch.Y;");
            }, () =>
            {
                w.Line($"{TL}.MlpForward(P, Layout.Dec, z, ch.Dec);");
                w.Line("y = ch.Dec.Out;");
            });
            w.Line("double total = 0;");
            w.Line("var gy = ch.GY;");
            w.Open("for (int d = 0; d < D; d++)");
            w.Open("for (int l = 0; l < Lanes; l++)");
            w.Line("int at = d * Lanes + l;");
            w.Open("if (l >= n)");
            w.Line($"gy[at] = {Zero};");
            w.Line("continue;");
            w.Close();
            w.Line($"{T} obs = ch.X[at];");
            Loss(() =>
            {
                w.Line($"{T} pr = y[at];");
                w.Line("total += (double)((pr - obs) * (pr - obs));");
                w.Line("gy[at] = scale * (Two * (pr - obs));");
            }, () =>
            {
                w.Line($"{T} pr = {One} / ({One} + {T}.Exp(-y[at]));");
                w.Line($"{T} l1 = {T}.Max({T}.Log(pr), Hundred), l0 = {T}.Max({T}.Log({One} - pr), Hundred);");
                w.Line($"total += (double)(-(obs * l1 + ({One} - obs) * l0));");
                w.Line($"{T} dl = (pr - obs) / {T}.Max(pr * ({One} - pr), BceGuard);");
                w.Line($"gy[at] = scale * dl * (pr * ({One} - pr));");
            }, () =>
            {
                w.Line($"{T} pr = y[at];");
                w.Line($"total += (double)(pr - obs * {T}.Log(pr));");
                w.Line($"gy[at] = scale * ({One} - obs / pr);");
            });
            w.Close().Close();
            Decoder(() =>
            {
                w.Line($"{TL}.AccOuter(acc, Layout.DecW, gy, z, D, R);");
                w.Line($"{TL}.AccSum(acc, Layout.DecB, gy, D);");
                w.Line($"if (gz is not null) {TL}.TMul(P, Layout.DecW, D, R, gy, gz);");
            }, () => w.Line($"{TL}.MlpBackward(P, Layout.Dec, ch.Dec, z, gy, ch, acc, gz);"));
            w.Line("return total;");
            w.Close();
            w.Line();
        }

        /// <summary><c>Temporal</c>: the parameter gradient of the temporal prediction (<c>Model.temporalVjp</c> for the parameters).</summary>
        private void EmitTemporal()
        {
            w.Line("/// <summary>Adds into gradient <paramref name=\"term\"/> the parameter gradient of <c>Σ g·r̂</c> for the tile's temporal prediction (<c>temporal</c>, <c>temporal_bias</c> and the hypernetwork; <c>r2</c> and <c>r_p</c> are data).</summary>");
            w.Open($"private void Temporal(K.TrainingChunk<{T}> ch, {T}[] g, int term)");
            w.Line($"var acc = new global::System.Span<{T}>(ch.Grad, term * Layout.Count, Layout.Count);");
            w.Line("int tOff = Layout.Temporal;");
            foreach (var (v, a) in new[] { ("gV", "g"), ("pV", "ch.P"), ("wbV", "ch.Wb"), ("rpV", "ch.RP"), ("goV", "ch.GOut"), ("tmpV", "ch.Tmp") })
                w.Line($"var {v} = {TL}.Vec({a});");
            w.Line();
            w.Line("// ∂/∂w_k = g·P_k.");
            w.Open("for (int k = 0; k < M; k++)");
            w.Open("for (int q = 0; q < NV; q++)");
            w.Line($"var a = {V}.Zero;");
            w.Line("for (int i = 0; i < R; i++) a += gV[i * NV + q] * pV[(k * R + i) * NV + q];");
            w.Line("goV[k * NV + q] = a;");
            w.Close().Close();
            w.Line();
            Switch(opt.LowRank, "lowRank", () =>
            {
                w.Line("// V_k = U_k·U_kᵀ: ∂/∂U_k[i, c] = Σ_lanes w_k·(g_i·(r_p·U_k[:, c]) + r_p,i·(g·U_k[:, c])).");
                w.Open("for (int k = 0; k < M; k++)");
                w.Open("for (int c = 0; c < 2; c++)");
                w.Open("for (int q = 0; q < NV; q++)");
                w.Line($"var a = {V}.Zero;");
                w.Line($"var b = {V}.Zero;");
                w.Open("for (int j = 0; j < R; j++)");
                w.Line($"var u = {Bc("P[tOff + (k * R + j) * 2 + c]")};");
                w.Line("a += rpV[j * NV + q] * u;");
                w.Line("b += gV[j * NV + q] * u;");
                w.Close();
                w.Line("tmpV[q] = a * wbV[k * NV + q];");
                w.Line("tmpV[NV + q] = b * wbV[k * NV + q];");
                w.Close();
                w.Open("for (int i = 0; i < R; i++)");
                w.Line($"var sum = {V}.Zero;");
                w.Line("for (int q = 0; q < NV; q++) sum += gV[i * NV + q] * tmpV[q] + rpV[i * NV + q] * tmpV[NV + q];");
                w.Line($"acc[tOff + (k * R + i) * 2 + c] += {VS}.Sum(sum);");
                w.Close();
                w.Close().Close();
            }, () =>
            {
                w.Line("// ∂/∂V_k[i, j] = Σ_lanes w_k·g_i·r_p,j.");
                w.Open("for (int k = 0; k < M; k++)");
                w.Open("for (int i = 0; i < R; i++)");
                w.Line("for (int q = 0; q < NV; q++) tmpV[i * NV + q] = wbV[k * NV + q] * gV[i * NV + q];");
                w.Close();
                w.Line($"{TL}.AccOuter(acc, tOff + k * R * R, ch.Tmp, ch.RP, R, R);");
                w.Close();
            });
            Switch(opt.DynBias, "dynBias", () =>
            {
                w.Line("int bias = Layout.Bias;");
                w.Open("for (int i = 0; i < R; i++)");
                w.Line($"var sum = {V}.Zero;");
                w.Line($"var c = {Bc("P[bias + i]")};");
                w.Open("for (int q = 0; q < NV; q++)");
                w.Line("sum += gV[i * NV + q] * wbV[(M + i) * NV + q];");
                w.Line("goV[(M + i) * NV + q] = gV[i * NV + q] * c;");
                w.Close();
                w.Line($"acc[bias + i] += {VS}.Sum(sum);");
                w.Close();
            });
            w.Line();
            w.Line("// Through the final ReLU, then the hypernetwork's backward.");
            w.Line("var hout = ch.Hyp.Out;");
            w.Line($"for (int i = 0; i < O * Lanes; i++) if (!(hout[i] > {Zero})) ch.GOut[i] = {Zero};");
            w.Line($"{TL}.MlpBackward(P, Layout.Hyp, ch.Hyp, ch.R2, ch.GOut, ch, acc, null);");
            w.Close();
        }
    }
}
