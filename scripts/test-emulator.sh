#!/usr/bin/env bash
# Runs the emulator test binary (tests/emulator/) once per module, each time
# against a freshly reset emulator: moto slows down as emulated accounts pile
# up and is not built for heavy concurrent load, so capabilities do not share
# one emulator's lifetime. The binary is built (linked) once, then run per
# module. Run inside scripts/moto.sh. Extra arguments go to every run.
set -uo pipefail
cd "$(dirname "$0")/.."
exe=$(cargo test --quiet --test emulator --no-run --message-format=json \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "emulator":
        print(m["executable"])') || exit 1
[ -x "$exe" ] || { echo "test-emulator: no test binary was built" >&2; exit 1; }
modules=$(sed -n 's/^mod \([a-z_]*\);$/\1/p' tests/emulator/main.rs)
failed=()
for m in $modules; do
  echo "== emulator tests: $m"
  "$exe" --quiet "$m::" "$@" || failed+=("$m")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "emulator tests failed in: ${failed[*]}" >&2
  exit 1
fi
