//! One engagement across three emulated accounts (ours and two targets, each
//! reached through its provisioner role): one role per account, one grant,
//! one window; extend, reconcile and revoke cover every account.

use crate::common;

use std::sync::Arc;

use audit_grants::aws::AwsClients;
use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::ports::GrantStore;
use audit_grants::service::{GrantService, Mode};
use common::*;
use serde_json::json;

const OWN: &str = "123456789012";

struct Engagement {
    own: AwsClients,
    targets: Vec<(String, AwsClients)>,
    settings: Arc<audit_grants::config::Settings>,
    service: GrantService,
    clock: TestClock,
}

async fn engagement() -> Engagement {
    let own = default_account_clients(&CallLog::default()).await;
    let targets = vec![
        target_account_with_provisioner(OWN).await,
        target_account_with_provisioner(OWN).await,
    ];
    let listed = targets
        .iter()
        .map(|(a, _)| a.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let (settings, service, clock) = home_service(
        &own,
        &[("TARGET_ACCOUNTS", &listed), ("AWS_REGION", "eu-west-1")],
    )
    .await;
    Engagement {
        own,
        targets,
        settings,
        service,
        clock,
    }
}

async fn role_in(clients: &AwsClients, name: &str) -> Option<aws_sdk_iam::types::Role> {
    clients
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.role)
}

#[tokio::test]
async fn an_engagement_across_three_accounts_is_granted_extended_mended_and_revoked_in_each() {
    let e = engagement().await;
    let (t1, t2) = (&e.targets[0], &e.targets[1]);
    let ticket_text = format!("MULTI:{}", fresh_account());
    let ticket = Ticket::parse(&ticket_text).unwrap();
    let name = ticket.role_name();
    let mut req = request(&ticket_text);
    req["target_accounts"] = json!([OWN, t1.0, t2.0]);

    let created = create(&e.service, &req).await.unwrap();
    let grant = created.grant().clone();
    assert_eq!(grant.status, GrantStatus::Active);
    // One role in each account, each with that account's boundary, its id recorded.
    let accounts = [(OWN.to_owned(), e.own.clone()), t1.clone(), t2.clone()];
    for ((account, clients), recorded) in accounts.iter().zip(&grant.roles) {
        let role = role_in(clients, &name)
            .await
            .expect("a role in every account");
        assert_eq!(recorded.account.as_str(), account);
        assert_eq!(recorded.role_id.as_deref(), Some(role.role_id()));
        assert_eq!(recorded.role_arn, role.arn());
        assert_eq!(
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn()),
            Some(
                format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary")
                    .as_str()
            )
        );
    }
    let view = grant.view(true);
    assert_eq!(view["roles"].as_array().unwrap().len(), 3);
    let profile = view["aws_config_profile"].as_str().unwrap();
    assert_eq!(
        profile.matches("[profile audit-MULTI_3a").count(),
        3,
        "{profile}"
    );
    assert_eq!(
        profile.matches("region = eu-west-1").count(),
        3,
        "{profile}"
    );
    // Read as the AWS CLI reads ~/.aws/config (botocore's own parser): one
    // profile per account, each complete.
    let parsed = botocore_profiles(profile);
    assert_eq!(parsed.as_object().unwrap().len(), 3, "{parsed}");
    for (account, role) in [OWN, &t1.0, &t2.0].iter().zip(&grant.roles) {
        let name = format!(
            "profile audit-{}-{account}",
            ticket_text.replace(':', "_3a")
        );
        let p = &parsed[name.as_str()];
        assert_eq!(p["role_arn"], json!(role.role_arn), "{parsed}");
        assert_eq!(p["external_id"], json!(grant.external_id.as_str()));
        assert_eq!(p["region"], json!("eu-west-1"));
        assert_eq!(p["source_profile"], json!("default"));
    }

    // The record holds every role, read back from DynamoDB.
    let store = audit_grants::wiring::grant_store(&e.own_clients(), &e.settings);
    assert_eq!(
        store.get(&ticket).await.unwrap().unwrap().roles,
        grant.roles
    );

    // Extend moves the trust and the expiry tag in every account.
    let end = grant.window.end() + chrono::Duration::hours(24);
    e.service.extend(&ticket, end, &operator()).await.unwrap();
    let expires = audit_grants::domain::format_timestamp(end);
    for (_, clients) in &accounts {
        let role = role_in(clients, &name).await.unwrap();
        assert!(
            role.tags()
                .iter()
                .any(|t| t.key() == "audit-grants:expires-at" && t.value() == expires),
            "{:?}",
            role.tags()
        );
    }

    // Drift in one target account is mended there.
    t2.1.iam
        .detach_role_policy()
        .role_name(&name)
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
    e.clock.advance(chrono::Duration::minutes(10));
    let report = e.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(report.repaired.len(), 1, "{report:?}");
    assert!(report.repaired[0].role_arn.contains(&t2.0));
    assert!(
        report.foreign.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );

    // Revoke removes the role in every account.
    let revoked = e
        .service
        .revoke(&ticket, Some(&reason("fieldwork done")), &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    for (account, clients) in &accounts {
        assert!(role_in(clients, &name).await.is_none(), "left in {account}");
    }
}

impl Engagement {
    fn own_clients(&self) -> AwsClients {
        self.own.clone()
    }
}

/// `profile` parsed by botocore's config loader (the AWS CLI's), from the
/// project's Python environment: `{"profile <name>": {key: value}}`.
fn botocore_profiles(profile: &str) -> serde_json::Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), profile).unwrap();
    let python = project_dir().join(".venv/bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, botocore.configloader as c; print(json.dumps(c.raw_config_parse(sys.argv[1])))",
        ])
        .arg(file.path())
        .output()
        .expect("the project's Python environment (scripts/venv.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
