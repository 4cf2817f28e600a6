//! Webhooks from ticketing systems: API Gateway HTTP API (payload 2.0) and
//! Lambda Function URL events, which share one shape, read as
//! `aws_lambda_events`' `ApiGatewayV2httpRequest` and answered with its
//! response type (valid for API Gateway, Function URLs and cargo-lambda's
//! emulator). Every answer is an HTTP response (never a Lambda error):
//! 201/200/400/401/404/405/409/413/500. The raw body is kept for the HMAC.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::Function;
use super::webhook_auth::SIGNATURE_HEADER;
use crate::command::{Command, Outcome};
use crate::domain::{ExtendRequest, GrantRequestBody, Origin, RevokeRequest, Ticket};
use crate::error::{Error, ErrorCode, Result};
use crate::service::Created;

/// The largest body accepted; checked before the signature.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Create,
    Show,
    Revoke,
    Extend,
    Evidence,
}

/// The route of a method and path, `Err` with the HTTP answer otherwise.
fn route<'a>(
    method: &str,
    path: &'a str,
) -> std::result::Result<(Route, Option<&'a str>), Box<ApiGatewayV2httpResponse>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (route, ticket, allowed) = match segments.as_slice() {
        ["grants"] => (Route::Create, None, "POST"),
        ["grants", t] => (Route::Show, Some(*t), "GET"),
        ["grants", t, "revoke"] => (Route::Revoke, Some(*t), "POST"),
        ["grants", t, "extend"] => (Route::Extend, Some(*t), "POST"),
        ["grants", t, "evidence"] => (Route::Evidence, Some(*t), "GET"),
        _ => {
            return Err(Box::new(response(
                404,
                &Error::reject(ErrorCode::NotFound, format!("no route {method} {path}")).to_json(),
            )));
        }
    };
    if method != allowed {
        let mut r = response(
            405,
            &json!({"error": {"code": "invalid_request", "message": format!("{method} is not allowed on {path}; use {allowed}"), "field": null}}),
        );
        r.headers
            .insert(http::header::ALLOW, HeaderValue::from_static(allowed));
        return Err(Box::new(r));
    }
    Ok((route, ticket))
}

/// How long a `GET …/evidence` reads CloudTrail at most.
const EVIDENCE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// `?format=json|md|html` (default json).
fn evidence_format(request: &ApiGatewayV2httpRequest) -> Result<crate::evidence::Format> {
    match request.query_string_parameters.first("format") {
        None => Ok(crate::evidence::Format::Json),
        Some(raw) => {
            <crate::evidence::Format as clap::ValueEnum>::from_str(raw, false).map_err(|_| {
                Error::invalid(
                    "format",
                    format!("format {raw:?} is not one of json, md, html"),
                )
            })
        }
    }
}

/// An HTTP answer with a JSON body.
pub fn response(status: u16, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = i64::from(status);
    r.headers = headers;
    r.body = Some(Body::Text(body.to_string()));
    r.is_base64_encoded = false;
    r
}

fn error_response(function: &Function, e: &Error) -> ApiGatewayV2httpResponse {
    match e {
        Error::Rejected { .. } => {
            function
                .service
                .metrics()
                .count(crate::metrics::Metric::GrantsRejected, 1);
            tracing::warn!(code = e.code().as_str(), message = %e, "webhook rejected")
        }
        Error::Internal(inner) => tracing::error!(error = %format!("{inner:#}"), "webhook failed"),
    }
    response(e.code().http_status(), &e.to_json())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body's bytes, refusing anything over the limit before decoding it whole.
fn body_bytes(request: &ApiGatewayV2httpRequest) -> Result<Vec<u8>> {
    let too_large = || {
        Error::reject(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {} KiB", MAX_BODY_BYTES / 1024),
        )
    };
    let Some(raw) = request.body.as_deref() else {
        return Ok(vec![]);
    };
    if request.is_base64_encoded {
        if raw.len() > MAX_BODY_BYTES.div_ceil(3) * 4 + 4 {
            return Err(too_large());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|_| {
                Error::reject(ErrorCode::InvalidRequest, "the body is not valid base64")
            })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        Ok(bytes)
    } else if raw.len() > MAX_BODY_BYTES {
        Err(too_large())
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

/// The request path without the stage prefix API Gateway adds for named stages.
fn path_of(request: &ApiGatewayV2httpRequest) -> String {
    let raw = request.raw_path.as_deref().unwrap_or("/");
    let stage = request
        .request_context
        .stage
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "$default");
    match stage.and_then(|s| raw.strip_prefix(&format!("/{s}"))) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
        _ => raw.to_owned(),
    }
}

/// The ticket a path segment names, percent-decoded once: a ticket with `/`
/// travels as `%2F`. The route was already chosen on the raw path, so a
/// decoded `/` never reaches another route; what decodes to something outside
/// the ticket alphabet (another `%`, a dot segment) names no ticket.
fn path_ticket(segment: &str) -> Result<Ticket> {
    let invalid = || Error::invalid("ticket", "the ticket in the path is not valid");
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| invalid())?;
    if decoded == "." || decoded == ".." {
        return Err(invalid());
    }
    Ticket::parse(&decoded).map_err(|e| Error::invalid("ticket", format!("ticket {e}")))
}

fn json_body(body: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::reject(ErrorCode::InvalidRequest, "the body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::reject(
            ErrorCode::InvalidRequest,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(Error::reject(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Who sent a webhook, as API Gateway or the Function URL saw it.
fn origin_of(request: &ApiGatewayV2httpRequest) -> Origin {
    let context = &request.request_context;
    Origin::webhook(
        context.http.source_ip.as_deref(),
        context.http.user_agent.as_deref(),
        context.request_id.as_deref(),
    )
}

/// Answers one webhook: an HTTP response whatever happens.
pub async fn handle(function: &Function, event: Value) -> Value {
    let response = match serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
        Ok(request) => match respond(function, &request).await {
            Ok(r) => r,
            Err(e) => error_response(function, &e),
        },
        Err(e) => error_response(
            function,
            &Error::reject(
                ErrorCode::InvalidRequest,
                format!("not an HTTP API or Function URL request: {e}"),
            ),
        ),
    };
    serde_json::to_value(response).expect("an HTTP response serialises")
}

async fn respond(
    function: &Function,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse> {
    let method = request
        .request_context
        .http
        .method
        .as_str()
        .to_ascii_uppercase();
    let path = path_of(request);
    let (route, ticket_segment) = match route(&method, &path) {
        Ok(r) => r,
        Err(resp) => return Ok(*resp),
    };
    let body = body_bytes(request)?;
    function.webhook_auth.keys().await?.verify(
        header(&request.headers, SIGNATURE_HEADER),
        header(&request.headers, "authorization"),
        &body,
    )?;
    let ticket = ticket_segment.map(path_ticket).transpose()?;
    let format = if route == Route::Evidence {
        evidence_format(request)?
    } else {
        crate::evidence::Format::Json
    };
    let command = match (route, ticket) {
        (Route::Create, _) => {
            Command::Create(Box::new(GrantRequestBody::from_json(&json_body(&body)?)?))
        }
        (Route::Show, Some(ticket)) => Command::Get(ticket),
        // Within API Gateway's 30 seconds: what CloudTrail could not give by
        // then, the pack says it lacks (the CLI reads without a limit).
        (Route::Evidence, Some(ticket)) => Command::Evidence(
            ticket,
            Some(tokio::time::Instant::now() + EVIDENCE_TIME_LIMIT),
        ),
        // A JSON object naming its ticket and time is required: an empty body's
        // signature is the fixed token every GET carries, and a captured body
        // must not work for another ticket or for long.
        (Route::Revoke, Some(ticket)) => Command::Revoke(RevokeRequest::from_signed_body(
            ticket,
            &json_body(&body)?,
            function.service.now(),
        )?),
        (Route::Extend, Some(ticket)) => Command::Extend(ExtendRequest::from_signed_body(
            ticket,
            &json_body(&body)?,
            function.service.now(),
        )?),
        (_, None) => unreachable!("every route but create has a ticket"),
    };
    let with_secrets = route != Route::Show;
    Ok(
        match crate::command::execute(&function.service, command, &origin_of(request)).await? {
            Outcome::Created(created) => {
                let status = if matches!(created, Created::New(_)) {
                    201
                } else {
                    200
                };
                response(status, &created.grant().view(true))
            }
            Outcome::Grant(grant) => response(200, &grant.view(with_secrets)),
            Outcome::Evidence(pack) => {
                let mut r = response(200, &Value::Null);
                r.headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                );
                // A record of who did what: never cached, never sniffed.
                r.headers.insert(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                );
                r.headers.insert(
                    http::header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                r.body = Some(Body::Text(format.render(&pack)));
                r
            }
            other => unreachable!("no webhook route answers {other:?}"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(route("POST", "/grants").unwrap(), (Route::Create, None));
        assert_eq!(
            route("GET", "/grants/AUD-1").unwrap(),
            (Route::Show, Some("AUD-1"))
        );
        assert_eq!(
            route("POST", "/grants/AUD-1/revoke").unwrap().0,
            Route::Revoke
        );
        assert_eq!(
            route("POST", "/grants/AUD-1/extend").unwrap().0,
            Route::Extend
        );
        for (m, p, status) in [
            ("GET", "/grants", 405),
            ("PUT", "/grants/AUD-1", 405),
            ("DELETE", "/grants/AUD-1", 405),
            ("HEAD", "/grants/AUD-1", 405),
            ("GET", "/grants/AUD-1/revoke", 405),
            ("POST", "/", 404),
            ("POST", "/grants/", 405),
            ("POST", "/grants/a/b/revoke", 404),
            ("GET", "/grants/../grants/AUD-1", 404),
            ("POST", "/admin", 404),
        ] {
            assert_eq!(route(m, p).unwrap_err().status_code, status, "{m} {p}");
        }
    }

    #[test]
    fn path_tickets_are_percent_decoded_once() {
        assert_eq!(path_ticket("AUD-1042").unwrap().as_str(), "AUD-1042");
        assert_eq!(path_ticket("SNOW:CHG1").unwrap().as_str(), "SNOW:CHG1");
        assert_eq!(
            path_ticket("SNOW%3ACHG%2F1").unwrap().as_str(),
            "SNOW:CHG/1"
        );
        assert_eq!(path_ticket("AUD%2f1").unwrap().as_str(), "AUD/1");
        for bad in [
            "..",
            ".",
            "%2E%2E",
            "%2e",
            "AUD%252F1",
            "AUD%2",
            "%FF",
            "",
            "a b",
            "a%20b",
        ] {
            assert!(path_ticket(bad).is_err(), "{bad}");
        }
        // The route is chosen on the raw path: a decoded slash stays in the ticket.
        assert_eq!(
            route("POST", "/grants/AUD%2F1/revoke").unwrap(),
            (Route::Revoke, Some("AUD%2F1"))
        );
    }

    #[test]
    fn named_stages_are_stripped_from_the_path() {
        let ev = |raw: &str, stage: &str| {
            serde_json::from_value::<ApiGatewayV2httpRequest>(json!({
                "rawPath": raw,
                "requestContext": {"stage": stage, "http": {"method": "GET"}},
            }))
            .unwrap()
        };
        assert_eq!(path_of(&ev("/prod/grants", "prod")), "/grants");
        assert_eq!(path_of(&ev("/grants", "$default")), "/grants");
        assert_eq!(
            path_of(&ev("/production/grants", "prod")),
            "/production/grants"
        );
    }

    #[test]
    fn bodies_over_64_kib_are_refused_before_decoding() {
        let ev = |body: String, b64: bool| {
            let mut r = ApiGatewayV2httpRequest::default();
            r.body = Some(body);
            r.is_base64_encoded = b64;
            r
        };
        let ev_big = ev("x".repeat(MAX_BODY_BYTES + 1), false);
        assert_eq!(
            body_bytes(&ev_big).unwrap_err().code(),
            ErrorCode::PayloadTooLarge
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; MAX_BODY_BYTES + 1]);
        assert_eq!(
            body_bytes(&ev(b64, true)).unwrap_err().code(),
            ErrorCode::PayloadTooLarge
        );
        let ok = ev("x".repeat(MAX_BODY_BYTES), false);
        assert_eq!(body_bytes(&ok).unwrap().len(), MAX_BODY_BYTES);
    }

    #[test]
    fn answers_carry_every_field_function_urls_and_api_gateway_read() {
        let v = serde_json::to_value(response(201, &json!({"ok": true}))).unwrap();
        assert_eq!(v["statusCode"], 201);
        assert_eq!(v["headers"]["content-type"], "application/json");
        assert_eq!(v["body"], "{\"ok\":true}");
        assert_eq!(v["isBase64Encoded"], false);
        assert_eq!(
            v["cookies"],
            json!([]),
            "cargo-lambda's emulator requires cookies"
        );
        let url: aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse =
            serde_json::from_value(v).expect("a Function URL response");
        assert_eq!(url.status_code, 201);
    }
}
