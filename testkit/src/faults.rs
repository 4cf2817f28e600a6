//! Fault injection on the real SDK clients: an interceptor that makes chosen AWS
//! operations fail the way AWS fails them (throttling, 5xx,
//! `ConcurrentModification`, DynamoDB's cancelled transactions, or a timeout or
//! a 5xx after the request took effect), on every attempt the SDK's retries
//! make, or on the first attempt only.
//!
//! DynamoDB honours `ClientRequestToken`: a `TransactWriteItems` retried with
//! the token of one already applied succeeds without applying again. The
//! emulator does not, so this interceptor answers such a retry as DynamoDB
//! documents it (200, `{}`), and records every token it saw.

use std::sync::{Arc, Mutex};

use aws_sdk_iam::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `Throttling` / `ThrottlingException`; the request never took effect.
    Throttling,
    /// A 5xx; the request never took effect.
    ServerError,
    /// IAM's `ConcurrentModification` (DynamoDB: `TransactionConflictException`).
    ConcurrentModification,
    /// The request took effect, but its answer never came back.
    TimeoutAfterEffect,
    /// The request took effect, and the answer was a 5xx: the SDK retries it.
    ServerErrorAfterEffect,
    /// DynamoDB's `TransactionCanceledException` with reason
    /// `ConditionalCheckFailed` (what a lost optimistic-locking race returns);
    /// the request never took effect.
    ConditionalCheckFailed,
}

impl Fault {
    /// Every way AWS fails a call (for the fault matrices).
    pub const ALL: [Fault; 4] = [
        Fault::Throttling,
        Fault::ServerError,
        Fault::ConcurrentModification,
        Fault::TimeoutAfterEffect,
    ];

    /// Whether the request reaches the service (and takes effect).
    fn takes_effect(self) -> bool {
        matches!(
            self,
            Fault::TimeoutAfterEffect | Fault::ServerErrorAfterEffect
        )
    }
}

type Matcher = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    /// Operations seen (not attempts), 1-based.
    ops: usize,
    fail_at: Option<usize>,
    matcher: Option<Matcher>,
    fault: Option<Fault>,
    first_attempt_only: bool,
    /// `op` names of the operations that were made to fail.
    injected: Vec<String>,
    /// Every operation seen, in order.
    seen: Vec<String>,
    /// `ClientRequestToken`s of writes that reached the service.
    applied_tokens: std::collections::HashSet<String>,
    /// Every `TransactWriteItems` attempt: its token, and whether it was
    /// answered from an earlier attempt that had been applied.
    token_attempts: Vec<(String, bool)>,
}

/// One operation's fault state, kept in its own config bag across its retries.
#[derive(Debug, Clone)]
struct Attempt {
    n: usize,
    op: String,
    /// The fault this attempt meets, if any.
    fault: Option<Fault>,
    first_attempt_only: bool,
    /// Its `ClientRequestToken`, when it is a tracked DynamoDB write.
    token: Option<String>,
    /// A retry answered by an applied token (never sent to the emulator).
    answered_by_token: bool,
}

impl aws_smithy_types::config_bag::Storable for Attempt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}
#[derive(Clone, Default)]
pub struct FaultInjector(Arc<Mutex<State>>);

impl std::fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultInjector")
    }
}

impl FaultInjector {
    /// Fails the `n`-th operation from now (1-based), every attempt.
    pub fn fail_nth(&self, n: usize, fault: Fault) {
        let mut s = self.0.lock().unwrap();
        s.ops = 0;
        s.seen.clear();
        s.fail_at = Some(n);
        s.matcher = None;
        s.fault = Some(fault);
        s.first_attempt_only = false;
    }

    /// Fails every operation for which `matcher(op, body)` holds.
    pub fn fail_matching(
        &self,
        fault: Fault,
        first_attempt_only: bool,
        matcher: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) {
        let mut s = self.0.lock().unwrap();
        s.fail_at = None;
        s.matcher = Some(Arc::new(matcher));
        s.fault = Some(fault);
        s.first_attempt_only = first_attempt_only;
    }

    pub fn clear(&self) {
        let mut s = self.0.lock().unwrap();
        s.fail_at = None;
        s.matcher = None;
        s.fault = None;
    }

    /// Starts counting operations from zero.
    pub fn reset_count(&self) {
        let mut s = self.0.lock().unwrap();
        s.ops = 0;
        s.seen.clear();
    }

    pub fn ops(&self) -> usize {
        self.0.lock().unwrap().ops
    }

    pub fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().seen.clone()
    }

    pub fn injected(&self) -> Vec<String> {
        self.0.lock().unwrap().injected.clone()
    }

    /// Every `TransactWriteItems` attempt: its `ClientRequestToken`, and
    /// whether it was a retry answered by an earlier applied attempt.
    pub fn token_attempts(&self) -> Vec<(String, bool)> {
        self.0.lock().unwrap().token_attempts.clone()
    }
}

/// The `ClientRequestToken` of a DynamoDB request body, if any.
fn client_request_token(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("ClientRequestToken")?.as_str().map(str::to_owned)
}

/// `service:Operation` of a request, and its body as text.
fn describe(req: &aws_smithy_runtime_api::http::Request) -> (String, String) {
    let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).to_string();
    if let Some(target) = req.headers().get("x-amz-target") {
        let service = if target.starts_with("secretsmanager") {
            "secretsmanager"
        } else {
            "dynamodb"
        };
        return (
            format!("{service}:{}", target.rsplit('.').next().unwrap_or(target)),
            body,
        );
    }
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("?")
        .to_owned();
    let service = if action.contains("CallerIdentity") || action == "AssumeRole" {
        "sts"
    } else {
        "iam"
    };
    (format!("{service}:{action}"), body)
}

fn error_response(op: &str, fault: Fault) -> (u16, &'static str, String) {
    let json = op.starts_with("dynamodb:") || op.starts_with("secretsmanager:");
    let (status, code, json_code) = match fault {
        Fault::Throttling => (
            400,
            "Throttling",
            "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        ),
        Fault::ServerError => (
            500,
            "ServiceFailure",
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
        ),
        Fault::ServerErrorAfterEffect => (
            500,
            "ServiceFailure",
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
        ),
        Fault::ConcurrentModification | Fault::ConditionalCheckFailed => (
            409,
            "ConcurrentModification",
            "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        ),
        Fault::TimeoutAfterEffect => unreachable!("a timeout has no response"),
    };
    if json {
        // DynamoDB's transactions are cancelled, with a reason per item (ours
        // write two: the grant, conditionally, and its history event); other
        // writes that meet a transaction in flight get TransactionConflict.
        let cancelled = |reason: &str| {
            format!(
                r#"{{"__type":"{json_code}","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}, None]","CancellationReasons":[{{"Code":"{reason}","Message":"injected fault"}},{{"Code":"None"}}]}}"#
            )
        };
        let body = match fault {
            Fault::ConcurrentModification if op == "dynamodb:TransactWriteItems" => {
                cancelled("TransactionConflict")
            }
            Fault::ConditionalCheckFailed => cancelled("ConditionalCheckFailed"),
            Fault::ConcurrentModification => r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"injected fault"}"#.to_owned(),
            _ => format!(r#"{{"__type":"{json_code}","message":"injected fault"}}"#),
        };
        let status = if matches!(
            fault,
            Fault::ConcurrentModification | Fault::ConditionalCheckFailed
        ) {
            400
        } else {
            status
        };
        (status, "application/x-amz-json-1.0", body)
    } else {
        (
            status,
            "text/xml",
            format!(
                r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected fault</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
            ),
        )
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Each operation's own state lives in its config bag (kept across its
        // retries), so concurrent operations never see each other's.
        let (op, body) = describe(ctx.request());
        let previous = cfg.load::<Attempt>().cloned();
        let mut s = self.0.lock().unwrap();
        let attempt = match previous {
            None => {
                s.ops += 1;
                s.seen.push(op.clone());
                let by_index = s.fail_at == Some(s.ops);
                let by_match = s.matcher.as_ref().is_some_and(|m| m(&op, &body));
                let doomed = s.fault.is_some() && (by_index || by_match);
                if doomed {
                    let fault = s.fault.unwrap();
                    s.injected.push(format!("{op} {fault:?}"));
                }
                Attempt {
                    n: 1,
                    op: op.clone(),
                    fault: s.fault.filter(|_| doomed),
                    first_attempt_only: s.first_attempt_only,
                    token: None,
                    answered_by_token: false,
                }
            }
            Some(previous) => Attempt {
                n: previous.n + 1,
                // A fault on the first attempt only spares the retries.
                fault: previous.fault.filter(|_| !previous.first_attempt_only),
                token: None,
                answered_by_token: false,
                ..previous
            },
        };
        let mut attempt = attempt;
        // Tokens are tracked while faults are injected.
        if s.fault.is_some()
            && op == "dynamodb:TransactWriteItems"
            && let Some(token) = client_request_token(&body)
        {
            let replay = s.applied_tokens.contains(&token);
            s.token_attempts.push((token.clone(), replay));
            if replay {
                attempt.fault = None;
                attempt.answered_by_token = true;
            }
            attempt.token = Some(token);
        }
        let sent_nowhere =
            attempt.answered_by_token || attempt.fault.is_some_and(|f| !f.takes_effect());
        if sent_nowhere {
            // Never reaches the real service: sent to an account of its own.
            ctx.request_mut()
                .headers_mut()
                .insert("x-moto-account-id", "000000000000");
        }
        drop(s);
        cfg.interceptor_state().store_put(attempt);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(attempt) = cfg.load::<Attempt>().cloned() else {
            return Ok(());
        };
        let resp = ctx.response_mut();
        if attempt.answered_by_token {
            // DynamoDB's answer to a retry whose token was applied: success.
            *resp.status_mut() = StatusCode::try_from(200).unwrap();
            resp.headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            for stale in ["content-length", "x-amzn-errortype", "x-amz-crc32"] {
                resp.headers_mut().remove(stale);
            }
            *resp.body_mut() = SdkBody::from("{}");
            return Ok(());
        }
        // A write the service applied (its real answer was a success): a retry
        // with its token is answered as applied.
        if let Some(token) = &attempt.token
            && resp.status().is_success()
        {
            self.0.lock().unwrap().applied_tokens.insert(token.clone());
        }
        let Some(fault) = attempt.fault else {
            return Ok(());
        };
        if fault == Fault::TimeoutAfterEffect {
            return Err("injected fault: the response timed out".into());
        }
        let (status, content_type, body) = error_response(&attempt.op, fault);
        *resp.status_mut() = StatusCode::try_from(status).unwrap();
        resp.headers_mut().insert("content-type", content_type);
        // What the emulator said of the request sent nowhere must not show:
        // the SDK reads the error's type from this header before the body.
        for stale in ["content-length", "x-amzn-errortype", "x-amz-crc32"] {
            resp.headers_mut().remove(stale);
        }
        *resp.body_mut() = SdkBody::from(body);
        Ok(())
    }
}
