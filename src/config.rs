//! Settings from the environment, validated once at start-up.

use chrono::Duration;

use crate::domain::{AccountId, Partition, parse_duration};

pub const DEFAULT_ROLE_PATH: &str = "/audit-grants/";
pub const DEFAULT_MAX_GRANT_DURATION: &str = "30d";
pub const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;
pub const DEFAULT_PROVISIONER_ROLE_NAME: &str = "audit-grants-provisioner";
pub const DEFAULT_TRUST_POLICY_MAX_CHARS: usize = 2048;
pub const DEFAULT_SWEEP_CONCURRENCY: usize = 4;

/// A start-up setting that is missing or invalid: one clear line.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// `arn:<partition>:iam::<account>:policy/<path/>name` of the permissions boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryArn {
    pub partition: Partition,
    pub account: AccountId,
    /// `/` or `/a/b/`.
    pub path: String,
    pub name: String,
}

impl BoundaryArn {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let err = || {
            format!("{raw:?} is not a policy ARN arn:<partition>:iam::<account>:policy/[path/]name")
        };
        let rest = raw.strip_prefix("arn:").ok_or_else(err)?;
        let (partition, rest) = rest.split_once(':').ok_or_else(err)?;
        let partition = Partition::parse(partition)?;
        let rest = rest.strip_prefix("iam::").ok_or_else(err)?;
        let (account, resource) = rest.split_once(':').ok_or_else(err)?;
        let account = AccountId::parse(account).map_err(|_| err())?;
        let path_and_name = resource.strip_prefix("policy/").ok_or_else(err)?;
        let (path, name) = match path_and_name.rsplit_once('/') {
            Some((p, n)) => (format!("/{p}/"), n),
            None => ("/".to_owned(), path_and_name),
        };
        validate_path(&path).map_err(|_| err())?;
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(err());
        }
        Ok(BoundaryArn {
            partition,
            account,
            path,
            name: name.to_owned(),
        })
    }

    /// The policy of the same path and name in `account` (the provisioner
    /// template deploys it in every target account).
    pub fn in_account(&self, account: &AccountId) -> String {
        format!(
            "arn:{}:iam::{account}:policy{}{}",
            self.partition, self.path, self.name
        )
    }
}

/// IAM path: `/` or `/seg/…/` of printable ASCII without spaces, at most 512.
fn validate_path(path: &str) -> Result<(), String> {
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && (path == "/"
            || path[1..path.len() - 1].split('/').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            }));
    if ok {
        Ok(())
    } else {
        Err(format!("{path:?} is not an IAM path like /audit-grants/"))
    }
}

/// Where the webhook secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookSecretSource {
    Value(String),
    SecretsManager(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub boundary: BoundaryArn,
    pub role_path: String,
    pub max_grant_duration: Duration,
    pub max_session_seconds: i32,
    pub target_accounts: Vec<AccountId>,
    pub provisioner_role_name: String,
    pub trust_policy_max_chars: usize,
    pub webhook_secret: Option<WebhookSecretSource>,
    /// A static token accepted as `Authorization: Bearer …` (local; in
    /// production it lives in the Secrets Manager secret).
    pub webhook_bearer_token: Option<String>,
    pub sweep_concurrency: usize,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bad = |k: &str, why: String| ConfigError(format!("{k}: {why}"));
        let table_name = get("GRANTS_TABLE").ok_or_else(|| {
            ConfigError("GRANTS_TABLE is required (the DynamoDB table of grants)".into())
        })?;
        if table_name.len() < 3
            || table_name.len() > 255
            || !table_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(bad(
                "GRANTS_TABLE",
                format!("{table_name:?} is not a DynamoDB table name"),
            ));
        }
        let boundary_raw = get("PERMISSIONS_BOUNDARY_ARN").ok_or_else(|| {
            ConfigError(
                "PERMISSIONS_BOUNDARY_ARN is required: no role is ever created without a boundary"
                    .into(),
            )
        })?;
        let boundary =
            BoundaryArn::parse(&boundary_raw).map_err(|e| bad("PERMISSIONS_BOUNDARY_ARN", e))?;
        let role_path = get("ROLE_PATH").unwrap_or_else(|| DEFAULT_ROLE_PATH.into());
        validate_path(&role_path).map_err(|e| bad("ROLE_PATH", e))?;
        if role_path == "/" {
            return Err(bad(
                "ROLE_PATH",
                "must be a dedicated path such as /audit-grants/, not / (teardown and reconcile own everything under it)".into(),
            ));
        }
        let max_grant_duration = parse_duration(
            &get("MAX_GRANT_DURATION").unwrap_or_else(|| DEFAULT_MAX_GRANT_DURATION.into()),
        )
        .map_err(|e| bad("MAX_GRANT_DURATION", e))?;
        let max_session_seconds = match get("MAX_SESSION_SECONDS") {
            None => DEFAULT_MAX_SESSION_SECONDS,
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|s| (3600..=43200).contains(s))
                .ok_or_else(|| {
                    bad(
                        "MAX_SESSION_SECONDS",
                        format!("{v:?} must be a whole number from 3600 to 43200"),
                    )
                })?,
        };
        let target_accounts = match get("TARGET_ACCOUNTS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|a| {
                    AccountId::parse(a).map_err(|e| bad("TARGET_ACCOUNTS", format!("{a:?} {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        let provisioner_role_name =
            get("PROVISIONER_ROLE_NAME").unwrap_or_else(|| DEFAULT_PROVISIONER_ROLE_NAME.into());
        if provisioner_role_name.len() > 64
            || !provisioner_role_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(bad(
                "PROVISIONER_ROLE_NAME",
                format!("{provisioner_role_name:?} is not a role name"),
            ));
        }
        let trust_policy_max_chars = match get("TRUST_POLICY_MAX_CHARS") {
            None => DEFAULT_TRUST_POLICY_MAX_CHARS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1024..=4096).contains(n))
                .ok_or_else(|| {
                    bad(
                        "TRUST_POLICY_MAX_CHARS",
                        format!("{v:?} must be a number from 1024 to 4096"),
                    )
                })?,
        };
        let webhook_secret = match (get("WEBHOOK_SECRET"), get("WEBHOOK_SECRET_ARN")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "set WEBHOOK_SECRET (local) or WEBHOOK_SECRET_ARN (production), not both"
                        .into(),
                ));
            }
            (Some(v), None) if v.len() < 16 => {
                return Err(bad(
                    "WEBHOOK_SECRET",
                    "must be at least 16 characters".into(),
                ));
            }
            (Some(v), None) => Some(WebhookSecretSource::Value(v)),
            (None, Some(arn)) => Some(WebhookSecretSource::SecretsManager(arn)),
            (None, None) => None,
        };
        let webhook_bearer_token = get("WEBHOOK_BEARER_TOKEN");
        if webhook_bearer_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad(
                "WEBHOOK_BEARER_TOKEN",
                "must be at least 16 characters".into(),
            ));
        }
        let sweep_concurrency = match get("SWEEP_CONCURRENCY") {
            None => DEFAULT_SWEEP_CONCURRENCY,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=32).contains(n))
                .ok_or_else(|| {
                    bad(
                        "SWEEP_CONCURRENCY",
                        format!("{v:?} must be a number from 1 to 32"),
                    )
                })?,
        };
        Ok(Settings {
            table_name,
            boundary,
            role_path,
            max_grant_duration,
            max_session_seconds,
            target_accounts,
            provisioner_role_name,
            trust_policy_max_chars,
            webhook_secret,
            webhook_bearer_token,
            sweep_concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary";

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_required_settings_are_given() {
        let s = settings(&[
            ("GRANTS_TABLE", "grants"),
            ("PERMISSIONS_BOUNDARY_ARN", BOUNDARY),
        ])
        .unwrap();
        assert_eq!(s.role_path, "/audit-grants/");
        assert_eq!(s.max_grant_duration, Duration::days(30));
        assert_eq!(s.max_session_seconds, 3600);
        assert_eq!(s.trust_policy_max_chars, 2048);
        assert_eq!(s.provisioner_role_name, "audit-grants-provisioner");
        assert!(s.target_accounts.is_empty());
        assert_eq!(s.boundary.path, "/audit-grants/");
        assert_eq!(s.boundary.name, "audit-grants-boundary");
        assert_eq!(
            s.boundary
                .in_account(&AccountId::parse("222222222222").unwrap()),
            "arn:aws:iam::222222222222:policy/audit-grants/audit-grants-boundary"
        );
    }

    #[test]
    fn missing_required_settings_name_themselves() {
        let e = settings(&[("PERMISSIONS_BOUNDARY_ARN", BOUNDARY)]).unwrap_err();
        assert!(e.to_string().contains("GRANTS_TABLE"));
        let e = settings(&[("GRANTS_TABLE", "grants")]).unwrap_err();
        assert!(e.to_string().contains("PERMISSIONS_BOUNDARY_ARN"));
    }

    #[test]
    fn invalid_settings_are_one_clear_line() {
        let base = [
            ("GRANTS_TABLE", "grants"),
            ("PERMISSIONS_BOUNDARY_ARN", BOUNDARY),
        ];
        for (k, v) in [
            ("PERMISSIONS_BOUNDARY_ARN", "arn:aws:iam::123:policy/x"),
            (
                "PERMISSIONS_BOUNDARY_ARN",
                "arn:aws:iam::123456789012:role/x",
            ),
            ("ROLE_PATH", "audit"),
            ("ROLE_PATH", "/"),
            ("ROLE_PATH", "/a b/"),
            ("MAX_GRANT_DURATION", "forever"),
            ("MAX_SESSION_SECONDS", "60"),
            ("TARGET_ACCOUNTS", "123456789012,abc"),
            ("TRUST_POLICY_MAX_CHARS", "lots"),
            ("WEBHOOK_SECRET", "short"),
            ("WEBHOOK_BEARER_TOKEN", "short"),
            ("SWEEP_CONCURRENCY", "0"),
        ] {
            let mut pairs = base.to_vec();
            pairs.retain(|(key, _)| *key != k);
            pairs.push((k, v));
            let e = settings(&pairs).unwrap_err().to_string();
            assert!(e.contains(k), "{k}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn target_accounts_are_a_comma_separated_list() {
        let s = settings(&[
            ("GRANTS_TABLE", "grants"),
            ("PERMISSIONS_BOUNDARY_ARN", BOUNDARY),
            ("TARGET_ACCOUNTS", "111111111111, 222222222222,"),
        ])
        .unwrap();
        assert_eq!(s.target_accounts.len(), 2);
    }
}
