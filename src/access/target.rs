//! What to check: the handed-over profile(s), or a role ARN and external ID.

use aws_config::profile::{Profile, ProfileSet};
use chrono::{DateTime, Utc};

use super::KnownWindow;
use crate::domain::{AccountId, Partition, parse_timestamp};

/// Where the caller's own credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The profile's `source_profile`.
    Profile(String),
    /// The SDK's default chain (environment, then the default profile…), as
    /// `credential_source` or `--role-arn` ask.
    Default,
}

/// One role to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The profile it came from, if any.
    pub profile: Option<String>,
    pub role_arn: String,
    pub account: String,
    pub external_id: String,
    pub session_name: String,
    pub region: Option<String>,
    /// The window the profile records (`audit_grants_window`), when it does.
    pub window: Option<KnownWindow>,
    pub source: Source,
}

/// The session name when none is given: what CloudTrail shows for the check.
pub const CHECK_SESSION_NAME: &str = "audit-grants-check-access";

/// The account of a role ARN (`arn:<partition>:iam::<account>:role/<path/name>`).
fn role_account(arn: &str) -> Result<String, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource]
            if Partition::parse(partition).is_ok()
                && AccountId::parse(account).is_ok()
                && resource.starts_with("role/")
                && resource.len() > 5 =>
        {
            Ok((*account).to_owned())
        }
        _ => Err(format!(
            "{arn:?} is not a role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        )),
    }
}

/// `START/END`, as the handed-over profile records the window.
fn parse_window(raw: &str) -> Result<KnownWindow, String> {
    let (start, end) = raw
        .split_once('/')
        .ok_or_else(|| format!("audit_grants_window {raw:?} is not START/END"))?;
    let at = |s: &str| -> Result<DateTime<Utc>, String> {
        parse_timestamp(s.trim()).map_err(|e| format!("audit_grants_window: {e}"))
    };
    Ok(KnownWindow {
        start: at(start)?,
        end: at(end)?,
    })
}

fn target_from_profile(p: &Profile) -> Result<Target, String> {
    let name = p.name();
    let field = |key: &str| {
        p.get(key)
            .map(str::to_owned)
            .ok_or_else(|| format!("profile {name} has no {key}"))
    };
    let role_arn = field("role_arn")?;
    let external_id = field("external_id").map_err(|e| {
        format!("{e}: the role requires the external ID handed over with the grant")
    })?;
    let source = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(source), _) => Source::Profile(source.to_owned()),
        (None, Some(_)) => Source::Default,
        (None, None) => {
            return Err(format!(
                "profile {name} has neither source_profile nor credential_source: \
                 say where your own credentials come from"
            ));
        }
    };
    Ok(Target {
        profile: Some(name.to_owned()),
        account: role_account(&role_arn).map_err(|e| format!("profile {name}: {e}"))?,
        role_arn,
        external_id,
        session_name: p
            .get("role_session_name")
            .unwrap_or(CHECK_SESSION_NAME)
            .to_owned(),
        region: p.get("region").map(str::to_owned),
        window: p
            .get("audit_grants_window")
            .map(parse_window)
            .transpose()
            .map_err(|e| format!("profile {name}: {e}"))?,
        source,
    })
}

/// The profile `name`, or, for a grant across several accounts, every
/// profile `name-<account>` (the names the grant hands over), in account order.
pub fn targets_from_profiles(set: &ProfileSet, name: &str) -> Result<Vec<Target>, String> {
    if let Some(p) = set.get_profile(name) {
        return Ok(vec![target_from_profile(p)?]);
    }
    let mut names: Vec<&str> = set
        .profiles()
        .filter(|p| {
            p.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|acct| AccountId::parse(acct).is_ok())
        })
        .collect();
    if names.is_empty() {
        return Err(format!(
            "no profile named {name} (or {name}-<account>) in your AWS config file: paste the \
             grant's aws_config_profile into ~/.aws/config, or set AWS_CONFIG_FILE"
        ));
    }
    names.sort_unstable();
    names
        .into_iter()
        .map(|n| target_from_profile(set.get_profile(n).expect("listed")))
        .collect()
}

/// `--role-arn` (one or several) with `--external-id`: credentials from the
/// default chain, region from the environment.
pub fn targets_from_role_arns(arns: &[String], external_id: &str) -> Result<Vec<Target>, String> {
    arns.iter()
        .map(|arn| {
            Ok(Target {
                profile: None,
                account: role_account(arn)?,
                role_arn: arn.clone(),
                external_id: external_id.to_owned(),
                session_name: CHECK_SESSION_NAME.to_owned(),
                region: None,
                window: None,
                source: Source::Default,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn profiles(text: &str) -> ProfileSet {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &aws_types::os_shim_internal::Env::from_slice(&[
                ("AWS_CONFIG_FILE", path),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ]),
            &Default::default(),
            None,
        )
        .await
        .unwrap()
    }

    const ONE: &str = "[profile audit-AUD-1042]\n\
        role_arn = arn:aws:iam::123456789012:role/audit-grants/AUD-1042\n\
        external_id = ext-123\n\
        role_session_name = audit-AUD-1042\n\
        source_profile = default\n\
        region = eu-west-1\n\
        audit_grants_window = 2026-12-01T09:00:00Z/2026-12-04T09:00:00Z\n";

    #[tokio::test]
    async fn a_handed_over_profile_gives_every_field() {
        let set = profiles(ONE).await;
        let t = targets_from_profiles(&set, "audit-AUD-1042").unwrap();
        assert_eq!(
            t,
            vec![Target {
                profile: Some("audit-AUD-1042".into()),
                role_arn: "arn:aws:iam::123456789012:role/audit-grants/AUD-1042".into(),
                account: "123456789012".into(),
                external_id: "ext-123".into(),
                session_name: "audit-AUD-1042".into(),
                region: Some("eu-west-1".into()),
                window: Some(parse_window("2026-12-01T09:00:00Z/2026-12-04T09:00:00Z").unwrap()),
                source: Source::Profile("default".into()),
            }]
        );
    }

    #[tokio::test]
    async fn a_grant_across_accounts_is_found_by_its_ticket_profile_name() {
        let text = format!(
            "{}\n{}\n[profile audit-AUD-1042-extra]\nrole_arn = x\n[profile other]\nregion = x\n",
            ONE.replace("audit-AUD-1042]", "audit-AUD-1042-444455556666]")
                .replace("123456789012", "444455556666"),
            ONE.replace("audit-AUD-1042]", "audit-AUD-1042-123456789012]"),
        );
        let set = profiles(&text).await;
        let t = targets_from_profiles(&set, "audit-AUD-1042").unwrap();
        let accounts: Vec<_> = t.iter().map(|t| t.account.as_str()).collect();
        assert_eq!(accounts, ["123456789012", "444455556666"]);
    }

    #[tokio::test]
    async fn a_missing_or_incomplete_profile_says_what_is_missing() {
        let set = profiles(ONE).await;
        let e = targets_from_profiles(&set, "audit-OTHER").unwrap_err();
        assert!(e.contains("no profile named audit-OTHER"), "{e}");
        let set = profiles(&ONE.replace("external_id = ext-123\n", "")).await;
        let e = targets_from_profiles(&set, "audit-AUD-1042").unwrap_err();
        assert!(e.contains("has no external_id"), "{e}");
        let set = profiles(&ONE.replace("source_profile = default\n", "")).await;
        let e = targets_from_profiles(&set, "audit-AUD-1042").unwrap_err();
        assert!(e.contains("source_profile"), "{e}");
        let set = profiles(&ONE.replace("credential_source", "x").replace(
            "source_profile = default",
            "credential_source = Environment",
        ))
        .await;
        let t = targets_from_profiles(&set, "audit-AUD-1042").unwrap();
        assert_eq!(t[0].source, Source::Default);
    }

    #[test]
    fn role_arns_are_checked_before_any_call() {
        let t = targets_from_role_arns(
            &["arn:aws:iam::123456789012:role/audit-grants/AUD-1".into()],
            "x",
        )
        .unwrap();
        assert_eq!(t[0].account, "123456789012");
        assert_eq!(t[0].session_name, CHECK_SESSION_NAME);
        for bad in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "role/x",
        ] {
            assert!(targets_from_role_arns(&[bad.into()], "x").is_err(), "{bad}");
        }
    }
}
