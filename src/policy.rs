//! IAM policy documents as typed values, serialised once. Never string templates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{ExternalId, Partition, PrincipalArn, Window, format_timestamp};

/// The name of the inline deny that ends every session issued before teardown.
pub const REVOKE_SESSIONS_POLICY_NAME: &str = "AWSRevokeOlderSessions";

/// The actions the trust statement allows. SourceIdentity lets the auditor's
/// side carry its own identity into our CloudTrail. Never `sts:TagSession`:
/// session tags the auditor chooses could satisfy `aws:PrincipalTag`
/// conditions elsewhere in the account.
pub const TRUST_ACTIONS: [&str; 2] = ["sts:AssumeRole", "sts:SetSourceIdentity"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Principal {
    #[serde(rename = "AWS")]
    Aws(Vec<String>),
}

/// Condition operator → key → value, e.g. `StringEquals → sts:ExternalId → …`.
pub type Conditions = BTreeMap<&'static str, BTreeMap<&'static str, String>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'static str>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action: Vec<String>,
    /// Every action but these (only the boundary uses it: see docs/boundary.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_action: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Conditions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    fn new(statement: Vec<Statement>) -> Self {
        PolicyDocument {
            version: "2012-10-17",
            statement,
        }
    }

    /// The compact JSON sent to IAM.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("policy documents always serialise")
    }

    /// Characters IAM counts against its policy size limits.
    pub fn serialised_len(&self) -> usize {
        self.to_json().chars().count()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Who may assume a grant's role: exactly these principals, only with the
/// external ID, only inside the window. IAM enforces the window itself.
pub fn trust_policy(
    principals: &[PrincipalArn],
    external_id: &ExternalId,
    window: &Window,
) -> PolicyDocument {
    let mut condition = Conditions::new();
    condition.insert(
        "StringEquals",
        BTreeMap::from([("sts:ExternalId", external_id.as_str().to_owned())]),
    );
    condition.insert(
        "DateGreaterThan",
        BTreeMap::from([("aws:CurrentTime", format_timestamp(window.start()))]),
    );
    condition.insert(
        "DateLessThan",
        BTreeMap::from([("aws:CurrentTime", format_timestamp(window.end()))]),
    );
    PolicyDocument::new(vec![Statement {
        sid: Some("AuditGrant"),
        effect: Effect::Allow,
        principal: Some(Principal::Aws(
            principals.iter().map(|p| p.as_str().to_owned()).collect(),
        )),
        action: strings(&TRUST_ACTIONS),
        not_action: None,
        resource: None,
        condition: Some(condition),
    }])
}

/// The identity policy the auditor's principals need in their own account:
/// `sts:AssumeRole` and `sts:SetSourceIdentity` on exactly the grant's roles
/// (one per account), and nothing else.
pub fn auditor_policy<'a>(role_arns: impl IntoIterator<Item = &'a str>) -> PolicyDocument {
    PolicyDocument::new(vec![Statement {
        sid: Some("AssumeTheAuditGrantRoles"),
        effect: Effect::Allow,
        principal: None,
        action: strings(&["sts:AssumeRole", "sts:SetSourceIdentity"]),
        not_action: None,
        resource: Some(role_arns.into_iter().map(str::to_owned).collect()),
        condition: None,
    }])
}

/// The trust policy a role gets at the start of teardown: nobody can assume it.
/// (A trust policy needs a principal; an explicit deny for everyone trusts no one.)
pub fn trust_no_one() -> PolicyDocument {
    PolicyDocument::new(vec![Statement {
        sid: Some("GrantEnded"),
        effect: Effect::Deny,
        principal: Some(Principal::Aws(vec!["*".into()])),
        action: strings(&TRUST_ACTIONS),
        not_action: None,
        resource: None,
        condition: None,
    }])
}

/// The name of the inline deny that shuts the role outside its window.
pub const WINDOW_POLICY_NAME: &str = "AuditGrantWindow";

/// `AuditGrantWindow`: deny everything before the window starts and after it
/// ends. The trust's `aws:CurrentTime` conditions stop new sessions; this stops
/// sessions already taken, at the second, even if nothing of ours ever runs
/// again. Two statements: conditions within one statement must all hold.
pub fn window_deny(window: &Window) -> PolicyDocument {
    let deny_when = |sid, operator, at| Statement {
        sid: Some(sid),
        effect: Effect::Deny,
        principal: None,
        action: strings(&["*"]),
        not_action: None,
        resource: Some(strings(&["*"])),
        condition: Some(Conditions::from([(
            operator,
            BTreeMap::from([("aws:CurrentTime", format_timestamp(at))]),
        )])),
    };
    PolicyDocument::new(vec![
        deny_when("BeforeTheWindow", "DateLessThan", window.start()),
        deny_when("AfterTheWindow", "DateGreaterThan", window.end()),
    ])
}

/// The console's "revoke active sessions": deny everything to sessions whose
/// token was issued before `now`. IAM compares whole seconds, so the cut-off is
/// the next whole second: a session issued earlier in this second is covered.
pub fn revoke_older_sessions(now: DateTime<Utc>) -> PolicyDocument {
    let cutoff = crate::domain::truncate_to_second(now) + chrono::Duration::seconds(1);
    PolicyDocument::new(vec![Statement {
        sid: None,
        effect: Effect::Deny,
        principal: None,
        action: strings(&["*"]),
        not_action: None,
        resource: Some(strings(&["*"])),
        condition: Some(Conditions::from([(
            "DateLessThan",
            BTreeMap::from([("aws:TokenIssueTime", format_timestamp(cutoff))]),
        )])),
    }])
}

/// The permissions boundary as generated from the presets' AWS managed
/// policies and an offline catalogue of IAM actions (`tests/iam/make-boundary.mjs
/// --shape read-only --out src/permissions-boundary.json`; `make test` checks the
/// file is what the generator produces, and proves it with an independent IAM
/// evaluator). See docs/boundary.md for what it keeps and removes, and why.
const PERMISSIONS_BOUNDARY_JSON: &str = include_str!("permissions-boundary.json");

/// The permissions boundary every grant role carries: every action of a preset
/// survives it except writes and reads of data contents, credentials and
/// tokens; in the closed services (identity, keys, secrets, the audit trail,
/// data stores, compute) only reads pass, whatever policy ends up attached, and
/// IAM and STS writes are denied outright.
pub fn permissions_boundary() -> PolicyDocument {
    static BOUNDARY: std::sync::OnceLock<PolicyDocument> = std::sync::OnceLock::new();
    BOUNDARY
        .get_or_init(|| {
            let doc: serde_json::Value = serde_json::from_str(PERMISSIONS_BOUNDARY_JSON)
                .expect("the generated boundary is JSON");
            let leak = |v: &serde_json::Value| -> &'static str {
                Box::leak(v.as_str().expect("a string").to_owned().into_boxed_str())
            };
            let list = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .expect("a list")
                    .iter()
                    .map(|x| x.as_str().expect("a string").to_owned())
                    .collect()
            };
            let statement = doc["Statement"]
                .as_array()
                .expect("statements")
                .iter()
                .map(|st| Statement {
                    sid: Some(leak(&st["Sid"])),
                    effect: match st["Effect"].as_str() {
                        Some("Allow") => Effect::Allow,
                        Some("Deny") => Effect::Deny,
                        other => panic!("unknown effect {other:?}"),
                    },
                    principal: None,
                    action: st.get("Action").map(list).unwrap_or_default(),
                    not_action: st.get("NotAction").map(list),
                    resource: Some(list(&st["Resource"])),
                    condition: None,
                })
                .collect();
            PolicyDocument::new(statement)
        })
        .clone()
}

/// IAM's limit for a managed policy document (the boundary).
pub const MANAGED_POLICY_MAX_CHARS: usize = 6144;

/// The managed-policy ARNs of all presets in a partition: the only policies a
/// grant role may carry.
pub fn preset_policy_arns(partition: Partition) -> Vec<String> {
    crate::domain::AccessPreset::ALL
        .iter()
        .map(|p| p.policy_arn(partition))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;
    use serde_json::{Value, json};

    fn window() -> Window {
        Window::new(
            parse_timestamp("2026-12-01T09:00:00Z").unwrap(),
            parse_timestamp("2026-12-05T17:00:00Z").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn trust_policy_has_one_statement_with_exact_principals_external_id_and_window() {
        let principals = vec![
            PrincipalArn::parse("arn:aws:iam::210987654321:role/ExternalAuditor").unwrap(),
            PrincipalArn::parse("arn:aws:iam::210987654321:user/jane").unwrap(),
        ];
        let doc = trust_policy(
            &principals,
            &ExternalId::parse("ext-123").unwrap(),
            &window(),
        );
        let v: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(
            v,
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "AuditGrant",
                    "Effect": "Allow",
                    "Principal": {"AWS": [
                        "arn:aws:iam::210987654321:role/ExternalAuditor",
                        "arn:aws:iam::210987654321:user/jane"
                    ]},
                    "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    "Condition": {
                        "StringEquals": {"sts:ExternalId": "ext-123"},
                        "DateGreaterThan": {"aws:CurrentTime": "2026-12-01T09:00:00Z"},
                        "DateLessThan": {"aws:CurrentTime": "2026-12-05T17:00:00Z"}
                    }
                }]
            })
        );
        assert_eq!(doc.serialised_len(), doc.to_json().len());
        assert!(!doc.to_json().contains(' '), "compact serialisation");
    }

    #[test]
    fn trust_no_one_denies_everyone_and_allows_nothing() {
        let doc = trust_no_one();
        assert!(doc.statement.iter().all(|s| s.effect == Effect::Deny));
    }

    #[test]
    fn revoke_sessions_denies_everything_issued_before_now() {
        let now =
            parse_timestamp("2026-12-03T12:00:00Z").unwrap() + chrono::Duration::milliseconds(400);
        let v: Value = serde_json::from_str(&revoke_older_sessions(now).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-12-03T12:00:01Z"}}
            }]})
        );
    }

    #[test]
    fn the_boundary_fits_iams_limit_closes_identity_and_data_services_and_keeps_the_audit_reads() {
        let doc = permissions_boundary();
        assert!(
            doc.serialised_len() <= MANAGED_POLICY_MAX_CHARS,
            "{}",
            doc.serialised_len()
        );
        // Statement 1 allows every service but the closed ones; in those only
        // the read patterns of statement 2 pass, whatever is attached. Which
        // actions that keeps and removes is measured against the catalogue of
        // IAM actions by tests/iam (coverage.mjs, evaluate.mjs).
        let closed: Vec<&str> = doc
            .statement
            .iter()
            .filter(|s| s.effect == Effect::Allow)
            .filter_map(|s| s.not_action.as_ref())
            .flatten()
            .map(|a| a.strip_suffix(":*").expect("closes whole services"))
            .collect();
        for svc in [
            "iam",
            "sts",
            "kms",
            "secretsmanager",
            "ssm",
            "cloudtrail",
            "config",
            "logs",
            "s3",
            "ec2",
            "lambda",
            "dynamodb",
            "rds-db",
            "ecs",
            "codebuild",
        ] {
            assert!(closed.contains(&svc), "{svc} is closed");
        }
        let allowed_in_closed: Vec<&String> = doc
            .statement
            .iter()
            .filter(|s| s.effect == Effect::Allow)
            .flat_map(|s| s.action.iter())
            .collect();
        for a in &allowed_in_closed {
            let (svc, verb) = a.split_once(':').expect("service:action");
            assert!(closed.contains(&svc), "{a} names a closed service");
            assert!(verb != "*", "never a whole closed service: {a}");
        }
        // IAM and STS writes and credential calls are denied outright, whatever
        // any later edit of the allows says.
        let denied: Vec<&String> = doc
            .statement
            .iter()
            .filter(|s| s.effect == Effect::Deny && s.condition.is_none())
            .flat_map(|s| s.action.iter())
            .collect();
        for must in [
            "iam:Create*",
            "iam:Put*",
            "iam:Pass*",
            "sts:Assume*",
            "sts:Tag*",
        ] {
            assert!(denied.iter().any(|d| *d == must), "{must} denied");
        }
        // The audit reads the review found missing are there.
        let json = doc.to_json();
        for must in ["cloudtrail:Lookup", "iam:Generate", "config:Select"] {
            assert!(json.contains(must), "{must}");
        }
    }

    #[test]
    fn the_window_deny_shuts_everything_outside_the_window() {
        let window = crate::domain::Window::new(
            crate::domain::parse_timestamp("2026-12-01T09:00:00Z").unwrap(),
            crate::domain::parse_timestamp("2026-12-04T09:00:00Z").unwrap(),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(window_deny(&window)).unwrap(),
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "BeforeTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                     "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-12-01T09:00:00Z"}}},
                    {"Sid": "AfterTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-12-04T09:00:00Z"}}},
                ]
            })
        );
    }
}
