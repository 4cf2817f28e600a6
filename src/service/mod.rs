//! The grant service: every business rule of a grant's life, one file per use
//! case (create, teardown, extend, sweep, reconcile, reads). Every trigger
//! reaches it through `crate::command::execute`.

mod create;
mod evidence;
mod extend;
mod notify;
mod reads;
mod reconcile;
mod sweep;
mod teardown;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::domain::{
    Grant, GrantRole, GrantStatus, IllegalTransition, MANAGED_BY, TAG_EXPIRES_AT, TAG_MANAGED_BY,
    TAG_REQUESTED_BY, TAG_TICKET, Ticket, Transition, format_timestamp, tag_value,
};
use crate::error::{Error, ErrorCode, Result};
use crate::metrics::{Metric, Metrics};
use crate::policy;
use crate::ports::{
    ActivityLog, Caller, CallerIdentity, Clock, EvidenceStore, GrantStore, Notifier,
    RoleProvisioner, RoleSpec, StoreError,
};

pub use create::Created;
pub use notify::NoticeReport;
pub use reconcile::{
    Drift, ROLE_DELETED_OUT_OF_BAND, ReconcileOptions, ReconcileReport, drift_between,
};
pub use sweep::{SweepFailure, SweepOptions, SweepReport};

/// How often a write that lost an optimistic-locking race is re-read and retried.
const CONFLICT_RETRIES: usize = 5;

/// Whether a sweep or reconcile changes anything, or only reports what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Apply,
    DryRun,
}

impl Mode {
    pub fn from_dry_run(dry_run: bool) -> Self {
        if dry_run { Mode::DryRun } else { Mode::Apply }
    }
    pub fn is_dry_run(self) -> bool {
        self == Mode::DryRun
    }
}

pub struct GrantService {
    store: Arc<dyn GrantStore>,
    provisioner: Arc<dyn RoleProvisioner>,
    identity: Arc<dyn CallerIdentity>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    metrics: Metrics,
    /// Where notifications go (`NOTIFY_EVENT_BUS`); `None`: none are recorded or sent.
    notifier: Option<Arc<dyn Notifier>>,
    /// Where the auditor's activity is read (CloudTrail); `None`: the pack
    /// says it was not read.
    activity: Option<Arc<dyn ActivityLog>>,
    /// Where ended grants' packs are kept (`EVIDENCE_BUCKET`); `None`: not kept.
    evidence_store: Option<Arc<dyn EvidenceStore>>,
}

fn internal(e: impl Into<anyhow::Error>) -> Error {
    Error::Internal(e.into())
}

fn store_err(e: StoreError) -> Error {
    internal(anyhow::Error::new(e).context("grant store"))
}

/// A transition our own logic should never attempt: a bug, reported as ours.
fn illegal(e: IllegalTransition) -> Error {
    internal(e)
}

/// Why committing a transition did not happen.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommitError {
    fn lost_race(&self) -> bool {
        matches!(self, CommitError::Store(StoreError::VersionConflict))
    }
}

impl From<CommitError> for Error {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Illegal(e) => illegal(e),
            CommitError::Store(e) => store_err(e),
        }
    }
}

impl GrantService {
    pub fn new(
        store: Arc<dyn GrantStore>,
        provisioner: Arc<dyn RoleProvisioner>,
        identity: Arc<dyn CallerIdentity>,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
    ) -> Self {
        GrantService {
            store,
            provisioner,
            identity,
            clock,
            settings,
            metrics: Metrics::default(),
            notifier: None,
            activity: None,
            evidence_store: None,
        }
    }

    /// Where the evidence pack reads the auditor's activity.
    pub fn with_activity(mut self, log: Arc<dyn ActivityLog>) -> Self {
        self.activity = Some(log);
        self
    }

    /// Where each ended grant's evidence pack is kept.
    pub fn with_evidence_store(mut self, store: Arc<dyn EvidenceStore>) -> Self {
        self.evidence_store = Some(store);
        self
    }

    /// Where notifications go: every transition that matters to people is
    /// then recorded with its notices, which are published after the commit.
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Where metrics go (EMF on stdout in the Lambda; nowhere by default).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Takes the caller from elsewhere (the Lambda context) instead of asking STS.
    pub fn seed_caller(&self, caller: Caller) {
        self.identity.seed(caller);
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// "Now" at the precision records keep (milliseconds), so what is written
    /// reads back equal.
    fn now_for_record(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    /// The account and partition this function runs in (the identity port
    /// remembers it: asked at most once per process).
    pub async fn caller(&self) -> Result<Caller> {
        self.identity
            .caller()
            .await
            .map_err(|e| internal(e.context("who am I (sts:GetCallerIdentity)")))
    }

    /// The grant of `ticket`, or `not_found`.
    async fn existing_grant(&self, ticket: &Ticket) -> Result<Grant> {
        self.store
            .get(ticket)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                Error::reject(ErrorCode::NotFound, format!("no grant for ticket {ticket}"))
            })
    }

    /// Commits a transition of the grant's state machine (built by `step` from
    /// the current time), if nobody changed the grant since it was read.
    async fn commit(
        &self,
        grant: &Grant,
        step: impl FnOnce(&Grant, DateTime<Utc>) -> Result<Transition, IllegalTransition>,
    ) -> Result<Grant, CommitError> {
        let Transition {
            grant: next,
            event,
            notices,
        } = step(grant, self.now_for_record())?;
        // Without a notifier nothing is owed: no outbox grows unread.
        let notices = if self.notifier.is_some() {
            notices
        } else {
            vec![]
        };
        self.store.update(&next, &event, &notices).await?;
        log_change(&next, Some(grant.status), &event.reason);
        if next.status != grant.status {
            match next.status {
                GrantStatus::Active => self.metrics.count(Metric::GrantsCreated, 1),
                GrantStatus::Expired => self.metrics.count(Metric::GrantsExpired, 1),
                GrantStatus::Revoked => self.metrics.count(Metric::GrantsRevoked, 1),
                _ => {}
            }
        }
        self.publish_due(&notices, event.at).await;
        Ok(next)
    }

    /// What IAM must hold for `grant`'s role in `role.account`: SPEC.md's
    /// role, exactly.
    async fn role_spec(&self, grant: &Grant, role: &GrantRole) -> Result<RoleSpec> {
        let caller = self.caller().await?;
        let expires_at = format_timestamp(grant.window.end());
        Ok(RoleSpec {
            ticket: grant.ticket.clone(),
            target_account: role.account.clone(),
            role_name: grant.role_name.clone(),
            path: self.settings.role_path.clone(),
            trust: policy::trust_policy(&grant.principals, &grant.external_id, &grant.window),
            window_deny: policy::window_deny(&grant.window),
            boundary_arn: self.settings.boundary.in_account(&role.account),
            max_session_seconds: self.settings.max_session_seconds,
            policy_arn: grant.access.policy_arn(caller.partition),
            allowed_policy_arns: policy::preset_policy_arns(caller.partition),
            tags: vec![
                (TAG_TICKET.into(), grant.ticket.to_string()),
                (TAG_EXPIRES_AT.into(), expires_at.clone()),
                (TAG_MANAGED_BY.into(), MANAGED_BY.into()),
                (TAG_REQUESTED_BY.into(), tag_value(&grant.requested_by)),
            ],
            description: format!(
                "audit-grants {}: {} for account {} until {}",
                grant.ticket, grant.access, grant.auditor_account, expires_at
            ),
            existing_role_id: role.role_id.clone(),
        })
    }

    /// Runs SPEC.md's IAM teardown of `grant`'s role (every step tolerates
    /// "already done"); `context` says why, for the error.
    async fn remove_role(&self, grant: &Grant, context: &'static str) -> Result<()> {
        self.teardown_role(grant)
            .await
            .map(drop)
            .map_err(|e| internal(anyhow::Error::new(e).context(context)))
    }

    /// A writer that lost a race to a teardown (provisioning, extend, repair)
    /// may have re-created or re-opened the role after it ran: re-read, and if
    /// the grant is ending or ended, make sure its role goes.
    async fn reapply_teardown_if_ending(&self, ticket: &Ticket) -> Result<Grant> {
        let current = self.existing_grant(ticket).await?;
        if current.ending.is_some() || current.is_ended() {
            self.remove_role(&current, "re-applying a teardown").await?;
        }
        Ok(current)
    }
}

fn ended_error(grant: &Grant) -> Error {
    Error::reject(
        ErrorCode::TicketEnded,
        format!(
            "ticket {} has ended ({}) and can never be granted again",
            grant.ticket, grant.status
        ),
    )
}

/// One structured log event per state change. Never the external ID.
fn log_change(grant: &Grant, from: Option<GrantStatus>, reason: &str) {
    tracing::info!(
        ticket = %grant.ticket,
        role_arn = %grant.role_arn(),
        accounts = grant.roles.len(),
        from = from.map(|s| s.as_str()).unwrap_or("none"),
        to = grant.status.as_str(),
        reason,
        "grant state changed"
    );
}

/// A list of tickets or failures, in a stable order for reports.
fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// Serialises a report (never fails for our plain data types).
pub fn to_json<T: Serialize>(report: &T) -> serde_json::Value {
    serde_json::to_value(report).expect("reports serialise")
}
