//! Lambda events in, results out. Each trigger's payload is read into its
//! `aws_lambda_events` type, turned into a `Command` at this edge, and run
//! through `command::execute`; the CLI's `invoke` runs exactly this.

mod eventbridge;
pub mod http;
mod schedule;
pub mod webhook_auth;

use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::service::GrantService;
use webhook_auth::WebhookAuth;

/// The deployed function's state, built once per process: the grant service
/// and the webhook authenticator.
pub struct Function {
    pub service: Arc<GrantService>,
    pub webhook_auth: Arc<WebhookAuth>,
}

/// How close to the Lambda deadline the sweeper stops taking new grants.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

/// What the handler answers. `Err` only for our own failures (worth a retry by
/// Lambda's async invoke); a rejection is a result, logged and not retried.
pub async fn handle_event(
    function: &Function,
    event: Value,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    match route(function, event, deadline).await {
        Ok(v) => Ok(v),
        Err(e) => answer_failure(function, e),
    }
}

/// Logs a failure once; a rejection becomes SPEC.md's error body (a result),
/// anything else stays an error.
fn answer_failure(function: &Function, e: Error) -> Result<Value> {
    match &e {
        Error::Rejected { .. } => {
            function
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
        Error::Internal(inner) => {
            tracing::error!(error = %format!("{inner:#}"), "request failed");
            Err(e)
        }
    }
}

/// Which trigger sent the event, by its shape.
async fn route(
    function: &Function,
    event: Value,
    deadline: Option<tokio::time::Instant>,
) -> Result<Value> {
    let obj = event.as_object().ok_or_else(|| {
        Error::reject(ErrorCode::InvalidRequest, "the event must be a JSON object")
    })?;
    if obj
        .get("requestContext")
        .and_then(|rc| rc.get("http"))
        .is_some()
    {
        return Ok(http::handle(function, event).await);
    }
    let (command, origin) = if obj.contains_key("detail-type") {
        eventbridge::command(event, function.service.now(), deadline)?
    } else if obj.contains_key("action") {
        let command = schedule::command(obj, function.service.now(), deadline)?;
        (command, crate::domain::Origin::Schedule)
    } else {
        return Err(Error::reject(
            ErrorCode::InvalidRequest,
            "unsupported event: expected an EventBridge event, an HTTP request or {\"action\": \"sweep\"}",
        ));
    };
    let outcome = crate::command::execute(&function.service, command, &origin).await?;
    Ok(eventbridge::result(outcome))
}

/// The Lambda bootstrap: settings and clients built once, then one handler call
/// per event. A bad setting stops start-up with one line.
pub async fn run(settings: crate::config::Settings) -> std::process::ExitCode {
    let clients = crate::aws::AwsClients::from_env_trusting(settings.tls_aws_roots).await;
    clients.warm_up();
    let function =
        crate::wiring::function(&clients, Arc::new(settings), crate::metrics::Metrics::emf());
    let function = &function;
    let handler = lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let deadline = deadline_of(&event.context);
            if let Some(caller) = caller_of(&event.context.invoked_function_arn) {
                function.service.seed_caller(caller);
            }
            handle_event(function, event.payload, deadline)
                .await
                .map_err(|e| lambda_runtime::Diagnostic {
                    error_type: e.code().as_str().to_owned(),
                    error_message: e.to_string(),
                })
        },
    );
    match lambda_runtime::run(handler).await {
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
