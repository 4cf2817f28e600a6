//! Races, run truly concurrently against the emulator: exactly one teardown,
//! a consistent final record, and no error a caller should not see. Also the
//! sweeper's bounded concurrency and its Lambda deadline.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use audit_grants::domain::RoleRef;
use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::error::ErrorCode;
use audit_grants::ports::{ProvisionError, RoleProvisioner, RoleSpec};
use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::json;

fn count(calls: &[String], op: &str) -> usize {
    calls.iter().filter(|c| *c == op).count()
}

async fn grant(env: &TestEnv, ticket: &str, duration: &str) {
    let mut req = request(ticket);
    req["duration"] = json!(duration);
    create(&env.service, &req).await.unwrap();
}

#[tokio::test]
async fn a_revoke_racing_a_sweep_tears_down_once_and_both_callers_see_the_end() {
    let env = TestEnv::new().await;
    for round in 0..5 {
        let ticket_text = format!("AUD-RVS-{round}");
        grant(&env, &ticket_text, "1h").await;
        let ticket = Ticket::parse(&ticket_text).unwrap();
        // The window has ended; the scheduled sweep runs as of now.
        env.clock.advance(Duration::hours(2));
        let as_of = env.now();
        env.calls.take();
        let stop = reason("stop");
        let who = operator();
        let (revoked, swept) = tokio::join!(
            env.service.revoke(&ticket, Some(&stop), &who),
            env.service.sweep(sweep_at(as_of))
        );
        let revoked = revoked.expect("the revoke answers");
        let swept = swept.expect("the sweep answers");
        assert!(swept.failed.is_empty(), "{swept:?}");
        assert!(
            revoked.is_ended(),
            "the revoke answers with the end: {revoked:?}"
        );
        let calls = env.calls.take();
        assert_eq!(
            count(&calls, "iam:DeleteRole"),
            1,
            "one teardown: {calls:?}"
        );
        assert_eq!(
            count(&calls, "iam:PutRolePolicy"),
            1,
            "one teardown: {calls:?}"
        );
        let (g, history) = env.service.show(&ticket).await.unwrap();
        assert!(matches!(
            g.status,
            GrantStatus::Revoked | GrantStatus::Expired
        ));
        assert_eq!(g, revoked, "the caller saw the final record");
        let to: Vec<GrantStatus> = history.iter().map(|e| e.to).collect();
        assert_eq!(
            to.iter().filter(|s| **s == GrantStatus::Revoking).count(),
            1,
            "{to:?}"
        );
        assert_eq!(to.len(), 4, "pending, active, revoking, end: {to:?}");
        assert!(env.role(&ticket.role_name()).await.is_none());
    }
}

#[tokio::test]
async fn an_extend_racing_a_sweep_ends_in_one_consistent_state() {
    let env = TestEnv::new().await;
    for round in 0..5 {
        let ticket_text = format!("AUD-EXS-{round}");
        grant(&env, &ticket_text, "1h").await;
        let ticket = Ticket::parse(&ticket_text).unwrap();
        let g = env.service.get(&ticket).await.unwrap();
        // The sweep runs as of just after the old end; the extend moves it later.
        let new_end = g.window.end() + Duration::hours(3);
        let as_of = g.window.end() + Duration::minutes(1);
        let who = operator();
        let (extended, swept) = tokio::join!(
            env.service.extend(&ticket, new_end, &who),
            env.service.sweep(sweep_at(as_of))
        );
        let swept = swept.expect("the sweep answers");
        assert!(swept.failed.is_empty(), "{swept:?}");
        let g = env.service.get(&ticket).await.unwrap();
        let role = env.role(&ticket.role_name()).await;
        match (&extended, g.status) {
            (Ok(_), GrantStatus::Active) => {
                assert_eq!(g.window.end(), new_end);
                let trust = env.trust_policy(&ticket.role_name()).await;
                assert_eq!(
                    trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
                    audit_grants::domain::format_timestamp(new_end),
                    "trust and record agree"
                );
                assert!(!swept.torn_down.contains(&ticket_text));
            }
            (Err(e), GrantStatus::Expired) => {
                assert_eq!(e.code(), ErrorCode::Conflict, "{e}");
                assert!(role.is_none());
            }
            // The extend landed first, then the sweep saw the grant no longer due,
            // or the sweep's teardown won and the extend re-applied it: ended.
            (Ok(_), GrantStatus::Expired) => assert!(role.is_none()),
            (r, s) => panic!("inconsistent: extend {r:?}, grant {s}"),
        }
    }
}

#[tokio::test]
async fn two_sweeps_at_once_tear_each_grant_down_once() {
    let env = TestEnv::new().await;
    let tickets: Vec<String> = (0..6).map(|i| format!("AUD-2SW-{i}")).collect();
    for t in &tickets {
        grant(&env, t, "1h").await;
    }
    env.clock.advance(Duration::hours(2));
    let as_of = env.now();
    env.calls.take();
    let (a, b) = tokio::join!(
        env.service.sweep(sweep_at(as_of)),
        env.service.sweep(sweep_at(as_of))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    let mut all: Vec<String> = a.torn_down.iter().chain(&b.torn_down).cloned().collect();
    all.sort();
    assert_eq!(all, tickets, "each grant torn down by exactly one sweep");
    assert_eq!(count(&env.calls.take(), "iam:DeleteRole"), 6);
    assert!(env.roles().await.is_empty());
}

/// The real IAM adapter, slowed down and watched: how many teardowns run at once.
struct Watched {
    inner: audit_grants::aws::iam::IamRoles,
    delay: StdDuration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait::async_trait]
impl RoleProvisioner for Watched {
    async fn list_roles(
        &self,
        target: &audit_grants::domain::AccountId,
        path: &str,
    ) -> Result<Vec<audit_grants::ports::ListedRole>, audit_grants::ports::ProvisionError> {
        self.inner.list_roles(target, path).await
    }
    async fn inspect_role(
        &self,
        target: &audit_grants::domain::AccountId,
        name: &str,
    ) -> Result<Option<audit_grants::ports::ObservedRole>, audit_grants::ports::ProvisionError>
    {
        self.inner.inspect_role(target, name).await
    }
    async fn provision(
        &self,
        spec: &RoleSpec,
    ) -> Result<audit_grants::ports::ProvisionedRole, ProvisionError> {
        self.inner.provision(spec).await
    }
    async fn update_window(
        &self,
        role: &RoleRef,
        window: &audit_grants::ports::WindowUpdate,
    ) -> Result<(), ProvisionError> {
        self.inner.update_window(role, window).await
    }
    async fn teardown(
        &self,
        role: &RoleRef,
        now: DateTime<Utc>,
    ) -> Result<audit_grants::ports::Teardown, ProvisionError> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let r = self.inner.teardown(role, now).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

fn watched(env: &TestEnv, delay_ms: u64) -> Arc<Watched> {
    Arc::new(Watched {
        inner: env.iam_roles(),
        delay: StdDuration::from_millis(delay_ms),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn the_sweeper_tears_down_with_bounded_concurrency() {
    let env = TestEnv::with(
        &[
            ("SWEEP_CONCURRENCY", "3"),
            ("SWEEP_ACCOUNT_CONCURRENCY", "8"),
        ],
        Utc::now(),
    )
    .await;
    for i in 0..8 {
        grant(&env, &format!("AUD-BND-{i}"), "1h").await;
    }
    let w = watched(&env, 150);
    let service = env.service_with(w.clone());
    let r = service
        .sweep(sweep_at(env.now() + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(r.torn_down.len(), 8, "{r:?}");
    let max = w.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 3, "at most SWEEP_CONCURRENCY at once: {max}");
    assert!(max >= 2, "and really concurrent: {max}");
}

#[tokio::test]
async fn the_sweeper_holds_one_accounts_grants_to_sweep_account_concurrency() {
    // All in one account: IAM throttles mutating calls per account.
    let env = TestEnv::with(&[("SWEEP_CONCURRENCY", "8")], Utc::now()).await;
    for i in 0..4 {
        grant(&env, &format!("AUD-ONE-ACCT-{i}"), "1h").await;
    }
    let w = watched(&env, 100);
    let service = env.service_with(w.clone());
    let r = service
        .sweep(sweep_at(env.now() + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(r.torn_down.len(), 4, "{r:?}");
    assert_eq!(
        w.max_in_flight.load(Ordering::SeqCst),
        1,
        "one at a time by default"
    );
}

#[tokio::test]
async fn the_sweeper_stops_taking_work_near_the_deadline_and_leaves_the_rest_for_the_next_run() {
    let env = TestEnv::with(&[("SWEEP_CONCURRENCY", "1")], Utc::now()).await;
    let tickets: Vec<String> = (0..5).map(|i| format!("AUD-DL-{i}")).collect();
    for t in &tickets {
        grant(&env, t, "1h").await;
    }
    let w = watched(&env, 300);
    let service = env.service_with(w.clone());
    let as_of = env.now() + Duration::hours(2);
    let deadline = tokio::time::Instant::now() + StdDuration::from_millis(700);
    let first = service
        .sweep(SweepOptions {
            as_of,
            mode: Mode::Apply,
            deadline: Some(deadline),
        })
        .await
        .unwrap();
    assert!(!first.torn_down.is_empty(), "{first:?}");
    assert!(
        !first.deferred.is_empty(),
        "work left for the next run: {first:?}"
    );
    assert_eq!(first.torn_down.len() + first.deferred.len(), 5);
    assert!(first.failed.is_empty());
    // The deferred grants are untouched and still due.
    for t in &first.deferred {
        let g = env.service.get(&Ticket::parse(t).unwrap()).await.unwrap();
        assert_eq!(g.status, GrantStatus::Active);
    }
    let next = service.sweep(sweep_at(as_of)).await.unwrap();
    assert_eq!(next.torn_down, first.deferred);
    assert!(env.roles().await.is_empty());
}
