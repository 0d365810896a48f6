using TiDHy.Kernels;

namespace TiDHy.Generators;

internal static partial class KernelEmitter
{
    /// <summary>
    /// The driver: the job's entry points (check, scatter into blocks, run the workers, gather), the
    /// scheduling of blocks over the workers, the iteration loop with one barrier per iteration, and
    /// the stopping rules (MODEL.md steps 6–7 of <c>inf</c>, and <c>inf_first_step</c>'s rule).
    /// </summary>
    private sealed partial class JobEmitter
    {
        /// <summary><c>Infer</c>: MODEL.md's <c>inf</c> for a batch (mirrors <c>Inference.inferReference</c>'s set-up and results).</summary>
        private void EmitInfer()
        {
            w.Open($"internal K.InferenceStats Infer(K.KernelWeights<{T}> w, K.InferenceSettings s, int batch, global::System.ReadOnlySpan<{T}> x, global::System.ReadOnlySpan<{T}> rP, global::System.ReadOnlySpan<{T}> r2Init, global::System.Span<{T}> r, global::System.Span<{T}> r2, global::System.Span<{T}> rHat, global::System.Span<int> sampleIterations)");
            w.Line("Bind(w, s, batch);");
            Sizes();
            w.Line("CheckLength(x.Length, batch * D, nameof(x));");
            w.Line("CheckLength(rP.Length, batch * R, nameof(rP));");
            w.Line("CheckLength(r2Init.Length, batch * R2, nameof(r2Init));");
            w.Line("CheckLength(r.Length, batch * R, nameof(r));");
            w.Line("CheckLength(r2.Length, batch * R2, nameof(r2));");
            w.Line("CheckLength(rHat.Length, batch * R, nameof(rHat));");
            w.Line("CheckLength(sampleIterations.Length, batch, nameof(sampleIterations));");
            w.Line("first = false;");
            w.Line($"Prepare(batch, ({Total(infBlock)}) * L, ({Total(scratch)}) * L, (R + R2) * L);");
            w.Line($"Scatter(x, D, {Offset(infBlock, "xb")});");
            w.Line($"Scatter(rP, R, {Offset(infBlock, "rp")});");
            w.Line($"Scatter(r2Init, R2, {Offset(infBlock, "r2v")});");
            w.Line($"lastMask = {(Wide ? "FirstLanes" : "FirstLanes256")}(ValidLanes(Blocks - 1));");
            w.Line($"if (lrR.Length < maxIter) lrR = new {T}[maxIter];");
            w.Line($"for (int i = 0; i < maxIter; i++) lrR[i] = ({T})s.RStepSize(i);");
            w.Line("RunWorkers(s);");
            w.Line($"Gather(r, R, {Offset(infBlock, "rv")});");
            w.Line($"Gather(r2, R2, {Offset(infBlock, "r2v")});");
            w.Line($"Gather(rHat, R, {Offset(infBlock, "vr")});");
            EmitFinish(false);
            w.Close();
            w.Line();
        }

        /// <summary><c>InferFirstStep</c>: MODEL.md's <c>inf_first_step</c> for a batch (mirrors <c>Inference.inferFirstStepReference</c>).</summary>
        private void EmitFirst()
        {
            w.Open($"internal K.InferenceStats InferFirstStep(K.KernelWeights<{T}> w, K.InferenceSettings s, int batch, global::System.ReadOnlySpan<{T}> x, global::System.Span<{T}> r, global::System.Span<int> sampleIterations)");
            w.Line("Bind(w, s, batch);");
            Sizes();
            w.Line("CheckLength(x.Length, batch * D, nameof(x));");
            w.Line("CheckLength(r.Length, batch * R, nameof(r));");
            w.Line("CheckLength(sampleIterations.Length, batch, nameof(sampleIterations));");
            w.Line("first = true;");
            w.Line($"Prepare(batch, ({Total(firstBlock)}) * L, ({Total(scratch)}) * L, R * L);");
            w.Line($"Scatter(x, D, {Offset(firstBlock, "xb")});");
            w.Line($"lastMask = {(Wide ? "FirstLanes" : "FirstLanes256")}(ValidLanes(Blocks - 1));");
            EmitAdamWSchedule();
            w.Line("RunWorkers(s);");
            w.Line($"Gather(r, R, {Offset(firstBlock, "rv")});");
            EmitFinish(true);
            w.Close();
            w.Line();
        }

        /// <summary>The call's iteration counts: per block under PerSample convergence, else the batch's.</summary>
        private void EmitFinish(bool first)
        {
            if (opt.Convergence == KernelConvergence.PerSample) w.Line("FinishBlockwise();");
            else if (opt.Convergence != KernelConvergence.Any) w.Line("FillIterations(Iterations);");
            else w.Line($"if (conv == {EnumLit(KernelConvergence.PerSample)}) FinishBlockwise(); else FillIterations(Iterations);");
            w.Line("GatherIterations(sampleIterations);");
            w.Line(first
                ? $"return Stats({Offset(firstBlock, "rv")}, R, 0, 0);"
                : $"return Stats({Offset(infBlock, "rv")}, R, {Offset(infBlock, "r2v")}, R2);");
        }

        private void EmitRunWorker()
        {
            w.Line("/// <inheritdoc />");
            w.Open("public override void RunWorker(int worker)");
            w.Line("if (first) FirstWorker(worker); else InfWorker(worker);");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// The loop over iterations: blockwise (each block to its own end, dynamic scheduling) for
        /// PerSample convergence, else synchronised over the workers with one barrier per iteration.
        /// A fixed convergence mode emits only its own loop and rule.
        /// </summary>
        private void EmitDriver(bool inf)
        {
            bool blockwise = opt.Convergence is KernelConvergence.Any or KernelConvergence.PerSample;
            bool synced = opt.Convergence != KernelConvergence.PerSample;
            Sizes();
            w.Line($"{T}* scr = ScratchOf(worker);");
            if (blockwise)
            {
                if (synced) w.Open($"if (conv == {EnumLit(KernelConvergence.PerSample)})");
                w.Line("int b;");
                w.Open("while ((b = global::System.Threading.Interlocked.Increment(ref NextBlock) - 1) < Blocks)");
                w.Line($"{T}* blk = Blk + (long)b * BlockStride;");
                if (inf) w.Line("Precompute(blk);");
                w.Line($"{V} active = b == Blocks - 1 ? lastMask : {V}.AllBitsSet;");
                w.Line("int it = 0;");
                w.Open($"for (; it < maxIter && {VS}.ExtractMostSignificantBits(active) != 0; it++)");
                w.Line(inf ? "StepInf(blk, scr, lrR[it], active, true);" : "StepFirst(blk, scr, it, active, true);");
                w.Line("CountLanes(b, active);");
                w.Open($"if ({(inf ? "NonFinite" : "NonFiniteR")}(blk, scr, active))");
                w.Line("Diverge(b, ++it);");
                w.Line("break;");
                w.Close();
                w.Line($"active = {VS}.AndNot(active, {(inf ? "LanesConverged(scr)" : "LanesConvergedR(scr)")});");
                w.Close();
                w.Line("BlockIters[b] = it;");
                w.Line($"BlockConverged[b] = BlockDiverged[b] == 0 && {VS}.ExtractMostSignificantBits(active) == 0;");
                if (inf) w.Line("Predict(blk, scr);");
                w.Close();
                if (!synced) return;
                w.Line("return;");
                w.Close();
            }
            // The synchronised loop in groups of Group iterations (KernelJob): each tile of the worker's
            // blocks runs through the group, keeping every iteration's partial sums and (when Group > 1)
            // outputs; one barrier per group; then the first iteration of the group at which the rule
            // stops, and the outputs of that iteration restored.
            var layout = inf ? infBlock : firstBlock;
            void Outputs(string verb)
            {
                w.Line($"{T}* sn = SnapOf(b, k);");
                string Move(string vec, string at, string n) =>
                    verb == "save" ? $"Copy({at}, {At("blk", layout, vec)}, {n});" : $"Copy({At("blk", layout, vec)}, {at}, {n});";
                w.Line(Move("rv", "sn", "R * L"));
                if (inf) w.Line(Move("r2v", "sn + R * L", "R2 * L"));
            }
            w.Line("var (b0, b1) = Range(worker);");
            if (inf) w.Line("for (int b = b0; b < b1; b++) Precompute(Blk + (long)b * BlockStride);");
            w.Line("int sense = 0;");
            w.Line("int iterations = maxIter;");
            w.Line("bool converged = false, diverged = false;");
            w.Line("int group = Group, tile = TileBlocks;");
            w.Open("for (int g0 = 0, gp = 0; g0 < maxIter; g0 += group, gp ^= 1)");
            w.Line("int g1 = global::System.Math.Min(maxIter, g0 + group);");
            w.Open("for (int t0 = b0; t0 < b1; t0 += tile)");
            w.Line("int t1 = global::System.Math.Min(b1, t0 + tile);");
            w.Open("for (int it = g0; it < g1; it++)");
            w.Line("int k = it - g0;");
            w.Open("for (int b = t0; b < t1; b++)");
            w.Line("if (BlockDiverged[b] != 0) continue;");
            w.Line($"{T}* blk = Blk + (long)b * BlockStride;");
            w.Line($"{V} valid = b == Blocks - 1 ? lastMask : {V}.AllBitsSet;");
            w.Line(inf ? "StepInf(blk, scr, lrR[it], valid, false);" : "StepFirst(blk, scr, it, valid, false);");
            w.Open("if (group > 1)");
            Outputs("save");
            w.Close();
            w.Line($"if ({(inf ? "NonFinite" : "NonFiniteR")}(blk, scr, valid)) Diverge(b, it + 1);");
            w.Line("var p = PartialOf(gp * group + k, b);");
            string allRule(string lanes) =>
                $"p[0] = {VS}.ExtractMostSignificantBits({lanes}(scr) & valid) == {VS}.ExtractMostSignificantBits(valid) ? 1.0 : 0.0;";
            void BatchSums()
            {
                w.Line($"{T}* st = scr + ({Offset(scratch, "stat")}) * L;");
                for (int q = 0; q < 4; q++)
                    w.Line($"p[{q}] = K.LaneMath.Sum({VS}.ConditionalSelect(valid, {Ld(q == 0 ? "st" : $"st + {q} * L")}, {V}.Zero));");
            }
            if (!inf) w.Line(allRule("LanesConvergedR"));
            else if (opt.Convergence == KernelConvergence.Batch) BatchSums();
            else if (opt.Convergence == KernelConvergence.AllSamples) w.Line(allRule("LanesConverged"));
            else
            {
                w.Open($"if (conv == {EnumLit(KernelConvergence.Batch)})");
                BatchSums();
                w.Close();
                w.Line("else " + allRule("LanesConverged"));
            }
            w.Close();
            w.Close();
            w.Close();
            w.Line("SignalAndWait(ref sense);");
            w.Line("int firstDiverged = FirstDivergence();");
            w.Line("int stop = -1;");
            string decision = !inf || opt.Convergence == KernelConvergence.AllSamples ? "AllDecision(slot)"
                : opt.Convergence == KernelConvergence.Batch ? "BatchDecision(slot, tolD)"
                : $"conv == {EnumLit(KernelConvergence.Batch)} ? BatchDecision(slot, tolD) : AllDecision(slot)";
            w.Open("for (int it = g0; it < g1; it++)");
            w.Line("int slot = gp * group + it - g0;");
            w.Open("if (firstDiverged == it + 1)");
            w.Line("stop = it;");
            w.Line("diverged = true;");
            w.Line("break;");
            w.Close();
            w.Open($"if ({decision})");
            w.Line("stop = it;");
            w.Line("converged = true;");
            w.Line("break;");
            w.Close();
            w.Close();
            w.Line("if (stop < 0) continue;");
            w.Line("iterations = stop + 1;");
            w.Open("if (stop < g1 - 1)");
            w.Line("int k = stop - g0;");
            w.Open("for (int b = b0; b < b1; b++)");
            w.Line($"{T}* blk = Blk + (long)b * BlockStride;");
            Outputs("restore");
            w.Close();
            w.Close();
            w.Line("break;");
            w.Close();
            if (inf) w.Line("for (int b = b0; b < b1; b++) Predict(Blk + (long)b * BlockStride, scr);");
            w.Line("if (worker == 0) FinishSynced(iterations, converged, diverged);");
        }

        private void EmitInfWorker()
        {
            Hot("private void InfWorker(int worker)");
            EmitDriver(true);
            w.Close();
            w.Line();
        }

        private void EmitFirstWorker()
        {
            Hot("private void FirstWorker(int worker)");
            EmitDriver(false);
            w.Close();
            w.Line();
        }

        /// <summary>One iteration of <c>inf</c> and of <c>inf_first_step</c> for one block: the model's pieces in order, then the update.</summary>
        private void EmitStepInf()
        {
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Open($"private void StepInf({T}* blk, {T}* scr, {T} lr, {V} mask, bool masked)");
            Sizes();
            Switch(opt.R2Decoder, "r2dec", () => w.Line("R2Target(blk, scr);"));
            w.Line($"DecodeGrad({At("blk", infBlock, "xb")}, {At("blk", infBlock, "rv")}, scr);");
            w.Line("Hyper(blk, scr);");
            w.Line("Temporal(blk, scr);");
            w.Line("HyperGrad(blk, scr);");
            w.Line("Update(blk, scr, lr, mask, masked);");
            w.Close();
            w.Line();
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Open($"private void StepFirst({T}* blk, {T}* scr, int it, {V} mask, bool masked)");
            Sizes();
            w.Line($"DecodeGrad({At("blk", firstBlock, "xb")}, {At("blk", firstBlock, "rv")}, scr);");
            w.Line("UpdateFirst(blk, scr, it, mask, masked);");
            w.Close();
            w.Line();
        }

        /// <summary>
        /// The per-lane stopping rules: <c>ρ(a, a_old) = ‖a − a_old‖ / (‖a_old‖ + guard) &lt; tol</c>
        /// (MODEL.md step 6; <c>Inference.relChange</c>) for r and r2, and for r alone in <c>inf_first_step</c>.
        /// </summary>
        private void EmitStoppingRules()
        {
            string Rho(string d, string o) => $"{VS}.Sqrt({d}) / ({VS}.Sqrt({o}) + {Bc(Const(nameof(ModelConstants.RelChangeGuard)))})";
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Open($"private {V} LanesConverged({T}* scr)");
            Sizes();
            w.Line($"{T}* st = scr + ({Offset(scratch, "stat")}) * L;");
            w.Line($"{V} vt = {Bc("tol")};");
            w.Line($"return {VS}.LessThan({Rho(Ld("st"), Ld("st + L"))}, vt) & {VS}.LessThan({Rho(Ld("st + 2 * L"), Ld("st + 3 * L"))}, vt);");
            w.Close();
            w.Line();
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Open($"private {V} LanesConvergedR({T}* scr)");
            Sizes();
            w.Line($"{T}* st = scr + ({Offset(scratch, "stat")}) * L;");
            w.Line($"return {VS}.LessThan({Rho(Ld("st"), Ld("st + L"))}, {Bc("tol")});");
            w.Close();
            w.Line();
            // The divergence check, on the squared changes the rules above use: a lane of the mask
            // whose ‖Δr‖² + ‖Δr2‖² is not below +∞ (NaN or ∞: one compare per iteration), then, on that
            // rare path only, whether the lane's values themselves are not finite.
            foreach (var (name, slots, block, r2) in new[] { ("NonFinite", $"{VS}.Load(st) + {VS}.Load(st + 2 * L)", infBlock, true), ("NonFiniteR", $"{VS}.Load(st)", firstBlock, false) })
            {
                w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
                w.Open($"private bool {name}({T}* blk, {T}* scr, {V} mask)");
                Sizes();
                w.Line($"{T}* st = scr + ({Offset(scratch, "stat")}) * L;");
                w.Line($"{V} bad = {VS}.AndNot(mask, {VS}.LessThan({slots}, {Bc($"{T}.PositiveInfinity")}));");
                w.Line($"if ({VS}.ExtractMostSignificantBits(bad) == 0) return false;");
                w.Line($"return LanesNonFinite({At("blk", block, "rv")}, R, {(r2 ? At("blk", block, "r2v") : "blk")}, {(r2 ? "R2" : "0")}, {VS}.ExtractMostSignificantBits(bad));");
                w.Close();
                w.Line();
            }
        }
    }
}
