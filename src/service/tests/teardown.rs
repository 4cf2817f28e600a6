use super::*;

#[tokio::test]
async fn a_revoke_tears_the_role_down_and_records_why_and_when() {
    let h = harness();
    let g = h.active("AUD-REVOKE").await;
    h.clock.advance(Duration::hours(1));
    let reason = Reason::parse("fieldwork finished early").unwrap();
    let r = h
        .service
        .revoke(&ticket("AUD-REVOKE"), Some(&reason), &operator())
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
    let first = h
        .service
        .revoke(&ticket("AUD-TWICE"), None, &operator())
        .await
        .unwrap();
    assert_eq!(
        first.end_reason.as_deref(),
        Some("revoked"),
        "the default reason"
    );
    let teardowns = h.iam.count(IamOp::Teardown);
    let again = h
        .service
        .revoke(&ticket("AUD-TWICE"), None, &operator())
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(h.iam.count(IamOp::Teardown), teardowns);
    let e = h
        .service
        .revoke(&ticket("AUD-NOPE"), None, &operator())
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
        .revoke(&ticket("AUD-STUCK"), None, &operator())
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
    let r = h
        .service
        .revoke(&ticket("AUD-RACE"), None, &operator())
        .await
        .unwrap();
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
        .revoke(&ticket("AUD-DDB"), None, &operator())
        .await
        .unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(
        h.store.grant("AUD-DDB").unwrap().status,
        GrantStatus::Active
    );
}

#[tokio::test]
async fn a_role_is_ours_by_the_id_recorded_at_creation_whatever_its_tags_say_now() {
    let h = harness();
    let g = h.active("AUD-ID").await;
    assert!(
        g.first_role().role_id.is_some(),
        "the id is recorded when the role is made"
    );
    h.iam.tamper(OWN, &g.role_name, |r| r.tags.clear());
    h.service
        .revoke(&ticket("AUD-ID"), None, &operator())
        .await
        .unwrap();
    assert!(
        h.iam.role(OWN, &g.role_name).is_none(),
        "torn down by its id"
    );
}

#[tokio::test]
async fn a_role_made_again_by_someone_else_under_the_grants_name_is_never_touched() {
    let h = harness();
    let g = h.active("AUD-REMADE").await;
    let mut copy = h.iam.role(OWN, &g.role_name).unwrap();
    h.iam.delete_out_of_band(OWN, &g.role_name);
    copy.role_id = "AROASOMEONEELSE".into(); // same name and tags, another role
    h.iam.put_role(copy);
    let r = h
        .service
        .revoke(&ticket("AUD-REMADE"), None, &operator())
        .await
        .unwrap();
    assert_eq!(r.status, GrantStatus::Revoked, "ours is gone");
    assert_eq!(
        h.iam.role(OWN, &g.role_name).unwrap().role_id,
        "AROASOMEONEELSE",
        "theirs is untouched"
    );
}

#[tokio::test]
async fn no_such_role_right_after_the_role_was_made_is_checked_again_by_a_later_sweep() {
    let h = harness();
    let g = h.active("AUD-LAGGING").await;
    // IAM is eventually consistent: minutes after CreateRole it may say the
    // role does not exist.
    let hidden = h.iam.role(OWN, &g.role_name).unwrap();
    h.iam.delete_out_of_band(OWN, &g.role_name);
    let r = h
        .service
        .revoke(&ticket("AUD-LAGGING"), None, &operator())
        .await
        .unwrap();
    assert_eq!(r.status, GrantStatus::Revoked);
    assert!(r.recheck, "not believed yet");
    h.iam.put_role(hidden); // IAM lists it again
    let later = h
        .service
        .sweep(sweep_at(now() + Duration::minutes(10)))
        .await
        .unwrap();
    assert_eq!(later.verified, ["AUD-LAGGING"]);
    assert!(h.iam.role(OWN, &g.role_name).is_none());
    assert!(!h.store.grant("AUD-LAGGING").unwrap().recheck);
}
