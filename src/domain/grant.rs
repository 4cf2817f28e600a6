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
    pub reason: Option<String>,
    /// The same in every account (derived from the ticket).
    pub role_name: String,
    /// One role per target account, in the order asked; never empty.
    pub roles: Vec<GrantRole>,
    /// The region the grant was made in (the auditor's profiles name it).
    pub region: Option<String>,
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
    /// IAM refused the request itself (a principal that does not exist, a
    /// role of that name that is not ours): no role was left, and the ticket
    /// stays open for a corrected request. Never retried by the sweeper.
    pub refused: bool,
    /// Ended, and its evidence pack is still to be kept (`EVIDENCE_BUCKET`):
    /// a sweep writes it once `EVIDENCE_DELAY` has passed since the end.
    pub evidence_pending: bool,
    /// Optimistic-locking counter: every write expects the version it read.
    pub version: u64,
}

/// A grant's role in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRole {
    pub account: AccountId,
    pub role_arn: String,
    /// IAM's unique id of the role, recorded when it was created: what makes
    /// a role ours (its tags are a second check). `None` until then.
    pub role_id: Option<String>,
}

/// What provisioning one account's role came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRole {
    pub account: AccountId,
    pub role_arn: String,
    pub role_id: String,
}

/// A change of a grant, ready to be committed: the grant as it will be (its
/// version bumped, `updated_at` set) and the history event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub grant: Grant,
    pub event: HistoryEvent,
    /// What this change owes people, written with it (see `notices_between`).
    pub notices: Vec<super::Notice>,
}

impl Transition {
    /// The change as asked for by `origin` (recorded with it).
    pub fn asked_by(mut self, origin: &super::Origin) -> Self {
        self.event.origin = Some(origin.clone());
        self
    }

    /// The change records what the teardown did to each account's role.
    pub fn removing(mut self, removal: Vec<super::RoleRemoval>) -> Self {
        self.event.removal = removal;
        self
    }

    /// An end after which the evidence pack is owed (`EVIDENCE_BUCKET` set).
    pub fn owing_evidence(mut self, owed: bool) -> Self {
        self.grant.evidence_pending = owed && self.grant.is_ended();
        self
    }
}

/// A transition the state machine does not allow from the grant's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grant {ticket} is {from}: it cannot be {attempted}")]
pub struct IllegalTransition {
    pub ticket: Ticket,
    pub from: GrantStatus,
    pub attempted: &'static str,
}

impl Grant {
    /// A new grant, `pending`, for a request that passed every rule; its roles
    /// will be `role_arn(account)` (named after the ticket), one per account.
    pub fn requested(
        r: super::GrantRequest,
        role_arn: impl Fn(&AccountId) -> String,
        at: DateTime<Utc>,
    ) -> Grant {
        let roles = r
            .target_accounts
            .iter()
            .map(|account| GrantRole {
                account: account.clone(),
                role_arn: role_arn(account),
                role_id: None,
            })
            .collect();
        Grant {
            role_name: r.ticket.role_name(),
            roles,
            ticket: r.ticket,
            status: GrantStatus::Pending,
            fingerprint: r.fingerprint,
            requested_by: r.requested_by,
            auditor_account: r.auditor_account,
            principals: r.principals,
            external_id: r.external_id,
            access: r.access,
            window: r.window,
            reason: r.reason,
            region: None,
            created_at: at,
            updated_at: at,
            ended_at: None,
            end_reason: None,
            ending: None,
            attempts: 0,
            last_error: None,
            recheck: false,
            refused: false,
            evidence_pending: false,
            version: 1,
        }
    }
}

/// The grant's state machine. Every change of a grant is one of these named
/// transitions; each checks that it is allowed from the current status and
/// yields the next version with its history event. Nothing else writes a status.
impl Grant {
    /// Whether the grant still wants its role created: `pending`, or `failed`
    /// before any teardown began.
    pub fn is_provisioning(&self) -> bool {
        !self.is_ended()
            && !self.refused
            && (self.status == GrantStatus::Pending
                || (self.status == GrantStatus::Failed && self.ending.is_none()))
    }

    /// A provisioning IAM refused: `failed`, not ended; the ticket stays open
    /// for a corrected request, and the refusal stays in the history.
    pub fn refuse(&self, why: &str, at: DateTime<Utc>) -> Result<Transition, IllegalTransition> {
        self.require(self.is_provisioning(), "refused")?;
        Ok(self.transition(at, why, |g| {
            g.status = GrantStatus::Failed;
            g.refused = true;
            g.last_error = Some(why.to_owned());
            // Every role of ours was removed before a refusal is recorded.
            for r in &mut g.roles {
                r.role_id = None;
            }
        }))
    }

    /// A refused grant's ticket, asked for again (corrected, or the same once
    /// what IAM refused exists): `pending` again, with the request as sent now.
    pub fn request_again(
        &self,
        request: Grant,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(
            self.refused && !self.is_ended() && self.ending.is_none(),
            "requested again",
        )?;
        let reason = if request.fingerprint == self.fingerprint {
            "the same request sent again after a refusal"
        } else {
            "a corrected request after a refusal"
        };
        Ok(self.transition(at, reason, move |g| {
            *g = Grant {
                created_at: g.created_at,
                version: g.version,
                updated_at: g.updated_at,
                ..request
            };
        }))
    }

    /// `pending`/`failed` -> `active`: every account's role exists as
    /// approved (`created` adds the ones made by this attempt).
    pub fn activate(
        &self,
        created: &[CreatedRole],
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(self.is_provisioning(), "activated")?;
        let mut next = self.clone();
        next.record_created(created);
        next.require(
            next.roles.iter().all(|r| r.role_id.is_some()),
            "activated before every role exists",
        )?;
        let reason = if self.roles.len() == 1 {
            "role provisioned".to_owned()
        } else {
            format!("roles provisioned in {} accounts", self.roles.len())
        };
        Ok(self.transition(at, &reason, |g| {
            g.record_created(created);
            g.status = GrantStatus::Active;
            g.attempts = 0;
            g.last_error = None;
        }))
    }

    fn record_created(&mut self, created: &[CreatedRole]) {
        for c in created {
            if let Some(role) = self.roles.iter_mut().find(|r| r.account == c.account) {
                role.role_arn = c.role_arn.clone();
                role.role_id = Some(c.role_id.clone());
            }
        }
    }

    /// Any live grant -> `revoking`, heading for `ending`. A grant not yet active
    /// may have a provisioning in flight that creates its role after this
    /// teardown, so it is marked for one more check once ended.
    pub fn begin_teardown(
        &self,
        ending: Ending,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(!self.is_ended() && self.ending.is_none(), "torn down")?;
        let in_flight = self.status != GrantStatus::Active;
        Ok(self.transition(at, reason, |g| {
            g.status = GrantStatus::Revoking;
            g.ending = Some(ending);
            g.end_reason = Some(reason.to_owned());
            g.recheck = in_flight;
        }))
    }

    /// A begun teardown whose role is gone -> `expired`/`revoked`.
    pub fn finish_teardown(&self, at: DateTime<Utc>) -> Result<Transition, IllegalTransition> {
        self.finish_teardown_checking_again(false, at)
    }

    /// `finish_teardown`; with `check_again`, a later sweep makes sure no role
    /// remains (IAM said "no such role" for a role it may not list yet).
    pub fn finish_teardown_checking_again(
        &self,
        check_again: bool,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        let Some(ending) = self.ending.filter(|_| !self.is_ended()) else {
            return Err(self.illegal("finished"));
        };
        let reason = format!("role deleted; grant {}", ending.as_str());
        Ok(self.transition(at, &reason, |g| {
            g.status = ending.status();
            g.ended_at = Some(at);
            g.attempts = 0;
            g.last_error = None;
            g.recheck = g.recheck || check_again;
        }))
    }

    /// An ended grant's evidence pack was kept: the record names the copy.
    pub fn settle_evidence(
        &self,
        copy: &super::EvidenceCopy,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(
            self.is_ended() && self.evidence_pending,
            "given its evidence",
        )?;
        let reason = format!("evidence pack kept at {}", copy.describe());
        let mut t = self.transition(at, &reason, |g| g.evidence_pending = false);
        t.event.evidence = Some(copy.clone());
        Ok(t)
    }

    /// A provisioning or teardown attempt failed: `failed`, retried by the
    /// sweeper, counting attempts. The grant stays live.
    pub fn fail_attempt(
        &self,
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.fail_attempt_keeping(&[], why, at)
    }

    /// `fail_attempt` for a provisioning that created the roles of some
    /// accounts (`created`, recorded: the retry leaves them alone) and failed
    /// in others.
    pub fn fail_attempt_keeping(
        &self,
        created: &[CreatedRole],
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.fail_attempt_recording(created, &[], why, at)
    }

    /// `fail_attempt` that also records which accounts' roles are gone
    /// (`removed`: a partial cleanup), so a retry provisions them again
    /// instead of trusting an id whose role no longer exists.
    pub fn fail_attempt_recording(
        &self,
        created: &[CreatedRole],
        removed: &[AccountId],
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(!self.is_ended(), "retried")?;
        let attempts = self.attempts + 1;
        Ok(self.transition(at, why, |g| {
            g.record_created(created);
            for r in g.roles.iter_mut().filter(|r| removed.contains(&r.account)) {
                r.role_id = None;
            }
            g.status = GrantStatus::Failed;
            g.attempts = attempts;
            g.last_error = Some(why.to_owned());
        }))
    }

    /// An active grant's window moves (extend); the record keeps its status.
    pub fn move_window(
        &self,
        window: Window,
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(
            self.status == GrantStatus::Active && self.ending.is_none() && !self.is_ended(),
            "extended",
        )?;
        let reason = format!(
            "end moved from {} to {}",
            format_timestamp(self.window.end()),
            format_timestamp(window.end())
        );
        Ok(self.transition(at, &reason, |g| g.window = window))
    }

    /// An ended grant was checked once more: no role remains.
    pub fn confirm_no_role(&self, at: DateTime<Utc>) -> Result<Transition, IllegalTransition> {
        self.require(self.is_ended() && self.recheck, "checked again")?;
        Ok(self.transition(at, "checked again: no role remains", |g| g.recheck = false))
    }

    /// An active grant's role was brought back to its approved shape.
    pub fn record_repair(
        &self,
        drift: &[String],
        at: DateTime<Utc>,
    ) -> Result<Transition, IllegalTransition> {
        self.require(self.status == GrantStatus::Active, "repaired")?;
        let reason = format!(
            "role repaired after out-of-band change: {}",
            drift.join(", ")
        );
        Ok(self.transition(at, &reason, |_| {}))
    }

    fn require(&self, allowed: bool, attempted: &'static str) -> Result<(), IllegalTransition> {
        if allowed {
            Ok(())
        } else {
            Err(self.illegal(attempted))
        }
    }

    fn illegal(&self, attempted: &'static str) -> IllegalTransition {
        IllegalTransition {
            ticket: self.ticket.clone(),
            from: self.status,
            attempted,
        }
    }

    fn transition(
        &self,
        at: DateTime<Utc>,
        reason: &str,
        change: impl FnOnce(&mut Grant),
    ) -> Transition {
        let mut next = self.clone();
        change(&mut next);
        next.version = self.version + 1;
        next.updated_at = at;
        Transition {
            event: HistoryEvent {
                at,
                from: Some(self.status),
                to: next.status,
                reason: reason.to_owned(),
                version: next.version,
                origin: None,
                removal: vec![],
                evidence: None,
            },
            notices: super::notices_between(self, &next, at),
            grant: next,
        }
    }
}

impl Grant {
    /// The first account's role: `role_arn` and `target_account` in the view.
    pub fn first_role(&self) -> &GrantRole {
        self.roles.first().expect("a grant has at least one role")
    }

    pub fn target_account(&self) -> &AccountId {
        &self.first_role().account
    }

    pub fn role_arn(&self) -> &str {
        &self.first_role().role_arn
    }

    /// Every account the grant has a role in.
    pub fn accounts(&self) -> impl Iterator<Item = &AccountId> {
        self.roles.iter().map(|r| &r.account)
    }

    /// The role of `account`, if the grant has one there.
    pub fn role_in(&self, account: &AccountId) -> Option<&GrantRole> {
        self.roles.iter().find(|r| &r.account == account)
    }

    /// Ended grants are history: never granted again, never touched again.
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// When the sweeper must look at this grant next (`None`: never again).
    /// Stored as the sort key of the sweeper's index.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if let Some(ended) = self.ended_at {
            let recheck = self.recheck.then_some(ended + STALE_AFTER);
            let evidence = self
                .evidence_pending
                .then_some(ended + super::EVIDENCE_DELAY);
            return recheck.into_iter().chain(evidence).min();
        }
        if self.refused && self.ending.is_none() {
            return None; // nothing to do until someone corrects the request
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
            "role_arn": self.role_arn(),
            "external_id": self.external_id,
            "access": self.access,
            "principals": self.principals,
            "auditor_account": self.auditor_account,
            "target_account": self.target_account(),
            "requested_by": self.requested_by,
            "reason": self.reason,
            "start": format_timestamp(self.window.start()),
            "end": format_timestamp(self.window.end()),
            "created_at": format_timestamp(self.created_at),
            "ended_at": self.ended_at.map(format_timestamp),
            "end_reason": self.end_reason,
            "aws_config_profile": self.aws_config_profile(),
            "auditor_policy": self.auditor_policy(),
        });
        let obj = v.as_object_mut().expect("an object");
        if self.roles.len() > 1 {
            obj.insert(
                "roles".into(),
                self.roles
                    .iter()
                    .map(|r| json!({"account": r.account, "role_arn": r.role_arn}))
                    .collect(),
            );
        }
        if !with_secrets {
            obj.remove("external_id");
            obj.remove("aws_config_profile");
        }
        v
    }

    /// The identity policy the auditor's principals attach in their own
    /// account to assume the grant's roles (SPEC `auditor_policy`).
    pub fn auditor_policy(&self) -> Value {
        let doc = crate::policy::auditor_policy(self.roles.iter().map(|r| r.role_arn.as_str()));
        serde_json::to_value(doc).expect("policy documents serialise")
    }

    /// The name of the auditor's profile for the role in `account`: unique per
    /// ticket (see [`profile_safe`]) and, for several accounts, per account.
    pub fn profile_name(&self, account: &AccountId) -> String {
        let ticket = profile_safe(self.ticket.as_str());
        if self.roles.len() == 1 {
            format!("audit-{ticket}")
        } else {
            format!("audit-{ticket}-{account}")
        }
    }

    /// Ready `~/.aws/config` profiles for the auditor, one per account (their
    /// own credentials are the `source_profile`), each with the region the
    /// grant was made in, so the first regional call works.
    pub fn aws_config_profile(&self) -> String {
        let session: String = format!("audit-{}", profile_safe(self.ticket.as_str()))
            .chars()
            .take(64)
            .collect();
        self.roles
            .iter()
            .map(|r| {
                let region = self
                    .region
                    .as_deref()
                    .map(|region| format!("region = {region}\n"))
                    .unwrap_or_default();
                format!(
                    "[profile {}]\nrole_arn = {}\nexternal_id = {}\nrole_session_name = {session}\nsource_profile = default\n{region}audit_grants_window = {}/{}\n",
                    self.profile_name(&r.account),
                    r.role_arn,
                    self.external_id,
                    format_timestamp(self.window.start()),
                    format_timestamp(self.window.end()),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A ticket spelled with what profile and session names allow: letters,
/// digits, `.` and `-` stay; `_`, `:` and `/` become `_5f`, `_3a` and `_2f`,
/// so two tickets never share a profile name.
fn profile_safe(ticket: &str) -> String {
    ticket
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_string()
            } else {
                format!("_{:02x}", c as u32)
            }
        })
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
    /// Who asked for it, for the changes someone asks for (create, revoke,
    /// extend); `None` for what the function does on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<super::Origin>,
    /// For the end of a teardown: what was done to each account's role, and when.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removal: Vec<super::RoleRemoval>,
    /// For the keeping of the evidence pack: where it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<super::EvidenceCopy>,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp_precise(*t))
}

/// History timestamps keep milliseconds: several changes can share a second.
pub fn format_timestamp_precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
