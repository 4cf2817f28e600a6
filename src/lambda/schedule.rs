//! The inputs the template's EventBridge Scheduler schedules send:
//! `{"action": "sweep"}` and `{"action": "reconcile"}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::command::{Command, SweepOptions};
use crate::error::{Error, ErrorCode, Result};
use crate::service::{Mode, ReconcileOptions};

pub fn command(
    obj: &Map<String, Value>,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Command> {
    let action = obj.get("action").filter(|_| obj.len() == 1);
    match action.and_then(Value::as_str) {
        Some("sweep") => Ok(sweep_now(now, deadline)),
        Some("reconcile") => Ok(Command::Reconcile(ReconcileOptions {
            mode: Mode::Apply,
            deadline,
        })),
        _ => Err(Error::field(
            ErrorCode::InvalidRequest,
            "action",
            "the actions are {\"action\": \"sweep\"} and {\"action\": \"reconcile\"}",
        )),
    }
}

/// A sweep by the wall clock, stopping before the invocation's deadline.
pub fn sweep_now(now: DateTime<Utc>, deadline: Option<tokio::time::Instant>) -> Command {
    Command::Sweep(SweepOptions {
        as_of: now,
        mode: Mode::Apply,
        deadline,
    })
}
