//! The small traits the grant service depends on. `aws/` implements them with
//! the real SDK; `fakes` implements them in memory for unit tests of the rules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AccountId, EvidenceCopy, Grant, GrantStatus, HistoryEvent, Notice, Partition, RoleRef,
    TeardownStep, Ticket,
};
use crate::policy::PolicyDocument;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Who this function runs as: the default target account and the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    pub partition: Partition,
}

#[async_trait]
pub trait CallerIdentity: Send + Sync {
    async fn caller(&self) -> anyhow::Result<Caller>;

    /// Remembers a caller learnt elsewhere (the Lambda context's function ARN),
    /// sparing the lookup. No effect once known.
    fn seed(&self, _caller: Caller) {}
}

/// Everything IAM needs to create one grant's role.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub ticket: Ticket,
    pub target_account: AccountId,
    pub role_name: String,
    pub path: String,
    pub trust: PolicyDocument,
    /// The inline `AuditGrantWindow` deny.
    pub window_deny: PolicyDocument,
    pub boundary_arn: String,
    pub max_session_seconds: i32,
    pub policy_arn: String,
    /// Every policy the role may carry (the presets): anything else is removed.
    pub allowed_policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub description: String,
    /// The RoleId the grant recorded, once it has a role: then the role is only
    /// ever brought back to this spec (a repair), never created anew, and only
    /// if it is still that role.
    pub existing_role_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A role of that name exists and is not this grant's: never adopt it.
    #[error("role {0} exists and is not managed by audit-grants for this ticket")]
    ForeignRole(String),
    /// IAM refused the request itself (malformed policy, unknown principal…):
    /// retrying cannot help.
    #[error("IAM rejected the request: {0}")]
    Rejected(String),
    /// The role is not there (only where that matters, e.g. moving its end).
    #[error("the role does not exist")]
    RoleGone,
    /// Throttling, 5xx, timeouts, anything else: worth retrying.
    #[error(transparent)]
    Aws(#[from] anyhow::Error),
}

/// A role as provisioned: its ARN and IAM's unique id for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedRole {
    pub arn: String,
    pub role_id: String,
}

/// What moving a grant's window writes to its role.
#[derive(Debug, Clone)]
pub struct WindowUpdate {
    pub trust: PolicyDocument,
    pub window_deny: PolicyDocument,
    pub expires_at: String,
}

/// A role as IAM's listing shows it: enough to know it exists, and which one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedRole {
    pub target_account: AccountId,
    pub name: String,
    pub role_id: String,
}

/// A role found under the grant path, as IAM holds it (for reconciling).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRole {
    pub target_account: AccountId,
    pub name: String,
    pub arn: String,
    pub role_id: String,
    /// `audit-grants:managed-by` = `audit-grants`.
    pub managed: bool,
    /// `audit-grants:ticket`.
    pub ticket: Option<String>,
    /// The trust policy, decoded.
    pub trust: serde_json::Value,
    pub boundary: Option<String>,
    pub max_session_seconds: Option<i32>,
    pub attached: Vec<String>,
    pub inline: Vec<String>,
    /// The `AuditGrantWindow` document, decoded, when the role has one.
    pub window_deny: Option<serde_json::Value>,
}

#[async_trait]
pub trait RoleProvisioner: Send + Sync {
    /// Every role exactly under `path` in `target`, as IAM's listing shows it
    /// (one call per thousand roles).
    async fn list_roles(
        &self,
        target: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, ProvisionError>;

    /// One role with what reconciling compares; `None` when it no longer exists.
    async fn inspect_role(
        &self,
        target: &AccountId,
        name: &str,
    ) -> Result<Option<ObservedRole>, ProvisionError>;

    /// Opens, ahead of the work, what acting in `accounts` for `label` (a
    /// ticket) needs, so that it overlaps with the record's write: the
    /// provisioner sessions in other target accounts. Failures are left to
    /// the work itself to report.
    async fn prepare(&self, _accounts: &[AccountId], _label: &str) {}

    /// Creates the role, or brings this ticket's existing role to `spec`
    /// (a retry after a crash).
    async fn provision(&self, spec: &RoleSpec) -> Result<ProvisionedRole, ProvisionError>;

    /// Moves the window: the `AuditGrantWindow` deny, the trust policy and the
    /// expiry tag, together.
    async fn update_window(
        &self,
        role: &RoleRef,
        window: &WindowUpdate,
    ) -> Result<(), ProvisionError>;

    /// SPEC.md's teardown: revoke sessions, trust no one, detach, delete inline
    /// policies, delete the role. Every step tolerates "already done".
    async fn teardown(
        &self,
        role: &RoleRef,
        now: DateTime<Utc>,
    ) -> Result<Teardown, ProvisionError>;
}

/// What a teardown found, and the steps it took (when IAM answered each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teardown {
    pub found: TornDown,
    pub steps: Vec<TeardownStep>,
}

impl Teardown {
    /// Nothing of ours was there: no step taken.
    pub fn nothing_found() -> Self {
        Teardown {
            found: TornDown::NothingFound,
            steps: vec![],
        }
    }
}

impl From<Teardown> for TornDown {
    fn from(t: Teardown) -> Self {
        t.found
    }
}

/// What a teardown found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornDown {
    /// The role was there and is deleted.
    Deleted,
    /// No role of ours was there. IAM is eventually consistent: right after a
    /// role was created, "no such role" may be untrue, so whoever relies on
    /// it checks again later.
    NothingFound,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a grant for this ticket already exists")]
    AlreadyExists,
    #[error("the grant changed since it was read")]
    VersionConflict,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn get(&self, ticket: &Ticket) -> Result<Option<Grant>, StoreError>;
    /// Writes a new grant and its first event, unless the ticket is known.
    async fn insert(&self, grant: &Grant, event: &HistoryEvent) -> Result<(), StoreError>;
    /// Writes `grant`, `event` and the notices the change owes together if
    /// the stored version is `grant.version - 1` (the caller has already
    /// bumped it). The notices wait in the outbox until marked.
    async fn update(
        &self,
        grant: &Grant,
        event: &HistoryEvent,
        notices: &[Notice],
    ) -> Result<(), StoreError>;
    /// Notices in the outbox whose time has come by `as_of`, read through the
    /// outbox index (never a scan).
    async fn due_notices(&self, as_of: DateTime<Utc>) -> Result<Vec<Notice>, StoreError>;
    /// Takes a notice out of the outbox: sent, or skipped (why), at `at`.
    async fn settle_notice(
        &self,
        notice: &Notice,
        outcome: &NoticeOutcome,
    ) -> Result<(), StoreError>;
    async fn history(&self, ticket: &Ticket) -> Result<Vec<HistoryEvent>, StoreError>;
    async fn list(&self, status: Option<GrantStatus>) -> Result<Vec<Grant>, StoreError>;
    /// Grants the sweeper must look at as of `as_of`, read through the index.
    async fn due(&self, as_of: DateTime<Utc>) -> Result<Vec<Grant>, StoreError>;
    /// Every grant that is not ended (the whole sparse index), for reconciling.
    async fn live(&self) -> Result<Vec<Grant>, StoreError>;
    /// Where the last reconcile stopped for want of time (`None`: it finished).
    async fn reconcile_cursor(&self) -> Result<Option<ReconcileCursor>, StoreError>;
    /// Records where this reconcile stopped, or (`None`) that it finished.
    async fn save_reconcile_cursor(
        &self,
        cursor: Option<&ReconcileCursor>,
    ) -> Result<(), StoreError>;
}

/// How a notice left the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    Sent {
        at: DateTime<Utc>,
    },
    /// An expiring notice whose end moved, or whose grant ended, before it was due.
    Skipped {
        at: DateTime<Utc>,
        why: String,
    },
}

/// Where notifications are published (EventBridge in production).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes `notices`; one result per notice, in order (a failed one
    /// stays in the outbox for a later run).
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), String>>;
}

/// The last role a reconcile inspected before its deadline: the next one
/// resumes after it, in the order of (account, role name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileCursor {
    pub account: AccountId,
    pub role_name: String,
}

impl ReconcileCursor {
    /// Whether `role` comes after the cursor (and so is still to inspect).
    pub fn is_before(&self, role: &ListedRole) -> bool {
        (&role.target_account, role.name.as_str()) > (&self.account, self.role_name.as_str())
    }
}

impl std::fmt::Display for ReconcileCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.role_name)
    }
}

/// Where evidence packs are kept for good (S3 with versioning and Object
/// Lock in production: `EVIDENCE_BUCKET`).
#[async_trait]
pub trait EvidenceStore: Send + Sync {
    /// Writes `body` (a JSON pack) under `name` within the store's prefix;
    /// the copy names its key, version and digest.
    async fn keep(&self, name: &str, body: &[u8]) -> anyhow::Result<EvidenceCopy>;
}

/// What a CloudTrail event-history lookup matches: one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupBy {
    /// Events naming this resource (a role ARN: its `AssumeRole` events).
    ResourceName(String),
    /// Events of calls made with this access key (one session's calls).
    AccessKeyId(String),
}

/// One lookup of the auditor's recorded activity in one account.
#[derive(Debug, Clone)]
pub struct ActivityQuery {
    pub account: AccountId,
    /// The session label in other accounts (the ticket).
    pub label: String,
    pub by: LookupBy,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Stop paging after this (then `stopped` says so).
    pub deadline: Option<tokio::time::Instant>,
}

/// One CloudTrail event as the event history returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEvent {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub event_source: String,
    pub access_key_id: Option<String>,
    /// The whole event record (JSON text): identity, source IP, errors, the
    /// credentials an `AssumeRole` issued.
    pub record: String,
}

/// What a lookup read: every event, or as many as it could and why it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    pub events: Vec<TrailEvent>,
    pub pages: u32,
    /// Why not every page was read (refused, throttled, the deadline…);
    /// `None`: complete.
    pub stopped: Option<String>,
}

/// The auditor's recorded AWS activity (CloudTrail's event history).
#[async_trait]
pub trait ActivityLog: Send + Sync {
    /// Every event matching `query`, oldest first, paging at the service's
    /// rate limit; never an error: what could not be read is in `stopped`.
    async fn lookup(&self, query: &ActivityQuery) -> Lookup;
}
