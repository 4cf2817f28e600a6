//! Grants into another target account through its provisioner role, against
//! the emulator with two accounts.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::error::ErrorCode;
use common::*;
use serde_json::json;

const OWN: &str = "123456789012";

#[tokio::test]
async fn a_grant_in_a_listed_target_account_is_made_and_torn_down_there() {
    let calls = CallLog::default();
    let own = default_account_clients(&calls).await;
    let (target, target_clients) = target_account_with_provisioner(OWN).await;

    let (_, service, _) = home_service(&own, &[("TARGET_ACCOUNTS", &target)]).await;

    let ticket_text = format!("XACCT:{}", fresh_account());
    let ticket = Ticket::parse(&ticket_text).unwrap();
    let mut req = request(&ticket_text);
    req["target_account"] = json!(target);
    calls.take();
    let g = create(&service, &req).await.unwrap();
    let grant = g.grant();
    assert_eq!(grant.status, GrantStatus::Active);
    assert_eq!(
        grant.role_arn(),
        format!(
            "arn:aws:iam::{target}:role/audit-grants/{}",
            ticket.role_name()
        )
    );

    // The role is in the target account, with the target's boundary; not here.
    let role = target_clients
        .iam
        .get_role()
        .role_name(ticket.role_name())
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(format!("arn:aws:iam::{target}:policy/audit-grants/audit-grants-boundary").as_str())
    );
    assert!(
        own.iam
            .get_role()
            .role_name(ticket.role_name())
            .send()
            .await
            .is_err()
    );

    // Through the provisioner role, with the ticket as session name and source identity.
    let assumed: Vec<String> = calls
        .sts_bodies()
        .into_iter()
        .filter(|b| b.contains("Action=AssumeRole"))
        .collect();
    assert!(!assumed.is_empty(), "{:?}", calls.calls());
    let session = audit_grants::aws::sts::session_name(&ticket);
    for body in &assumed {
        assert!(
            body.contains(&format!(
                "RoleArn=arn:aws:iam::{target}:role/audit-grants-provisioner"
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!("RoleSessionName={session}")),
            "{body}"
        );
        assert!(
            body.contains(&format!("SourceIdentity={session}")),
            "{body}"
        );
    }

    // Teardown happens there too.
    let revoked = service
        .revoke(&ticket, Some(&reason("done")), &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(
        target_clients
            .iam
            .get_role()
            .role_name(ticket.role_name())
            .send()
            .await
            .is_err()
    );

    // A target that is not listed is refused and changes nothing.
    let mut other = request(&format!("XACCT:{}", fresh_account()));
    other["target_account"] = json!("444455556666");
    let err = create(&service, &other).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TargetNotAllowed);
}
