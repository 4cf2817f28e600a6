//! The stand-in for IAM, STS and DynamoDB (testkit/src/standin.rs) through
//! the real SDK clients and the real adapters: what the scale benchmark
//! relies on is checked here, without the emulator.

use std::sync::Arc;
use std::time::Duration;

use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::ports::CallerIdentity;
use testkit::standin::{StandIn, StandInConfig, clients_for};
use testkit::{create, operator, request, settings_for, sweep_at};

fn instant() -> StandInConfig {
    StandInConfig {
        iam_latency: Duration::ZERO,
        sts_latency: Duration::ZERO,
        dynamodb_latency: Duration::ZERO,
        iam_writes_per_second: None,
    }
}

async fn service(standin: &StandIn, extra: &[(&str, &str)]) -> audit_grants::service::GrantService {
    let clients = clients_for(&standin.url).await;
    let settings = Arc::new(settings_for("123456789012", extra));
    let identity: Arc<dyn CallerIdentity> = Arc::new(audit_grants::aws::sts::StsIdentity::new(
        clients.sts.clone(),
    ));
    let clock = testkit::TestClock::at(chrono::Utc::now());
    testkit::TestEnv::service_over(&clients, &settings, &identity, &clock)
}

#[tokio::test]
async fn a_grant_across_accounts_and_its_revoke_run_through_the_real_sdk_against_the_stand_in() {
    let standin = StandIn::start(instant());
    let svc = service(
        &standin,
        &[("TARGET_ACCOUNTS", "222222222222,333333333333")],
    )
    .await;
    let mut req = request("SCALE-1");
    req["target_accounts"] = serde_json::json!(["123456789012", "222222222222", "333333333333"]);
    let g = create(&svc, &req).await.unwrap().grant().clone();
    assert_eq!(g.status, GrantStatus::Active);
    for account in ["123456789012", "222222222222", "333333333333"] {
        let role = standin
            .role(account, &g.role_name)
            .expect("a role in each account");
        assert_eq!(
            role.boundary.as_deref(),
            Some(
                format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary")
                    .as_str()
            )
        );
        assert_eq!(role.attached, ["arn:aws:iam::aws:policy/SecurityAudit"]);
        assert!(role.inline.contains_key("AuditGrantWindow"));
        assert!(role.trust.contains("sts:ExternalId"));
        assert!(
            role.tags
                .iter()
                .any(|(k, v)| k == "audit-grants:ticket" && v == "SCALE-1")
        );
    }
    // The record round-trips through the stand-in's DynamoDB.
    let shown = svc.get(&Ticket::parse("SCALE-1").unwrap()).await.unwrap();
    assert_eq!(shown.roles, g.roles);
    let calls = standin.calls();
    assert_eq!(calls["sts:AssumeRole"], 2, "{calls:?}");
    svc.revoke(&Ticket::parse("SCALE-1").unwrap(), None, &operator())
        .await
        .unwrap();
    assert_eq!(standin.role_count(), 0);
}

#[tokio::test]
async fn iam_throttling_per_account_is_answered_as_aws_does_and_absorbed_by_the_sdks_retries() {
    let standin = StandIn::start(StandInConfig {
        iam_writes_per_second: Some(4.0),
        ..instant()
    });
    let svc = service(&standin, &[]).await;
    for i in 0..3 {
        create(&svc, &request(&format!("THROTTLE-{i}")))
            .await
            .unwrap();
    }
    assert!(standin.throttled() > 0, "{:?}", standin.calls());
    let end = chrono::Utc::now() + chrono::Duration::hours(80);
    let report = svc.sweep(sweep_at(end)).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.torn_down.len(), 3);
    assert_eq!(standin.role_count(), 0);
}

#[tokio::test]
async fn a_sweep_holds_every_account_of_a_grant_to_one_teardown_at_a_time() {
    // Two grants whose first accounts differ share a third account: with one
    // grant per account in flight, that account never sees both at once.
    let standin = StandIn::start(StandInConfig {
        iam_latency: Duration::from_millis(20),
        ..instant()
    });
    let svc = service(
        &standin,
        &[
            ("TARGET_ACCOUNTS", "222222222222,333333333333,444444444444"),
            ("SWEEP_CONCURRENCY", "8"),
        ],
    )
    .await;
    for (t, accounts) in [
        ("SHARED-1", ["222222222222", "444444444444"]),
        ("SHARED-2", ["333333333333", "444444444444"]),
    ] {
        let mut req = request(t);
        req["target_accounts"] = serde_json::json!(accounts);
        create(&svc, &req).await.unwrap();
    }
    standin.reset_counters();
    let report = svc
        .sweep(sweep_at(chrono::Utc::now() + chrono::Duration::hours(80)))
        .await
        .unwrap();
    assert_eq!(report.torn_down.len(), 2, "{report:?}");
    // One teardown at a time there (a teardown itself sends up to four
    // requests for its role at once: the session deny, trust-no-one and the
    // two listings).
    assert_eq!(standin.max_roles_in_flight("444444444444"), 1);
    assert!(standin.max_iam_in_flight("444444444444") > 1);
    assert_eq!(standin.role_count(), 0);
}
