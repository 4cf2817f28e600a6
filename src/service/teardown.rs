//! Teardown: revoke now, or expire at the window's end (the sweeper). One path
//! for both, safe against every other writer.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use crate::domain::{Ending, Grant, GrantStatus, Origin, Reason, RoleRemoval, STALE_AFTER, Ticket};
use crate::error::Result;
use crate::metrics::Metric;
use crate::ports::{ProvisionError, TornDown};

use super::{CONFLICT_RETRIES, GrantService, internal};

/// A revoke that finds another invocation tearing the grant down waits for it
/// this long at most (well inside the function's timeout).
const TEARDOWN_WAIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
const TEARDOWN_WAIT_POLLS: usize = 150;

/// What taking a grant to its end came to.
#[derive(Debug)]
pub(super) enum EndOutcome {
    /// This call tore the role down and recorded the end.
    EndedHere(Grant),
    /// Nothing was done here: the grant had ended, is not due, or another
    /// invocation is tearing it down (then it is still `revoking`).
    Settled(Grant),
}

impl EndOutcome {
    pub(super) fn into_grant(self) -> Grant {
        match self {
            EndOutcome::EndedHere(g) | EndOutcome::Settled(g) => g,
        }
    }
}

/// Why a grant is being ended, and when it counts as due.
pub(super) struct EndRequest<'a> {
    pub ending: Ending,
    pub reason: &'a str,
    /// For a sweep: the time it judges by. A grant no longer due then (its end
    /// was moved) is left alone.
    pub due_as_of: Option<DateTime<Utc>>,
    /// Who asked (a revoke); `None` when the function ends it on its own.
    pub origin: Option<&'a Origin>,
    /// Wait (bounded) for a teardown another invocation is running, to answer
    /// with its end (a revoke); otherwise leave it to that invocation.
    pub wait_for_others: bool,
}

impl GrantService {
    /// Early revoke. Revoking an ended grant changes nothing.
    pub async fn revoke(
        &self,
        ticket: &Ticket,
        reason: Option<&Reason>,
        origin: &Origin,
    ) -> Result<Grant> {
        let reason = reason
            .map(Reason::as_str)
            .filter(|r| !r.trim().is_empty())
            .unwrap_or("revoked");
        let request = EndRequest {
            ending: Ending::Revoked,
            reason,
            due_as_of: None,
            origin: Some(origin),
            wait_for_others: true,
        };
        Ok(self.end_grant(ticket, &request, None).await?.into_grant())
    }

    /// Takes a grant to its end, re-reading it whenever a concurrent writer got
    /// there first. `current` is the grant if just read (consistently). A
    /// teardown another invocation is running right now is never run twice: a
    /// sweep leaves it alone, a revoke waits for its end.
    pub(super) async fn end_grant(
        &self,
        ticket: &Ticket,
        request: &EndRequest<'_>,
        mut current: Option<Grant>,
    ) -> Result<EndOutcome> {
        let staleness_now = request.due_as_of.unwrap_or_else(|| self.clock.now());
        for _ in 0..CONFLICT_RETRIES {
            let grant = match current.take() {
                Some(g) => g,
                None => self.existing_grant(ticket).await?,
            };
            if grant.is_ended() {
                return Ok(EndOutcome::Settled(grant));
            }
            if let Some(as_of) = request.due_as_of
                && grant.status == GrantStatus::Active
                && grant.window.end() > as_of
            {
                return Ok(EndOutcome::Settled(grant));
            }
            let grant = if grant.ending.is_some() {
                if grant.status == GrantStatus::Revoking && !grant.is_stale(staleness_now) {
                    if !request.wait_for_others {
                        return Ok(EndOutcome::Settled(grant));
                    }
                    match self.await_teardown(ticket).await? {
                        Some(settled) if settled.is_ended() => {
                            return Ok(EndOutcome::Settled(settled));
                        }
                        Some(_) => continue, // it failed: finish it here
                        None => return Ok(EndOutcome::Settled(self.existing_grant(ticket).await?)),
                    }
                }
                grant // a teardown failed or its invocation died: finish it
            } else {
                let step = |g: &Grant, at| {
                    let t = g.begin_teardown(request.ending, request.reason, at)?;
                    Ok(match request.origin {
                        Some(origin) => t.asked_by(origin),
                        None => t,
                    })
                };
                // Other accounts' provisioner sessions open while the claim is written.
                let accounts: Vec<_> = grant.accounts().cloned().collect();
                let (claimed, ()) = tokio::join!(
                    self.commit(&grant, step),
                    self.provisioner.prepare(&accounts, grant.ticket.as_str())
                );
                match claimed {
                    Ok(g) => g,
                    Err(e) if e.lost_race() => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            match self.finish_teardown(grant).await? {
                Some(done) => return Ok(EndOutcome::EndedHere(done)),
                None => continue,
            }
        }
        Err(internal(anyhow::anyhow!(
            "grant {ticket} kept changing under concurrent writers; will be retried"
        )))
    }

    /// SPEC.md's IAM teardown of the grant's roles, every account at once.
    /// `NothingFound` when no account had a role to remove, or when a role
    /// whose id was recorded was not found (IAM may be lagging). A refused
    /// grant has no role of ours: one that carries its name belongs to someone
    /// else and is never touched, so finding it is "nothing to do".
    /// With it, what was done to each account's role, and when.
    pub(super) async fn teardown_role(
        &self,
        grant: &Grant,
    ) -> Result<(TornDown, Vec<RoleRemoval>), ProvisionError> {
        let now = self.clock.now();
        let refs = grant.role_refs();
        let results = join_all(refs.iter().map(|r| self.provisioner.teardown(r, now))).await;
        let (mut deleted, mut recorded_but_missing) = (false, false);
        let mut failures = vec![];
        let mut removal = vec![];
        for ((r, result), role) in refs.iter().zip(results).zip(&grant.roles) {
            let outcome = match result {
                Ok(t) => {
                    match t.found {
                        TornDown::Deleted => deleted = true,
                        TornDown::NothingFound => recorded_but_missing |= r.role_id.is_some(),
                    }
                    Some(t)
                }
                Err(ProvisionError::ForeignRole(_)) if grant.refused => None,
                Err(e) if refs.len() == 1 => return Err(e),
                Err(e) => {
                    failures.push(format!("account {}: {e:#}", r.target_account));
                    None
                }
            };
            removal.push(RoleRemoval {
                account: role.account.to_string(),
                role_arn: role.role_arn.clone(),
                role_id: role.role_id.clone(),
                outcome: match outcome.as_ref().map(|t| t.found) {
                    Some(TornDown::Deleted) => "deleted",
                    _ => "not_found",
                }
                .into(),
                steps: outcome.map(|t| t.steps).unwrap_or_default(),
            });
        }
        if failures.is_empty() {
            let found = if deleted && !recorded_but_missing {
                TornDown::Deleted
            } else {
                TornDown::NothingFound
            };
            Ok((found, removal))
        } else {
            Err(ProvisionError::Aws(anyhow::anyhow!(failures.join("; "))))
        }
    }

    /// Waits (bounded) for another invocation's teardown: the grant once it is no
    /// longer `revoking`, or `None` if it still is when the wait is over.
    async fn await_teardown(&self, ticket: &Ticket) -> Result<Option<Grant>> {
        for _ in 0..TEARDOWN_WAIT_POLLS {
            tokio::time::sleep(TEARDOWN_WAIT_INTERVAL).await;
            let g = self.existing_grant(ticket).await?;
            if g.status != GrantStatus::Revoking {
                return Ok(Some(g));
            }
        }
        Ok(None)
    }

    /// Runs the IAM teardown of a grant already marked with its ending and
    /// records the end. `None`: someone else wrote the grant meanwhile.
    async fn finish_teardown(&self, grant: Grant) -> Result<Option<Grant>> {
        let started = std::time::Instant::now();
        match self.teardown_role(&grant).await {
            Ok((found, removal)) => {
                self.metrics.put(
                    Metric::TeardownLatency,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                // "No such role" for a role made minutes ago may be IAM lagging:
                // a later sweep checks again before that is believed.
                let check_again = found == TornDown::NothingFound
                    && grant.roles.iter().any(|r| r.role_id.is_some())
                    && self.clock.now() < grant.created_at + STALE_AFTER;
                let owing_evidence = self.evidence_store.is_some();
                let step = |g: &Grant, at| {
                    Ok(g.finish_teardown_checking_again(check_again, at)?
                        .removing(removal)
                        .owing_evidence(owing_evidence))
                };
                match self.commit(&grant, step).await {
                    Ok(g) => Ok(Some(g)),
                    Err(e) if e.lost_race() => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => {
                let why = format!("teardown failed: {e:#}");
                match self.record_failed_attempt(&grant, &why).await {
                    Ok(_) => {}
                    Err(e) if e.lost_race() => {}
                    Err(e) => {
                        tracing::error!(ticket = %grant.ticket, error = %e, "could not record teardown failure")
                    }
                }
                Err(internal(anyhow::anyhow!(why)))
            }
        }
    }
}
