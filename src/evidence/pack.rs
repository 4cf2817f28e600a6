//! The evidence pack of one grant, as data: what was approved, what was
//! granted in each account, every change, the proof of removal and the
//! auditor's recorded activity. Serialised as the `json` format; the `md` and
//! `html` formats are rendered from it (`render`).

use serde::Serialize;
use serde_json::Value;

use crate::domain::{HistoryEvent, Origin, TeardownStep};

/// What `format` names every pack (a reader checks it before trusting the rest).
pub const PACK_FORMAT: &str = "audit-grants evidence pack";
/// The version of this layout.
pub const PACK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pack {
    pub format: &'static str,
    pub version: u32,
    /// When this pack was put together (RFC 3339, milliseconds).
    pub generated_at: String,
    /// `audit-grants <version>`.
    pub generated_by: String,
    pub ticket: String,
    /// The grant's status when the pack was made.
    pub status: String,
    pub approval: Approval,
    pub grant: Granted,
    /// One entry per target account, in the order asked.
    pub accounts: Vec<AccountEvidence>,
    /// Every state change, oldest first, with who asked and why.
    pub history: Vec<HistoryEvent>,
}

impl Pack {
    /// Whether everything was read: every account's activity in full, and,
    /// for an ended grant, IAM's answer about every role.
    pub fn is_complete(&self) -> bool {
        self.accounts
            .iter()
            .all(|a| a.activity.complete && a.removal.state != "unverified")
    }
}

/// Who approved what, and how the request reached us.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub ticket: String,
    pub requested_by: String,
    pub reason: Option<String>,
    /// When the request was recorded.
    pub requested_at: String,
    /// The sender as recorded with the request (webhook, EventBridge source
    /// and event id, the CLI user); `None` if the record has none.
    pub sender: Option<Origin>,
    /// The sender in one line (`eventbridge com.example.ticketing 6f1f…`).
    pub sender_description: String,
}

/// The access as approved, the same in every account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Granted {
    pub auditor_account: String,
    pub principals: Vec<String>,
    /// The preset (`security-audit`, `view-only`, `read-only`).
    pub access: String,
    /// The window, RFC 3339 (the latest approved end, after any extend).
    pub start: String,
    pub end: String,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// The external ID is never in a pack: only whether the trust requires one.
    pub external_id: &'static str,
    pub max_session_seconds: i32,
    /// The identity policy the auditor attached on their side.
    pub auditor_policy: Value,
}

/// One target account: the role as granted, its removal and the activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountEvidence {
    pub account: String,
    pub role: RoleAsGranted,
    pub removal: Removal,
    pub activity: Activity,
}

/// The role as audit-grants wrote it, from the same typed documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleAsGranted {
    pub role_arn: String,
    /// IAM's unique id of the role, recorded when it was created.
    pub role_id: Option<String>,
    pub role_name: String,
    pub path: String,
    /// The trust policy, with the ExternalId value replaced by `(present)`.
    pub trust_policy: Value,
    pub boundary_arn: String,
    /// SHA-256 (hex) of the boundary document audit-grants deploys.
    pub boundary_sha256: String,
    pub preset_policy_arn: String,
    /// The inline `AuditGrantWindow` deny.
    pub window_deny: Value,
    pub max_session_seconds: i32,
    pub tags: Vec<(String, String)>,
}

/// The proof that the role is gone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    /// `removed`, `not_removed` (the grant is live), `role_still_exists`
    /// (a failure: the pack says so loudly), or `unverified` (IAM could
    /// not be asked; the answer says why).
    pub state: String,
    /// When the teardown began (the `revoking` change) and ended.
    pub teardown_started_at: Option<String>,
    pub teardown_finished_at: Option<String>,
    /// What IAM answered each teardown step, and when.
    pub steps: Vec<TeardownStep>,
    /// IAM asked, when the pack was made, for the role by name.
    pub verified: Option<Verification>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub checked_at: String,
    /// `iam:GetRole` on the role name.
    pub call: String,
    /// `NoSuchEntity` (gone), or what was found instead.
    pub answer: String,
    pub role_exists: bool,
}

/// The auditor's recorded activity in one account.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Activity {
    /// Where it was read: `CloudTrail event history (LookupEvents), <region>`.
    pub source: String,
    /// The time range looked up, RFC 3339.
    pub from: String,
    pub to: String,
    /// Whether every lookup read every page.
    pub complete: bool,
    /// Why something could not be read (never silent).
    pub notes: Vec<String>,
    /// Every session the role issued: `AssumeRole` on its ARN.
    pub sessions: Vec<Session>,
    /// `AssumeRole` calls on the role that were refused.
    pub refused_assumes: Vec<CallRecord>,
    pub total_calls: u64,
    pub first_use: Option<String>,
    pub last_use: Option<String>,
    /// Calls by service and action, most used first.
    pub by_action: Vec<ActionCount>,
    /// Where the calls came from, most used first.
    pub source_ips: Vec<IpCount>,
    /// Every call that was refused, oldest first.
    pub denied_calls: Vec<CallRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub access_key_id: String,
    pub assumed_at: String,
    /// Who assumed the role (the auditor's principal).
    pub assumed_by: Option<String>,
    pub session_name: Option<String>,
    pub source_identity: Option<String>,
    pub source_ip: Option<String>,
    pub calls: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionCount {
    /// `iam`, `s3`, … (the event source without `.amazonaws.com`).
    pub service: String,
    pub action: String,
    pub calls: u64,
    pub denied: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpCount {
    pub ip: String,
    pub calls: u64,
}

/// One call, as CloudTrail recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub at: String,
    pub service: String,
    pub action: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source_ip: Option<String>,
    /// The principal or session that made it.
    pub by: Option<String>,
    pub access_key_id: Option<String>,
    pub event_id: String,
}
