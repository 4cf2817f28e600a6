#!/usr/bin/env bash
# Installs the pinned IAM evaluator (npm ci) when node_modules is missing or
# the lockfile changed. Used by run.sh, the IAM gate's users and `make demo`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v node >/dev/null || { echo "node (>= 20) is needed for the IAM evaluator: apt-get install nodejs npm" >&2; exit 1; }
stamp="$here/node_modules/.package-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  (cd "$here" && npm ci --silent --ignore-scripts --no-audit --no-fund) || { echo "npm ci failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
