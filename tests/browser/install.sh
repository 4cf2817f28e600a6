#!/usr/bin/env bash
# What the real-browser check of the evidence page needs: Debian's chromium
# (installed with apt-get when missing; root, or passwordless sudo) and the
# pinned playwright-core (npm ci, by run.sh). `make test` runs this first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
browser="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$browser" ]; then
  echo "installing Debian's chromium for the evidence page's browser check" >&2
  as_root=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "chromium is missing and this is not root: apt-get install chromium" >&2; exit 1; }
    as_root="sudo -n"
  fi
  $as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null
fi
"$browser" --version 2>/dev/null
command -v node >/dev/null || { echo "node (>= 20) is needed: apt-get install nodejs npm" >&2; exit 1; }
stamp="$here/node_modules/.installed-from-lockfile"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  (cd "$here" && npm ci --silent --ignore-scripts --no-audit --no-fund)
  touch "$stamp"
fi
