"""Prints what IAM holds for the grant roles under a path: each role's trust
policy, boundary, session limit, tags and attached policies, read straight
from the (emulated) IAM API. Usage: show-role.py [PATH_PREFIX]"""
import json
import os
import sys
import urllib.parse

import boto3

prefix = sys.argv[1] if len(sys.argv) > 1 else "/audit-grants/"
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
roles = iam.list_roles(PathPrefix=prefix)["Roles"]
if not roles:
    print(f"  (no roles under {prefix})")
for listed in roles:
    role = iam.get_role(RoleName=listed["RoleName"])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(urllib.parse.unquote(trust))
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    print(f"  role      {role['Arn']}")
    print(f"  boundary  {role.get('PermissionsBoundary', {}).get('PermissionsBoundaryArn')}")
    print(f"  max session {role.get('MaxSessionDuration')}s")
    print(f"  tags      {', '.join(t['Key'] + '=' + t['Value'] for t in role.get('Tags', []))}")
    print(f"  attached  {', '.join(p['PolicyArn'] for p in attached)}")
    trust_text = json.dumps(trust, indent=2)
    external_id = trust["Statement"][0].get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
    if external_id:
        trust_text = trust_text.replace(external_id, external_id[:4] + "…(redacted)")
    print("  trust policy:")
    print("\n".join("    " + line for line in trust_text.splitlines()))
