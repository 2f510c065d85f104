#!/usr/bin/env bash
# Stop what start.sh/setup.sh started, by PID, and nothing else.
#   stop.sh                 DaCHS if $VO_STATE/dachs.pid is ours, PostgreSQL if $VO_STATE/pg.ours
#   stop.sh --lease ID      end the lease ID taken by `ensure.sh --lease ID`: stop only what that
#                           ensure.sh call started, unless another lease is still alive (then the
#                           components are handed over to it and keep running)
set -uo pipefail
. "$(dirname "$0")/common.sh"

stop_dachs() {
  [ -f "$VO_STATE/dachs.pid" ] || return 0
  local pid
  pid=$(cat "$VO_STATE/dachs.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      vo_log "DaCHS (pid $pid) still running after 10 s: KILL"
      kill -KILL "$pid"
    fi
    vo_log "stopped DaCHS (pid $pid)"
  fi
  rm -f "$VO_STATE/dachs.pid"
}
stop_pg() {
  [ -f "$VO_STATE/pg.ours" ] || return 0
  local v
  v=$(cat "$VO_STATE/pg.ours")
  if pg_ctlcluster "$v" main stop -m fast 2>/dev/null; then
    vo_log "stopped PostgreSQL $v"
  fi
  rm -f "$VO_STATE/pg.ours"
}

if [ "${1:-}" != --lease ]; then
  stop_dachs
  stop_pg
  for f in "$VO_STATE"/leases/*; do  # leases of runs that died: nothing left to hand over
    [ -e "$f" ] && ! kill -0 "$(basename "$f")" 2>/dev/null && rm -f "$f"
  done
  exit 0
fi

lease=$2
mkdir -p "$VO_STATE/leases"
exec 9>"$VO_STATE/lock"
flock 9
started=$(cat "$VO_STATE/leases/$lease" 2>/dev/null || true)
rm -f "$VO_STATE/leases/$lease"
[ -n "$started" ] || exit 0
for f in "$VO_STATE"/leases/*; do
  [ -e "$f" ] || continue
  if kill -0 "$(basename "$f")" 2>/dev/null; then
    echo "$started" >>"$f"
    vo_log "another test run ($(basename "$f")) still uses the server: leaving it running"
    exit 0
  fi
  # a lease of a run that died without stop.sh: what it started is ours to stop now
  started="$started $(cat "$f")"
  rm -f "$f"
done
case $started in *dachs*) stop_dachs ;; esac
case $started in *pg*) stop_pg ;; esac
