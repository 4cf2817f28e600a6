//! Fixtures: requests, the events/ files, signed HTTP events, the binary, and commands as the edges build them.

use audit_grants::service::GrantService;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::*;

pub use audit_grants::aws::iam::url_decode;

/// The built binary, set up for the emulator at `endpoint` (directly or through
/// a proxy), the table `table`, and the permissions boundary of `account`.
pub fn binary(endpoint: &str, table: &str, account: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary_path());
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn");
    emulator_env(&mut cmd, endpoint, table, account);
    cmd
}

/// The settings that point a process of ours at the emulator at `endpoint`,
/// the table `table` and the permissions boundary of `account`.
pub fn emulator_env(cmd: &mut std::process::Command, endpoint: &str, table: &str, account: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("GRANTS_TABLE", table)
        .env(
            "PERMISSIONS_BOUNDARY_ARN",
            format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary"),
        );
}

/// A valid grant request for `ticket` (fields can be changed by the caller).
pub fn request(ticket: &str) -> Value {
    serde_json::json!({
        "ticket": ticket,
        "requested_by": "jane.doe@example.com",
        "auditor_account": AUDITOR,
        "principals": [AUDITOR_ROLE],
        "duration": "72h",
        "reason": "FY26 SOC 2 fieldwork",
    })
}

/// The events/ file `name`, parsed.
pub fn event(name: &str) -> Value {
    let path = project_dir().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An HTTP API (payload 2.0) request event, signed with `DEMO_SECRET` unless
/// `signature` says otherwise (`Some("")` leaves the header out).
pub fn http_event(method: &str, path: &str, body: &[u8], signature: Option<&str>) -> Value {
    let sig = match signature {
        None => audit_grants::lambda::webhook_auth::sign(DEMO_SECRET.as_bytes(), body),
        Some(s) => s.to_owned(),
    };
    let mut headers = serde_json::json!({"content-type": "application/json"});
    if !sig.is_empty() {
        headers["x-hub-signature-256"] = Value::String(sig);
    }
    let (text, b64) = match std::str::from_utf8(body) {
        Ok(t) => (t.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": text,
        "isBase64Encoded": b64,
    })
}

/// Status and parsed body of an HTTP response from the handler.
pub fn http_result(response: &Value) -> (u64, Value) {
    assert_eq!(
        response["headers"]["content-type"], "application/json",
        "{response}"
    );
    let body = serde_json::from_str(response["body"].as_str().expect("a string body"))
        .expect("a JSON body");
    (response["statusCode"].as_u64().expect("a status"), body)
}

// ---- commands as the edges build them -------------------------------------------

/// Creates a grant from a request as sent (JSON), through the same shape check
/// every edge applies.
pub async fn create(
    service: &GrantService,
    request: &Value,
) -> audit_grants::error::Result<audit_grants::service::Created> {
    service
        .create(
            &audit_grants::domain::GrantRequestBody::from_json(request)?,
            &operator(),
        )
        .await
}

/// A revoke reason (valid by construction in tests).
pub fn reason(text: &str) -> audit_grants::domain::Reason {
    audit_grants::domain::Reason::parse(text).expect("a valid reason")
}

/// A sweep as of `as_of` that changes things.
pub fn sweep_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::Apply,
        deadline: None,
    }
}

/// A sweep as of `as_of` that only reports.
pub fn dry_run_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::DryRun,
        deadline: None,
    }
}

/// The `audit-grants` binary cargo built next to the running test or example
/// (`target/<profile>/deps/…` or `target/<profile>/examples/…`).
pub fn binary_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/<dir>/<exe>");
    profile_dir.join("audit-grants")
}

/// The project's root (where `events/` and the templates are).
pub fn project_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ lies in the project")
        .to_path_buf()
}

/// A revoke or extend webhook body as a ticketing system signs it: its ticket,
/// `requested_at` (now, by the test's clock) and the given fields.
pub fn change_body(ticket: &str, now: DateTime<Utc>, fields: Value) -> Vec<u8> {
    let mut body = serde_json::json!({
        "ticket": ticket,
        "requested_at": audit_grants::domain::format_timestamp(now),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), fields) {
        body.extend(extra);
    }
    serde_json::to_vec(&body).expect("JSON serialises")
}

/// Who asks, in these tests.
pub fn operator() -> audit_grants::domain::Origin {
    audit_grants::domain::Origin::cli("test-operator")
}
