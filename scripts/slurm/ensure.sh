#!/usr/bin/env bash
# The entry point of the SLURM tier: make sure the local single-node SLURM cluster runs, or
# explain why it cannot.
#
#   ensure.sh [--lease ID]
#
# On success: setup.sh (install/configure; fast when already done), start.sh, and
# $SLURM_STATE/cluster.json describing the cluster:
#   {"partition": "debug", "node": "localhost", "cpus": N, "memory_mb": M, "slurm_version": "..."}
# When the cluster cannot be had (not root, not Debian, no slurmctld package, setup or start
# failing): the reason goes to $SLURM_STATE/skip-reason and the tests skip with it; exit 0, except
# under CI=true, where this is a failure (exit 1).
# --lease ID (make passes its shell's PID): record what this call started, so that
# `stop.sh --lease ID` stops exactly that and only when no other test run still uses it.
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$SLURM_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_STATE=$SLURM_STATE TIER_NAME=SLURM TIER_CONF=$SLURM_STATE/cluster.json TIER_LOG=slurm_log
T0=$(slurm_now)
tier_begin "$@" # one setup at a time; sets $lease and $record

# a log on one line: its FAILED line, if any, then its last lines that are not our progress lines
log_tail() {
  { grep -h FAILED "$1" | tail -1; grep -v '^\[slurm\] ' "$1" | grep -v '^-----' | tail -"${2:-3}"; } |
    tr '\n' ' '
}

write_cluster_json() {
  local cpus mem version
  read -r cpus mem < <(sinfo -h -n "$SLURM_NODE" -o '%c %m' | head -1)
  version=$(sinfo --version | awk '{ print $2 }')
  cat >"$SLURM_STATE/cluster.json" <<JSON
{"partition": "$SLURM_PARTITION", "node": "$SLURM_NODE", "cpus": $cpus, "memory_mb": $mem, "slurm_version": "$version"}
JSON
}

# Someone (root) already set it up and runs it: nothing to do, whoever we are.
if [ "$(id -u)" != 0 ] && slurm_ready; then
  write_cluster_json
  slurm_log "using the running cluster (node $SLURM_NODE is $(slurm_node_state); not root: no setup)"
  exit 0
fi
[ "$(id -u)" = 0 ] ||
  tier_skip "installing and starting SLURM needs root (this is uid $(id -u)); as root, run: bash scripts/slurm/ensure.sh"
if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  tier_skip "not a Debian system (no /etc/debian_version or apt-get): the tier installs the Debian packages slurmctld, slurmd, munge"
fi
candidate() { apt-cache policy slurmctld 2>/dev/null | awk '/Candidate:/ { print $2 }' | grep -v none; }
if ! dpkg-query -W -f='${Status}' slurmctld 2>/dev/null | grep -q 'install ok installed' &&
  [ -z "$(candidate)" ]; then
  # maybe the package lists are just missing or old
  apt-get update -q >"$SLURM_STATE/apt.log" 2>&1 || tier_skip "apt-get update failed (see $SLURM_STATE/apt.log)"
  [ -n "$(candidate)" ] || tier_skip "apt has no package slurmctld (Debian >= 11 / Ubuntu >= 22.04 have it)"
fi

if ! bash "$SLURM_HERE/setup.sh" 9>&- 2>&1 | tee "$SLURM_STATE/setup.log"; then
  tier_skip "setup.sh failed (log: $SLURM_STATE/setup.log): $(log_tail "$SLURM_STATE/setup.log")"
fi
if ! bash "$SLURM_HERE/start.sh" --record "$record" 9>&- 2>&1 | tee "$SLURM_STATE/start.log"; then
  tier_skip "start.sh failed (log: $SLURM_STATE/start.log): $(log_tail "$SLURM_STATE/start.log" 4)"
fi
write_cluster_json
slurm_log "ready in $(slurm_since "$T0") s: $(tr -d '{}"' <"$SLURM_STATE/cluster.json")"
