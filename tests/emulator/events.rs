//! Every payload in `events/` through the Lambda handler, against the emulator.

use crate::common;

use audit_grants::lambda::handle_event;
use common::*;
use serde_json::{Value, json};

fn files() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(format!("{}/events", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_event_file_is_exercised_here() {
    let covered = [
        "extend-request.json",
        "grant-request.json",
        "reconcile-schedule.json",
        "revoke-request.json",
        "scheduled-event.json",
        "sweep-schedule.json",
    ];
    // The http-* samples are run by tests/webhooks.rs; all of them by tests/lambda_runtime.rs.
    let webhooks = [
        "http-apigw-create.json",
        "http-apigw-extend.json",
        "http-apigw-revoke.json",
        "http-apigw-show.json",
        "http-url-create-bearer.json",
        "http-url-create.json",
        "http-url-extend.json",
        "http-url-revoke.json",
        "http-url-show.json",
    ];
    let mut expected: Vec<&str> = covered.iter().chain(webhooks.iter()).copied().collect();
    expected.sort();
    assert_eq!(files(), expected, "a new event file needs a test");
}

#[tokio::test]
async fn the_sample_events_grant_extend_revoke_and_sweep() {
    // The files carry fixed dates; the clock is set to where they make sense.
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    let s = &env.function;

    let granted = handle_event(s, event("grant-request.json"), None)
        .await
        .unwrap();
    assert_eq!(granted["status"], "active", "{granted}");
    assert_eq!(granted["ticket"], "AUD-1042");
    assert_eq!(granted["end"], "2026-12-04T08:00:00Z");
    assert!(
        granted["aws_config_profile"]
            .as_str()
            .unwrap()
            .contains("[profile audit-AUD-1042]")
    );

    // The event's source and id are recorded with the request, as evidence.
    let (_, history) = env
        .service
        .show(&audit_grants::domain::Ticket::parse("AUD-1042").unwrap())
        .await
        .unwrap();
    let requested = serde_json::to_value(&history[0]).unwrap();
    assert_eq!(
        requested["origin"],
        json!({"via": "eventbridge", "source": "com.example.ticketing",
               "id": event("grant-request.json")["id"]})
    );

    let extended = handle_event(s, event("extend-request.json"), None)
        .await
        .unwrap();
    assert_eq!(extended["status"], "active", "{extended}");
    assert_eq!(extended["end"], "2026-12-06T17:00:00Z");
    let trust = env
        .trust_policy(
            &audit_grants::domain::Ticket::parse("AUD-1042")
                .unwrap()
                .role_name(),
        )
        .await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-12-06T17:00:00Z"
    );
    let role = env
        .role(
            &audit_grants::domain::Ticket::parse("AUD-1042")
                .unwrap()
                .role_name(),
        )
        .await
        .unwrap();
    let expires = role
        .tags()
        .iter()
        .find(|t| t.key() == "audit-grants:expires-at")
        .unwrap();
    assert_eq!(
        expires.value(),
        "2026-12-06T17:00:00Z",
        "the expiry tag moves with the trust"
    );
    let (g, history) = env
        .service
        .show(&audit_grants::domain::Ticket::parse("AUD-1042").unwrap())
        .await
        .unwrap();
    assert_eq!(
        audit_grants::domain::format_timestamp(g.window.end()),
        "2026-12-06T17:00:00Z"
    );
    assert_eq!(
        history.last().unwrap().reason,
        "end moved from 2026-12-04T08:00:00Z to 2026-12-06T17:00:00Z"
    );

    let revoked = handle_event(s, event("revoke-request.json"), None)
        .await
        .unwrap();
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    assert_eq!(revoked["end_reason"], "fieldwork finished early");
    assert!(env.roles().await.is_empty());

    // A second grant, then the schedule after its window.
    let mut second = event("grant-request.json");
    second["detail"]["ticket"] = json!("AUD-1043");
    // The handler does not check the source: the deployment's rule decides.
    second["source"] = json!("com.example.other-tool");
    second["detail"]["duration"] = json!("1h");
    handle_event(s, second, None).await.unwrap();
    env.clock.advance(chrono::Duration::hours(2));
    let swept = handle_event(s, event("scheduled-event.json"), None)
        .await
        .unwrap();
    assert_eq!(swept["due"], json!(["AUD-1043"]), "{swept}");
    assert_eq!(swept["torn_down"], json!(["AUD-1043"]));
    assert_eq!(swept["failed"], json!([]));

    let scheduler = handle_event(s, event("sweep-schedule.json"), None)
        .await
        .unwrap();
    assert_eq!(scheduler["due"], json!([]), "{scheduler}");
    assert!(env.roles().await.is_empty());
}

#[tokio::test]
async fn invalid_eventbridge_requests_are_results_not_failures_and_change_nothing() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (
            {
                let mut e = event("grant-request.json");
                e["detail"]["principals"] = json!(["*"]);
                e
            },
            "invalid_field",
            Some("principals[0]"),
        ),
        (
            {
                let mut e = event("grant-request.json");
                e["detail"]["extra"] = json!(1);
                e
            },
            "unknown_field",
            Some("extra"),
        ),
        (
            {
                let mut e = event("grant-request.json");
                e.as_object_mut().unwrap().remove("detail");
                e
            },
            "missing_field",
            Some("detail"),
        ),
        (
            {
                let mut e = event("revoke-request.json");
                e["detail"]["ticket"] = json!("AUD-UNKNOWN");
                e
            },
            "not_found",
            None,
        ),
        (
            {
                let mut e = event("revoke-request.json");
                e["detail"]["force"] = json!(true);
                e
            },
            "unknown_field",
            Some("force"),
        ),
        (
            {
                let mut e = event("extend-request.json");
                e["detail"]["end"] = json!("next week");
                e
            },
            "invalid_field",
            Some("end"),
        ),
        (
            {
                let mut e = event("grant-request.json");
                e["detail-type"] = json!("Audit Grant Approved");
                e
            },
            "invalid_request",
            Some("detail-type"),
        ),
        (
            json!({"action": "delete-everything"}),
            "invalid_request",
            Some("action"),
        ),
        (json!({"hello": "world"}), "invalid_request", None),
        (json!("sweep"), "invalid_request", None),
    ];
    for (e, code, field) in cases {
        let out = handle_event(&env.function, e.clone(), None)
            .await
            .unwrap_or_else(|err| panic!("{e}: a rejection is a result, not a failure: {err}"));
        assert_eq!(out["error"]["code"], code, "{e} -> {out}");
        assert_eq!(out["error"]["field"].as_str(), field, "{e} -> {out}");
        assert_eq!(env.snapshot().await, (vec![], 0), "{e} changed something");
    }
}
