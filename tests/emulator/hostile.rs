//! A corpus of hostile requests, sent through the real handler (as EventBridge
//! events and as signed webhooks) against the emulator: every one is refused
//! with a clear error and none changes IAM or DynamoDB.

use crate::common;

use audit_grants::lambda::handle_event;
use common::*;
use serde_json::{Value, json};

/// Values that must never be accepted in `field`.
fn hostile_values() -> Vec<(&'static str, Value)> {
    let long = |n: usize| "A".repeat(n);
    let mut v: Vec<(&'static str, Value)> = vec![];
    for t in [
        "",
        " ",
        "AUD 1",
        "AUD\n1",
        "AUD\u{0}1",
        "AUD\t",
        "AUD#1",
        "AUD?1",
        "AUD*",
        "AUD%2F1",
        "AUD;rm -rf",
        "AUD'1",
        "AUD\"1",
        "<script>",
        "AUD\u{202e}1",
        "ＡＵＤ-1",
        "AUD‐1",
        "$(id)",
        "`id`",
        "AUD\\1",
        "AUD@1",
        "AUD,1",
        "AUD=1",
        "AUD+1",
        "AUD~1",
        "AUD|1",
        "AUD&1",
    ] {
        v.push(("ticket", json!(t)));
    }
    v.push(("ticket", json!(long(129))));
    v.push(("ticket", json!(42)));
    v.push(("ticket", json!(["AUD-1"])));
    v.push(("ticket", json!({"S": "AUD-1"})));
    v.push(("ticket", json!(true)));
    for r in ["", "a\u{0}b", "line\ninjection", "x\u{1b}[31m", "\u{7f}"] {
        v.push(("requested_by", json!(r)));
    }
    v.push(("requested_by", json!(long(257))));
    v.push(("requested_by", json!(null)));
    for a in [
        "",
        "21098765432",
        "2109876543210",
        "21098765432a",
        "-10987654321",
        "210987654321 ",
        " 210987654321",
        "２１０９８７６５４３２１",
        "0x0000000000",
        "1e11",
        "210987654321\n",
        "*",
    ] {
        v.push(("auditor_account", json!(a)));
    }
    v.push(("auditor_account", json!(210987654321u64)));
    v.push(("auditor_account", json!("123456789012"))); // the target itself
    let principals: Vec<Value> = [
        "*",
        "arn:aws:iam::*:root",
        "arn:aws:iam::210987654321:*",
        "arn:aws:iam::210987654321:role/*",
        "arn:aws:iam::210987654321:role/Audit*",
        "arn:aws:iam::210987654321:role/Audit?r",
        "arn:aws:iam::210987654321:user/*",
        "arn:aws:iam::210987654321:role/%2A",
        "arn:aws:iam::210987654321:role/∗",
        "arn:aws:iam::210987654321:group/auditors",
        "arn:aws:iam::210987654321:saml-provider/okta",
        "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
        "arn:aws:sts::210987654321:assumed-role/ExternalAuditor/session",
        "arn:aws:sts::210987654321:federated-user/bob",
        "arn:aws:iam::999999999999:role/ExternalAuditor",
        "arn:aws:iam::123456789012:role/Admin",
        "arn:aws-cn:iam::210987654321:role/ExternalAuditor",
        "arn:aws:iam:us-east-1:210987654321:role/ExternalAuditor",
        "arn:aws:iam::210987654321:role/",
        "arn:aws:iam::210987654321:role//x",
        "arn:aws:iam::210987654321:role/a b",
        "arn:aws:iam::210987654321:rootx",
        "arn:aws:iam::210987654321:root/",
        "ec2.amazonaws.com",
        "lambda.amazonaws.com",
        "cognito-identity.amazonaws.com",
        "210987654321",
        "arn:aws:iam::210987654321",
        " arn:aws:iam::210987654321:root",
        "arn:aws:iam::210987654321:root\n",
        "",
    ]
    .iter()
    .map(|p| json!([p]))
    .collect();
    for p in principals {
        v.push(("principals", p));
    }
    v.push(("principals", json!([])));
    v.push(("principals", json!("arn:aws:iam::210987654321:root")));
    v.push(("principals", json!({"AWS": "*"})));
    v.push(("principals", json!([null])));
    v.push(("principals", json!([["arn:aws:iam::210987654321:root"]])));
    v.push((
        "principals",
        json!([
            "arn:aws:iam::210987654321:root",
            "arn:aws:iam::210987654321:root"
        ]),
    ));
    v.push((
        "principals",
        json!(
            (0..6)
                .map(|i| format!("arn:aws:iam::210987654321:user/u{i}"))
                .collect::<Vec<_>>()
        ),
    ));
    v.push((
        "principals",
        json!(
            (0..1000)
                .map(|i| format!("arn:aws:iam::210987654321:user/u{i}"))
                .collect::<Vec<_>>()
        ),
    ));
    for e in [
        "a",
        "has space",
        "semi;colon",
        "quote\"",
        "new\nline",
        "\u{0}\u{0}",
        "é€",
    ] {
        v.push(("external_id", json!(e)));
    }
    v.push(("external_id", json!(long(1225))));
    v.push(("external_id", json!(123456)));
    for a in [
        "admin",
        "AdministratorAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "Security-Audit",
        "security-audit ",
        "security_audit",
        "*",
        "",
        "read-only,admin",
    ] {
        v.push(("access", json!(a)));
    }
    v.push(("access", json!(["security-audit", "admin"])));
    for s in [
        "yesterday",
        "2026-11-01T00:00:00Z",
        "2027-06-01T00:00:00Z",
        "2026-12-01",
        "2026-12-01 09:00:00",
        "1796112000",
        "2026-13-01T00:00:00Z",
        "2026-12-32T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "-2026-12-01T00:00:00Z",
        "2026-12-01T09:00:00",
    ] {
        v.push(("start", json!(s)));
    }
    for d in [
        "",
        "0s",
        "0d",
        "-1h",
        "+1h",
        "1.5h",
        "1w",
        "1y",
        "P3D",
        "PT72H",
        "72",
        "h",
        "1h1h",
        "30m1h",
        "31d",
        "30d1s",
        "720h1s",
        "99999999999999999999s",
        "1e3s",
        "1H",
        " 1h",
        "1h ",
        "1 h",
        "∞",
    ] {
        v.push(("duration", json!(d)));
    }
    v.push(("duration", json!(3600)));
    for t in [
        "",
        "abc",
        "12345678901",
        "123456789012a",
        "*",
        "222222222222",
    ] {
        v.push(("target_account", json!(t)));
    }
    v.push(("reason", json!(long(1025))));
    v.push(("reason", json!("bad\u{0}reason")));
    v.push(("reason", json!(["x"])));
    v
}

/// Whole requests that are wrong in shape.
fn hostile_shapes() -> Vec<Value> {
    let mut base = request("AUD-SHAPE");
    let mut v = vec![
        json!(null),
        json!("AUD-1"),
        json!(42),
        json!([request("AUD-ARRAY")]),
        json!({}),
    ];
    for extra in [
        "__proto__",
        "constructor",
        "role_arn",
        "policy_arn",
        "Principal",
        "admin",
        "ticket ",
        "Ticket",
        "",
    ] {
        let mut r = base.clone();
        r[extra] = json!("x");
        v.push(r);
    }
    base["end"] = json!("2026-12-20T00:00:00Z");
    v.push(base); // both end and duration
    v
}

async fn assert_refused(
    env: &TestEnv,
    before: &(Vec<String>, usize),
    what: &str,
    event: Value,
    http: bool,
) {
    let out = handle_event(&env.function, event, None)
        .await
        .unwrap_or_else(|e| panic!("{what}: a failure, not a rejection: {e}"));
    let (code, body) = if http {
        let (status, body) = http_result(&out);
        assert!((400..500).contains(&status), "{what}: HTTP {status} {body}");
        (body["error"]["code"].as_str().map(str::to_owned), body)
    } else {
        (out["error"]["code"].as_str().map(str::to_owned), out)
    };
    assert!(code.is_some(), "{what}: accepted: {body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{what}: a clear message"
    );
    assert_eq!(
        &env.snapshot().await,
        before,
        "{what}: changed IAM or DynamoDB"
    );
}

/// Sends `request` as an EventBridge grant request and as a signed webhook.
async fn refused_both_ways(
    env: &TestEnv,
    before: &(Vec<String>, usize),
    what: &str,
    request: Value,
) -> usize {
    let mut ev = event("grant-request.json");
    ev["detail"] = request.clone();
    assert_refused(env, before, what, ev, false).await;
    let body = serde_json::to_vec(&request).unwrap();
    assert_refused(
        env,
        before,
        what,
        http_event("POST", "/grants", &body, None),
        true,
    )
    .await;
    2
}

#[tokio::test]
async fn the_hostile_corpus_is_refused_and_changes_nothing() {
    let env = TestEnv::at("2026-12-01T08:00:00Z").await;
    let before = env.snapshot().await;
    let mut cases = 0;
    for (field, value) in hostile_values() {
        let mut req = request(&format!("AUD-H{cases}"));
        req[field] = value.clone();
        cases += refused_both_ways(&env, &before, &format!("{field} = {value}"), req).await;
    }
    for shape in hostile_shapes() {
        cases += refused_both_ways(&env, &before, &format!("shape {shape}"), shape).await;
    }
    eprintln!("hostile corpus: {cases} requests refused, IAM and DynamoDB unchanged");
    assert!(cases >= 300, "{cases}");
}
