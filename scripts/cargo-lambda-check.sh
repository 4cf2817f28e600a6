#!/usr/bin/env bash
# The function under cargo-lambda, the Rust Lambda ecosystem's Docker-free
# local loop: `cargo lambda watch` runs the handler behind its emulated Runtime
# API and Function URL; `cargo lambda invoke` sends payloads. Run by `make test`
# inside scripts/moto.sh (the emulator and AWS_* settings), after the build.
# Checks an EventBridge sample, a Function URL sample, and real requests through
# cargo-lambda's Function URL emulator (which parses our answers with
# aws_lambda_events' types). Fails on the first answer that is not as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh >&2
export PATH="$PWD/.venv/bin:$PATH"

export GRANTS_TABLE=audit-grants-cargo-lambda
export PERMISSIONS_BOUNDARY_ARN=arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary
export WEBHOOK_SECRET=audit-grants-demo-webhook-secret   # the demo secret events/http-*.json are signed with
export RUST_LOG=warn
target/debug/audit-grants setup >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="${TMPDIR:-/tmp}/audit-grants-cargo-lambda-$port.log"
cargo lambda watch -A 127.0.0.1 -P "$port" --ignore-changes >"$log" 2>&1 &
watch_pid=$!
trap 'kill "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$watch_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done

checks=0
fail() { echo "cargo-lambda: FAILED: $*" >&2; echo "its log ($log):" >&2; tail -20 "$log" >&2; exit 1; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1], {"v": v}))' "$1"; }
invoke() { cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file "$1" audit-grants; }

# 1. An EventBridge sample: the grant view, active.
out=$(invoke events/grant-request.json) || fail "invoke events/grant-request.json: $out"
[ "$(field 'v["status"]' <<<"$out")" = active ] || fail "grant-request.json answered $out"
checks=$((checks + 1)); echo "cargo-lambda: EventBridge events/grant-request.json -> active"

# 2. A Function URL sample payload: an HTTP answer (201) whose body is the grant.
out=$(invoke events/http-url-create.json) || fail "invoke events/http-url-create.json: $out"
[ "$(field 'v["statusCode"]' <<<"$out")" = 201 ] || fail "http-url-create.json answered $out"
[ "$(field 'v["cookies"]' <<<"$out")" = "[]" ] || fail "the answer has no cookies field: $out"
checks=$((checks + 1)); echo "cargo-lambda: Function URL events/http-url-create.json -> 201"

# 3. Real requests through the Function URL emulator: signed create, then GET.
url="http://127.0.0.1:$port/lambda-url/audit-grants"
body='{"ticket":"AUD-CARGO-LAMBDA","requested_by":"jane.doe@example.com","auditor_account":"210987654321","principals":["arn:aws:iam::210987654321:role/ExternalAuditor"],"duration":"2h"}'
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | awk '{print "sha256="$2}'; }
status=$(curl -s -o /tmp/audit-grants-cl-create.json -w '%{http_code}' -X POST \
  -H 'content-type: application/json' -H "x-hub-signature-256: $(sign "$body")" \
  --data "$body" "$url/grants")
[ "$status" = 201 ] || fail "POST /grants through the Function URL emulator: $status $(cat /tmp/audit-grants-cl-create.json)"
[ "$(field 'v["status"]' </tmp/audit-grants-cl-create.json)" = active ] || fail "POST /grants body: $(cat /tmp/audit-grants-cl-create.json)"
checks=$((checks + 1)); echo "cargo-lambda: Function URL POST /grants -> 201 active"
status=$(curl -s -o /tmp/audit-grants-cl-show.json -w '%{http_code}' \
  -H "x-hub-signature-256: $(sign '')" "$url/grants/AUD-CARGO-LAMBDA")
[ "$status" = 200 ] || fail "GET /grants/AUD-CARGO-LAMBDA: $status $(cat /tmp/audit-grants-cl-show.json)"
[ "$(field '"external_id" in v' </tmp/audit-grants-cl-show.json)" = False ] || fail "a GET answer carries the external ID"
checks=$((checks + 1)); echo "cargo-lambda: Function URL GET /grants/AUD-CARGO-LAMBDA -> 200 without secrets"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data "$body" "$url/grants")
[ "$status" = 401 ] || fail "an unsigned POST answered $status"
checks=$((checks + 1)); echo "cargo-lambda: Function URL unsigned POST -> 401"

echo "cargo-lambda: $checks checks passed"
