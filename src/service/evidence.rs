//! The evidence pack of one grant: put together from the record, the
//! documents the role was built from, IAM (is the role gone?) and CloudTrail
//! (what the auditor did); and, for an ended grant, kept in the evidence
//! bucket once CloudTrail has delivered the window's last calls.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{
    Grant, GrantRole, GrantStatus, HistoryEvent, Ticket, format_timestamp, format_timestamp_precise,
};
use crate::error::Result;
use crate::evidence::activity;
use crate::evidence::pack::{
    AccountEvidence, Activity, Approval, Granted, PACK_FORMAT, PACK_VERSION, Pack, Removal,
    RoleAsGranted, Verification,
};
use crate::policy;
use crate::ports::{ActivityQuery, LookupBy};

use super::{GrantService, internal, store_err};

/// How far before the window the activity is looked up: refused attempts
/// to assume the role early are evidence too.
const LOOKUP_LEAD: Duration = Duration::hours(1);

/// How far back CloudTrail's event history reaches.
const EVENT_HISTORY_REACH: Duration = Duration::days(90);

/// How long after the end an incomplete pack (CloudTrail or IAM not fully
/// read) is retried before it is kept as it is, saying what it lacks.
pub const EVIDENCE_RETRY_FOR: Duration = Duration::hours(24);

/// How long CloudTrail may take to deliver an event.
const CLOUDTRAIL_DELIVERY: Duration = Duration::minutes(15);

impl GrantService {
    /// The evidence pack of `ticket`, as of now. Lookups stop at `deadline`
    /// (the pack then says what it could not read).
    pub async fn evidence(
        &self,
        ticket: &Ticket,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Pack> {
        let (grant, history) = self.show(ticket).await?;
        self.pack(&grant, &history, deadline).await
    }

    pub(super) async fn pack(
        &self,
        grant: &Grant,
        history: &[HistoryEvent],
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Pack> {
        let now = self.clock.now();
        let accounts = join_all(
            grant
                .roles
                .iter()
                .map(|role| self.account_evidence(grant, role, history, now, deadline)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        // The request as approved: for a ticket re-opened after a refusal,
        // the corrected request, which the record now holds.
        let requested = history
            .iter()
            .rev()
            .find(|e| e.to == GrantStatus::Pending && e.origin.is_some())
            .or(history.first());
        let sender = requested.and_then(|e| e.origin.clone());
        Ok(Pack {
            format: PACK_FORMAT,
            version: PACK_VERSION,
            generated_at: format_timestamp_precise(now),
            generated_by: format!("audit-grants {}", env!("CARGO_PKG_VERSION")),
            ticket: grant.ticket.to_string(),
            status: grant.status.to_string(),
            approval: Approval {
                ticket: grant.ticket.to_string(),
                requested_by: grant.requested_by.clone(),
                reason: grant.reason.clone(),
                requested_at: format_timestamp_precise(
                    requested.map(|e| e.at).unwrap_or(grant.created_at),
                ),
                sender_description: sender
                    .as_ref()
                    .map(|o| o.describe())
                    .unwrap_or_else(|| "not recorded".into()),
                sender,
            },
            grant: Granted {
                auditor_account: grant.auditor_account.to_string(),
                principals: grant.principals.iter().map(|p| p.to_string()).collect(),
                access: grant.access.to_string(),
                start: format_timestamp(grant.window.start()),
                end: format_timestamp(grant.window.end()),
                created_at: format_timestamp_precise(grant.created_at),
                ended_at: grant.ended_at.map(format_timestamp_precise),
                end_reason: grant.end_reason.clone(),
                external_id: "required (value not shown)",
                max_session_seconds: self.settings.max_session_seconds,
                auditor_policy: grant.auditor_policy(),
            },
            accounts,
            history: history.to_vec(),
        })
    }

    async fn account_evidence(
        &self,
        grant: &Grant,
        role: &GrantRole,
        history: &[HistoryEvent],
        now: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<AccountEvidence> {
        let spec = self.role_spec(grant, role).await?;
        let json = |doc: &policy::PolicyDocument| -> Value {
            serde_json::to_value(doc).expect("policy documents serialise")
        };
        let role_as_granted = RoleAsGranted {
            role_arn: role.role_arn.clone(),
            role_id: role.role_id.clone(),
            role_name: spec.role_name.clone(),
            path: spec.path.clone(),
            trust_policy: redact_external_id(json(&spec.trust)),
            boundary_arn: spec.boundary_arn.clone(),
            boundary_sha256: hex::encode(Sha256::digest(
                policy::permissions_boundary().to_json().as_bytes(),
            )),
            preset_policy_arn: spec.policy_arn.clone(),
            window_deny: json(&spec.window_deny),
            max_session_seconds: spec.max_session_seconds,
            tags: spec.tags.clone(),
        };
        let (removal, activity) = tokio::join!(
            self.removal(grant, role, history, now),
            self.activity(grant, role, now, deadline)
        );
        Ok(AccountEvidence {
            account: role.account.to_string(),
            role: role_as_granted,
            removal,
            activity,
        })
    }

    /// The teardown as recorded, and IAM asked now whether the role exists.
    async fn removal(
        &self,
        grant: &Grant,
        role: &GrantRole,
        history: &[HistoryEvent],
        now: DateTime<Utc>,
    ) -> Removal {
        let started = history
            .iter()
            .rev()
            .find(|e| e.to == GrantStatus::Revoking && e.from != Some(GrantStatus::Revoking));
        let finished = history.iter().rev().find(|e| !e.removal.is_empty());
        let steps = finished
            .and_then(|e| {
                e.removal
                    .iter()
                    .find(|r| r.account == role.account.as_str())
            })
            .map(|r| r.steps.clone())
            .unwrap_or_default();
        let mut removal = Removal {
            state: "not_removed".into(),
            teardown_started_at: started.map(|e| format_timestamp_precise(e.at)),
            teardown_finished_at: finished.map(|e| format_timestamp_precise(e.at)),
            steps,
            verified: None,
        };
        if !grant.is_ended() {
            return removal;
        }
        let checked_at = format_timestamp_precise(now);
        let call = format!("iam:GetRole {} in {}", grant.role_name, role.account);
        let found = match self
            .provisioner
            .inspect_role(&role.account, &grant.role_name)
            .await
        {
            Ok(found) => found,
            // Said in the pack, which is still made (and not kept as final).
            Err(e) => {
                removal.state = "unverified".into();
                removal.verified = Some(Verification {
                    checked_at,
                    call,
                    answer: format!("IAM could not be asked: {e:#}"),
                    role_exists: false,
                });
                return removal;
            }
        };
        // Ours by the RoleId recorded; before one was recorded, by its tags.
        let ours = |r: &crate::ports::ObservedRole| match &role.role_id {
            Some(id) => *id == r.role_id,
            None => r.managed && r.ticket.as_deref() == Some(grant.ticket.as_str()),
        };
        let (state, answer, exists) = match found {
            None => (
                "removed",
                "NoSuchEntity: the role does not exist".to_owned(),
                false,
            ),
            Some(r) if ours(&r) => (
                "role_still_exists",
                format!("the role still exists: {} ({})", r.arn, r.role_id),
                true,
            ),
            Some(r) => (
                "removed",
                format!(
                    "this grant's role is gone; another role now has its name ({}, RoleId {})",
                    r.arn, r.role_id
                ),
                false,
            ),
        };
        removal.state = state.into();
        removal.verified = Some(Verification {
            checked_at,
            call,
            answer,
            role_exists: exists,
        });
        removal
    }

    /// The auditor's activity in `role`'s account: the role's `AssumeRole`
    /// events, then each session's calls by its access key.
    async fn activity(
        &self,
        grant: &Grant,
        role: &GrantRole,
        now: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Activity {
        let region = self
            .settings
            .region
            .as_deref()
            .unwrap_or("the function's region");
        // Sessions last at most MaxSessionDuration; calls made with them after
        // the end are refused, and that refusal is evidence too.
        let last_possible = grant
            .ended_at
            .unwrap_or(grant.window.end())
            .max(grant.window.end())
            + Duration::seconds(i64::from(self.settings.max_session_seconds));
        let wanted_from = grant.created_at.min(grant.window.start()) - LOOKUP_LEAD;
        let from = wanted_from.max(now - EVENT_HISTORY_REACH);
        let to = last_possible.min(now);
        let mut activity = Activity {
            source: format!("CloudTrail event history (LookupEvents: management events), {region}"),
            from: format_timestamp(from),
            to: format_timestamp(to),
            complete: true,
            ..Activity::default()
        };
        match grant.ended_at {
            None => activity.notes.push(format!(
                "the grant is still live: calls after {} are not in this pack",
                format_timestamp(to)
            )),
            Some(ended) if now < ended + CLOUDTRAIL_DELIVERY => activity.notes.push(format!(
                "CloudTrail delivers an event within about 15 minutes of the call: the last calls before {} may not be in this pack yet (the copy kept in the evidence bucket is made {} minutes after the end)",
                format_timestamp(to),
                crate::domain::EVIDENCE_DELAY.num_minutes()
            )),
            Some(_) => {}
        }
        activity.notes.push(
            "CloudTrail's event history holds management events of this region for 90 days; calls in other regions, and data events, are in their own trails".into(),
        );
        if from > wanted_from {
            activity.complete = false;
            activity.notes.push(format!(
                "the event history reaches back 90 days only: calls before {} are no longer in it",
                format_timestamp(from)
            ));
        }
        let Some(log) = &self.activity else {
            activity.complete = false;
            activity
                .notes
                .push("not read: no CloudTrail reader is configured".into());
            return activity;
        };
        let query = |by| ActivityQuery {
            account: role.account.clone(),
            label: grant.ticket.to_string(),
            by,
            start: from,
            end: to,
            deadline,
        };
        let assumed = log
            .lookup(&query(LookupBy::ResourceName(role.role_arn.clone())))
            .await;
        if let Some(why) = &assumed.stopped {
            activity.complete = false;
            activity
                .notes
                .push(format!("the role's AssumeRole events: {why}"));
        }
        let found = activity::sessions(&assumed.events, &role.role_arn);
        if found.keyless > 0 {
            activity.complete = false;
            activity.notes.push(format!(
                "{} AssumeRole event(s) of this role name no issued access key: their sessions' calls cannot be looked up",
                found.keyless
            ));
        }
        activity.sessions = found.sessions;
        activity.refused_assumes = found.refused;
        let mut calls = vec![];
        let mut unread = 0;
        for session in activity.sessions.clone() {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                unread += 1;
                continue;
            }
            let found = log
                .lookup(&query(LookupBy::AccessKeyId(session.access_key_id.clone())))
                .await;
            if let Some(why) = &found.stopped {
                activity.complete = false;
                activity.notes.push(format!(
                    "the calls of session {}: {why}",
                    session.access_key_id
                ));
            }
            calls.extend(found.events);
        }
        if unread > 0 {
            activity.complete = false;
            activity.notes.push(format!(
                "stopped at the time limit: the calls of {unread} of {} sessions were not read; run `audit-grants evidence` for the whole record",
                activity.sessions.len()
            ));
        }
        activity::summarise(&mut activity, &calls);
        activity
    }

    /// Keeps an ended grant's evidence pack in the evidence bucket and
    /// records where. A pack that could not read everything (CloudTrail or
    /// IAM refused, throttled or out of time) is not kept while
    /// `EVIDENCE_RETRY_FOR` has not passed since the end: the grant stays
    /// due and the next sweep tries again.
    pub(super) async fn keep_evidence(
        &self,
        grant: &Grant,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<KeepOutcome> {
        let Some(store) = &self.evidence_store else {
            return Ok(KeepOutcome::NotYet);
        };
        let history = self.store.history(&grant.ticket).await.map_err(store_err)?;
        let pack = self.pack(grant, &history, deadline).await?;
        let ended = grant.ended_at.unwrap_or(grant.updated_at);
        if !pack.is_complete() && self.clock.now() < ended + EVIDENCE_RETRY_FOR {
            tracing::warn!(ticket = %grant.ticket, "evidence pack incomplete: not kept yet, the next sweep tries again");
            return Ok(KeepOutcome::NotYet);
        }
        let body = serde_json::to_vec_pretty(&pack).expect("a pack serialises");
        let name = format!("{}.json", grant.ticket);
        let copy = store
            .keep(&name, &body)
            .await
            .map_err(|e| internal(e.context("keeping the evidence pack")))?;
        match self
            .commit(grant, |g, at| g.settle_evidence(&copy, at))
            .await
        {
            Ok(_) => Ok(KeepOutcome::Kept),
            Err(e) if e.lost_race() => Ok(KeepOutcome::NotYet),
            Err(e) => Err(e.into()),
        }
    }
}

/// What keeping an evidence pack came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeepOutcome {
    Kept,
    /// Not now: no bucket here, the pack is not complete yet, or another
    /// writer changed the grant (a later sweep sees it).
    NotYet,
}

/// The trust policy with every `sts:ExternalId` value shown only as present.
fn redact_external_id(mut doc: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "sts:ExternalId" {
                        *v = Value::String("(present)".into());
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut doc);
    doc
}
