//! Ticketing-system webhooks over HTTP (API Gateway HTTP API and Function URL),
//! against the emulator: routes, authentication, the HTTP contract, replays and
//! hostile input that must change nothing.

use crate::common;

use audit_grants::lambda::handle_event;
use audit_grants::lambda::webhook_auth::sign;
use common::*;
use serde_json::{Value, json};

async fn call(env: &TestEnv, event: Value) -> (u64, Value) {
    let response = handle_event(&env.function, event, None)
        .await
        .expect("HTTP requests always get a response");
    http_result(&response)
}

#[tokio::test]
async fn every_signed_sample_runs_its_route() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    for kind in ["apigw", "url"] {
        let (status, created) = call(&env, event(&format!("http-{kind}-create.json"))).await;
        assert_eq!(status, 201, "{kind}: {created}");
        assert_eq!(created["status"], "active");
        assert!(created["external_id"].as_str().unwrap().len() >= 32);
        assert!(
            created["aws_config_profile"]
                .as_str()
                .unwrap()
                .contains("role_arn = ")
        );
        let ticket = created["ticket"].as_str().unwrap().to_owned();

        let (status, shown) = call(&env, event(&format!("http-{kind}-show.json"))).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["ticket"], ticket.as_str());
        assert!(
            shown.get("external_id").is_none(),
            "a GET leaves out the external ID"
        );
        assert!(shown.get("aws_config_profile").is_none());

        let (status, extended) = call(&env, event(&format!("http-{kind}-extend.json"))).await;
        assert_eq!(status, 200, "{extended}");
        assert_eq!(extended["end"], "2026-12-06T17:00:00Z");

        let (status, revoked) = call(&env, event(&format!("http-{kind}-revoke.json"))).await;
        assert_eq!(status, 200, "{revoked}");
        assert_eq!(revoked["status"], "revoked");
    }
    let (status, created) = call(&env, event("http-url-create-bearer.json")).await;
    assert_eq!(
        status, 201,
        "a bearer token is accepted when configured: {created}"
    );
    let mut roles = env.roles().await;
    roles.sort();
    assert_eq!(
        roles,
        vec![
            audit_grants::domain::Ticket::parse("AUD-2003")
                .unwrap()
                .role_name()
        ]
    );
}

#[tokio::test]
async fn replays_are_harmless() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    let (first, created) = call(&env, event("http-apigw-create.json")).await;
    assert_eq!(first, 201);
    let (again, replay) = call(&env, event("http-apigw-create.json")).await;
    assert_eq!(again, 200, "a replayed grant is unchanged");
    assert_eq!(replay, created);

    let (status, revoked) = call(&env, event("http-apigw-revoke.json")).await;
    assert_eq!(status, 200);
    let before = env.snapshot().await;
    let (status, replayed) = call(&env, event("http-apigw-revoke.json")).await;
    assert_eq!(status, 200, "a replayed revoke is a no-op");
    assert_eq!(replayed, revoked);
    // A replayed grant can never resurrect an ended one.
    let (status, body) = call(&env, event("http-apigw-create.json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ticket_ended"))
    );
    // Nor can an extend.
    let (status, body) = call(&env, event("http-apigw-extend.json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn http_status_codes_follow_the_contract() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    let grant = serde_json::to_vec(&request("AUD-HTTP")).unwrap();
    assert_eq!(
        call(&env, http_event("POST", "/grants", &grant, None))
            .await
            .0,
        201
    );
    assert_eq!(
        call(&env, http_event("POST", "/grants", &grant, None))
            .await
            .0,
        200
    );
    let mut other = request("AUD-HTTP");
    other["access"] = json!("read-only");
    let other = serde_json::to_vec(&other).unwrap();
    let (status, body) = call(&env, http_event("POST", "/grants", &other, None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, body) = call(&env, http_event("GET", "/grants/AUD-NONE", b"", None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = call(
        &env,
        http_event(
            "POST",
            "/grants/AUD-NONE/revoke",
            &change_body("AUD-NONE", env.now(), json!({})),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    // The GET token (a signature over the empty body) cannot revoke.
    let get_token = sign(DEMO_SECRET.as_bytes(), b"");
    let (status, body) = call(
        &env,
        http_event("POST", "/grants/AUD-HTTP/revoke", b"", Some(&get_token)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    // The reason is optional.
    let (status, body) = call(
        &env,
        http_event(
            "POST",
            "/grants/AUD-HTTP/revoke",
            &change_body("AUD-HTTP", env.now(), json!({})),
            None,
        ),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")));
}

#[tokio::test]
async fn hostile_requests_are_refused_and_change_nothing() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    // One live grant, so that the path cases have something to aim at.
    let live = serde_json::to_vec(&request("AUD-LIVE")).unwrap();
    assert_eq!(
        call(&env, http_event("POST", "/grants", &live, None))
            .await
            .0,
        201
    );
    let before = env.snapshot().await;

    let grant = serde_json::to_vec(&request("AUD-EVIL")).unwrap();
    let good_sig = sign(DEMO_SECRET.as_bytes(), &grant);
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let big = format!("{{\"ticket\":\"{}\"}}", "x".repeat(100 * 1024));
    let now = env.now();
    let revoke_other = change_body("AUD-OTHER", now, json!({"reason": "x"}));
    let revoke_live = change_body("AUD-LIVE", now, json!({"reason": "x"}));
    let stale = change_body("AUD-LIVE", now - chrono::Duration::minutes(6), json!({}));
    let early = change_body("AUD-LIVE", now + chrono::Duration::minutes(6), json!({}));
    let cases: Vec<(&str, Value, u64, &str)> = vec![
        (
            "missing signature",
            http_event("POST", "/grants", &grant, Some("")),
            401,
            "unauthorized",
        ),
        (
            "malformed signature",
            http_event("POST", "/grants", &grant, Some("md5=abc")),
            401,
            "unauthorized",
        ),
        (
            "signature of the wrong length",
            http_event(
                "POST",
                "/grants",
                &grant,
                Some(&good_sig[..good_sig.len() - 4]),
            ),
            401,
            "unauthorized",
        ),
        (
            "wrong signature",
            http_event(
                "POST",
                "/grants",
                &grant,
                Some(&sign(b"not-the-secret-at-all", &grant)),
            ),
            401,
            "unauthorized",
        ),
        (
            "signature over a different body",
            http_event(
                "POST",
                "/grants",
                &grant,
                Some(&sign(DEMO_SECRET.as_bytes(), b"{}")),
            ),
            401,
            "unauthorized",
        ),
        (
            "bearer token that is wrong",
            {
                let mut e = http_event("POST", "/grants", &grant, Some(""));
                e["headers"]["authorization"] = json!("Bearer guess-guess-guess-guess");
                e
            },
            401,
            "unauthorized",
        ),
        (
            "empty body",
            http_event("POST", "/grants", b"", None),
            400,
            "invalid_request",
        ),
        (
            "not JSON",
            http_event("POST", "/grants", b"ticket=AUD-1", None),
            400,
            "invalid_request",
        ),
        (
            "JSON that is not an object",
            http_event("POST", "/grants", b"[\"AUD-1\"]", None),
            400,
            "invalid_request",
        ),
        (
            "deeply nested JSON",
            http_event("POST", "/grants", nested.as_bytes(), None),
            400,
            "invalid_request",
        ),
        (
            "100 KiB body",
            http_event("POST", "/grants", big.as_bytes(), None),
            413,
            "payload_too_large",
        ),
        (
            "100 KiB body without a signature",
            http_event("POST", "/grants", big.as_bytes(), Some("")),
            413,
            "payload_too_large",
        ),
        (
            "invalid UTF-8",
            http_event("POST", "/grants", b"{\"ticket\":\"\xff\xfe\"}", None),
            400,
            "invalid_request",
        ),
        (
            "ticket in the path differs from the body",
            http_event("POST", "/grants/AUD-LIVE/revoke", &revoke_other, None),
            400,
            "invalid_field",
        ),
        (
            "a revoke body that does not name its ticket",
            http_event(
                "POST",
                "/grants/AUD-LIVE/revoke",
                br#"{"reason":"x"}"#,
                None,
            ),
            400,
            "missing_field",
        ),
        (
            "a signed body captured more than 5 minutes ago",
            http_event("POST", "/grants/AUD-LIVE/revoke", &stale, None),
            400,
            "stale_request",
        ),
        (
            "a signed body dated more than 5 minutes ahead",
            http_event("POST", "/grants/AUD-LIVE/revoke", &early, None),
            400,
            "stale_request",
        ),
        (
            "a signed extend body replayed on the revoke route",
            http_event(
                "POST",
                "/grants/AUD-LIVE/revoke",
                &change_body("AUD-LIVE", now, json!({"end": "2026-12-02T00:00:00Z"})),
                None,
            ),
            400,
            "unknown_field",
        ),
        (
            "path traversal",
            http_event("POST", "/grants/../grants/AUD-LIVE/revoke", b"{}", None),
            404,
            "not_found",
        ),
        (
            "dot segment ticket",
            http_event("POST", "/grants/../revoke", b"{}", None),
            400,
            "invalid_field",
        ),
        (
            "an encoded slash names another ticket, never another route",
            http_event(
                "POST",
                "/grants/AUD-LIVE%2F..%2Fx/revoke",
                &revoke_live,
                None,
            ),
            400,
            "invalid_field",
        ),
        (
            "a double-encoded ticket",
            http_event("GET", "/grants/AUD%252FLIVE", b"", None),
            400,
            "invalid_field",
        ),
        (
            "unknown route",
            http_event("POST", "/admin/grants", b"{}", None),
            404,
            "not_found",
        ),
        (
            "HEAD",
            http_event("HEAD", "/grants/AUD-LIVE", b"", None),
            405,
            "invalid_request",
        ),
        (
            "PUT",
            http_event("PUT", "/grants/AUD-LIVE", &grant, None),
            405,
            "invalid_request",
        ),
        (
            "DELETE",
            http_event("DELETE", "/grants/AUD-LIVE", b"", None),
            405,
            "invalid_request",
        ),
        (
            "GET on the collection",
            http_event("GET", "/grants", b"", None),
            405,
            "invalid_request",
        ),
        (
            "unknown field in a revoke",
            http_event(
                "POST",
                "/grants/AUD-LIVE/revoke",
                &change_body("AUD-LIVE", now, json!({"force": true})),
                None,
            ),
            400,
            "unknown_field",
        ),
        (
            "extend without an end",
            http_event(
                "POST",
                "/grants/AUD-LIVE/extend",
                &change_body("AUD-LIVE", now, json!({})),
                None,
            ),
            400,
            "missing_field",
        ),
        (
            "extend into the past",
            http_event(
                "POST",
                "/grants/AUD-LIVE/extend",
                &change_body("AUD-LIVE", now, json!({"end": "2026-11-01T00:00:00Z"})),
                None,
            ),
            400,
            "invalid_field",
        ),
        (
            "extend past the maximum",
            http_event(
                "POST",
                "/grants/AUD-LIVE/extend",
                &change_body("AUD-LIVE", now, json!({"end": "2027-01-15T00:00:00Z"})),
                None,
            ),
            400,
            "invalid_field",
        ),
        (
            "bad base64",
            {
                let mut e = http_event("POST", "/grants", &grant, None);
                e["body"] = json!("%%%not-base64%%%");
                e["isBase64Encoded"] = json!(true);
                e
            },
            400,
            "invalid_request",
        ),
    ];
    for (what, ev, status, code) in cases {
        let (got, body) = call(&env, ev).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
        assert_eq!(env.snapshot().await, before, "{what} changed something");
    }
    let g = env
        .service
        .get(&audit_grants::domain::Ticket::parse("AUD-LIVE").unwrap())
        .await
        .unwrap();
    assert_eq!(g.status, audit_grants::domain::GrantStatus::Active);
}

#[tokio::test]
async fn our_own_failures_are_500_without_internals() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    env.clients
        .dynamodb
        .delete_table()
        .table_name(&env.settings.table_name)
        .send()
        .await
        .unwrap();
    let grant = serde_json::to_vec(&request("AUD-500")).unwrap();
    let response = handle_event(
        &env.function,
        http_event("POST", "/grants", &grant, None),
        None,
    )
    .await
    .unwrap();
    let (status, body) = http_result(&response);
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "internal");
    let text = response["body"].as_str().unwrap().to_lowercase();
    for internal in ["dynamodb", "resourcenotfound", "table", "arn:", "getitem"] {
        assert!(!text.contains(internal), "{text}");
    }
    assert!(env.roles().await.is_empty());
}

#[tokio::test]
async fn the_secret_can_come_from_secrets_manager_fetched_once() {
    let account = fresh_account();
    let calls = CallLog::default();
    let clients = clients_in(&account, &calls).await;
    let secret = clients
        .secrets
        .create_secret()
        .name("audit-grants/webhook")
        .secret_string(
            json!({"hmac": ["rotated-new-secret-0001-0123456789", DEMO_SECRET]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let arn = secret.arn().unwrap().to_owned();
    let mut settings = settings_for(&account, &[]);
    settings.webhook_secret = Some(audit_grants::config::WebhookSecretSource::SecretsManager(
        arn,
    ));
    let settings = std::sync::Arc::new(settings);
    audit_grants::wiring::setup(&clients, &settings)
        .await
        .unwrap();
    let identity: std::sync::Arc<dyn audit_grants::ports::CallerIdentity> = std::sync::Arc::new(
        audit_grants::aws::sts::StsIdentity::new(clients.sts.clone()),
    );
    let clock =
        TestClock::at(audit_grants::domain::parse_timestamp("2026-12-01T08:00:00Z").unwrap());
    let service = std::sync::Arc::new(TestEnv::service_over(
        &clients, &settings, &identity, &clock,
    ));
    let handler = audit_grants::lambda::Function {
        service,
        webhook_auth: std::sync::Arc::new(audit_grants::lambda::webhook_auth::WebhookAuth::new(
            &settings,
            clients.secrets.clone(),
        )),
    };
    calls.take();
    let body = serde_json::to_vec(&request("AUD-SM")).unwrap();
    // Signed with the new secret, then with the old one: both are valid during a rotation.
    let new_sig = sign(b"rotated-new-secret-0001-0123456789", &body);
    let r = handle_event(
        &handler,
        http_event("POST", "/grants", &body, Some(&new_sig)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(http_result(&r).0, 201, "{r}");
    let r = handle_event(
        &handler,
        http_event("GET", "/grants/AUD-SM", b"", None),
        None,
    )
    .await
    .unwrap();
    assert_eq!(http_result(&r).0, 200, "{r}");
    let bad = handle_event(
        &handler,
        http_event(
            "GET",
            "/grants/AUD-SM",
            b"",
            Some(&sign(b"x-wrong-secret-xxxx", b"")),
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(http_result(&bad).0, 401);
    let fetched = calls
        .calls()
        .iter()
        .filter(|c| *c == "secretsmanager:GetSecretValue")
        .count();
    assert_eq!(
        fetched,
        1,
        "fetched once per cold start: {:?}",
        calls.calls()
    );
}
