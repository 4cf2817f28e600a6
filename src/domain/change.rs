//! Requests to change a grant that exists: revoke it now, or move its end.
//! Parsed once at each edge, whatever the trigger, by the same rules.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::json::{object, only_fields, optional_str, required_str};
use super::values::{Reason, Ticket};
use super::window::{format_timestamp, parse_timestamp};
use crate::error::{Error, ErrorCode, Result};

/// How far a signed webhook body's `requested_at` may be from now: a captured
/// body works for its own ticket and a few minutes only.
pub const SIGNED_REQUEST_MAX_SKEW: Duration = Duration::minutes(5);

/// Revoke the grant of `ticket` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub ticket: Ticket,
    pub reason: Option<Reason>,
}

/// Move the end of the active grant of `ticket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendRequest {
    pub ticket: Ticket,
    pub end: DateTime<Utc>,
}

/// A `ticket` field, as a ticket.
pub fn parse_ticket_field(raw: &str) -> Result<Ticket> {
    Ticket::parse(raw).map_err(|e| Error::invalid("ticket", format!("ticket {e}")))
}

/// An optional `reason`: at most 1,024 characters, no control characters.
pub fn parse_reason(raw: Option<&str>) -> Result<Option<Reason>> {
    raw.map(|r| Reason::parse(r).map_err(|e| Error::invalid("reason", format!("reason {e}"))))
        .transpose()
}

/// An `end` as RFC 3339.
pub fn parse_end(raw: &str) -> Result<DateTime<Utc>> {
    parse_timestamp(raw).map_err(|e| Error::invalid("end", format!("end {e}")))
}

impl RevokeRequest {
    /// `{"ticket", "reason"}` (an EventBridge detail).
    pub fn from_json(detail: &Value) -> Result<Self> {
        let obj = object(detail, "detail")?;
        only_fields(obj, &["ticket", "reason"])?;
        Ok(RevokeRequest {
            ticket: parse_ticket_field(required_str(obj, "ticket")?)?,
            reason: parse_reason(optional_str(obj, "reason")?)?,
        })
    }
}

/// What every signed webhook body that changes a grant carries besides its
/// own fields: the ticket it is for (the path's) and when it was made.
fn check_signed_body(
    obj: &Map<String, Value>,
    path_ticket: &Ticket,
    now: DateTime<Utc>,
) -> Result<()> {
    if &parse_ticket_field(required_str(obj, "ticket")?)? != path_ticket {
        return Err(Error::invalid(
            "ticket",
            "the ticket in the body differs from the one in the path",
        ));
    }
    let at = parse_timestamp(required_str(obj, "requested_at")?)
        .map_err(|e| Error::invalid("requested_at", format!("requested_at {e}")))?;
    if (now - at).abs() > SIGNED_REQUEST_MAX_SKEW {
        return Err(Error::field(
            ErrorCode::StaleRequest,
            "requested_at",
            format!(
                "requested_at {} is more than 5 minutes from now ({}): sign a new request",
                format_timestamp(at),
                format_timestamp(now)
            ),
        ));
    }
    Ok(())
}

impl RevokeRequest {
    /// A signed webhook body `{"ticket", "requested_at", "reason"}` for the
    /// ticket in the path.
    pub fn from_signed_body(path_ticket: Ticket, body: &Value, now: DateTime<Utc>) -> Result<Self> {
        let obj = object(body, "the body")?;
        only_fields(obj, &["ticket", "requested_at", "reason"])?;
        check_signed_body(obj, &path_ticket, now)?;
        Ok(RevokeRequest {
            ticket: path_ticket,
            reason: parse_reason(optional_str(obj, "reason")?)?,
        })
    }
}

impl ExtendRequest {
    /// A signed webhook body `{"ticket", "requested_at", "end"}` for the
    /// ticket in the path.
    pub fn from_signed_body(path_ticket: Ticket, body: &Value, now: DateTime<Utc>) -> Result<Self> {
        let obj = object(body, "the body")?;
        only_fields(obj, &["ticket", "requested_at", "end"])?;
        check_signed_body(obj, &path_ticket, now)?;
        Ok(ExtendRequest {
            ticket: path_ticket,
            end: parse_end(required_str(obj, "end")?)?,
        })
    }

    /// `{"ticket", "end"}` (an EventBridge detail).
    pub fn from_json(detail: &Value) -> Result<Self> {
        let obj = object(detail, "detail")?;
        only_fields(obj, &["ticket", "end"])?;
        Ok(ExtendRequest {
            ticket: parse_ticket_field(required_str(obj, "ticket")?)?,
            end: parse_end(required_str(obj, "end")?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[test]
    fn a_revoke_names_its_ticket_and_may_give_a_reason() {
        let r = RevokeRequest::from_json(&json!({"ticket": "AUD-1", "reason": "done"})).unwrap();
        assert_eq!(r.ticket.as_str(), "AUD-1");
        assert_eq!(r.reason.unwrap().as_str(), "done");
        let e = RevokeRequest::from_json(&json!({"reason": "x"})).unwrap_err();
        assert_eq!(
            (e.code(), e.field_name()),
            (ErrorCode::MissingField, Some("ticket"))
        );
        let e = RevokeRequest::from_json(&json!({"ticket": "AUD-1", "end": "x"})).unwrap_err();
        assert_eq!(
            (e.code(), e.field_name()),
            (ErrorCode::UnknownField, Some("end"))
        );
    }

    #[test]
    fn a_revoke_reason_is_at_most_1024_chars_without_control_characters() {
        let long = "x".repeat(1025);
        for bad in [long.as_str(), "line\nforged"] {
            let e =
                RevokeRequest::from_json(&json!({"ticket": "AUD-1", "reason": bad})).unwrap_err();
            assert_eq!(
                (e.code(), e.field_name()),
                (ErrorCode::InvalidField, Some("reason"))
            );
        }
        let max = "x".repeat(1024);
        assert!(RevokeRequest::from_json(&json!({"ticket": "AUD-1", "reason": max})).is_ok());
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn a_signed_body_names_the_paths_ticket_and_a_time_within_5_minutes() {
        let t = Ticket::parse("AUD-1").unwrap();
        let now = at("2026-12-01T09:00:00Z");
        let ok =
            json!({"ticket": "AUD-1", "requested_at": "2026-12-01T08:55:00Z", "reason": "done"});
        let r = RevokeRequest::from_signed_body(t.clone(), &ok, now).unwrap();
        assert_eq!(r.reason.unwrap().as_str(), "done");
        let e = ExtendRequest::from_signed_body(
            t.clone(),
            &json!({"ticket": "AUD-1", "requested_at": "2026-12-01T09:05:00Z", "end": "2026-12-02T00:00:00Z"}),
            now,
        )
        .unwrap();
        assert_eq!(e.end, at("2026-12-02T00:00:00Z"));
        let cases = [
            (
                json!({"requested_at": "2026-12-01T09:00:00Z"}),
                ErrorCode::MissingField,
                "ticket",
            ),
            (
                json!({"ticket": "AUD-2", "requested_at": "2026-12-01T09:00:00Z"}),
                ErrorCode::InvalidField,
                "ticket",
            ),
            (
                json!({"ticket": "AUD-1"}),
                ErrorCode::MissingField,
                "requested_at",
            ),
            (
                json!({"ticket": "AUD-1", "requested_at": "yesterday"}),
                ErrorCode::InvalidField,
                "requested_at",
            ),
            (
                json!({"ticket": "AUD-1", "requested_at": "2026-12-01T08:54:59Z"}),
                ErrorCode::StaleRequest,
                "requested_at",
            ),
            (
                json!({"ticket": "AUD-1", "requested_at": "2026-12-01T09:05:01Z"}),
                ErrorCode::StaleRequest,
                "requested_at",
            ),
            (
                json!({"ticket": "AUD-1", "requested_at": "2026-12-01T09:00:00Z", "end": "x"}),
                ErrorCode::UnknownField,
                "end",
            ),
        ];
        for (body, code, field) in cases {
            let e = RevokeRequest::from_signed_body(t.clone(), &body, now).unwrap_err();
            assert_eq!((e.code(), e.field_name()), (code, Some(field)), "{body}");
        }
        assert_eq!(ErrorCode::StaleRequest.as_str(), "stale_request");
    }

    #[test]
    fn an_extend_names_its_ticket_and_an_rfc3339_end() {
        let r =
            ExtendRequest::from_json(&json!({"ticket": "AUD-1", "end": "2026-12-05T17:00:00Z"}))
                .unwrap();
        assert_eq!(r.end, parse_timestamp("2026-12-05T17:00:00Z").unwrap());
        let e =
            ExtendRequest::from_json(&json!({"ticket": "AUD-1", "end": "tomorrow"})).unwrap_err();
        assert_eq!(
            (e.code(), e.field_name()),
            (ErrorCode::InvalidField, Some("end"))
        );
        let e = ExtendRequest::from_json(&json!("AUD-1")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }
}
