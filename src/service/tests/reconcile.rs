use super::*;

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

    let dry = h.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert_eq!(dry.orphans.len(), 1);
    assert_eq!(dry.repaired.len(), 1);
    assert_eq!(dry.ended, ["AUD-GONE"]);
    assert_eq!(h.iam.role_count(), 3, "a dry run changes nothing");

    let done = h.service.reconcile(Mode::Apply.into()).await.unwrap();
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
    let again = h.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert!(again.orphans.is_empty() && again.repaired.is_empty() && again.ended.is_empty());
}

#[tokio::test]
async fn a_role_tagged_as_ours_that_no_grant_created_is_reported_and_never_touched() {
    let h = harness();
    let g = h.active("AUD-REAL").await;
    let mut copy = h.iam.role(OWN, &g.role_name).unwrap();
    copy.role_id = "AROAIMPOSTOR".into();
    copy.spec.role_name = "audit-IMPOSTOR-0000".into();
    copy.spec.ticket = ticket("AUD-NOBODY");
    copy.tags = vec![
        (TAG_MANAGED_BY.into(), "audit-grants".into()),
        (TAG_TICKET.into(), "AUD-NOBODY".into()),
    ];
    h.iam.put_role(copy);
    let report = h.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(report.orphans.len(), 0);
    assert_eq!(report.foreign.len(), 1, "{report:?}");
    assert!(h.iam.role(OWN, "audit-IMPOSTOR-0000").is_some());
}

#[tokio::test]
async fn a_repair_never_makes_a_new_role_and_never_touches_another_of_the_same_name() {
    let h = harness();
    let g = h.active("AUD-REPAIR").await;
    h.iam.tamper(OWN, &g.role_name, |r| {
        r.attached
            .push("arn:aws:iam::aws:policy/AdministratorAccess".into())
    });
    // The role is replaced by someone else's of the same name before the repair.
    let mut theirs = h.iam.role(OWN, &g.role_name).unwrap();
    h.iam.delete_out_of_band(OWN, &g.role_name);
    theirs.role_id = "AROATHEIRS".into();
    h.iam.put_role(theirs);
    h.clock.advance(Duration::minutes(10));
    let report = h.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert_eq!(report.foreign.len(), 1, "{report:?}");
    assert_eq!(report.ended, ["AUD-REPAIR"], "ours is gone: the grant ends");
    let role = h.iam.role(OWN, &g.role_name).unwrap();
    assert_eq!(role.role_id, "AROATHEIRS");
    assert!(
        role.attached
            .contains(&"arn:aws:iam::aws:policy/AdministratorAccess".to_owned()),
        "theirs is never touched"
    );
}

fn inspected(h: &Harness) -> Vec<String> {
    h.iam
        .calls()
        .into_iter()
        .filter(|(op, _)| *op == IamOp::Inspect)
        .map(|(_, role)| role)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn reconcile_stops_at_its_deadline_and_the_next_run_resumes_after_the_last_role_inspected() {
    let h = harness();
    let mut roles = vec![];
    for t in ["AUD-1", "AUD-2", "AUD-3", "AUD-4", "AUD-5"] {
        roles.push(h.active(t).await.role_name);
    }
    roles.sort();
    // Someone changes the last role in the listing's order: only a run that
    // reaches it can repair it.
    h.iam.tamper(OWN, &roles[4], |r| r.attached.clear());
    h.clock.advance(Duration::minutes(10));
    h.iam.set_inspect_latency(std::time::Duration::from_secs(1));
    let options = |secs: f64| ReconcileOptions {
        mode: Mode::Apply,
        deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs_f64(secs)),
    };

    let first = h.service.reconcile(options(2.5)).await.unwrap();
    assert_eq!((first.roles_seen, first.roles_inspected), (5, 3));
    assert!(!first.complete);
    assert_eq!(first.stopped_after, Some(format!("{OWN}/{}", roles[2])));
    assert!(
        first.repaired.is_empty(),
        "the drifted role was not reached"
    );
    assert_eq!(inspected(&h), roles[..3]);

    let second = h.service.reconcile(options(10.0)).await.unwrap();
    assert_eq!(second.resumed_after, first.stopped_after);
    assert_eq!((second.roles_inspected, second.complete), (2, true));
    assert_eq!(
        second.repaired.len(),
        1,
        "resumed where it stopped, and reached it"
    );
    assert_eq!(inspected(&h)[3..], roles[3..]);

    // Finished: the next run starts from the beginning again.
    let third = h.service.reconcile(options(10.0)).await.unwrap();
    assert_eq!((third.resumed_after, third.roles_inspected), (None, 5));
}

#[tokio::test(start_paused = true)]
async fn every_run_ends_grants_whose_role_is_gone_whatever_its_cursor_and_a_dry_run_leaves_the_cursor_alone()
 {
    let h = harness();
    let mut kept = [
        h.active("AUD-KEPT-1").await.role_name,
        h.active("AUD-KEPT-2").await.role_name,
    ];
    kept.sort();
    let gone = h.active("AUD-GONE").await;
    h.iam.delete_out_of_band(OWN, &gone.role_name);
    h.clock.advance(Duration::minutes(10));
    let cursor = crate::ports::ReconcileCursor {
        account: crate::domain::AccountId::parse(OWN).unwrap(),
        role_name: "audit-A".into(),
    };
    use crate::ports::GrantStore;
    h.store.save_reconcile_cursor(Some(&cursor)).await.unwrap();
    h.iam.set_inspect_latency(std::time::Duration::from_secs(5));

    let report = h
        .service
        .reconcile(ReconcileOptions {
            mode: Mode::Apply,
            deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs(1)),
        })
        .await
        .unwrap();
    // The listing is whole every run: the deleted role's grant ends at once,
    // wherever the inspection resumes.
    assert_eq!(report.ended, ["AUD-GONE"]);
    assert_eq!(
        h.store.grant("AUD-GONE").unwrap().status,
        GrantStatus::Revoked
    );
    assert_eq!(
        report.resumed_after.as_deref(),
        Some("123456789012/audit-A")
    );
    assert_eq!((report.roles_inspected, report.complete), (1, false));
    assert_eq!(report.stopped_after, Some(format!("{OWN}/{}", kept[0])));
    let saved = h.store.reconcile_cursor().await.unwrap();
    assert_eq!(saved, report_cursor(&report));

    // A dry run neither reads nor moves the cursor.
    let dry = h.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert_eq!(
        (dry.resumed_after, dry.complete, dry.roles_inspected),
        (None, true, 2)
    );
    assert_eq!(h.store.reconcile_cursor().await.unwrap(), saved);
}

fn report_cursor(report: &super::super::ReconcileReport) -> Option<crate::ports::ReconcileCursor> {
    report.stopped_after.as_ref().map(|s| {
        let (account, role_name) = s.split_once('/').unwrap();
        crate::ports::ReconcileCursor {
            account: crate::domain::AccountId::parse(account).unwrap(),
            role_name: role_name.into(),
        }
    })
}
