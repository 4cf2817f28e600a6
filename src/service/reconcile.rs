//! Reconcile: IAM must hold exactly what the live grants approve.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::domain::{AccountId, Ending, Grant, GrantStatus, RoleRef, Ticket};
use crate::error::{Error, Result};
use crate::metrics::Metric;
use crate::policy;
use crate::ports::{ListedRole, ObservedRole, ReconcileCursor, RoleSpec};

use super::sweep::SweepFailure;
use super::teardown::EndRequest;
use super::{GrantService, Mode, internal, sorted, store_err};

/// The end reason of a grant whose role someone deleted by hand.
pub const ROLE_DELETED_OUT_OF_BAND: &str = "role deleted outside audit-grants";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Drift {
    pub ticket: String,
    pub role_arn: String,
    pub drift: Vec<String>,
}

/// What `reconcile` found (and, unless a dry run, mended).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    /// Roles under the path, in every account that could be listed.
    pub roles_seen: usize,
    /// Roles inspected in this run (the rest wait for the next run).
    pub roles_inspected: usize,
    /// Every listed role was inspected by this run or the ones it resumed.
    pub complete: bool,
    /// The role (`account/name`) the previous run stopped after, if it ran out of time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after: Option<String>,
    /// The role this run stopped after for want of time: the next run resumes there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_after: Option<String>,
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

/// What one reconcile is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileOptions {
    pub mode: Mode,
    /// Stop inspecting roles after this (the Lambda deadline less a margin); the
    /// next run resumes after the last role inspected.
    pub deadline: Option<tokio::time::Instant>,
}

impl From<Mode> for ReconcileOptions {
    /// A reconcile with no deadline (the CLI, tests).
    fn from(mode: Mode) -> Self {
        ReconcileOptions {
            mode,
            deadline: None,
        }
    }
}

impl GrantService {
    /// Compares IAM with the records and mends the difference, by one rule:
    /// IAM must hold exactly what the live grants approve. A role under the path
    /// tagged as ours with no live grant is torn down; a live grant's role that
    /// was changed out of band is brought back to the approved shape; a live
    /// grant whose role was deleted out of band is ended (`revoked`): nobody gets
    /// access back without a new ticket. Roles under the path that are not ours
    /// are reported and never touched.
    ///
    /// Every run lists every account (one call per thousand roles) and ends the
    /// grants whose role is gone; inspecting each role takes several calls, so
    /// it stops at the deadline and the next run resumes after the last role
    /// inspected (a cursor in the grants table). A dry run always starts from
    /// the beginning and records nothing.
    pub async fn reconcile(&self, options: ReconcileOptions) -> Result<ReconcileReport> {
        let ReconcileOptions { mode, deadline } = options;
        let out_of_time = || deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        let caller = self.caller().await?;
        let live: HashMap<Ticket, Grant> = self
            .store
            .live()
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|g| (g.ticket.clone(), g))
            .collect();
        let mut report = ReconcileReport {
            dry_run: mode.is_dry_run(),
            ..Default::default()
        };
        let mut accounts = vec![caller.account.clone()];
        accounts.extend(self.settings.target_accounts.iter().cloned());
        accounts.extend(self.settings.retiring_target_accounts.iter().cloned());
        let mut listed: Vec<ListedRole> = vec![];
        let mut listed_accounts = HashSet::new();
        for account in &accounts {
            match self
                .provisioner
                .list_roles(account, &self.settings.role_path)
                .await
            {
                Ok(roles) => {
                    listed_accounts.insert(account.clone());
                    listed.extend(roles);
                }
                Err(e) => report.failed.push(SweepFailure {
                    ticket: format!("account {account}"),
                    error: format!("{e:#}"),
                }),
            }
        }
        listed.sort();
        listed.dedup();
        report.roles_seen = listed.len();
        // Every role found, by account and name: its id.
        let seen: HashMap<(AccountId, String), String> = listed
            .iter()
            .map(|r| {
                (
                    (r.target_account.clone(), r.name.clone()),
                    r.role_id.clone(),
                )
            })
            .collect();
        self.end_grants_whose_role_is_gone(&live, &seen, &listed_accounts, options, &mut report)
            .await;

        let resume = if mode.is_dry_run() {
            None
        } else {
            self.store.reconcile_cursor().await.map_err(store_err)?
        };
        report.resumed_after = resume.as_ref().map(ToString::to_string);
        let mut last = resume.clone();
        report.complete = true;
        for role in listed
            .iter()
            .filter(|r| resume.as_ref().is_none_or(|c| c.is_before(r)))
        {
            if out_of_time() {
                report.complete = false;
                break;
            }
            match self
                .provisioner
                .inspect_role(&role.target_account, &role.name)
                .await
            {
                Ok(Some(observed)) => {
                    if let Err(e) = self
                        .reconcile_role(&observed, &live, mode, &mut report)
                        .await
                    {
                        report.failed.push(SweepFailure {
                            ticket: observed
                                .ticket
                                .clone()
                                .unwrap_or_else(|| observed.arn.clone()),
                            error: e.to_string(),
                        });
                    }
                }
                Ok(None) => {} // deleted since the listing
                Err(e) => report.failed.push(SweepFailure {
                    ticket: format!("role {}/{}", role.target_account, role.name),
                    error: format!("{e:#}"),
                }),
            }
            report.roles_inspected += 1;
            last = Some(ReconcileCursor {
                account: role.target_account.clone(),
                role_name: role.name.clone(),
            });
        }
        if !report.complete {
            report.stopped_after = last.as_ref().map(ToString::to_string);
            tracing::warn!(stopped_after = ?report.stopped_after, inspected = report.roles_inspected, "reconcile: out of time, the next run resumes");
        }
        let cursor = if report.complete { None } else { last };
        if !mode.is_dry_run() && cursor != resume {
            self.store
                .save_reconcile_cursor(cursor.as_ref())
                .await
                .map_err(store_err)?;
        }
        report.orphans = sorted(report.orphans);
        report.ended = sorted(report.ended);
        report.foreign = sorted(report.foreign);
        report.repaired = sorted(report.repaired);
        if !mode.is_dry_run() {
            self.metrics
                .count(Metric::DriftRepaired, report.repaired.len());
            self.metrics
                .count(Metric::OrphansRemoved, report.orphans.len());
        }
        Ok(report)
    }

    /// Ends every live grant whose role the listing no longer shows (or shows
    /// with another RoleId): someone deleted it outside audit-grants.
    async fn end_grants_whose_role_is_gone(
        &self,
        live: &HashMap<Ticket, Grant>,
        seen: &HashMap<(AccountId, String), String>,
        listed_accounts: &HashSet<AccountId>,
        options: ReconcileOptions,
        report: &mut ReconcileReport,
    ) {
        let now = self.clock.now();
        let mut grants: Vec<&Grant> = live.values().collect();
        grants.sort_by(|a, b| a.ticket.cmp(&b.ticket));
        for grant in grants {
            // IAM's listing is eventually consistent: a grant changed in the last
            // minutes is left for the next pass.
            // Any account's role gone ends the grant (every account's role).
            let eligible = grant.status == GrantStatus::Active && grant.is_stale(now);
            let missing = eligible
                .then(|| {
                    grant.roles.iter().find(|r| {
                        listed_accounts.contains(&r.account)
                            && seen
                                .get(&(r.account.clone(), grant.role_name.clone()))
                                .is_none_or(|id| r.role_id.as_ref().is_some_and(|ours| ours != id))
                    })
                })
                .flatten();
            let Some(missing) = missing else {
                continue;
            };
            tracing::error!(ticket = %grant.ticket, role_arn = %missing.role_arn, "drift: the role of a live grant was deleted outside audit-grants");
            report.ended.push(grant.ticket.to_string());
            if options.mode.is_dry_run() {
                continue;
            }
            if options
                .deadline
                .is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                // Found again by the next run: the listing is complete every run.
                report.failed.push(SweepFailure {
                    ticket: grant.ticket.to_string(),
                    error: "left for the next run: out of time".to_owned(),
                });
                continue;
            }
            let request = EndRequest {
                ending: Ending::Revoked,
                reason: ROLE_DELETED_OUT_OF_BAND,
                due_as_of: None,
                origin: None,
                wait_for_others: false,
            };
            if let Err(e) = self.end_grant(&grant.ticket, &request, None).await {
                report.failed.push(SweepFailure {
                    ticket: grant.ticket.to_string(),
                    error: e.to_string(),
                });
            }
        }
    }

    async fn reconcile_role(
        &self,
        role: &ObservedRole,
        live: &HashMap<Ticket, Grant>,
        mode: Mode,
        report: &mut ReconcileReport,
    ) -> Result<()> {
        let ticket = role.ticket.as_deref().and_then(|t| Ticket::parse(t).ok());
        let (true, Some(ticket)) = (role.managed, ticket) else {
            report.foreign.push(role.arn.clone());
            return Ok(());
        };
        // The index may lag a just-created grant: the record itself decides.
        let record = match live.get(&ticket) {
            Some(g) => Some(g.clone()),
            None => self.store.get(&ticket).await.map_err(store_err)?,
        };
        let Some(record) = record.filter(|g| ties(g, role)) else {
            // Tagged as ours, but no grant recorded this role: it may be a copy
            // made to look like ours. Reported, never touched.
            tracing::error!(ticket = %ticket, role_arn = %role.arn, "a role tagged as ours that no grant created: reported, not touched");
            report.foreign.push(role.arn.clone());
            return Ok(());
        };
        if record.is_ended() {
            tracing::error!(ticket = %ticket, role_arn = %role.arn, "drift: a role of an ended grant");
            report.orphans.push(role.arn.clone());
            if !mode.is_dry_run() {
                let orphan = RoleRef {
                    ticket,
                    target_account: role.target_account.clone(),
                    role_name: role.name.clone(),
                    role_id: Some(role.role_id.clone()),
                };
                self.provisioner
                    .teardown(&orphan, self.clock.now())
                    .await
                    .map_err(|e| {
                        internal(anyhow::Error::new(e).context("tearing down an orphan role"))
                    })?;
            }
            return Ok(());
        }
        let grant = &record;
        if grant.status != GrantStatus::Active {
            return Ok(()); // in flux: provisioning or teardown owns it
        }
        let Some(ours) = grant.role_in(&role.target_account) else {
            return Ok(()); // `ties` found it: unreachable
        };
        if drift_between(&self.role_spec(grant, ours).await?, role).is_empty() {
            return Ok(());
        }
        // The index may be behind, and a teardown makes a role look drifted:
        // act only on the record as it is now.
        let grant = &self.existing_grant(&ticket).await?;
        if grant.status != GrantStatus::Active
            || grant.ending.is_some()
            || grant.role_name != role.name
        {
            return Ok(());
        }
        let Some(ours) = grant.role_in(&role.target_account) else {
            return Ok(());
        };
        let spec = self.role_spec(grant, ours).await?;
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
        if mode.is_dry_run() {
            return Ok(());
        }
        self.provisioner
            .provision(&spec)
            .await
            .map_err(|e| internal(anyhow::Error::new(e).context("repairing a drifted role")))?;
        match self
            .commit(grant, |g, at| g.record_repair(&drift, at))
            .await
        {
            Ok(_) => Ok(()),
            // A revoke or sweep began meanwhile: our repair must not outlive it.
            Err(e) if e.lost_race() => self.reapply_teardown_if_ending(&ticket).await.map(drop),
            Err(e) => Err(Error::from(e)),
        }
    }
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
    if role.inline != [policy::WINDOW_POLICY_NAME] {
        drift.push("inline policies".to_owned());
    }
    let window_deny = serde_json::to_value(&spec.window_deny).expect("serialises");
    if role.window_deny.as_ref().map(normalise_policy) != Some(normalise_policy(&window_deny)) {
        drift.push("window deny".to_owned());
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

/// Whether `role` is provably the role of `grant`: the same account and name,
/// and the id the grant recorded when it created it (or, before any id was
/// recorded, the grant's ticket tag, already checked by the caller).
fn ties(grant: &Grant, role: &ObservedRole) -> bool {
    grant.role_name == role.name
        && grant
            .role_in(&role.target_account)
            .is_some_and(|ours| ours.role_id.as_ref().is_none_or(|id| *id == role.role_id))
}
