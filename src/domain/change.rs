//! Requests to change a grant that exists: revoke it now, or move its end.
//! Parsed once at each edge, whatever the trigger, by the same rules.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::json::{object, only_fields, optional_str, required_str};
use super::values::{Reason, Ticket};
use super::window::parse_timestamp;
use crate::error::{Error, Result};

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

impl ExtendRequest {
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
