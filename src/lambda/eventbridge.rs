//! EventBridge events: grant, revoke and extend requests, and the schedule.
//! The `source` is not checked: the deployment's rule decides who may send.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::schedule::sweep_now;
use crate::command::{Command, Outcome};
use crate::domain::{ExtendRequest, GrantRequestBody, Origin, RevokeRequest};
use crate::error::{Error, ErrorCode, Result};

pub const GRANT_REQUESTED: &str = "Audit Grant Requested";
pub const REVOKE_REQUESTED: &str = "Audit Grant Revoke Requested";
pub const EXTEND_REQUESTED: &str = "Audit Grant Extend Requested";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// The command an EventBridge event asks for, and who sent it (its `source`
/// and `id`, recorded in the grant's history).
pub fn command(
    event: Value,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<(Command, Origin)> {
    let detail_type = event.get("detail-type");
    if detail_type.is_some_and(|d| !d.is_string()) {
        return Err(Error::field(
            ErrorCode::InvalidRequest,
            "detail-type",
            "detail-type must be a string",
        ));
    }
    let scheduled = detail_type.and_then(Value::as_str) == Some(SCHEDULED_EVENT);
    if !scheduled && event.get("detail").is_none() {
        return Err(Error::field(
            ErrorCode::MissingField,
            "detail",
            "the event has no detail",
        ));
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(event).map_err(|e| {
        Error::reject(
            ErrorCode::InvalidRequest,
            format!("not an EventBridge event: {e}"),
        )
    })?;
    if scheduled {
        // Swept by the wall clock, not the schedule's own `time`.
        return Ok((sweep_now(now, deadline), Origin::Schedule));
    }
    let origin = Origin::eventbridge(&event.source, event.id.as_deref());
    let command = match event.detail_type.as_str() {
        GRANT_REQUESTED => Command::Create(Box::new(GrantRequestBody::from_json(&event.detail)?)),
        REVOKE_REQUESTED => Command::Revoke(RevokeRequest::from_json(&event.detail)?),
        EXTEND_REQUESTED => Command::Extend(ExtendRequest::from_json(&event.detail)?),
        other => {
            return Err(Error::field(
                ErrorCode::InvalidRequest,
                "detail-type",
                format!("unsupported detail-type {other:?}"),
            ));
        }
    };
    Ok((command, origin))
}

/// What an EventBridge or scheduled invocation answers: the grant view (with
/// what the auditor needs), or the report.
pub fn result(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Created(created) => created.grant().view(true),
        Outcome::Grant(grant) | Outcome::Shown(grant, _) => grant.view(true),
        Outcome::Listed(grants) => grants.iter().map(|g| g.view(false)).collect(),
        Outcome::Swept(report) => crate::service::to_json(&report),
        Outcome::Evidence(pack) => crate::service::to_json(&pack),
        Outcome::Reconciled(report) => crate::service::to_json(&report),
    }
}
