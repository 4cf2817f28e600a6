//! The SAM template and the provisioner template, parsed and held to the
//! privilege rules: a later edit that widens them fails here.

use serde_json::{Value, json};

/// A CloudFormation YAML file as JSON, short-form tags in long form
/// (`!Sub x` → `{"Fn::Sub": x}`, `!Ref x` → `{"Ref": x}`).
fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    to_json(serde_yaml::from_str(&text).unwrap())
}

fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(n).unwrap(),
        Y::String(s) => json!(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            json!({ key: to_json(t.value) })
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) if o.contains_key("Fn::Sub") => strings(&o["Fn::Sub"]),
        other => vec![other.to_string()],
    }
}

/// The statements of a policy document, `Fn::If` alternatives unwrapped.
fn statements(doc: &Value) -> Vec<Value> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s.get("Fn::If") {
            Some(alt) => alt[1].clone(),
            None => s.clone(),
        })
        .collect()
}

fn boundary_from_code() -> Value {
    serde_json::to_value(audit_grants::policy::permissions_boundary()).unwrap()
}

const ROLE_UNDER_PATH: &str = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role${RolePath}*";
const INSTANCE_PROFILES_UNDER_PATH: &str =
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile${RolePath}*";
const MANAGED_BY_KEY: &str = "audit-grants:managed-by";
const RESOURCE_TAG_MANAGED_BY: &str = "aws:ResourceTag/audit-grants:managed-by";
const REQUEST_TAG_MANAGED_BY: &str = "aws:RequestTag/audit-grants:managed-by";
const OUR_TAG_KEYS: [&str; 4] = [
    "audit-grants:managed-by",
    "audit-grants:ticket",
    "audit-grants:expires-at",
    "audit-grants:requested-by",
];

/// The IAM writes the function and the provisioner role make, and no other.
const IAM_WRITES: [&str; 11] = [
    "iam:CreateRole",
    "iam:TagRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:DeleteRole",
    "iam:AttachRolePolicy",
    "iam:RemoveRoleFromInstanceProfile",
];

/// Writes on an existing role: allowed only where the role carries the boundary
/// (`iam:PermissionsBoundary`, which the Service Authorization Reference lists for
/// each of them). Not on the tag: teardown acts on the role whose RoleId the grant
/// recorded, whatever its tags say now (attaching a preset still needs the tag).
const BOUNDED_WRITES: [&str; 7] = [
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:DeleteRole",
    "iam:AttachRolePolicy",
];

/// The only objects the function may write: evidence packs, under `evidence/` of the
/// Object-Locked evidence bucket.
const EVIDENCE_OBJECTS: &str = "arn:${AWS::Partition}:s3:::${EvidenceBucket}/evidence/*";

/// S3 actions that would let a writer of evidence packs read, remove, unlock or
/// reconfigure them: never in an identity policy of ours (prefixes, lower case).
const NEVER_ON_EVIDENCE: [&str; 10] = [
    "s3:delete",
    "s3:putobjectretention",
    "s3:putobjectlegalhold",
    "s3:bypassgovernanceretention",
    "s3:putbucket",
    "s3:putlifecycleconfiguration",
    "s3:putobjectacl",
    "s3:putobjectversion",
    "s3:getobject",
    "s3:*",
];

/// The statement through which the function, here and (as the provisioner role) in
/// target accounts, reads the auditor's activity.
fn lookup_events_statement() -> Value {
    json!({
        "Sid": "ReadTheAuditorsActivity",
        "Effect": "Allow",
        "Action": "cloudtrail:LookupEvents",
        "Resource": "*"
    })
}

/// The statements naming an action of `prefix` (e.g. `"s3:"`), in any case.
fn with_service<'a>(sts: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    sts.iter()
        .filter(|s| {
            strings(&s["Action"])
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with(prefix))
        })
        .collect()
}

fn is_iam_write(action: &str) -> bool {
    action.starts_with("iam:") && !action.starts_with("iam:Get") && !action.starts_with("iam:List")
}

/// The statement requires the template's boundary (`StringEquals`: a request
/// without the key never matches).
fn requires_boundary(st: &Value) -> bool {
    st["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
        == json!({"Ref": "PermissionsBoundary"})
}

/// The statement requires `key` to be `audit-grants` (`StringEquals` again).
fn requires_managed_by(st: &Value, key: &str) -> bool {
    st["Condition"]["StringEquals"][key] == "audit-grants"
}

/// The ownership keys never stand under an operator that an absent key satisfies.
fn assert_ownership_is_never_optional(st: &Value, what: &str) {
    for op in [
        "StringEqualsIfExists",
        "ArnEqualsIfExists",
        "StringLike",
        "ForAllValues:StringEquals",
    ] {
        for key in ["iam:PermissionsBoundary", RESOURCE_TAG_MANAGED_BY] {
            assert!(
                st["Condition"][op][key].is_null(),
                "{what}: {key} only under StringEquals: {st}"
            );
        }
    }
}

/// The two denies that keep the ownership tag what it is: never removed, never
/// set to anything but `audit-grants`.
fn assert_ownership_deny(st: &Value, what: &str) {
    assert_eq!(strings(&st["Resource"]), vec!["*"], "{what}: {st}");
    let actions = strings(&st["Action"]);
    if actions == ["iam:UntagRole"] {
        assert_eq!(
            strings(&st["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"]),
            vec![MANAGED_BY_KEY],
            "{what}: the ownership tag is never removed"
        );
    } else {
        assert_eq!(
            actions,
            vec!["iam:CreateRole", "iam:TagRole"],
            "{what}: {st}"
        );
        assert_eq!(st["Condition"]["Null"][REQUEST_TAG_MANAGED_BY], "false");
        assert_eq!(
            st["Condition"]["StringNotEquals"][REQUEST_TAG_MANAGED_BY], "audit-grants",
            "{what}: the ownership tag is never set to anything else"
        );
    }
}

/// The privilege rules shared by the function's policy and the provisioner role's:
/// every IAM write is limited to the path by its resource ARN and conditioned on
/// the boundary and on ownership; the one action no condition key can tie to our
/// roles (RemoveRoleFromInstanceProfile) is limited to profiles under the path.
/// Evidence packs: CloudTrail only `LookupEvents` (on `*`: it has no resource-level
/// permissions), exactly once; S3 only `s3:PutObject` on `evidence_objects` (a
/// `Fn::Sub`), exactly once, or no S3 action at all where there is no evidence
/// bucket (`None`: the provisioner role).
fn assert_grant_role_privileges_are_scoped(
    doc: &Value,
    what: &str,
    evidence_objects: Option<&str>,
) {
    let mut writes: Vec<String> = vec![];
    let mut denies = 0;
    let mut evidence_puts = 0;
    let mut lookups = 0;
    for st in statements(doc) {
        assert!(
            st.get("NotAction").is_none() && st.get("NotResource").is_none(),
            "{what}: {st}"
        );
        if st["Effect"] == "Deny" {
            assert_ownership_deny(&st, what);
            denies += 1;
            continue;
        }
        assert_eq!(st["Effect"], "Allow", "{what}: {st}");
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        for a in &actions {
            assert!(
                !a.contains('*') && !a.contains('?'),
                "{what}: no wildcard actions: {a}"
            );
            // IAM matches action names case-insensitively.
            let lower = a.to_ascii_lowercase();
            for never in NEVER_ON_EVIDENCE {
                assert!(
                    !lower.starts_with(never),
                    "{what}: {a} could read, remove, unlock or reconfigure evidence packs"
                );
            }
            if lower.starts_with("s3:") {
                let Some(objects) = evidence_objects else {
                    panic!(
                        "{what}: no S3 permission here (packs are written in the audit-grants account): {st}"
                    );
                };
                assert_eq!(a, "s3:PutObject", "{what}: the only S3 action: {st}");
                assert_eq!(
                    actions,
                    vec!["s3:PutObject"],
                    "{what}: a statement of its own"
                );
                assert_eq!(
                    st["Resource"],
                    json!({"Fn::Sub": objects}),
                    "{what}: only objects under evidence/ of the evidence bucket"
                );
                evidence_puts += 1;
                continue;
            }
            if lower.starts_with("cloudtrail:") {
                assert_eq!(
                    a, "cloudtrail:LookupEvents",
                    "{what}: the only CloudTrail action (the trail is read, never changed): {st}"
                );
                assert_eq!(actions, vec!["cloudtrail:LookupEvents"], "{what}");
                assert_eq!(
                    resources,
                    vec!["*"],
                    "{what}: LookupEvents has no resource-level permissions"
                );
                assert!(st.get("Condition").is_none(), "{what}: {st}");
                lookups += 1;
                continue;
            }
            assert!(
                ![
                    "iam:PassRole",
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:UntagRole",
                    "iam:AddRoleToInstanceProfile",
                    "iam:CreateInstanceProfile",
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                    "iam:CreateUser",
                    "iam:CreateAccessKey",
                ]
                .contains(&a.as_str()),
                "{what}: {a} is never needed"
            );
            if !is_iam_write(a) {
                continue;
            }
            writes.push(a.clone());
            assert!(
                IAM_WRITES.contains(&a.as_str()),
                "{what}: unexpected IAM write {a}"
            );
            assert!(
                !resources.iter().any(|r| r == "*"),
                "{what}: IAM write on *: {st}"
            );
            assert_ownership_is_never_optional(&st, what);
            match a.as_str() {
                "iam:RemoveRoleFromInstanceProfile" => {
                    // Its resource is the instance profile and no condition key
                    // names the role: the dedicated path is what limits it.
                    assert_eq!(actions, vec!["iam:RemoveRoleFromInstanceProfile"], "{what}");
                    assert_eq!(
                        resources,
                        vec![INSTANCE_PROFILES_UNDER_PATH],
                        "{what}: only instance profiles under the path"
                    );
                }
                "iam:CreateRole" => {
                    assert_eq!(resources, vec![ROLE_UNDER_PATH], "{what}");
                    assert!(
                        requires_boundary(&st),
                        "{what}: roles only with the boundary: {st}"
                    );
                    assert!(
                        requires_managed_by(&st, REQUEST_TAG_MANAGED_BY),
                        "{what}: roles are born tagged as ours: {st}"
                    );
                    assert_eq!(
                        strings(&st["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]),
                        OUR_TAG_KEYS.to_vec(),
                        "{what}: only our tag keys"
                    );
                }
                "iam:PutRolePermissionsBoundary" => {
                    assert_eq!(resources, vec![ROLE_UNDER_PATH], "{what}");
                    assert!(
                        requires_boundary(&st),
                        "{what}: no boundary but ours can be put: {st}"
                    );
                    assert!(
                        requires_managed_by(&st, RESOURCE_TAG_MANAGED_BY)
                            || requires_managed_by(&st, REQUEST_TAG_MANAGED_BY),
                        "{what}: only on roles of ours, or created as ours: {st}"
                    );
                }
                "iam:TagRole" => {
                    assert_eq!(resources, vec![ROLE_UNDER_PATH], "{what}");
                    // On a role already tagged as ours, or in the CreateRole that
                    // tags it (the boundary and our tag are in that request): never
                    // on a foreign role, which would then look like ours.
                    let on_ours = requires_managed_by(&st, RESOURCE_TAG_MANAGED_BY);
                    let at_creation =
                        requires_boundary(&st) && requires_managed_by(&st, REQUEST_TAG_MANAGED_BY);
                    assert!(
                        on_ours || at_creation,
                        "{what}: TagRole must not make a foreign role look like ours: {st}"
                    );
                    assert_eq!(
                        strings(&st["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]),
                        OUR_TAG_KEYS.to_vec(),
                        "{what}: only our tag keys"
                    );
                    let relabel = &st["Condition"]["StringEqualsIfExists"][REQUEST_TAG_MANAGED_BY];
                    assert!(
                        relabel.is_null() || relabel.as_str() == Some("audit-grants"),
                        "{what}: managed-by is never set to anything else: {st}"
                    );
                }
                "iam:AttachRolePolicy" => {
                    assert_eq!(actions, vec!["iam:AttachRolePolicy"]);
                    assert_eq!(resources, vec![ROLE_UNDER_PATH], "{what}");
                    let arns = strings(&st["Condition"]["ArnEquals"]["iam:PolicyARN"]);
                    assert_eq!(
                        arns,
                        vec![
                            "arn:${AWS::Partition}:iam::aws:policy/SecurityAudit",
                            "arn:${AWS::Partition}:iam::aws:policy/job-function/ViewOnlyAccess",
                            "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess",
                        ],
                        "{what}: only the presets"
                    );
                    assert!(requires_boundary(&st), "{what}: {st}");
                    assert!(
                        requires_managed_by(&st, RESOURCE_TAG_MANAGED_BY),
                        "{what}: {st}"
                    );
                }
                _ => {
                    assert!(BOUNDED_WRITES.contains(&a.as_str()), "{what}: {a}");
                    assert_eq!(resources, vec![ROLE_UNDER_PATH], "{what}");
                    assert!(
                        requires_boundary(&st),
                        "{what}: {a} only on roles that carry the boundary: {st}"
                    );
                }
            }
        }
        if actions.iter().any(|a| a.starts_with("iam:")) && resources.iter().any(|r| r == "*") {
            assert_eq!(
                actions,
                vec!["iam:ListRoles"],
                "{what}: only ListRoles (no resource-level permissions) on *: {st}"
            );
        }
    }
    writes.sort();
    writes.dedup();
    let mut expected = IAM_WRITES.to_vec();
    expected.sort();
    assert_eq!(writes, expected, "{what}: exactly these IAM writes");
    assert_eq!(
        denies, 2,
        "{what}: the two denies that guard the ownership tag"
    );
    assert_eq!(lookups, 1, "{what}: cloudtrail:LookupEvents, once");
    assert_eq!(
        evidence_puts,
        usize::from(evidence_objects.is_some()),
        "{what}: s3:PutObject on the evidence objects, once, and only where the bucket is"
    );
}

#[test]
fn the_boundary_in_both_templates_is_the_one_setup_creates() {
    for path in ["template.yaml", "deploy/provisioner-role.yaml"] {
        let t = load(path);
        let boundary = &t["Resources"]["PermissionsBoundary"];
        assert_eq!(boundary["Type"], "AWS::IAM::ManagedPolicy");
        assert_eq!(
            boundary["Properties"]["PolicyDocument"],
            boundary_from_code(),
            "{path}: run `cargo build && python3 scripts/sync-boundary.py`"
        );
        assert_eq!(
            boundary["Properties"]["ManagedPolicyName"],
            "audit-grants-boundary"
        );
        assert_eq!(boundary["Properties"]["Path"], json!({"Ref": "RolePath"}));
    }
}

#[test]
fn the_functions_own_policy_is_least_privilege_with_conditions() {
    let t = load("template.yaml");
    let f = &t["Resources"]["AuditGrantsFunction"]["Properties"];
    let policies = f["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "one inline policy, no managed ones");
    let doc = &policies[0];
    assert_grant_role_privileges_are_scoped(doc, "function", Some(EVIDENCE_OBJECTS));
    let mut assumable = vec![];
    for st in statements(doc) {
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        if actions.iter().any(|a| a.starts_with("dynamodb:")) {
            assert_eq!(
                st["Resource"],
                json!([
                    {"Fn::GetAtt": "GrantsTable.Arn"},
                    {"Fn::Sub": "${GrantsTable.Arn}/index/due"},
                    {"Fn::Sub": "${GrantsTable.Arn}/index/outbox"}
                ]),
                "DynamoDB only on its table"
            );
            assert!(
                !actions
                    .iter()
                    .any(|a| a == "dynamodb:Scan" || a == "dynamodb:DeleteItem")
            );
        }
        if actions.iter().any(|a| a.starts_with("sts:")) {
            assert_eq!(actions, vec!["sts:AssumeRole", "sts:SetSourceIdentity"]);
            assert_eq!(
                resources,
                vec!["arn:${AWS::Partition}:iam::*:role/${ProvisionerRoleName}"]
            );
            assumable.push(st["Condition"]["StringEquals"]["aws:ResourceAccount"].clone());
        }
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, vec!["secretsmanager:GetSecretValue"]);
            assert_eq!(st["Resource"], json!({"Ref": "WebhookSecretArn"}));
        }
        for a in &actions {
            let service = a.split(':').next().unwrap();
            assert!(
                [
                    "iam",
                    "dynamodb",
                    "sts",
                    "secretsmanager",
                    "events",
                    "cloudtrail",
                    "s3"
                ]
                .contains(&service),
                "unexpected service in the function's policy: {a}"
            );
        }
    }
    // The provisioner role in the target accounts, and in the accounts being
    // retired (teardown of the grants they still hold), nowhere else.
    assert_eq!(
        assumable,
        vec![
            json!({"Ref": "TargetAccounts"}),
            json!({"Ref": "RetiringTargetAccounts"})
        ],
        "only in the listed target and retiring accounts"
    );
    let conditional: Vec<&str> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("Fn::If"))
        .filter_map(|alt| alt[0].as_str())
        .collect();
    assert_eq!(
        conditional,
        vec![
            "HasTargetAccounts",
            "HasRetiringTargetAccounts",
            "HasWebhookSecret"
        ]
    );
    assert_eq!(
        t["Parameters"]["RetiringTargetAccounts"]["Type"],
        "CommaDelimitedList"
    );
    assert_eq!(
        f["Environment"]["Variables"]["RETIRING_TARGET_ACCOUNTS"],
        json!({"Fn::Join": [",", {"Ref": "RetiringTargetAccounts"}]})
    );
}

#[test]
fn the_function_and_the_provisioner_role_hold_the_same_iam_statements() {
    let is_iam = |s: &Value| strings(&s["Action"]).iter().all(|a| a.starts_with("iam:"));
    let iam_only = |sts: Vec<Value>| -> Vec<Value> { sts.into_iter().filter(is_iam).collect() };
    let t = load("template.yaml");
    let function = statements(&t["Resources"]["AuditGrantsFunction"]["Properties"]["Policies"][0]);
    let p = load("deploy/provisioner-role.yaml");
    let provisioner = statements(
        &p["Resources"]["ProvisionerRole"]["Properties"]["Policies"][0]["PolicyDocument"],
    );
    let others: Vec<Value> = provisioner.iter().filter(|s| !is_iam(s)).cloned().collect();
    assert_eq!(
        others,
        vec![lookup_events_statement()],
        "besides IAM, the provisioner role only reads CloudTrail"
    );
    assert!(
        function.contains(&lookup_events_statement()),
        "the function reads CloudTrail in its own account the same way"
    );
    assert_eq!(iam_only(function), iam_only(provisioner));
}

#[test]
fn the_function_is_arm64_al2023_cargo_lambda_with_json_logs_and_optional_reserved_concurrency() {
    let t = load("template.yaml");
    let r = &t["Resources"]["AuditGrantsFunction"];
    assert_eq!(r["Type"], "AWS::Serverless::Function");
    assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
    let p = &r["Properties"];
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(p["Architectures"], json!(["arm64"]));
    assert_eq!(p["Handler"], "bootstrap");
    assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON");
    // A new account's concurrency quota (10) refuses any reservation: none unless
    // the ReservedConcurrency parameter asks for one.
    assert_eq!(
        p["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(t["Parameters"]["ReservedConcurrency"]["Default"], "");
    assert_eq!(
        t["Conditions"]["HasReservedConcurrency"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, ""]}]})
    );
    // Every setting the binary requires is provided.
    let env = p["Environment"]["Variables"].as_object().unwrap();
    for k in [
        "GRANTS_TABLE",
        "PERMISSIONS_BOUNDARY_ARN",
        "ROLE_PATH",
        "MAX_GRANT_DURATION",
        "TARGET_ACCOUNTS",
        "RETIRING_TARGET_ACCOUNTS",
        "EVIDENCE_BUCKET",
    ] {
        assert!(env.contains_key(k), "{k}");
    }
    assert_eq!(
        env["PERMISSIONS_BOUNDARY_ARN"],
        json!({"Ref": "PermissionsBoundary"})
    );
    assert_eq!(
        t["Parameters"]["RolePath"]["Default"],
        audit_grants::config::DEFAULT_ROLE_PATH
    );
    assert_eq!(
        t["Parameters"]["MaxGrantDuration"]["Default"],
        audit_grants::config::DEFAULT_MAX_GRANT_DURATION
    );
}

#[test]
fn the_table_keeps_its_evidence() {
    let t = load("template.yaml");
    let table = &t["Resources"]["GrantsTable"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert!(
        p.get("TimeToLiveSpecification").is_none(),
        "grants and history are evidence: no TTL"
    );
    let gsi = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], audit_grants::aws::dynamo::DUE_INDEX);
    assert_eq!(
        gsi["KeySchema"],
        json!([{"AttributeName": "due_bucket", "KeyType": "HASH"}, {"AttributeName": "due_at", "KeyType": "RANGE"}])
    );
    let outbox = &p["GlobalSecondaryIndexes"][1];
    assert_eq!(outbox["IndexName"], audit_grants::aws::dynamo::OUTBOX_INDEX);
    assert_eq!(
        outbox["KeySchema"],
        json!([{"AttributeName": "outbox_bucket", "KeyType": "HASH"}, {"AttributeName": "outbox_at", "KeyType": "RANGE"}])
    );
}

#[test]
fn the_evidence_bucket_locks_every_pack_for_the_retention_and_keeps_it_private() {
    let t = load("template.yaml");
    let bucket = &t["Resources"]["EvidenceBucket"];
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    assert!(
        bucket.get("Condition").is_none(),
        "the bucket always exists"
    );
    assert_eq!(
        bucket["DeletionPolicy"], "Retain",
        "packs outlive the stack"
    );
    assert_eq!(bucket["UpdateReplacePolicy"], "Retain", "and a replacement");
    let p = &bucket["Properties"];
    // Object Lock (only at creation, and it needs versioning), with a default
    // retention from the parameters: every version put is locked.
    assert_eq!(p["ObjectLockEnabled"], true);
    assert_eq!(p["VersioningConfiguration"], json!({"Status": "Enabled"}));
    let lock = &p["ObjectLockConfiguration"];
    assert_eq!(lock["ObjectLockEnabled"], "Enabled");
    assert_eq!(
        lock["Rule"]["DefaultRetention"],
        json!({"Mode": {"Ref": "EvidenceRetentionMode"}, "Days": {"Ref": "EvidenceRetentionDays"}}),
        "retention from the parameters, in days only"
    );
    let mode = &t["Parameters"]["EvidenceRetentionMode"];
    assert_eq!(mode["Type"], "String");
    assert_eq!(mode["Default"], "GOVERNANCE");
    assert_eq!(mode["AllowedValues"], json!(["GOVERNANCE", "COMPLIANCE"]));
    let days = &t["Parameters"]["EvidenceRetentionDays"];
    assert_eq!(days["Type"], "Number");
    assert_eq!(days["Default"], 400);
    assert_eq!(days["MinValue"], 1, "no pack is ever unlocked at birth");
    // Nothing public, no ACLs, encrypted at rest.
    assert_eq!(
        p["PublicAccessBlockConfiguration"],
        json!({
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true
        })
    );
    assert!(p.get("AccessControl").is_none(), "{p}");
    assert_eq!(
        p["OwnershipControls"]["Rules"],
        json!([{"ObjectOwnership": "BucketOwnerEnforced"}])
    );
    assert_eq!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"],
        json!([{
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": true
        }])
    );
    // The bucket policy: TLS only, and it grants nothing.
    let policies: Vec<(&String, &Value)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["Type"] == "AWS::S3::BucketPolicy"
                && r["Properties"]["Bucket"] == json!({"Ref": "EvidenceBucket"})
        })
        .collect();
    assert_eq!(
        policies.len(),
        1,
        "one bucket policy on the evidence bucket"
    );
    let (name, policy) = policies[0];
    assert_eq!(name, "EvidenceBucketPolicy");
    assert!(policy.get("Condition").is_none(), "always in force");
    let sts = statements(&policy["Properties"]["PolicyDocument"]);
    assert!(
        sts.iter().all(|s| s["Effect"] == "Deny"),
        "the bucket policy only denies: {sts:?}"
    );
    let tls = sts
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a deny of every request without TLS");
    assert_eq!(tls["Principal"], "*");
    assert_eq!(strings(&tls["Action"]), vec!["s3:*"]);
    assert_eq!(
        tls["Resource"],
        json!([{"Fn::GetAtt": "EvidenceBucket.Arn"}, {"Fn::Sub": "${EvidenceBucket.Arn}/*"}]),
        "the bucket and every object in it"
    );
    assert_eq!(
        tls["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
    // The function is told where to write, and so is the operator.
    assert_eq!(
        t["Resources"]["AuditGrantsFunction"]["Properties"]["Environment"]["Variables"]["EVIDENCE_BUCKET"],
        json!({"Ref": "EvidenceBucket"})
    );
    assert_eq!(
        t["Outputs"]["EvidenceBucketName"]["Value"],
        json!({"Ref": "EvidenceBucket"})
    );
}

#[test]
fn the_function_may_only_put_evidence_packs_and_look_up_cloudtrail_events() {
    let t = load("template.yaml");
    let doc = &t["Resources"]["AuditGrantsFunction"]["Properties"]["Policies"][0];
    let sts = statements(doc);
    let s3 = with_service(&sts, "s3:");
    assert_eq!(s3.len(), 1, "one S3 statement: {s3:?}");
    assert_eq!(s3[0]["Effect"], "Allow");
    assert_eq!(strings(&s3[0]["Action"]), vec!["s3:PutObject"]);
    assert_eq!(
        s3[0]["Resource"],
        json!({"Fn::Sub": EVIDENCE_OBJECTS}),
        "only objects under evidence/ of the evidence bucket"
    );
    let cloudtrail = with_service(&sts, "cloudtrail:");
    assert_eq!(cloudtrail, vec![&lookup_events_statement()]);
    // Anywhere in the policy, Fn::If alternatives and NotAction included: nothing
    // that reads, removes, unlocks or reconfigures a pack.
    let text = doc.to_string().to_ascii_lowercase();
    for never in NEVER_ON_EVIDENCE {
        assert!(
            !text.contains(&format!("\"{never}")),
            "the function's policy names {never}"
        );
    }
    assert!(!text.contains("notaction") && !text.contains("notresource"));
    // And no other role of the template may write there: the function's is the only
    // identity policy naming S3 or CloudTrail.
    for (name, r) in t["Resources"].as_object().unwrap() {
        if name == "AuditGrantsFunction" {
            continue;
        }
        let kind = r["Type"].as_str().unwrap();
        if [
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
        ]
        .contains(&kind)
            && name != "PermissionsBoundary"
        {
            let text = r["Properties"].to_string().to_ascii_lowercase();
            assert!(
                !text.contains("\"s3:") && !text.contains("\"cloudtrail:"),
                "{name}"
            );
        }
    }
}

#[test]
fn the_provisioner_role_looks_up_cloudtrail_events_and_has_no_s3_permission() {
    let t = load("deploy/provisioner-role.yaml");
    let role = &t["Resources"]["ProvisionerRole"]["Properties"];
    let doc = &role["Policies"][0]["PolicyDocument"];
    let sts = statements(doc);
    let lookups = with_service(&sts, "cloudtrail:");
    assert_eq!(
        lookups,
        vec![&lookup_events_statement()],
        "LookupEvents on * in a statement of its own, nothing else of CloudTrail"
    );
    let text = role.to_string().to_ascii_lowercase();
    assert!(
        !text.contains("\"s3:"),
        "packs are written in the audit-grants account only: no S3 here"
    );
    assert!(role.get("ManagedPolicyArns").is_none());
    assert!(
        t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .all(|r| !r["Type"].as_str().unwrap().starts_with("AWS::S3::")),
        "no bucket in target accounts"
    );
}

#[test]
fn notifications_go_to_the_stacks_bus_and_the_function_may_put_events_only_there() {
    let t = load("template.yaml");
    let vars = &t["Resources"]["AuditGrantsFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(vars["NOTIFY_EVENT_BUS"], json!({"Ref": "NotifyBus"}));
    assert_eq!(t["Resources"]["NotifyBus"]["Type"], "AWS::Events::EventBus");
    let doc = &t["Resources"]["AuditGrantsFunction"]["Properties"]["Policies"][0];
    let puts: Vec<Value> = statements(doc)
        .into_iter()
        .filter(|st| {
            strings(&st["Action"])
                .iter()
                .any(|a| a.starts_with("events:"))
        })
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(strings(&puts[0]["Action"]), ["events:PutEvents"]);
    assert_eq!(puts[0]["Resource"], json!({"Fn::GetAtt": "NotifyBus.Arn"}));
    let rule = &t["Resources"]["NotifyEmailRule"]["Properties"];
    assert_eq!(rule["EventBusName"], json!({"Ref": "NotifyBus"}));
    assert_eq!(rule["EventPattern"]["source"], json!(["audit-grants"]));
}

#[test]
fn evidence_outlives_the_stack() {
    let t = load("template.yaml");
    let resources = t["Resources"].as_object().unwrap();
    for (name, r) in resources {
        let kind = r["Type"].as_str().unwrap();
        if [
            "AWS::Logs::LogGroup",
            "AWS::SQS::Queue",
            "AWS::DynamoDB::Table",
            "AWS::S3::Bucket",
            "AWS::S3::BucketPolicy",
        ]
        .contains(&kind)
        {
            assert_eq!(r["DeletionPolicy"], "Retain", "{name}");
            assert_eq!(r["UpdateReplacePolicy"], "Retain", "{name}");
        }
    }
    for name in [
        "GrantsTable",
        "DeadLetterQueue",
        "FunctionLogGroup",
        "WebhookAccessLogs",
        "EvidenceBucket",
        "EvidenceBucketPolicy",
    ] {
        assert!(resources.contains_key(name), "{name}");
    }
    // The function's log group is the template's own, with a retention.
    let logs = &resources["FunctionLogGroup"];
    assert_eq!(logs["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        logs["Properties"]["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
    assert_eq!(
        resources["WebhookAccessLogs"]["Properties"]["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
    assert_eq!(
        resources["AuditGrantsFunction"]["Properties"]["LoggingConfig"]["LogGroup"],
        json!({"Ref": "FunctionLogGroup"})
    );
}

#[test]
fn the_sweeper_runs_on_a_schedule_with_retries_and_a_dead_letter_queue() {
    let t = load("template.yaml");
    assert_eq!(
        t["Parameters"]["SweepSchedule"]["Default"],
        "rate(5 minutes)"
    );
    let events = &t["Resources"]["AuditGrantsFunction"]["Properties"]["Events"];
    let sweep = &events["Sweep"];
    assert_eq!(sweep["Type"], "ScheduleV2");
    assert_eq!(
        sweep["Properties"]["ScheduleExpression"],
        json!({"Ref": "SweepSchedule"})
    );
    let input: Value =
        serde_json::from_str(sweep["Properties"]["Input"].as_str().unwrap()).unwrap();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/events/sweep-schedule.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        input, sample,
        "the schedule sends what events/sweep-schedule.json holds"
    );
    assert!(
        sweep["Properties"]["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .is_some()
    );
    assert_eq!(
        sweep["Properties"]["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": "DeadLetterQueue.Arn"})
    );
    let reconcile = &events["Reconcile"];
    assert_eq!(reconcile["Type"], "ScheduleV2");
    let input: Value =
        serde_json::from_str(reconcile["Properties"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"action": "reconcile"}));
    let rule = &events["TicketingRequests"];
    assert_eq!(rule["Type"], "EventBridgeRule");
    assert_eq!(
        rule["Properties"]["Pattern"]["detail-type"],
        json!([
            "Audit Grant Requested",
            "Audit Grant Revoke Requested",
            "Audit Grant Extend Requested"
        ])
    );
    assert!(rule["Properties"]["DeadLetterConfig"]["Arn"].is_object());
    // Alarms on sweep failures and the dead-letter queue.
    let r = &t["Resources"];
    assert_eq!(
        r["SweepFailuresAlarm"]["Properties"]["MetricName"],
        "SweepFailed"
    );
    assert_eq!(r["DeadLetterAlarm"]["Properties"]["Namespace"], "AWS/SQS");
    assert!(r["FunctionLogGroup"]["Properties"]["RetentionInDays"].is_object());
}

#[test]
fn requests_arrive_on_a_bus_of_their_own_that_names_its_senders() {
    let t = load("template.yaml");
    let bus = &t["Resources"]["RequestBus"];
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert!(bus.get("Condition").is_none(), "the bus always exists");
    assert_eq!(
        bus["Properties"]["Name"],
        json!({"Fn::Sub": "${AWS::StackName}-requests"})
    );
    let bus_arn = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${AWS::StackName}-requests";
    let policy = &bus["Properties"]["Policy"];
    let raw = policy["Statement"].as_array().unwrap();
    assert_eq!(raw.len(), 2);
    // The senders' Allow exists only when there are senders.
    assert_eq!(raw[0]["Fn::If"][0], "HasRequestSenders");
    assert_eq!(raw[0]["Fn::If"][2], json!({"Ref": "AWS::NoValue"}));
    let sts = statements(policy);
    let (allow, deny) = (&sts[0], &sts[1]);
    assert_eq!(allow["Effect"], "Allow");
    assert_eq!(
        allow["Principal"],
        json!({"AWS": {"Ref": "RequestSenderPrincipals"}})
    );
    assert_eq!(strings(&allow["Action"]), vec!["events:PutEvents"]);
    assert_eq!(strings(&allow["Resource"]), vec![bus_arn]);
    assert!(allow.get("Condition").is_none());
    // Everyone else, this account's own principals too, is shut out; with no
    // senders, everyone is.
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(strings(&deny["Action"]), vec!["events:PutEvents"]);
    assert_eq!(strings(&deny["Resource"]), vec![bus_arn]);
    assert_eq!(
        deny["Condition"],
        json!({"Fn::If": [
            "HasRequestSenders",
            {"ArnNotLike": {"aws:PrincipalArn": {"Ref": "RequestSenderPrincipals"}}},
            {"Ref": "AWS::NoValue"}
        ]})
    );
    assert_eq!(
        t["Parameters"]["RequestSenderPrincipals"]["Type"],
        "CommaDelimitedList"
    );
    assert_eq!(
        t["Conditions"]["HasRequestSenders"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "RequestSenderPrincipals"}]}, ""]}]})
    );
    // The request rule listens on that bus, never on the default one.
    let events = t["Resources"]["AuditGrantsFunction"]["Properties"]["Events"]
        .as_object()
        .unwrap();
    let rules: Vec<&Value> = events
        .values()
        .filter(|e| e["Type"] == "EventBridgeRule")
        .collect();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["Properties"]["EventBusName"],
        json!({"Ref": "RequestBus"})
    );
    // Any other rule is on the notification bus and never invokes the function.
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] == "AWS::Events::Rule" {
            assert_eq!(
                r["Properties"]["EventBusName"],
                json!({"Ref": "NotifyBus"}),
                "{name}"
            );
            assert!(
                !r["Properties"]["Targets"]
                    .to_string()
                    .contains("AuditGrantsFunction"),
                "{name}"
            );
        }
    }
}

#[test]
fn the_http_api_exists_only_with_a_webhook_secret() {
    let t = load("template.yaml");
    assert_eq!(
        t["Conditions"]["HasWebhookSecret"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookSecretArn"}, ""]}]})
    );
    let resources = t["Resources"].as_object().unwrap();
    for (name, r) in resources {
        let kind = r["Type"].as_str().unwrap();
        // SAM's own API resources and HttpApi events cannot all be made
        // conditional: plain API Gateway v2 resources are.
        assert!(
            ![
                "AWS::Serverless::HttpApi",
                "AWS::Serverless::Api",
                "AWS::Lambda::Url"
            ]
            .contains(&kind),
            "{name}: {kind}"
        );
        if kind.starts_with("AWS::ApiGatewayV2::")
            || kind.starts_with("AWS::ApiGateway::")
            || kind == "AWS::Lambda::Permission"
        {
            assert_eq!(r["Condition"], "HasWebhookSecret", "{name}");
        }
    }
    for name in [
        "WebhookApi",
        "WebhookIntegration",
        "WebhookStage",
        "WebhookInvokePermission",
        "WebhookAccessLogs",
    ] {
        assert_eq!(resources[name]["Condition"], "HasWebhookSecret", "{name}");
    }
    let f = &resources["AuditGrantsFunction"]["Properties"];
    assert!(f.get("FunctionUrlConfig").is_none(), "no Function URL");
    for (name, e) in f["Events"].as_object().unwrap() {
        assert!(
            !["HttpApi", "Api"].contains(&e["Type"].as_str().unwrap()),
            "{name}: no HTTP event source on the function itself"
        );
    }
    // Every webhook route is wired to the function.
    let mut routes: Vec<&str> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|r| {
            assert_eq!(r["Properties"]["ApiId"], json!({"Ref": "WebhookApi"}));
            assert_eq!(
                r["Properties"]["Target"],
                json!({"Fn::Sub": "integrations/${WebhookIntegration}"})
            );
            r["Properties"]["RouteKey"].as_str().unwrap()
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        vec![
            "GET /grants/{ticket}",
            "GET /grants/{ticket}/evidence",
            "POST /grants",
            "POST /grants/{ticket}/extend",
            "POST /grants/{ticket}/revoke",
        ]
    );
    // The evidence route, which reads CloudTrail for up to 20 s, is throttled
    // harder than the others.
    let stage = &resources["WebhookStage"];
    let evidence = &stage["Properties"]["RouteSettings"]["GET /grants/{ticket}/evidence"];
    assert!(
        evidence["ThrottlingRateLimit"].as_f64().unwrap() <= 1.0,
        "{evidence}"
    );
    assert!(
        evidence["ThrottlingBurstLimit"].as_u64().unwrap() <= 5,
        "{evidence}"
    );
    assert_eq!(stage["DependsOn"], "GrantEvidenceRoute");
    let integration = &resources["WebhookIntegration"]["Properties"];
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert_eq!(integration["PayloadFormatVersion"], "2.0");
    assert_eq!(
        integration["IntegrationUri"],
        json!({"Fn::GetAtt": "AuditGrantsFunction.Arn"})
    );
    // The throttle exists with the API, so it is never shared with the internet
    // when webhooks are off.
    let stage = &resources["WebhookStage"]["Properties"];
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], 5);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], 20);
    assert!(stage["AccessLogSettings"]["DestinationArn"].is_object());
    let permission = &resources["WebhookInvokePermission"]["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert_eq!(
        permission["FunctionName"],
        json!({"Ref": "AuditGrantsFunction"})
    );
    assert!(strings(&permission["SourceArn"])[0].contains(":${WebhookApi}/"));
    assert_eq!(t["Outputs"]["WebhookUrl"]["Condition"], "HasWebhookSecret");
}

#[test]
fn the_provisioner_role_trusts_only_the_function_role_with_a_ticket() {
    let t = load("deploy/provisioner-role.yaml");
    let role = &t["Resources"]["ProvisionerRole"]["Properties"];
    assert_eq!(role["RoleName"], json!({"Ref": "ProvisionerRoleName"}));
    let trust = statements(&role["AssumeRolePolicyDocument"]);
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0]["Effect"], "Allow");
    assert_eq!(
        trust[0]["Principal"],
        json!({"AWS": {"Ref": "AuditGrantsFunctionRoleArn"}})
    );
    assert_eq!(
        strings(&trust[0]["Action"]),
        vec!["sts:AssumeRole", "sts:SetSourceIdentity"]
    );
    assert_eq!(
        trust[0]["Condition"]["StringLike"]["sts:SourceIdentity"],
        "audit-grants-*"
    );
    let policies = role["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    assert_grant_role_privileges_are_scoped(&policies[0]["PolicyDocument"], "provisioner", None);
    assert!(role.get("ManagedPolicyArns").is_none());
    // The session names the function uses satisfy the trust condition.
    let ticket = audit_grants::domain::Ticket::parse("SNOW:CHG/1").unwrap();
    assert!(audit_grants::aws::sts::session_name(&ticket).starts_with("audit-grants-"));
}
