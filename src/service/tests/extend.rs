use super::*;

#[tokio::test]
async fn an_extend_moves_the_record_the_trust_condition_and_the_expiry_tag_together() {
    let h = harness();
    let g = h.active("AUD-EXT").await;
    let end = parse_timestamp("2026-12-10T17:00:00Z").unwrap();
    let e = h
        .service
        .extend(&ticket("AUD-EXT"), end, &operator())
        .await
        .unwrap();
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
    h.service
        .extend(&ticket("AUD-EXT"), end, &operator())
        .await
        .unwrap();
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
            .extend(&ticket("AUD-EXT2"), earlier, &operator())
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
            .extend(&ticket("AUD-EXT2"), end, &operator())
            .await
            .unwrap_err();
        assert_eq!(code(&e), (ErrorCode::InvalidField, Some("end")), "{what}");
    }
}

#[tokio::test]
async fn only_an_active_grant_can_be_extended() {
    let h = harness();
    h.active("AUD-EXT3").await;
    h.service
        .revoke(&ticket("AUD-EXT3"), None, &operator())
        .await
        .unwrap();
    let e = h
        .service
        .extend(&ticket("AUD-EXT3"), now() + Duration::days(5), &operator())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = h
        .service
        .extend(&ticket("AUD-NONE"), now() + Duration::days(5), &operator())
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
        .extend(
            &ticket("AUD-EXTRACE"),
            now() + Duration::days(5),
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(after.status, GrantStatus::Revoking);
    assert!(
        h.iam.role(OWN, &g.role_name).is_none(),
        "the teardown is re-applied"
    );
}

#[tokio::test]
async fn a_retiring_account_gets_no_new_grants_and_its_grants_end_earlier_never_later() {
    let h = harness_with(&[("TARGET_ACCOUNTS", "222222222222")]);
    let mut req = request_json("AUD-RETIRE");
    req["target_account"] = json!("222222222222");
    h.create(&req).await.unwrap();
    // The account is taken out of TARGET_ACCOUNTS while the grant lives.
    let h = Harness {
        service: retired_service(&h),
        ..h
    };
    let mut other = request_json("AUD-NEW-THERE");
    other["target_account"] = json!("222222222222");
    let e = h.create(&other).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::TargetNotAllowed);
    let e = h
        .service
        .extend(
            &ticket("AUD-RETIRE"),
            now() + Duration::days(10),
            &operator(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::TargetNotAllowed);
    h.service
        .extend(
            &ticket("AUD-RETIRE"),
            now() + Duration::hours(1),
            &operator(),
        )
        .await
        .unwrap();
    let r = h
        .service
        .revoke(&ticket("AUD-RETIRE"), None, &operator())
        .await
        .unwrap();
    assert_eq!(r.status, GrantStatus::Revoked, "teardown still reaches it");
}

/// The same fakes, with 222222222222 moved to RETIRING_TARGET_ACCOUNTS.
fn retired_service(h: &Harness) -> GrantService {
    h.service_with_only(&[("RETIRING_TARGET_ACCOUNTS", "222222222222")])
}

#[tokio::test]
async fn an_extend_never_writes_the_auditors_trust_onto_another_role_of_the_same_name() {
    let h = harness();
    let g = h.active("AUD-EXT-OTHER").await;
    let mut theirs = h.iam.role(OWN, &g.role_name).unwrap();
    h.iam.delete_out_of_band(OWN, &g.role_name);
    theirs.role_id = "AROATHEIRS".into();
    theirs.trust = crate::policy::trust_no_one();
    h.iam.put_role(theirs);
    let e = h
        .service
        .extend(
            &ticket("AUD-EXT-OTHER"),
            now() + Duration::days(5),
            &operator(),
        )
        .await;
    assert!(e.is_err(), "the role is gone");
    assert_eq!(
        h.iam.role(OWN, &g.role_name).unwrap().trust,
        crate::policy::trust_no_one(),
        "their trust is untouched"
    );
}
