#!/usr/bin/env bash
# Smoke test of the one-node SLURM cluster that `tidhy sweep` CI tests use (run as root, after
# `cluster.sh install`). Starts the cluster with cluster.sh, then checks:
#   array    a job array --array=0-3%2 --cpus-per-task=1: all 4 tasks write their file, at most 2
#            run at once, and the queue empties;
#   requeue  `scontrol requeue` sends the running batch script SIGTERM (its trap writes a marker),
#            the job goes back to PENDING (BeginTime), `scontrol update StartTime=now` releases it and
#            the second run sees SLURM_RESTART_COUNT=1;
#   signal   `scancel --signal=USR1 --batch JOBID` reaches a `trap ... USR1` in the batch script.
# Prints PASS/FAIL per check (and INFO lines on which processes saw a signal), stops the cluster on
# exit, and exits 1 if any check failed. Each wait is bounded (SMOKE_TIMEOUT, default 90 s).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=${SMOKE_TIMEOUT:-90}
failures=0
tmp=$(mktemp -d /tmp/slurm-smoke.XXXXXX)
chmod 0755 "$tmp"

cleanup() {
  local rc=$?
  if (( failures > 0 || rc != 0 )); then
    echo "--- job files in $tmp ---"
    find "$tmp" -type f -print -exec head -n 20 {} \; 2>/dev/null || true
  fi
  scancel --user=root >/dev/null 2>&1 || true
  bash "$here/cluster.sh" stop || true
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
info() { echo "INFO: $*"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.5 s; returns 1 on timeout.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.5
  done
}
exists() { [[ -e $1 ]]; }
job_gone() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }
queue_empty() { [[ -z $(squeue -h) ]]; }
job_state() { squeue -h -j "$1" -o '%T %r' 2>/dev/null | head -n1; }
pending_begintime() { [[ $(job_state "$1") == "PENDING BeginTime" ]]; }
count_files() { find "$1" -maxdepth 1 -name "$2" | wc -l; }
array_done() { [[ $(count_files "$tmp/array" 'task_*') -eq 4 ]] && queue_empty; }

bash "$here/cluster.sh" start

# ---------------------------------------------------------------- array
check_array() {
  local dir=$tmp/array jobid t0 ids
  mkdir -p "$dir"
  cat >"$dir/job.sh" <<JOB
#!/bin/bash
#SBATCH --job-name=smoke-array
#SBATCH --array=0-3%2
#SBATCH --cpus-per-task=1
#SBATCH --output=$dir/out_%A_%a.txt
start=\$(date +%s.%N)
sleep 3
echo "\$SLURM_ARRAY_JOB_ID \$SLURM_ARRAY_TASK_ID \$start \$(date +%s.%N)" >"$dir/task_\$SLURM_ARRAY_TASK_ID.tmp"
mv "$dir/task_\$SLURM_ARRAY_TASK_ID.tmp" "$dir/task_\$SLURM_ARRAY_TASK_ID"
JOB
  t0=$SECONDS
  jobid=$(sbatch --parsable "$dir/job.sh") || { fail "array: sbatch failed"; return; }
  sleep 1
  ids=$(squeue -h -r -j "$jobid" -o %i | tr '\n' ' ')
  info "array: job $jobid, squeue -r ids after 1 s: $ids"
  if ! wait_for "$TIMEOUT" array_done; then
    fail "array: after ${TIMEOUT}s $(count_files "$dir" 'task_*')/4 files, squeue: $(squeue -h | tr '\n' ';')"
    scancel "$jobid" 2>/dev/null || true
    return
  fi
  local elapsed=$((SECONDS - t0))
  # every task saw the array's job id, and no more than 2 tasks overlapped in time
  local bad_ids overlap
  bad_ids=$(cat "$dir"/task_* | awk -v j="$jobid" '$1 != j' | wc -l)
  overlap=$(cat "$dir"/task_* | awk '{ e[NR]=$3; x[NR]=$4 } END {
      m=0; for (i=1;i<=NR;i++) { n=0; for (k=1;k<=NR;k++) if (e[k] <= e[i] && x[k] > e[i]) n++; if (n>m) m=n }
      print m }')
  if [[ $bad_ids -eq 0 && $overlap -le 2 && $(ls "$dir"/task_* | sort | tr '\n' ' ') == "$dir/task_0 $dir/task_1 $dir/task_2 $dir/task_3 " ]]; then
    pass "array: 4 tasks of job $jobid done in ${elapsed}s, at most $overlap ran at once, queue empty"
  else
    fail "array: wrong job ids ($bad_ids) or $overlap tasks at once"
  fi
}

# ---------------------------------------------------------------- requeue
check_requeue() {
  local dir=$tmp/requeue jobid state
  mkdir -p "$dir"
  cat >"$dir/job.sh" <<JOB
#!/bin/bash
#SBATCH --job-name=smoke-requeue
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=$dir/out_%j.txt
echo "run SLURM_RESTART_COUNT=\${SLURM_RESTART_COUNT:-unset} pid \$\$"
if [[ \${SLURM_RESTART_COUNT:-0} -ge 1 ]]; then
  echo "\$SLURM_RESTART_COUNT" >"$dir/restart_count"
  exit 0
fi
trap 'echo batch >>"$dir/term_batch"; exit 143' TERM
# a child process of the batch script, to see whether the signal reaches it too
bash -c 'trap "echo child >>$dir/term_child; exit 143" TERM; while :; do sleep 0.2; done' &
touch "$dir/started"
while :; do sleep 0.2; done
JOB
  jobid=$(sbatch --parsable "$dir/job.sh") || { fail "requeue: sbatch failed"; return; }
  if ! wait_for "$TIMEOUT" exists "$dir/started"; then
    fail "requeue: job $jobid did not start (state: $(job_state "$jobid"))"; scancel "$jobid" || true; return
  fi
  scontrol requeue "$jobid" || { fail "requeue: scontrol requeue $jobid failed"; scancel "$jobid" || true; return; }
  if wait_for 30 exists "$dir/term_batch"; then
    pass "requeue: scontrol requeue sent TERM to the batch script's trap"
  else
    fail "requeue: no TERM marker from the batch script"
  fi
  sleep 1
  info "requeue: TERM seen by: $(cat "$dir"/term_* 2>/dev/null | sort -u | tr '\n' ' ')"
  if wait_for 30 pending_begintime "$jobid"; then
    pass "requeue: job $jobid is PENDING with Reason=BeginTime after requeue"
  else
    fail "requeue: job $jobid state after requeue: '$(job_state "$jobid")'"
  fi
  scontrol update JobId="$jobid" StartTime=now || fail "requeue: scontrol update StartTime=now failed"
  if wait_for "$TIMEOUT" exists "$dir/restart_count" && wait_for 30 job_gone "$jobid"; then
    if [[ $(cat "$dir/restart_count") == 1 ]]; then
      pass "requeue: second run saw SLURM_RESTART_COUNT=1 and the job finished"
    else
      fail "requeue: second run saw SLURM_RESTART_COUNT=$(cat "$dir/restart_count")"
    fi
  else
    fail "requeue: no second run of $jobid (state: $(job_state "$jobid"))"; scancel "$jobid" || true
  fi
}

# ---------------------------------------------------------------- signal to the batch script
check_signal() {
  local dir=$tmp/signal jobid
  mkdir -p "$dir"
  cat >"$dir/job.sh" <<JOB
#!/bin/bash
#SBATCH --job-name=smoke-signal
#SBATCH --output=$dir/out_%j.txt
got_usr1=0
trap 'got_usr1=1; echo batch >>"$dir/usr1_batch"' USR1
bash -c 'trap "echo child >>$dir/usr1_child" USR1; while :; do sleep 0.2; done' &
child=\$!
touch "$dir/started"
for _ in \$(seq 600); do
  [[ \$got_usr1 == 1 ]] && break
  sleep 0.2
done
sleep 1   # give the child time to record a USR1 if it got one
kill \$child 2>/dev/null
echo "batch script exits, got_usr1=\$got_usr1"
JOB
  jobid=$(sbatch --parsable "$dir/job.sh") || { fail "signal: sbatch failed"; return; }
  if ! wait_for "$TIMEOUT" exists "$dir/started"; then
    fail "signal: job $jobid did not start (state: $(job_state "$jobid"))"; scancel "$jobid" || true; return
  fi
  scancel --signal=USR1 --batch "$jobid" || fail "signal: scancel --signal=USR1 --batch failed"
  if wait_for 30 exists "$dir/usr1_batch"; then
    pass "signal: scancel --signal=USR1 --batch reached the batch script's USR1 trap"
  else
    fail "signal: no USR1 marker from the batch script"
  fi
  if wait_for 30 job_gone "$jobid"; then
    pass "signal: job $jobid finished after the trap"
  else
    fail "signal: job $jobid still in the queue: $(job_state "$jobid")"; scancel "$jobid" || true
  fi
  info "signal: USR1 seen by: $(cat "$dir"/usr1_* 2>/dev/null | sort -u | tr '\n' ' ')"
}

check_array
check_requeue
check_signal

if (( failures > 0 )); then
  echo "smoke.sh: $failures check(s) failed"
  exit 1
fi
echo "smoke.sh: all checks passed"
