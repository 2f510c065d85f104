#!/usr/bin/env bash
# The entry point of the VO-server tier (`make test-vo`): make sure the local DaCHS runs with our
# data, or explain why it cannot.
#
#   ensure.sh [--lease ID]
#
# On success: setup.sh (install/configure/import; fast when already done), start.sh, and
# $VO_STATE/server.json describing the endpoints (tests/vo/conftest.py reads it).
# When the server cannot be had (not root, not Debian, apt or setup failing, DaCHS not starting):
# the reason goes to $VO_STATE/skip-reason and the tests skip with it; exit 0, except under
# CI=true, where this is a failure (exit 1).
# --lease ID (make passes its shell's PID): record what this call started, so that
# `stop.sh --lease ID` stops exactly that and only when no other test run still uses it.
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$VO_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_STATE=$VO_STATE TIER_NAME=VO TIER_CONF=$VO_STATE/server.json TIER_LOG=vo_log
T0=$(vo_now)
tier_begin "$@" # one setup at a time; sets $lease and $record

write_server_json() {
  local n
  n=$(($(wc -l <"$VO_INPUTS/labels.csv") - 1))
  cat >"$VO_STATE/server.json" <<JSON
{
  "base_url": "$VO_BASE",
  "tap_url": "$VO_BASE/tap",
  "ssap_url": "$VO_BASE/$VO_RESDIR/q/ssap/ssap.xml",
  "datalink_url": "$VO_BASE/$VO_RESDIR/q/dl/dlmeta",
  "soda_url": "$VO_BASE/$VO_RESDIR/q/dl/dlget",
  "table": "$VO_RESDIR.ssa",
  "obscore_collection": "vocloud-synth",
  "authority": "$VO_AUTHORITY",
  "pubdid_prefix": "ivo://$VO_AUTHORITY/~?$VO_RESDIR/data/",
  "n_spectra": $n,
  "data_dir": "$VO_INPUTS/data",
  "labels_csv": "$VO_INPUTS/labels.csv",
  "spectra_csv": "$VO_INPUTS/spectra.csv"
}
JSON
}

# Someone (root) already set it up and runs it: nothing to do, whoever we are.
if [ -f "$VO_INPUTS/labels.csv" ] && [ -f "$VO_INPUTS/.vocloud-stamp" ] && vo_dachs_up &&
  [ "$(id -u)" != 0 ]; then
  write_server_json
  vo_log "using the running server at $VO_BASE (not root: no setup)"
  exit 0
fi
[ "$(id -u)" = 0 ] || tier_skip "installing GAVO DaCHS needs root (this is uid $(id -u)); as root, run: bash scripts/vo-server/ensure.sh"
[ -f /etc/debian_version ] && command -v apt-get >/dev/null ||
  tier_skip "not a Debian system (no /etc/debian_version or apt-get): the tier installs the Debian package gavodachs2-server"
command -v systemctl >/dev/null && [ -d /run/systemd/system ] && systemctl is-active --quiet postgresql 2>/dev/null &&
  vo_log "note: PostgreSQL is managed by systemd here; start/stop leave it alone"
if ! dpkg-query -W -f='${Status}' gavodachs2-server 2>/dev/null | grep -q 'install ok installed' &&
  [ -z "$(apt-cache policy gavodachs2-server 2>/dev/null | awk '/Candidate:/ { print $2 }' | grep -v none)" ]; then
  # maybe the package lists are just missing or old
  apt-get update -q >"$VO_STATE/apt.log" 2>&1 || tier_skip "apt-get update failed (see $VO_STATE/apt.log)"
  [ -n "$(apt-cache policy gavodachs2-server 2>/dev/null | awk '/Candidate:/ { print $2 }' | grep -v none)" ] ||
    tier_skip "apt has no package gavodachs2-server (Debian >= 11 / Ubuntu >= 22.04 have it)"
fi

pg_before=$(vo_pg_online && echo up || echo down)
if ! bash "$VO_HERE/setup.sh" 9>&- 2>&1 | tee "$VO_STATE/setup.log"; then
  # setup may have started PostgreSQL before failing: that is ours to record
  [ "$pg_before" = down ] && vo_pg_online && echo pg >>"$record"
  tier_skip "setup.sh failed (log: $VO_STATE/setup.log): $(grep -v '^\[' "$VO_STATE/setup.log" | tail -3 | tr '\n' ' ')"
fi
[ "$pg_before" = down ] && vo_pg_online && echo pg >>"$record"
bash "$VO_HERE/start.sh" --record "$record" 9>&- || tier_skip "start.sh failed (DaCHS log: $VO_STATE/dachs.log)"
write_server_json
vo_log "ready in $(vo_since "$T0") s: TAP $VO_BASE/tap, $(($(wc -l <"$VO_INPUTS/labels.csv") - 1)) spectra"
