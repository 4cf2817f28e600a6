//! Teardown against the emulator, through the real SDK: the sweep, revoke, the
//! order of SPEC.md's steps, pieces already gone or added, roles that are not
//! ours, and a role created late by an invocation that died.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::error::ErrorCode;
use chrono::Duration;
use common::*;
use serde_json::json;

use super::grant_lifecycle::role_name;

#[tokio::test]
async fn sweep_tears_down_only_what_is_due_and_a_second_sweep_does_nothing() {
    let env = TestEnv::new().await;
    for (ticket, duration) in [("AUD-1H", "1h"), ("AUD-2H", "2h"), ("AUD-3D", "3d")] {
        let mut req = request(ticket);
        req["duration"] = json!(duration);
        create(&env.service, &req).await.unwrap();
    }
    let as_of = env.now() + Duration::minutes(90);
    let dry = env.service.sweep(dry_run_at(as_of)).await.unwrap();
    assert_eq!(dry.due, vec!["AUD-1H"]);
    assert!(dry.torn_down.is_empty());
    assert_eq!(env.roles().await.len(), 3, "a dry run changes nothing");

    env.calls.take();
    let report = env.service.sweep(sweep_at(as_of)).await.unwrap();
    assert_eq!(report.due, vec!["AUD-1H"]);
    assert_eq!(report.torn_down, vec!["AUD-1H"]);
    assert!(report.failed.is_empty());
    let calls = env.calls.take();
    assert!(
        !calls.iter().any(|c| c == "dynamodb:Scan"),
        "the sweeper never scans: {calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "dynamodb:Query").count(),
        1,
        "{calls:?}"
    );

    let mut remaining = vec![role_name("AUD-2H"), role_name("AUD-3D")];
    remaining.sort();
    assert_eq!(env.roles().await, remaining);
    let (g, history) = env
        .service
        .show(&Ticket::parse("AUD-1H").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Expired);
    assert!(g.ended_at.is_some());
    assert_eq!(g.end_reason.as_deref(), Some("window ended"));
    let steps: Vec<GrantStatus> = history.iter().map(|e| e.to).collect();
    assert_eq!(
        steps,
        vec![
            GrantStatus::Pending,
            GrantStatus::Active,
            GrantStatus::Revoking,
            GrantStatus::Expired
        ]
    );
    for t in ["AUD-2H", "AUD-3D"] {
        assert_eq!(
            env.service
                .get(&Ticket::parse(t).unwrap())
                .await
                .unwrap()
                .status,
            GrantStatus::Active
        );
    }

    let before = env.snapshot().await;
    let second = env.service.sweep(sweep_at(as_of)).await.unwrap();
    assert!(
        second.due.is_empty() && second.torn_down.is_empty(),
        "{second:?}"
    );
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn teardown_runs_in_the_order_spec_md_gives() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-ORDER")).await.unwrap();
    env.calls.take();
    env.calls.take_events();
    env.service
        .revoke(
            &Ticket::parse("AUD-ORDER").unwrap(),
            Some(&reason("done")),
            &operator(),
        )
        .await
        .unwrap();
    let events: Vec<String> = env
        .calls
        .take_events()
        .into_iter()
        .filter(|c| c.contains(" iam:"))
        .collect();
    let at = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} in {events:#?}"))
    };
    let deny = "iam:PutRolePolicy:AWSRevokeOlderSessions";
    let trust = "iam:UpdateAssumeRolePolicy";
    // The ownership check first, alone.
    assert_eq!(events[..2], ["sent iam:GetRole", "done iam:GetRole"]);
    // The session deny and trust-no-one go out together (one round trip)…
    assert!(at(&format!("sent {trust}")) < at(&format!("done {deny}")));
    assert!(at(&format!("sent {deny}")) < at(&format!("done {trust}")));
    // …and nothing is detached or deleted before both are in place.
    let safe = at(&format!("done {deny}")).max(at(&format!("done {trust}")));
    let removals = [
        "iam:DetachRolePolicy",
        "iam:DeleteRolePolicy:AuditGrantWindow",
        "iam:DeleteRolePolicy:AWSRevokeOlderSessions",
        "iam:DeleteRole",
    ];
    for r in removals {
        assert!(
            at(&format!("sent {r}")) > safe,
            "{r} after the deny and trust-no-one: {events:#?}"
        );
    }
    // The preset and the window deny go together; the session deny only once
    // both are gone; the role last.
    let sent_detach = at("sent iam:DetachRolePolicy");
    let sent_window = at("sent iam:DeleteRolePolicy:AuditGrantWindow");
    assert!(sent_detach < at("done iam:DeleteRolePolicy:AuditGrantWindow"));
    assert!(sent_window < at("done iam:DetachRolePolicy"));
    let both_gone =
        at("done iam:DetachRolePolicy").max(at("done iam:DeleteRolePolicy:AuditGrantWindow"));
    assert!(at("sent iam:DeleteRolePolicy:AWSRevokeOlderSessions") > both_gone);
    assert!(at("sent iam:DeleteRole") > at("done iam:DeleteRolePolicy:AWSRevokeOlderSessions"));
    let sent: Vec<_> = events.iter().filter(|e| e.starts_with("sent ")).collect();
    assert_eq!(sent.len(), 9, "{events:#?}");
    let mut levels = 0;
    let mut open = 0;
    for e in &events {
        if e.starts_with("sent ") {
            if open == 0 {
                levels += 1;
            }
            open += 1;
        } else {
            open -= 1;
        }
    }
    assert_eq!(
        levels, 5,
        "GetRole; deny, trust-no-one and the listings; detach and window; session deny; role: {events:#?}"
    );
}

#[tokio::test]
async fn a_role_whose_boundary_was_stripped_gets_it_back_before_anything_else_then_is_torn_down() {
    // The function may write only to roles that carry the boundary
    // (`iam:PermissionsBoundary` on every write in template.yaml): a role of
    // ours that lost it would otherwise be left behind, writable by nobody.
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-STRIP")).await.unwrap();
    let name = Ticket::parse("AUD-STRIP").unwrap().role_name();
    env.clients
        .iam
        .delete_role_permissions_boundary()
        .role_name(&name)
        .send()
        .await
        .unwrap();
    env.calls.take();
    env.service
        .revoke(&Ticket::parse("AUD-STRIP").unwrap(), None, &operator())
        .await
        .unwrap();
    let iam: Vec<String> = env
        .calls
        .take()
        .into_iter()
        .filter(|c| c.starts_with("iam:"))
        .collect();
    assert_eq!(
        iam[..3],
        [
            "iam:GetRole",
            "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy"
        ],
        "{iam:?}"
    );
    assert!(env.role(&name).await.is_none(), "torn down");
}

#[tokio::test]
async fn teardown_completes_when_pieces_are_already_gone_or_extra_ones_were_added() {
    let env = TestEnv::new().await;
    for t in ["AUD-GONE", "AUD-DETACHED", "AUD-EXTRA"] {
        create(&env.service, &request(t)).await.unwrap();
    }
    let iam = &env.clients.iam;
    // The role was deleted out of band.
    let gone = role_name("AUD-GONE");
    env.delete_role_out_of_band(&gone).await;
    // The preset was detached out of band.
    iam.detach_role_policy()
        .role_name(role_name("AUD-DETACHED"))
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
    // Extra policies, an inline policy and an instance profile were added.
    let extra = role_name("AUD-EXTRA");
    iam.attach_role_policy()
        .role_name(&extra)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(&extra)
        .policy_name("sneaky")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name("sneaky-profile")
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name("sneaky-profile")
        .role_name(&extra)
        .send()
        .await
        .unwrap();

    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::hours(73)))
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.torn_down,
        vec!["AUD-DETACHED", "AUD-EXTRA", "AUD-GONE"]
    );
    assert!(env.roles().await.is_empty());
    for t in ["AUD-GONE", "AUD-DETACHED", "AUD-EXTRA"] {
        assert_eq!(
            env.service
                .get(&Ticket::parse(t).unwrap())
                .await
                .unwrap()
                .status,
            GrantStatus::Expired
        );
    }
}

#[tokio::test]
async fn revoke_ends_access_at_once_and_the_ticket_can_never_be_granted_again() {
    let env = TestEnv::new().await;
    let req = request("AUD-REVOKE");
    create(&env.service, &req).await.unwrap();
    let ticket = Ticket::parse("AUD-REVOKE").unwrap();
    let g = env
        .service
        .revoke(
            &ticket,
            Some(&reason("fieldwork finished early")),
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Revoked);
    assert_eq!(g.end_reason.as_deref(), Some("fieldwork finished early"));
    assert!(g.ended_at.is_some());
    assert!(env.role(&role_name("AUD-REVOKE")).await.is_none());
    assert!(env.roles().await.is_empty());

    let before = env.snapshot().await;
    // A replay of the original request, or any other, is refused.
    let err = create(&env.service, &req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TicketEnded);
    let mut other = req.clone();
    other["duration"] = json!("1h");
    assert_eq!(
        create(&env.service, &other).await.unwrap_err().code(),
        ErrorCode::TicketEnded
    );
    // A replayed revoke changes nothing.
    let again = env
        .service
        .revoke(&ticket, Some(&reason("again")), &operator())
        .await
        .unwrap();
    assert_eq!(again, g);
    assert_eq!(env.snapshot().await, before);
    // Nor does a sweep.
    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::days(10)))
        .await
        .unwrap();
    assert!(report.due.is_empty());
}

#[tokio::test]
async fn revoking_an_unknown_ticket_is_not_found() {
    let env = TestEnv::new().await;
    let err = env
        .service
        .revoke(&Ticket::parse("AUD-NOPE").unwrap(), None, &operator())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert_eq!(env.snapshot().await, (vec![], 0));
}

#[tokio::test]
async fn a_grant_whose_window_has_not_started_is_active_and_the_window_is_in_its_trust() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-LATER");
    let start = env.now() + Duration::days(10);
    req["start"] = json!(audit_grants::domain::format_timestamp(start));
    let g = create(&env.service, &req).await.unwrap();
    assert_eq!(g.grant().status, GrantStatus::Active);
    let trust = env.trust_policy(&role_name("AUD-LATER")).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
        audit_grants::domain::format_timestamp(start)
    );
    // Not due before its end, even long after its start.
    let r = env
        .service
        .sweep(sweep_at(start + Duration::hours(71)))
        .await
        .unwrap();
    assert!(r.due.is_empty());
}

#[tokio::test]
async fn list_shows_grants_by_status() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-L1")).await.unwrap();
    create(&env.service, &request("AUD-L2")).await.unwrap();
    env.service
        .revoke(&Ticket::parse("AUD-L2").unwrap(), None, &operator())
        .await
        .unwrap();
    let all = env.service.list(None).await.unwrap();
    assert_eq!(all.len(), 2);
    let active = env.service.list(Some(GrantStatus::Active)).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].ticket.as_str(), "AUD-L1");
    let table = audit_grants::cli::list_table(&all, env.now());
    assert!(table.starts_with("TICKET"), "{table}");
    assert!(table.contains("AUD-L1  active"), "{table}");
}

/// Wraps the real IAM adapter: provisioning waits at `before` until the test
/// lets it go, and after creating the role hangs forever (the invocation dies).
struct StalledProvisioner {
    inner: audit_grants::aws::iam::IamRoles,
    before: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl audit_grants::ports::RoleProvisioner for StalledProvisioner {
    async fn list_roles(
        &self,
        target: &audit_grants::domain::AccountId,
        path: &str,
    ) -> Result<Vec<audit_grants::ports::ListedRole>, audit_grants::ports::ProvisionError> {
        self.inner.list_roles(target, path).await
    }
    async fn inspect_role(
        &self,
        target: &audit_grants::domain::AccountId,
        name: &str,
    ) -> Result<Option<audit_grants::ports::ObservedRole>, audit_grants::ports::ProvisionError>
    {
        self.inner.inspect_role(target, name).await
    }
    async fn provision(
        &self,
        spec: &audit_grants::ports::RoleSpec,
    ) -> Result<audit_grants::ports::ProvisionedRole, audit_grants::ports::ProvisionError> {
        self.before.notified().await;
        self.inner.provision(spec).await?;
        std::future::pending().await
    }
    async fn update_window(
        &self,
        role: &audit_grants::domain::RoleRef,
        window: &audit_grants::ports::WindowUpdate,
    ) -> Result<(), audit_grants::ports::ProvisionError> {
        self.inner.update_window(role, window).await
    }
    async fn teardown(
        &self,
        role: &audit_grants::domain::RoleRef,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<audit_grants::ports::Teardown, audit_grants::ports::ProvisionError> {
        self.inner.teardown(role, now).await
    }
}

#[tokio::test]
async fn a_role_created_after_a_revoke_by_an_invocation_that_then_died_is_removed_by_a_later_sweep()
{
    let env = TestEnv::new().await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let stalled = std::sync::Arc::new(env.service_with(std::sync::Arc::new(StalledProvisioner {
        inner: env.iam_roles(),
        before: gate.clone(),
    })));
    let req = request("AUD-LATE");
    let creating = tokio::spawn({
        let stalled = stalled.clone();
        async move { create(&stalled, &req).await }
    });
    let ticket = Ticket::parse("AUD-LATE").unwrap();
    // Wait for the pending record, then revoke while provisioning has not begun.
    loop {
        if env.service.get(&ticket).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let revoked = env
        .service
        .revoke(&ticket, Some(&reason("cancelled")), &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(
        revoked.recheck,
        "ended while a provisioning may be in flight"
    );
    // The late provisioning creates the role, then its invocation dies.
    gate.notify_one();
    while env.role(&role_name("AUD-LATE")).await.is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    creating.abort();

    // Too early to be sure the invocation is gone: not yet due.
    let early = env
        .service
        .sweep(sweep_at(env.now() + Duration::minutes(1)))
        .await
        .unwrap();
    assert!(early.due.is_empty(), "{early:?}");
    let report = env
        .service
        .sweep(sweep_at(env.now() + Duration::minutes(6)))
        .await
        .unwrap();
    assert_eq!(report.verified, vec!["AUD-LATE"], "{report:?}");
    assert!(env.roles().await.is_empty(), "the late role is gone");
    let g = env.service.get(&ticket).await.unwrap();
    assert_eq!((g.status, g.recheck), (GrantStatus::Revoked, false));
    let again = env
        .service
        .sweep(sweep_at(env.now() + Duration::hours(1)))
        .await
        .unwrap();
    assert!(again.due.is_empty(), "checked once: {again:?}");
}

#[tokio::test]
async fn a_grant_past_its_end_cannot_be_extended_even_before_the_sweep() {
    let env = TestEnv::new().await;
    let mut req = request("AUD-OVER");
    req["duration"] = json!("1h");
    create(&env.service, &req).await.unwrap();
    env.clock.advance(Duration::hours(2));
    let err = env
        .service
        .extend(
            &Ticket::parse("AUD-OVER").unwrap(),
            env.now() + Duration::hours(5),
            &operator(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
}

#[tokio::test]
async fn teardown_never_touches_a_role_of_the_same_name_that_is_not_ours() {
    let env = TestEnv::new().await;
    // Someone else's role squats the name this ticket would get.
    let name = role_name("AUD-SQUAT");
    env.clients
        .iam
        .create_role()
        .role_name(&name)
        .path("/audit-grants/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let err = create(&env.service, &request("AUD-SQUAT"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    let g = env
        .service
        .get(&Ticket::parse("AUD-SQUAT").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, GrantStatus::Failed);
    assert!(
        !g.is_ended() && g.refused,
        "it never had a role: the ticket stays open"
    );
    // Never adopted (its trust is not ours), never deleted either.
    let trust = env.trust_policy(&name).await;
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], "*");
    let revoked = env
        .service
        .revoke(&Ticket::parse("AUD-SQUAT").unwrap(), None, &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(env.role(&name).await.is_some());
    assert_eq!(
        env.trust_policy(&name).await["Statement"][0]["Principal"]["AWS"],
        "*"
    );
}

#[tokio::test]
async fn a_role_is_ours_by_its_recorded_id_even_when_its_ownership_tags_were_removed() {
    let env = TestEnv::new().await;
    let created = create(&env.service, &request("AUD-UNTAGGED"))
        .await
        .unwrap();
    let name = role_name("AUD-UNTAGGED");
    let role_id = env.role(&name).await.unwrap().role_id().to_owned();
    assert_eq!(
        created.grant().first_role().role_id.as_deref(),
        Some(role_id.as_str())
    );
    env.clients
        .iam
        .untag_role()
        .role_name(&name)
        .tag_keys("audit-grants:managed-by")
        .tag_keys("audit-grants:ticket")
        .send()
        .await
        .unwrap();
    let ticket = Ticket::parse("AUD-UNTAGGED").unwrap();
    let revoked = env
        .service
        .revoke(&ticket, Some(&reason("stop")), &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(env.role(&name).await.is_none(), "torn down by its id");
}

#[tokio::test]
async fn a_role_made_again_under_the_grants_name_by_someone_else_is_never_touched() {
    let env = TestEnv::new().await;
    create(&env.service, &request("AUD-REMADE")).await.unwrap();
    let name = role_name("AUD-REMADE");
    // Ours is deleted out of band, and someone makes another with the same
    // name and the same tags.
    env.delete_role_out_of_band(&name).await;
    env.clients
        .iam
        .create_role()
        .role_name(&name)
        .path("/audit-grants/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#)
        .tags(aws_sdk_iam::types::Tag::builder().key("audit-grants:managed-by").value("audit-grants").build().unwrap())
        .tags(aws_sdk_iam::types::Tag::builder().key("audit-grants:ticket").value("AUD-REMADE").build().unwrap())
        .send()
        .await
        .unwrap();
    let revoked = env
        .service
        .revoke(&Ticket::parse("AUD-REMADE").unwrap(), None, &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked, "ours is gone");
    let theirs = env.trust_policy(&name).await;
    assert_eq!(
        theirs["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::999999999999:root",
        "theirs keeps its trust: never touched"
    );
}

#[tokio::test]
async fn role_path_and_session_limit_come_from_the_settings() {
    let env = TestEnv::with(
        &[
            ("ROLE_PATH", "/audits/external/"),
            ("MAX_SESSION_SECONDS", "7200"),
        ],
        chrono::Utc::now(),
    )
    .await;
    let g = create(&env.service, &request("AUD-SETTINGS"))
        .await
        .unwrap();
    let role = env.role(&role_name("AUD-SETTINGS")).await.unwrap();
    assert_eq!(role.path(), "/audits/external/");
    assert_eq!(role.max_session_duration(), Some(7200));
    assert!(
        g.grant()
            .role_arn()
            .contains(":role/audits/external/audit-AUD-SETTINGS-")
    );
}
