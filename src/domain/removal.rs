//! What a teardown did to each role, step by step, and where the grant's
//! evidence pack was kept: recorded with the grant's history, as the proof of
//! removal the evidence pack shows.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long after a grant's end its evidence pack is written: CloudTrail
/// delivers an event within about 15 minutes of the call, so the copy kept
/// waits until the window's last calls can be read.
pub const EVIDENCE_DELAY: Duration = Duration::minutes(20);

/// The steps of SPEC.md's teardown, in their order.
pub mod step {
    /// The `AWSRevokeOlderSessions` deny: every session issued until now ends.
    pub const SESSIONS_REVOKED: &str = "sessions_revoked";
    /// The trust policy replaced by one that trusts no one.
    pub const TRUST_REMOVED: &str = "trust_removed";
    /// Every managed policy detached (the preset).
    pub const POLICIES_DETACHED: &str = "policies_detached";
    /// Every inline policy deleted (the window deny, then the session deny).
    pub const INLINE_POLICIES_DELETED: &str = "inline_policies_deleted";
    /// `iam:DeleteRole` answered.
    pub const ROLE_DELETED: &str = "role_deleted";
}

/// One teardown step, when IAM answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownStep {
    pub step: String,
    #[serde(with = "millis")]
    pub at: DateTime<Utc>,
}

impl TeardownStep {
    pub fn new(step: &str, at: DateTime<Utc>) -> Self {
        TeardownStep {
            step: step.to_owned(),
            at,
        }
    }
}

/// What the teardown of one account's role came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRemoval {
    pub account: String,
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// `deleted`: the role was there and is gone; `not_found`: IAM had no
    /// role of ours (already removed, or never created).
    pub outcome: String,
    #[serde(default)]
    pub steps: Vec<TeardownStep>,
}

/// The immutable copy of a grant's evidence pack (`EVIDENCE_BUCKET`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceCopy {
    pub bucket: String,
    pub key: String,
    /// The S3 object version: with Object Lock, this version cannot be
    /// changed or deleted until its retention ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The SHA-256 of the object's bytes, hex.
    pub sha256: String,
}

impl EvidenceCopy {
    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} (version {})",
            self.bucket,
            self.key,
            self.version_id.as_deref().unwrap_or("none")
        )
    }
}

/// Times with milliseconds, as history keeps them.
mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::domain::format_timestamp_precise(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
