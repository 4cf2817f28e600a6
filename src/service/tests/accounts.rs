//! One engagement, several accounts: one role per account, one grant, one window.

use super::*;
use crate::ports::Clock;

const T1: &str = "222222222222";
const T2: &str = "333333333333";

fn three_accounts() -> Harness {
    harness_with(&[
        ("TARGET_ACCOUNTS", "222222222222,333333333333"),
        ("AWS_REGION", "eu-west-1"),
    ])
}

fn request_in_three(t: &str) -> Value {
    let mut req = request_json(t);
    req["target_accounts"] = json!([OWN, T1, T2]);
    req
}

fn calls_of(h: &Harness, op: IamOp) -> Vec<String> {
    h.iam
        .calls()
        .into_iter()
        .filter(|(o, _)| *o == op)
        .map(|(_, about)| about.split('/').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_grant_across_accounts_has_one_role_per_account_and_is_active_once_all_exist() {
    let h = three_accounts();
    let g = h
        .create(&request_in_three("AUD-MULTI"))
        .await
        .unwrap()
        .grant()
        .clone();
    assert_eq!(g.status, GrantStatus::Active);
    for account in [OWN, T1, T2] {
        let role = h
            .iam
            .role(account, &g.role_name)
            .expect("a role in every account");
        assert_eq!(
            role.boundary.as_deref(),
            Some(
                format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary")
                    .as_str()
            )
        );
    }
    assert!(g.roles.iter().all(|r| r.role_id.is_some()));
    let view = g.view(true);
    assert_eq!(
        view["role_arn"],
        json!(g.roles[0].role_arn),
        "the first account's"
    );
    assert_eq!(
        view["roles"],
        json!([
            {"account": OWN, "role_arn": g.roles[0].role_arn},
            {"account": T1, "role_arn": g.roles[1].role_arn},
            {"account": T2, "role_arn": g.roles[2].role_arn},
        ])
    );
    let profile = view["aws_config_profile"].as_str().unwrap();
    for (account, role) in [OWN, T1, T2].iter().zip(&g.roles) {
        assert!(profile.contains(&format!(
            "[profile audit-AUD-MULTI-{account}]\nrole_arn = {}\n",
            role.role_arn
        )));
    }
    assert_eq!(
        profile.matches("region = eu-west-1\n").count(),
        3,
        "{profile}"
    );
    // One account's grant keeps the short profile name, and the region.
    let one = h.active("AUD-ONE").await.view(true);
    let profile = one["aws_config_profile"].as_str().unwrap();
    assert!(
        profile.starts_with("[profile audit-AUD-ONE]\n"),
        "{profile}"
    );
    assert!(profile.contains("region = eu-west-1\n"));
    assert!(one.get("roles").is_none());
}

#[tokio::test]
async fn a_failure_in_one_account_is_retried_without_touching_the_others() {
    let h = three_accounts();
    // The first account's provisioning fails (throttled, say); the others succeed.
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("Throttling")),
    );
    let e = h.create(&request_in_three("AUD-PART")).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Internal);
    let g = h.store.grant("AUD-PART").unwrap();
    assert_eq!(g.status, GrantStatus::Failed);
    assert_eq!(
        g.roles
            .iter()
            .map(|r| r.role_id.is_some())
            .collect::<Vec<_>>(),
        [false, true, true],
        "the roles made are recorded"
    );
    assert!(h.iam.role(OWN, &g.role_name).is_none());
    // The sweeper (or the same request again) finishes the one account only.
    h.clock.advance(Duration::minutes(1));
    let before = calls_of(&h, IamOp::Provision).len();
    h.service.sweep(sweep_at(h.clock.now())).await.unwrap();
    assert_eq!(calls_of(&h, IamOp::Provision)[before..], [OWN.to_owned()]);
    let g = h.store.grant("AUD-PART").unwrap();
    assert_eq!(g.status, GrantStatus::Active);
    assert_eq!(h.iam.role_count(), 3);
}

#[tokio::test]
async fn a_refusal_by_iam_in_one_account_leaves_no_role_in_any_and_keeps_the_ticket_open() {
    let h = three_accounts();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected(format!(
            "Invalid principal in policy: \"AWS\":\"{AUDITOR_ROLE}\""
        )),
    );
    let e = h
        .create(&request_in_three("AUD-REFUSED"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (ErrorCode::InvalidField, Some("principals[0]")));
    assert!(e.to_string().contains(&format!("in account {OWN}")), "{e}");
    assert_eq!(h.iam.role_count(), 0, "no role left in any account");
    let g = h.store.grant("AUD-REFUSED").unwrap();
    assert!(g.refused && !g.is_ended());
    // The same request again, once IAM accepts it: granted everywhere.
    let again = h.create(&request_in_three("AUD-REFUSED")).await.unwrap();
    assert_eq!(again.grant().status, GrantStatus::Active);
    assert_eq!(h.iam.role_count(), 3);
}

#[tokio::test]
async fn revoke_extend_and_expiry_cover_every_account() {
    let h = three_accounts();
    let g = h
        .create(&request_in_three("AUD-ALL"))
        .await
        .unwrap()
        .grant()
        .clone();
    let end = now() + Duration::hours(100);
    h.service
        .extend(&ticket("AUD-ALL"), end, &operator())
        .await
        .unwrap();
    let mut moved = calls_of(&h, IamOp::UpdateWindow);
    moved.sort();
    assert_eq!(moved, [T1, OWN, T2].map(str::to_owned).to_vec().tap_sort());
    for account in [OWN, T1, T2] {
        let role = h.iam.role(account, &g.role_name).unwrap();
        assert_eq!(role.expires_at, format_timestamp(end));
    }
    let revoked = h
        .service
        .revoke(&ticket("AUD-ALL"), None, &operator())
        .await
        .unwrap();
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert_eq!(h.iam.role_count(), 0);
    let mut torn = calls_of(&h, IamOp::Teardown);
    torn.sort();
    assert_eq!(torn, [OWN, T1, T2].map(str::to_owned).to_vec().tap_sort());

    // Expiry by the sweeper: the same, in every account.
    h.create(&request_in_three("AUD-EXP")).await.unwrap();
    h.service
        .sweep(sweep_at(now() + Duration::hours(73)))
        .await
        .unwrap();
    assert_eq!(
        h.store.grant("AUD-EXP").unwrap().status,
        GrantStatus::Expired
    );
    assert_eq!(h.iam.role_count(), 0);
}

#[tokio::test]
async fn a_teardown_failing_in_one_account_keeps_the_grant_live_until_every_role_is_gone() {
    let h = three_accounts();
    let g = h
        .create(&request_in_three("AUD-TD"))
        .await
        .unwrap()
        .grant()
        .clone();
    h.iam.fail_next(
        IamOp::Teardown,
        ProvisionError::Aws(anyhow::anyhow!("ServiceFailure")),
    );
    assert!(
        h.service
            .revoke(&ticket("AUD-TD"), None, &operator())
            .await
            .is_err()
    );
    let after = h.store.grant("AUD-TD").unwrap();
    assert!(!after.is_ended(), "not ended while a role remains");
    assert_eq!(after.status, GrantStatus::Failed);
    assert_eq!(h.iam.role_count(), 1);
    h.clock.advance(Duration::minutes(1));
    h.service.sweep(sweep_at(h.clock.now())).await.unwrap();
    assert_eq!(
        h.store.grant("AUD-TD").unwrap().status,
        GrantStatus::Revoked
    );
    assert!(
        [OWN, T1, T2]
            .iter()
            .all(|a| h.iam.role(a, &g.role_name).is_none())
    );
}

#[tokio::test]
async fn reconcile_repairs_and_ends_by_the_role_of_each_account() {
    let h = three_accounts();
    let drifted = h
        .create(&request_in_three("AUD-DRIFT"))
        .await
        .unwrap()
        .grant()
        .clone();
    let gone = h
        .create(&request_in_three("AUD-GONE-ONE"))
        .await
        .unwrap()
        .grant()
        .clone();
    h.iam.tamper(T2, &drifted.role_name, |r| r.attached.clear());
    h.iam.delete_out_of_band(T1, &gone.role_name);
    h.clock.advance(Duration::minutes(10));
    let report = h.service.reconcile(Mode::Apply.into()).await.unwrap();
    assert_eq!(report.repaired.len(), 1, "{report:?}");
    assert!(report.repaired[0].role_arn.contains(T2));
    assert_eq!(report.ended, ["AUD-GONE-ONE"]);
    assert_eq!(
        h.iam.role(T2, &drifted.role_name).unwrap().attached,
        ["arn:aws:iam::aws:policy/SecurityAudit".to_owned()]
    );
    // The grant whose role went in one account ends everywhere.
    assert_eq!(
        h.store.grant("AUD-GONE-ONE").unwrap().status,
        GrantStatus::Revoked
    );
    assert!(
        [OWN, T2]
            .iter()
            .all(|a| h.iam.role(a, &gone.role_name).is_none())
    );
    assert!(report.foreign.is_empty(), "{report:?}");
}

#[tokio::test]
async fn an_account_taken_out_of_target_accounts_refuses_a_resumed_provisioning_everywhere() {
    let h = three_accounts();
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Aws(anyhow::anyhow!("Throttling")),
    );
    let _ = h.create(&request_in_three("AUD-NARROW")).await;
    let narrowed = Harness {
        service: h.service_with_only(&[("TARGET_ACCOUNTS", T1)]),
        ..h
    };
    narrowed.clock.advance(Duration::minutes(1));
    narrowed
        .service
        .sweep(sweep_at(narrowed.clock.now()))
        .await
        .unwrap();
    let g = narrowed.store.grant("AUD-NARROW").unwrap();
    assert!(g.refused, "{g:?}");
    assert!(g.last_error.unwrap().contains(T2));
    assert_eq!(
        narrowed.iam.role_count(),
        0,
        "the roles made meanwhile are removed"
    );
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl TapSort for Vec<String> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}

#[tokio::test]
async fn profile_names_differ_for_tickets_that_differ_only_in_colon_slash_or_underscore() {
    let h = harness();
    let mut names = vec![];
    for t in ["AUD:1", "AUD/1", "AUD_1", "AUD-1", "AUD.1"] {
        let g = h.active(t).await;
        let profile = g.aws_config_profile();
        let name = profile.lines().next().unwrap().to_owned();
        assert!(
            name.trim_start_matches("[profile ")
                .trim_end_matches(']')
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
            "{name}"
        );
        names.push(name);
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names[0], "[profile audit-AUD_3a1]");
}

#[tokio::test]
async fn a_refusal_whose_cleanup_fails_in_one_account_never_activates_without_every_role() {
    let h = three_accounts();
    // The first account's role is refused; cleaning up fails in one account
    // (throttled): the roles removed are recorded as gone.
    h.iam.fail_next(
        IamOp::Provision,
        ProvisionError::Rejected(format!(
            "Invalid principal in policy: \"AWS\":\"{AUDITOR_ROLE}\""
        )),
    );
    h.iam.fail_next(
        IamOp::Teardown,
        ProvisionError::Aws(anyhow::anyhow!("Throttling")),
    );
    assert!(h.create(&request_in_three("AUD-HALF")).await.is_err());
    let g = h.store.grant("AUD-HALF").unwrap();
    assert_eq!(g.status, GrantStatus::Failed);
    assert!(!g.refused, "the refusal could not be completed");
    let with_role: Vec<bool> = [OWN, T1, T2]
        .iter()
        .map(|a| h.iam.role(a, &g.role_name).is_some())
        .collect();
    let recorded: Vec<bool> = g.roles.iter().map(|r| r.role_id.is_some()).collect();
    assert_eq!(
        recorded, with_role,
        "an id is kept only where a role remains"
    );
    // The retry (once IAM accepts the principal) makes every missing role.
    h.clock.advance(Duration::minutes(1));
    h.service
        .sweep(sweep_at(Clock::now(&h.clock)))
        .await
        .unwrap();
    let g = h.store.grant("AUD-HALF").unwrap();
    assert_eq!(g.status, GrantStatus::Active);
    assert!(
        [OWN, T1, T2]
            .iter()
            .all(|a| h.iam.role(a, &g.role_name).is_some())
    );
}

#[tokio::test]
async fn the_view_hands_the_auditor_the_policy_to_attach_for_exactly_the_grants_roles() {
    let h = three_accounts();
    let g = h
        .create(&request_in_three("AUD-POL"))
        .await
        .unwrap()
        .grant()
        .clone();
    let expected = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "AssumeTheAuditGrantRoles",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Resource": g.roles.iter().map(|r| r.role_arn.clone()).collect::<Vec<_>>(),
    }]});
    assert_eq!(g.view(true)["auditor_policy"], expected);
    assert_eq!(
        g.view(false)["auditor_policy"],
        expected,
        "a GET answer keeps it"
    );
}
