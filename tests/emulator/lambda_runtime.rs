//! The built binary as a real Lambda: started against a Lambda Runtime API
//! (a local server speaking the real protocol), sent every file in `events/`,
//! each answer checked. This is the `sam local invoke` path without Docker.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use audit_grants::domain::format_timestamp;
use common::runtime_api::{Outcome, RuntimeApi};
use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(api: &RuntimeApi, table: &str, extra: &[(&str, &str)]) -> Function {
    start_logging(api, table, extra, Stdio::null())
}

fn start_logging(api: &RuntimeApi, table: &str, extra: &[(&str, &str)], stdout: Stdio) -> Function {
    let mut cmd = binary(&emulator(), table, "123456789012");
    cmd.env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "audit-grants")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "info")
        .env("WEBHOOK_SECRET", DEMO_SECRET)
        .env("WEBHOOK_BEARER_TOKEN", DEMO_BEARER)
        .stdout(stdout)
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Function(cmd.spawn().expect("the binary starts"))
}

fn setup(table: &str) {
    let status = binary(&emulator(), table, "123456789012")
        .arg("setup")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The file as the function receives it. Fixed dates in extend requests are
/// moved to five days from now (re-signed where signed), so the samples stay
/// valid whatever day the test runs.
fn sample(name: &str) -> Value {
    let mut ev = event(name);
    let new_end = format_timestamp(chrono::Utc::now() + chrono::Duration::days(5));
    if name == "extend-request.json" {
        ev["detail"]["end"] = json!(new_end);
    }
    // Signed revoke and extend bodies are dated: sent now, signed again.
    if name.starts_with("http-") && (name.contains("extend") || name.contains("revoke")) {
        let mut body: Value = serde_json::from_str(ev["body"].as_str().unwrap()).unwrap();
        body["requested_at"] = json!(format_timestamp(chrono::Utc::now()));
        if name.contains("extend") {
            body["end"] = json!(new_end);
        }
        let body = body.to_string();
        ev["headers"]["x-hub-signature-256"] = json!(audit_grants::lambda::webhook_auth::sign(
            DEMO_SECRET.as_bytes(),
            body.as_bytes()
        ));
        ev["body"] = json!(body);
    }
    ev
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("the function failed: {e}"),
    }
}

fn http(outcome: Outcome) -> (u64, Value) {
    http_result(&response(outcome))
}

#[tokio::test]
async fn the_binary_answers_every_event_file_through_the_runtime_api() {
    let table = format!("rt-{}", fresh_account());
    setup(&table);
    let api = RuntimeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stdout.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let function = start_logging(&api, &table, &[], Stdio::from(log_file));
    api.wait_ready(WAIT).await;

    // EventBridge: grant, extend, revoke; the schedule in both shapes.
    let granted = response(api.invoke(sample("grant-request.json"), WAIT).await);
    let external_id = granted["external_id"].as_str().unwrap().to_owned();
    assert_eq!(granted["status"], "active", "{granted}");
    let extend = sample("extend-request.json");
    let extended = response(api.invoke(extend.clone(), WAIT).await);
    assert_eq!(extended["end"], extend["detail"]["end"], "{extended}");
    let revoked = response(api.invoke(sample("revoke-request.json"), WAIT).await);
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    for schedule in ["scheduled-event.json", "sweep-schedule.json"] {
        let report = response(api.invoke(sample(schedule), WAIT).await);
        assert_eq!(report["failed"], json!([]), "{schedule}: {report}");
        assert!(report["due"].is_array());
    }

    // Webhooks: API Gateway and Function URL, every route.
    for kind in ["apigw", "url"] {
        let (status, created) = http(
            api.invoke(sample(&format!("http-{kind}-create.json")), WAIT)
                .await,
        );
        assert_eq!(status, 201, "{created}");
        let (status, shown) = http(
            api.invoke(sample(&format!("http-{kind}-show.json")), WAIT)
                .await,
        );
        assert_eq!(status, 200, "{shown}");
        assert!(shown.get("external_id").is_none());
        let (status, extended) = http(
            api.invoke(sample(&format!("http-{kind}-extend.json")), WAIT)
                .await,
        );
        assert_eq!(status, 200, "{extended}");
        let (status, revoked) = http(
            api.invoke(sample(&format!("http-{kind}-revoke.json")), WAIT)
                .await,
        );
        assert_eq!(
            (status, revoked["status"].as_str()),
            (200, Some("revoked")),
            "{revoked}"
        );
    }
    let (status, bearer) = http(
        api.invoke(sample("http-url-create-bearer.json"), WAIT)
            .await,
    );
    assert_eq!(status, 201, "{bearer}");
    let (status, _) = http(
        api.invoke(
            http_event(
                "POST",
                "/grants/AUD-2003/revoke",
                &change_body("AUD-2003", chrono::Utc::now(), json!({})),
                None,
            ),
            WAIT,
        )
        .await,
    );
    assert_eq!(status, 200);

    // A rejection is a result (not retried); an unknown event too.
    let mut bad = sample("grant-request.json");
    bad["detail"]["principals"] = json!(["*"]);
    bad["detail"]["ticket"] = json!("AUD-BAD");
    let rejected = response(api.invoke(bad, WAIT).await);
    assert_eq!(rejected["error"]["code"], "invalid_field");
    assert_eq!(
        response(api.invoke(json!({"x": 1}), WAIT).await)["error"]["code"],
        "invalid_request"
    );
    let reconciled = response(api.invoke(sample("reconcile-schedule.json"), WAIT).await);
    assert_eq!(reconciled["failed"], json!([]), "{reconciled}");
    assert!(reconciled["roles_seen"].is_u64(), "{reconciled}");

    // What operators see: JSON logs, one event per state change, EMF metrics,
    // and never an external ID.
    drop(function);
    let out = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !out.contains(&external_id),
        "no external ID in the function's output"
    );
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let changes: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "grant state changed")
        .collect();
    assert!(changes.len() >= 4, "{out}");
    for c in &changes {
        for field in ["ticket", "role_arn", "from", "to", "reason"] {
            assert!(c["fields"].get(field).is_some(), "{field} in {c}");
        }
    }
    assert!(
        changes
            .iter()
            .any(|c| c["fields"]["ticket"] == "AUD-1042" && c["fields"]["to"] == "active")
    );
    let metrics: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].as_str())
        .collect();
    for m in [
        "GrantsCreated",
        "GrantsRevoked",
        "GrantsRejected",
        "TeardownLatency",
    ] {
        assert!(metrics.contains(&m), "{m} emitted: {metrics:?}");
    }
}

#[tokio::test]
async fn our_own_failure_is_a_lambda_error_so_eventbridge_retries_it() {
    let api = RuntimeApi::start().await;
    // A table that does not exist: every store call fails.
    let _function = start(&api, "rt-missing-table", &[]);
    api.wait_ready(WAIT).await;
    let mut ev = sample("grant-request.json");
    ev["detail"]["ticket"] = json!(format!("AUD-FAIL-{}", fresh_account()));
    match api.invoke(ev, WAIT).await {
        Outcome::Error(e) => assert_eq!(e["errorType"], "internal", "{e}"),
        Outcome::Response(r) => panic!("expected a Lambda error, got {r}"),
    }
}

#[tokio::test]
async fn a_missing_setting_stops_start_up_with_one_line() {
    let api = RuntimeApi::start().await;
    let out = Command::new(env!("CARGO_BIN_EXE_audit-grants"))
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env_remove("GRANTS_TABLE")
        .env(
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::123456789012:policy/b",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("GRANTS_TABLE"));
}
