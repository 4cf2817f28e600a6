//! Sweep: tear down what is due, finish what got stuck, read only the index.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use crate::domain::{AccountId, EVIDENCE_DELAY, Ending, Grant, GrantStatus, format_timestamp};
use crate::error::Result;
use crate::metrics::Metric;

use super::evidence::KeepOutcome;
use super::teardown::{EndOutcome, EndRequest};
use super::{GrantService, Mode, NoticeReport, sorted, store_err};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    /// Ended grants whose evidence pack was kept (`EVIDENCE_BUCKET`).
    pub evidence_kept: Vec<String>,
    /// Due grants another invocation is tearing down right now (left to it;
    /// found again by a later sweep if it dies).
    pub in_progress: Vec<String>,
    /// Due grants left for the next run because the deadline came near.
    pub deferred: Vec<String>,
    /// The notification outbox, flushed after the grants (expiring notices
    /// that came due, and any whose publish failed earlier).
    pub notices: NoticeReport,
}

/// What one sweep is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Judge what is due as of this time.
    pub as_of: DateTime<Utc>,
    pub mode: Mode,
    /// Stop taking new grants after this (the Lambda deadline less a margin).
    pub deadline: Option<tokio::time::Instant>,
}

enum SweepOutcome {
    TornDown,
    Resumed,
    /// An ended grant: checked once more for a role (`verified`), its
    /// evidence pack kept (`evidence_kept`).
    Ended {
        verified: bool,
        evidence_kept: bool,
    },
    /// Another invocation is tearing it down right now.
    InProgress,
    Skipped,
}

impl GrantService {
    /// Tears down every grant whose window ended by `as_of`, and finishes stuck
    /// ones, reading only what is due through the index. One grant's failure
    /// does not stop the others. Work stops being taken after the deadline.
    pub async fn sweep(&self, options: SweepOptions) -> Result<SweepReport> {
        let SweepOptions {
            as_of,
            mode,
            deadline,
        } = options;
        let due = self.store.due(as_of).await.map_err(store_err)?;
        let mut report = SweepReport {
            as_of: format_timestamp(as_of),
            dry_run: mode.is_dry_run(),
            due: due.iter().map(|g| g.ticket.to_string()).collect(),
            torn_down: vec![],
            resumed: vec![],
            failed: vec![],
            verified: vec![],
            evidence_kept: vec![],
            in_progress: vec![],
            deferred: vec![],
            notices: NoticeReport::default(),
        };
        if mode.is_dry_run() {
            return Ok(report);
        }
        // IAM throttles mutating calls per account: the work is interleaved
        // across accounts, and at most SWEEP_ACCOUNT_CONCURRENCY grants of one
        // account are in flight at once, so the global concurrency spreads
        // over accounts instead of piling onto one.
        let per_account = self.settings.sweep_account_concurrency;
        let gates: HashMap<AccountId, Arc<tokio::sync::Semaphore>> = due
            .iter()
            .flat_map(|g| g.accounts())
            .map(|a| {
                (
                    a.clone(),
                    Arc::new(tokio::sync::Semaphore::new(per_account)),
                )
            })
            .collect();
        let results: Vec<(String, Option<Result<SweepOutcome>>)> =
            futures_util::stream::iter(teardowns_first(interleave_by_account(due)))
                .map(|grant| {
                    // A turn in every account the grant has a role in, taken in
                    // one global order, so two grants never wait on each other.
                    let mut accounts: Vec<&AccountId> = grant.accounts().collect();
                    accounts.sort();
                    accounts.dedup();
                    let grant_gates: Vec<_> = accounts.iter().map(|a| gates[*a].clone()).collect();
                    async move {
                        let ticket = grant.ticket.to_string();
                        let mut _turns = Vec::with_capacity(grant_gates.len());
                        for gate in grant_gates {
                            _turns.push(gate.acquire_owned().await);
                        }
                        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                            return (ticket, None);
                        }
                        (ticket, Some(self.sweep_one(grant, as_of, deadline).await))
                    }
                })
                .buffer_unordered(self.settings.sweep_concurrency)
                .collect()
                .await;
        for (ticket, outcome) in results {
            match outcome {
                None => report.deferred.push(ticket),
                Some(Ok(SweepOutcome::TornDown)) => report.torn_down.push(ticket),
                Some(Ok(SweepOutcome::Resumed)) => report.resumed.push(ticket),
                Some(Ok(SweepOutcome::Ended {
                    verified,
                    evidence_kept,
                })) => {
                    if verified {
                        report.verified.push(ticket.clone());
                    }
                    if evidence_kept {
                        report.evidence_kept.push(ticket);
                    }
                }
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
        report.torn_down = sorted(report.torn_down);
        report.resumed = sorted(report.resumed);
        report.verified = sorted(report.verified);
        report.evidence_kept = sorted(report.evidence_kept);
        report.in_progress = sorted(report.in_progress);
        report.deferred = sorted(report.deferred);
        report.failed = sorted(report.failed);
        if deadline.is_none_or(|d| tokio::time::Instant::now() < d) {
            // Never ahead of the wall clock: a sweep judged as of a later time
            // (the CLI's --as-of) sends no notice before its time.
            report.notices = self.flush_notices(as_of.min(self.clock.now())).await;
        }
        self.metrics.count(Metric::SweepDue, report.due.len());
        self.metrics
            .count(Metric::SweepTornDown, report.torn_down.len());
        self.metrics.count(Metric::SweepFailed, report.failed.len());
        Ok(report)
    }

    async fn sweep_one(
        &self,
        indexed: Grant,
        as_of: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<SweepOutcome> {
        // The index is eventually consistent: act only on the grant as it is.
        let mut grant = self.existing_grant(&indexed.ticket).await?;
        if let Some(ended) = grant.ended_at {
            let mut verified = false;
            if grant.recheck {
                self.remove_role(&grant, "checking that no role remains")
                    .await?;
                match self.commit(&grant, |g, at| g.confirm_no_role(at)).await {
                    Ok(g) => (grant, verified) = (g, true),
                    Err(e) if e.lost_race() => return Ok(SweepOutcome::Skipped),
                    Err(e) => return Err(e.into()),
                }
            }
            // A process without the bucket (an operator's shell) leaves it owed.
            let evidence_due = grant.evidence_pending
                && self.evidence_store.is_some()
                && as_of >= ended + EVIDENCE_DELAY;
            let evidence_kept =
                evidence_due && self.keep_evidence(&grant, deadline).await? == KeepOutcome::Kept;
            return Ok(if verified || evidence_kept {
                SweepOutcome::Ended {
                    verified,
                    evidence_kept,
                }
            } else {
                SweepOutcome::Skipped
            });
        }
        if grant.refused && grant.ending.is_none() {
            // A lagging index entry: a refused grant waits for a corrected request.
            return Ok(SweepOutcome::Skipped);
        }
        let provisioning = grant.is_provisioning();
        if provisioning && grant.window.end() > as_of {
            if grant.status == GrantStatus::Pending && !grant.is_stale(as_of) {
                return Ok(SweepOutcome::Skipped);
            }
            let g = self.provision(grant).await?;
            return Ok(if g.status == GrantStatus::Active {
                SweepOutcome::Resumed
            } else {
                SweepOutcome::Skipped
            });
        }
        let request = EndRequest {
            ending: Ending::Expired,
            reason: if provisioning {
                "window ended before provisioning completed"
            } else {
                "window ended"
            },
            due_as_of: Some(as_of),
            origin: None,
            wait_for_others: false,
        };
        let ticket = grant.ticket.clone();
        Ok(
            match self.end_grant(&ticket, &request, Some(grant)).await? {
                EndOutcome::EndedHere(_) => SweepOutcome::TornDown,
                EndOutcome::Settled(g) if g.status == GrantStatus::Revoking => {
                    SweepOutcome::InProgress
                }
                EndOutcome::Settled(_) => SweepOutcome::Skipped,
            },
        )
    }
}

/// Live grants before ended ones (their evidence copies and rechecks):
/// teardowns are never kept waiting behind CloudTrail lookups.
fn teardowns_first(mut due: Vec<Grant>) -> Vec<Grant> {
    due.sort_by_key(Grant::is_ended); // stable: the interleaving is kept
    due
}

/// The grants in round-robin order of their (first) account: one of each
/// account, then the next of each, so concurrent teardowns hit different
/// accounts first.
fn interleave_by_account(due: Vec<Grant>) -> Vec<Grant> {
    let mut queues: Vec<(AccountId, std::collections::VecDeque<Grant>)> = vec![];
    for g in due {
        match queues.iter_mut().find(|(a, _)| a == g.target_account()) {
            Some((_, q)) => q.push_back(g),
            None => queues.push((g.target_account().clone(), [g].into())),
        }
    }
    let mut out = vec![];
    while queues.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in &mut queues {
            if let Some(g) = q.pop_front() {
                out.push(g);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_grants_are_taken_one_account_after_another() {
        let at = crate::domain::parse_timestamp("2026-12-01T09:00:00Z").unwrap();
        let g = |t: &str, account: &str| {
            crate::fakes::active_grant(t, account, at, at + chrono::Duration::hours(1))
        };
        let due = vec![
            g("A1", "111111111111"),
            g("A2", "111111111111"),
            g("A3", "111111111111"),
            g("B1", "222222222222"),
            g("C1", "333333333333"),
            g("C2", "333333333333"),
        ];
        let order: Vec<String> = interleave_by_account(due)
            .iter()
            .map(|g| g.ticket.to_string())
            .collect();
        assert_eq!(order, ["A1", "B1", "C1", "A2", "C2", "A3"]);
    }
}
