# shellcheck shell=bash
# What the service tiers (scripts/vo-server, scripts/slurm) share: one setup at a time, leases,
# skipping with a reason. Sourced, not run. The caller sets:
#   TIER_STATE   its state directory (lock, leases/, skip-reason)
#   TIER_NAME    what the tests are called in messages ("VO", "SLURM")
#   TIER_CONF    the file the tests read (removed when the tier skips)
#   TIER_LOG     its log function (prints "[prefix] message")
#
# A lease (make passes its shell's PID) lists the components one ensure.sh call started, so that
# stop.sh --lease ID stops exactly those, and only when no other live lease still uses them.

# tier_begin [--lease ID]: (an ensure.sh passes its arguments) take the lock (fd 9; pass 9>&- to
# daemons), clear the old skip reason, set $lease (empty without one) and $record, the file
# start.sh --record appends to (/dev/null without a lease).
tier_begin() {
  lease=""
  if [ "${1:-}" = --lease ]; then lease=${2:-}; fi
  mkdir -p "$TIER_STATE/leases" 2>/dev/null || {
    echo "cannot create $TIER_STATE" >&2
    exit 1
  }
  exec 9>"$TIER_STATE/lock"
  flock 9
  rm -f "$TIER_STATE/skip-reason"
  record=/dev/null
  if [ -n "$lease" ]; then
    record=$TIER_STATE/leases/$lease
    : >"$record"
  fi
}

# tier_in_ci: CI is set to true, 1 or yes, in any case (as tests/tiers.py reads it).
tier_in_ci() {
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    true | 1 | yes) return 0 ;;
    *) return 1 ;;
  esac
}

# tier_skip REASON...: record why the tier cannot run; the tests skip with it (exit 0), except
# under CI (CI=true, 1 or yes), where a skip is a failure (exit 1).
tier_skip() {
  echo "$*" >"$TIER_STATE/skip-reason"
  rm -f "$TIER_CONF"
  if tier_in_ci; then
    "$TIER_LOG" "FAILED (CI=$CI, no skipping): $*" >&2
    exit 1
  fi
  "$TIER_LOG" "SKIPPING the $TIER_NAME tests: $*"
  exit 0
}

# tier_pid_exists PID: the process exists (also another user's: kill -0 would say no).
tier_pid_exists() { [ -n "${1:-}" ] && [ -d "/proc/$1" ]; }

# tier_drop_dead_leases: forget the leases of runs that died (plain stop.sh: nothing to hand over).
tier_drop_dead_leases() {
  local f
  for f in "$TIER_STATE"/leases/*; do
    [ -e "$f" ] && ! tier_pid_exists "$(basename "$f")" && rm -f "$f"
  done
  return 0
}

# tier_end_lease LEASE STOP_FN: end a lease. What it started is handed over to another live lease
# (and keeps running), or else STOP_FN is called with the component names (with those of leases
# whose runs died without stop.sh).
tier_end_lease() {
  local lease=$1 stop_fn=$2 started f
  mkdir -p "$TIER_STATE/leases"
  exec 9>"$TIER_STATE/lock"
  flock 9
  started=$(cat "$TIER_STATE/leases/$lease" 2>/dev/null || true)
  rm -f "$TIER_STATE/leases/$lease"
  [ -n "$started" ] || return 0
  for f in "$TIER_STATE"/leases/*; do
    [ -e "$f" ] || continue
    if tier_pid_exists "$(basename "$f")"; then
      echo "$started" >>"$f"
      "$TIER_LOG" "another test run ($(basename "$f")) still uses it: leaving it running"
      return 0
    fi
    started="$started $(cat "$f")"
    rm -f "$f"
  done
  # shellcheck disable=SC2086  # one word per component
  "$stop_fn" $started
}

# tier_apt_install APT_LOG PACKAGE...: install the packages that are missing, without their
# recommends; with the current package lists first, `apt-get update` only when that fails. While
# installing, a policy-rc.d that denies every start (when there is none already) keeps the
# packages' scripts from starting services: the tiers start what they need themselves and own
# its PID. The output goes to APT_LOG (its tail to stderr on failure).
tier_apt_install() {
  local log=$1 p t rc=0 policy=/usr/sbin/policy-rc.d ours=0 missing=() saved
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  t=$(date +%s.%N)
  saved=$(trap -p EXIT)
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from vocloud scripts/lib/tier.sh: start no service\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT # also when the install is interrupted
  fi
  "$TIER_LOG" "apt-get install ${missing[*]}"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 9>&-; then
    "$TIER_LOG" "install failed with the current package lists; apt-get update and retry"
    apt-get update -q >>"$log" 2>&1 9>&-
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 9>&- || rc=1
  fi
  if [ "$ours" = 1 ]; then
    rm -f "$policy"
    eval "${saved:-trap - EXIT}"
  fi
  if [ "$rc" != 0 ]; then
    tail -20 "$log" >&2
    return 1
  fi
  "$TIER_LOG" "installed ${missing[*]} in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}
