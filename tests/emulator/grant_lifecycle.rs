//! The grant lifecycle against the local AWS emulator, through the real SDK:
//! create, record, idempotency, sweep, revoke.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::error::{Error, ErrorCode};
use audit_grants::service::Created;
use chrono::Duration;
use common::*;
use serde_json::{Value, json};

fn role_name(ticket: &str) -> String {
    Ticket::parse(ticket).unwrap().role_name()
}

/// `Principal.AWS` as a list whether IAM stored one string or several.
fn principals_of(trust: &Value) -> Vec<String> {
    match &trust["Statement"][0]["Principal"]["AWS"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        other => panic!("unexpected principal {other}"),
    }
}

fn code_of(e: &Error) -> (&'static str, Option<String>) {
    (e.code().as_str(), e.field_name().map(str::to_owned))
}

#[tokio::test]
async fn a_grant_creates_exactly_the_role_spec_md_describes() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-1042");
    req["principals"] = json!([AUDITOR_ROLE, "arn:aws:iam::210987654321:user/jane"]);
    req["external_id"] = json!("agreed-external-id-42");
    let created = create(&env.service, &req).await.unwrap();
    assert!(matches!(created, Created::New(_)));
    let grant = created.grant();
    assert_eq!(grant.status, GrantStatus::Active);

    let name = role_name("AUD-1042");
    let role = env.role(&name).await.expect("the role exists");
    assert_eq!(role.path(), "/audit-grants/");
    assert_eq!(role.arn(), grant.role_arn);
    assert_eq!(
        role.arn(),
        format!("arn:aws:iam::{}:role/audit-grants/{name}", env.account)
    );
    assert_eq!(
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(env.boundary_arn().as_str())
    );
    assert_eq!(role.max_session_duration(), Some(3600));

    let tags: std::collections::HashMap<&str, &str> =
        role.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags.len(), 4, "{tags:?}");
    assert_eq!(tags["audit-grants:ticket"], "AUD-1042");
    assert_eq!(tags["audit-grants:managed-by"], "audit-grants");
    assert_eq!(tags["audit-grants:requested-by"], "jane.doe@example.com");
    let start = audit_grants::domain::truncate_to_second(env.now());
    let end = start + Duration::hours(72);
    assert_eq!(
        tags["audit-grants:expires-at"],
        audit_grants::domain::format_timestamp(end)
    );

    let trust = env.trust_policy(&name).await;
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
    let st = &trust["Statement"][0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(
        principals_of(&trust),
        vec![
            AUDITOR_ROLE.to_owned(),
            "arn:aws:iam::210987654321:user/jane".to_owned()
        ]
    );
    assert_eq!(
        st["Principal"].as_object().unwrap().len(),
        1,
        "only AWS principals"
    );
    assert_eq!(
        st["Action"],
        json!(["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"])
    );
    assert_eq!(
        st["Condition"],
        json!({
            "StringEquals": {"sts:ExternalId": "agreed-external-id-42"},
            "DateGreaterThan": {"aws:CurrentTime": audit_grants::domain::format_timestamp(start)},
            "DateLessThan": {"aws:CurrentTime": audit_grants::domain::format_timestamp(end)},
        })
    );

    assert_eq!(
        env.attached(&name).await,
        vec!["arn:aws:iam::aws:policy/SecurityAudit".to_owned()]
    );
    assert!(env.inline(&name).await.is_empty());

    // The record and its history.
    let (stored, history) = env
        .service
        .show(&Ticket::parse("AUD-1042").unwrap())
        .await
        .unwrap();
    assert_eq!(stored, *grant);
    let steps: Vec<(Option<GrantStatus>, GrantStatus)> =
        history.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, GrantStatus::Pending),
            (Some(GrantStatus::Pending), GrantStatus::Active)
        ]
    );

    // The answer the auditor needs.
    let view = grant.view(true);
    assert_eq!(view["external_id"], "agreed-external-id-42");
    assert_eq!(view["status"], "active");
    assert_eq!(view["ended_at"], Value::Null);
    let profile = view["aws_config_profile"].as_str().unwrap();
    assert!(
        profile.starts_with("[profile audit-AUD-1042]\n"),
        "{profile}"
    );
    assert!(profile.contains(&format!("role_arn = {}", grant.role_arn)));
    assert!(profile.contains("external_id = agreed-external-id-42"));
}

#[tokio::test]
async fn a_generated_external_id_is_long_random_and_returned() {
    let env = TestEnv::new().await;
    let g = create(&env.service, &request("AUD-GEN")).await.unwrap();
    let ext = g.grant().external_id.as_str().to_owned();
    assert!(ext.len() >= 32);
    let trust = env.trust_policy(&role_name("AUD-GEN")).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        ext
    );
}

#[tokio::test]
async fn each_access_preset_attaches_its_managed_policy_and_nothing_else() {
    let env = TestEnv::new().await;
    for (preset, arn) in [
        ("security-audit", "arn:aws:iam::aws:policy/SecurityAudit"),
        (
            "view-only",
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        ),
        ("read-only", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ] {
        let ticket = format!("AUD-{preset}");
        let mut req = request(&ticket);
        req["access"] = json!(preset);
        create(&env.service, &req).await.unwrap();
        assert_eq!(
            env.attached(&role_name(&ticket)).await,
            vec![arn.to_owned()]
        );
    }
}

#[tokio::test]
async fn every_invalid_request_is_rejected_and_changes_nothing() {
    let env = TestEnv::new().await;
    let before = env.snapshot().await;
    let now = env.now();
    let ts = |d: Duration| audit_grants::domain::format_timestamp(now + d);
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("not an object", json!(["AUD-1"]), "invalid_request", None),
        (
            "unknown field",
            json!({"admin": true}),
            "unknown_field",
            Some("admin"),
        ),
        (
            "missing ticket",
            json!({"ticket": null}),
            "missing_field",
            Some("ticket"),
        ),
        (
            "bad ticket",
            json!({"ticket": "AUD 1"}),
            "invalid_field",
            Some("ticket"),
        ),
        (
            "long ticket",
            json!({"ticket": "A".repeat(129)}),
            "invalid_field",
            Some("ticket"),
        ),
        (
            "missing requested_by",
            json!({"requested_by": null}),
            "missing_field",
            Some("requested_by"),
        ),
        (
            "empty requested_by",
            json!({"requested_by": ""}),
            "invalid_field",
            Some("requested_by"),
        ),
        (
            "long requested_by",
            json!({"requested_by": "x".repeat(257)}),
            "invalid_field",
            Some("requested_by"),
        ),
        (
            "missing auditor",
            json!({"auditor_account": null}),
            "missing_field",
            Some("auditor_account"),
        ),
        (
            "short auditor",
            json!({"auditor_account": "21098765432"}),
            "invalid_field",
            Some("auditor_account"),
        ),
        (
            "missing principals",
            json!({"principals": null}),
            "missing_field",
            Some("principals"),
        ),
        (
            "no principals",
            json!({"principals": []}),
            "invalid_field",
            Some("principals"),
        ),
        (
            "six principals",
            json!({"principals": (1..=6).map(|i| format!("arn:aws:iam::210987654321:role/R{i}")).collect::<Vec<_>>()}),
            "invalid_field",
            Some("principals"),
        ),
        (
            "wildcard principal",
            json!({"principals": ["*"]}),
            "invalid_field",
            Some("principals[0]"),
        ),
        (
            "wildcard in arn",
            json!({"principals": [AUDITOR_ROLE, "arn:aws:iam::210987654321:role/*"]}),
            "invalid_field",
            Some("principals[1]"),
        ),
        (
            "service principal",
            json!({"principals": ["ec2.amazonaws.com"]}),
            "invalid_field",
            Some("principals[0]"),
        ),
        (
            "federated principal",
            json!({"principals": ["arn:aws:iam::210987654321:saml-provider/okta"]}),
            "invalid_field",
            Some("principals[0]"),
        ),
        (
            "principal of another account",
            json!({"principals": ["arn:aws:iam::999999999999:role/X"]}),
            "invalid_field",
            Some("principals[0]"),
        ),
        (
            "duplicate principals",
            json!({"principals": [AUDITOR_ROLE, AUDITOR_ROLE]}),
            "invalid_field",
            Some("principals[1]"),
        ),
        (
            "short external id",
            json!({"external_id": "x"}),
            "invalid_field",
            Some("external_id"),
        ),
        (
            "bad external id",
            json!({"external_id": "has space"}),
            "invalid_field",
            Some("external_id"),
        ),
        (
            "unknown preset",
            json!({"access": "AdministratorAccess"}),
            "invalid_field",
            Some("access"),
        ),
        (
            "bad start",
            json!({"start": "tomorrow"}),
            "invalid_field",
            Some("start"),
        ),
        (
            "start in the past",
            json!({"start": ts(-Duration::minutes(6))}),
            "invalid_field",
            Some("start"),
        ),
        (
            "start too far ahead",
            json!({"start": ts(Duration::days(91))}),
            "invalid_field",
            Some("start"),
        ),
        (
            "end and duration",
            json!({"end": ts(Duration::hours(2))}),
            "invalid_field",
            Some("duration"),
        ),
        (
            "neither end nor duration",
            json!({"duration": null}),
            "missing_field",
            Some("end"),
        ),
        (
            "end before start",
            json!({"duration": null, "start": ts(Duration::hours(2)), "end": ts(Duration::hours(1))}),
            "invalid_field",
            Some("end"),
        ),
        (
            "window too long",
            json!({"duration": "31d"}),
            "invalid_field",
            Some("duration"),
        ),
        (
            "bad duration",
            json!({"duration": "1w"}),
            "invalid_field",
            Some("duration"),
        ),
        (
            "zero duration",
            json!({"duration": "0h"}),
            "invalid_field",
            Some("duration"),
        ),
        (
            "bad target",
            json!({"target_account": "abc"}),
            "invalid_field",
            Some("target_account"),
        ),
        (
            "target not allowed",
            json!({"target_account": "555555555555"}),
            "target_not_allowed",
            Some("target_account"),
        ),
        (
            "long reason",
            json!({"reason": "r".repeat(1025)}),
            "invalid_field",
            Some("reason"),
        ),
        (
            "trust policy too large",
            json!({"external_id": "e".repeat(1224), "principals": (1..=5).map(|i| format!("arn:aws:iam::210987654321:role/{}/R{i}", "p".repeat(200))).collect::<Vec<_>>()}),
            "invalid_field",
            Some("principals"),
        ),
    ];
    for (what, change, code, field) in cases {
        let req = match change {
            Value::Object(fields) => {
                let mut req = request(&format!("AUD-BAD-{}", what.replace(' ', "-")));
                for (k, v) in fields {
                    req[k] = v;
                }
                req
            }
            other => other,
        };
        let err = create(&env.service, &req).await.expect_err(what);
        assert_eq!(
            code_of(&err),
            (code, field.map(str::to_owned)),
            "{what}: {err}"
        );
        assert_eq!(env.snapshot().await, before, "{what} changed something");
    }
}

#[tokio::test]
async fn auditor_account_may_not_be_the_target_account() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-SELF");
    req["auditor_account"] = json!(env.account);
    req["principals"] = json!([format!("arn:aws:iam::{}:role/Auditor", env.account)]);
    let err = create(&env.service, &req).await.unwrap_err();
    assert_eq!(
        code_of(&err),
        ("invalid_field", Some("auditor_account".into()))
    );
    assert_eq!(env.snapshot().await, (vec![], 0));
}

#[tokio::test]
async fn a_redelivered_request_returns_the_same_grant_and_changes_nothing() {
    let env = TestEnv::new().await;
    let req = request("AUD-REPLAY");
    let first = create(&env.service, &req).await.unwrap();
    let before = env.snapshot().await;
    // Later, with `start` defaulting to a different "now": still the same request.
    env.clock.advance(Duration::minutes(30));
    let again = create(&env.service, &req).await.unwrap();
    assert!(matches!(again, Created::Existing(_)));
    assert_eq!(again.grant(), first.grant());
    assert_eq!(env.snapshot().await, before);
    // Key order does not make a different request.
    let reordered: Value = serde_json::from_str(&{
        let mut pairs: Vec<(String, Value)> =
            req.as_object().unwrap().clone().into_iter().collect();
        pairs.reverse();
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
    .unwrap();
    assert!(matches!(
        create(&env.service, &reordered).await.unwrap(),
        Created::Existing(_)
    ));
}

#[tokio::test]
async fn a_different_request_for_a_known_ticket_is_a_conflict() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-CONFLICT"))
        .await
        .unwrap();
    let before = env.snapshot().await;
    let mut other = request("AUD-CONFLICT");
    other["access"] = json!("read-only");
    let err = create(&env.service, &other).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn concurrent_identical_deliveries_create_one_role_and_one_grant() {
    let env = TestEnv::new().await;
    let req = request("AUD-RACE");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (service, req) = (env.service.clone(), req.clone());
            tokio::spawn(async move { create(&service, &req).await })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        let created = t.await.unwrap().expect("every delivery gets an answer");
        assert_eq!(
            created.grant().role_arn,
            format!(
                "arn:aws:iam::{}:role/audit-grants/{}",
                env.account,
                role_name("AUD-RACE")
            )
        );
        if matches!(created, Created::New(_)) {
            new += 1;
        }
    }
    assert_eq!(new, 1, "exactly one delivery creates");
    assert_eq!(env.roles().await, vec![role_name("AUD-RACE")]);
    let (grant, history) = env
        .service
        .show(&Ticket::parse("AUD-RACE").unwrap())
        .await
        .unwrap();
    assert_eq!(grant.status, GrantStatus::Active);
    assert_eq!(
        history.len(),
        2,
        "one pending and one active event: {history:?}"
    );
}

#[tokio::test]
async fn sweep_tears_down_only_what_is_due_and_a_second_sweep_does_nothing() {
    let env = TestEnv::new().await;
    for (ticket, duration) in [("AUD-1H", "1h"), ("AUD-2H", "2h"), ("AUD-3D", "3d")] {
        let mut req = request(ticket);
        req["duration"] = json!(duration);
        create(&env.service, &req).await.unwrap();
    }
    let as_of = env.now() + Duration::minutes(90);
    let dry = env.service.sweep(dry_run_at(as_of)).await.unwrap();
    assert_eq!(dry.due, vec!["AUD-1H"]);
    assert!(dry.torn_down.is_empty());
    assert_eq!(env.roles().await.len(), 3, "a dry run changes nothing");

    env.calls.take();
    let report = env.service.sweep(sweep_at(as_of)).await.unwrap();
    assert_eq!(report.due, vec!["AUD-1H"]);
    assert_eq!(report.torn_down, vec!["AUD-1H"]);
    assert!(report.failed.is_empty());
    let calls = env.calls.take();
    assert!(
        !calls.iter().any(|c| c == "dynamodb:Scan"),
        "the sweeper never scans: {calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "dynamodb:Query").count(),
        1,
        "{calls:?}"
    );

    let mut remaining = vec![role_name("AUD-2H"), role_name("AUD-3D")];
    remaining.sort();
    assert_eq!(env.roles().await, remaining);
    let (g, history) = env
        .service
        .show(&Ticket::parse("AUD-1H").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Expired);
    assert!(g.ended_at.is_some());
    assert_eq!(g.end_reason.as_deref(), Some("window ended"));
    let steps: Vec<GrantStatus> = history.iter().map(|e| e.to).collect();
    assert_eq!(
        steps,
        vec![
            GrantStatus::Pending,
            GrantStatus::Active,
            GrantStatus::Revoking,
            GrantStatus::Expired
        ]
    );
    for t in ["AUD-2H", "AUD-3D"] {
        assert_eq!(
            env.service
                .get(&Ticket::parse(t).unwrap())
                .await
                .unwrap()
                .status,
            GrantStatus::Active
        );
    }

    let before = env.snapshot().await;
    let second = env.service.sweep(sweep_at(as_of)).await.unwrap();
    assert!(
        second.due.is_empty() && second.torn_down.is_empty(),
        "{second:?}"
    );
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn teardown_runs_in_the_order_spec_md_gives() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-ORDER")).await.unwrap();
    env.calls.take();
    env.service
        .revoke(&Ticket::parse("AUD-ORDER").unwrap(), Some(&reason("done")))
        .await
        .unwrap();
    let iam: Vec<String> = env
        .calls
        .take()
        .into_iter()
        .filter(|c| c.starts_with("iam:"))
        .collect();
    assert_eq!(
        iam,
        [
            "iam:GetRole",
            "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:DetachRolePolicy",
            "iam:ListRolePolicies",
            "iam:DeleteRolePolicy",
            "iam:DeleteRole",
        ]
    );
}

#[tokio::test]
async fn teardown_completes_when_pieces_are_already_gone_or_extra_ones_were_added() {
    let env = TestEnv::new().await;
    for t in ["AUD-GONE", "AUD-DETACHED", "AUD-EXTRA"] {
        create(&env.service, &request(t)).await.unwrap();
    }
    let iam = &env.clients.iam;
    // The role was deleted out of band.
    let gone = role_name("AUD-GONE");
    iam.detach_role_policy()
        .role_name(&gone)
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name(&gone).send().await.unwrap();
    // The preset was detached out of band.
    iam.detach_role_policy()
        .role_name(role_name("AUD-DETACHED"))
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
    // Extra policies, an inline policy and an instance profile were added.
    let extra = role_name("AUD-EXTRA");
    iam.attach_role_policy()
        .role_name(&extra)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(&extra)
        .policy_name("sneaky")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name("sneaky-profile")
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name("sneaky-profile")
        .role_name(&extra)
        .send()
        .await
        .unwrap();

    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::hours(73)))
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.torn_down,
        vec!["AUD-DETACHED", "AUD-EXTRA", "AUD-GONE"]
    );
    assert!(env.roles().await.is_empty());
    for t in ["AUD-GONE", "AUD-DETACHED", "AUD-EXTRA"] {
        assert_eq!(
            env.service
                .get(&Ticket::parse(t).unwrap())
                .await
                .unwrap()
                .status,
            GrantStatus::Expired
        );
    }
}

#[tokio::test]
async fn revoke_ends_access_at_once_and_the_ticket_can_never_be_granted_again() {
    let env = TestEnv::new().await;
    let req = request("AUD-REVOKE");
    create(&env.service, &req).await.unwrap();
    let ticket = Ticket::parse("AUD-REVOKE").unwrap();
    let g = env
        .service
        .revoke(&ticket, Some(&reason("fieldwork finished early")))
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Revoked);
    assert_eq!(g.end_reason.as_deref(), Some("fieldwork finished early"));
    assert!(g.ended_at.is_some());
    assert!(env.role(&role_name("AUD-REVOKE")).await.is_none());
    assert!(env.roles().await.is_empty());

    let before = env.snapshot().await;
    // A replay of the original request, or any other, is refused.
    let err = create(&env.service, &req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TicketEnded);
    let mut other = req.clone();
    other["duration"] = json!("1h");
    assert_eq!(
        create(&env.service, &other).await.unwrap_err().code(),
        ErrorCode::TicketEnded
    );
    // A replayed revoke changes nothing.
    let again = env
        .service
        .revoke(&ticket, Some(&reason("again")))
        .await
        .unwrap();
    assert_eq!(again, g);
    assert_eq!(env.snapshot().await, before);
    // Nor does a sweep.
    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::days(10)))
        .await
        .unwrap();
    assert!(report.due.is_empty());
}

#[tokio::test]
async fn revoking_an_unknown_ticket_is_not_found() {
    let env = TestEnv::new().await;
    let err = env
        .service
        .revoke(&Ticket::parse("AUD-NOPE").unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert_eq!(env.snapshot().await, (vec![], 0));
}

#[tokio::test]
async fn a_grant_whose_window_has_not_started_is_active_and_the_window_is_in_its_trust() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-LATER");
    let start = env.now() + Duration::days(10);
    req["start"] = json!(audit_grants::domain::format_timestamp(start));
    let g = create(&env.service, &req).await.unwrap();
    assert_eq!(g.grant().status, GrantStatus::Active);
    let trust = env.trust_policy(&role_name("AUD-LATER")).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
        audit_grants::domain::format_timestamp(start)
    );
    // Not due before its end, even long after its start.
    let r = env
        .service
        .sweep(sweep_at(start + Duration::hours(71)))
        .await
        .unwrap();
    assert!(r.due.is_empty());
}

#[tokio::test]
async fn list_shows_grants_by_status() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-L1")).await.unwrap();
    create(&env.service, &request("AUD-L2")).await.unwrap();
    env.service
        .revoke(&Ticket::parse("AUD-L2").unwrap(), None)
        .await
        .unwrap();
    let all = env.service.list(None).await.unwrap();
    assert_eq!(all.len(), 2);
    let active = env.service.list(Some(GrantStatus::Active)).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].ticket.as_str(), "AUD-L1");
    let table = audit_grants::cli::list_table(&all, env.now());
    assert!(table.starts_with("TICKET"), "{table}");
    assert!(table.contains("AUD-L1  active"), "{table}");
}

/// Wraps the real IAM adapter: provisioning waits at `before` until the test
/// lets it go, and after creating the role hangs forever (the invocation dies).
struct StalledProvisioner {
    inner: audit_grants::aws::iam::IamRoles,
    before: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl audit_grants::ports::RoleProvisioner for StalledProvisioner {
    async fn inspect_roles(
        &self,
        target: &audit_grants::domain::AccountId,
        path: &str,
    ) -> Result<Vec<audit_grants::ports::ObservedRole>, audit_grants::ports::ProvisionError> {
        self.inner.inspect_roles(target, path).await
    }
    async fn provision(
        &self,
        spec: &audit_grants::ports::RoleSpec,
    ) -> Result<String, audit_grants::ports::ProvisionError> {
        self.before.notified().await;
        self.inner.provision(spec).await?;
        std::future::pending().await
    }
    async fn update_window(
        &self,
        role: &audit_grants::domain::RoleRef,
        trust: &audit_grants::policy::PolicyDocument,
        expires_at: &str,
    ) -> Result<(), audit_grants::ports::ProvisionError> {
        self.inner.update_window(role, trust, expires_at).await
    }
    async fn teardown(
        &self,
        role: &audit_grants::domain::RoleRef,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), audit_grants::ports::ProvisionError> {
        self.inner.teardown(role, now).await
    }
}

#[tokio::test]
async fn a_role_created_after_a_revoke_by_an_invocation_that_then_died_is_removed_by_a_later_sweep()
{
    let env = TestEnv::new().await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let stalled = std::sync::Arc::new(env.service_with(std::sync::Arc::new(StalledProvisioner {
        inner: env.iam_roles(),
        before: gate.clone(),
    })));
    let req = request("AUD-LATE");
    let creating = tokio::spawn({
        let stalled = stalled.clone();
        async move { create(&stalled, &req).await }
    });
    let ticket = Ticket::parse("AUD-LATE").unwrap();
    // Wait for the pending record, then revoke while provisioning has not begun.
    loop {
        if env.service.get(&ticket).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let revoked = env
        .service
        .revoke(&ticket, Some(&reason("cancelled")))
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(
        revoked.recheck,
        "ended while a provisioning may be in flight"
    );
    // The late provisioning creates the role, then its invocation dies.
    gate.notify_one();
    while env.role(&role_name("AUD-LATE")).await.is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    creating.abort();

    // Too early to be sure the invocation is gone: not yet due.
    let early = env
        .service
        .sweep(sweep_at(env.now() + Duration::minutes(1)))
        .await
        .unwrap();
    assert!(early.due.is_empty(), "{early:?}");
    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::minutes(6)))
        .await
        .unwrap();
    assert_eq!(report.verified, vec!["AUD-LATE"], "{report:?}");
    assert!(env.roles().await.is_empty(), "the late role is gone");
    let g = env.service.get(&ticket).await.unwrap();
    assert_eq!((g.status, g.recheck), (GrantStatus::Revoked, false));
    let again = env
        .service
        .sweep(sweep_at(env.now() + Duration::hours(1)))
        .await
        .unwrap();
    assert!(again.due.is_empty(), "checked once: {again:?}");
}

#[tokio::test]
async fn a_grant_past_its_end_cannot_be_extended_even_before_the_sweep() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-OVER");
    req["duration"] = json!("1h");
    create(&env.service, &req).await.unwrap();
    env.clock.advance(Duration::hours(2));
    let err = env
        .service
        .extend(
            &Ticket::parse("AUD-OVER").unwrap(),
            env.now() + Duration::hours(5),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
}

#[tokio::test]
async fn teardown_never_touches_a_role_of_the_same_name_that_is_not_ours() {
    let env = TestEnv::new().await;
    // Someone else's role squats the name this ticket would get.
    let name = role_name("AUD-SQUAT");
    env.clients
        .iam
        .create_role()
        .role_name(&name)
        .path("/audit-grants/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let err = create(&env.service, &request("AUD-SQUAT"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    let g = env
        .service
        .get(&Ticket::parse("AUD-SQUAT").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Failed);
    assert!(g.is_ended());
    // Never adopted (its trust is not ours), never deleted either.
    let trust = env.trust_policy(&name).await;
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], "*");
    env.service
        .revoke(&Ticket::parse("AUD-SQUAT").unwrap(), None)
        .await
        .unwrap();
    assert!(env.role(&name).await.is_some());
}

#[tokio::test]
async fn a_role_whose_ownership_tags_were_removed_is_never_deleted_and_the_revoke_fails_loudly() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-UNTAGGED"))
        .await
        .unwrap();
    let name = role_name("AUD-UNTAGGED");
    env.clients
        .iam
        .untag_role()
        .role_name(&name)
        .tag_keys("audit-grants:managed-by")
        .send()
        .await
        .unwrap();
    let ticket = Ticket::parse("AUD-UNTAGGED").unwrap();
    let err = env
        .service
        .revoke(&ticket, Some(&reason("stop")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err}");
    let g = env.service.get(&ticket).await.unwrap();
    assert_eq!(
        g.status,
        GrantStatus::Failed,
        "not recorded as ended while the role remains"
    );
    assert!(!g.is_ended());
    assert!(
        g.last_error
            .as_deref()
            .unwrap()
            .contains("not managed by audit-grants"),
        "{:?}",
        g.last_error
    );
    assert!(env.role(&name).await.is_some());
    // Once a person restores the tag, the next sweep finishes the revoke.
    env.clients
        .iam
        .tag_role()
        .role_name(&name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("audit-grants:managed-by")
                .value("audit-grants")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let r = env.service.sweep(sweep_at(env.now())).await.unwrap();
    assert_eq!(r.torn_down, vec!["AUD-UNTAGGED"], "{r:?}");
    assert_eq!(
        env.service.get(&ticket).await.unwrap().status,
        GrantStatus::Revoked
    );
    assert!(env.role(&name).await.is_none());
}

#[tokio::test]
async fn role_path_and_session_limit_come_from_the_settings() {
    let env = TestEnv::with(
        &[
            ("ROLE_PATH", "/audits/external/"),
            ("MAX_SESSION_SECONDS", "7200"),
        ],
        chrono::Utc::now(),
    )
    .await;
    let g = create(&env.service, &request("AUD-SETTINGS"))
        .await
        .unwrap();
    let role = env.role(&role_name("AUD-SETTINGS")).await.unwrap();
    assert_eq!(role.path(), "/audits/external/");
    assert_eq!(role.max_session_duration(), Some(7200));
    assert!(
        g.grant()
            .role_arn
            .contains(":role/audits/external/audit-AUD-SETTINGS-")
    );
}
