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
    let report = h.service.reconcile(Mode::Apply).await.unwrap();
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
    let report = h.service.reconcile(Mode::Apply).await.unwrap();
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
