//! The auditor's side end to end: the grant's `auditor_policy` attached in
//! the auditor's own account, and `audit-grants check-access` run with only
//! the auditor's credentials. The emulator evaluates no IAM policy, so the
//! check runs through the IAM gate (tests/iam/gate.mjs): the independent
//! evaluator decides every call from the policies the emulator holds (the
//! trust with its external ID and window, the auditor's own policy, the
//! preset, the window deny and the boundary).

use crate::common::{self, AuditorSide, Gate, TestEnv, fresh_account, reason};

use audit_grants::domain::format_timestamp;
use chrono::Duration;
use serde_json::Value;

/// A grant for a principal in an auditor account of this test's own.
async fn granted(e: &TestEnv, ticket: &str, start_in: Option<Duration>) -> (Value, String) {
    let auditor = fresh_account();
    let principal = format!("arn:aws:iam::{auditor}:role/ExternalAuditor");
    let mut request = common::request(ticket);
    request["auditor_account"] = auditor.clone().into();
    request["principals"] = serde_json::json!([principal]);
    if let Some(later) = start_in {
        request["start"] = format_timestamp(e.now() + later).into();
    }
    let created = common::create(&e.service, &request).await.expect("granted");
    (created.grant().view(true), principal)
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|err| panic!("{err}: {out}"))
}

fn finding(report: &Value) -> &str {
    report["accounts"][0]["problems"][0]["finding"]
        .as_str()
        .unwrap_or_else(|| panic!("no problem in {report:#}"))
}

/// `check-access --profile PROFILE --json` through `endpoint`, which must
/// fail: the first problem's finding and fix.
fn refused(auditor: &AuditorSide, endpoint: &str, profile: &str) -> (String, String) {
    let (code, out) = auditor.check_access(endpoint, &["--profile", profile, "--json"]);
    assert_eq!(code, 1, "{out}");
    let report = json(&out);
    let fix = report["accounts"][0]["problems"][0]["fix"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (finding(&report).to_owned(), fix)
}

#[tokio::test]
async fn the_auditor_checks_access_as_granted_then_learns_it_ended_after_the_revoke() {
    let e = TestEnv::new().await;
    let (view, principal) = granted(&e, "AUD-CHECK-1", None).await;
    let auditor = AuditorSide::sign_in(&view, &principal, true).await;
    let gate = Gate::start(&common::proxy_url());

    let (code, out) = auditor.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-1"]);
    assert_eq!(code, 0, "{out}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with(&format!("{}  ok", e.account)), "{out}");
    assert!(
        first.contains("reads 4/4 allowed") && first.contains("data read refused"),
        "{out}"
    );
    assert!(
        first.contains(&format!("until {}", view["end"].as_str().unwrap())),
        "{out}"
    );
    assert!(first.contains(":assumed-role/"), "who they now are: {out}");

    let (code, out) =
        auditor.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-1", "--json"]);
    assert_eq!(code, 0, "{out}");
    let report = json(&out);
    assert_eq!(report["accounts"][0]["source_identity"], "alice");
    assert_eq!(report["accounts"][0]["data_read"]["outcome"], "refused");
    assert_eq!(report["accounts"][0]["ends_at"], view["end"]);

    // The same with the role ARN and external ID instead of the profile.
    let (code, out) = auditor.check_access(
        &gate.url,
        &[
            "--role-arn",
            view["role_arn"].as_str().unwrap(),
            "--external-id",
            view["external_id"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");

    e.service
        .revoke(
            &audit_grants::domain::Ticket::parse("AUD-CHECK-1").unwrap(),
            Some(&reason("fieldwork done")),
            &common::operator(),
        )
        .await
        .expect("revoked");
    // Through the gate, STS refuses as for any trust failure; the message
    // names the revocation.
    let (finding, fix) = refused(&auditor, &gate.url, "audit-AUD-CHECK-1");
    assert_eq!(finding, "role_refused");
    assert!(
        fix.contains("revoked") && fix.contains("no longer exists"),
        "{fix}"
    );
    // The emulator alone lets anyone assume anything, and then IAM itself says
    // the role is gone.
    let (code, out) =
        auditor.check_access(&common::emulator(), &["--profile", "audit-AUD-CHECK-1"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("The role does not exist"), "{out}");
    assert!(out.contains("NoSuchEntity"), "{out}");
}

#[tokio::test]
async fn without_auditor_policy_or_with_a_wrong_external_id_the_check_says_what_to_fix() {
    let e = TestEnv::new().await;
    let (view, principal) = granted(&e, "AUD-CHECK-2", None).await;
    let gate = Gate::start(&common::proxy_url());

    let auditor = AuditorSide::sign_in(&view, &principal, false).await;
    let (finding, fix) = refused(&auditor, &gate.url, "audit-AUD-CHECK-2");
    assert_eq!(finding, "own_policy");
    assert!(fix.contains("auditor_policy"), "{fix}");

    let auditor = AuditorSide::sign_in(&view, &principal, true).await;
    auditor.edit_profile("external_id", "not-the-handed-over-one");
    assert_eq!(
        refused(&auditor, &gate.url, "audit-AUD-CHECK-2").0,
        "role_refused"
    );
    let (code, out) = auditor.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-2"]);
    assert_eq!(code, 1);
    assert!(out.contains("external ID must be exactly"), "{out}");
    assert!(out.contains("\"not-\""), "{out}");
}

#[tokio::test]
async fn before_the_window_the_trust_refuses_and_the_check_says_when_it_opens() {
    let e = TestEnv::new().await;
    let (view, principal) = granted(&e, "AUD-CHECK-3", Some(Duration::hours(5))).await;
    let auditor = AuditorSide::sign_in(&view, &principal, true).await;
    let gate = Gate::start(&common::proxy_url());
    let (finding, fix) = refused(&auditor, &gate.url, "audit-AUD-CHECK-3");
    assert_eq!(finding, "window_not_started");
    assert!(fix.contains(view["start"].as_str().unwrap()), "{fix}");
}

#[tokio::test]
async fn the_data_read_stays_refused_by_the_boundary_and_the_check_catches_a_role_without_it() {
    let e = TestEnv::new().await;
    let (view, principal) = granted(&e, "AUD-CHECK-4", None).await;
    let auditor = AuditorSide::sign_in(&view, &principal, true).await;
    let gate = Gate::start(&common::proxy_url());
    let role = view["role_arn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    // Someone attaches a policy that allows everything: the boundary still
    // refuses the data read.
    let everything = serde_json::json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    e.clients
        .iam
        .put_role_policy()
        .role_name(role)
        .policy_name("too-broad")
        .policy_document(everything.to_string())
        .send()
        .await
        .unwrap();
    let (code, out) = auditor.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-4"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("data read refused"), "{out}");
    // Without the boundary the same role can read a secret's value: the check fails.
    e.clients
        .iam
        .delete_role_permissions_boundary()
        .role_name(role)
        .send()
        .await
        .unwrap();
    let (code, out) =
        auditor.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-4", "--json"]);
    assert_eq!(code, 1, "{out}");
    let report = json(&out);
    assert_eq!(finding(&report), "data_read_allowed");
    assert_eq!(report["accounts"][0]["data_read"]["outcome"], "allowed");
}

#[tokio::test]
async fn a_grant_across_accounts_is_checked_account_by_account_one_line_each() {
    let own = common::default_account_clients(&common::CallLog::default()).await;
    let targets = [
        common::target_account_with_provisioner("123456789012")
            .await
            .0,
        common::target_account_with_provisioner("123456789012")
            .await
            .0,
    ];
    let (_, service, _) =
        common::home_service(&own, &[("TARGET_ACCOUNTS", &targets.join(","))]).await;
    let auditor = fresh_account();
    let principal = format!("arn:aws:iam::{auditor}:role/ExternalAuditor");
    let mut request = common::request("AUD-CHECK-5");
    request["auditor_account"] = auditor.clone().into();
    request["principals"] = serde_json::json!([principal]);
    request["target_accounts"] = serde_json::json!(targets);
    let view = common::create(&service, &request)
        .await
        .expect("granted")
        .grant()
        .view(true);
    let side = AuditorSide::sign_in(&view, &principal, true).await;
    let gate = Gate::start(&common::proxy_url());
    let (code, out) = side.check_access(&gate.url, &["--profile", "audit-AUD-CHECK-5"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let mut sorted = targets.to_vec();
    sorted.sort();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, account) in lines.iter().zip(&sorted) {
        assert!(line.starts_with(&format!("{account}  ok")), "{out}");
        assert!(line.contains("data read refused"), "{out}");
    }
    assert_eq!(lines[2], "access is as granted");
}
