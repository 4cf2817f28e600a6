//! Notifications: what people are told, and when. Each one is owed by a
//! transition and recorded with it in the same write (an outbox), published
//! after the commit, and re-sent by a later run if the publish failed.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::grant::{Grant, GrantStatus};
use super::values::Ticket;
use super::window::format_timestamp;

/// The EventBridge `source` of every notification.
pub const NOTICE_SOURCE: &str = "audit-grants";

/// How long before the end the expiring notices go out.
pub const EXPIRING_LEADS: [(Duration, &str); 2] =
    [(Duration::hours(24), "24h"), (Duration::hours(1), "1h")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    Activated,
    Expiring,
    Ended,
    Failed,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 4] = [
        NoticeKind::Activated,
        NoticeKind::Expiring,
        NoticeKind::Ended,
        NoticeKind::Failed,
    ];

    /// The EventBridge `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            NoticeKind::Activated => "Audit Grant Activated",
            NoticeKind::Expiring => "Audit Grant Expiring",
            NoticeKind::Ended => "Audit Grant Ended",
            NoticeKind::Failed => "Audit Grant Failed",
        }
    }

    pub fn parse_detail_type(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.detail_type() == raw)
    }
}

/// A notification owed to people.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub ticket: Ticket,
    /// Unique per grant and never reused: `activated#v3`, `ended#v7`,
    /// `expiring-24h#2026-12-04T17:00:00Z`. Consumers can dedupe on
    /// `(ticket, key)`, which the detail carries as `notice_id`.
    pub key: String,
    pub kind: NoticeKind,
    /// Not before this (now, for the transitions; before the end, for expiring).
    pub send_at: DateTime<Utc>,
    /// An expiring notice announces this end: if the end moved or the grant
    /// ended meanwhile, it is skipped instead of sent.
    pub for_end: Option<DateTime<Utc>>,
    /// The EventBridge `detail`: the grant view as a `GET` answers it (no
    /// external ID, no profile), with `notice_id`.
    pub detail: Value,
}

impl Notice {
    fn new(next: &Grant, key: String, kind: NoticeKind, send_at: DateTime<Utc>) -> Notice {
        let mut detail = next.view(false);
        let id = format!("{}/{key}", next.ticket);
        detail
            .as_object_mut()
            .expect("the view is an object")
            .insert("notice_id".into(), Value::String(id));
        Notice {
            ticket: next.ticket.clone(),
            key,
            kind,
            send_at,
            for_end: None,
            detail,
        }
    }

    /// The id consumers dedupe on.
    pub fn id(&self) -> String {
        format!("{}/{}", self.ticket, self.key)
    }
}

/// What a transition from `prev` to `next` at `at` owes people: one notice
/// per transition that matters (active, ended, failed), and the expiring
/// notices for the end of an active grant, scheduled before it (again when
/// the end moves; those whose time has passed are not scheduled).
pub fn notices_between(prev: &Grant, next: &Grant, at: DateTime<Utc>) -> Vec<Notice> {
    let mut out = vec![];
    let v = next.version;
    let ended = |s: GrantStatus| matches!(s, GrantStatus::Expired | GrantStatus::Revoked);
    if next.status == GrantStatus::Active && prev.status != GrantStatus::Active {
        out.push(Notice::new(
            next,
            format!("activated#v{v}"),
            NoticeKind::Activated,
            at,
        ));
    }
    if ended(next.status) && !ended(prev.status) {
        out.push(Notice::new(
            next,
            format!("ended#v{v}"),
            NoticeKind::Ended,
            at,
        ));
    }
    if next.status == GrantStatus::Failed && prev.status != GrantStatus::Failed {
        out.push(Notice::new(
            next,
            format!("failed#v{v}"),
            NoticeKind::Failed,
            at,
        ));
    }
    let end = next.window.end();
    let newly_active = next.status == GrantStatus::Active && prev.status != GrantStatus::Active;
    let end_moved = next.status == GrantStatus::Active && prev.window.end() != end;
    if newly_active || end_moved {
        for (lead, name) in EXPIRING_LEADS {
            let send_at = end - lead;
            if send_at > at {
                let key = format!("expiring-{name}#{}", format_timestamp(end));
                out.push(Notice {
                    for_end: Some(end),
                    ..Notice::new(next, key, NoticeKind::Expiring, send_at)
                });
            }
        }
    }
    out
}
