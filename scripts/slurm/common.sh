# shellcheck shell=bash disable=SC2034  # sourced: its settings are used by the other scripts
# Shared settings and helpers of the SLURM tier (sourced by the other scripts; not run alone).
#
# One real single-node SLURM cluster (Debian packages slurmctld, slurmd, slurm-client, munge):
# node "localhost" on 127.0.0.1, partition "debug", every daemon port on loopback only. The
# daemons run in the foreground under our PIDs (no systemd): munged, slurmctld, slurmd.

SLURM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Everything the scripts remember between runs (PIDs, leases, logs, the skip marker, cluster.json).
SLURM_STATE=${VOCLOUD_SLURM_STATE:-/tmp/vocloud-slurm}
SLURM_NODE=localhost
SLURM_PARTITION=debug
SLURM_CONF=/etc/slurm/slurm.conf
# the first line of the slurm.conf we write: setup.sh leaves a slurm.conf without it alone
SLURM_CONF_MARK="# Written by vocloud scripts/slurm/setup.sh: single-node test cluster, loopback only."
SLURM_DAEMONS="munged slurmctld slurmd"   # start order; stop.sh goes the other way
export DEBIAN_FRONTEND=noninteractive

slurm_log() { echo "[slurm] $*"; }
slurm_now() { date +%s.%N; }
slurm_since() { awk -v a="$1" -v b="$(slurm_now)" 'BEGIN { printf "%.1f", b - a }'; }

# slurm_pid_exists PID: a process PID exists, whoever owns it (kill -0 fails on another user's).
slurm_pid_exists() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  [ -d "/proc/$1" ]
}
# slurm_pid_alive PID NAME: PID is a live process running NAME (not a reused PID).
slurm_pid_alive() {
  slurm_pid_exists "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}
# slurm_alive NAME: the NAME we started (PID in $SLURM_STATE/NAME.pid) still runs.
slurm_alive() {
  [ -f "$SLURM_STATE/$1.pid" ] && slurm_pid_alive "$(cat "$SLURM_STATE/$1.pid")" "$1"
}
# slurm_running NAME: NAME runs, started by us or by someone else (the daemon's own PidFile).
slurm_running() {
  slurm_alive "$1" && return 0
  case $1 in
    munged) slurm_munge_ok ;;
    *) [ -f "/run/$1.pid" ] && slurm_pid_alive "$(cat "/run/$1.pid" 2>/dev/null)" "$1" ;;
  esac
}
slurm_munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
slurm_ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
# The state of our node as sinfo says it (idle, mix, alloc, down, drain, inval, ...; empty: none).
slurm_node_state() { sinfo -h -n "$SLURM_NODE" -o %t 2>/dev/null | head -1; }
# The node takes jobs.
slurm_ready() {
  command -v sinfo >/dev/null || return 1
  case $(slurm_node_state) in idle | mix | alloc) return 0 ;; *) return 1 ;; esac
}
# Exec a command with every file descriptor above 2 closed: run it in a subshell, e.g.
#   ( slurm_exec_closed daemon -D ) </dev/null >log 2>&1 &
# so that $! is the daemon's PID. Daemons started from here must not inherit our lock (ensure.sh
# and stop.sh would wait on it forever) or make's jobserver pipes.
slurm_exec_closed() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  exec "$@"
}
# The last lines of the daemons' output (for a failure message). In the foreground the daemons
# write to stderr what they write to their logs (/var/log/slurm/*.log): NAME.out is enough. Less
# the harmless noise: no PMIx library (MpiDefault=none uses none), munged's "Unauthorized
# credential" lines.
slurm_noise='pmix|MPI: Cannot create context|Unauthorized credential'
slurm_log_tails() {
  local f
  for f in "$SLURM_STATE"/munged.out "$SLURM_STATE"/slurmctld.out "$SLURM_STATE"/slurmd.out; do
    [ -s "$f" ] || continue
    echo "----- tail $f"
    grep -Ev "$slurm_noise" "$f" | tail -"${1:-10}"
  done
}
