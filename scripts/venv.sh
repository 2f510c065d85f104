#!/usr/bin/env bash
# Create or update .venv with vocloud (editable) and its test tools. Used by `make`.
# Needs Python >= 3.11; on Debian, installs python3-venv first when we are root and it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
stamp="$VENV/.vocloud-installed"
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
PY=""
for cand in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    PY=$cand; break
  fi
done
if [ -z "$PY" ]; then
  echo "vocloud needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing python3-venv (Debian) ..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv "$VENV"
    else
      echo "cannot create a venv with $PY: on Debian, 'apt-get install python3-venv' first" >&2; exit 1
    fi
  fi
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test]'
echo "$want" > "$stamp"
echo "vocloud installed in $VENV ($("$VENV/bin/python" --version))"
