#!/usr/bin/env bash
# Lints both CloudFormation templates offline: cfn-lint, `sam validate --lint`,
# checkov (each checkov skip is justified in the template's Metadata) and
# scripts/check-policies.py (parliament plus the boundary-aware privilege rules on
# every IAM policy document). Installs the pinned tools into .venv-cfn on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-cfn
stamp=$venv/.audit-grants-requirements
if ! [ -x $venv/bin/checkov ] || ! cmp -s requirements-cfn.txt "$stamp" 2>/dev/null; then
  echo "installing template checkers into $venv (a few minutes, once)" >&2
  python3 -m venv $venv
  $venv/bin/pip install --quiet --disable-pip-version-check -r requirements-cfn.txt
  cp requirements-cfn.txt "$stamp"
fi
templates=(template.yaml deploy/provisioner-role.yaml)
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true
$venv/bin/cfn-lint "${templates[@]}"
echo "cfn-lint: ${templates[*]}: ok"
for t in "${templates[@]}"; do
  $venv/bin/sam validate --lint -t "$t"
done
$venv/bin/checkov --quiet --compact --skip-download --framework cloudformation \
  $(printf -- '-f %s ' "${templates[@]}")
echo "checkov: ${templates[*]}: ok"
$venv/bin/python scripts/check-policies.py --self-test >$venv/check-policies-self-test.log || {
  cat $venv/check-policies-self-test.log
  exit 1
}
$venv/bin/python scripts/check-policies.py "${templates[@]}" >$venv/check-policies.log || {
  cat $venv/check-policies.log
  exit 1
}
tail -n 1 $venv/check-policies.log
