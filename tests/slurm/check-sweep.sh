#!/usr/bin/env bash
# `tidhy sweep` on a real SLURM (a one-node cluster on this machine, tests/slurm/cluster.sh): the
# same small sweep (tests/slurm/tiny-sweep.json: 4 tasks of a tiny model) is planned twice, run once
# with the local executor (2 at a time) and once as a SLURM job array (--max-parallel 2). While the
# array runs, task 1 is requeued with `scontrol requeue` (SIGTERM: it saves its checkpoint) and
# task 2 is sent the pre-timeout signal (`scancel --signal=USR1 --batch`: the batch script stops the
# task and requeues it), each mid-training; both resume from their checkpoints. Then every task's
# result.json and model.json must be byte for byte the same under both executors, their metrics
# the same apart from the seconds, status and collect must see 4 done tasks, and the sweep's report
# must draw in headless Chromium.
# Needs root (it installs the Debian packages when missing and starts the daemons); stops the
# cluster on exit. Prints PASS/FAIL per check and the wall time of each executor.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

dll=$repo/src/TiDHy.Cli/bin/Release/net10.0/tidhy.dll
if [ ! -f "$dll" ]; then
  dotnet build src/TiDHy.Cli -c Release -v quiet -nologo
fi
tidhy() { dotnet "$dll" "$@"; }

work=$(mktemp -d /tmp/tidhy-slurm-XXXXXX)
bash tests/slurm/cluster.sh install
bash tests/slurm/cluster.sh start
cleanup() {
  scancel --me >/dev/null 2>&1 || true
  bash tests/slurm/cluster.sh stop || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() { # check NAME COMMAND...: PASS when COMMAND succeeds.
  local name=$1
  shift
  if "$@"; then
    echo "PASS: $name"
  else
    echo "FAIL: $name"
    failures=$((failures + 1))
  fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; fails on timeout.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${limit} s waiting for $what" >&2
      tidhy sweep status "$work/slurm" --all >&2 || true
      squeue >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

sweep=tests/slurm/tiny-sweep.json
tidhy sweep plan "$sweep" --out "$work/local"
tidhy sweep plan "$sweep" --out "$work/slurm"

# The local executor.
start=$SECONDS
tidhy sweep submit "$work/local" --jobs 2
local_seconds=$((SECONDS - start))

# The SLURM executor.
start=$SECONDS
job=$(tidhy sweep submit "$work/slurm" --executor slurm --max-parallel 2 --signal-seconds 60)
echo "job array $job"
check "the batch script is kept in the sweep folder" test -f "$work/slurm/slurm/submit-1.sbatch"

epochs_done() { # epochs_done TASK: the rows of the task's metrics.csv
  local m=$work/slurm/tasks/$1/run/metrics.csv
  if [ -f "$m" ]; then echo $(($(wc -l <"$m") - 1)); else echo 0; fi
}
mid_training() { # mid_training TASK: a checkpoint written and fewer than 100 of 150 epochs done
  [ -f "$work/slurm/tasks/$1/run/last.tidhy.json" ] && [ "$(epochs_done "$1")" -ge 2 ] && [ "$(epochs_done "$1")" -lt 100 ]
}
task_state() { squeue -h -r -j "${job}_$1" -o %T 2>/dev/null || true; }
pending() { [ "$(task_state "$1")" = PENDING ]; }
running() { [ "$(task_state "$1")" = RUNNING ]; }
release() { # release TASK: a requeued task waits ~2 minutes (BeginTime) unless released
  wait_for 60 "task $1 to be pending again" pending "$1"
  scontrol update JobId="${job}_$1" StartTime=now
}

# Task 1: requeued mid-training (preemption does the same).
wait_for 120 "task 1 to be mid-training" mid_training 1
requeued_at=$(epochs_done 1)
scontrol requeue "${job}_1"
echo "requeued task 1 after $requeued_at epochs"
release 1

# Task 2: the pre-timeout signal (what --signal=B:USR1@60 sends 60 s before the time limit).
wait_for 120 "task 2 to be running" running 2
wait_for 120 "task 2 to be mid-training" mid_training 2
signalled_at=$(epochs_done 2)
scancel --signal=USR1 --batch "${job}_2"
echo "sent the time-limit signal to task 2 after $signalled_at epochs"
release 2

all_done() { tidhy sweep status "$1" | grep -q "4 tasks: 4 done"; }
wait_for 600 "the SLURM sweep to finish" all_done "$work/slurm"
slurm_seconds=$((SECONDS - start))

tidhy sweep status "$work/slurm" --all
check "status: the local sweep has 4 done tasks" all_done "$work/local"

for i in 0 1 2 3; do
  check "task $i: result.json is the same under both executors" \
    cmp "$work/local/tasks/$i/result.json" "$work/slurm/tasks/$i/result.json"
  check "task $i: model.json is the same under both executors" \
    cmp "$work/local/tasks/$i/run/model.json" "$work/slurm/tasks/$i/run/model.json"
  # metrics.csv without its seconds column (wall time).
  strip() { awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i } { $s = ""; print }' "$1"; }
  check "task $i: metrics.csv is the same apart from the seconds" \
    diff <(strip "$work/local/tasks/$i/run/metrics.csv") <(strip "$work/slurm/tasks/$i/run/metrics.csv")
done

log1=$(cat "$work"/slurm/tasks/1/slurm-*.out)
log2=$(cat "$work"/slurm/tasks/2/slurm-*.out)
check "task 1 was stopped by the requeue and saved its checkpoint" grep -q "SIGTERM: stopping" <<<"$log1"
check "task 1 ran again (restart 1) and resumed from its checkpoint" grep -q "restart 1" <<<"$log1"
check "task 1's second attempt resumed (train --resume)" grep -q "attempt 2" <<<"$log1"
check "task 2 saw the time-limit signal" grep -q "the time limit is near" <<<"$log2"
check "task 2's second attempt resumed (train --resume)" grep -q "attempt 2" <<<"$log2"

tidhy sweep collect "$work/local" >/dev/null
tidhy sweep collect "$work/slurm" >/dev/null
# The tables agree apart from the seconds column.
strip_seconds() { awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i } { if (s) $s = ""; print }' "$1"; }
check "collect: the two results.csv agree apart from the seconds" \
  diff <(strip_seconds "$work/local/collect/results.csv") <(strip_seconds "$work/slurm/collect/results.csv")
check "collect: results.csv has a row per task" test "$(($(wc -l <"$work/slurm/collect/results.csv") - 1))" -eq 4
# The sweep's report in headless Chromium, offline (when Chromium is installed: CI installs it).
if command -v chromium >/dev/null; then
  check "collect: every chart of the report draws in headless Chromium" \
    env TIDHY_ARTIFACTS="$repo/artifacts/sweep" tests/browser/check-report.sh "$work/slurm/collect"
fi

echo "wall time: local executor ${local_seconds} s, SLURM executor ${slurm_seconds} s (with the requeue and the signal; 4 tasks, 2 at a time)"
if [ "$failures" -gt 0 ]; then
  echo "tests/slurm/check-sweep.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "tests/slurm/check-sweep.sh: all checks passed"
