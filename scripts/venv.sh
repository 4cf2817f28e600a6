#!/usr/bin/env bash
# Creates .venv with the pinned Python tools the project uses (moto server),
# once; later runs only check it.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.audit-grants-requirements
if [ -x .venv/bin/moto_server ] && cmp -s requirements-dev.txt "$stamp" 2>/dev/null; then
  exit 0
fi
echo "installing Python tools into .venv (about a minute, once)" >&2
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
