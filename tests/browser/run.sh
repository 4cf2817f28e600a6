#!/usr/bin/env bash
# Checks a rendered evidence page in headless Chromium and screenshots it.
#   tests/browser/run.sh PAGE.html OUT.png [--expect-rows N] [--expect-denied M] [--print PRINT.png]
# Installs the pinned playwright-core (npm ci) when node_modules is missing or
# older than the lockfile; the browser is the system's (/usr/bin/chromium, or
# CHROMIUM=<path>): Playwright's own browser downloads are never used.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$#" -lt 2 ]; then
  echo "usage: $0 PAGE.html OUT.png [--expect-rows N] [--expect-denied M] [--print PRINT.png]" >&2
  exit 2
fi
command -v node >/dev/null || { echo "node (>= 20) is needed: apt-get install nodejs npm" >&2; exit 1; }
stamp="$here/node_modules/.installed-from-lockfile"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  (cd "$here" && npm ci --silent --ignore-scripts --no-audit --no-fund) || { echo "npm ci failed" >&2; exit 1; }
  touch "$stamp"
fi
exec node "$here/check-page.mjs" "$@"
