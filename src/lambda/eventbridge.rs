//! EventBridge events: grant, revoke and extend requests, and the schedule.
//! The `source` is not checked: the deployment's rule decides who may send.

use serde_json::{Map, Value};

use super::{only_fields, optional_str, required_str, sweep_now};
use crate::domain::{Ticket, parse_text, parse_timestamp};
use crate::error::{Error, ErrorCode, Result};
use crate::service::GrantService;

pub const GRANT_REQUESTED: &str = "Audit Grant Requested";
pub const REVOKE_REQUESTED: &str = "Audit Grant Revoke Requested";
pub const EXTEND_REQUESTED: &str = "Audit Grant Extend Requested";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

pub async fn handle(
    service: &GrantService,
    event: &Map<String, Value>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let detail_type = event
        .get("detail-type")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::field(
                ErrorCode::InvalidRequest,
                "detail-type",
                "detail-type must be a string",
            )
        })?;
    if detail_type == SCHEDULED_EVENT {
        return sweep_now(service, deadline).await;
    }
    let detail = event.get("detail").ok_or_else(|| {
        Error::field(ErrorCode::MissingField, "detail", "the event has no detail")
    })?;
    match detail_type {
        GRANT_REQUESTED => {
            let created = service.create(detail).await?;
            Ok(created.grant().view(true))
        }
        REVOKE_REQUESTED => {
            let detail = detail_object(detail)?;
            only_fields(detail, &["ticket", "reason"])?;
            let ticket = parse_ticket_field(detail)?;
            let reason = optional_str(detail, "reason")?
                .map(|r| {
                    parse_text(r, 0, 1024)
                        .map_err(|e| Error::invalid("reason", format!("reason {e}")))
                })
                .transpose()?;
            Ok(service.revoke(&ticket, reason.as_deref()).await?.view(true))
        }
        EXTEND_REQUESTED => {
            let detail = detail_object(detail)?;
            only_fields(detail, &["ticket", "end"])?;
            let ticket = parse_ticket_field(detail)?;
            let end = parse_timestamp(required_str(detail, "end")?)
                .map_err(|e| Error::invalid("end", format!("end {e}")))?;
            Ok(service.extend(&ticket, end).await?.view(true))
        }
        other => Err(Error::field(
            ErrorCode::InvalidRequest,
            "detail-type",
            format!("unsupported detail-type {other:?}"),
        )),
    }
}

fn detail_object(detail: &Value) -> Result<&Map<String, Value>> {
    detail.as_object().ok_or_else(|| {
        Error::field(
            ErrorCode::InvalidRequest,
            "detail",
            "detail must be a JSON object",
        )
    })
}

pub(crate) fn parse_ticket_field(obj: &Map<String, Value>) -> Result<Ticket> {
    Ticket::parse(required_str(obj, "ticket")?)
        .map_err(|e| Error::invalid("ticket", format!("ticket {e}")))
}
