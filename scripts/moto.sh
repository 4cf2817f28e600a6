#!/usr/bin/env bash
# Runs a command with a local AWS emulator (moto server) on 127.0.0.1:
#   scripts/moto.sh COMMAND [ARGS…]
# Installs moto into .venv when missing, starts it on a free port with AWS
# managed policies loaded, exports the AWS_* settings that point the SDK at it,
# runs the command, and stops the emulator whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh >&2

port="${MOTO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
log="${TMPDIR:-/tmp}/audit-grants-moto-$port.log"
MOTO_IAM_LOAD_MANAGED_POLICIES=true .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if curl -sf -o /dev/null "http://127.0.0.1:$port/moto-api/"; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto server did not start; its log ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$port/moto-api/" || { echo "moto server did not answer on port $port" >&2; exit 1; }
echo "moto server on 127.0.0.1:$port (log: $log)" >&2

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AUDIT_GRANTS_TEST_ENDPOINT="$AWS_ENDPOINT_URL"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_EC2_METADATA_DISABLED=true
"$@"
