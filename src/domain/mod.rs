//! Domain types: built only through parsers that enforce SPEC.md, so the rest of
//! the code never re-checks them and never handles a raw string.

mod grant;
mod request;
mod values;
mod window;

pub use grant::{
    ATTEMPTS_BEFORE_ALARM, Ending, Grant, GrantStatus, HistoryEvent, STALE_AFTER,
    format_timestamp_precise,
};
pub use request::{
    GrantRequest, MAX_PRINCIPALS, REQUEST_FIELDS, RequestRules, fingerprint, parse_ticket,
};
pub use values::{
    AccessPreset, AccountId, ExternalId, Partition, PrincipalArn, Ticket, parse_text,
};
pub use window::{
    START_MAX_AHEAD, START_PAST_TOLERANCE, Window, format_duration, format_timestamp,
    parse_duration, parse_timestamp, truncate_to_second,
};
