#!/usr/bin/env bash
# Install, configure and load the VO test server (root, Debian). Idempotent and quick when done:
#   1. packages: postgresql (started first: the gavodachs2-server postinst needs a running
#      database), then gavodachs2-server; apt-get update only when the install needs it;
#   2. /etc/gavo.rc: loopback only (127.0.0.1:$VO_PORT), [ivoa] authority $VO_AUTHORITY;
#   3. //obscore imported (before any RD that publishes to ObsCore);
#   4. data: make_data.py (project venv, vocloud.datasets) writes the FITS spectra + labels.csv
#      under $VO_INPUTS, then `dachs imp`, `dachs pub`, `dachs limits` of vospec/q.
# Steps 3-4 are skipped when the stamp (hash of RD, generator, parameters, gavo.rc and the DaCHS
# version) matches and the table holds the expected rows.
# Leaves PostgreSQL running (recorded in $VO_STATE/pg.ours when we started it); DaCHS is started
# by start.sh.
set -euo pipefail
. "$(dirname "$0")/common.sh"
T0=$(vo_now)
mkdir -p "$VO_STATE"

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root" >&2
  exit 1
fi

# ------------------------------------------------------------------------------------ packages
. "$VO_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_LOG=vo_log
tier_apt_install "$VO_STATE/apt.log" postgresql curl ca-certificates

PGVER=$(vo_pg_version)
if [ -z "$PGVER" ]; then
  PGVER=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_createcluster "$PGVER" main >/dev/null
fi
# loopback only (the Debian default; made explicit)
pg_conftool -s "$PGVER" main set listen_addresses localhost
if ! vo_pg_online; then
  vo_closefds pg_ctlcluster "$PGVER" main start
  echo "$PGVER" >"$VO_STATE/pg.ours"
  vo_log "started PostgreSQL $PGVER"
fi
for _ in $(seq 1 60); do
  su postgres -c "pg_isready -q" && break
  sleep 0.5
done

# /etc/gavo.rc before the package: its postinst runs `dachs init` with these settings.
GAVO_RC=$(cat <<RC
# Written by vocloud scripts/vo-server/setup.sh: the local VO test server, loopback only.
[general]
rootDir: /var/gavo
maintainerAddress: vocloud-tests@localhost

[web]
bindAddress: $VO_HOST
serverPort: $VO_PORT
serverURL: $VO_BASE
sitename: vocloud VO test server

[ivoa]
authority: $VO_AUTHORITY
RC
)
if [ ! -f /etc/gavo.rc ] || [ "$(cat /etc/gavo.rc)" != "$GAVO_RC" ]; then
  printf '%s\n' "$GAVO_RC" >/etc/gavo.rc
  chmod 644 /etc/gavo.rc
fi

tier_apt_install "$VO_STATE/apt.log" gavodachs2-server
# If an init system started DaCHS from the postinst, hand it over to start.sh/stop.sh.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ] &&
  systemctl is-active --quiet dachs 2>/dev/null; then
  systemctl stop dachs
  systemctl disable dachs >/dev/null 2>&1 || true
fi
DACHS_VERSION=$(dpkg-query -W -f='${Version}' gavodachs2-server)
vo_log "packages ready: postgresql $PGVER, gavodachs2-server $DACHS_VERSION ($(vo_since "$T0") s)"

# ------------------------------------------------------------------------------ RD and data
# The stamp: whatever changes what the server holds.
STAMP_FILE=$VO_INPUTS/.vocloud-stamp
STAMP=$(cat "$VO_HERE/vospec.rd" "$VO_HERE/make_data.py" "$VO_REPO/src/vocloud/datasets/"*.py /etc/gavo.rc |
  sha256sum | cut -c1-16)
STAMP="$STAMP n=$VO_NSPEC seed=$VO_SEED dachs=$DACHS_VERSION"
rows_in_db() {
  su postgres -c "psql -d gavo -tAq -c 'SELECT count(*) FROM $VO_RESDIR.ssa'" 2>/dev/null || echo 0
}
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] && [ "$(rows_in_db)" = "$VO_NSPEC" ]; then
  vo_log "data up to date ($VO_NSPEC spectra, stamp $STAMP); setup took $(vo_since "$T0") s"
  exit 0
fi
rm -f "$STAMP_FILE"

if [ ! -x "$VO_PYTHON" ]; then
  echo "no project venv python at $VO_PYTHON (run 'make venv' first)" >&2
  exit 1
fi

T=$(vo_now)
# ObsCore must exist before an RD publishing to it is imported.
if ! su postgres -c "psql -d gavo -tAq -c 'SELECT 1 FROM ivoa._obscoresources LIMIT 1'" >/dev/null 2>&1; then
  vo_dachs imp //obscore >/dev/null
  vo_log "imported //obscore in $(vo_since "$T") s"
fi

T=$(vo_now)
mkdir -p "$VO_INPUTS"
install -m 644 "$VO_HERE/vospec.rd" "$VO_INPUTS/q.rd"
"$VO_PYTHON" "$VO_HERE/make_data.py" "$VO_INPUTS" --n "$VO_NSPEC" --seed "$VO_SEED" \
  --authority "$VO_AUTHORITY" --resdir "$VO_RESDIR"
chown -R dachsroot:gavo "$VO_INPUTS"
chmod -R g+rwX,o+rX "$VO_INPUTS"
vo_log "wrote $VO_NSPEC spectra in $(vo_since "$T") s"

T=$(vo_now)
vo_dachs imp "$VO_RESDIR/q" | tail -3
vo_log "dachs imp: $(vo_since "$T") s"
T=$(vo_now)
vo_dachs pub "$VO_RESDIR/q" | tail -3
vo_dachs limits "$VO_RESDIR/q" | tail -3
vo_log "dachs pub + limits: $(vo_since "$T") s"

got=$(rows_in_db)
if [ "$got" != "$VO_NSPEC" ]; then
  echo "the import gave $got rows in $VO_RESDIR.ssa, expected $VO_NSPEC" >&2
  exit 1
fi
echo "$STAMP" >"$STAMP_FILE"
# a DaCHS started by start.sh drops its cached RDs and metadata on SIGHUP
if [ -f "$VO_STATE/dachs.pid" ] && kill -0 "$(cat "$VO_STATE/dachs.pid")" 2>/dev/null; then
  kill -HUP "$(cat "$VO_STATE/dachs.pid")"
fi
vo_log "setup done in $(vo_since "$T0") s"
