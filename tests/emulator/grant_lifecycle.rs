//! The grant lifecycle against the local AWS emulator, through the real SDK:
//! create, record, idempotency, sweep, revoke.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket, format_timestamp};
use audit_grants::error::{Error, ErrorCode};
use audit_grants::service::Created;
use chrono::Duration;
use common::*;
use serde_json::{Value, json};

pub(crate) fn role_name(ticket: &str) -> String {
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
    assert_eq!(role.arn(), grant.role_arn());
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
        json!(["sts:AssumeRole", "sts:SetSourceIdentity"]),
        "never sts:TagSession"
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
    // One inline policy: the window deny, shutting even live sessions outside it.
    assert_eq!(env.inline(&name).await, ["AuditGrantWindow"]);
    let window_deny = env
        .clients
        .iam
        .get_role_policy()
        .role_name(&name)
        .policy_name("AuditGrantWindow")
        .send()
        .await
        .unwrap();
    let window_deny: Value =
        serde_json::from_str(&url_decode(window_deny.policy_document())).unwrap();
    assert_eq!(
        window_deny,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "BeforeTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
             "Condition": {"DateLessThan": {"aws:CurrentTime": format_timestamp(grant.window.start())}}},
            {"Sid": "AfterTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
             "Condition": {"DateGreaterThan": {"aws:CurrentTime": format_timestamp(grant.window.end())}}},
        ]})
    );

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
    assert!(profile.contains(&format!("role_arn = {}", grant.role_arn())));
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
            created.grant().role_arn(),
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
