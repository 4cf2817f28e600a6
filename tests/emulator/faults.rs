//! Nothing left behind, whatever fails: every AWS call of a grant and of a
//! teardown is made to fail in each way AWS fails, and one re-delivery or one
//! sweep must then converge. The matrix is printed (run with --nocapture) and
//! written to target/fault-matrix.txt.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use chrono::Duration;
use common::*;
use serde_json::Value;

const TICKET: &str = "AUD-FAULT";

fn ticket() -> Ticket {
    Ticket::parse(TICKET).unwrap()
}

fn outcome<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => {
            let s = e.to_string();
            let s = s.split(':').next().unwrap_or(&s).to_owned();
            format!("error ({})", s.chars().take(40).collect::<String>())
        }
    }
}

/// Either the grant is fully active and its role exactly as specified, or
/// nothing of it exists in IAM and the record (if any) says why.
async fn assert_converged_grant(env: &TestEnv, what: &str) -> &'static str {
    let role = env.role(&ticket().role_name()).await;
    let grant = env.service.get(&ticket()).await.ok();
    match (&grant, &role) {
        (Some(g), Some(_)) if g.status == GrantStatus::Active => {
            let trust = env.trust_policy(&ticket().role_name()).await;
            let principals = &trust["Statement"][0]["Principal"]["AWS"];
            assert!(
                principals == &Value::String(AUDITOR_ROLE.into())
                    || principals == &serde_json::json!([AUDITOR_ROLE]),
                "{what}: {trust}"
            );
            assert_eq!(
                env.attached(&ticket().role_name()).await,
                vec!["arn:aws:iam::aws:policy/SecurityAudit".to_owned()],
                "{what}"
            );
            assert_eq!(
                env.inline(&ticket().role_name()).await,
                ["AuditGrantWindow"],
                "{what}"
            );
            let r = env.role(&ticket().role_name()).await.unwrap();
            assert_eq!(
                r.permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn()),
                Some(env.boundary_arn().as_str()),
                "{what}"
            );
            "active"
        }
        (None, None) => "nothing (request failed, retry creates it)",
        (Some(g), None) if g.is_ended() && g.end_reason.is_some() => "ended, reason recorded",
        _ => panic!(
            "{what}: not converged: grant {grant:?}, role exists: {}",
            role.is_some()
        ),
    }
}

#[tokio::test]
async fn every_failed_call_of_a_grant_converges_after_one_redelivery_or_one_sweep() {
    // How many calls a clean grant makes (with a fresh process's identity lookup).
    let probe = TestEnv::new().await;
    probe.faults.reset_count();
    create(&probe.service, &request(TICKET)).await.unwrap();
    let steps = probe.faults.seen();
    assert!(steps.len() >= 5, "{steps:?}");

    let mut rows = vec![format!(
        "{:<4} {:<28} {:<24} {:<34} {:<10}",
        "call", "operation", "fault", "first delivery", "after"
    )];
    let mut cases = 0;
    for (i, op) in steps.iter().enumerate() {
        for fault in Fault::ALL {
            for converge_by_sweep in [false, true] {
                let env = TestEnv::new().await;
                env.faults.fail_nth(i + 1, fault);
                let first = create(&env.service, &request(TICKET)).await;
                env.faults.clear();
                assert!(
                    !env.faults.injected().is_empty(),
                    "{op}: the fault was injected"
                );
                if converge_by_sweep {
                    // After the invocation that owned it must have died.
                    let r = env
                        .service
                        .sweep(sweep_at(env.now() + Duration::minutes(6)))
                        .await
                        .unwrap();
                    assert!(r.failed.is_empty(), "{op} {fault:?}: {r:?}");
                } else {
                    env.clock.advance(Duration::minutes(6));
                    let again = create(&env.service, &request(TICKET)).await;
                    assert!(
                        again.is_ok(),
                        "{op} {fault:?}: redelivery {:?}",
                        again.err()
                    );
                }
                let state = assert_converged_grant(&env, &format!("{op} {fault:?}")).await;
                cases += 1;
                let fault_name = format!("{fault:?}");
                let how = if converge_by_sweep {
                    "sweep"
                } else {
                    "redelivery"
                };
                let after = format!("{how} -> {state}");
                rows.push(format!(
                    "{:<4} {:<28} {:<24} {:<34} {}",
                    i + 1,
                    op,
                    fault_name,
                    outcome(&first),
                    after
                ));
            }
        }
    }
    report("grant", &rows, cases);
}

#[tokio::test]
async fn every_failed_call_of_a_teardown_converges_after_one_more_sweep() {
    let probe = TestEnv::new().await;
    create(&probe.service, &request(TICKET)).await.unwrap();
    probe.faults.reset_count();
    let after_end = probe.now() + Duration::hours(73);
    probe.service.sweep(sweep_at(after_end)).await.unwrap();
    let steps = probe.faults.seen();
    assert!(steps.iter().any(|s| s == "iam:DeleteRole"), "{steps:?}");

    let mut rows = vec![format!(
        "{:<4} {:<28} {:<24} {:<34} {:<10}",
        "call", "operation", "fault", "first sweep", "after"
    )];
    let mut cases = 0;
    for (i, op) in steps.iter().enumerate() {
        for fault in Fault::ALL {
            let env = TestEnv::new().await;
            create(&env.service, &request(TICKET)).await.unwrap();
            let after_end = env.now() + Duration::hours(73);
            env.faults.fail_nth(i + 1, fault);
            let first = env.service.sweep(sweep_at(after_end)).await;
            let first_text = match &first {
                Ok(r) if !r.failed.is_empty() => "reported failed".to_owned(),
                other => outcome(other),
            };
            env.faults.clear();
            // One more sweep, late enough for any teardown left `revoking` by it.
            let r = env
                .service
                .sweep(sweep_at(after_end + Duration::minutes(6)))
                .await
                .unwrap();
            assert!(r.failed.is_empty(), "{op} {fault:?}: {r:?}");
            assert!(
                env.role(&ticket().role_name()).await.is_none(),
                "{op} {fault:?}: role left behind"
            );
            let g = env.service.get(&ticket()).await.unwrap();
            assert_eq!(g.status, GrantStatus::Expired, "{op} {fault:?}");
            assert!(g.ended_at.is_some());
            let third = env
                .service
                .sweep(sweep_at(after_end + Duration::hours(1)))
                .await
                .unwrap();
            // A "no such role" answer for a role made minutes ago is checked
            // once more (IAM is eventually consistent); then nothing is left.
            assert!(
                third.torn_down.is_empty() && third.failed.is_empty(),
                "{op} {fault:?}: at most a check: {third:?}"
            );
            let fourth = env
                .service
                .sweep(sweep_at(after_end + Duration::hours(2)))
                .await
                .unwrap();
            assert!(
                fourth.due.is_empty(),
                "{op} {fault:?}: nothing left to do: {fourth:?}"
            );
            cases += 1;
            let fault_name = format!("{fault:?}");
            rows.push(format!(
                "{:<4} {:<28} {:<24} {:<34} sweep -> expired, no role",
                i + 1,
                op,
                fault_name,
                first_text
            ));
        }
    }
    report("teardown", &rows, cases);
}

fn report(what: &str, rows: &[String], cases: usize) {
    let text = format!(
        "fault matrix: {what} ({cases} cases, all converged)\n{}\n",
        rows.join("\n")
    );
    eprintln!("{text}");
    let path = format!(
        "{}/target/fault-matrix-{what}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let _ = std::fs::write(path, &text);
}

#[tokio::test]
async fn a_throttled_call_is_retried_by_the_sdk_with_the_production_retry_policy() {
    let account = fresh_account();
    let calls = CallLog::default();
    let faults = FaultInjector::default();
    let base = sdk_config(&proxy_url()).await;
    let conf = base
        .to_builder()
        .retry_config(audit_grants::aws::retry_config())
        .build();
    let header = MotoAccount(account.clone());
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&conf)
            .interceptor(header)
            .interceptor(calls.clone())
            .interceptor(faults.clone())
            .build(),
    );
    faults.fail_matching(Fault::Throttling, true, |op, _| op == "iam:ListRoles");
    let started = std::time::Instant::now();
    iam.list_roles()
        .send()
        .await
        .expect("the SDK retried the throttled call");
    let attempts = calls
        .calls()
        .iter()
        .filter(|c| *c == "iam:ListRoles")
        .count();
    assert_eq!(attempts, 2, "one throttled attempt, one retry");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "bounded backoff"
    );
    // A fault on every attempt is given up after five.
    calls.take();
    faults.fail_matching(Fault::ServerError, false, |op, _| op == "iam:ListRoles");
    assert!(iam.list_roles().send().await.is_err());
    assert_eq!(
        calls
            .calls()
            .iter()
            .filter(|c| *c == "iam:ListRoles")
            .count(),
        5
    );
}

#[tokio::test]
async fn one_grant_failing_does_not_stop_the_sweep_of_the_others() {
    let env = TestEnv::with(&[("SWEEP_CONCURRENCY", "1")], chrono::Utc::now()).await;
    for t in ["AUD-S1", "AUD-S2", "AUD-S3"] {
        create(&env.service, &request(t)).await.unwrap();
    }
    let stuck = Ticket::parse("AUD-S2").unwrap().role_name();
    env.faults
        .fail_matching(Fault::ServerError, false, move |op, body| {
            op == "iam:DeleteRole" && body.contains(&stuck)
        });
    let after_end = env.now() + Duration::hours(73);
    let r = env.service.sweep(sweep_at(after_end)).await.unwrap();
    assert_eq!(r.torn_down, vec!["AUD-S1", "AUD-S3"]);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].ticket, "AUD-S2");
    let g = env
        .service
        .get(&Ticket::parse("AUD-S2").unwrap())
        .await
        .unwrap();
    assert_eq!((g.status, g.attempts), (GrantStatus::Failed, 1));
    assert!(
        g.last_error.as_deref().unwrap().contains("DeleteRole"),
        "{:?}",
        g.last_error
    );
    // It keeps failing: attempts are counted.
    env.service.sweep(sweep_at(after_end)).await.unwrap();
    assert_eq!(
        env.service
            .get(&Ticket::parse("AUD-S2").unwrap())
            .await
            .unwrap()
            .attempts,
        2
    );
    // Once IAM recovers, the next sweep finishes it.
    env.faults.clear();
    let r = env.service.sweep(sweep_at(after_end)).await.unwrap();
    assert_eq!(r.torn_down, vec!["AUD-S2"]);
    assert!(env.roles().await.is_empty());
}

/// Log lines written while `f` runs (this thread's subscriber).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_grant_that_keeps_failing_is_reported_loudly_every_time_not_silently_retried() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await;
    let metrics = audit_grants::metrics::Metrics::memory();
    let service = std::sync::Arc::new(
        env.service_with(std::sync::Arc::new(env.iam_roles()))
            .with_metrics(metrics.clone()),
    );
    create(&service, &request(TICKET)).await.unwrap();
    env.faults
        .fail_matching(Fault::ServerError, false, |op, _| op == "iam:DeleteRole");
    let after_end = env.now() + Duration::hours(73);
    for _ in 0..3 {
        let r = service.sweep(sweep_at(after_end)).await.unwrap();
        assert_eq!(r.failed.len(), 1);
    }
    let g = service.get(&ticket()).await.unwrap();
    assert_eq!(g.attempts, 3);
    let stuck: Vec<_> = metrics
        .recorded()
        .into_iter()
        .filter(|(m, _)| *m == audit_grants::metrics::Metric::GrantStuck)
        .collect();
    assert_eq!(
        stuck.len(),
        1,
        "a metric once the attempts reach the alarm threshold"
    );
    let failed: f64 = metrics
        .recorded()
        .iter()
        .filter(|(m, _)| *m == audit_grants::metrics::Metric::SweepFailed)
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        failed, 3.0,
        "every failing sweep feeds the SweepFailed alarm"
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("grant keeps failing"), "{text}");
    assert!(text.contains("attempts=3"), "{text}");
    assert!(text.contains("ticket=AUD-FAULT"), "{text}");
    assert!(
        !text.contains(g.external_id.as_str()),
        "no external IDs in logs"
    );
}

#[tokio::test]
async fn a_write_applied_before_a_5xx_is_retried_by_the_sdk_with_its_token_and_applied_once() {
    let env = TestEnv::new().await;
    // Every transaction's first attempt reaches DynamoDB and is applied, and its
    // answer is a 500: the SDK retries it with the same ClientRequestToken.
    env.faults
        .fail_matching(Fault::ServerErrorAfterEffect, true, |op, _| {
            op == "dynamodb:TransactWriteItems"
        });
    let created = create(&env.service, &request("AUD-TOKEN")).await.unwrap();
    let revoked = env
        .service
        .revoke(&Ticket::parse("AUD-TOKEN").unwrap(), None, &operator())
        .await
        .unwrap();
    env.faults.clear();
    assert_eq!(created.grant().status, GrantStatus::Active);
    assert_eq!(revoked.status, GrantStatus::Revoked);
    let attempts = env.faults.token_attempts();
    // insert, activate, begin teardown, finish: each sent twice with one token,
    // the retry answered by the token (no condition failed, no detour).
    assert_eq!(attempts.len(), 8, "{attempts:?}");
    for pair in attempts.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0, "a retry carries the same token");
        assert_eq!((pair[0].1, pair[1].1), (false, true), "{pair:?}");
    }
    let (_, history) = env
        .service
        .show(&Ticket::parse("AUD-TOKEN").unwrap())
        .await
        .unwrap();
    let statuses: Vec<GrantStatus> = history.iter().map(|e| e.to).collect();
    assert_eq!(
        statuses,
        [
            GrantStatus::Pending,
            GrantStatus::Active,
            GrantStatus::Revoking,
            GrantStatus::Revoked
        ],
        "each transition recorded once"
    );
}

#[tokio::test]
async fn a_lost_optimistic_locking_race_is_read_again_and_retried() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-LOCK")).await.unwrap();
    // DynamoDB cancels the first write: its condition (the version read) failed.
    env.faults.fail_nth(2, Fault::ConditionalCheckFailed);
    let revoked = env
        .service
        .revoke(&Ticket::parse("AUD-LOCK").unwrap(), None, &operator())
        .await
        .unwrap();
    env.faults.clear();
    assert_eq!(
        env.faults.injected(),
        ["dynamodb:TransactWriteItems ConditionalCheckFailed"]
    );
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(env.role(&revoked.role_name).await.is_none());
}

#[tokio::test]
async fn a_transaction_conflict_is_a_lost_race_read_again_and_retried_not_a_failure() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-CONFLICTED"))
        .await
        .unwrap();
    // DynamoDB cancels the revoke's first write: another transaction on the
    // item was in flight (TransactionCanceledException, reason TransactionConflict).
    env.faults.fail_nth(2, Fault::ConcurrentModification);
    let revoked = env
        .service
        .revoke(&Ticket::parse("AUD-CONFLICTED").unwrap(), None, &operator())
        .await
        .expect("a conflict is retried, not answered as our failure");
    env.faults.clear();
    assert_eq!(
        env.faults.injected(),
        ["dynamodb:TransactWriteItems ConcurrentModification"]
    );
    assert_eq!(revoked.status, GrantStatus::Revoked);
}

#[tokio::test]
async fn the_injected_dynamodb_conflict_is_what_transact_write_items_returns() {
    let env = TestEnv::new().await;
    // Every attempt of every write conflicts: after its retries the service
    // reports the grant as kept changing; the SDK saw DynamoDB's own shape.
    env.faults
        .fail_matching(Fault::ConcurrentModification, false, |op, _| {
            op == "dynamodb:TransactWriteItems"
        });
    let store = audit_grants::wiring::grant_store(&env.clients, &env.settings);
    let grant = audit_grants::fakes::sample_grant("AUD-SHAPE", env.now());
    let event = audit_grants::domain::HistoryEvent {
        at: env.now(),
        from: None,
        to: GrantStatus::Pending,
        reason: "test".into(),
        version: 1,
        origin: None,
        removal: vec![],
        evidence: None,
    };
    let e = audit_grants::ports::GrantStore::insert(&store, &grant, &event)
        .await
        .unwrap_err();
    env.faults.clear();
    assert!(
        matches!(e, audit_grants::ports::StoreError::AlreadyExists),
        "TransactionCanceledException[TransactionConflict] is read as a lost race: {e:#}"
    );
}
