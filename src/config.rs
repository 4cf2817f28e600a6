//! Settings from flags and the environment alike, validated once at start-up.

use chrono::Duration;

use crate::domain::{AccountId, Partition, parse_duration};

pub const DEFAULT_ROLE_PATH: &str = "/audit-grants/";
pub const DEFAULT_MAX_GRANT_DURATION: &str = "30d";
pub const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;
pub const DEFAULT_PROVISIONER_ROLE_NAME: &str = "audit-grants-provisioner";
pub const DEFAULT_TRUST_POLICY_MAX_CHARS: u16 = 2048;
pub const DEFAULT_SWEEP_CONCURRENCY: u8 = 16;
pub const DEFAULT_SWEEP_ACCOUNT_CONCURRENCY: u8 = 1;

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

/// Every setting, declared once: each is a flag and an environment variable
/// alike (clap), with its default and its range. Values are trimmed; an empty
/// variable counts as unset. `Settings::from_args` adds what one flag alone
/// cannot say (required settings, one of two secret sources).
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// The DynamoDB table of grants (required).
    #[arg(long, env = "GRANTS_TABLE", value_name = "GRANTS_TABLE", value_parser = parse_table_name)]
    pub grants_table: Option<String>,
    /// The permissions boundary every role carries (required).
    #[arg(long, env = "PERMISSIONS_BOUNDARY_ARN", value_name = "PERMISSIONS_BOUNDARY_ARN", value_parser = parse_boundary)]
    pub permissions_boundary_arn: Option<BoundaryArn>,
    /// The IAM path of every grant's role: a dedicated one, never `/`.
    #[arg(long, env = "ROLE_PATH", value_name = "ROLE_PATH", default_value = DEFAULT_ROLE_PATH, value_parser = parse_role_path)]
    pub role_path: String,
    /// The longest window a grant may have (`30d`, `72h`…).
    #[arg(long, env = "MAX_GRANT_DURATION", value_name = "MAX_GRANT_DURATION", default_value = DEFAULT_MAX_GRANT_DURATION, value_parser = parse_duration_setting)]
    pub max_grant_duration: Duration,
    /// The roles' MaxSessionDuration, in seconds.
    #[arg(long, env = "MAX_SESSION_SECONDS", value_name = "MAX_SESSION_SECONDS", default_value_t = DEFAULT_MAX_SESSION_SECONDS, value_parser = clap::value_parser!(i32).range(3600..=43200))]
    pub max_session_seconds: i32,
    /// Other accounts grants may target, comma-separated.
    #[arg(long, env = "TARGET_ACCOUNTS", value_name = "TARGET_ACCOUNTS", value_parser = parse_account_list)]
    pub target_accounts: Option<AccountList>,
    /// Accounts taken out of TARGET_ACCOUNTS that still have live grants:
    /// no new grants there, but teardown, revoke and reconcile go on.
    #[arg(long, env = "RETIRING_TARGET_ACCOUNTS", value_name = "RETIRING_TARGET_ACCOUNTS", value_parser = parse_account_list)]
    pub retiring_target_accounts: Option<AccountList>,
    /// The only auditor accounts that can ever be trusted, comma-separated
    /// (recommended; unset: any account).
    #[arg(long, env = "AUDITOR_ACCOUNTS", value_name = "AUDITOR_ACCOUNTS", value_parser = parse_account_list)]
    pub auditor_accounts: Option<AccountList>,
    /// The role assumed in other target accounts.
    #[arg(long, env = "PROVISIONER_ROLE_NAME", value_name = "PROVISIONER_ROLE_NAME", default_value = DEFAULT_PROVISIONER_ROLE_NAME, value_parser = parse_role_name)]
    pub provisioner_role_name: String,
    /// IAM's limit on trust-policy size in the target accounts.
    #[arg(long, env = "TRUST_POLICY_MAX_CHARS", value_name = "TRUST_POLICY_MAX_CHARS", default_value_t = DEFAULT_TRUST_POLICY_MAX_CHARS, value_parser = clap::value_parser!(u16).range(1024..=4096))]
    pub trust_policy_max_chars: u16,
    /// The webhook secret itself (local use; at least 32 characters).
    #[arg(long, env = "WEBHOOK_SECRET", value_name = "WEBHOOK_SECRET", hide_env_values = true, conflicts_with = "webhook_secret_arn", value_parser = parse_secret)]
    pub webhook_secret: Option<String>,
    /// The Secrets Manager secret holding the webhook secret (production).
    #[arg(long, env = "WEBHOOK_SECRET_ARN", value_name = "WEBHOOK_SECRET_ARN", value_parser = parse_trimmed)]
    pub webhook_secret_arn: Option<String>,
    /// A static `Authorization: Bearer` token (local; at least 32 characters).
    #[arg(long, env = "WEBHOOK_BEARER_TOKEN", value_name = "WEBHOOK_BEARER_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub webhook_bearer_token: Option<String>,
    /// The EventBridge bus notifications go to (name or ARN; unset: none are sent).
    #[arg(long, env = "NOTIFY_EVENT_BUS", value_name = "NOTIFY_EVENT_BUS", value_parser = parse_trimmed)]
    pub notify_event_bus: Option<String>,
    /// The S3 bucket (versioning, Object Lock) each ended grant's evidence
    /// pack is kept in, under `evidence/` (unset: no copy is kept).
    #[arg(long, env = "EVIDENCE_BUCKET", value_name = "EVIDENCE_BUCKET", value_parser = parse_bucket)]
    pub evidence_bucket: Option<String>,
    /// The region grants are made in, named in the auditor's profiles (the
    /// SDK's own setting; Lambda always sets it).
    #[arg(long = "aws-region", env = "AWS_REGION", value_name = "AWS_REGION", value_parser = parse_trimmed)]
    pub aws_region: Option<String>,
    /// How many grants one sweep tears down at once.
    #[arg(long, env = "SWEEP_CONCURRENCY", value_name = "SWEEP_CONCURRENCY", default_value_t = DEFAULT_SWEEP_CONCURRENCY, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub sweep_concurrency: u8,
    /// How many grants of one account a sweep tears down at once (IAM
    /// throttles mutating calls per account).
    #[arg(long, env = "SWEEP_ACCOUNT_CONCURRENCY", value_name = "SWEEP_ACCOUNT_CONCURRENCY", default_value_t = DEFAULT_SWEEP_ACCOUNT_CONCURRENCY, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub sweep_account_concurrency: u8,
    /// Which root certificates TLS to AWS trusts: `aws` (the Amazon Trust
    /// Services roots every AWS endpoint chains to, compiled in: nothing to
    /// load at start) or `system` (the platform's store).
    #[arg(long, env = "TLS_TRUST", value_name = "TLS_TRUST", default_value = "aws", value_parser = ["aws", "system"])]
    pub tls_trust: String,
}

/// A comma-separated list of account IDs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountList(pub Vec<AccountId>);

#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub boundary: BoundaryArn,
    pub role_path: String,
    pub max_grant_duration: Duration,
    pub max_session_seconds: i32,
    pub target_accounts: Vec<AccountId>,
    /// No new grants; teardown and reconcile still reach them.
    pub retiring_target_accounts: Vec<AccountId>,
    /// Empty: any auditor account.
    pub auditor_accounts: Vec<AccountId>,
    pub provisioner_role_name: String,
    pub trust_policy_max_chars: usize,
    pub webhook_secret: Option<WebhookSecretSource>,
    /// A static token accepted as `Authorization: Bearer …` (local; in
    /// production it lives in the Secrets Manager secret).
    pub webhook_bearer_token: Option<String>,
    pub sweep_concurrency: usize,
    pub sweep_account_concurrency: usize,
    /// `AWS_REGION` (or, when unset, the SDK's region, filled in by the wiring).
    pub region: Option<String>,
    /// Where notifications go; `None`: none are recorded or sent.
    pub notify_event_bus: Option<String>,
    /// Where each ended grant's evidence pack is kept; `None`: not kept.
    pub evidence_bucket: Option<String>,
    /// Trust only the compiled-in AWS roots (`TLS_TRUST=aws`, the default).
    pub tls_aws_roots: bool,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From `get` (the environment, or a map in tests): each declared
    /// variable that is set and not blank is handed to clap as its flag, so
    /// one declaration gives names, defaults, ranges and messages. (A blank
    /// variable is unset: CloudFormation passes empty optional parameters.)
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use clap::{Args, FromArgMatches};
        let command = SettingsArgs::augment_args(clap::Command::new("audit-grants"));
        let mut argv = vec!["audit-grants".to_owned()];
        for arg in command.get_arguments() {
            let (Some(var), Some(flag)) = (arg.get_env().and_then(|v| v.to_str()), arg.get_long())
            else {
                continue;
            };
            if let Some(value) = get(var).filter(|v| !v.trim().is_empty()) {
                argv.push(format!("--{flag}={value}"));
            }
        }
        // Only `get` is read: never the process environment behind its back.
        let command = command.mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(argv).map_err(one_line)?;
        Self::from_args(SettingsArgs::from_arg_matches(&matches).map_err(one_line)?)
    }

    /// Checks what the declarations alone cannot.
    pub fn from_args(args: SettingsArgs) -> Result<Self, ConfigError> {
        let table_name = args.grants_table.ok_or_else(|| {
            ConfigError("GRANTS_TABLE is required (the DynamoDB table of grants)".into())
        })?;
        let boundary = args.permissions_boundary_arn.ok_or_else(|| {
            ConfigError(
                "PERMISSIONS_BOUNDARY_ARN is required: no role is ever created without a boundary"
                    .into(),
            )
        })?;
        let target_accounts = args.target_accounts.unwrap_or_default().0;
        let retiring = args.retiring_target_accounts.clone().unwrap_or_default().0;
        if let Some(both) = retiring.iter().find(|a| target_accounts.contains(a)) {
            return Err(ConfigError(format!(
                "RETIRING_TARGET_ACCOUNTS: {both} is also in TARGET_ACCOUNTS; an account is one or the other"
            )));
        }
        let webhook_secret = match (args.webhook_secret, args.webhook_secret_arn) {
            (Some(v), _) => Some(WebhookSecretSource::Value(v)),
            (None, Some(arn)) => Some(WebhookSecretSource::SecretsManager(arn)),
            (None, None) => None,
        };
        Ok(Settings {
            table_name,
            boundary,
            role_path: args.role_path,
            max_grant_duration: args.max_grant_duration,
            max_session_seconds: args.max_session_seconds,
            target_accounts,
            retiring_target_accounts: args.retiring_target_accounts.unwrap_or_default().0,
            auditor_accounts: args.auditor_accounts.unwrap_or_default().0,
            provisioner_role_name: args.provisioner_role_name,
            trust_policy_max_chars: usize::from(args.trust_policy_max_chars),
            webhook_secret,
            webhook_bearer_token: args.webhook_bearer_token,
            sweep_concurrency: usize::from(args.sweep_concurrency),
            sweep_account_concurrency: usize::from(args.sweep_account_concurrency),
            region: args.aws_region,
            notify_event_bus: args.notify_event_bus,
            evidence_bucket: args.evidence_bucket,
            tls_aws_roots: args.tls_trust == "aws",
        })
    }
}

/// An S3 bucket name: 3 to 63 lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit.
fn parse_bucket(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
    {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')"
        ))
    }
}

/// clap's error as one line: its first, without the `error: ` prefix.
fn one_line(e: clap::Error) -> ConfigError {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid settings");
    ConfigError(first.trim_start_matches("error: ").to_owned())
}

fn parse_trimmed(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "" => Err("must not be blank".into()),
        v => Ok(v.to_owned()),
    }
}

fn parse_table_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.len() < 3
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(format!("{name:?} is not a DynamoDB table name"));
    }
    Ok(name.to_owned())
}

fn parse_boundary(raw: &str) -> Result<BoundaryArn, String> {
    BoundaryArn::parse(raw.trim())
}

fn parse_role_path(raw: &str) -> Result<String, String> {
    let path = raw.trim();
    validate_path(path)?;
    if path == "/" {
        return Err("must be a dedicated path such as /audit-grants/, not / (teardown and reconcile own everything under it)".into());
    }
    Ok(path.to_owned())
}

fn parse_duration_setting(raw: &str) -> Result<Duration, String> {
    parse_duration(raw.trim())
}

fn parse_account_list(raw: &str) -> Result<AccountList, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|a| AccountId::parse(a).map_err(|e| format!("{a:?} {e}")))
        .collect::<Result<_, _>>()
        .map(AccountList)
}

fn parse_role_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(format!("{name:?} is not a role name"));
    }
    Ok(name.to_owned())
}

fn parse_secret(raw: &str) -> Result<String, String> {
    let secret = raw.trim();
    let min = crate::lambda::webhook_auth::MIN_SECRET_CHARS;
    if secret.chars().count() < min {
        return Err(format!("must be at least {min} characters"));
    }
    Ok(secret.to_owned())
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
        assert_eq!(s.evidence_bucket, None);
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
            ("EVIDENCE_BUCKET", "Evidence_Bucket"),
            ("EVIDENCE_BUCKET", "ab"),
            ("EVIDENCE_BUCKET", "-evidence"),
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

    #[test]
    fn one_webhook_secret_source_at_most_and_a_blank_variable_is_unset() {
        let base = [
            ("GRANTS_TABLE", "grants"),
            ("PERMISSIONS_BOUNDARY_ARN", BOUNDARY),
        ];
        let both = [
            base.as_slice(),
            &[
                ("WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef"),
                (
                    "WEBHOOK_SECRET_ARN",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                ),
            ],
        ]
        .concat();
        let e = settings(&both).unwrap_err().to_string();
        assert!(
            e.contains("WEBHOOK_SECRET") && e.contains("WEBHOOK_SECRET_ARN"),
            "{e}"
        );
        // CloudFormation passes an unset optional parameter as "".
        let blank = [
            base.as_slice(),
            &[("WEBHOOK_SECRET_ARN", " "), ("TARGET_ACCOUNTS", "")],
        ]
        .concat();
        let s = settings(&blank).unwrap();
        assert_eq!(s.webhook_secret, None);
        assert!(s.target_accounts.is_empty());
    }

    #[test]
    fn an_account_is_a_target_or_retiring_never_both() {
        let e = settings(&[
            ("GRANTS_TABLE", "grants"),
            ("PERMISSIONS_BOUNDARY_ARN", BOUNDARY),
            ("TARGET_ACCOUNTS", "222222222222"),
            ("RETIRING_TARGET_ACCOUNTS", "222222222222"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("RETIRING_TARGET_ACCOUNTS"), "{e}");
    }
}
