"""Plays the auditor's own account on the emulator, for the demo and the tests.

Given a grant view (the JSON a create answers), it does what the audit team
does on their side before `check-access`:
  - makes each principal the grant names that is a role (in the auditor's
    account), trusting that account, and attaches the grant's `auditor_policy`
    to it as an inline policy (unless --no-policy);
  - signs in as the first of them (an AssumeRole, session name "alice");
  - writes DIR/config (the grant's aws_config_profile, and a default profile
    with the region) and DIR/credentials (the signed-in session as [default]).

Usage: auditor.py GRANT_VIEW.json DIR [--no-policy]
Then:  AWS_CONFIG_FILE=DIR/config AWS_SHARED_CREDENTIALS_FILE=DIR/credentials \
       audit-grants check-access --profile audit-<ticket>
"""
import json
import os
import pathlib
import sys

import boto3

view_path, out = sys.argv[1], pathlib.Path(sys.argv[2])
with_policy = "--no-policy" not in sys.argv[3:]
view = json.loads(pathlib.Path(view_path).read_text())
endpoint = os.environ["AWS_ENDPOINT_URL"]
region = os.environ.get("AWS_REGION", "us-east-1")


def in_account(service, account):
    """A client acting in `account` of the emulator (moto's account header)."""
    client = boto3.client(service, endpoint_url=endpoint, region_name=region)

    def add_header(request, **_):
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign.*.*", add_header)
    return client


roles = [p for p in view["principals"] if ":role/" in p]
if not roles:
    sys.exit("auditor.py: the grant names no role principal to sign in as")
for arn in roles:
    account, name = arn.split(":")[4], arn.split("/")[-1]
    iam = in_account("iam", account)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
    }
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    if with_policy:
        iam.put_role_policy(RoleName=name, PolicyName="audit-grants-auditor", PolicyDocument=json.dumps(view["auditor_policy"]))
    else:
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=p)

sts = boto3.client("sts", endpoint_url=endpoint, region_name=region)
creds = sts.assume_role(RoleArn=roles[0], RoleSessionName="alice")["Credentials"]
out.mkdir(parents=True, exist_ok=True)
(out / "config").write_text(f"[default]\nregion = {region}\n\n{view['aws_config_profile']}")
(out / "credentials").write_text(
    "[default]\n"
    f"aws_access_key_id = {creds['AccessKeyId']}\n"
    f"aws_secret_access_key = {creds['SecretAccessKey']}\n"
    f"aws_session_token = {creds['SessionToken']}\n"
)
print(f"signed in as {roles[0]} (session alice); profile files in {out}")
