#!/usr/bin/env bash
# Starts and stops a one-node SLURM cluster on this machine, for CI tests of `tidhy sweep`
# (job arrays, requeue, signals). Needs root, Debian 12 packages, no systemd.
#   cluster.sh install   install slurmctld slurmd slurm-client munge if sbatch/slurmctld/munged are missing
#   cluster.sh start     start munged, write /etc/slurm/slurm.conf, start slurmctld and slurmd, wait
#                        until the node is idle. If a cluster from this script is already running it
#                        is restarted cleanly (slurmctld -c: no jobs carried over); a working munged
#                        is reused.
#   cluster.sh stop      scontrol shutdown, wait for the daemons to exit, end munged (also one that
#                        start found running and reused), empty the state and spool dirs (logs are
#                        kept in /var/log/slurm); refuses if the conf file is not ours
#   cluster.sh status    show the daemons, the node and the queue
# The conf file carries a marker line; an /etc/slurm/slurm.conf without it is never overwritten.
# Waits are bounded by CLUSTER_TIMEOUT seconds (default 60).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARKER='# written by tests/slurm/cluster.sh'
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
LOG_DIR=/var/log/slurm
CTLD_LOG=$LOG_DIR/slurmctld.log
SLURMD_LOG=$LOG_DIR/slurmd.log
MUNGE_RUN=/run/munge
MUNGE_PID=$MUNGE_RUN/munged.pid
TIMEOUT=${CLUSTER_TIMEOUT:-60}

log() { echo "cluster.sh: $*"; }
die() { echo "cluster.sh: error: $*" >&2; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s; returns 1 on timeout.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if (( SECONDS >= deadline )); then
      echo "cluster.sh: timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}

# A daemon counts as running when a process of that exact name exists that is not a zombie (the
# short-lived parents of daemonising processes can linger as zombies where pid 1 reaps slowly).
running() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }
not_running() { ! running "$1"; }
slurm_down() { not_running slurmctld && not_running slurmd; }
pids() { ps -C "$1" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ { printf "%s ", $1 }'; }
conf_is_ours() { [[ -f $CONF ]] && grep -qxF "$MARKER" "$CONF"; }
munge_ok() { munge -n 2>/dev/null | unmunge 2>/dev/null | grep -q 'STATUS: *Success'; }
node_state() { sinfo -h -o %t 2>/dev/null | head -n1; }
node_idle() { [[ $(node_state) == idle ]]; }

show_logs() {
  local f
  for f in "$CTLD_LOG" "$SLURMD_LOG"; do
    echo "----- tail $f -----" >&2
    tail -n 25 "$f" >&2 2>/dev/null || echo "(no log)" >&2
  done
}

cmd_install() {
  need_root
  if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v munged >/dev/null; then
    log "slurm and munge already installed"
    return 0
  fi
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  local out
  out=$(mktemp)
  # apt's output is shown only when it fails
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
           slurmctld slurmd slurm-client munge; } >"$out" 2>&1; then
    cat "$out" >&2; rm -f "$out"
    die "apt-get failed"
  fi
  rm -f "$out"
  log "installed: $(dpkg-query -W -f='${Package} ${Version}; ' slurmctld slurmd slurm-client munge 2>/dev/null)"
}

start_munge() {
  if running munged && munge_ok; then
    log "munged already running"
    return 0
  fi
  [[ -f /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing (run: cluster.sh install)"
  mkdir -p "$MUNGE_RUN"
  chown munge:munge "$MUNGE_RUN"
  chmod 0755 "$MUNGE_RUN"
  if ! running munged; then
    log "starting munged"
    su -s /bin/sh munge -c /usr/sbin/munged
  fi
  wait_until "$TIMEOUT" "munge -n | unmunge" munge_ok || die "munge does not work"
}

write_conf() {
  local node hw cpus mem
  node=$(hostname -s)
  # slurmd -C prints e.g. "NodeName=vm CPUs=2 ... RealMemory=24105"
  hw=$(slurmd -C | head -n1) || die "slurmd -C failed"
  cpus=$(sed -n 's/.*[[:space:]]CPUs=\([0-9][0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.*[[:space:]]RealMemory=\([0-9][0-9]*\).*/\1/p' <<<"$hw")
  [[ -n $cpus && -n $mem ]] || die "could not read CPUs and RealMemory from slurmd -C: $hw"
  mem=$((mem * 9 / 10))   # a little below what is reported, so the node is never drained for low memory
  mkdir -p /etc/slurm "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
  cat >"$CONF" <<CONF_EOF
$MARKER
# One-node cluster for CI; rewritten on every 'cluster.sh start'.
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF_EOF
  log "wrote $CONF (node $node, CPUs=$cpus, RealMemory=$mem)"
}

stop_slurm_daemons() {
  if running slurmctld; then
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  wait_until "$TIMEOUT" "slurmctld and slurmd to exit" slurm_down && return 0
  # scontrol shutdown did not reach them (e.g. slurmctld gone, slurmd left): signal them directly
  local p
  for p in slurmd slurmctld; do pkill -TERM -x "$p" 2>/dev/null || true; done
  wait_until 15 "slurmctld and slurmd to exit after SIGTERM" slurm_down \
    || die "slurmctld/slurmd still running"
}

cmd_start() {
  need_root
  command -v slurmctld >/dev/null || die "slurm is not installed (run: cluster.sh install)"
  if [[ -f $CONF ]] && ! conf_is_ours; then
    die "$CONF exists and was not written by this script (no '$MARKER' line); refusing to overwrite it"
  fi
  if running slurmctld || running slurmd; then
    if conf_is_ours; then
      log "a cluster from this script is running; restarting it"
      stop_slurm_daemons
    else
      die "slurmctld or slurmd is running but $CONF was not written by this script; leaving it alone"
    fi
  fi
  start_munge
  write_conf
  log "starting slurmctld"
  slurmctld -c || { show_logs; die "slurmctld failed to start"; }
  wait_until "$TIMEOUT" "slurmctld to answer scontrol ping" \
    bash -c 'scontrol ping 2>/dev/null | grep -q "is UP"' || { show_logs; exit 1; }
  log "starting slurmd"
  slurmd || { show_logs; die "slurmd failed to start"; }
  if ! wait_until "$TIMEOUT" "the node to be idle" node_idle; then
    echo "cluster.sh: node state: $(node_state || echo unknown)" >&2
    show_logs
    exit 1
  fi
  log "cluster up: $(sinfo -h -o '%P %D %t %N')"
}

cmd_stop() {
  need_root
  if [[ -f $CONF ]] && ! conf_is_ours; then
    die "$CONF was not written by this script; leaving its daemons (and munged) alone"
  fi
  if running slurmctld || running slurmd; then
    log "stopping slurmctld and slurmd"
    stop_slurm_daemons
  else
    log "slurmctld and slurmd not running"
  fi
  if running munged; then
    log "stopping munged"
    if [[ -s $MUNGE_PID ]]; then
      kill -TERM "$(cat "$MUNGE_PID")" 2>/dev/null || true
    fi
    wait_until 5 "munged to exit" not_running munged 2>/dev/null || pkill -TERM -x munged || true
    wait_until "$TIMEOUT" "munged to exit" not_running munged || die "munged still running"
  else
    log "munged not running"
  fi
  rmdir "$MUNGE_RUN" 2>/dev/null || true   # start created it (it is on tmpfs); remove it when empty
  # slurmctld's saved state and slurmd's spool are of no use once stopped (start uses slurmctld -c);
  # the logs in $LOG_DIR are kept for debugging CI runs.
  find "$STATE_DIR" "$SPOOL_DIR" -mindepth 1 -delete 2>/dev/null || true
  log "stopped"
}

cmd_status() {
  local p
  for p in munged slurmctld slurmd; do
    if running "$p"; then echo "$p: running (pid $(pids "$p"))"; else echo "$p: stopped"; fi
  done
  if running slurmctld; then
    scontrol ping || true
    sinfo || true
    squeue || true
  fi
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
