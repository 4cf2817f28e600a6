use super::*;

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
async fn provisioning_is_retried_while_the_window_is_open_and_ends_with_the_window() {
    let h = harness();
    // A misconfiguration (the boundary missing in the account, say) for half an hour.
    for _ in 0..7 {
        h.iam.fail_next(
            IamOp::Provision,
            ProvisionError::Aws(anyhow::anyhow!("NoSuchEntity: boundary")),
        );
    }
    let _ = h.create(&request_json("AUD-PATIENT")).await;
    for minute in 1..=6 {
        let r = h
            .service
            .sweep(sweep_at(now() + Duration::minutes(5 * minute)))
            .await
            .unwrap();
        assert_eq!(r.failed.len(), 1, "attempt {minute} fails and is reported");
        let g = h.store.grant("AUD-PATIENT").unwrap();
        assert!(!g.is_ended(), "never given up while the window is open");
    }
    assert_eq!(h.store.grant("AUD-PATIENT").unwrap().attempts, 7);
    // Fixed: the next sweep provisions it.
    let r = h
        .service
        .sweep(sweep_at(now() + Duration::minutes(35)))
        .await
        .unwrap();
    assert_eq!(r.resumed, ["AUD-PATIENT"]);
    // A grant that never got its role ends with its window, nothing left.
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("NoSuchEntity: boundary")),
    );
    let mut short = request_json("AUD-NEVER");
    short["duration"] = json!("1h");
    let _ = h.create(&short).await;
    for _ in 0..20 {
        h.iam.fail_next(
            IamOp::Provision,
            ProvisionError::Aws(anyhow::anyhow!("NoSuchEntity: boundary")),
        );
    }
    let r = h
        .service
        .sweep(sweep_at(now() + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(r.torn_down, ["AUD-NEVER"]);
    let g = h.store.grant("AUD-NEVER").unwrap();
    assert_eq!(
        (g.status, g.end_reason.as_deref()),
        (
            GrantStatus::Expired,
            Some("window ended before provisioning completed")
        )
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
        .revoke(&ticket("AUD-RECHECK"), None, &operator())
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
