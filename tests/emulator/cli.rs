//! The `audit-grants` binary as an operator runs it: exit codes, one-line
//! configuration errors, and the commands end to end against the emulator.

use crate::common;

use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audit-grants"));
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn");
    cmd
}

/// The binary, configured for the emulator's default account and a table of
/// this test's own.
fn configured(table: &str) -> Command {
    common::binary(&common::emulator(), table, "123456789012")
}

fn run(cmd: &mut Command, args: &[&str]) -> Output {
    cmd.args(args).output().expect("the binary runs")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_setting_is_one_clear_line_and_exit_1() {
    let out = run(
        bin()
            .env_remove("GRANTS_TABLE")
            .env_remove("PERMISSIONS_BOUNDARY_ARN"),
        &["list"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("GRANTS_TABLE"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = run(
        bin()
            .env("GRANTS_TABLE", "t-1")
            .env("PERMISSIONS_BOUNDARY_ARN", "not-an-arn"),
        &["list"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("PERMISSIONS_BOUNDARY_ARN"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&mut bin(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(&mut bin(), &["grant", "--ticket", "X"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&mut bin(), &["--help"]).status.code(), Some(0));
}

#[test]
fn the_operator_commands_end_to_end() {
    let table = format!("cli-{}", common::fresh_account());
    let setup = run(&mut configured(&table), &["setup", "--json"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    let report = stdout_json(&setup);
    assert_eq!(report["table_created"], true);
    assert_eq!(
        report["boundary_arn"],
        "arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary"
    );
    let again = run(&mut configured(&table), &["setup", "--json"]);
    assert_eq!(
        stdout_json(&again)["table_created"],
        false,
        "setup is idempotent"
    );

    let ticket = format!("CLI-{table}");
    let grant_args = [
        "grant",
        "--ticket",
        &ticket,
        "--auditor-account",
        "210987654321",
        "--principal",
        "arn:aws:iam::210987654321:role/ExternalAuditor",
        "--duration",
        "2h",
        "--access",
        "view-only",
        "--json",
    ];
    let granted = run(configured(&table).env("USER", "ops-alice"), &grant_args);
    assert!(granted.status.success(), "{}", stderr(&granted));
    let view = stdout_json(&granted);
    assert_eq!(view["status"], "active");
    assert_eq!(view["access"], "view-only");
    assert_eq!(
        view["requested_by"], "ops-alice",
        "defaults to the local user"
    );

    // The same command again is the same request: unchanged, exit 0.
    let replay = run(configured(&table).env("USER", "ops-alice"), &grant_args);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(stdout_json(&replay)["external_id"], view["external_id"]);

    // A rejection: exit 1, the reason on stderr, nothing on stdout.
    let bad = run(
        &mut configured(&table),
        &[
            "grant",
            "--ticket",
            "CLI-BAD",
            "--auditor-account",
            "1",
            "--principal",
            "*",
            "--duration",
            "1h",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid_field"), "{}", stderr(&bad));
    assert!(bad.stdout.is_empty());

    let new_end = audit_grants::domain::format_timestamp(
        chrono::Utc::now() + chrono::Duration::hours(2) + chrono::Duration::minutes(30),
    );
    let extended = run(
        &mut configured(&table),
        &["extend", &ticket, "--end", &new_end, "--json"],
    );
    assert!(extended.status.success(), "{}", stderr(&extended));
    assert_eq!(stdout_json(&extended)["end"], new_end.as_str());
    let past = run(
        &mut configured(&table),
        &["extend", &ticket, "--end", "2020-01-01T00:00:00Z"],
    );
    assert_eq!(past.status.code(), Some(1));
    assert!(stderr(&past).contains("invalid_field"), "{}", stderr(&past));

    let shown = run(&mut configured(&table), &["show", &ticket, "--json"]);
    let shown = stdout_json(&shown);
    let history = shown["history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        3,
        "pending, active, and the move: {history:?}"
    );
    assert!(
        history[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("end moved from")
    );

    let listed = run(&mut configured(&table), &["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.starts_with("TICKET"), "{text}");
    assert!(text.contains(&ticket) && text.contains("2h 29m"), "{text}");

    let dry = run(&mut configured(&table), &["sweep", "--dry-run", "--json"]);
    assert!(dry.status.success());
    assert_eq!(stdout_json(&dry)["due"], serde_json::json!([]));

    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    let as_of = audit_grants::domain::format_timestamp(later);
    let swept = run(
        &mut configured(&table),
        &["sweep", "--as-of", &as_of, "--json"],
    );
    assert!(swept.status.success(), "{}", stderr(&swept));
    let report = stdout_json(&swept);
    assert_eq!(report["torn_down"], serde_json::json!([ticket]));
    for key in ["as_of", "due", "torn_down", "failed"] {
        assert!(report.get(key).is_some(), "sweep --json has {key}");
    }

    let revoke = run(&mut configured(&table), &["revoke", &ticket, "--json"]);
    assert!(
        revoke.status.success(),
        "revoking an ended grant is a no-op"
    );
    assert_eq!(stdout_json(&revoke)["status"], "expired");

    let unknown = run(&mut configured(&table), &["show", "NOPE-1"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("not_found"));
}

#[test]
fn invoke_runs_the_lambda_handler_on_an_event_file() {
    let table = format!("cli-{}", common::fresh_account());
    assert!(run(&mut configured(&table), &["setup"]).status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut event = common::event("grant-request.json");
    let ticket = format!("INV-{table}");
    event["detail"]["ticket"] = Value::String(ticket.clone());
    let path = dir.path().join("grant.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let out = run(&mut configured(&table), &["invoke", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["ticket"], ticket);

    // A rejection is a result: printed, exit 0.
    event["detail"]["principals"] = serde_json::json!(["*"]);
    std::fs::write(&path, event.to_string()).unwrap();
    let out = run(&mut configured(&table), &["invoke", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out)["error"]["code"], "invalid_field");

    // From stdin.
    let mut child = configured(&table)
        .args(["invoke", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"action": "sweep"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(stdout_json(&out)["due"].is_array());
}
