//! Drift and orphans, made directly in the emulator, found and mended by the
//! reconcile pass (and only reported by a dry run).

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use common::*;
use serde_json::json;

fn role_name(t: &str) -> String {
    Ticket::parse(t).unwrap().role_name()
}

/// A role that looks like ours (path and tags) for `ticket`.
async fn fake_our_role(env: &TestEnv, ticket: &str) -> String {
    let name = role_name(ticket);
    env.clients
        .iam
        .create_role()
        .role_name(&name)
        .path("/audit-grants/")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .tags(aws_sdk_iam::types::Tag::builder().key("audit-grants:managed-by").value("audit-grants").build().unwrap())
        .tags(aws_sdk_iam::types::Tag::builder().key("audit-grants:ticket").value(ticket).build().unwrap())
        .send()
        .await
        .unwrap();
    env.clients
        .iam
        .attach_role_policy()
        .role_name(&name)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    name
}

/// Records the grant of `ticket` as ended (revoked) while its role stays in
/// IAM: what reconcile finds when a teardown was recorded done but IAM still
/// lists the role.
async fn record_ended_leaving_the_role(env: &TestEnv, ticket: &str) {
    use audit_grants::ports::GrantStore;
    let store = audit_grants::wiring::grant_store(&env.clients, &env.settings);
    let ticket = Ticket::parse(ticket).unwrap();
    let g = store.get(&ticket).await.unwrap().unwrap();
    let begun = g
        .begin_teardown(audit_grants::domain::Ending::Revoked, "test", env.now())
        .unwrap();
    store.update(&begun.grant, &begun.event, &[]).await.unwrap();
    let done = begun.grant.finish_teardown(env.now()).unwrap();
    store.update(&done.grant, &done.event, &[]).await.unwrap();
}

#[tokio::test]
async fn roles_of_ended_grants_are_torn_down_and_roles_no_grant_made_are_never_touched() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-LIVE")).await.unwrap();
    // A role whose grant ended (by its recorded id: provably ours).
    create(&env.service, &request("AUD-ENDED")).await.unwrap();
    record_ended_leaving_the_role(&env, "AUD-ENDED").await;
    // Roles tagged as ours that no grant created: for a ticket nobody
    // granted, and one made again for an ended grant (another id).
    fake_our_role(&env, "AUD-GHOST").await;
    create(&env.service, &request("AUD-OLD")).await.unwrap();
    env.service
        .revoke(&Ticket::parse("AUD-OLD").unwrap(), None, &operator())
        .await
        .unwrap();
    fake_our_role(&env, "AUD-OLD").await;
    // Someone else's role under the path.
    env.clients
        .iam
        .create_role()
        .role_name("not-ours")
        .path("/audit-grants/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();

    let before = env.snapshot().await;
    let dry = env.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert_eq!(dry.orphans.len(), 1, "{dry:?}");
    assert!(dry.orphans[0].ends_with(&role_name("AUD-ENDED")), "{dry:?}");
    assert_eq!(dry.foreign.len(), 3, "{dry:?}");
    assert!(dry.repaired.is_empty() && dry.ended.is_empty(), "{dry:?}");
    assert_eq!(env.snapshot().await, before, "a dry run changes nothing");

    let done = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(done.orphans, dry.orphans);
    assert!(done.failed.is_empty(), "{done:?}");
    let mut left = env.roles().await;
    left.sort();
    let mut expected = vec![
        role_name("AUD-LIVE"),
        role_name("AUD-GHOST"),
        role_name("AUD-OLD"),
        "not-ours".to_owned(),
    ];
    expected.sort();
    assert_eq!(left, expected, "only the provably ours orphan goes");
    assert_eq!(
        env.service
            .get(&Ticket::parse("AUD-LIVE").unwrap())
            .await
            .unwrap()
            .status,
        GrantStatus::Active,
        "live grants are untouched"
    );
    let again = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert!(
        again.orphans.is_empty() && again.repaired.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_live_grants_role_changed_out_of_band_is_brought_back_to_the_approved_shape() {
    let env = TestEnv::new().await;
    for t in [
        "AUD-TRUST",
        "AUD-POLICIES",
        "AUD-BOUNDARY",
        "AUD-DETACHED",
        "AUD-CLEAN",
    ] {
        create(&env.service, &request(t)).await.unwrap();
    }
    let iam = &env.clients.iam;
    let approved_trust = env.trust_policy(&role_name("AUD-TRUST")).await;
    // Trust widened to anyone.
    iam.update_assume_role_policy()
        .role_name(role_name("AUD-TRUST"))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    // Administrator attached, an inline policy added.
    iam.attach_role_policy()
        .role_name(role_name("AUD-POLICIES"))
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(role_name("AUD-POLICIES"))
        .policy_name("backdoor")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    // The boundary removed.
    iam.delete_role_permissions_boundary()
        .role_name(role_name("AUD-BOUNDARY"))
        .send()
        .await
        .unwrap();
    // The preset detached.
    iam.detach_role_policy()
        .role_name(role_name("AUD-DETACHED"))
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();

    let dry = env.service.reconcile(Mode::DryRun.into()).await.unwrap();
    let drift: Vec<(String, Vec<String>)> = dry
        .repaired
        .iter()
        .map(|d| (d.ticket.clone(), d.drift.clone()))
        .collect();
    assert_eq!(
        drift,
        vec![
            (
                "AUD-BOUNDARY".to_owned(),
                vec!["permissions boundary".to_owned()]
            ),
            (
                "AUD-DETACHED".to_owned(),
                vec!["attached policies".to_owned()]
            ),
            (
                "AUD-POLICIES".to_owned(),
                vec!["attached policies".to_owned(), "inline policies".to_owned()]
            ),
            ("AUD-TRUST".to_owned(), vec!["trust policy".to_owned()]),
        ]
    );
    assert_eq!(
        env.attached(&role_name("AUD-DETACHED")).await.len(),
        0,
        "a dry run repairs nothing"
    );

    let done = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(done.repaired.len(), 4);
    assert_eq!(
        env.trust_policy(&role_name("AUD-TRUST")).await,
        approved_trust
    );
    for t in ["AUD-POLICIES", "AUD-DETACHED", "AUD-BOUNDARY"] {
        assert_eq!(
            env.attached(&role_name(t)).await,
            vec!["arn:aws:iam::aws:policy/SecurityAudit".to_owned()],
            "{t}"
        );
        assert_eq!(env.inline(&role_name(t)).await, ["AuditGrantWindow"], "{t}");
        let role = env.role(&role_name(t)).await.unwrap();
        assert_eq!(
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn()),
            Some(env.boundary_arn().as_str()),
            "{t}"
        );
    }
    // The repair is in the grant's history; a second pass finds nothing.
    let (_, history) = env
        .service
        .show(&Ticket::parse("AUD-TRUST").unwrap())
        .await
        .unwrap();
    assert!(
        history
            .last()
            .unwrap()
            .reason
            .starts_with("role repaired after out-of-band change: trust policy")
    );
    let again = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert!(again.repaired.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_live_grant_whose_role_was_deleted_out_of_band_is_ended() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-DELETED")).await.unwrap();
    let name = role_name("AUD-DELETED");
    env.delete_role_out_of_band(&name).await;
    // Not right away: IAM's listing may lag a grant changed in the last minutes.
    let early = env.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert!(early.ended.is_empty(), "{early:?}");
    env.clock.advance(chrono::Duration::minutes(6));
    let dry = env.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert_eq!(dry.ended, vec!["AUD-DELETED"]);
    assert_eq!(
        env.service
            .get(&Ticket::parse("AUD-DELETED").unwrap())
            .await
            .unwrap()
            .status,
        GrantStatus::Active
    );
    let done = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(done.ended, vec!["AUD-DELETED"]);
    let g = env
        .service
        .get(&Ticket::parse("AUD-DELETED").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Revoked);
    assert_eq!(
        g.end_reason.as_deref(),
        Some(audit_grants::service::ROLE_DELETED_OUT_OF_BAND)
    );
    assert!(env.role(&name).await.is_none(), "access is not given back");
    // And the ticket is ended for good.
    let err = create(&env.service, &request("AUD-DELETED"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), audit_grants::error::ErrorCode::TicketEnded);
}

#[tokio::test]
async fn reconcile_runs_from_its_schedule_event() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-SCHEDULED"))
        .await
        .unwrap();
    record_ended_leaving_the_role(&env, "AUD-SCHEDULED").await;
    fake_our_role(&env, "AUD-UNTIED").await;
    let out =
        audit_grants::lambda::handle_event(&env.function, event("reconcile-schedule.json"), None)
            .await
            .unwrap();
    assert_eq!(out["orphans"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["foreign"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(env.roles().await, [role_name("AUD-UNTIED")]);
}

#[tokio::test]
async fn a_reconcile_cut_short_by_its_deadline_records_where_it_stopped_and_the_next_one_finishes()
{
    use audit_grants::ports::GrantStore;
    use audit_grants::service::ReconcileOptions;
    let env = TestEnv::new().await;
    for t in ["AUD-R1", "AUD-R2", "AUD-R3"] {
        create(&env.service, &request(t)).await.unwrap();
    }
    // The last role in the listing's order loses its preset out of band.
    let mut names: Vec<String> = ["AUD-R1", "AUD-R2", "AUD-R3"].map(role_name).to_vec();
    names.sort();
    env.clients
        .iam
        .detach_role_policy()
        .role_name(&names[2])
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
    let store = audit_grants::wiring::grant_store(&env.clients, &env.settings);

    // An invocation whose deadline has come: it lists, inspects nothing, and
    // records nothing new (there was no cursor).
    let cut = env
        .service
        .reconcile(ReconcileOptions {
            mode: Mode::Apply,
            deadline: Some(tokio::time::Instant::now()),
        })
        .await
        .unwrap();
    assert_eq!(
        (cut.roles_seen, cut.roles_inspected, cut.complete),
        (3, 0, false),
        "{cut:?}"
    );
    assert!(cut.repaired.is_empty());
    assert_eq!(store.reconcile_cursor().await.unwrap(), None);

    // A cursor left by an earlier run after the first role, in the real table.
    let cursor = audit_grants::ports::ReconcileCursor {
        account: audit_grants::domain::AccountId::parse(&env.account).unwrap(),
        role_name: names[0].clone(),
    };
    store.save_reconcile_cursor(Some(&cursor)).await.unwrap();
    assert_eq!(
        store.reconcile_cursor().await.unwrap(),
        Some(cursor.clone())
    );

    let resumed = env.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(
        resumed.resumed_after,
        Some(cursor.to_string()),
        "{resumed:?}"
    );
    assert_eq!(
        (resumed.roles_inspected, resumed.complete),
        (2, true),
        "{resumed:?}"
    );
    assert_eq!(resumed.repaired.len(), 1, "{resumed:?}");
    assert!(resumed.repaired[0].role_arn.ends_with(&names[2]));
    assert_eq!(
        env.attached(&names[2]).await,
        ["arn:aws:iam::aws:policy/SecurityAudit"]
    );
    // Finished: the cursor is cleared, and the next run starts from the top.
    assert_eq!(store.reconcile_cursor().await.unwrap(), None);
    let next = env.service.reconcile(Mode::DryRun.into()).await.unwrap();
    assert_eq!((next.resumed_after, next.roles_inspected), (None, 3));
}
