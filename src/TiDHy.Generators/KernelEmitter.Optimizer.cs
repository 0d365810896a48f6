using TiDHy.Kernels;

namespace TiDHy.Generators;

internal static partial class KernelEmitter
{
    /// <summary>
    /// The inner optimisers: <c>inf</c>'s Nesterov SGD with soft-thresholding (MODEL.md steps 4–5,
    /// <c>Inference.inferReference</c>) and <c>inf_first_step</c>'s AdamW (<c>Inference.inferFirstStepReference</c>,
    /// PyTorch's semantics as in <c>Optim.adamWTensor</c>). Their constants are <see cref="ModelConstants"/>'s.
    /// </summary>
    private sealed partial class JobEmitter
    {
        /// <summary>
        /// <c>Numerics.softThreshold</c> in place: v ← sign(v)·max(|v| − λ, 0), bit for bit, NaN kept as
        /// NaN (<c>V512.Max</c> propagates it) so that an overflow reaches the divergence check rather
        /// than becoming 0.
        /// </summary>
        private void EmitSoftThreshold(string v, string lmda) =>
            w.Line($"{{ {V} sa = {VS}.Max({VS}.Abs({v}) - {lmda}, {V}.Zero); {v} = {Sel($"{VS}.LessThan({v}, {V}.Zero)", "-sa", "sa")}; }}");

        /// <summary>
        /// <c>Update</c>: one Nesterov step of r (step size lr from the schedule) and of r2, each followed by
        /// the shrinkage and the saturation (<c>Saturate</c>), masked lanes unchanged; leaves ‖Δ‖² and ‖old‖² of each in the stat slots.
        /// </summary>
        private void EmitNesterovStep()
        {
            Hot($"private void Update({T}* blk, {T}* scr, {T} lr, {V} mask, bool masked)");
            Prologue(false, true, infBlock);
            w.Line($"{V} mom = {Bc(Const(nameof(ModelConstants.NesterovMomentum)))};");
            foreach (var (p, vel, g, n, lrs, lm, st, sat, sats) in new[] { ("rv", "vr", "gr", "R", "lr", "lmdaR", 0, "satR", "satRS"), ("r2v", "vr2", "gr2", "R2", "lrR2", "lmdaR2", 2, "satR2", "satR2S") })
            {
                w.Open();
                w.Line($"{V} vLr = {Bc(lrs)}, vLm = {Bc(lm)}, vSat = {Bc(sats)}, dd = {V}.Zero, oo = {V}.Zero;");
                w.Line($"K.InferenceSaturation sat = {sat};");
                w.Open($"for (int j = 0; j < {n}; j++)");
                w.Line($"{V} p = {Ld(p + " + j * L")}, v = {Ld(vel + " + j * L")}, g = {Ld(g + " + j * L")};");
                w.Line($"{V} nv = {VS}.FusedMultiplyAdd(mom, v, g);");
                w.Line($"{V} np = p - vLr * {VS}.FusedMultiplyAdd(mom, nv, g);");
                EmitSoftThreshold("np", "vLm");
                w.Line("if (sat != K.InferenceSaturation.None) np = Saturate(np, sat, vSat);");
                w.Open("if (masked)");
                w.Line($"np = {Sel("mask", "np", "p")};");
                w.Line($"nv = {Sel("mask", "nv", "v")};");
                w.Close();
                w.Line($"{VS}.Store(np, {p} + j * L);");
                w.Line($"{VS}.Store(nv, {vel} + j * L);");
                w.Line($"{V} df = np - p;");
                w.Line($"dd = {VS}.FusedMultiplyAdd(df, df, dd);");
                w.Line($"oo = {VS}.FusedMultiplyAdd(p, p, oo);");
                w.Close();
                w.Line($"{VS}.Store(dd, stat + {st} * L);");
                w.Line($"{VS}.Store(oo, stat + {st + 1} * L);");
                w.Close();
            }
            w.Close();
            w.Line();
        }

        /// <summary>
        /// <c>Saturate</c>: <c>Inference.saturate</c> on lanes (<c>saturate_r_method</c>, <c>saturate_r2_method</c>,
        /// run-time settings): sigmoid as <c>1/(1 + exp(−v))</c>; tanh as <c>sign(v)·(1 − e)/(1 + e)</c> with
        /// <c>e = exp(−2|v|)</c> (no cancellation for large |v|; an absolute error of a few ulp near 0);
        /// scaled tanh as <c>s·tanh(v/s)</c>. NaN stays NaN (it reaches the divergence check).
        /// </summary>
        private void EmitSaturate()
        {
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Open($"private static {V} Saturate({V} v, K.InferenceSaturation sat, {V} s)");
            w.Open("if (sat == K.InferenceSaturation.Sigmoid)");
            w.Line($"return {V}.One / ({V}.One + K.LaneMath.Exp(-v));");
            w.Close();
            w.Line($"{V} x = sat == K.InferenceSaturation.ScaledTanh ? v / s : v;");
            w.Line($"{V} e = K.LaneMath.Exp({Bc(Lit(-2.0))} * {VS}.Abs(x));");
            w.Line($"{V} t = ({V}.One - e) / ({V}.One + e);");
            w.Line($"t = {Sel($"{VS}.LessThan(x, {V}.Zero)", "-t", "t")};");
            w.Line($"t = {Sel($"{VS}.Equals(x, x)", "t", "x")};");
            w.Line("return sat == K.InferenceSaturation.ScaledTanh ? s * t : t;");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// In <c>InferFirstStep</c>: AdamW's bias corrections per iteration, <c>lr/(1 − β1^t)</c> and
        /// <c>sqrt(1 − β2^t)</c> in float64, rounded once to the kernel's precision.
        /// </summary>
        private void EmitAdamWSchedule()
        {
            w.Open("if (lrBc1.Length < maxIter)");
            w.Line($"lrBc1 = new {T}[maxIter];");
            w.Line($"bc2Sqrt = new {T}[maxIter];");
            w.Close();
            w.Open("for (int i = 0; i < maxIter; i++)");
            w.Line("double step = i + 1;");
            w.Line($"lrBc1[i] = ({T})(s.LrR / (1.0 - global::System.Math.Pow({Constant(nameof(ModelConstants.AdamBeta1))}, step)));");
            w.Line($"bc2Sqrt[i] = ({T})global::System.Math.Sqrt(1.0 - global::System.Math.Pow({Constant(nameof(ModelConstants.AdamBeta2))}, step));");
            w.Close();
        }

        /// <summary>
        /// <c>UpdateFirst</c>: one AdamW step of r (decoupled decay, then Adam with bias correction; no
        /// shrinkage; then the saturation of r), masked lanes unchanged; leaves ‖Δ‖² and ‖old‖² in the stat slots.
        /// </summary>
        private void EmitAdamWStep()
        {
            string b1 = Constant(nameof(ModelConstants.AdamBeta1));
            string b2 = Constant(nameof(ModelConstants.AdamBeta2));
            Hot($"private void UpdateFirst({T}* blk, {T}* scr, int it, {V} mask, bool masked)");
            Prologue(false, true, firstBlock);
            w.Line($"{V} c1 = {Bc("decay")}, b1 = {Bc(Const(nameof(ModelConstants.AdamBeta1)))}, ob1 = {Bc(ConstExpr($"1.0 - {b1}"))}, b2 = {Bc(Const(nameof(ModelConstants.AdamBeta2)))}, ob2 = {Bc(ConstExpr($"1.0 - {b2}"))};");
            w.Line($"{V} lrb = {Bc("lrBc1[it]")}, bc2 = {Bc("bc2Sqrt[it]")}, eps = {Bc(Const(nameof(ModelConstants.AdamEps)))}, dd = {V}.Zero, oo = {V}.Zero;");
            w.Line($"K.InferenceSaturation sat = satR;");
            w.Line($"{V} vSat = {Bc("satRS")};");
            w.Open("for (int j = 0; j < R; j++)");
            w.Line($"{V} p = {Ld("rv + j * L")}, g = {Ld("gr + j * L")}, a = {Ld("m1 + j * L")}, q = {Ld("m2 + j * L")};");
            w.Line($"{V} na = b1 * a + ob1 * g;");
            w.Line($"{V} nq = b2 * q + ob2 * g * g;");
            w.Line($"{V} np = p * c1 - lrb * na / ({VS}.Sqrt(nq) / bc2 + eps);");
            w.Line("if (sat != K.InferenceSaturation.None) np = Saturate(np, sat, vSat);");
            w.Open("if (masked)");
            w.Line($"np = {Sel("mask", "np", "p")};");
            w.Line($"na = {Sel("mask", "na", "a")};");
            w.Line($"nq = {Sel("mask", "nq", "q")};");
            w.Close();
            w.Line($"{VS}.Store(np, rv + j * L);");
            w.Line($"{VS}.Store(na, m1 + j * L);");
            w.Line($"{VS}.Store(nq, m2 + j * L);");
            w.Line($"{V} df = np - p;");
            w.Line($"dd = {VS}.FusedMultiplyAdd(df, df, dd);");
            w.Line($"oo = {VS}.FusedMultiplyAdd(p, p, oo);");
            w.Close();
            w.Line($"{VS}.Store(dd, stat);");
            w.Line($"{VS}.Store(oo, stat + L);");
            w.Close();
            w.Line();
        }
    }
}
