//! A grant, its status machine and its history.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::values::{AccessPreset, AccountId, ExternalId, PrincipalArn, Ticket};
use super::window::{Window, format_timestamp};

/// How long a `pending` or `revoking` grant may sit before the sweeper assumes
/// the invocation that owned it died and finishes the job itself.
pub const STALE_AFTER: Duration = Duration::minutes(5);

/// After this many failed attempts a grant is reported loudly on every retry.
pub const ATTEMPTS_BEFORE_ALARM: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantStatus {
    Pending,
    Active,
    Revoking,
    Expired,
    Revoked,
    Failed,
}

impl GrantStatus {
    pub const ALL: [GrantStatus; 6] = [
        GrantStatus::Pending,
        GrantStatus::Active,
        GrantStatus::Revoking,
        GrantStatus::Expired,
        GrantStatus::Revoked,
        GrantStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Pending => "pending",
            GrantStatus::Active => "active",
            GrantStatus::Revoking => "revoking",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown status {raw:?}: one of pending, active, revoking, expired, revoked, failed"))
    }
}

impl fmt::Display for GrantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a teardown is heading once it has begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Expired,
    Revoked,
}

impl Ending {
    pub fn status(self) -> GrantStatus {
        match self {
            Ending::Expired => GrantStatus::Expired,
            Ending::Revoked => GrantStatus::Revoked,
        }
    }
    pub fn as_str(self) -> &'static str {
        self.status().as_str()
    }
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "expired" => Ok(Ending::Expired),
            "revoked" => Ok(Ending::Revoked),
            other => Err(format!("unknown ending {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub ticket: Ticket,
    pub status: GrantStatus,
    pub fingerprint: String,
    pub requested_by: String,
    pub auditor_account: AccountId,
    pub principals: Vec<PrincipalArn>,
    pub external_id: ExternalId,
    pub access: AccessPreset,
    pub window: Window,
    pub target_account: AccountId,
    pub reason: Option<String>,
    pub role_name: String,
    pub role_arn: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// Set when teardown begins: the status it ends in.
    pub ending: Option<Ending>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Ended while a provisioning may still have been in flight: a sweep checks
    /// once more, after that invocation must have finished, that no role remains.
    pub recheck: bool,
    /// Optimistic-locking counter: every write expects the version it read.
    pub version: u64,
}

impl Grant {
    /// Ended grants are history: never granted again, never touched again.
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// When the sweeper must look at this grant next (`None`: never again).
    /// Stored as the sort key of the sweeper's index.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if let Some(ended) = self.ended_at {
            return self.recheck.then_some(ended + STALE_AFTER);
        }
        Some(match self.status {
            GrantStatus::Active => self.window.end(),
            GrantStatus::Pending | GrantStatus::Revoking => self.updated_at + STALE_AFTER,
            GrantStatus::Failed => self.updated_at,
            GrantStatus::Expired | GrantStatus::Revoked => return None,
        })
    }

    /// Whether a `pending`/`revoking` grant has outlived the invocation that owned it.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now >= self.updated_at + STALE_AFTER
    }

    /// What a create, show or revoke answers (SPEC.md "grant view").
    /// `with_secrets: false` leaves out the external ID and the profile (GET).
    pub fn view(&self, with_secrets: bool) -> Value {
        let mut v = json!({
            "ticket": self.ticket,
            "status": self.status,
            "role_arn": self.role_arn,
            "external_id": self.external_id,
            "access": self.access,
            "principals": self.principals,
            "auditor_account": self.auditor_account,
            "target_account": self.target_account,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "start": format_timestamp(self.window.start()),
            "end": format_timestamp(self.window.end()),
            "created_at": format_timestamp(self.created_at),
            "ended_at": self.ended_at.map(format_timestamp),
            "end_reason": self.end_reason,
            "aws_config_profile": self.aws_config_profile(),
        });
        if !with_secrets {
            let obj = v.as_object_mut().expect("an object");
            obj.remove("external_id");
            obj.remove("aws_config_profile");
        }
        v
    }

    /// A ready `~/.aws/config` profile for the auditor (their own credentials
    /// are the `source_profile`).
    pub fn aws_config_profile(&self) -> String {
        let name = profile_safe(self.ticket.as_str());
        format!(
            "[profile audit-{name}]\nrole_arn = {}\nexternal_id = {}\nrole_session_name = audit-{name}\nsource_profile = default\n",
            self.role_arn, self.external_id
        )
    }
}

/// `:` and `/` are legal in tickets but not in session names, which STS also
/// caps at 64 characters (`audit-` + 58).
fn profile_safe(ticket: &str) -> String {
    ticket
        .chars()
        .map(|c| if c == ':' || c == '/' { '_' } else { c })
        .take(58)
        .collect()
}

/// One state change of a grant, kept forever as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub from: Option<GrantStatus>,
    pub to: GrantStatus,
    pub reason: String,
    /// The version of the grant this change produced (orders events at one instant).
    pub version: u64,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp_precise(*t))
}

/// History timestamps keep milliseconds: several changes can share a second.
pub fn format_timestamp_precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
