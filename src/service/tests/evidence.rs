//! The evidence pack, and the copy kept once a grant ended.

use super::*;
use crate::domain::{EVIDENCE_DELAY, step};
use crate::fakes::{FakeActivity, FakeEvidenceStore};
use crate::ports::{LookupBy, TrailEvent};
use crate::service::evidence::EVIDENCE_RETRY_FOR;

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/audit-grants/audit-AUD-7-36ff7e9b";

fn trail(id: &str, at: DateTime<Utc>, source: &str, name: &str, record: Value) -> TrailEvent {
    TrailEvent {
        event_id: id.into(),
        event_time: at,
        event_name: name.into(),
        event_source: source.into(),
        access_key_id: None,
        record: record.to_string(),
    }
}

/// The auditor assumed the role once and made three calls, one refused.
fn auditor_was_here(activity: &FakeActivity, role_arn: &str) {
    let assumed = trail(
        "a1",
        now() + Duration::hours(1),
        "sts.amazonaws.com",
        "AssumeRole",
        json!({
        "userIdentity": {"arn": AUDITOR_ROLE}, "sourceIPAddress": "198.51.100.7",
        "requestParameters": {"roleArn": role_arn, "roleSessionName": "audit-AUD-7", "sourceIdentity": "alice"},
        "responseElements": {"credentials": {"accessKeyId": "ASIASESSION1"}}}),
    );
    activity.record(OWN, LookupBy::ResourceName(role_arn.into()), assumed);
    for (i, (source, name, error)) in [
        ("iam.amazonaws.com", "GetAccountSummary", None),
        ("iam.amazonaws.com", "ListRoles", None),
        (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            Some("AccessDenied"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = json!({"sourceIPAddress": "198.51.100.7", "userIdentity": {"accessKeyId": "ASIASESSION1"}});
        if let Some(code) = error {
            record["errorCode"] = json!(code);
        }
        let at = now() + Duration::hours(1) + Duration::minutes(i as i64 + 1);
        activity.record(
            OWN,
            LookupBy::AccessKeyId("ASIASESSION1".into()),
            trail(&format!("c{i}"), at, source, name, record),
        );
    }
}

fn with_evidence(h: &Harness) -> (GrantService, FakeActivity, FakeEvidenceStore) {
    let (activity, store) = (FakeActivity::default(), FakeEvidenceStore::default());
    let service = h
        .service_with_only(&[])
        .with_activity(Arc::new(activity.clone()))
        .with_evidence_store(Arc::new(store.clone()));
    (service, activity, store)
}

/// AUD-7 granted (by the operator).
async fn granted(service: &GrantService) -> Grant {
    service
        .create(&body(&request_json("AUD-7")), &operator())
        .await
        .unwrap()
        .grant()
        .clone()
}

/// AUD-7 revoked now (by the operator).
async fn revoked(service: &GrantService) {
    service
        .revoke(&ticket("AUD-7"), None, &operator())
        .await
        .unwrap();
}

async fn granted_and_revoked(service: &GrantService) {
    granted(service).await;
    revoked(service).await;
}

#[tokio::test]
async fn the_pack_holds_the_approval_the_role_as_granted_every_change_the_removal_and_the_activity()
{
    let h = harness();
    let (service, activity, _) = with_evidence(&h);
    let created = granted(&service).await;
    assert_eq!(created.role_arn(), ROLE_ARN);
    auditor_was_here(&activity, ROLE_ARN);
    h.clock.advance(Duration::hours(2));
    service
        .extend(&ticket("AUD-7"), now() + Duration::hours(96), &operator())
        .await
        .unwrap();
    h.clock.advance(Duration::hours(1));
    service
        .revoke(
            &ticket("AUD-7"),
            Some(&Reason::parse("fieldwork done").unwrap()),
            &operator(),
        )
        .await
        .unwrap();
    h.clock.advance(Duration::hours(1));

    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    assert_eq!(
        (pack.format, pack.version),
        ("audit-grants evidence pack", 1)
    );
    assert_eq!(
        (pack.ticket.as_str(), pack.status.as_str()),
        ("AUD-7", "revoked")
    );
    assert_eq!(pack.generated_at, "2026-12-01T13:00:00.000Z");
    // The approval.
    assert_eq!(pack.approval.requested_by, "jane.doe@example.com");
    assert_eq!(
        pack.approval.reason.as_deref(),
        Some("FY26 SOC 2 fieldwork")
    );
    assert_eq!(pack.approval.requested_at, "2026-12-01T09:00:00.000Z");
    assert_eq!(pack.approval.sender, Some(operator()));
    assert_eq!(pack.approval.sender_description, "cli test-operator");
    // The access as granted.
    assert_eq!(pack.grant.principals, [AUDITOR_ROLE]);
    assert_eq!(pack.grant.access, "security-audit");
    assert_eq!(
        pack.grant.end, "2026-12-05T09:00:00Z",
        "the end as extended"
    );
    assert_eq!(pack.grant.max_session_seconds, 3600);
    assert_eq!(
        pack.grant.auditor_policy["Statement"][0]["Resource"],
        json!([ROLE_ARN])
    );
    let [account] = pack.accounts.as_slice() else {
        panic!("one account")
    };
    assert_eq!(account.account, OWN);
    let role = &account.role;
    assert_eq!(role.role_arn, ROLE_ARN);
    assert_eq!(role.role_id, created.first_role().role_id);
    assert_eq!(role.boundary_arn, BOUNDARY);
    assert_eq!(
        role.preset_policy_arn,
        "arn:aws:iam::aws:policy/SecurityAudit"
    );
    assert_eq!(role.max_session_seconds, 3600);
    use sha2::Digest;
    assert_eq!(
        role.boundary_sha256,
        hex::encode(sha2::Sha256::digest(
            crate::policy::permissions_boundary().to_json()
        ))
    );
    let trust = role.trust_policy.to_string();
    assert!(
        trust.contains(AUDITOR_ROLE) && trust.contains("\"sts:ExternalId\":\"(present)\""),
        "{trust}"
    );
    assert!(
        trust.contains("aws:CurrentTime"),
        "the window is in the trust: {trust}"
    );
    assert_eq!(role.window_deny["Statement"][0]["Effect"], "Deny");
    // The external ID is nowhere in the pack.
    let whole = serde_json::to_string(&pack).unwrap();
    assert!(
        !whole.contains(created.external_id.as_str()),
        "the external ID leaked"
    );
    // Every change, with who asked.
    let changes: Vec<(&str, Option<&crate::domain::Origin>)> = pack
        .history
        .iter()
        .map(|e| (e.to.as_str(), e.origin.as_ref()))
        .collect();
    assert_eq!(
        changes.iter().map(|c| c.0).collect::<Vec<_>>(),
        ["pending", "active", "active", "revoking", "revoked"]
    );
    assert!(
        pack.history[2]
            .reason
            .contains("end moved from 2026-12-04T09:00:00Z to 2026-12-05T09:00:00Z")
    );
    assert_eq!(pack.history[3].origin, Some(operator()));
    // The proof of removal: each step when IAM answered it, and IAM asked now.
    let removal = &account.removal;
    assert_eq!(removal.state, "removed");
    assert_eq!(
        removal.teardown_started_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    assert_eq!(
        removal.teardown_finished_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    let steps: Vec<&str> = removal.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            step::SESSIONS_REVOKED,
            step::TRUST_REMOVED,
            step::POLICIES_DETACHED,
            step::INLINE_POLICIES_DELETED,
            step::ROLE_DELETED
        ]
    );
    let verified = removal.verified.as_ref().unwrap();
    assert_eq!(verified.checked_at, "2026-12-01T13:00:00.000Z");
    assert!(
        !verified.role_exists && verified.answer.starts_with("NoSuchEntity"),
        "{verified:?}"
    );
    // The recorded activity.
    let a = &account.activity;
    assert!(a.complete, "{:?}", a.notes);
    assert_eq!(a.sessions.len(), 1);
    assert_eq!(a.sessions[0].source_identity.as_deref(), Some("alice"));
    assert_eq!(a.sessions[0].calls, 3);
    assert_eq!(a.total_calls, 3);
    assert_eq!(a.first_use.as_deref(), Some("2026-12-01T10:01:00.000Z"));
    assert_eq!(a.last_use.as_deref(), Some("2026-12-01T10:03:00.000Z"));
    assert_eq!(a.denied_calls.len(), 1);
    assert_eq!(a.denied_calls[0].action, "GetSecretValue");
    assert_eq!(a.source_ips[0].calls, 3);
    // Looked up from before the window to the end of the last possible session.
    let q = &activity.queries()[0];
    assert_eq!(q.by, LookupBy::ResourceName(ROLE_ARN.into()));
    assert_eq!(
        (q.start, q.end),
        (now() - Duration::hours(1), now() + Duration::hours(4))
    );
}

#[tokio::test]
async fn a_live_grant_has_no_proof_of_removal_and_says_later_calls_are_not_in_the_pack() {
    let h = harness();
    let (service, _, _) = with_evidence(&h);
    granted(&service).await;
    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    let account = &pack.accounts[0];
    assert_eq!(account.removal.state, "not_removed");
    assert_eq!(account.removal.verified, None);
    assert!(
        account
            .activity
            .notes
            .iter()
            .any(|n| n.contains("still live")),
        "{:?}",
        account.activity.notes
    );
}

#[tokio::test]
async fn an_unreadable_cloudtrail_is_said_in_the_pack_which_is_still_made() {
    let h = harness();
    let (service, activity, _) = with_evidence(&h);
    granted(&service).await;
    activity.stop(
        OWN,
        LookupBy::ResourceName(ROLE_ARN.into()),
        "CloudTrail refused the lookup (AccessDeniedException)",
    );
    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    let a = &pack.accounts[0].activity;
    assert!(!a.complete);
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("AssumeRole events: CloudTrail refused the lookup")),
        "{:?}",
        a.notes
    );
    // Without any reader at all, the pack says so too.
    let pack = h
        .service_with_only(&[])
        .evidence(&ticket("AUD-7"), None)
        .await
        .unwrap();
    assert!(
        pack.accounts[0]
            .activity
            .notes
            .iter()
            .any(|n| n.contains("no CloudTrail reader"))
    );
}

#[tokio::test]
async fn a_role_that_is_still_there_is_shown_as_a_failed_removal() {
    let h = harness();
    let (service, _, _) = with_evidence(&h);
    granted(&service).await;
    // The role comes back after the teardown (a lagging IAM, a late writer).
    let role = h.iam.role(OWN, &ticket("AUD-7").role_name()).unwrap();
    revoked(&service).await;
    h.iam.put_role(role);
    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    assert_eq!(pack.accounts[0].removal.state, "role_still_exists");
    assert!(
        pack.accounts[0]
            .removal
            .verified
            .as_ref()
            .unwrap()
            .role_exists
    );
}

#[tokio::test]
async fn an_ended_grants_pack_is_kept_once_cloudtrail_has_caught_up_and_the_record_names_the_copy()
{
    let h = harness();
    let (service, _, store) = with_evidence(&h);
    granted_and_revoked(&service).await;
    let ended = h.store.grant("AUD-7").unwrap();
    assert!(ended.evidence_pending);
    assert_eq!(ended.due_at(), Some(now() + EVIDENCE_DELAY));

    let early = service
        .sweep(sweep_at(now() + EVIDENCE_DELAY - Duration::minutes(1)))
        .await
        .unwrap();
    assert!(early.evidence_kept.is_empty() && store.objects().is_empty());
    h.clock.advance(EVIDENCE_DELAY);
    let report = service
        .sweep(sweep_at(now() + EVIDENCE_DELAY))
        .await
        .unwrap();
    assert_eq!(report.evidence_kept, ["AUD-7"]);
    let [(key, bytes)] = store.objects().try_into().unwrap();
    assert_eq!(key, "evidence/AUD-7.json");
    let kept: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (kept["ticket"].as_str(), kept["status"].as_str()),
        (Some("AUD-7"), Some("revoked"))
    );
    assert_eq!(kept["accounts"][0]["removal"]["state"], "removed");
    let last = h.store.events("AUD-7").pop().unwrap();
    assert_eq!(
        last.reason,
        "evidence pack kept at s3://evidence-bucket/evidence/AUD-7.json (version v1)"
    );
    let copy = last.evidence.unwrap();
    use sha2::Digest;
    assert_eq!(copy.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    let g = h.store.grant("AUD-7").unwrap();
    assert!(!g.evidence_pending && g.due_at().is_none());
    // Kept once.
    let again = service
        .sweep(sweep_at(now() + Duration::hours(2)))
        .await
        .unwrap();
    assert!(again.evidence_kept.is_empty() && store.objects().len() == 1);
}

#[tokio::test]
async fn a_failed_copy_is_retried_by_the_next_sweep_and_no_bucket_means_nothing_is_owed() {
    let h = harness();
    let (service, _, store) = with_evidence(&h);
    granted_and_revoked(&service).await;
    store.fail_with(Some("s3:PutObject: AccessDenied"));
    let at = now() + EVIDENCE_DELAY;
    let report = service.sweep(sweep_at(at)).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(h.store.grant("AUD-7").unwrap().evidence_pending);
    store.fail_with(None);
    assert_eq!(
        service.sweep(sweep_at(at)).await.unwrap().evidence_kept,
        ["AUD-7"]
    );

    // Without EVIDENCE_BUCKET an end owes no copy and leaves nothing due.
    h.service
        .create(&body(&request_json("AUD-8")), &operator())
        .await
        .unwrap();
    h.service
        .revoke(&ticket("AUD-8"), None, &operator())
        .await
        .unwrap();
    let g = h.store.grant("AUD-8").unwrap();
    assert!(!g.evidence_pending && g.due_at().is_none());
}

#[tokio::test]
async fn an_incomplete_pack_is_not_kept_until_a_day_has_passed_then_it_is_kept_saying_what_it_lacks()
 {
    let h = harness();
    let (service, activity, store) = with_evidence(&h);
    granted_and_revoked(&service).await;
    activity.stop(
        OWN,
        LookupBy::ResourceName(ROLE_ARN.into()),
        "CloudTrail kept throttling the lookup",
    );
    h.clock.advance(EVIDENCE_DELAY);
    let report = service
        .sweep(sweep_at(now() + EVIDENCE_DELAY))
        .await
        .unwrap();
    assert!(
        report.evidence_kept.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(
        store.objects().is_empty(),
        "an incomplete pack is not locked away"
    );
    assert!(
        h.store.grant("AUD-7").unwrap().evidence_pending,
        "still owed: the next sweep tries again"
    );
    h.clock.set(now() + EVIDENCE_RETRY_FOR);
    let report = service
        .sweep(sweep_at(now() + EVIDENCE_RETRY_FOR))
        .await
        .unwrap();
    assert_eq!(report.evidence_kept, ["AUD-7"]);
    let kept: Value = serde_json::from_slice(&store.objects()[0].1).unwrap();
    assert_eq!(kept["accounts"][0]["activity"]["complete"], false);
    let notes = kept["accounts"][0]["activity"]["notes"].to_string();
    assert!(notes.contains("kept throttling"), "{notes}");
}

#[tokio::test]
async fn a_sweep_without_the_bucket_leaves_the_copy_owed() {
    let h = harness();
    let (service, _, store) = with_evidence(&h);
    granted_and_revoked(&service).await;
    // An operator's shell without EVIDENCE_BUCKET sweeps first.
    let report = h
        .service_with_only(&[])
        .sweep(sweep_at(now() + EVIDENCE_DELAY))
        .await
        .unwrap();
    assert!(report.evidence_kept.is_empty() && report.failed.is_empty());
    assert!(h.store.grant("AUD-7").unwrap().evidence_pending);
    h.clock.advance(EVIDENCE_DELAY);
    assert_eq!(
        service
            .sweep(sweep_at(now() + EVIDENCE_DELAY))
            .await
            .unwrap()
            .evidence_kept,
        ["AUD-7"]
    );
    assert_eq!(store.objects().len(), 1);
}

#[tokio::test]
async fn iam_that_cannot_be_asked_leaves_the_removal_unverified_and_the_pack_is_still_made() {
    let h = harness();
    let (service, _, _) = with_evidence(&h);
    granted_and_revoked(&service).await;
    h.iam.fail_next(
        crate::fakes::IamOp::Inspect,
        ProvisionError::Aws(anyhow::anyhow!("iam:GetRole: Throttling: Rate exceeded")),
    );
    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    let removal = &pack.accounts[0].removal;
    assert_eq!(removal.state, "unverified");
    assert!(
        removal
            .verified
            .as_ref()
            .unwrap()
            .answer
            .contains("Rate exceeded")
    );
    assert!(!pack.is_complete());
}

#[tokio::test]
async fn a_role_of_ours_without_a_recorded_id_is_found_by_its_tags() {
    let h = harness();
    let (service, _, _) = with_evidence(&h);
    granted(&service).await;
    let role = h.iam.role(OWN, &ticket("AUD-7").role_name()).unwrap();
    revoked(&service).await;
    h.iam.put_role(role);
    // A record from before RoleIds were kept.
    let mut g = h.store.grant("AUD-7").unwrap();
    g.roles[0].role_id = None;
    let history = h.store.events("AUD-7");
    let pack = service.pack(&g, &history, None).await.unwrap();
    assert_eq!(pack.accounts[0].removal.state, "role_still_exists");
}

#[tokio::test]
async fn no_cloudtrail_field_carries_the_external_id_into_the_pack() {
    let h = harness();
    let (service, activity, _) = with_evidence(&h);
    let g = granted(&service).await;
    // CloudTrail records the external ID an AssumeRole sent.
    let assumed = trail(
        "x1",
        now() + Duration::minutes(5),
        "sts.amazonaws.com",
        "AssumeRole",
        json!({
        "userIdentity": {"arn": AUDITOR_ROLE},
        "requestParameters": {"roleArn": ROLE_ARN, "roleSessionName": "s", "externalId": g.external_id.as_str()},
        "responseElements": {"credentials": {"accessKeyId": "ASIAX"}}}),
    );
    activity.record(OWN, LookupBy::ResourceName(ROLE_ARN.into()), assumed);
    h.clock.advance(Duration::hours(1));
    let pack = service.evidence(&ticket("AUD-7"), None).await.unwrap();
    assert_eq!(pack.accounts[0].activity.sessions.len(), 1);
    for format in [
        crate::evidence::Format::Json,
        crate::evidence::Format::Md,
        crate::evidence::Format::Html,
    ] {
        let text = format.render(&pack);
        assert!(
            !text.contains(g.external_id.as_str()),
            "{format:?} carries the external ID"
        );
    }
}
