//! Value types that can only be built through a parser enforcing SPEC.md's rules.
//! Past the parser nothing re-checks them.

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a raw value was refused, without naming the field (the caller knows it).
pub type ParseResult<T> = std::result::Result<T, String>;

macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

fn char_count(s: &str) -> usize {
    s.chars().count()
}

/// The idempotency key of a grant: 1–128 chars of `[A-Za-z0-9._:/-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(String);
string_value!(Ticket);

impl Ticket {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        if raw.is_empty() || raw.len() > 128 {
            return Err("must be 1-128 characters".into());
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
        {
            return Err("may contain only letters, digits and . _ : / -".into());
        }
        Ok(Ticket(raw.to_owned()))
    }

    /// The role name for this ticket: deterministic (a retry finds the same role),
    /// at most 64 characters, in IAM's role-name alphabet, and distinct for distinct
    /// tickets (IAM names are case-insensitive and `:`/`/` are not allowed, so a
    /// hash of the exact ticket is appended).
    pub fn role_name(&self) -> String {
        let readable: String = self
            .0
            .chars()
            .map(|c| if c == ':' || c == '/' { '_' } else { c })
            .take(48)
            .collect();
        let digest = Sha256::digest(self.0.as_bytes());
        format!("audit-{readable}-{}", &hex::encode(digest)[..8])
    }
}

/// A 12-digit AWS account ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);
string_value!(AccountId);

impl AccountId {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(raw.to_owned()))
        } else {
            Err("must be exactly 12 digits".into())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        match raw {
            "aws" => Ok(Partition::Aws),
            "aws-cn" => Ok(Partition::AwsCn),
            "aws-us-gov" => Ok(Partition::AwsUsGov),
            other => Err(format!("unknown AWS partition {other:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IAM role or user in the auditor's account, or that account's root:
/// `arn:<partition>:iam::<account>:(role/…|user/…|root)`. Never a wildcard,
/// a service or a federated principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrincipalArn {
    arn: String,
    partition: Partition,
    account: AccountId,
}

impl PrincipalArn {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        if raw.contains('*') || raw.contains('?') {
            return Err("wildcards (* or ?) are not allowed in a principal".into());
        }
        if raw.len() > 2048 {
            return Err("is too long for an IAM ARN".into());
        }
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(
                "must be an IAM ARN arn:<partition>:iam::<account>:role/…, user/… or root".into(),
            );
        };
        if arn != "arn" {
            return Err("must be an IAM ARN starting with arn:".into());
        }
        let partition = Partition::parse(partition)?;
        if service != "iam" {
            return Err(format!(
                "must be an IAM role, user or account root, not a {service:?} principal"
            ));
        }
        if !region.is_empty() {
            return Err("IAM ARNs have no region".into());
        }
        let account = AccountId::parse(account).map_err(|e| format!("account {e}"))?;
        if resource != "root" {
            let path_and_name = resource
                .strip_prefix("role/")
                .or_else(|| resource.strip_prefix("user/"))
                .ok_or("must name a role/…, user/… or root")?;
            validate_path_and_name(path_and_name)?;
        }
        Ok(PrincipalArn {
            arn: raw.to_owned(),
            partition,
            account,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
    pub fn partition(&self) -> Partition {
        self.partition
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl Serialize for PrincipalArn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.arn)
    }
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// `[path/]name` of an IAM role or user: segments of IAM's name alphabet,
/// a name of 1–64 characters.
fn validate_path_and_name(s: &str) -> ParseResult<()> {
    let mut segments: Vec<&str> = s.split('/').collect();
    let name = segments.pop().unwrap_or_default();
    if name.is_empty() || name.len() > 64 || !name.chars().all(is_iam_name_char) {
        return Err(
            "role or user name must be 1-64 characters of letters, digits and +=,.@_-".into(),
        );
    }
    if !segments
        .iter()
        .all(|seg| !seg.is_empty() && seg.chars().all(is_iam_name_char))
    {
        return Err("has an invalid IAM path".into());
    }
    Ok(())
}

/// The `sts:ExternalId` the auditor must present: 2–1224 chars of `[\w+=,.@:/-]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalId(String);
string_value!(ExternalId);

impl fmt::Debug for ExternalId {
    // Keeps the value out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExternalId(…)")
    }
}

impl ExternalId {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        if raw.len() < 2 || raw.len() > 1224 {
            return Err("must be 2-1224 characters".into());
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
        {
            return Err("may contain only letters, digits and _ + = , . @ : / -".into());
        }
        Ok(ExternalId(raw.to_owned()))
    }

    /// 40 random alphanumeric characters from the thread's CSPRNG (~238 bits).
    pub fn generate() -> Self {
        use rand::RngExt;
        use rand::distr::Alphanumeric;
        let s: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        ExternalId(s)
    }
}

/// The access presets: the only policies ever attached to a grant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessPreset {
    SecurityAudit,
    ViewOnly,
    ReadOnly,
}

impl AccessPreset {
    pub const ALL: [AccessPreset; 3] = [
        AccessPreset::SecurityAudit,
        AccessPreset::ViewOnly,
        AccessPreset::ReadOnly,
    ];

    pub fn parse(raw: &str) -> ParseResult<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| "must be one of security-audit, view-only, read-only".into())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessPreset::SecurityAudit => "security-audit",
            AccessPreset::ViewOnly => "view-only",
            AccessPreset::ReadOnly => "read-only",
        }
    }

    pub fn policy_arn(self, partition: Partition) -> String {
        let name = match self {
            AccessPreset::SecurityAudit => "SecurityAudit",
            AccessPreset::ViewOnly => "job-function/ViewOnlyAccess",
            AccessPreset::ReadOnly => "ReadOnlyAccess",
        };
        format!("arn:{partition}:iam::aws:policy/{name}")
    }
}

impl fmt::Display for AccessPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AccessPreset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A free-text field of bounded length with no control characters (they would
/// forge lines in logs and break tags).
pub fn parse_text(raw: &str, min: usize, max: usize) -> ParseResult<String> {
    let n = char_count(raw);
    if n < min || n > max {
        return Err(if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min}-{max} characters")
        });
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(raw.to_owned())
}

/// A free-text reason for a revoke: at most 1,024 characters, no control
/// characters (it is logged and recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);
string_value!(Reason);

impl Reason {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        parse_text(raw, 0, 1024).map(Reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_accepts_its_alphabet_and_rejects_the_rest() {
        for ok in ["AUD-1042", "a", "SNOW:CHG0001/2", "x.y_z", &"A".repeat(128)] {
            assert!(Ticket::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " ",
            "AUD 1",
            "AUD#1",
            "é",
            "a\n",
            &"A".repeat(129),
            "a*b",
        ] {
            assert!(Ticket::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_name_is_deterministic_short_and_distinct() {
        let a = Ticket::parse("AUD:1").unwrap();
        let b = Ticket::parse("AUD/1").unwrap();
        let c = Ticket::parse("aud:1").unwrap();
        assert_eq!(a.role_name(), Ticket::parse("AUD:1").unwrap().role_name());
        assert_ne!(a.role_name(), b.role_name());
        assert_ne!(a.role_name().to_lowercase(), c.role_name().to_lowercase());
        let long = Ticket::parse(&"Z".repeat(128)).unwrap().role_name();
        assert!(long.len() <= 64, "{}", long.len());
        assert!(long.chars().all(is_iam_name_char));
    }

    #[test]
    fn account_id_is_exactly_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            "１２３４５６７８９０１２",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn principal_accepts_roles_users_and_root() {
        for ok in [
            "arn:aws:iam::210987654321:role/ExternalAuditor",
            "arn:aws:iam::210987654321:role/team/a/Auditor",
            "arn:aws:iam::210987654321:user/jane",
            "arn:aws:iam::210987654321:root",
            "arn:aws-us-gov:iam::210987654321:root",
        ] {
            let p = PrincipalArn::parse(ok).unwrap();
            assert_eq!(p.account().as_str(), "210987654321");
        }
    }

    #[test]
    fn principal_rejects_wildcards_services_and_federation() {
        for bad in [
            "*",
            "arn:aws:iam::210987654321:role/*",
            "arn:aws:iam::210987654321:role/Audit?r",
            "arn:aws:iam::*:root",
            "arn:aws:sts::210987654321:assumed-role/A/s",
            "arn:aws:iam::210987654321:saml-provider/okta",
            "arn:aws:iam::210987654321:oidc-provider/x",
            "arn:aws:iam::210987654321:group/auditors",
            "ec2.amazonaws.com",
            "arn:aws:iam:us-east-1:210987654321:root",
            "arn:aws:iam::21098765432:root",
            "arn:aws:iam::210987654321:role/",
            "arn:aws:iam::210987654321:role//x",
            "arn:aws:iam::210987654321:role/a b",
            "arn:other:iam::210987654321:root",
            "arn:aws:iam::210987654321:rootx",
            "210987654321",
        ] {
            assert!(PrincipalArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_id_alphabet_and_length() {
        assert!(ExternalId::parse("ab").is_ok());
        assert!(ExternalId::parse("a_b+c=d,e.f@g:h/i-j").is_ok());
        assert!(ExternalId::parse(&"x".repeat(1224)).is_ok());
        for bad in ["a", "", "a b", "a#b", "é1", &"x".repeat(1225)] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_external_ids_are_long_valid_and_different() {
        let a = ExternalId::generate();
        let b = ExternalId::generate();
        assert!(a.as_str().len() >= 32);
        assert!(ExternalId::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn access_presets_map_to_managed_policies() {
        assert_eq!(
            AccessPreset::parse("security-audit")
                .unwrap()
                .policy_arn(Partition::Aws),
            "arn:aws:iam::aws:policy/SecurityAudit"
        );
        assert_eq!(
            AccessPreset::parse("view-only")
                .unwrap()
                .policy_arn(Partition::Aws),
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
        );
        assert_eq!(
            AccessPreset::parse("read-only")
                .unwrap()
                .policy_arn(Partition::AwsCn),
            "arn:aws-cn:iam::aws:policy/ReadOnlyAccess"
        );
        for bad in ["admin", "AdministratorAccess", "Security-Audit", ""] {
            assert!(AccessPreset::parse(bad).is_err());
        }
    }
}
