//! Every business rule of a grant's life: create, revoke, extend, sweep, show,
//! list. Each trigger (EventBridge, HTTP, schedule, CLI) comes through here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::config::Settings;
use crate::domain::{
    ATTEMPTS_BEFORE_ALARM, Ending, Grant, GrantRequest, GrantStatus, HistoryEvent, RequestRules,
    Ticket, fingerprint, format_timestamp, parse_ticket,
};
use crate::error::{Error, ErrorCode, Result};
use crate::metrics::{Metric, Metrics};
use crate::policy;
use crate::ports::{
    Caller, CallerIdentity, Clock, GrantStore, ObservedRole, ProvisionError, RoleProvisioner,
    RoleRef, RoleSpec, StoreError,
};

/// A grant whose provisioning failed this many times is given up: its role is
/// torn down and the record ends `failed`, saying why.
pub const MAX_PROVISION_ATTEMPTS: u32 = 5;

/// How often a write that lost an optimistic-locking race is re-read and retried.
const CONFLICT_RETRIES: usize = 5;

/// A revoke that finds another invocation tearing the grant down waits for it
/// this long at most (well inside the function's timeout).
const TEARDOWN_WAIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
const TEARDOWN_WAIT_POLLS: usize = 150;

pub const TAG_TICKET: &str = "audit-grants:ticket";
pub const TAG_EXPIRES_AT: &str = "audit-grants:expires-at";
pub const TAG_MANAGED_BY: &str = "audit-grants:managed-by";
pub const TAG_REQUESTED_BY: &str = "audit-grants:requested-by";
pub const MANAGED_BY: &str = "audit-grants";

/// What a create did.
#[derive(Debug)]
pub enum Created {
    /// A new grant (HTTP 201).
    New(Grant),
    /// The same request was seen before: the grant as it is (HTTP 200).
    Existing(Grant),
}

impl Created {
    pub fn grant(&self) -> &Grant {
        match self {
            Created::New(g) | Created::Existing(g) => g,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepFailure {
    pub ticket: String,
    pub error: String,
}

/// SPEC.md's sweep result, plus the grants whose provisioning was resumed.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub as_of: String,
    pub dry_run: bool,
    pub due: Vec<String>,
    pub torn_down: Vec<String>,
    pub resumed: Vec<String>,
    pub failed: Vec<SweepFailure>,
    /// Ended grants checked once more for a role a late provisioning made.
    pub verified: Vec<String>,
    /// Due grants another invocation is tearing down right now (left to it;
    /// found again by a later sweep if it dies).
    pub in_progress: Vec<String>,
    /// Due grants left for the next run because the deadline came near.
    pub deferred: Vec<String>,
}

enum SweepOutcome {
    TornDown,
    Resumed,
    Verified,
    /// Another invocation is tearing it down right now.
    InProgress,
    Skipped,
}

pub struct GrantService {
    store: Arc<dyn GrantStore>,
    provisioner: Arc<dyn RoleProvisioner>,
    identity: Arc<dyn CallerIdentity>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    metrics: Metrics,
}

fn internal(e: impl Into<anyhow::Error>) -> Error {
    Error::Internal(e.into())
}

fn store_err(e: StoreError) -> Error {
    internal(anyhow::Error::new(e).context("grant store"))
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
        }
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
    fn stamp(&self) -> DateTime<Utc> {
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

    async fn load(&self, ticket: &Ticket) -> Result<Grant> {
        self.store
            .get(ticket)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                Error::reject(ErrorCode::NotFound, format!("no grant for ticket {ticket}"))
            })
    }

    // ---- create -------------------------------------------------------------

    /// Creates the grant a request asks for; a replay of the same request returns
    /// the grant as it is. Nothing is written unless the request is valid.
    pub async fn create(&self, raw: &Value) -> Result<Created> {
        let ticket = parse_ticket(raw)?;
        if let Some(existing) = self.store.get(&ticket).await.map_err(store_err)? {
            return self.redeliver(existing, raw).await;
        }
        let request = self.parse_request(raw).await?;
        let grant = self.new_pending_grant(request).await?;
        let event = HistoryEvent {
            at: grant.created_at,
            from: None,
            to: GrantStatus::Pending,
            reason: "grant requested".into(),
            version: grant.version,
        };
        match self.store.insert(&grant, &event).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                // A concurrent delivery of the same ticket won the race.
                let existing = self.load(&ticket).await?;
                return self.redeliver(existing, raw).await;
            }
            Err(e) => return Err(store_err(e)),
        }
        log_change(&grant, None, "grant requested");
        self.provision(grant).await.map(Created::New)
    }

    async fn parse_request(&self, raw: &Value) -> Result<GrantRequest> {
        let caller = self.caller().await?;
        let rules = RequestRules {
            now: self.clock.now(),
            own_account: &caller.account,
            partition: caller.partition,
            allowed_targets: &self.settings.target_accounts,
            max_grant_duration: self.settings.max_grant_duration,
            trust_policy_max_chars: self.settings.trust_policy_max_chars,
        };
        GrantRequest::parse(raw, &rules)
    }

    async fn new_pending_grant(&self, r: GrantRequest) -> Result<Grant> {
        let caller = self.caller().await?;
        let now = self.stamp();
        let role_name = r.ticket.role_name();
        let role_arn = format!(
            "arn:{}:iam::{}:role{}{}",
            caller.partition, r.target_account, self.settings.role_path, role_name
        );
        Ok(Grant {
            ticket: r.ticket,
            status: GrantStatus::Pending,
            fingerprint: r.fingerprint,
            requested_by: r.requested_by,
            auditor_account: r.auditor_account,
            principals: r.principals,
            external_id: r.external_id,
            access: r.access,
            window: r.window,
            target_account: r.target_account,
            reason: r.reason,
            role_name,
            role_arn,
            created_at: now,
            updated_at: now,
            ended_at: None,
            end_reason: None,
            ending: None,
            attempts: 0,
            last_error: None,
            recheck: false,
            version: 1,
        })
    }

    /// A ticket seen before: the same request is answered with the grant as it
    /// is (resuming a provisioning that never finished); anything else is a
    /// conflict, and an ended ticket is never granted again.
    async fn redeliver(&self, existing: Grant, raw: &Value) -> Result<Created> {
        if existing.fingerprint != fingerprint(raw) {
            // Report what is wrong with the request itself first.
            self.parse_request(raw).await?;
            return Err(if existing.is_ended() {
                ended_error(&existing)
            } else {
                Error::reject(
                    ErrorCode::Conflict,
                    format!(
                        "ticket {} already has a grant ({}) made from a different request",
                        existing.ticket, existing.status
                    ),
                )
            });
        }
        if existing.is_ended() {
            return Err(ended_error(&existing));
        }
        let now = self.clock.now();
        let unfinished = match existing.status {
            GrantStatus::Pending => existing.is_stale(now),
            GrantStatus::Failed => existing.ending.is_none(),
            _ => false,
        };
        if unfinished && existing.window.end() > now {
            return self.provision(existing).await.map(Created::Existing);
        }
        Ok(Created::Existing(existing))
    }

    async fn role_spec(&self, grant: &Grant) -> Result<RoleSpec> {
        let caller = self.caller().await?;
        let expires_at = format_timestamp(grant.window.end());
        Ok(RoleSpec {
            ticket: grant.ticket.clone(),
            target_account: grant.target_account.clone(),
            role_name: grant.role_name.clone(),
            path: self.settings.role_path.clone(),
            trust: policy::trust_policy(&grant.principals, &grant.external_id, &grant.window),
            boundary_arn: self.settings.boundary.in_account(&grant.target_account),
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
        })
    }

    /// Creates (or completes) the role of a `pending`/`failed` grant and marks it
    /// `active`. On failure the record says why and the next delivery or sweep
    /// resumes; a permanent refusal by IAM ends the grant with nothing left.
    async fn provision(&self, grant: Grant) -> Result<Grant> {
        let spec = self.role_spec(&grant).await?;
        match self.provisioner.provision(&spec).await {
            Ok(role_arn) => {
                let result = self
                    .record(&grant, "role provisioned", |g| {
                        g.status = GrantStatus::Active;
                        g.role_arn = role_arn;
                        g.attempts = 0;
                        g.last_error = None;
                    })
                    .await;
                match result {
                    Ok(g) => Ok(g),
                    Err(StoreError::VersionConflict) => {
                        // A revoke or sweep moved the grant on while we provisioned;
                        // our role may have been created after its teardown ran.
                        let current = self.load(&grant.ticket).await?;
                        if current.ending.is_some() || current.is_ended() {
                            self.provisioner
                                .teardown(&role_ref(&current), self.clock.now())
                                .await
                                .map_err(internal)?;
                        }
                        Ok(current)
                    }
                    Err(e) => Err(store_err(e)),
                }
            }
            Err(ProvisionError::Rejected(why)) => {
                let why = format!("IAM refused a principal: {why}");
                self.abandon(&grant, &why).await?;
                Err(Error::invalid("principals", why))
            }
            Err(e @ ProvisionError::ForeignRole(_)) => {
                let why = e.to_string();
                // Not ours: nothing to tear down, and never adopt it.
                self.record(&grant, &why, |g| {
                    g.status = GrantStatus::Failed;
                    g.ended_at = Some(g.updated_at);
                    g.end_reason = Some(why.clone());
                })
                .await
                .map_err(store_err)?;
                Err(Error::reject(ErrorCode::Conflict, why))
            }
            Err(e) => {
                let why = format!("provisioning failed: {e:#}");
                let _ = self.record_failure(&grant, &why).await;
                Err(internal(anyhow::anyhow!(why)))
            }
        }
    }

    /// Ends a grant that can never be provisioned: removes whatever of it exists
    /// and records `failed` with the reason.
    async fn abandon(&self, grant: &Grant, why: &str) -> Result<Grant> {
        if let Err(e) = self
            .provisioner
            .teardown(&role_ref(grant), self.clock.now())
            .await
        {
            let _ = self
                .record_failure(grant, &format!("{why}; cleanup failed: {e:#}"))
                .await;
            return Err(internal(e));
        }
        self.record(grant, why, |g| {
            g.status = GrantStatus::Failed;
            g.ended_at = Some(g.updated_at);
            g.end_reason = Some(why.to_owned());
        })
        .await
        .map_err(store_err)
    }

    async fn record_failure(&self, grant: &Grant, why: &str) -> Result<Grant, StoreError> {
        let attempts = grant.attempts + 1;
        if attempts >= ATTEMPTS_BEFORE_ALARM {
            self.metrics.count(Metric::GrantStuck, 1);
            tracing::error!(
                ticket = %grant.ticket, role_arn = %grant.role_arn, attempts, error = why,
                "grant keeps failing; it is retried by every sweep"
            );
        }
        self.record(grant, why, |g| {
            g.status = GrantStatus::Failed;
            g.attempts = attempts;
            g.last_error = Some(why.to_owned());
        })
        .await
    }

    /// Writes a change of `grant` with its history event, if nobody changed the
    /// grant since it was read.
    async fn record(
        &self,
        grant: &Grant,
        reason: &str,
        change: impl FnOnce(&mut Grant),
    ) -> Result<Grant, StoreError> {
        let mut next = grant.clone();
        change(&mut next);
        next.version = grant.version + 1;
        next.updated_at = self.stamp();
        if let Some(ended) = next.ended_at.as_mut()
            && grant.ended_at.is_none()
        {
            *ended = next.updated_at;
        }
        let event = HistoryEvent {
            at: next.updated_at,
            from: Some(grant.status),
            to: next.status,
            reason: reason.to_owned(),
            version: next.version,
        };
        self.store.update(&next, &event).await?;
        log_change(&next, Some(grant.status), reason);
        if next.status != grant.status {
            match next.status {
                GrantStatus::Active => self.metrics.count(Metric::GrantsCreated, 1),
                GrantStatus::Expired => self.metrics.count(Metric::GrantsExpired, 1),
                GrantStatus::Revoked => self.metrics.count(Metric::GrantsRevoked, 1),
                _ => {}
            }
        }
        Ok(next)
    }

    // ---- teardown -------------------------------------------------------------

    /// Early revoke. Revoking an ended grant changes nothing.
    pub async fn revoke(&self, ticket: &Ticket, reason: Option<&str>) -> Result<Grant> {
        let reason = reason.filter(|r| !r.trim().is_empty()).unwrap_or("revoked");
        Ok(self
            .end_grant(ticket, Ending::Revoked, reason, None, None)
            .await?
            .0)
    }

    /// Takes a grant to its end, re-reading it whenever a concurrent writer got
    /// there first. With `due_as_of`, a grant that is no longer due (its end was
    /// moved) is left alone. `current` is the grant if just read (consistently).
    /// A teardown another invocation is running right now is never run twice:
    /// a sweep leaves it alone, a revoke waits for its end. Also says whether
    /// this call recorded the end.
    async fn end_grant(
        &self,
        ticket: &Ticket,
        ending: Ending,
        reason: &str,
        due_as_of: Option<DateTime<Utc>>,
        mut current: Option<Grant>,
    ) -> Result<(Grant, bool)> {
        let staleness_now = due_as_of.unwrap_or_else(|| self.clock.now());
        for _ in 0..CONFLICT_RETRIES {
            // `current` is the grant if the caller just read it consistently.
            let grant = match current.take() {
                Some(g) => g,
                None => self.load(ticket).await?,
            };
            if grant.is_ended() {
                return Ok((grant, false));
            }
            if let Some(as_of) = due_as_of
                && grant.status == GrantStatus::Active
                && grant.window.end() > as_of
            {
                return Ok((grant, false));
            }
            let grant = if grant.ending.is_some() {
                if grant.status == GrantStatus::Revoking && !grant.is_stale(staleness_now) {
                    if due_as_of.is_some() {
                        return Ok((grant, false));
                    }
                    match self.await_teardown(ticket).await? {
                        Some(settled) if settled.is_ended() => return Ok((settled, false)),
                        Some(_) => continue, // it failed: finish it here
                        None => return Ok((self.load(ticket).await?, false)),
                    }
                }
                grant // a teardown failed or its invocation died: finish it
            } else {
                // A grant not yet active may have a provisioning in flight that
                // creates its role after this teardown: a sweep checks again later.
                let in_flight = grant.status != GrantStatus::Active;
                match self
                    .record(&grant, reason, |g| {
                        g.status = GrantStatus::Revoking;
                        g.ending = Some(ending);
                        g.end_reason = Some(reason.to_owned());
                        g.recheck = in_flight;
                    })
                    .await
                {
                    Ok(g) => g,
                    Err(StoreError::VersionConflict) => continue,
                    Err(e) => return Err(store_err(e)),
                }
            };
            match self.finish_teardown(grant).await? {
                Some(done) => return Ok((done, true)),
                None => continue,
            }
        }
        Err(internal(anyhow::anyhow!(
            "grant {ticket} kept changing under concurrent writers; will be retried"
        )))
    }

    /// Waits (bounded) for another invocation's teardown: the grant once it is no
    /// longer `revoking`, or `None` if it still is when the wait is over.
    async fn await_teardown(&self, ticket: &Ticket) -> Result<Option<Grant>> {
        for _ in 0..TEARDOWN_WAIT_POLLS {
            tokio::time::sleep(TEARDOWN_WAIT_INTERVAL).await;
            let g = self.load(ticket).await?;
            if g.status != GrantStatus::Revoking {
                return Ok(Some(g));
            }
        }
        Ok(None)
    }

    /// Runs the IAM teardown of a grant already marked with its ending and
    /// records the end. `None`: someone else wrote the grant meanwhile.
    async fn finish_teardown(&self, grant: Grant) -> Result<Option<Grant>> {
        let ending = grant.ending.expect("teardown starts with an ending");
        let started = std::time::Instant::now();
        match self
            .provisioner
            .teardown(&role_ref(&grant), self.clock.now())
            .await
        {
            Ok(()) => {
                self.metrics.put(
                    Metric::TeardownLatency,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                let reason = format!("role deleted; grant {}", ending.as_str());
                match self
                    .record(&grant, &reason, |g| {
                        g.status = ending.status();
                        g.ended_at = Some(g.updated_at);
                        g.attempts = 0;
                        g.last_error = None;
                    })
                    .await
                {
                    Ok(g) => Ok(Some(g)),
                    Err(StoreError::VersionConflict) => Ok(None),
                    Err(e) => Err(store_err(e)),
                }
            }
            Err(e) => {
                let why = format!("teardown failed: {e:#}");
                match self.record_failure(&grant, &why).await {
                    Ok(_) | Err(StoreError::VersionConflict) => {}
                    Err(store) => {
                        tracing::error!(ticket = %grant.ticket, error = %store, "could not record teardown failure")
                    }
                }
                Err(internal(anyhow::anyhow!(why)))
            }
        }
    }

    // ---- extend ---------------------------------------------------------------

    /// Moves the end of an active grant: record, trust condition and expiry tag.
    pub async fn extend(&self, ticket: &Ticket, end: DateTime<Utc>) -> Result<Grant> {
        for _ in 0..CONFLICT_RETRIES {
            let grant = self.load(ticket).await?;
            if grant.status != GrantStatus::Active || grant.is_ended() {
                return Err(Error::reject(
                    ErrorCode::Conflict,
                    format!(
                        "grant {ticket} is {}: only an active grant can be extended",
                        grant.status
                    ),
                ));
            }
            let now = self.clock.now();
            if grant.window.end() <= now {
                return Err(Error::reject(
                    ErrorCode::Conflict,
                    format!("grant {ticket} has reached its end and is being torn down"),
                ));
            }
            if end <= now {
                return Err(Error::invalid("end", "end must be in the future"));
            }
            let window = grant
                .window
                .with_end(end)
                .map_err(|e| Error::invalid("end", e))?;
            if window.length() > self.settings.max_grant_duration {
                return Err(Error::invalid(
                    "end",
                    format!(
                        "the window may be at most {} from its start (MAX_GRANT_DURATION)",
                        crate::domain::format_duration(self.settings.max_grant_duration)
                    ),
                ));
            }
            let updated = if grant.window == window {
                grant // a replay, or a retry after IAM failed: re-apply IAM only
            } else {
                let reason = format!(
                    "end moved from {} to {}",
                    format_timestamp(grant.window.end()),
                    format_timestamp(end)
                );
                match self.record(&grant, &reason, |g| g.window = window).await {
                    Ok(g) => g,
                    Err(StoreError::VersionConflict) => continue,
                    Err(e) => return Err(store_err(e)),
                }
            };
            let trust =
                policy::trust_policy(&updated.principals, &updated.external_id, &updated.window);
            self.provisioner
                .update_window(&role_ref(&updated), &trust, &format_timestamp(end))
                .await
                .map_err(|e| internal(anyhow::Error::new(e).context("moving the role's window")))?;
            // A teardown that began meanwhile may have had its trust-no-one
            // overwritten by ours: make sure the role goes.
            let after = self.load(ticket).await?;
            if after.ending.is_some() || after.is_ended() {
                self.provisioner
                    .teardown(&role_ref(&after), self.clock.now())
                    .await
                    .map_err(|e| {
                        internal(anyhow::Error::new(e).context("re-applying a teardown"))
                    })?;
                return Ok(after);
            }
            return Ok(updated);
        }
        Err(internal(anyhow::anyhow!(
            "grant {ticket} kept changing; retry"
        )))
    }

    // ---- sweep ----------------------------------------------------------------

    /// Tears down every grant whose window ended by `as_of`, and finishes stuck
    /// ones, reading only what is due through the index. One grant's failure
    /// does not stop the others. Work stops being taken after `deadline`.
    pub async fn sweep(
        &self,
        as_of: DateTime<Utc>,
        dry_run: bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<SweepReport> {
        let due = self.store.due(as_of).await.map_err(store_err)?;
        let mut report = SweepReport {
            as_of: format_timestamp(as_of),
            dry_run,
            due: due.iter().map(|g| g.ticket.to_string()).collect(),
            torn_down: vec![],
            resumed: vec![],
            failed: vec![],
            verified: vec![],
            in_progress: vec![],
            deferred: vec![],
        };
        if dry_run {
            return Ok(report);
        }
        let results: Vec<(String, Option<Result<SweepOutcome>>)> = futures_util::stream::iter(due)
            .map(|grant| async move {
                let ticket = grant.ticket.to_string();
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    return (ticket, None);
                }
                (ticket, Some(self.sweep_one(grant, as_of).await))
            })
            .buffer_unordered(self.settings.sweep_concurrency)
            .collect()
            .await;
        for (ticket, outcome) in results {
            match outcome {
                None => report.deferred.push(ticket),
                Some(Ok(SweepOutcome::TornDown)) => report.torn_down.push(ticket),
                Some(Ok(SweepOutcome::Resumed)) => report.resumed.push(ticket),
                Some(Ok(SweepOutcome::Verified)) => report.verified.push(ticket),
                Some(Ok(SweepOutcome::InProgress)) => report.in_progress.push(ticket),
                Some(Ok(SweepOutcome::Skipped)) => {}
                Some(Err(e)) => {
                    tracing::error!(ticket = %ticket, error = %format!("{e:#}"), "sweep failed for grant");
                    report.failed.push(SweepFailure {
                        ticket,
                        error: e.to_string(),
                    })
                }
            }
        }
        for list in [
            &mut report.torn_down,
            &mut report.resumed,
            &mut report.verified,
            &mut report.in_progress,
            &mut report.deferred,
        ] {
            list.sort();
        }
        report.failed.sort_by(|a, b| a.ticket.cmp(&b.ticket));
        self.metrics.count(Metric::SweepDue, report.due.len());
        self.metrics
            .count(Metric::SweepTornDown, report.torn_down.len());
        self.metrics.count(Metric::SweepFailed, report.failed.len());
        Ok(report)
    }

    async fn sweep_one(&self, indexed: Grant, as_of: DateTime<Utc>) -> Result<SweepOutcome> {
        // The index is eventually consistent: act only on the grant as it is.
        let grant = self.load(&indexed.ticket).await?;
        if grant.is_ended() {
            if !grant.recheck {
                return Ok(SweepOutcome::Skipped);
            }
            self.provisioner
                .teardown(&role_ref(&grant), self.clock.now())
                .await
                .map_err(|e| {
                    internal(anyhow::Error::new(e).context("checking that no role remains"))
                })?;
            return match self
                .record(&grant, "checked again: no role remains", |g| {
                    g.recheck = false
                })
                .await
            {
                Ok(_) => Ok(SweepOutcome::Verified),
                Err(StoreError::VersionConflict) => Ok(SweepOutcome::Skipped),
                Err(e) => Err(store_err(e)),
            };
        }
        let provisioning = matches!(grant.status, GrantStatus::Pending)
            || (grant.status == GrantStatus::Failed && grant.ending.is_none());
        if provisioning && grant.window.end() > as_of {
            if grant.status == GrantStatus::Pending && !grant.is_stale(as_of) {
                return Ok(SweepOutcome::Skipped);
            }
            if grant.attempts >= MAX_PROVISION_ATTEMPTS {
                let why = format!(
                    "gave up after {} failed provisioning attempts: {}",
                    grant.attempts,
                    grant.last_error.as_deref().unwrap_or("unknown error")
                );
                tracing::error!(ticket = %grant.ticket, error = %why, "grant abandoned");
                self.abandon(&grant, &why).await?;
                return Ok(SweepOutcome::TornDown);
            }
            let g = self.provision(grant).await?;
            return Ok(if g.status == GrantStatus::Active {
                SweepOutcome::Resumed
            } else {
                SweepOutcome::Skipped
            });
        }
        let reason = if provisioning {
            "window ended before provisioning completed"
        } else {
            "window ended"
        };
        let (settled, ended_now) = self
            .end_grant(
                &grant.ticket.clone(),
                Ending::Expired,
                reason,
                Some(as_of),
                Some(grant),
            )
            .await?;
        Ok(if ended_now {
            SweepOutcome::TornDown
        } else if settled.status == GrantStatus::Revoking {
            SweepOutcome::InProgress
        } else {
            SweepOutcome::Skipped
        })
    }

    // ---- reconcile --------------------------------------------------------------

    /// Compares IAM with the records and mends the difference, by one rule:
    /// IAM must hold exactly what the live grants approve. A role under the path
    /// tagged as ours with no live grant is torn down; a live grant's role that
    /// was changed out of band is brought back to the approved shape; a live
    /// grant whose role was deleted out of band is ended (`revoked`): nobody gets
    /// access back without a new ticket. Roles under the path that are not ours
    /// are reported and never touched.
    pub async fn reconcile(&self, dry_run: bool) -> Result<ReconcileReport> {
        let caller = self.caller().await?;
        let live: std::collections::HashMap<Ticket, Grant> = self
            .store
            .live()
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|g| (g.ticket.clone(), g))
            .collect();
        let mut report = ReconcileReport {
            dry_run,
            ..Default::default()
        };
        let mut accounts = vec![caller.account.clone()];
        accounts.extend(self.settings.target_accounts.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        let mut inspected = std::collections::HashSet::new();
        for account in &accounts {
            let roles = match self
                .provisioner
                .inspect_roles(account, &self.settings.role_path)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    report.failed.push(SweepFailure {
                        ticket: format!("account {account}"),
                        error: format!("{e:#}"),
                    });
                    continue;
                }
            };
            inspected.insert(account.clone());
            report.roles_seen += roles.len();
            for role in roles {
                seen.insert((account.clone(), role.name.clone()));
                if let Err(e) = self
                    .reconcile_role(&role, &live, dry_run, &mut report)
                    .await
                {
                    report.failed.push(SweepFailure {
                        ticket: role.ticket.clone().unwrap_or_else(|| role.arn.clone()),
                        error: e.to_string(),
                    });
                }
            }
        }
        let now = self.clock.now();
        for grant in live.values() {
            // IAM's listing is eventually consistent: a grant changed in the last
            // minutes is left for the next pass.
            let missing = grant.status == GrantStatus::Active
                && grant.is_stale(now)
                && inspected.contains(&grant.target_account)
                && !seen.contains(&(grant.target_account.clone(), grant.role_name.clone()));
            if !missing {
                continue;
            }
            tracing::error!(ticket = %grant.ticket, role_arn = %grant.role_arn, "drift: the role of a live grant was deleted outside audit-grants");
            report.ended.push(grant.ticket.to_string());
            if !dry_run
                && let Err(e) = self
                    .end_grant(
                        &grant.ticket,
                        Ending::Revoked,
                        ROLE_DELETED_OUT_OF_BAND,
                        None,
                        None,
                    )
                    .await
            {
                report.failed.push(SweepFailure {
                    ticket: grant.ticket.to_string(),
                    error: e.to_string(),
                });
            }
        }
        for list in [&mut report.orphans, &mut report.ended, &mut report.foreign] {
            list.sort();
        }
        report.repaired.sort_by(|a, b| a.ticket.cmp(&b.ticket));
        if !dry_run {
            self.metrics
                .count(Metric::DriftRepaired, report.repaired.len());
            self.metrics
                .count(Metric::OrphansRemoved, report.orphans.len());
        }
        Ok(report)
    }

    async fn reconcile_role(
        &self,
        role: &ObservedRole,
        live: &std::collections::HashMap<Ticket, Grant>,
        dry_run: bool,
        report: &mut ReconcileReport,
    ) -> Result<()> {
        let ticket = role.ticket.as_deref().and_then(|t| Ticket::parse(t).ok());
        let (true, Some(ticket)) = (role.managed, ticket) else {
            report.foreign.push(role.arn.clone());
            return Ok(());
        };
        let owner = live
            .get(&ticket)
            .filter(|g| g.role_name == role.name && g.target_account == role.target_account);
        let Some(grant) = owner else {
            // The index may lag a just-created grant: ask the record itself.
            if let Some(g) = self.store.get(&ticket).await.map_err(store_err)?
                && !g.is_ended()
                && g.role_name == role.name
                && g.target_account == role.target_account
            {
                return Ok(());
            }
            tracing::error!(ticket = %ticket, role_arn = %role.arn, "drift: a role of ours with no live grant");
            report.orphans.push(role.arn.clone());
            if !dry_run {
                let orphan = RoleRef {
                    ticket,
                    target_account: role.target_account.clone(),
                    role_name: role.name.clone(),
                };
                self.provisioner
                    .teardown(&orphan, self.clock.now())
                    .await
                    .map_err(|e| {
                        internal(anyhow::Error::new(e).context("tearing down an orphan role"))
                    })?;
            }
            return Ok(());
        };
        if grant.status != GrantStatus::Active {
            return Ok(()); // in flux: provisioning or teardown owns it
        }
        if drift_between(&self.role_spec(grant).await?, role).is_empty() {
            return Ok(());
        }
        // The index may be behind, and a teardown makes a role look drifted:
        // act only on the record as it is now.
        let grant = &self.load(&ticket).await?;
        if grant.status != GrantStatus::Active
            || grant.ending.is_some()
            || grant.role_name != role.name
        {
            return Ok(());
        }
        let spec = self.role_spec(grant).await?;
        let drift = drift_between(&spec, role);
        if drift.is_empty() {
            return Ok(());
        }
        tracing::error!(ticket = %grant.ticket, role_arn = %role.arn, drift = %drift.join(", "), "drift: a live grant's role was changed outside audit-grants");
        report.repaired.push(Drift {
            ticket: grant.ticket.to_string(),
            role_arn: role.arn.clone(),
            drift: drift.clone(),
        });
        if !dry_run {
            self.provisioner
                .provision(&spec)
                .await
                .map_err(|e| internal(anyhow::Error::new(e).context("repairing a drifted role")))?;
            let reason = format!(
                "role repaired after out-of-band change: {}",
                drift.join(", ")
            );
            match self.record(grant, &reason, |_| {}).await {
                Ok(_) => {}
                Err(StoreError::VersionConflict) => {
                    // A revoke or sweep began meanwhile: our repair must not outlive it.
                    let current = self.load(&ticket).await?;
                    if current.ending.is_some() || current.is_ended() {
                        self.provisioner
                            .teardown(&role_ref(&current), self.clock.now())
                            .await
                            .map_err(|e| {
                                internal(anyhow::Error::new(e).context("re-applying a teardown"))
                            })?;
                    }
                }
                Err(e) => return Err(store_err(e)),
            }
        }
        Ok(())
    }

    // ---- reads ----------------------------------------------------------------

    pub async fn show(&self, ticket: &Ticket) -> Result<(Grant, Vec<HistoryEvent>)> {
        let grant = self.load(ticket).await?;
        let history = self.store.history(ticket).await.map_err(store_err)?;
        Ok((grant, history))
    }

    pub async fn get(&self, ticket: &Ticket) -> Result<Grant> {
        self.load(ticket).await
    }

    pub async fn list(&self, status: Option<GrantStatus>) -> Result<Vec<Grant>> {
        let mut grants = self.store.list(status).await.map_err(store_err)?;
        grants.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.ticket.cmp(&b.ticket))
        });
        Ok(grants)
    }
}

/// The end reason of a grant whose role someone deleted by hand.
pub const ROLE_DELETED_OUT_OF_BAND: &str = "role deleted outside audit-grants";

#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub ticket: String,
    pub role_arn: String,
    pub drift: Vec<String>,
}

/// What `reconcile` found (and, unless a dry run, mended).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    pub roles_seen: usize,
    /// Roles of ours with no live grant: torn down.
    pub orphans: Vec<String>,
    /// Live grants whose role was changed: brought back to the approved shape.
    pub repaired: Vec<Drift>,
    /// Live grants whose role was deleted: ended.
    pub ended: Vec<String>,
    /// Roles under the path that are not ours: reported, untouched.
    pub foreign: Vec<String>,
    pub failed: Vec<SweepFailure>,
}

/// How a role differs from what its grant approves.
pub fn drift_between(spec: &RoleSpec, role: &ObservedRole) -> Vec<String> {
    let mut drift = vec![];
    let expected = serde_json::to_value(&spec.trust).expect("serialises");
    if normalise_policy(&expected) != normalise_policy(&role.trust) {
        drift.push("trust policy".to_owned());
    }
    if role.boundary.as_deref() != Some(spec.boundary_arn.as_str()) {
        drift.push("permissions boundary".to_owned());
    }
    if role.attached != [spec.policy_arn.clone()] {
        drift.push("attached policies".to_owned());
    }
    if !role.inline.is_empty() {
        drift.push("inline policies".to_owned());
    }
    if role.max_session_seconds != Some(spec.max_session_seconds) {
        drift.push("max session duration".to_owned());
    }
    drift
}

/// A policy document with IAM's equivalent spellings made one: a lone string
/// where a list may stand becomes a list, and lists are sorted.
fn normalise_policy(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("AWS" | "Action" | "Resource" | "Service", Value::String(s)) => {
                            Value::Array(vec![Value::String(s.clone())])
                        }
                        _ => v.clone(),
                    };
                    (k.clone(), normalise_policy(&v))
                })
                .collect(),
        ),
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalise_policy).collect();
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        other => other.clone(),
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

pub fn role_ref(grant: &Grant) -> RoleRef {
    RoleRef {
        ticket: grant.ticket.clone(),
        target_account: grant.target_account.clone(),
        role_name: grant.role_name.clone(),
    }
}

/// IAM tag values allow letters, digits, spaces and `_.:/=+-@`, up to 256.
pub fn tag_value(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

/// One structured log event per state change. Never the external ID.
fn log_change(grant: &Grant, from: Option<GrantStatus>, reason: &str) {
    tracing::info!(
        ticket = %grant.ticket,
        role_arn = %grant.role_arn,
        from = from.map(|s| s.as_str()).unwrap_or("none"),
        to = grant.status.as_str(),
        reason,
        "grant state changed"
    );
}
