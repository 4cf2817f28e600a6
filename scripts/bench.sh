#!/usr/bin/env bash
# `make bench`: builds the release binary (and a do-nothing lambda_runtime
# baseline), then
#   1. examples/levels.rs: sequential AWS round trips of a grant (our account,
#      one target account, 10 accounts) and of a teardown (revoke, sweep),
#      against the stand-in with a fixed latency per call (LEVEL_MS, 50);
#   2. examples/startup_phases.rs: what start-up spends, phase by phase, in
#      fresh processes (medians of BENCH_COLD_RUNS), with TLS_TRUST=aws and =system;
#   3. examples/bench.rs against a fresh local emulator: size, cold start
#      (alternated with the do-nothing binary), warm latency, memory, calls,
#      the sweep. BENCH_COLD_ONLY=1 stops after the cold start.
# Prints figures; asserts nothing. Knobs: BENCH_COLD_RUNS (10), BENCH_WARM_GRANTS
# (30), BENCH_GRANTS (10000), BENCH_DUE (1000), BENCH_SWEEP_GRANTS (1000),
# BENCH_SWEEP_DUE (100), BENCH_LATENCY_MS (5), LEVEL_MS (50), LEVEL_RUNS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary alone, as it ships: built together with examples, it would get
# the features the dev-dependencies turn on (cargo unifies them).
cargo build --release --bin audit-grants
cargo build --release --example noop_lambda --example levels --example startup_phases
cargo build --example bench
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(date -u +%F)"

echo; echo "## Sequential round trips"; echo
target/release/examples/levels

echo; echo "## Start-up, phase by phase (medians of ${BENCH_COLD_RUNS:-10} fresh processes, microseconds)"; echo
for trust in aws system; do
  for _ in $(seq 1 "${BENCH_COLD_RUNS:-10}"); do
    env -i PATH="$PATH" TLS_TRUST="$trust" GRANTS_TABLE=audit-grants \
      PERMISSIONS_BOUNDARY_ARN=arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary \
      AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
      AWS_EC2_METADATA_DISABLED=true target/release/examples/startup_phases 2>/dev/null
  done | python3 -c "
import json, statistics, sys
rows = [json.loads(line) for line in sys.stdin]
cells = ', '.join(f'{k} {statistics.median(r[k] for r in rows):.0f}' for k in rows[0])
on_path = statistics.median(sum(v for k, v in r.items() if not k.startswith('warm_up')) for r in rows)
print(f'- TLS_TRUST=$trust: {cells}; on the start path {on_path:.0f}')"
done

echo
scripts/moto.sh target/debug/examples/bench
