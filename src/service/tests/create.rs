use super::*;

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
        g.role_arn(),
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
    h.service
        .revoke(&ticket("AUD-ENDED"), None, &operator())
        .await
        .unwrap();
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
async fn a_principal_iam_refuses_is_a_rejection_naming_it_and_the_ticket_stays_open() {
    let h = harness();
    let mut req = request_json("AUD-TYPO");
    req["principals"] = json!([AUDITOR_ROLE, "arn:aws:iam::210987654321:role/Typo"]);
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected(
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::210987654321:role/Typo\"".into(),
        ),
    );
    let e = h.create(&req).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals[1]")));
    assert_eq!(h.iam.role_count(), 0, "no role is left");
    let g = h.store.grant("AUD-TYPO").unwrap();
    assert_eq!(
        (g.status, g.is_ended(), g.refused),
        (GrantStatus::Failed, false, true)
    );
    assert_eq!(g.due_at(), None, "the sweeper does not retry a refusal");
    // The corrected request is granted; the refusal stays in the history.
    let corrected = h.create(&request_json("AUD-TYPO")).await.unwrap();
    assert!(matches!(corrected, Created::New(_)));
    let g = corrected.grant();
    assert_eq!(g.status, GrantStatus::Active);
    assert_eq!(g.principals.len(), 1);
    assert!(!g.refused);
    let reasons: Vec<String> = h
        .store
        .events("AUD-TYPO")
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[1].starts_with("IAM refused the request: Invalid principal"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], "a corrected request after a refusal");
    assert_eq!(reasons[3], "role provisioned");
}

#[tokio::test]
async fn the_same_request_after_a_refusal_is_tried_again_once_what_iam_refused_exists() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected("Invalid principal in policy".into()),
    );
    let e = h.create(&request_json("AUD-NEW-ROLE")).await.unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals")));
    // The auditor's role now exists: the same request goes through.
    let again = h.create(&request_json("AUD-NEW-ROLE")).await.unwrap();
    assert_eq!(again.grant().status, GrantStatus::Active);
    assert_eq!(
        h.store.events("AUD-NEW-ROLE")[2].reason,
        "the same request sent again after a refusal"
    );
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
    assert_eq!((g.status, g.refused), (GrantStatus::Failed, true));
    assert!(
        !g.is_ended(),
        "it never had a role of ours: the ticket stays open"
    );
    assert_eq!(h.iam.role_count(), 0);
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

#[tokio::test]
async fn who_asked_is_recorded_with_every_change_they_asked_for() {
    let h = harness();
    let sender = crate::domain::Origin::eventbridge("com.example.ticketing", Some("evt-1"));
    h.service
        .create(&body(&request_json("AUD-WHO")), &sender)
        .await
        .unwrap();
    h.service
        .extend(&ticket("AUD-WHO"), now() + Duration::days(5), &operator())
        .await
        .unwrap();
    h.service
        .revoke(&ticket("AUD-WHO"), None, &operator())
        .await
        .unwrap();
    let origins: Vec<Option<String>> = h
        .store
        .events("AUD-WHO")
        .iter()
        .map(|e| e.origin.as_ref().map(|o| o.describe()))
        .collect();
    assert_eq!(
        origins,
        [
            Some("eventbridge com.example.ticketing evt-1".to_owned()),
            None, // the role provisioned: the function's own doing
            Some("cli test-operator".to_owned()),
            Some("cli test-operator".to_owned()),
            None,
        ]
    );
}

#[tokio::test]
async fn a_revoke_of_a_refused_grant_that_failed_is_retried_and_never_undone_by_a_new_request() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected("Invalid principal in policy".into()),
    );
    let _ = h.create(&request_json("AUD-REFUSED-REVOKED")).await;
    h.iam.fail_next(
        IamOp::Teardown,
        ProvisionError::Aws(anyhow::anyhow!("ServiceFailure")),
    );
    assert!(
        h.service
            .revoke(&ticket("AUD-REFUSED-REVOKED"), None, &operator())
            .await
            .is_err()
    );
    let g = h.store.grant("AUD-REFUSED-REVOKED").unwrap();
    assert!(
        g.ending.is_some() && g.due_at().is_some(),
        "the sweeper retries it"
    );
    let again = h
        .create(&request_json("AUD-REFUSED-REVOKED"))
        .await
        .unwrap();
    assert!(matches!(again, Created::Existing(_)), "not re-provisioned");
    assert_eq!(h.iam.count(IamOp::Provision), 1);
    let r = h.service.sweep(sweep_at(now())).await.unwrap();
    assert_eq!(r.torn_down, ["AUD-REFUSED-REVOKED"]);
}

#[tokio::test]
async fn a_provisioning_resumed_later_is_held_to_the_allowlists_as_they_are_then() {
    let h = harness();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("Throttling")),
    );
    let _ = h.create(&request_json("AUD-NOT-ANY-MORE")).await;
    // The auditor's firm is taken off AUDITOR_ACCOUNTS before the retry.
    let settings = Settings::from_lookup(|k| match k {
        "GRANTS_TABLE" => Some("grants".into()),
        "PERMISSIONS_BOUNDARY_ARN" => Some(BOUNDARY.into()),
        "AUDITOR_ACCOUNTS" => Some("111122223333".into()),
        _ => None,
    })
    .unwrap();
    let service = GrantService::new(
        Arc::new(h.store.clone()),
        Arc::new(h.iam.clone()),
        Arc::new(FixedIdentity::in_account(OWN)),
        Arc::new(h.clock.clone()),
        Arc::new(settings),
    );
    let r = service.sweep(sweep_at(now())).await.unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    let g = h.store.grant("AUD-NOT-ANY-MORE").unwrap();
    assert!(g.refused && !g.is_ended(), "{g:?}");
    assert_eq!(h.iam.count(IamOp::Provision), 1, "never provisioned again");
    assert_eq!(h.iam.role_count(), 0);
}

#[tokio::test]
async fn a_new_grant_is_claimed_without_reading_first_and_a_replay_reads_only_after_losing() {
    let h = harness();
    h.active("AUD-CLAIM").await;
    // (The notices the commit wrote are taken out of the outbox once sent.)
    let records = || -> Vec<StoreOp> {
        h.store
            .calls()
            .into_iter()
            .filter(|op| *op != StoreOp::Notices)
            .collect()
    };
    assert_eq!(
        records(),
        [StoreOp::Insert, StoreOp::Update],
        "claim, then the active record: no read"
    );
    let again = h.create(&request_json("AUD-CLAIM")).await.unwrap();
    assert!(matches!(again, Created::Existing(_)));
    assert_eq!(
        records()[2..],
        [StoreOp::Insert, StoreOp::Get],
        "the claim lost, then the record answers"
    );
}
