#!/usr/bin/env bash
# Start PostgreSQL (loopback, 5432) and DaCHS (127.0.0.1:$VO_PORT) unless they already run, and
# wait until DaCHS answers. What this call starts is recorded for stop.sh:
#   $VO_STATE/pg.ours      PostgreSQL cluster version, when we started the cluster
#   $VO_STATE/dachs.pid    the PID of `dachs serve start -f` (it drops to user gavo itself)
# With --record FILE, the names of the components started by this call ("pg", "dachs") are also
# appended to FILE (ensure.sh uses this for its leases).
set -euo pipefail
. "$(dirname "$0")/common.sh"
record=/dev/null
if [ "${1:-}" = --record ]; then record=$2; fi
mkdir -p "$VO_STATE"
t0=$(vo_now)

if [ "$(id -u)" != 0 ] && ! { vo_pg_online && vo_dachs_up; }; then
  echo "start.sh must run as root (it starts PostgreSQL and DaCHS)" >&2
  exit 1
fi

PGVER=$(vo_pg_version)
if [ -z "$PGVER" ]; then
  echo "no PostgreSQL cluster 'main': run setup.sh first" >&2
  exit 1
fi
if ! vo_pg_online; then
  vo_closefds pg_ctlcluster "$PGVER" main start
  echo "$PGVER" >"$VO_STATE/pg.ours"
  echo pg >>"$record"
  vo_log "started PostgreSQL $PGVER"
fi
for _ in $(seq 1 60); do
  pg_isready -q -h /var/run/postgresql && break
  sleep 0.5
done

# Wait until a sync TAP query succeeds (see vo_tap_ready): up to 60 s.
wait_tap_ready() {
  local t
  t=$(vo_now)
  for _ in $(seq 1 120); do
    vo_tap_ready && return 0
    sleep 0.5
  done
  echo "DaCHS answers on $VO_BASE but a sync TAP query did not succeed within 60 s" >&2
  return 1
}

if vo_dachs_up; then
  vo_log "DaCHS already answers on $VO_BASE"
  wait_tap_ready
  exit 0
fi
if ! command -v dachs >/dev/null; then
  echo "dachs is not installed: run setup.sh first" >&2
  exit 1
fi
# Foreground mode (-f, as in DaCHS's systemd unit) run in the background by us: we own the PID.
# One subshell that execs (env, setsid, dachs keep its PID); it closes our other descriptors first
# (a lock of ensure.sh, make's jobserver); setsid: the server outlives the shell and a Ctrl-C of
# make; stop.sh ends it by that PID.
(
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  exec env -i LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin \
    setsid /usr/bin/dachs --disable-spew serve start -f
) </dev/null >"$VO_STATE/dachs.log" 2>&1 &
pid=$!
echo "$pid" >"$VO_STATE/dachs.pid"
echo dachs >>"$record"
for _ in $(seq 1 240); do
  vo_dachs_up && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "DaCHS (pid $pid) exited; $VO_STATE/dachs.log and /var/gavo/logs/ say:" >&2
    tail -20 "$VO_STATE/dachs.log" >&2 || true
    rm -f "$VO_STATE/dachs.pid"
    exit 1
  fi
  sleep 0.5
done
if ! vo_dachs_up; then
  echo "DaCHS (pid $pid) did not answer on $VO_BASE within 120 s" >&2
  exit 1
fi
listener=$(ss -Hltnp "sport = :$VO_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
if [ -n "$listener" ] && [ "$listener" != "$pid" ]; then
  echo "DaCHS listens as pid $listener, not the pid $pid we started: check with ps" >&2
fi
wait_tap_ready
vo_log "DaCHS (pid $pid) answers TAP queries on $VO_BASE after $(vo_since "$t0") s"
