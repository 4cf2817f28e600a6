//! Every rule of the service, over in-memory fakes of every port: no emulator,
//! milliseconds each. Named after the rule of SPEC.md they check. The same
//! behaviours end to end, through the real SDK, are in `tests/emulator/`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{Created, GrantService, Mode, ROLE_DELETED_OUT_OF_BAND, SweepOptions};
use crate::config::Settings;
use crate::domain::{
    Ending, Grant, GrantRequestBody, GrantStatus, Reason, TAG_EXPIRES_AT, TAG_MANAGED_BY,
    TAG_TICKET, Ticket, format_timestamp, parse_timestamp,
};
use crate::error::{Error, ErrorCode};
use crate::fakes::FakeStore;
use crate::fakes::{FakeClock, FakeIam, FixedIdentity, IamOp, StoreOp};
use crate::ports::{ProvisionError, StoreError};

const OWN: &str = "123456789012";
const AUDITOR: &str = "210987654321";
const AUDITOR_ROLE: &str = "arn:aws:iam::210987654321:role/ExternalAuditor";
const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary";

struct Harness {
    store: FakeStore,
    iam: FakeIam,
    clock: FakeClock,
    service: GrantService,
}

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-12-01T09:00:00Z").unwrap()
}

fn harness() -> Harness {
    harness_with(&[])
}

fn harness_with(extra: &[(&str, &str)]) -> Harness {
    let mut env: Vec<(String, String)> = vec![
        ("GRANTS_TABLE".into(), "grants".into()),
        ("PERMISSIONS_BOUNDARY_ARN".into(), BOUNDARY.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::from_lookup(|k| {
        env.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    })
    .expect("valid settings");
    let (store, iam, clock) = (
        FakeStore::default(),
        FakeIam::default(),
        FakeClock::at(now()),
    );
    let service = GrantService::new(
        Arc::new(store.clone()),
        Arc::new(iam.clone()),
        Arc::new(FixedIdentity::in_account(OWN)),
        Arc::new(clock.clone()),
        Arc::new(settings),
    );
    Harness {
        store,
        iam,
        clock,
        service,
    }
}

fn request_json(ticket: &str) -> Value {
    json!({
        "ticket": ticket,
        "requested_by": "jane.doe@example.com",
        "auditor_account": AUDITOR,
        "principals": [AUDITOR_ROLE],
        "duration": "72h",
        "reason": "FY26 SOC 2 fieldwork",
    })
}

fn body(v: &Value) -> GrantRequestBody {
    GrantRequestBody::from_json(v).expect("a well-shaped request")
}

fn ticket(t: &str) -> Ticket {
    Ticket::parse(t).unwrap()
}

fn code(e: &Error) -> (ErrorCode, Option<&str>) {
    (e.code(), e.field_name())
}

fn sweep_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::Apply,
        deadline: None,
    }
}

impl Harness {
    async fn create(&self, v: &Value) -> Result<Created, Error> {
        self.service.create(&body(v)).await
    }

    async fn active(&self, t: &str) -> Grant {
        let g = self.create(&request_json(t)).await.unwrap().grant().clone();
        assert_eq!(g.status, GrantStatus::Active);
        g
    }

    fn statuses(&self, t: &str) -> Vec<GrantStatus> {
        self.store.events(t).iter().map(|e| e.to).collect()
    }
}

// ---- create ----------------------------------------------------------------------

#[tokio::test]
async fn a_grant_creates_one_role_trusting_exactly_the_principals_with_boundary_tags_and_preset() {
    let h = harness();
    let g = h.active("AUD-1042").await;
    let role = h.iam.role(OWN, &g.role_name).expect("the role exists");
    let trust = serde_json::to_value(&role.trust).unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Principal"]["AWS"], json!([AUDITOR_ROLE]));
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        g.external_id.as_str()
    );
    assert_eq!(
        statement["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
        "2026-12-01T09:00:00Z"
    );
    assert_eq!(
        statement["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-12-04T09:00:00Z"
    );
    assert_eq!(role.boundary.as_deref(), Some(BOUNDARY));
    assert_eq!(role.spec.max_session_seconds, 3600);
    assert_eq!(role.spec.path, "/audit-grants/");
    assert_eq!(
        role.attached,
        ["arn:aws:iam::aws:policy/SecurityAudit".to_owned()]
    );
    let tag = |k: &str| {
        role.tags
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(tag(TAG_TICKET), Some("AUD-1042"));
    assert_eq!(tag(TAG_EXPIRES_AT), Some("2026-12-04T09:00:00Z"));
    assert_eq!(tag(TAG_MANAGED_BY), Some("audit-grants"));
    assert_eq!(
        g.role_arn,
        format!("arn:aws:iam::{OWN}:role/audit-grants/{}", g.role_name)
    );
    assert_eq!(
        h.statuses("AUD-1042"),
        [GrantStatus::Pending, GrantStatus::Active]
    );
}

#[tokio::test]
async fn the_same_request_again_returns_the_grant_and_changes_nothing() {
    let h = harness();
    let first = h.active("AUD-REPLAY").await;
    // A replay half an hour later: its defaulted `start` would differ, the request does not.
    h.clock.advance(Duration::minutes(30));
    let again = h.create(&request_json("AUD-REPLAY")).await.unwrap();
    assert!(matches!(again, Created::Existing(_)));
    assert_eq!(again.grant(), &first);
    assert_eq!(h.iam.count(IamOp::Provision), 1);
    assert_eq!(h.store.events("AUD-REPLAY").len(), 2);
}

#[tokio::test]
async fn the_same_ticket_with_a_different_request_is_a_conflict() {
    let h = harness();
    h.active("AUD-CONFLICT").await;
    let mut other = request_json("AUD-CONFLICT");
    other["duration"] = json!("24h");
    let e = h.create(&other).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::Conflict, None));
    assert_eq!(h.iam.count(IamOp::Provision), 1);
}

#[tokio::test]
async fn an_ended_ticket_is_never_granted_again_not_even_by_an_identical_replay() {
    let h = harness();
    h.active("AUD-ENDED").await;
    h.service.revoke(&ticket("AUD-ENDED"), None).await.unwrap();
    for req in [request_json("AUD-ENDED"), {
        let mut r = request_json("AUD-ENDED");
        r["duration"] = json!("1h");
        r
    }] {
        let e = h.create(&req).await.unwrap_err();
        assert_eq!(code(&e), (ErrorCode::TicketEnded, None));
    }
    assert_eq!(h.iam.role_count(), 0);
}

#[tokio::test]
async fn a_rejected_request_changes_nothing() {
    let h = harness();
    let mut bad = request_json("AUD-BAD");
    bad["principals"] = json!(["arn:aws:iam::210987654321:role/*"]);
    let e = h.create(&bad).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals[0]")));
    assert!(h.store.is_empty());
    assert!(h.iam.calls().is_empty());
    assert!(!h.store.calls().contains(&StoreOp::Insert));
}

#[tokio::test]
async fn a_trust_policy_over_the_limit_is_rejected_before_any_call() {
    let long: Vec<String> = (0..5)
        .map(|i| format!("arn:aws:iam::{AUDITOR}:role/{}/r{i}", "p".repeat(150)))
        .collect();
    let mut req = request_json("AUD-BIG");
    req["principals"] = json!(long);
    req["external_id"] = json!("e".repeat(1000));
    let h = harness();
    let e = h.create(&req).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals")));
    assert!(h.store.is_empty() && h.iam.calls().is_empty());
    // An account whose limit was raised (TRUST_POLICY_MAX_CHARS) accepts it.
    let raised = harness_with(&[("TRUST_POLICY_MAX_CHARS", "4096")]);
    assert!(raised.create(&req).await.is_ok());
}

#[tokio::test]
async fn another_target_account_must_be_listed_in_target_accounts() {
    let mut req = request_json("AUD-OTHER");
    req["target_account"] = json!("222222222222");
    let e = harness().create(&req).await.unwrap_err();
    assert_eq!(
        code(&e),
        (ErrorCode::TargetNotAllowed, Some("target_account"))
    );
    let h = harness_with(&[("TARGET_ACCOUNTS", "222222222222")]);
    let g = h.create(&req).await.unwrap().grant().clone();
    assert!(h.iam.role("222222222222", &g.role_name).is_some());
    let role = h.iam.role("222222222222", &g.role_name).unwrap();
    assert_eq!(
        role.boundary.as_deref(),
        Some("arn:aws:iam::222222222222:policy/audit-grants/audit-grants-boundary"),
        "the boundary of the same path and name in the target account"
    );
}

#[tokio::test]
async fn a_principal_iam_refuses_is_a_rejection_naming_principals_and_leaves_no_role() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected("Invalid principal in policy".into()),
    );
    let e = h.create(&request_json("AUD-TYPO")).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals")));
    assert_eq!(h.iam.role_count(), 0);
    let g = h.store.grant("AUD-TYPO").unwrap();
    assert_eq!(g.status, GrantStatus::Failed);
    assert!(g.is_ended(), "version 1: the refused ticket is used up");
}

#[tokio::test]
async fn a_role_of_that_name_that_is_not_ours_is_never_adopted() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::ForeignRole("audit-x".into()),
    );
    let e = h.create(&request_json("AUD-SQUAT")).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let g = h.store.grant("AUD-SQUAT").unwrap();
    assert_eq!((g.status, g.is_ended()), (GrantStatus::Failed, true));
    assert_eq!(
        h.iam.count(IamOp::Teardown),
        0,
        "nothing of someone else's is touched"
    );
}

#[tokio::test]
async fn a_failed_provisioning_is_recorded_and_resumed_by_the_next_delivery() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("Throttling")),
    );
    let e = h.create(&request_json("AUD-RETRY")).await.unwrap_err();
    assert!(e.is_retryable());
    let g = h.store.grant("AUD-RETRY").unwrap();
    assert_eq!((g.status, g.attempts), (GrantStatus::Failed, 1));
    assert!(g.last_error.unwrap().contains("Throttling"));
    let again = h.create(&request_json("AUD-RETRY")).await.unwrap();
    assert_eq!(again.grant().status, GrantStatus::Active);
    assert_eq!(again.grant().attempts, 0);
}

#[tokio::test]
async fn a_provisioning_that_loses_the_race_to_a_revoke_removes_the_role_it_made() {
    let h = harness();
    // While the role is being made, a revoke begins (another writer).
    h.store.before_next_update(Box::new(|grants| {
        let g = grants.get_mut(&ticket("AUD-LATE")).unwrap();
        g.status = GrantStatus::Revoking;
        g.ending = Some(Ending::Revoked);
        g.version += 1;
    }));
    let g = h
        .create(&request_json("AUD-LATE"))
        .await
        .unwrap()
        .grant()
        .clone();
    assert_eq!(g.status, GrantStatus::Revoking);
    assert_eq!(h.iam.role_count(), 0, "the teardown is re-applied");
}

// ---- revoke ------------------------------------------------------------------------

#[tokio::test]
async fn a_revoke_tears_the_role_down_and_records_why_and_when() {
    let h = harness();
    let g = h.active("AUD-REVOKE").await;
    h.clock.advance(Duration::hours(1));
    let reason = Reason::parse("fieldwork finished early").unwrap();
    let r = h
        .service
        .revoke(&ticket("AUD-REVOKE"), Some(&reason))
        .await
        .unwrap();
    assert_eq!(r.status, GrantStatus::Revoked);
    assert_eq!(r.end_reason.as_deref(), Some("fieldwork finished early"));
    assert_eq!(r.ended_at, Some(now() + Duration::hours(1)));
    assert!(h.iam.role(OWN, &g.role_name).is_none());
    assert_eq!(
        h.statuses("AUD-REVOKE"),
        [
            GrantStatus::Pending,
            GrantStatus::Active,
            GrantStatus::Revoking,
            GrantStatus::Revoked
        ]
    );
}

#[tokio::test]
async fn revoking_an_ended_grant_changes_nothing_and_an_unknown_ticket_is_not_found() {
    let h = harness();
    h.active("AUD-TWICE").await;
    let first = h.service.revoke(&ticket("AUD-TWICE"), None).await.unwrap();
    assert_eq!(
        first.end_reason.as_deref(),
        Some("revoked"),
        "the default reason"
    );
    let teardowns = h.iam.count(IamOp::Teardown);
    let again = h.service.revoke(&ticket("AUD-TWICE"), None).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(h.iam.count(IamOp::Teardown), teardowns);
    let e = h
        .service
        .revoke(&ticket("AUD-NOPE"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn a_failed_teardown_is_recorded_and_finished_by_the_next_sweep() {
    let h = harness();
    let g = h.active("AUD-STUCK").await;
    h.iam.fail_next(
        IamOp::Teardown,
        ProvisionError::Aws(anyhow::anyhow!("ServiceFailure")),
    );
    let e = h
        .service
        .revoke(&ticket("AUD-STUCK"), None)
        .await
        .unwrap_err();
    assert!(e.is_retryable());
    let failed = h.store.grant("AUD-STUCK").unwrap();
    assert_eq!(
        (failed.status, failed.ending),
        (GrantStatus::Failed, Some(Ending::Revoked))
    );
    let report = h.service.sweep(sweep_at(h.service.now())).await.unwrap();
    assert_eq!(report.torn_down, ["AUD-STUCK"]);
    let done = h.store.grant("AUD-STUCK").unwrap();
    assert_eq!(
        done.status,
        GrantStatus::Revoked,
        "it keeps the ending it began with"
    );
    assert!(h.iam.role(OWN, &g.role_name).is_none());
}

#[tokio::test]
async fn a_revoke_that_loses_a_write_race_reads_again_and_finishes() {
    let h = harness();
    h.active("AUD-RACE").await;
    // Another writer bumps the version just before our first write.
    h.store.before_next_update(Box::new(|grants| {
        grants.get_mut(&ticket("AUD-RACE")).unwrap().version += 1;
    }));
    let r = h.service.revoke(&ticket("AUD-RACE"), None).await.unwrap();
    assert_eq!(r.status, GrantStatus::Revoked);
}

#[tokio::test]
async fn a_store_failure_is_ours_retryable_and_leaves_the_grant_as_it_was() {
    let h = harness();
    h.active("AUD-DDB").await;
    h.store.fail_next(
        StoreOp::Update,
        StoreError::Other(anyhow::anyhow!("ProvisionedThroughputExceeded")),
    );
    let e = h
        .service
        .revoke(&ticket("AUD-DDB"), None)
        .await
        .unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(
        h.store.grant("AUD-DDB").unwrap().status,
        GrantStatus::Active
    );
}

// ---- extend ------------------------------------------------------------------------

#[tokio::test]
async fn an_extend_moves_the_record_the_trust_condition_and_the_expiry_tag_together() {
    let h = harness();
    let g = h.active("AUD-EXT").await;
    let end = parse_timestamp("2026-12-10T17:00:00Z").unwrap();
    let e = h.service.extend(&ticket("AUD-EXT"), end).await.unwrap();
    assert_eq!(e.window.end(), end);
    assert_eq!(e.window.start(), g.window.start());
    let role = h.iam.role(OWN, &g.role_name).unwrap();
    assert_eq!(role.expires_at, "2026-12-10T17:00:00Z");
    let trust = serde_json::to_value(&role.trust).unwrap();
    assert_eq!(
        trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-12-10T17:00:00Z"
    );
    let last = h.store.events("AUD-EXT").pop().unwrap();
    assert_eq!(
        last.reason,
        "end moved from 2026-12-04T09:00:00Z to 2026-12-10T17:00:00Z"
    );
    // The same extend again re-applies IAM and records nothing new.
    h.service.extend(&ticket("AUD-EXT"), end).await.unwrap();
    assert_eq!(h.store.events("AUD-EXT").len(), 3);
    assert_eq!(h.iam.count(IamOp::UpdateWindow), 2);
}

#[tokio::test]
async fn an_extend_may_move_the_end_earlier_but_never_before_now_or_past_the_maximum() {
    let h = harness();
    h.active("AUD-EXT2").await;
    let earlier = now() + Duration::hours(2);
    assert_eq!(
        h.service
            .extend(&ticket("AUD-EXT2"), earlier)
            .await
            .unwrap()
            .window
            .end(),
        earlier
    );
    for (end, what) in [
        (now() - Duration::minutes(1), "in the past"),
        (now() + Duration::days(31), "past MAX_GRANT_DURATION"),
    ] {
        let e = h
            .service
            .extend(&ticket("AUD-EXT2"), end)
            .await
            .unwrap_err();
        assert_eq!(code(&e), (ErrorCode::InvalidField, Some("end")), "{what}");
    }
}

#[tokio::test]
async fn only_an_active_grant_can_be_extended() {
    let h = harness();
    h.active("AUD-EXT3").await;
    h.service.revoke(&ticket("AUD-EXT3"), None).await.unwrap();
    let e = h
        .service
        .extend(&ticket("AUD-EXT3"), now() + Duration::days(5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = h
        .service
        .extend(&ticket("AUD-NONE"), now() + Duration::days(5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn an_extend_racing_a_teardown_never_leaves_the_role_behind() {
    let h = harness();
    let g = h.active("AUD-EXTRACE").await;
    // Right after the extend re-opened the trust, another invocation begins a
    // revoke (and has already put trust-no-one in place, which ours overwrote).
    let store = h.store.clone();
    h.iam.after_next(
        IamOp::UpdateWindow,
        Box::new(move || {
            let mut stored = store.grant("AUD-EXTRACE").unwrap();
            stored.status = GrantStatus::Revoking;
            stored.ending = Some(Ending::Revoked);
            stored.version += 1;
            store.put(stored);
        }),
    );
    let after = h
        .service
        .extend(&ticket("AUD-EXTRACE"), now() + Duration::days(5))
        .await
        .unwrap();
    assert_eq!(after.status, GrantStatus::Revoking);
    assert!(
        h.iam.role(OWN, &g.role_name).is_none(),
        "the teardown is re-applied"
    );
}

// ---- sweep -------------------------------------------------------------------------

#[tokio::test]
async fn a_sweep_tears_down_only_what_is_due_and_a_dry_run_changes_nothing() {
    let h = harness();
    let due = h.active("AUD-DUE").await;
    let mut long = request_json("AUD-LATER");
    long["duration"] = json!("10d");
    h.create(&long).await.unwrap();
    let as_of = now() + Duration::hours(73);
    let dry = h
        .service
        .sweep(SweepOptions {
            mode: Mode::DryRun,
            ..sweep_at(as_of)
        })
        .await
        .unwrap();
    assert_eq!(dry.due, ["AUD-DUE"]);
    assert!(dry.torn_down.is_empty());
    assert_eq!(h.iam.role_count(), 2);
    let report = h.service.sweep(sweep_at(as_of)).await.unwrap();
    assert_eq!(report.torn_down, ["AUD-DUE"]);
    assert!(h.iam.role(OWN, &due.role_name).is_none());
    let g = h.store.grant("AUD-DUE").unwrap();
    assert_eq!(
        (g.status, g.end_reason.as_deref()),
        (GrantStatus::Expired, Some("window ended"))
    );
    assert_eq!(
        h.store.grant("AUD-LATER").unwrap().status,
        GrantStatus::Active
    );
    let second = h.service.sweep(sweep_at(as_of)).await.unwrap();
    assert!(second.due.is_empty(), "nothing is due twice");
    assert!(!h.store.calls().is_empty());
}

#[tokio::test]
async fn one_failing_grant_does_not_stop_the_sweep() {
    let h = harness();
    h.active("AUD-A").await;
    h.active("AUD-B").await;
    h.iam.fail_next(
        IamOp::Teardown,
        ProvisionError::Aws(anyhow::anyhow!("ServiceFailure")),
    );
    let report = h
        .service
        .sweep(sweep_at(now() + Duration::hours(73)))
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.torn_down.len(), 1);
    let next = h
        .service
        .sweep(sweep_at(now() + Duration::hours(74)))
        .await
        .unwrap();
    assert_eq!(next.torn_down.len(), 1, "the failure is retried next run");
    assert_eq!(h.iam.role_count(), 0);
}

#[tokio::test]
async fn a_sweep_resumes_a_stale_pending_grant_and_leaves_a_fresh_one_alone() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("timeout")),
    );
    let _ = h.create(&request_json("AUD-RESUME")).await;
    // A `failed` provisioning is due at once and resumed.
    let report = h.service.sweep(sweep_at(now())).await.unwrap();
    assert_eq!(report.resumed, ["AUD-RESUME"]);
    assert_eq!(
        h.store.grant("AUD-RESUME").unwrap().status,
        GrantStatus::Active
    );
}

#[tokio::test]
async fn a_grant_that_keeps_failing_to_provision_is_given_up_and_cleaned_up() {
    let h = harness();
    for _ in 0..super::create::MAX_PROVISION_ATTEMPTS {
        h.iam.fail_next(
            IamOp::Provision,
            ProvisionError::Aws(anyhow::anyhow!("NoSuchEntity: boundary")),
        );
    }
    let _ = h.create(&request_json("AUD-GIVEUP")).await;
    for minute in 1..super::create::MAX_PROVISION_ATTEMPTS {
        let r = h
            .service
            .sweep(sweep_at(now() + Duration::minutes(i64::from(minute))))
            .await
            .unwrap();
        assert_eq!(r.failed.len(), 1, "attempt {minute} fails and is reported");
    }
    let r = h
        .service
        .sweep(sweep_at(now() + Duration::minutes(10)))
        .await
        .unwrap();
    assert_eq!(r.torn_down, ["AUD-GIVEUP"]);
    let g = h.store.grant("AUD-GIVEUP").unwrap();
    assert_eq!((g.status, g.is_ended()), (GrantStatus::Failed, true));
    assert!(
        g.end_reason
            .unwrap()
            .starts_with("gave up after 5 failed provisioning attempts")
    );
}

#[tokio::test]
async fn a_sweep_past_its_deadline_defers_the_work_to_the_next_run() {
    let h = harness();
    h.active("AUD-D1").await;
    h.active("AUD-D2").await;
    let report = h
        .service
        .sweep(SweepOptions {
            deadline: Some(tokio::time::Instant::now()),
            ..sweep_at(now() + Duration::hours(73))
        })
        .await
        .unwrap();
    assert_eq!(report.deferred, ["AUD-D1", "AUD-D2"]);
    assert_eq!(h.iam.role_count(), 2);
}

#[tokio::test]
async fn a_teardown_whose_invocation_died_is_finished_by_a_later_sweep() {
    let h = harness();
    let mut g = h.active("AUD-INFLIGHT").await;
    g.status = GrantStatus::Revoking;
    g.ending = Some(Ending::Revoked);
    g.updated_at = now() + Duration::hours(73);
    g.version += 1;
    h.store.put(g);
    let report = h
        .service
        .sweep(sweep_at(now() + Duration::hours(73) + Duration::minutes(6)))
        .await
        .unwrap();
    assert!(
        report.torn_down.contains(&"AUD-INFLIGHT".to_owned()),
        "stale: finished here"
    );
}

#[tokio::test]
async fn a_grant_ended_while_provisioning_is_checked_once_more_for_a_late_role() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("timeout")),
    );
    let _ = h.create(&request_json("AUD-RECHECK")).await;
    let revoked = h
        .service
        .revoke(&ticket("AUD-RECHECK"), None)
        .await
        .unwrap();
    assert!(revoked.recheck, "a provisioning may still be in flight");
    let r = h
        .service
        .sweep(sweep_at(h.service.now() + Duration::minutes(6)))
        .await
        .unwrap();
    assert_eq!(r.verified, ["AUD-RECHECK"]);
    assert!(!h.store.grant("AUD-RECHECK").unwrap().recheck);
}

// ---- reconcile -----------------------------------------------------------------------

#[tokio::test]
async fn reconcile_removes_orphans_repairs_drift_ends_deleted_and_never_touches_foreign_roles() {
    let h = harness();
    let live = h.active("AUD-LIVE").await;
    let gone = h.active("AUD-GONE").await;
    let orphan = h.active("AUD-ORPHAN").await;
    // The orphan's record is lost (its role stays); the live role drifts; the
    // other role is deleted by hand; someone else's role shares the path.
    let mut lost = h.store.grant("AUD-ORPHAN").unwrap();
    lost.status = GrantStatus::Expired;
    lost.ended_at = Some(now());
    lost.version += 1;
    h.store.put(lost);
    h.iam.tamper(OWN, &live.role_name, |r| {
        r.attached
            .push("arn:aws:iam::aws:policy/AdministratorAccess".into())
    });
    h.iam.delete_out_of_band(OWN, &gone.role_name);
    let mut foreign = h.iam.role(OWN, &live.role_name).unwrap();
    foreign.spec.role_name = "someone-elses".into();
    foreign.tags.retain(|(k, _)| k != TAG_MANAGED_BY);
    h.iam.put_role(foreign);
    h.clock.advance(Duration::minutes(10));

    let dry = h.service.reconcile(Mode::DryRun).await.unwrap();
    assert_eq!(dry.orphans.len(), 1);
    assert_eq!(dry.repaired.len(), 1);
    assert_eq!(dry.ended, ["AUD-GONE"]);
    assert_eq!(h.iam.role_count(), 3, "a dry run changes nothing");

    let done = h.service.reconcile(Mode::Apply).await.unwrap();
    assert!(done.orphans[0].ends_with(&orphan.role_name));
    assert_eq!(done.repaired[0].drift, ["attached policies"]);
    assert_eq!(done.foreign.len(), 1);
    assert!(h.iam.role(OWN, &orphan.role_name).is_none());
    assert_eq!(
        h.iam.role(OWN, &live.role_name).unwrap().attached,
        ["arn:aws:iam::aws:policy/SecurityAudit".to_owned()]
    );
    assert!(h.iam.role(OWN, "someone-elses").is_some());
    let ended = h.store.grant("AUD-GONE").unwrap();
    assert_eq!(
        (ended.status, ended.end_reason.as_deref()),
        (GrantStatus::Revoked, Some(ROLE_DELETED_OUT_OF_BAND))
    );
    let again = h.service.reconcile(Mode::Apply).await.unwrap();
    assert!(again.orphans.is_empty() && again.repaired.is_empty() && again.ended.is_empty());
}

// ---- reads -----------------------------------------------------------------------------

#[tokio::test]
async fn list_is_oldest_first_and_filters_by_status_and_show_gives_the_history() {
    let h = harness();
    h.active("AUD-2").await;
    h.clock.advance(Duration::seconds(1));
    h.active("AUD-1").await;
    h.service.revoke(&ticket("AUD-2"), None).await.unwrap();
    let all: Vec<String> = h
        .service
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|g| g.ticket.to_string())
        .collect();
    assert_eq!(all, ["AUD-2", "AUD-1"]);
    let active = h.service.list(Some(GrantStatus::Active)).await.unwrap();
    assert_eq!(active.len(), 1);
    let (g, history) = h.service.show(&ticket("AUD-2")).await.unwrap();
    assert_eq!(g.status, GrantStatus::Revoked);
    assert_eq!(history.len(), 4);
    assert_eq!(format_timestamp(history[0].at), "2026-12-01T09:00:00Z");
}
