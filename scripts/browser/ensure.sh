#!/usr/bin/env bash
# The entry point of the browser tier: make sure a headless Chromium runs here, or explain why not.
#
#   ensure.sh [--lease ID]
#
# Chromium is Debian's package chromium (/usr/bin/chromium; VOCLOUD_CHROMIUM=PATH uses another
# binary and installs nothing). When it is missing: apt-get install --no-install-recommends
# chromium (root, Debian; the current package lists first, apt-get update only when that fails).
# Then, every time, a smoke check: a small file:// page whose script changes the DOM, rendered
# headless with --dump-dom, as the tests start Chromium (flags below, a fresh --user-data-dir).
# On success: $STATE/browser.json, read by tests/browser/conftest.py:
#   {"chromium": "/usr/bin/chromium", "version": "156.0.8078.73"}
# When it cannot be had (not root, not Debian, the install or the smoke check failing): the
# reason goes to $STATE/skip-reason and the tests skip with it; exit 0, except under CI=true,
# where this is a failure (exit 1). $STATE is $VOCLOUD_BROWSER_STATE (default /tmp/vocloud-browser).
# Chromium is no daemon: nothing is started, so there is no stop.sh; --lease ID is accepted (as by
# the other tiers' ensure.sh, for make) and ignored.
set -uo pipefail
BROWSER_HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/tier.sh
. "$BROWSER_HERE/../lib/tier.sh"
BROWSER_STATE=${VOCLOUD_BROWSER_STATE:-/tmp/vocloud-browser}
DEBIAN_CHROMIUM=/usr/bin/chromium
CHROMIUM=${VOCLOUD_CHROMIUM:-$DEBIAN_CHROMIUM}
# What works on a closed network (as root too): without the background-networking flags Chromium
# keeps calling Google's hosts and its connections are refused.
CHROMIUM_FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync)
export DEBIAN_FRONTEND=noninteractive

browser_log() { echo "[browser] $*"; }
browser_now() { date +%s.%N; }
browser_since() { awk -v a="$1" -v b="$(browser_now)" 'BEGIN { printf "%.1f", b - a }'; }

# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_STATE=$BROWSER_STATE TIER_NAME=browser TIER_CONF=$BROWSER_STATE/browser.json TIER_LOG=browser_log
T0=$(browser_now)
tier_begin "$@" # one setup at a time; sets $lease and $record
# Nothing is started, so no stop.sh would ever end the lease: drop its (empty) record now.
[ -z "$lease" ] || rm -f "$record"

work=$(mktemp -d "${TMPDIR:-/tmp}/vocloud-browser.XXXXXX") || tier_skip "cannot make a temporary directory"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# chromium_version: its version number, when the binary runs (with a HOME it may write to)
chromium_version() {
  [ -x "$CHROMIUM" ] || return 1
  HOME=$work timeout 60 "$CHROMIUM" --version 9>&- 2>/dev/null | awk 'NR == 1 && $2 ~ /^[0-9]/ { print $2; ok = 1 } END { exit !ok }'
}

if ! version=$(chromium_version); then
  if [ "$CHROMIUM" != "$DEBIAN_CHROMIUM" ]; then
    tier_skip "VOCLOUD_CHROMIUM=$CHROMIUM does not run ($CHROMIUM --version failed); unset it to use Debian's $DEBIAN_CHROMIUM"
  fi
  [ "$(id -u)" = 0 ] ||
    tier_skip "no working $CHROMIUM, and installing the Debian package chromium needs root (this is uid $(id -u)); as root, run: bash scripts/browser/ensure.sh"
  if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
    tier_skip "no working $CHROMIUM, and this is not a Debian system (no /etc/debian_version or apt-get): the tier installs the Debian package chromium"
  fi
  tier_apt_install "$BROWSER_STATE/apt.log" chromium ||
    tier_skip "apt-get install chromium failed (log: $BROWSER_STATE/apt.log): $(grep -E '^(E|W):' "$BROWSER_STATE/apt.log" | tail -2 | tr '\n' ' ')"
  version=$(chromium_version) ||
    tier_skip "the package chromium is installed but $CHROMIUM --version fails (an Ubuntu snap wrapper? this tier needs Debian's chromium)"
fi

# Smoke check: the page's script must have run for the marker to be in the dumped DOM.
cat >"$work/smoke.html" <<'HTML'
<!doctype html>
<html><body><div id="out">static</div>
<script>document.getElementById("out").textContent = "vocloud-js-" + 6 * 7;</script>
</body></html>
HTML
t=$(browser_now)
HOME=$work timeout 60 "$CHROMIUM" "${CHROMIUM_FLAGS[@]}" --user-data-dir="$work/profile" \
  --dump-dom "file://$work/smoke.html" >"$work/dom.html" 2>"$BROWSER_STATE/smoke.log" 9>&-
rc=$?
if ! grep -q 'vocloud-js-42' "$work/dom.html"; then
  cp "$work/dom.html" "$BROWSER_STATE/smoke-dom.html" 2>/dev/null
  tier_skip "Chromium $version did not render the smoke page headless (exit $rc; stderr: $BROWSER_STATE/smoke.log): $(grep -v '^$' "$BROWSER_STATE/smoke.log" | tail -2 | tr '\n' ' ' | cut -c1-300)"
fi
smoke_s=$(browser_since "$t")

cat >"$BROWSER_STATE/browser.json" <<JSON
{"chromium": "$CHROMIUM", "version": "$version"}
JSON
browser_log "ready in $(browser_since "$T0") s: Chromium $version at $CHROMIUM (headless smoke page in $smoke_s s)"
