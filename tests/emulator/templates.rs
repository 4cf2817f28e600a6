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
const INSTANCE_PROFILES: &str = "arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/*";

/// The privilege rules shared by the function's policy and the provisioner role's.
fn assert_grant_role_privileges_are_scoped(doc: &Value, what: &str) {
    for st in statements(doc) {
        assert_eq!(st["Effect"], "Allow", "{what}: {st}");
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        for a in &actions {
            assert!(!a.contains('*'), "{what}: no wildcard actions: {a}");
            assert!(
                ![
                    "iam:PassRole",
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                    "iam:CreateUser",
                    "iam:CreateAccessKey",
                ]
                .contains(&a.as_str()),
                "{what}: {a} is never needed"
            );
            let iam_write =
                a.starts_with("iam:") && !a.starts_with("iam:Get") && !a.starts_with("iam:List");
            if iam_write {
                assert!(
                    !resources.iter().any(|r| r == "*"),
                    "{what}: IAM write on *: {st}"
                );
                assert!(
                    resources
                        .iter()
                        .all(|r| r == ROLE_UNDER_PATH || r == INSTANCE_PROFILES),
                    "{what}: IAM writes only under the role path: {st}"
                );
            }
        }
        if actions
            .iter()
            .any(|a| a == "iam:CreateRole" || a == "iam:PutRolePermissionsBoundary")
        {
            assert_eq!(
                st["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
                json!({"Ref": "PermissionsBoundary"}),
                "{what}: roles only with the boundary: {st}"
            );
            assert_eq!(resources, vec![ROLE_UNDER_PATH]);
        }
        if actions.iter().any(|a| a == "iam:AttachRolePolicy") {
            assert_eq!(actions, vec!["iam:AttachRolePolicy"]);
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
            assert_eq!(
                st["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
                json!({"Ref": "PermissionsBoundary"})
            );
        }
    }
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
    assert_grant_role_privileges_are_scoped(doc, "function");
    for st in statements(doc) {
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        if actions.iter().any(|a| a.starts_with("dynamodb:")) {
            assert_eq!(
                st["Resource"],
                json!([{"Fn::GetAtt": "GrantsTable.Arn"}, {"Fn::Sub": "${GrantsTable.Arn}/index/due"}]),
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
            assert_eq!(
                st["Condition"]["StringEquals"]["aws:ResourceAccount"],
                json!({"Ref": "TargetAccounts"}),
                "only in the listed target accounts"
            );
        }
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, vec!["secretsmanager:GetSecretValue"]);
            assert_eq!(st["Resource"], json!({"Ref": "WebhookSecretArn"}));
        }
        for a in &actions {
            let service = a.split(':').next().unwrap();
            assert!(
                ["iam", "dynamodb", "sts", "secretsmanager"].contains(&service),
                "unexpected service in the function's policy: {a}"
            );
        }
    }
}

#[test]
fn the_function_is_arm64_al2023_cargo_lambda_with_json_logs_and_bounded_concurrency() {
    let t = load("template.yaml");
    let r = &t["Resources"]["AuditGrantsFunction"];
    assert_eq!(r["Type"], "AWS::Serverless::Function");
    assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
    let p = &r["Properties"];
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(p["Architectures"], json!(["arm64"]));
    assert_eq!(p["Handler"], "bootstrap");
    assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON");
    let reserved = p["ReservedConcurrentExecutions"].as_u64().unwrap();
    assert!(
        (1..=10).contains(&reserved),
        "reserved concurrency protects IAM"
    );
    // Every setting the binary requires is provided.
    let env = p["Environment"]["Variables"].as_object().unwrap();
    for k in [
        "GRANTS_TABLE",
        "PERMISSIONS_BOUNDARY_ARN",
        "ROLE_PATH",
        "MAX_GRANT_DURATION",
        "TARGET_ACCOUNTS",
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
    // Every webhook route is wired.
    let routes: Vec<(String, String)> = events
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap().to_owned(),
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (m, p) in [
        ("POST", "/grants"),
        ("GET", "/grants/{ticket}"),
        ("POST", "/grants/{ticket}/revoke"),
        ("POST", "/grants/{ticket}/extend"),
    ] {
        assert!(routes.contains(&(m.to_owned(), p.to_owned())), "{m} {p}");
    }
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
    assert_grant_role_privileges_are_scoped(&policies[0]["PolicyDocument"], "provisioner");
    assert!(role.get("ManagedPolicyArns").is_none());
    // The session names the function uses satisfy the trust condition.
    let ticket = audit_grants::domain::Ticket::parse("SNOW:CHG/1").unwrap();
    assert!(audit_grants::aws::sts::session_name(&ticket).starts_with("audit-grants-"));
}
