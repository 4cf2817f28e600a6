#!/usr/bin/env bash
# Independent IAM evaluation of the documents audit-grants produces.
#   tests/iam/run.sh <iam-documents.json>          (or IAM_DOCUMENTS=<file>)
# Installs the pinned evaluator (npm ci) when node_modules is missing or the
# lockfile changed, then runs, with TZ=UTC:
#   evaluate.mjs        the table of cases              (iam-evaluator: N passed, M failed)
#   coverage.mjs        share of each preset that survives the boundary (--min $IAM_COVERAGE_MIN, default 90)
#   make-boundary.mjs --check   src/permissions-boundary.json (the shipped, hybrid shape)
#                               and read-only-boundary.json (the stricter alternative) are what the generator produces
# Exit status non-zero if any of them fails. IAM_BOUNDARY=<file> evaluates that
# boundary instead of the documents' one (e.g. tests/iam/read-only-boundary.json).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
docs="${1:-${IAM_DOCUMENTS:-}}"
if [ -z "$docs" ] || [ ! -f "$docs" ]; then
  echo "usage: $0 <iam-documents.json>   (write it with: cargo run --quiet --example policy_documents > target/iam-documents.json)" >&2
  exit 2
fi
docs="$(cd "$(dirname "$docs")" && pwd)/$(basename "$docs")"

"$here/install.sh" || exit 1

export TZ=UTC
status=0
node "$here/evaluate.mjs" "$docs" || status=1
echo
node "$here/coverage.mjs" "$docs" --min "${IAM_COVERAGE_MIN:-90}" || status=1
echo
# The boundary the product ships (hybrid) and the stricter read-only alternative
# (see docs/boundary.md) are what their generator produces from the current inputs.
node "$here/make-boundary.mjs" --check || status=1
node "$here/make-boundary.mjs" --shape read-only --check || status=1
exit "$status"
