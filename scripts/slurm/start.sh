#!/usr/bin/env bash
# Start munged, slurmctld and slurmd unless they already run, and wait until the node "localhost"
# takes jobs (sinfo: idle, mix or alloc; a down or drained node is resumed), up to 120 s.
# Each daemon runs in the foreground (munged -F as user munge, slurmctld -D -c, slurmd -D) in the
# background of a new session, so that we own its PID. What this call starts is recorded for
# stop.sh:
#   $SLURM_STATE/munged.pid, slurmctld.pid, slurmd.pid   (stdout/stderr: NAME.out beside them)
# With --record FILE, the names of the daemons started by this call are also appended to FILE
# (ensure.sh uses this for its leases).
set -euo pipefail
. "$(dirname "$0")/common.sh"
record=/dev/null
if [ "${1:-}" = --record ]; then record=$2; fi
mkdir -p "$SLURM_STATE"
T0=$(slurm_now)
TIMEOUT=120

die() {
  echo "[slurm] start FAILED: $*" >&2
  slurm_log_tails 10 >&2
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  if slurm_ready; then
    slurm_log "node $SLURM_NODE is $(slurm_node_state) (not root: started nothing)"
    exit 0
  fi
  echo "start.sh must run as root (it starts munged, slurmctld and slurmd)" >&2
  exit 1
fi
for b in munged slurmctld slurmd sinfo scontrol; do
  command -v "$b" >/dev/null || die "$b is not installed: run setup.sh first"
done
[ -f "$SLURM_CONF" ] || die "no $SLURM_CONF: run setup.sh first"

# With NoInAddrAny, slurmd, srun and slurmstepd bind to what the host name resolves to.
hn=$(hostname)
addr=$(getent ahostsv4 "$hn" 2>/dev/null | awk 'NR == 1 { print $1 }')
case $addr in
  127.*) ;;
  *) slurm_log "WARNING: the host name '$hn' resolves to '${addr:-nothing}', not 127.x: srun may" \
    "listen off loopback (fix: echo '127.0.0.1 $hn' >>/etc/hosts)" >&2 ;;
esac

# start_daemon NAME CMD...: run CMD (which execs into NAME) with a clean environment and no
# inherited descriptors, in a new session (it outlives the shell and a Ctrl-C of make).
start_daemon() {
  local name=$1
  shift
  (slurm_exec_closed env -i LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid "$@") \
    </dev/null >"$SLURM_STATE/$name.out" 2>&1 &
  echo $! >"$SLURM_STATE/$name.pid"
  echo "$name" >>"$record"
}
# started NAME: log it, once the recorded PID runs NAME itself (stop.sh goes by it): the chain
# env, setsid, setpriv execs into the daemon, it must not fork on the way.
started() {
  local pid
  pid=$(cat "$SLURM_STATE/$1.pid")
  for _ in $(seq 1 50); do
    if slurm_alive "$1"; then
      slurm_log "started $1 (pid $pid)"
      return 0
    fi
    slurm_pid_exists "$pid" || die "$1 (pid $pid) exited"
    sleep 0.1
  done
  die "pid $pid runs $(cat "/proc/$pid/comm" 2>/dev/null), not $1: stop.sh could not stop it"
}
# wait_for NAME CHECK...: until CHECK succeeds (up to 20 s), or NAME we just started exits.
wait_for() {
  local name=$1 pid
  shift
  pid=$(cat "$SLURM_STATE/$name.pid" 2>/dev/null || true)
  for _ in $(seq 1 100); do
    "$@" && return 0
    if [ -n "$pid" ] && ! slurm_pid_exists "$pid"; then
      rm -f "$SLURM_STATE/$name.pid"
      die "$name (pid $pid) exited"
    fi
    sleep 0.2
  done
  die "$name does not answer after 20 s"
}

# munged: setpriv execs (su and runuser fork), so the PID stays munged's.
install -d -o munge -g munge -m 0755 /run/munge
if slurm_running munged; then
  slurm_log "munged already runs"
else
  rm -f "$SLURM_STATE/munged.pid"
  start_daemon munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
  wait_for munged slurm_munge_ok
  started munged
fi

# slurmctld: root, drops to SlurmUser; -c: a clean cluster (no jobs or node states recovered).
if slurm_running slurmctld || slurm_ctld_up; then
  slurm_log "slurmctld already runs"
else
  rm -f "$SLURM_STATE/slurmctld.pid"
  start_daemon slurmctld /usr/sbin/slurmctld -D -c
  wait_for slurmctld slurm_ctld_up
  started slurmctld
fi

# slurmd: -N: the node is "localhost" whatever the host name.
if slurm_running slurmd; then
  slurm_log "slurmd already runs"
else
  rm -f "$SLURM_STATE/slurmd.pid"
  start_daemon slurmd /usr/sbin/slurmd -D -N "$SLURM_NODE"
  started slurmd
fi

state=""
deadline=$(($(date +%s) + TIMEOUT))
while [ "$(date +%s)" -lt "$deadline" ]; do
  state=$(slurm_node_state)
  case $state in idle | mix | alloc) break ;; esac
  for d in slurmctld slurmd; do
    if [ -f "$SLURM_STATE/$d.pid" ] && ! slurm_pid_exists "$(cat "$SLURM_STATE/$d.pid")"; then
      rm -f "$SLURM_STATE/$d.pid"
      die "$d exited"
    fi
  done
  # a node left down or drained (by an earlier run, or a slurmd that came late): take it back
  case $state in down* | drain* | drng*)
    scontrol update NodeName="$SLURM_NODE" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.3
done
case $state in
  idle | mix | alloc) ;;
  *) die "node $SLURM_NODE is '${state:-unknown}' after $TIMEOUT s (sinfo: $(sinfo -h -N -o '%N %t %E' 2>&1 | tr '\n' ' '))" ;;
esac
slurm_log "node $SLURM_NODE is $state after $(slurm_since "$T0") s"
