#!/usr/bin/env bash
# `make bench`: builds the release binary (and a do-nothing lambda_runtime
# baseline), then runs examples/bench.rs against a fresh local emulator.
# Prints figures; asserts nothing. Knobs: BENCH_COLD_RUNS (10), BENCH_WARM_GRANTS
# (30), BENCH_GRANTS (10000), BENCH_DUE (1000), BENCH_SWEEP_GRANTS (1000),
# BENCH_SWEEP_DUE (100), BENCH_LATENCY_MS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin audit-grants --example noop_lambda
cargo build --example bench
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(date -u +%F)"
scripts/moto.sh target/debug/examples/bench
