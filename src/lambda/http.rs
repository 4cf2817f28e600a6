//! Webhooks from ticketing systems: API Gateway HTTP API (payload 2.0) and
//! Lambda Function URL events, which share one shape. Every answer is an HTTP
//! response (never a Lambda error): 201/200/400/401/404/405/409/413/500.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::eventbridge::parse_ticket_field;
use super::{Handler, only_fields, optional_str, required_str};
use crate::domain::{Ticket, parse_text, parse_timestamp};
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
}

/// The route of a method and path, `Err` with the HTTP answer otherwise.
fn route<'a>(method: &str, path: &'a str) -> std::result::Result<(Route, Option<&'a str>), Value> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (route, ticket, allowed) = match segments.as_slice() {
        ["grants"] => (Route::Create, None, "POST"),
        ["grants", t] => (Route::Show, Some(*t), "GET"),
        ["grants", t, "revoke"] => (Route::Revoke, Some(*t), "POST"),
        ["grants", t, "extend"] => (Route::Extend, Some(*t), "POST"),
        _ => {
            return Err(response(
                404,
                &Error::reject(ErrorCode::NotFound, format!("no route {method} {path}")).to_json(),
            ));
        }
    };
    if method != allowed {
        let mut r = response(
            405,
            &json!({"error": {"code": "invalid_request", "message": format!("{method} is not allowed on {path}; use {allowed}"), "field": null}}),
        );
        r["headers"]["allow"] = json!(allowed);
        return Err(r);
    }
    Ok((route, ticket))
}

pub fn response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

fn error_response(handler: &Handler, e: &Error) -> Value {
    if matches!(e, Error::Rejected { .. }) {
        handler
            .service
            .metrics()
            .count(crate::metrics::Metric::GrantsRejected, 1);
    }
    match e {
        Error::Rejected { .. } => {
            tracing::warn!(code = e.code().as_str(), message = %e, "webhook rejected")
        }
        Error::Internal(inner) => tracing::error!(error = %format!("{inner:#}"), "webhook failed"),
    }
    response(e.code().http_status(), &e.to_json())
}

fn header<'a>(headers: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    headers?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The body's bytes, refusing anything over the limit before decoding it whole.
fn body_bytes(event: &Map<String, Value>) -> Result<Vec<u8>> {
    let too_large = || {
        Error::reject(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {} KiB", MAX_BODY_BYTES / 1024),
        )
    };
    let raw = match event.get("body") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(Error::reject(
                ErrorCode::InvalidRequest,
                "the event body must be a string",
            ));
        }
    };
    let encoded = event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if encoded {
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
fn path_of(event: &Map<String, Value>) -> String {
    let raw = event.get("rawPath").and_then(Value::as_str).unwrap_or("/");
    let stage = event
        .get("requestContext")
        .and_then(|rc| rc.get("stage"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && *s != "$default");
    match stage.and_then(|s| raw.strip_prefix(&format!("/{s}"))) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
        _ => raw.to_owned(),
    }
}

fn path_ticket(segment: &str) -> Result<Ticket> {
    // Taken literally: an encoded character (e.g. %2F) or a dot segment never
    // names a ticket, so nothing can reach another route or another ticket.
    if segment == "." || segment == ".." || segment.contains('%') {
        return Err(Error::invalid(
            "ticket",
            "the ticket in the path is not valid",
        ));
    }
    Ticket::parse(segment).map_err(|e| Error::invalid("ticket", format!("ticket {e}")))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::reject(ErrorCode::InvalidRequest, "the body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::reject(
            ErrorCode::InvalidRequest,
            format!("the body is not JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(Error::reject(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        )),
    }
}

/// A body field `ticket` is allowed on revoke/extend only if it repeats the path's.
fn same_ticket(body: &Map<String, Value>, ticket: &Ticket) -> Result<()> {
    if body.contains_key("ticket") && &parse_ticket_field(body)? != ticket {
        return Err(Error::invalid(
            "ticket",
            "the ticket in the body differs from the one in the path",
        ));
    }
    Ok(())
}

pub async fn handle(handler: &Handler, event: &Map<String, Value>) -> Value {
    match respond(handler, event).await {
        Ok(v) => v,
        Err(e) => error_response(handler, &e),
    }
}

async fn respond(handler: &Handler, event: &Map<String, Value>) -> Result<Value> {
    let method = event
        .get("requestContext")
        .and_then(|rc| rc.get("http"))
        .and_then(|h| h.get("method"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_uppercase();
    let path = path_of(event);
    let (route, ticket_segment) = match route(&method, &path) {
        Ok(r) => r,
        Err(resp) => return Ok(resp),
    };
    let body = body_bytes(event)?;
    let headers = event.get("headers").and_then(Value::as_object);
    handler.webhook.keys().await?.verify(
        header(headers, crate::webhook::SIGNATURE_HEADER),
        header(headers, "authorization"),
        &body,
    )?;

    let service = &handler.service;
    let ticket = ticket_segment.map(path_ticket).transpose()?;
    match (route, ticket) {
        (Route::Create, _) => {
            let request = Value::Object(json_object(&body)?);
            let created = service.create(&request).await?;
            let status = if matches!(created, Created::New(_)) {
                201
            } else {
                200
            };
            Ok(response(status, &created.grant().view(true)))
        }
        (Route::Show, Some(ticket)) => Ok(response(200, &service.get(&ticket).await?.view(false))),
        (Route::Revoke, Some(ticket)) => {
            // A JSON object is required: an empty body's signature is the fixed
            // token every GET carries, and must not be able to revoke.
            let body = json_object(&body)?;
            only_fields(&body, &["reason", "ticket"])?;
            same_ticket(&body, &ticket)?;
            let reason = optional_str(&body, "reason")?
                .map(|r| {
                    parse_text(r, 0, 1024)
                        .map_err(|e| Error::invalid("reason", format!("reason {e}")))
                })
                .transpose()?;
            Ok(response(
                200,
                &service.revoke(&ticket, reason.as_deref()).await?.view(true),
            ))
        }
        (Route::Extend, Some(ticket)) => {
            let body = json_object(&body)?;
            only_fields(&body, &["end", "ticket"])?;
            same_ticket(&body, &ticket)?;
            let end = parse_timestamp(required_str(&body, "end")?)
                .map_err(|e| Error::invalid("end", format!("end {e}")))?;
            Ok(response(
                200,
                &service.extend(&ticket, end).await?.view(true),
            ))
        }
        (_, None) => unreachable!("every route but create has a ticket"),
    }
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
            assert_eq!(route(m, p).unwrap_err()["statusCode"], status, "{m} {p}");
        }
    }

    #[test]
    fn path_tickets_are_taken_literally() {
        assert!(path_ticket("AUD-1042").is_ok());
        assert!(path_ticket("SNOW:CHG1").is_ok());
        for bad in ["..", ".", "AUD%2F1", "AUD%252F1", "", "a b"] {
            assert!(path_ticket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn named_stages_are_stripped_from_the_path() {
        let ev = |raw: &str, stage: &str| {
            json!({"rawPath": raw, "requestContext": {"stage": stage}})
                .as_object()
                .unwrap()
                .clone()
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
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let ev = json!({"body": big}).as_object().unwrap().clone();
        assert_eq!(
            body_bytes(&ev).unwrap_err().code(),
            ErrorCode::PayloadTooLarge
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; MAX_BODY_BYTES + 1]);
        let ev = json!({"body": b64, "isBase64Encoded": true})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            body_bytes(&ev).unwrap_err().code(),
            ErrorCode::PayloadTooLarge
        );
        let ok = json!({"body": "x".repeat(MAX_BODY_BYTES)})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(body_bytes(&ok).unwrap().len(), MAX_BODY_BYTES);
    }
}
