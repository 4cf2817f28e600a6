//! Domain types: built only through parsers that enforce SPEC.md, so the rest of
//! the code never re-checks them and never handles a raw string.

mod change;
mod grant;
pub mod json;
mod notice;
mod origin;
mod removal;
mod request;
mod role;
mod values;
mod window;

pub use change::{
    ExtendRequest, RevokeRequest, SIGNED_REQUEST_MAX_SKEW, parse_end, parse_reason,
    parse_ticket_field,
};
pub use grant::{
    ATTEMPTS_BEFORE_ALARM, CreatedRole, Ending, Grant, GrantRole, GrantStatus, HistoryEvent,
    IllegalTransition, STALE_AFTER, Transition, format_timestamp_precise,
};
pub use notice::{EXPIRING_LEADS, NOTICE_SOURCE, Notice, NoticeKind, notices_between};
pub use origin::Origin;
pub use removal::{EVIDENCE_DELAY, EvidenceCopy, RoleRemoval, TeardownStep, step};
pub use request::{
    GrantRequest, GrantRequestBody, MAX_PRINCIPALS, MAX_TARGET_ACCOUNTS, REQUEST_FIELDS,
    RequestRules,
};
pub use role::{
    MANAGED_BY, RoleRef, TAG_EXPIRES_AT, TAG_MANAGED_BY, TAG_REQUESTED_BY, TAG_TICKET, tag_value,
};
pub use values::{
    AccessPreset, AccountId, ExternalId, Partition, PrincipalArn, Reason, Ticket, parse_text,
};
pub use window::{
    START_MAX_AHEAD, START_PAST_TOLERANCE, Window, format_duration, format_timestamp,
    parse_duration, parse_timestamp, truncate_to_second,
};
