#!/usr/bin/env bash
# The main job, locally: run by `make demo` inside scripts/moto.sh, which
# provides the emulator and the AWS_* settings.
set -euo pipefail
cd "$(dirname "$0")/.."

export GRANTS_TABLE=audit-grants-demo
export PERMISSIONS_BOUNDARY_ARN=arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary
export RUST_LOG="${RUST_LOG:-warn}"
bin=target/debug/audit-grants
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "audit-grants setup  (table and permissions boundary)"
$bin setup

step "audit-grants invoke events/grant-request.json  (EventBridge: Audit Grant Requested)"
$bin invoke events/grant-request.json | tee /tmp/audit-grants-demo-grant.json \
  | sed -E 's/("external_id": ")([^"]{4})[^"]*"/\1\2…(redacted)"/; s/(external_id = )(.{4})[^\\]*/\1\2…(redacted)/'

step "the role in IAM, as the auditor will meet it"
.venv/bin/python scripts/show-role.py /audit-grants/

step "audit-grants list"
$bin list

as_of=$(date -u -d '+73 hours' +%Y-%m-%dT%H:%M:%SZ)
step "audit-grants sweep --as-of $as_of  (after the 72h window)"
$bin sweep --as-of "$as_of"

step "audit-grants show AUD-1042"
$bin show AUD-1042 | grep -v '^$'

step "the role in IAM after the sweep"
.venv/bin/python scripts/show-role.py /audit-grants/

status=$($bin show AUD-1042 --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["status"])')
if [ "$status" != expired ]; then
  echo "demo: expected the grant to be expired, it is $status" >&2
  exit 1
fi
step "done: granted, recorded, expired, and nothing left behind"
