#!/usr/bin/env bash
# The main job, locally: run by `make demo` inside scripts/moto.sh, which
# provides the emulator and the AWS_* settings.
set -euo pipefail
cd "$(dirname "$0")/.."

export GRANTS_TABLE=audit-grants-demo
export PERMISSIONS_BOUNDARY_ARN=arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary
export RUST_LOG="${RUST_LOG:-warn}"
bin=target/debug/audit-grants
auditor_dir=$(mktemp -d)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "audit-grants setup  (table and permissions boundary)"
$bin setup

step "audit-grants invoke events/grant-request.json  (EventBridge: Audit Grant Requested)"
$bin invoke events/grant-request.json | tee /tmp/audit-grants-demo-grant.json \
  | sed -E 's/("external_id": ")([^"]{4})[^"]*"/\1\2…(redacted)"/; s/(external_id = )(.{4})[^\\]*/\1\2…(redacted)/'

step "the role in IAM, as the auditor will meet it"
.venv/bin/python scripts/show-role.py /audit-grants/

step "the auditor's side: their role with the grant's auditor_policy attached, signed in"
.venv/bin/python scripts/auditor.py /tmp/audit-grants-demo-grant.json "$auditor_dir"

# The emulator evaluates no IAM policy; the IAM gate in front of it decides
# every call of the auditor's with an independent IAM evaluator (tests/iam).
tests/iam/install.sh
(cd tests/iam && exec env TZ=UTC node gate.mjs --upstream "$AWS_ENDPOINT_URL") >"$auditor_dir/gate.out" &
gate_pid=$!
trap 'kill "$gate_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q listening "$auditor_dir/gate.out" 2>/dev/null && break; sleep 0.1; done
gate=$(sed -n 's/^iam-gate listening on //p' "$auditor_dir/gate.out")
[ -n "$gate" ] || { echo "demo: the IAM gate did not start" >&2; exit 1; }

# As the auditor: only their own credentials, the handed-over profile in their AWS config.
as_auditor() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_CONFIG_FILE="$auditor_dir/config" AWS_SHARED_CREDENTIALS_FILE="$auditor_dir/credentials" \
    AWS_ENDPOINT_URL="$gate" "$@"
}

step "audit-grants check-access --profile audit-AUD-1042  (run by the auditor, through the IAM gate)"
as_auditor $bin check-access --profile audit-AUD-1042

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
mkdir -p target/demo
step "audit-grants evidence AUD-1042 --format md / html  (the evidence pack)"
$bin evidence AUD-1042 --format html --out target/demo/AUD-1042-evidence.html
$bin evidence AUD-1042 --format md --out target/demo/AUD-1042-evidence.md
sed -n '/^## Proof of removal/,/^## Recorded activity/p' target/demo/AUD-1042-evidence.md | sed '$d'
echo "(the emulator has no CloudTrail LookupEvents: the pack's activity section says it could not be read, and why;"
echo " open target/demo/AUD-1042-evidence.html in a browser for the whole page)"

step "audit-grants check-access --profile audit-AUD-1042  (the auditor again, after the sweep)"
if as_auditor $bin check-access --profile audit-AUD-1042; then
  echo "demo: check-access still succeeded after the sweep" >&2
  exit 1
fi
echo "(exit status 1: access is over, as it must be)"

step "done: granted, checked by the auditor, recorded, expired, and nothing left behind"
