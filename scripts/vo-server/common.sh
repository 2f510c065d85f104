# Shared settings and helpers of the VO-server tier (sourced by the other scripts; not run alone).
#
# One GAVO DaCHS (Debian package gavodachs2-server) on 127.0.0.1:$VO_PORT with PostgreSQL on
# loopback, serving the resource descriptor vospec.rd (RD id vospec/q) and synthetic spectra
# made by make_data.py from vocloud.datasets.

VO_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VO_REPO=$(cd "$VO_HERE/../.." && pwd)
# Everything the scripts remember between runs (PIDs, flags, logs, the skip marker, server.json).
# tests/vo/conftest.py reads the same directory (same variable, same default).
VO_STATE=${VOCLOUD_VO_STATE:-/tmp/vocloud-vo-server}
VO_PORT=8080                      # DaCHS; PostgreSQL stays on its Debian default 5432 (loopback)
VO_HOST=127.0.0.1
VO_BASE="http://localhost:$VO_PORT"
VO_AUTHORITY=vocloud.test         # [ivoa] authority: publisher DIDs are ivo://vocloud.test/~?<accref>
VO_RESDIR=vospec                  # /var/gavo/inputs/vospec, schema vospec, RD id vospec/q
VO_INPUTS=/var/gavo/inputs/$VO_RESDIR
VO_NSPEC=${VOCLOUD_VO_NSPEC:-1000}
VO_SEED=${VOCLOUD_VO_SEED:-2024}
VO_PYTHON=${VOCLOUD_VO_PYTHON:-$VO_REPO/.venv/bin/python}
export DEBIAN_FRONTEND=noninteractive

vo_log() { echo "[vo-server] $*"; }
vo_now() { date +%s.%N; }
vo_since() { awk -v a="$1" -v b="$(vo_now)" 'BEGIN { printf "%.1f", b - a }'; }

# The PostgreSQL major version of the Debian cluster "main" (empty when there is none).
vo_pg_version() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk '$2 == "main" { print $1 }' | sort -n | tail -1
}
vo_pg_online() {
  local v
  v=$(vo_pg_version)
  [ -n "$v" ] && pg_lsclusters -h | awk -v v="$v" '$1 == v && $2 == "main" { print $4 }' | grep -q online
}
# DaCHS answers on loopback (TAP capabilities is cheap and always there).
vo_dachs_up() {
  curl -fsS -m 5 -o /dev/null "http://$VO_HOST:$VO_PORT/tap/capabilities" 2>/dev/null
}
# A sync TAP query over the SSA table gives QUERY_STATUS OK. Every sync query makes a UWS job row
# with a 100 ms statement timeout (DaCHS 2.7 uws._DEFAULT_LOCK_TIMEOUT), and just after a start the
# jobs-table reaper runs and PostgreSQL's caches are cold: the first queries can fail with "Could
# not access the jobs table ... stale lock" (seen once in CI). start.sh waits for this, not only for
# an answer, so that the tests meet a server that has run a query.
vo_tap_ready() {
  curl -sS -m 10 --data-urlencode REQUEST=doQuery --data-urlencode LANG=ADQL \
    --data-urlencode "QUERY=SELECT COUNT(*) AS n FROM $VO_RESDIR.ssa" \
    "http://$VO_HOST:$VO_PORT/tap/sync" 2>/dev/null | grep -q 'QUERY_STATUS" value="OK"'
}
# Run a dachs command as the DaCHS administrator, from the resource directory.
vo_dachs() {
  (cd "$VO_INPUTS" 2>/dev/null || cd /; su dachsroot -s /bin/sh -c "dachs $*") 2>&1 |
    { grep -v 'splitpos_.*has no columns' || true; }
  return "${PIPESTATUS[0]}"
}
# Run a command with every file descriptor above 2 closed: daemons started from here must not
# inherit our lock (ensure.sh/stop.sh would wait on it forever) or make's jobserver pipes.
vo_closefds() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec "$@"
  )
}
