using System;
using TiDHy.Kernels;

namespace TiDHy.Generators;

internal static partial class KernelEmitter
{
    /// <summary>
    /// The model's equations for a block of samples, each emitting method named after the F# function
    /// of TiDHy.Functional it mirrors (forward value and, where the inner optimisation needs it, the
    /// vector–Jacobian product). The emitted methods keep the kernels' own short names.
    /// </summary>
    private sealed partial class JobEmitter
    {
        /// <summary>
        /// <c>Numerics.layerNorm</c> then <c>Numerics.elu</c> (the first layers of <c>Model.mlpTrace</c>):
        /// pre ← x̂ (normalised, kept for the derivative), sd ← 1/σ, act ← ELU(x̂·γ + β), eluD ← ELU′.
        /// </summary>
        private void EmitLayerNorm(string pre, Sz n, string gamma, string beta, string act, string? eluD, string sd)
        {
            w.Open();
            Sum4("ls", n, (j, a) => $"{a} += {Ld($"{pre} + {j} * L")};");
            w.Line($"{V} mean = ls / {Bc($"({T}){n.Name}")};");
            Sum4("lq", n, (j, a) => $"{{ {V} dv = {Ld($"{pre} + {j} * L")} - mean; {a} = {VS}.FusedMultiplyAdd(dv, dv, {a}); }}");
            w.Line($"{V} inv = {V}.One / {VS}.Sqrt(lq / {Bc($"({T}){n.Name}")} + {Bc(Const(nameof(ModelConstants.LayerNormEps)))});");
            w.Line($"{VS}.Store(inv, {sd});");
            // Two units per pass, their exponentials interleaved (LaneMath.ExpNonPositive of a pair), then
            // an odd last unit alone: each unit's operations, and so its bits, are those of a pass of one.
            void Unit(string j, string u)
            {
                w.Line($"{V} xh{u} = ({Ld($"{pre} + {j} * L")} - mean) * inv;");
                w.Line($"{VS}.Store(xh{u}, {pre} + {j} * L);");
                w.Line($"{V} nv{u} = {VS}.FusedMultiplyAdd(xh{u}, {Bc($"{gamma}[{j}]")}, {Bc($"{beta}[{j}]")});");
            }
            void Elu(string j, string u)
            {
                w.Line($"{V} pos{u} = {VS}.GreaterThan(nv{u}, {V}.Zero);");
                w.Line($"{VS}.Store({Sel($"pos{u}", $"nv{u}", $"ex{u} - {V}.One")}, {act} + {j} * L);");
                if (eluD is not null) w.Line($"{VS}.Store({Sel($"pos{u}", $"{V}.One", $"ex{u}")}, {eluD} + {j} * L);");
            }
            w.Line("int ej = 0;");
            w.Open($"for (; ej + 2 <= {n.Name}; ej += 2)");
            Unit("ej", "0");
            Unit("(ej + 1)", "1");
            w.Line($"K.LaneMath.ExpNonPositive({VS}.Min(nv0, {V}.Zero), {VS}.Min(nv1, {V}.Zero), out {V} ex0, out {V} ex1);");
            Elu("ej", "0");
            Elu("(ej + 1)", "1");
            w.Close();
            w.Open($"if (ej < {n.Name})");
            Unit("ej", "0");
            w.Line($"{V} ex0 = K.LaneMath.ExpNonPositive({VS}.Min(nv0, {V}.Zero));");
            Elu("ej", "0");
            w.Close();
            w.Close();
        }

        /// <summary>
        /// <c>Numerics.layerNormVjp</c>: g ← LayerNorm's vector–Jacobian product at x̂ (with 1/σ in sd) for the
        /// output gradient g, first multiplied by the ELU's derivative <paramref name="eluD"/> (the ELU's VJP).
        /// One pass forms g·ELU′·γ (kept) with both sums (four partial sums each, as <see cref="Sum4"/>), and one
        /// pass the result: the same operations in the same order as a pass for each, so the same bits.
        /// </summary>
        private void EmitLayerNormVjp(string g, Sz n, string gamma, string xh, string sd, string eluD)
        {
            w.Open();
            w.Line($"{V} mg0 = {V}.Zero, mg1 = {V}.Zero, mg2 = {V}.Zero, mg3 = {V}.Zero;");
            w.Line($"{V} mgx0 = {V}.Zero, mgx1 = {V}.Zero, mgx2 = {V}.Zero, mgx3 = {V}.Zero;");
            void Term(string j, int q)
            {
                w.Open();
                w.Line($"{V} gv = ({Ld($"{g} + {j} * L")} * {Ld($"{eluD} + {j} * L")}) * {Bc($"{gamma}[{j}]")};");
                w.Line($"{VS}.Store(gv, {g} + {j} * L);");
                w.Line($"mg{q} += gv;");
                w.Line($"mgx{q} = {VS}.FusedMultiplyAdd(gv, {Ld($"{xh} + {j} * L")}, mgx{q});");
                w.Close();
            }
            w.Line("int sj = 0;");
            w.Open($"for (; sj + 4 <= {n.Name}; sj += 4)");
            for (int q = 0; q < 4; q++) Term(q == 0 ? "sj" : $"(sj + {q})", q);
            w.Close();
            w.Open($"for (; sj < {n.Name}; sj++)");
            Term("sj", 0);
            w.Close();
            w.Line($"{V} mg = ((mg0 + mg1) + (mg2 + mg3)) / {Bc($"({T}){n.Name}")};");
            w.Line($"{V} mgx = ((mgx0 + mgx1) + (mgx2 + mgx3)) / {Bc($"({T}){n.Name}")};");
            w.Line($"{V} inv = {Ld(sd)};");
            w.Line($"for (int j = 0; j < {n.Name}; j++) {VS}.Store(({Ld(g + " + j * L")} - mg - {Ld(xh + " + j * L")} * mgx) * inv, {g} + j * L);");
            w.Close();
        }

        /// <summary>
        /// <c>Precompute</c>, mirroring <c>Model.dynamicsMatrices</c> applied to r_p: P_k = V_k·r_p for
        /// every k, once per call (full rank, or the low-rank factors <c>V_k = u_k u_kᵀ</c>).
        /// </summary>
        private void EmitDynamicsMatrices()
        {
            Hot($"private void Precompute({T}* blk)");
            Prologue(true, false, infBlock);
            Switch(opt.LowRank, "lowRank", () =>
            {
                w.Open("for (int k = 0; k < M; k++)");
                w.Line($"{T}* u = wTemporal + k * R * 2;");
                w.Line($"{V} t0 = {V}.Zero, t1 = {V}.Zero;");
                w.Open("for (int j = 0; j < R; j++)");
                w.Line($"{V} x = {Ld("rp + j * L")};");
                w.Line($"t0 = {VS}.FusedMultiplyAdd({Bc("u[2 * j]")}, x, t0);");
                w.Line($"t1 = {VS}.FusedMultiplyAdd({Bc("u[2 * j + 1]")}, x, t1);");
                w.Close();
                w.Line($"for (int i = 0; i < R; i++) {VS}.Store({VS}.FusedMultiplyAdd({Bc("u[2 * i]")}, t0, {Bc("u[2 * i + 1]")} * t1), pk + (k * R + i) * L);");
                w.Close();
            }, () =>
            {
                w.Open("for (int k = 0; k < M; k++)");
                MatVec("(pk + k * R * L)", R, "rp", R, "(wTemporal + k * R * R)", null);
                w.Close();
            });
            w.Close();
            w.Line();
        }

        /// <summary><c>R2Target</c>, mirroring <c>Model.r2Decode</c>: the r2 decoder's prediction from the current r and r2.</summary>
        private void EmitR2Decode()
        {
            Hot($"private void R2Target({T}* blk, {T}* scr)");
            Prologue(true, true, infBlock);
            w.Line($"for (int j = 0; j < R; j++) {VS}.Store({Ld("rv + j * L")}, qin + j * L);");
            w.Line($"for (int j = 0; j < R2; j++) {VS}.Store({Ld("r2v + j * L")}, qin + (R + j) * L);");
            MatVec("qpre", H2, "qin", QI, "wQ0W", "wQ0B");
            EmitLayerNorm("qpre", H2, "wQGamma", "wQBeta", "qact", null, "sdq");
            MatVec("tgt", R2, "qact", H2, "wQOW", "wQOB");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// <c>Loss.derivative</c> (scaled): gy ← scale·ℓ′(gy, x), with the BCE derivative taken through
        /// the sigmoid (its guard is <see cref="ModelConstants.BceGuard"/>).
        /// </summary>
        private void EmitLossDerivative()
        {
            void Loop(Func<string, string, string> g)
            {
                w.Open("for (int d = 0; d < D; d++)");
                w.Line($"{V} y = {Ld("gy + d * L")};");
                w.Line($"{V} xo = {Ld("x + d * L")};");
                w.Line($"{VS}.Store({g("y", "xo")}, gy + d * L);");
                w.Close();
            }
            Loss(
                () => Loop((y, x) => $"vScale * ({Bc(Lit(2.0))} * ({y} - {x}))"),
                () =>
                {
                    w.Open("for (int d = 0; d < D; d++)");
                    w.Line($"{V} p = {V}.One / ({V}.One + K.LaneMath.Exp(-{Ld("gy + d * L")}));");
                    w.Line($"{V} xo = {Ld("x + d * L")};");
                    w.Line($"{V} pq = p * ({V}.One - p);");
                    w.Line($"{V} g = vScale * ((p - xo) / {VS}.Max(pq, {Bc(Const(nameof(ModelConstants.BceGuard)))}));");
                    w.Line($"{VS}.Store(g * pq, gy + d * L);");
                    w.Close();
                },
                () => Loop((y, x) => $"vScale * ({V}.One - {x} / {y})"));
        }

        /// <summary>
        /// <c>DecodeGrad</c>, mirroring <c>Model.decode</c> (<c>Model.decodeSample</c>), the loss derivative
        /// and <c>Model.decodeVjp</c>: gr ← ∂(scale·Σ ℓ(decode(r), x))/∂r.
        /// </summary>
        private void EmitDecode()
        {
            Hot($"private void DecodeGrad({T}* x, {T}* r, {T}* scr)");
            Prologue(true, true, null);
            w.Line($"{V} vScale = {Bc("scale")};");
            Decoder(() =>
            {
                MatVec("gy", D, "r", R, "wDecW", "wDecB");
                EmitLossDerivative();
                MatVec("gr", R, "gy", D, "wDecWT", null);
            }, () =>
            {
                MatVec("dpre", H, "r", R, "wDec0W", "wDec0B");
                EmitLayerNorm("dpre", H, "wDecGamma", "wDecBeta", "dact", "de", "sdd");
                MatVec("gy", D, "dact", H, "wDecOW", "wDecOB");
                EmitLossDerivative();
                MatVec("dact", H, "gy", D, "wDecOWT", null);
                EmitLayerNormVjp("dact", H, "wDecGamma", "dpre", "sdd", "de");
                MatVec("gr", R, "dact", H, "wDec0WT", null);
            });
            w.Close();
            w.Line();
        }

        /// <summary><c>Hyper</c>, mirroring <c>Model.hypernet</c> (<c>Model.hypernetTrace</c>): wb ← hypernet(r2), the trace kept for the VJP.</summary>
        private void EmitHypernet()
        {
            Hot($"private void Hyper({T}* blk, {T}* scr)");
            Prologue(true, true, infBlock);
            MatVec("hpre", H, "r2v", R2, "wHyp0W", "wHyp0B");
            EmitLayerNorm("hpre", H, "wHypGamma", "wHypBeta", "hact", "he", "sdh");
            MatVec("wb", O, "hact", H, "wHypOW", "wHypOB");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// <c>Temporal</c>, mirroring <c>Model.temporalSample</c> and <c>Model.temporalVjpR2</c>: the
        /// temporal term's gradient with respect to r (added to gr, with the L1 term) and to the
        /// hypernetwork's output (into gp, through the ReLU, with the L1 term on W).
        /// </summary>
        private void EmitTemporalVjp()
        {
            Hot($"private void Temporal({T}* blk, {T}* scr)");
            Prologue(true, true, infBlock);
            EmitTemporalSample("e");
            w.Line($"{V} vK2tw = {Bc("k2tw")}, vKNeg = {Bc("kNeg2tw")}, vL1r = {Bc("l1r")};");
            w.Open("for (int i = 0; i < R; i++)");
            w.Line($"{V} rr = {Ld("rv + i * L")};");
            w.Line($"{V} ev = rr - {Ld("e + i * L")};");
            w.Line($"{VS}.Store({Ld("gr + i * L")} + vK2tw * ev + vL1r * {Sign("rr")}, gr + i * L);");
            w.Line($"{VS}.Store(vKNeg * ev, e + i * L);");
            w.Close();
            LaneMatVec("gp", M, "e", R, "pk", "R", "1");
            w.Line($"{V} vL1w = {Bc("l1w")};");
            w.Open("for (int k = 0; k < M; k++)");
            w.Line($"{VS}.Store({VS}.ConditionalSelect({VS}.GreaterThan({Ld("wb + k * L")}, {V}.Zero), {Ld("gp + k * L")} + vL1w, {V}.Zero), gp + k * L);");
            w.Close();
            Switch(opt.DynBias, "dynBias", () =>
                w.Line($"for (int i = 0; i < R; i++) {VS}.Store({VS}.ConditionalSelect({VS}.GreaterThan({Ld("wb + (M + i) * L")}, {V}.Zero), {Ld("e + i * L")} * {Bc("wC[i]")}, {V}.Zero), gp + (M + i) * L);"));
            w.Close();
            w.Line();
        }

        /// <summary>
        /// <c>Model.temporalSample</c>'s r̂: dst ← Σ_k relu(wb_k)·P_k (+ relu(wb_{M+i})·c_i), with relu(wb) left in gp.
        /// </summary>
        private void EmitTemporalSample(string dst)
        {
            w.Line($"for (int k = 0; k < M; k++) {VS}.Store({VS}.Max({Ld("wb + k * L")}, {V}.Zero), gp + k * L);");
            LaneMatVec(dst, R, "gp", M, "pk", "1", "R");
            Switch(opt.DynBias, "dynBias", () =>
                w.Line($"for (int i = 0; i < R; i++) {VS}.Store({VS}.FusedMultiplyAdd({VS}.Max({Ld("wb + (M + i) * L")}, {V}.Zero), {Bc("wC[i]")}, {Ld(dst + " + i * L")}), {dst} + i * L);"));
        }

        /// <summary><c>Predict</c>, mirroring <c>Model.temporalPrediction</c>: r̂ from r_p with the final r2 (returned as rHat).</summary>
        private void EmitTemporalPrediction()
        {
            Hot($"private void Predict({T}* blk, {T}* scr)");
            Prologue(true, true, infBlock);
            w.Line("Hyper(blk, scr);");
            EmitTemporalSample("vr");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// <c>HyperGrad</c>, mirroring <c>Model.hypernetVjp</c>: gr2 ← the hypernetwork's VJP of gp, plus the
        /// r2 decoder's term (target held constant) and the L1 term on r2.
        /// </summary>
        private void EmitHypernetVjp()
        {
            Hot($"private void HyperGrad({T}* blk, {T}* scr)");
            Prologue(true, true, infBlock);
            MatVec("hact", H, "gp", O, "wHypOWT", null);
            EmitLayerNormVjp("hact", H, "wHypGamma", "hpre", "sdh", "he");
            MatVec("gr2", R2, "hact", H, "wHyp0WT", null);
            w.Line($"{V} vK2 = {Bc("k2")}, vL1r2 = {Bc("l1r2")};");
            w.Open("for (int j = 0; j < R2; j++)");
            w.Line($"{V} q = {Ld("r2v + j * L")};");
            w.Line($"{V} g = {Ld("gr2 + j * L")};");
            Switch(opt.R2Decoder, "r2dec", () => w.Line($"g += vK2 * (q - {Ld("tgt + j * L")});"));
            w.Line($"{VS}.Store(g + vL1r2 * {Sign("q")}, gr2 + j * L);");
            w.Close();
            w.Close();
            w.Line();
        }
    }
}
