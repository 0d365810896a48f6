using System;
using System.Globalization;

namespace TiDHy.Generators;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Lane primitives: broadcasts and loads, matrix–vector products (weights broadcast, samples in
    /// lanes; <c>Numerics.matVec</c> / <c>Numerics.matTVec</c> with a transposed copy), lane–lane
    /// products, four-way partial sums and the sign.
    /// </summary>
    private sealed partial class JobEmitter
    {
        /// <summary>A lane vector loaded from <paramref name="p"/>.</summary>
        private string Ld(string p) => $"{VS}.Load({p})";

        /// <summary><c>Numerics.sign</c> per lane: 1, −1, or 0 at 0.</summary>
        private string Sign(string v) =>
            $"({VS}.ConditionalSelect({VS}.GreaterThan({v}, {V}.Zero), {V}.One, {V}.Zero) - {VS}.ConditionalSelect({VS}.LessThan({v}, {V}.Zero), {V}.One, {V}.Zero))";

        /// <summary>dst[o] = bias[o] + Σ_i W[o, i]·src[i] for every lane; W row-major [rows×cols].</summary>
        private void MatVec(string dst, Sz rows, string src, Sz cols, string wts, string? bias)
        {
            w.Open();
            if (rows.Fixed > 0)
            {
                // The run-time loop's rows, in other chunks: whole chunks of 8 (one accumulator per
                // row), then the 1–7 rows left (the run-time loop's fours and single rows, two
                // accumulators per row) as one chunk, or as 4 + 3 for 7 (fourteen accumulators would
                // not fit in the sixteen vector registers). A row's sum must not depend on whether its
                // size is fixed (every variant gives the general kernel's bits): a row past the chunks
                // of 8 has the same two accumulators in a chunk of any size, and one chunk of the last
                // rows overlaps their FMA chains, which one row alone leaves waiting on each other.
                int o = 0;
                for (; o + Chunk <= rows.Fixed; o += Chunk) MatVecChunk(Lit(o), Chunk, dst, src, cols, wts, bias);
                if (rows.Fixed - o == 7)
                {
                    MatVecChunk(Lit(o), 4, dst, src, cols, wts, bias);
                    o += 4;
                }
                if (o < rows.Fixed) MatVecChunk(Lit(o), rows.Fixed - o, dst, src, cols, wts, bias);
            }
            else
            {
                w.Line("int mo = 0;");
                w.Open($"for (; mo + {Chunk} <= {rows.Name}; mo += {Chunk})");
                MatVecChunk("mo", Chunk, dst, src, cols, wts, bias);
                w.Close();
                w.Open($"for (; mo + 4 <= {rows.Name}; mo += 4)");
                MatVecChunk("mo", 4, dst, src, cols, wts, bias);
                w.Close();
                w.Open($"for (; mo < {rows.Name}; mo++)");
                MatVecChunk("mo", 1, dst, src, cols, wts, bias);
                w.Close();
            }
            w.Close();
        }

        /// <summary>
        /// k rows of a matrix–vector product. Fewer than 8 rows cannot hide the FMA latency with one
        /// accumulator each, so chunks of up to 7 rows give each row two (even and odd columns), summed
        /// at the end.
        /// </summary>
        private void MatVecChunk(string o0, int k, string dst, string src, Sz cols, string wts, string? bias)
        {
            if (cols.Fixed > 0)
            {
                MatVecChunkFixed(o0, k, dst, src, cols.Fixed, wts, bias);
                return;
            }
            w.Open();
            for (int j = 0; j < k; j++) w.Line($"{T}* mw{j} = {wts} + ({o0} + {j}) * {cols.Name};");
            for (int j = 0; j < k; j++) w.Line($"{V} ma{j} = {(bias is null ? V + ".Zero" : Bc($"{bias}[{o0} + {j}]"))};");
            if (k < Chunk)
            {
                for (int j = 0; j < k; j++) w.Line($"{V} mb{j} = {V}.Zero;");
                w.Line("int mi = 0;");
                w.Open($"for (; mi + 2 <= {cols.Name}; mi += 2)");
                w.Line($"{V} mx = {Ld(src + " + mi * L")};");
                w.Line($"{V} my = {Ld(src + " + (mi + 1) * L")};");
                for (int j = 0; j < k; j++)
                {
                    w.Line($"ma{j} = {VS}.FusedMultiplyAdd({Bc($"mw{j}[mi]")}, mx, ma{j});");
                    w.Line($"mb{j} = {VS}.FusedMultiplyAdd({Bc($"mw{j}[mi + 1]")}, my, mb{j});");
                }
                w.Close();
                w.Open($"if (mi < {cols.Name})");
                w.Line($"{V} mx = {Ld(src + " + mi * L")};");
                for (int j = 0; j < k; j++) w.Line($"ma{j} = {VS}.FusedMultiplyAdd({Bc($"mw{j}[mi]")}, mx, ma{j});");
                w.Close();
                for (int j = 0; j < k; j++) w.Line($"{VS}.Store(ma{j} + mb{j}, {dst} + ({o0} + {j}) * L);");
                w.Close();
                return;
            }
            w.Open($"for (int mi = 0; mi < {cols.Name}; mi++)");
            w.Line($"{V} mx = {Ld(src + " + mi * L")};");
            for (int j = 0; j < k; j++) w.Line($"ma{j} = {VS}.FusedMultiplyAdd({Bc($"mw{j}[mi]")}, mx, ma{j});");
            w.Close();
            for (int j = 0; j < k; j++) w.Line($"{VS}.Store(ma{j}, {dst} + ({o0} + {j}) * L);");
            w.Close();
        }

        /// <summary>
        /// <see cref="MatVecChunk"/> with a fixed column count: the same accumulators, each fed the same
        /// columns in the same order (so the same bits), but the k rows are read through one pointer
        /// at constant offsets (<c>mw[j·cols]</c>, one addressing mode each) instead of k row pointers
        /// (which spilled to the stack and were reloaded in the loop), and the weight and lane pointers
        /// step through the columns, so that a column (a pair of columns for fewer than 8 rows) costs a
        /// lane load, a broadcast and an FMA per row and two pointer increments. The loop is kept
        /// rolled: unrolling it (four columns per pass, or completely up to 16 columns) measured 6–9%
        /// slower on AMD Zen 3, whose decoders then fall behind the FMAs (longer code, more
        /// instruction bytes per FMA), where the rolled loop runs from the micro-op cache.
        /// </summary>
        private void MatVecChunkFixed(string o0, int k, string dst, string src, int cols, string wts, string? bias)
        {
            w.Open();
            w.Line($"{T}* mw = {wts} + ({o0}) * {Lit(cols)};");
            w.Line($"{T}* mp = {src};");
            for (int j = 0; j < k; j++) w.Line($"{V} ma{j} = {(bias is null ? V + ".Zero" : Bc($"{bias}[{o0} + {j}]"))};");
            bool pairs = k < Chunk;
            if (pairs) for (int j = 0; j < k; j++) w.Line($"{V} mb{j} = {V}.Zero;");
            int step = pairs ? 2 : 1;
            w.Open($"for (int mi = 0; mi < {Lit(cols / step)}; mi++, mw += {Lit(step)}, mp += {Lit(step)} * L)");
            w.Line($"{V} mx = {Ld("mp")};");
            if (pairs) w.Line($"{V} my = {Ld("mp + L")};");
            for (int j = 0; j < k; j++)
            {
                w.Line($"ma{j} = {VS}.FusedMultiplyAdd({Bc($"mw[{Lit(j * cols)}]")}, mx, ma{j});");
                if (pairs) w.Line($"mb{j} = {VS}.FusedMultiplyAdd({Bc($"mw[{Lit(j * cols + 1)}]")}, my, mb{j});");
            }
            w.Close();
            if (pairs && cols % 2 == 1)
            {
                // A pair chunk's odd last column, into ma (as the run-time loop's tail puts it).
                w.Open();
                w.Line($"{V} mx = {Ld("mp")};");
                for (int j = 0; j < k; j++) w.Line($"ma{j} = {VS}.FusedMultiplyAdd({Bc($"mw[{Lit(j * cols)}]")}, mx, ma{j});");
                w.Close();
            }
            for (int j = 0; j < k; j++) w.Line($"{VS}.Store({(pairs ? $"ma{j} + mb{j}" : $"ma{j}")}, {dst} + ({o0} + {j}) * L);");
            w.Close();
        }

        /// <summary>
        /// Declares <paramref name="acc"/> = Σ_j term(j) over j &lt; n with four partial sums, so that the
        /// additions overlap instead of waiting on each other. <paramref name="term"/> gets the index
        /// expression and the partial sum's name and returns the statement that adds to it.
        /// </summary>
        private void Sum4(string acc, Sz n, Func<string, string, string> term)
        {
            w.Line($"{V} {acc};");
            w.Open();
            w.Line($"{V} {acc}0 = {V}.Zero, {acc}1 = {V}.Zero, {acc}2 = {V}.Zero, {acc}3 = {V}.Zero;");
            w.Line("int sj = 0;");
            w.Open($"for (; sj + 4 <= {n.Name}; sj += 4)");
            for (int q = 0; q < 4; q++) w.Line(term(q == 0 ? "sj" : $"(sj + {q})", $"{acc}{q}"));
            w.Close();
            w.Line($"for (; sj < {n.Name}; sj++) {term("sj", acc + "0")}");
            w.Line($"{acc} = ({acc}0 + {acc}1) + ({acc}2 + {acc}3);");
            w.Close();
        }

        /// <summary>
        /// dst[o] = Σ_i a[i]·B[o·rowStride + i·innerStride] with lane vectors on both sides. A chunk's rows are
        /// read at constant offsets from one pointer that steps along the inner index (one addressing mode
        /// per FMA, as <see cref="MatVecChunkFixed"/>, instead of an index computed for each load).
        /// </summary>
        private void LaneMatVec(string dst, Sz rows, string a, Sz inner, string b, string rowStride, string innerStride)
        {
            const int LaneChunkMax = 12;
            w.Open();
            void ChunkAt(string o0, int k)
            {
                w.Open();
                for (int j = 0; j < k; j++) w.Line($"{V} la{j} = {V}.Zero;");
                w.Line($"{T}* lb = {b} + ({o0}) * {rowStride} * L;");
                w.Line($"{T}* lp = {a};");
                w.Open($"for (int li = 0; li < {inner.Name}; li++, lp += L, lb += {innerStride} * L)");
                w.Line($"{V} lx = {Ld("lp")};");
                for (int j = 0; j < k; j++) w.Line($"la{j} = {VS}.FusedMultiplyAdd(lx, {Ld(j == 0 ? "lb" : $"lb + {j} * {rowStride} * L")}, la{j});");
                w.Close();
                for (int j = 0; j < k; j++) w.Line($"{VS}.Store(la{j}, {dst} + ({o0} + {j}) * L);");
                w.Close();
            }
            // Each row has one accumulator in any chunk, so the chunking never changes a bit; a chunk of
            // many rows overlaps their FMA chains, where a chunk of one or two waits on each FMA's latency.
            // Up to LaneChunkMax rows (with the lane vector, within the sixteen vector registers) run as one
            // chunk, more as chunks of 8 and the rest.
            if (rows.Fixed > 0)
            {
                for (int o = 0; o < rows.Fixed;)
                {
                    int k = rows.Fixed - o <= LaneChunkMax ? rows.Fixed - o : Chunk;
                    ChunkAt(o.ToString(CultureInfo.InvariantCulture), k);
                    o += k;
                }
            }
            else
            {
                w.Line("int lo = 0;");
                foreach (int k in new[] { Chunk, 4, 2 })
                {
                    w.Open($"for (; lo + {k} <= {rows.Name}; lo += {k})");
                    ChunkAt("lo", k);
                    w.Close();
                }
                w.Open($"for (; lo < {rows.Name}; lo++)");
                ChunkAt("lo", 1);
                w.Close();
            }
            w.Close();
        }
    }
}
