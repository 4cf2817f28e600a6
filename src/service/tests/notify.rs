//! Notifications: one per transition that matters, recorded with it, published
//! after the commit, re-sent by a later run when the publish failed, never doubled.

use super::*;
use crate::domain::NoticeKind;
use crate::ports::NoticeOutcome;

const ACTIVATED: &str = "Audit Grant Activated";
const EXPIRING: &str = "Audit Grant Expiring";
const ENDED: &str = "Audit Grant Ended";
const FAILED: &str = "Audit Grant Failed";

fn sent(h: &Harness) -> Vec<&'static str> {
    h.notifier.sent().into_iter().map(|(_, t)| t).collect()
}

#[tokio::test]
async fn activation_publishes_one_notice_with_the_get_view_and_schedules_the_expiring_ones() {
    let h = harness();
    let g = h.active("AUD-N1").await;
    assert_eq!(sent(&h), [ACTIVATED]);
    let notice = &h.notifier.published()[0];
    let mut expected = g.view(false);
    expected["notice_id"] = json!(format!("AUD-N1/activated#v{}", g.version));
    assert_eq!(notice.detail, expected, "the view as a GET answers it");
    assert!(notice.detail.get("external_id").is_none());
    assert!(notice.detail.get("aws_config_profile").is_none());
    // The expiring notices wait in the outbox for their time.
    let outbox = h.store.notices("AUD-N1");
    let pending: Vec<_> = outbox
        .iter()
        .filter(|(_, outcome)| outcome.is_none())
        .map(|(n, _)| (n.kind, n.send_at))
        .collect();
    let end = g.window.end();
    assert_eq!(
        pending,
        [
            (NoticeKind::Expiring, end - Duration::hours(24)),
            (NoticeKind::Expiring, end - Duration::hours(1)),
        ]
    );
}

#[tokio::test]
async fn expiring_24h_and_1h_then_ended_each_exactly_once_however_often_the_sweeper_runs() {
    let h = harness();
    let g = h.active("AUD-N2").await;
    let end = g.window.end();
    for at in [
        end - Duration::hours(30),
        end - Duration::hours(24),
        end - Duration::hours(23),
        end - Duration::hours(1),
        end - Duration::minutes(30),
        end,
        end + Duration::minutes(5),
        end + Duration::hours(2),
    ] {
        h.clock.set(at);
        h.service.sweep(sweep_at(at)).await.unwrap();
        h.service.sweep(sweep_at(at)).await.unwrap();
    }
    assert_eq!(sent(&h), [ACTIVATED, EXPIRING, EXPIRING, ENDED]);
    assert!(
        h.store.notices("AUD-N2").iter().all(|(_, o)| o.is_some()),
        "outbox empty"
    );
    assert_eq!(
        h.store.grant("AUD-N2").unwrap().status,
        GrantStatus::Expired
    );
}

#[tokio::test]
async fn a_notice_whose_publish_failed_is_sent_by_the_next_sweep_and_only_once() {
    let h = harness();
    h.notifier.fail_next(1);
    let g = h.active("AUD-N3").await;
    assert!(sent(&h).is_empty(), "the publish failed");
    assert_eq!(
        g.status,
        GrantStatus::Active,
        "the grant does not depend on it"
    );
    let report = h.service.sweep(sweep_at(now())).await.unwrap();
    assert_eq!(
        report.notices.sent,
        [format!("AUD-N3/activated#v{}", g.version)]
    );
    h.service.sweep(sweep_at(now())).await.unwrap();
    assert_eq!(sent(&h), [ACTIVATED]);
}

#[tokio::test]
async fn extend_reschedules_the_expiring_notices_and_the_old_ones_are_skipped() {
    let h = harness();
    let g = h.active("AUD-N4").await;
    let old_end = g.window.end();
    let new_end = old_end + Duration::hours(48);
    h.service
        .extend(&ticket("AUD-N4"), new_end, &operator())
        .await
        .unwrap();
    h.clock.set(old_end - Duration::minutes(30));
    let report = h
        .service
        .sweep(sweep_at(crate::ports::Clock::now(&h.clock)))
        .await
        .unwrap();
    assert_eq!(report.notices.skipped.len(), 2, "{:?}", report.notices);
    assert!(report.notices.sent.is_empty());
    h.clock.set(new_end - Duration::minutes(30));
    h.service
        .sweep(sweep_at(crate::ports::Clock::now(&h.clock)))
        .await
        .unwrap();
    assert_eq!(sent(&h), [ACTIVATED, EXPIRING, EXPIRING]);
    let expiring = &h.notifier.published()[1];
    assert_eq!(expiring.detail["end"], json!(format_timestamp(new_end)));
    let skipped = h
        .store
        .notices("AUD-N4")
        .into_iter()
        .filter(|(_, o)| matches!(o, Some(NoticeOutcome::Skipped { .. })))
        .count();
    assert_eq!(skipped, 2);
}

#[tokio::test]
async fn a_revoke_sends_one_ended_and_the_expiring_notices_are_skipped() {
    let h = harness();
    let g = h.active("AUD-N5").await;
    h.service
        .revoke(&ticket("AUD-N5"), None, &operator())
        .await
        .unwrap();
    assert_eq!(sent(&h), [ACTIVATED, ENDED]);
    assert_eq!(h.notifier.published()[1].detail["status"], json!("revoked"));
    h.clock.set(g.window.end());
    let report = h.service.sweep(sweep_at(g.window.end())).await.unwrap();
    assert_eq!(report.notices.skipped.len(), 2);
    assert_eq!(sent(&h), [ACTIVATED, ENDED]);
}

#[tokio::test]
async fn failed_is_told_once_when_a_grant_starts_failing_not_on_every_retry() {
    let h = harness();
    for _ in 0..3 {
        h.iam.fail_next(
            IamOp::Provision,
            ProvisionError::Aws(anyhow::anyhow!("Throttling")),
        );
    }
    assert!(h.create(&request_json("AUD-N6")).await.is_err());
    for minutes in [1, 2] {
        let at = now() + Duration::minutes(minutes);
        h.clock.set(at);
        h.service.sweep(sweep_at(at)).await.unwrap();
    }
    assert_eq!(h.store.grant("AUD-N6").unwrap().attempts, 3);
    assert_eq!(sent(&h), [FAILED]);
    let at = now() + Duration::minutes(3);
    h.clock.set(at);
    h.service.sweep(sweep_at(at)).await.unwrap();
    assert_eq!(sent(&h), [FAILED, ACTIVATED]);
}

#[tokio::test]
async fn without_a_notify_bus_nothing_is_recorded_or_sent() {
    let h = harness();
    let quiet = h.service_with_only(&[]);
    quiet
        .create(&body(&request_json("AUD-N7")), &operator())
        .await
        .unwrap();
    quiet
        .revoke(&ticket("AUD-N7"), None, &operator())
        .await
        .unwrap();
    assert!(h.store.notices("AUD-N7").is_empty());
    assert!(sent(&h).is_empty());
}

#[tokio::test]
async fn the_sample_notification_in_events_has_the_shape_the_function_sends() {
    let h = harness_with(&[("TARGET_ACCOUNTS", "222222222222")]);
    let mut req = request_json("AUD-1042");
    req["target_accounts"] = json!([OWN, "222222222222"]);
    h.create(&req).await.unwrap();
    let notice = &h.notifier.published()[0];
    let sample: Value = serde_json::from_str(include_str!(
        "../../../events/notifications/grant-activated.json"
    ))
    .unwrap();
    assert_eq!(sample["detail-type"], json!(notice.kind.detail_type()));
    assert_eq!(sample["source"], json!(crate::domain::NOTICE_SOURCE));
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&sample["detail"]), keys(&notice.detail));
    assert_eq!(sample["detail"]["role_arn"], notice.detail["role_arn"]);
    assert_eq!(sample["detail"]["roles"], notice.detail["roles"]);
}
