#!/usr/bin/env bash
# docs/OWN-DATA.md, "With the tool": examples/data/series.csv and states.csv from a trained model to
# the analyses. CI runs it after the demo's Release build; `bash examples/own-data.sh [OUT]` keeps
# the runs in OUT (default: a temporary folder, removed at the end). With the installed tool, replace
# the function below by `tidhy`.
set -euo pipefail
cd "$(dirname "$0")"
tidhy() { dotnet ../src/TiDHy.Cli/bin/Release/net10.0/tidhy.dll "$@"; }
out=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$out"' EXIT

# 1. Train. The last 15% of the series is held out as a test series (test.npy, test_states.npy),
#    the 15% before it validates; every feature is z-scored with the training part's statistics
#    (the default); the epoch kept is the one whose R2_hat best decodes the validation states. The
#    recovery preset slows the hypernetwork, decoder and dynamics learning rates (docs/SWEEP.md):
#    with the defaults this small model's loss explodes by epoch 6, and train says so.
tidhy train --data data/series.csv --states data/states.csv --config data/config.json \
  --preset recovery --test-fraction 0.15 --val-fraction 0.15 --epochs 6 --select r2 \
  --monitor-every 2 --out "$out/run"

# 2. Evaluate the selected model once on the held-out test series: the decoding table (held-out
#    blocks first, beside the raw input, its delay embedding, the untrained model and an ARHMM)
#    and the timescales without labels, matched to the true ones when you know them.
tidhy eval --model "$out/run/best.tidhy.json" --data "$out/run/test.npy" \
  --states "$out/run/test_states.npy" --true-timescales 25,5 --out "$out/run/eval"

# 3. The report: open it in a browser.
echo "report: $out/run/eval/index.html"
