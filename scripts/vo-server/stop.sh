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

# stop_these NAME...: the components named (dachs, pg), DaCHS first.
stop_these() {
  case " $* " in *" dachs "*) stop_dachs ;; esac
  case " $* " in *" pg "*) stop_pg ;; esac
  return 0
}

. "$VO_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_STATE=$VO_STATE TIER_NAME=VO TIER_CONF=$VO_STATE/server.json TIER_LOG=vo_log
if [ "${1:-}" != --lease ]; then
  stop_dachs
  stop_pg
  tier_drop_dead_leases
  exit 0
fi
tier_end_lease "$2" stop_these
