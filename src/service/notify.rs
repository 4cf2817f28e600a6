//! Publishing the outbox: right after the commit that recorded a notice, and
//! by every sweep for what is due (scheduled expiring notices, and any whose
//! publish failed). A notice leaves the outbox only once sent or skipped.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{GrantStatus, Notice, NoticeKind};
use crate::ports::NoticeOutcome;

use super::GrantService;

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NoticeReport {
    /// `ticket/key` of each notice published.
    pub sent: Vec<String>,
    /// Expiring notices whose end moved or whose grant ended first.
    pub skipped: Vec<String>,
    /// Left in the outbox for the next run.
    pub failed: Vec<String>,
}

impl GrantService {
    /// Publishes the notices among `notices` whose time has come (a
    /// transition's own); failures are left in the outbox for the sweeper.
    pub(super) async fn publish_due(&self, notices: &[Notice], now: DateTime<Utc>) {
        let due: Vec<Notice> = notices
            .iter()
            .filter(|n| n.send_at <= now)
            .cloned()
            .collect();
        if !due.is_empty() {
            self.publish(&due, &mut NoticeReport::default()).await;
        }
    }

    /// Sends what the outbox owes by `as_of`: an expiring notice only if its
    /// grant is still active with the end it announces.
    pub async fn flush_notices(&self, as_of: DateTime<Utc>) -> NoticeReport {
        let mut report = NoticeReport::default();
        if self.notifier.is_none() {
            return report;
        }
        let due = match self.store.due_notices(as_of).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "could not read the notification outbox");
                report.failed.push(format!("outbox: {e}"));
                return report;
            }
        };
        let mut to_send = vec![];
        for notice in due {
            if let Some(why) = self.stale(&notice).await {
                let outcome = NoticeOutcome::Skipped {
                    at: self.clock.now(),
                    why,
                };
                match self.store.settle_notice(&notice, &outcome).await {
                    Ok(()) => report.skipped.push(notice.id()),
                    Err(e) => report.failed.push(format!("{}: {e}", notice.id())),
                }
            } else {
                to_send.push(notice);
            }
        }
        self.publish(&to_send, &mut report).await;
        report
    }

    /// Why an expiring notice no longer applies, if it does not.
    async fn stale(&self, notice: &Notice) -> Option<String> {
        let (NoticeKind::Expiring, Some(end)) = (notice.kind, notice.for_end) else {
            return None;
        };
        match self.store.get(&notice.ticket).await {
            Ok(Some(g)) if g.status != GrantStatus::Active || g.ending.is_some() => {
                Some(format!("the grant is {}", g.status))
            }
            Ok(Some(g)) if g.window.end() != end => Some("the end moved".into()),
            Ok(Some(_)) => None,
            Ok(None) => Some("no such grant".into()),
            Err(_) => None, // sent as recorded rather than lost
        }
    }

    async fn publish(&self, notices: &[Notice], report: &mut NoticeReport) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        for chunk in notices.chunks(10) {
            let results = notifier.publish(chunk).await;
            for (notice, result) in chunk.iter().zip(results) {
                match result {
                    Ok(()) => {
                        let sent = NoticeOutcome::Sent {
                            at: self.clock.now(),
                        };
                        match self.store.settle_notice(notice, &sent).await {
                            Ok(()) => report.sent.push(notice.id()),
                            // Published but still in the outbox: a later run
                            // sends it again; consumers dedupe on notice_id.
                            Err(e) => {
                                tracing::warn!(notice = %notice.id(), error = %e, "published, but not marked sent");
                                report.sent.push(notice.id());
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(notice = %notice.id(), error = %e, "notification not published; the next sweep retries it");
                        report.failed.push(format!("{}: {e}", notice.id()));
                    }
                }
            }
        }
    }
}
