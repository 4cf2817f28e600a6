//! Lambda events in, results out. Every trigger becomes a call on the one
//! `GrantService`; the CLI's `invoke` runs exactly this.

mod eventbridge;
pub mod http;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::service::GrantService;
use crate::webhook::WebhookAuth;

/// What every invocation needs, built once per process.
pub struct Handler {
    pub service: Arc<GrantService>,
    pub webhook: Arc<WebhookAuth>,
}

/// How close to the Lambda deadline the sweeper stops taking new grants.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

/// What the handler answers. `Err` only for our own failures (worth a retry by
/// Lambda's async invoke); a rejection is a result, logged and not retried.
pub async fn handle_event(
    handler: &Handler,
    event: Value,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let outcome = route(handler, &event, deadline).await;
    match outcome {
        Ok(v) => Ok(v),
        Err(e @ Error::Rejected { .. }) => {
            handler
                .service
                .metrics()
                .count(crate::metrics::Metric::GrantsRejected, 1);
            tracing::warn!(
                code = e.code().as_str(),
                field = e.field_name().unwrap_or(""),
                message = %e,
                "request rejected"
            );
            Ok(e.to_json())
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "request failed");
            Err(e)
        }
    }
}

async fn route(
    handler: &Handler,
    event: &Value,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let service = handler.service.as_ref();
    let obj = event.as_object().ok_or_else(|| {
        Error::reject(ErrorCode::InvalidRequest, "the event must be a JSON object")
    })?;
    if obj
        .get("requestContext")
        .and_then(|rc| rc.get("http"))
        .is_some()
    {
        return Ok(http::handle(handler, obj).await);
    }
    if obj.contains_key("detail-type") {
        return eventbridge::handle(service, obj, deadline).await;
    }
    if obj.get("action").is_some() {
        return scheduler_action(service, obj, deadline).await;
    }
    Err(Error::reject(
        ErrorCode::InvalidRequest,
        "unsupported event: expected an EventBridge event, an HTTP request or {\"action\": \"sweep\"}",
    ))
}

/// The inputs the template's EventBridge Scheduler schedules send.
async fn scheduler_action(
    service: &GrantService,
    obj: &Map<String, Value>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let action = obj.get("action").filter(|_| obj.len() == 1);
    match action.and_then(Value::as_str) {
        Some("sweep") => sweep_now(service, deadline).await,
        Some("reconcile") => {
            let report = service.reconcile(false).await?;
            Ok(serde_json::to_value(report).expect("a report serialises"))
        }
        _ => Err(Error::field(
            ErrorCode::InvalidRequest,
            "action",
            "the actions are {\"action\": \"sweep\"} and {\"action\": \"reconcile\"}",
        )),
    }
}

async fn sweep_now(
    service: &GrantService,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let report = service.sweep(service.now(), false, deadline).await?;
    Ok(serde_json::to_value(report).expect("a report serialises"))
}

/// Requires `obj` to have only `allowed` keys (reports the first other one).
pub(crate) fn only_fields(obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::field(
            ErrorCode::UnknownField,
            k.clone(),
            format!("unknown field {k:?}"),
        )),
        None => Ok(()),
    }
}

/// A required string field.
pub(crate) fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    match obj.get(field).filter(|v| !v.is_null()) {
        None => Err(Error::field(
            ErrorCode::MissingField,
            field,
            format!("{field} is required"),
        )),
        Some(v) => v
            .as_str()
            .ok_or_else(|| Error::invalid(field, format!("{field} must be a string"))),
    }
}

/// An optional string field (`null` is absent).
pub(crate) fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>> {
    match obj.get(field).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| Error::invalid(field, format!("{field} must be a string"))),
    }
}

/// The Lambda bootstrap: settings and clients built once, then one handler call
/// per event. A bad setting stops start-up with one line.
pub async fn run() -> std::process::ExitCode {
    use std::sync::Arc;

    let settings = match crate::config::Settings::from_env() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("audit-grants: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let clients = crate::aws::AwsClients::from_env().await;
    let handler = crate::app::handler(&clients, settings, crate::metrics::Metrics::emf());
    let handler = &handler;
    let function = lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let deadline = deadline_of(&event.context);
            if let Some(caller) = caller_of(&event.context.invoked_function_arn) {
                handler.service.seed_caller(caller);
            }
            handle_event(handler, event.payload, deadline)
                .await
                .map_err(|e| lambda_runtime::Diagnostic {
                    error_type: e.code().as_str().to_owned(),
                    error_message: e.to_string(),
                })
        },
    );
    match lambda_runtime::run(function).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit-grants: Lambda runtime: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Our account and partition, read off `arn:<partition>:lambda:<region>:<account>:function:…`.
fn caller_of(function_arn: &str) -> Option<crate::ports::Caller> {
    let parts: Vec<&str> = function_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "lambda", _, account, "function", ..] => Some(crate::ports::Caller {
            account: crate::domain::AccountId::parse(account).ok()?,
            partition: crate::domain::Partition::parse(partition).ok()?,
        }),
        _ => None,
    }
}

/// When to stop taking new work: the invocation's deadline less a margin.
fn deadline_of(ctx: &lambda_runtime::Context) -> Option<tokio::time::Instant> {
    if ctx.deadline == 0 {
        return None; // no deadline given (a local runtime)
    }
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).ok()?;
    let left = std::time::Duration::from_millis(ctx.deadline.saturating_sub(now_ms));
    Some(tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_read_off_the_function_arn() {
        let c = caller_of("arn:aws:lambda:us-east-1:123456789012:function:audit-grants").unwrap();
        assert_eq!(c.account.as_str(), "123456789012");
        assert_eq!(c.partition, crate::domain::Partition::Aws);
        let c =
            caller_of("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live").unwrap();
        assert_eq!(c.partition, crate::domain::Partition::AwsUsGov);
        assert!(caller_of("").is_none());
        assert!(caller_of("arn:aws:lambda:us-east-1:12345:function:f").is_none());
    }

    #[test]
    fn the_sweeper_stops_a_margin_before_the_deadline() {
        let mut ctx = lambda_runtime::Context::default();
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
        ctx.deadline = now_ms + 60_000;
        let left = deadline_of(&ctx).unwrap() - tokio::time::Instant::now();
        assert!(left <= std::time::Duration::from_secs(45), "{left:?}");
        assert!(left >= std::time::Duration::from_secs(43), "{left:?}");
        ctx.deadline = now_ms.saturating_sub(1_000);
        assert!(
            deadline_of(&ctx).unwrap() <= tokio::time::Instant::now(),
            "already past: take no work"
        );
    }
}
