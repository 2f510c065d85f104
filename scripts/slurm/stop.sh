#!/usr/bin/env bash
# Stop what start.sh started, by PID, and nothing else.
#   stop.sh                 every daemon whose $SLURM_STATE/NAME.pid is alive (munged, slurmctld,
#                           slurmd)
#   stop.sh --lease ID      end the lease ID taken by `ensure.sh --lease ID`: stop only what that
#                           ensure.sh call started, unless another lease is still alive (then the
#                           daemons are handed over to it and keep running)
# Jobs still in the queue are cancelled first (no slurmstepd left behind), and the daemons'
# PidFiles in /run are removed once their process is gone (a stale /run/slurmctld.pid makes the
# slurmctld package's prerm run scancel, which fails and aborts an apt-get remove).
set -uo pipefail
. "$(dirname "$0")/common.sh"

cancel_jobs() {
  slurm_alive slurmctld || return 0
  local jobs
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  [ -n "${jobs// /}" ] || return 0
  slurm_log "cancelling the jobs left in the queue: $jobs"
  # shellcheck disable=SC2086  # one word per job id
  scancel --full $jobs 2>/dev/null || true
  for _ in $(seq 1 40); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 0.25
  done
  slurm_log "jobs still queued after 10 s: $(squeue -h -o '%i %T' 2>/dev/null | tr '\n' ' ')"
}
# stop_these NAME...: cancel the jobs (when slurmctld or slurmd goes), then TERM each named daemon
# that we started (slurmd, slurmctld, munged: each takes about 2 s to go, so all at once), wait up
# to 6 s, KILL what is left.
stop_these() {
  local d pid t pids=() names=()
  case " $* " in *" slurmctld "* | *" slurmd "*) cancel_jobs ;; esac
  t=$(slurm_now)
  for d in slurmd slurmctld munged; do
    case " $* " in *" $d "*) ;; *) continue ;; esac
    [ -f "$SLURM_STATE/$d.pid" ] || continue
    pid=$(cat "$SLURM_STATE/$d.pid")
    if slurm_alive "$d"; then
      kill -TERM "$pid"
      pids+=("$pid")
      names+=("$d (pid $pid)")
    fi
    rm -f "$SLURM_STATE/$d.pid"
  done
  local left=("${pids[@]}")
  for _ in $(seq 1 60); do
    left=()
    for pid in "${pids[@]}"; do
      slurm_pid_exists "$pid" && left+=("$pid")
    done
    [ ${#left[@]} -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    slurm_log "pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) still running after 6 s: KILL"
    kill -KILL "$pid" 2>/dev/null
    sleep 0.2
  done
  for f in /run/slurmctld.pid /run/slurmd.pid; do
    if [ -f "$f" ] && ! slurm_pid_exists "$(cat "$f" 2>/dev/null)"; then rm -f "$f"; fi
  done
  [ ${#names[@]} -eq 0 ] || slurm_log "stopped ${names[*]} in $(slurm_since "$t") s"
}

[ -d "$SLURM_STATE" ] || exit 0
. "$SLURM_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_STATE=$SLURM_STATE TIER_NAME=SLURM TIER_CONF=$SLURM_STATE/cluster.json TIER_LOG=slurm_log
if [ "${1:-}" != --lease ]; then
  # shellcheck disable=SC2086
  stop_these $SLURM_DAEMONS
  tier_drop_dead_leases
  exit 0
fi
tier_end_lease "$2" stop_these
