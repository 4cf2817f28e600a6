//! `check-access` through the real SDK clients, with AWS's answers in their
//! real wire formats (STS and IAM: query protocol XML; DynamoDB, EventBridge,
//! Secrets Manager: JSON) served by an in-process HTTP client: every failure
//! the auditor can meet, in milliseconds, with no network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::test_util::infallible_client_fn;
use chrono::{DateTime, Utc};

use super::*;
use crate::domain::parse_timestamp;

const ROLE: &str = "arn:aws:iam::123456789012:role/audit-grants/AUD-1042";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-12-02T09:00:00Z").unwrap()
}

/// One recorded answer: status, body, and (JSON protocols) the error type header.
#[derive(Clone)]
struct Answer(u16, String);

fn query_error(ns: &str, status: u16, code: &str, message: &str) -> Answer {
    Answer(
        status,
        format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>4d1b7e2a-0c55-4d0f-9d2f-1b2e3c4d5e6f</RequestId></ErrorResponse>"
        ),
    )
}

fn sts_error(status: u16, code: &str, message: &str) -> Answer {
    query_error(STS_NS, status, code, message)
}

fn json_error(code: &str, message: &str) -> Answer {
    Answer(
        400,
        format!("{{\"__type\":\"com.amazon.coral.service#{code}\",\"Message\":\"{message}\"}}"),
    )
}

fn query_ok(op: &str, ns: &str, result: &str) -> Answer {
    Answer(
        200,
        format!(
            "<{op}Response xmlns=\"{ns}\"><{op}Result>{result}</{op}Result>\
             <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></{op}Response>"
        ),
    )
}

/// Every answer of a working grant.
fn as_granted() -> HashMap<&'static str, Answer> {
    HashMap::from([
        (
            "GetCallerIdentity",
            query_ok(
                "GetCallerIdentity",
                STS_NS,
                &format!(
                    "<Arn>{ALICE}</Arn><UserId>AIDASAMPLEUSERID</UserId><Account>111122223333</Account>"
                ),
            ),
        ),
        (
            "AssumeRole",
            query_ok(
                "AssumeRole",
                STS_NS,
                "<SourceIdentity>alice</SourceIdentity><AssumedRoleUser>\
                 <Arn>arn:aws:sts::123456789012:assumed-role/AUD-1042/audit-AUD-1042</Arn>\
                 <AssumedRoleId>AROA3XFRBF535PLBIFPI4:audit-AUD-1042</AssumedRoleId></AssumedRoleUser>\
                 <Credentials><AccessKeyId>ASIAJEXAMPLEXEG2JICEA</AccessKeyId>\
                 <SecretAccessKey>9drTJvcXLB89EXAMPLELB8923FB892xMFI</SecretAccessKey>\
                 <SessionToken>AQoXdzELDDY//////////wEaoAK1wvxJY12r2IrDFT2IvAzTCn3zHoZ7YNtpiQLF0MqZye/qwjzP2iEXAMPLE</SessionToken>\
                 <Expiration>2026-12-02T10:00:00Z</Expiration></Credentials>",
            ),
        ),
        (
            "ListRoleTags",
            query_ok(
                "ListRoleTags",
                IAM_NS,
                "<IsTruncated>false</IsTruncated><Tags>\
                 <member><Key>audit-grants:ticket</Key><Value>AUD-1042</Value></member>\
                 <member><Key>audit-grants:expires-at</Key><Value>2026-12-04T09:00:00Z</Value></member></Tags>",
            ),
        ),
        (
            "GetAccountSummary",
            query_ok(
                "GetAccountSummary",
                IAM_NS,
                "<SummaryMap><entry><key>Roles</key><value>3</value></entry></SummaryMap>",
            ),
        ),
        (
            "ListRoles",
            query_ok(
                "ListRoles",
                IAM_NS,
                "<IsTruncated>false</IsTruncated><Roles/>",
            ),
        ),
        ("ListTables", Answer(200, "{\"TableNames\":[]}".into())),
        ("ListRules", Answer(200, "{\"Rules\":[]}".into())),
        (
            "GetSecretValue",
            json_error(
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/AUD-1042/audit-AUD-1042 is not \
                 authorized to perform: secretsmanager:GetSecretValue on resource: \
                 audit-grants/check-access-probe with an explicit deny in a permissions boundary",
            ),
        ),
        (
            "SimulatePrincipalPolicy",
            query_error(
                IAM_NS,
                403,
                "AccessDenied",
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
                 iam:SimulatePrincipalPolicy on resource: user alice because no \
                 identity-based policy allows the iam:SimulatePrincipalPolicy action",
            ),
        ),
    ])
}

/// Requests as sent: operation and body.
type Sent = Arc<Mutex<Vec<(String, String)>>>;

/// An SDK configuration whose HTTP client answers from `answers`, by
/// operation (the query protocol's `Action`, or the JSON protocols' target).
async fn aws(answers: HashMap<&'static str, Answer>) -> (SdkConfig, Sent) {
    let sent: Sent = Arc::default();
    let log = sent.clone();
    let client =
        infallible_client_fn(move |req: http::Request<aws_smithy_types::body::SdkBody>| {
            let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).to_string();
            let op = match req.headers().get("x-amz-target") {
                Some(t) => t.to_str().unwrap().rsplit('.').next().unwrap().to_owned(),
                None => body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .unwrap_or_default()
                    .to_owned(),
            };
            log.lock().unwrap().push((op.clone(), body));
            let Answer(status, text) = answers
                .get(op.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("no answer recorded for {op}"));
            let json = req.headers().contains_key("x-amz-target");
            http::Response::builder()
                .status(status)
                .header(
                    "content-type",
                    if json {
                        "application/x-amz-json-1.1"
                    } else {
                        "text/xml"
                    },
                )
                .body(text)
                .unwrap()
        });
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(client)
        .endpoint_url("http://127.0.0.1:9")
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .load()
        .await;
    (conf, sent)
}

fn target(window: Option<(&str, &str)>) -> Target {
    Target {
        profile: Some("audit-AUD-1042".into()),
        role_arn: ROLE.into(),
        account: "123456789012".into(),
        external_id: "f2c4e9a1b7d04c6e".into(),
        session_name: "audit-AUD-1042".into(),
        region: Some("eu-west-1".into()),
        window: window.map(|(s, e)| KnownWindow {
            start: parse_timestamp(s).unwrap(),
            end: parse_timestamp(e).unwrap(),
        }),
        source: Source::Default,
    }
}

async fn run(answers: HashMap<&'static str, Answer>, t: Target) -> (AccountReport, Sent) {
    let (conf, sent) = aws(answers).await;
    (check_one(&conf, &t, None, now()).await, sent)
}

fn findings(r: &AccountReport) -> Vec<Finding> {
    r.problems.iter().map(|p| p.finding).collect()
}

/// STS's refusal that names no reason: trust, external ID, window, a deleted role.
fn trust_refusal() -> Answer {
    sts_error(
        403,
        "AccessDenied",
        &format!("User: {ALICE} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"),
    )
}

#[tokio::test]
async fn access_as_granted_says_who_until_when_and_what_was_tried() {
    let (r, sent) = run(as_granted(), target(None)).await;
    assert!(r.ok, "{:?}", r.problems);
    assert_eq!(r.caller.as_deref(), Some(ALICE));
    assert_eq!(
        r.assumed.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/AUD-1042/audit-AUD-1042")
    );
    assert_eq!(r.ends_at.as_deref(), Some("2026-12-04T09:00:00Z"));
    assert_eq!(r.seconds_left, Some(48 * 3600));
    assert_eq!(r.reads.len(), TYPICAL_READS.len());
    assert!(r.reads.iter().all(|p| p.outcome == "allowed"));
    assert_eq!(r.data_read.as_ref().unwrap().outcome, "refused");
    // Assumed as the profile does, with the caller's name as source identity.
    let sent = sent.lock().unwrap();
    let assume = &sent.iter().find(|(op, _)| op == "AssumeRole").unwrap().1;
    for part in [
        "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Faudit-grants%2FAUD-1042",
        "RoleSessionName=audit-AUD-1042",
        "ExternalId=f2c4e9a1b7d04c6e",
        "SourceIdentity=alice",
    ] {
        assert!(assume.contains(part), "{part} in {assume}");
    }
    let tags = &sent.iter().find(|(op, _)| op == "ListRoleTags").unwrap().1;
    assert!(tags.contains("RoleName=AUD-1042"), "{tags}");
    let report = CheckReport {
        ok: true,
        checked_at: "x".into(),
        accounts: vec![r],
    };
    let text = render(&report, now());
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("123456789012  ok")
            && first.contains("until 2026-12-04T09:00:00Z (2d 0h left)")
            && first.contains("reads 4/4 allowed")
            && first.contains("data read refused"),
        "{text}"
    );
    assert!(text.ends_with("access is as granted\n"));
}

#[tokio::test]
async fn the_callers_own_policy_is_named_from_stss_reason() {
    let mut a = as_granted();
    a.insert(
        "AssumeRole",
        sts_error(
            403,
            "AccessDenied",
            &format!(
                "User: {ALICE} is not authorized to perform: sts:AssumeRole on resource: {ROLE} \
                 because no identity-based policy allows the sts:AssumeRole action"
            ),
        ),
    );
    let (r, _) = run(a, target(None)).await;
    assert!(!r.ok);
    assert_eq!(findings(&r), [Finding::OwnPolicy]);
    assert!(r.problems[0].fix.contains("auditor_policy"));
    assert!(r.reads.is_empty() && r.assumed.is_none());
}

#[tokio::test]
async fn the_callers_own_policy_is_found_by_simulation_when_sts_gives_no_reason() {
    let mut a = as_granted();
    a.insert("AssumeRole", trust_refusal());
    a.insert(
        "SimulatePrincipalPolicy",
        query_ok(
            "SimulatePrincipalPolicy",
            IAM_NS,
            &format!(
                "<IsTruncated>false</IsTruncated><EvaluationResults><member>\
                 <EvalActionName>sts:AssumeRole</EvalActionName><EvalResourceName>{ROLE}</EvalResourceName>\
                 <EvalDecision>implicitDeny</EvalDecision><MatchedStatements/><MissingContextValues/>\
                 </member></EvaluationResults>"
            ),
        ),
    );
    let (r, sent) = run(
        a,
        target(Some(("2026-12-01T09:00:00Z", "2026-12-04T09:00:00Z"))),
    )
    .await;
    assert_eq!(findings(&r), [Finding::OwnPolicy]);
    let sent = sent.lock().unwrap();
    let sim = &sent
        .iter()
        .find(|(op, _)| op == "SimulatePrincipalPolicy")
        .unwrap()
        .1;
    assert!(sim.contains("PolicySourceArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Auser%2Falice"));
}

#[tokio::test]
async fn a_refusal_outside_the_window_says_not_yet_or_over() {
    let mut a = as_granted();
    a.insert("AssumeRole", trust_refusal());
    let (r, _) = run(
        a.clone(),
        target(Some(("2026-12-03T09:00:00Z", "2026-12-05T09:00:00Z"))),
    )
    .await;
    assert_eq!(findings(&r), [Finding::WindowNotStarted]);
    assert!(
        r.problems[0]
            .fix
            .contains("opens at 2026-12-03T09:00:00Z (in 1d 0h)")
    );
    let (r, _) = run(
        a,
        target(Some(("2026-11-28T09:00:00Z", "2026-12-01T09:00:00Z"))),
    )
    .await;
    assert_eq!(findings(&r), [Finding::WindowOver]);
}

#[tokio::test]
async fn a_refusal_inside_the_window_points_at_the_external_id_and_revocation() {
    let mut a = as_granted();
    a.insert("AssumeRole", trust_refusal());
    let (r, _) = run(
        a,
        target(Some(("2026-12-01T09:00:00Z", "2026-12-04T09:00:00Z"))),
    )
    .await;
    assert_eq!(findings(&r), [Finding::RoleRefused]);
    let fix = &r.problems[0].fix;
    assert!(fix.contains("external ID") && fix.contains("\"f2c4\"") && fix.contains("revoked"));
    assert!(
        fix.contains("could not be checked"),
        "the simulation was refused: {fix}"
    );
    assert!(
        r.problems[0]
            .aws
            .as_ref()
            .unwrap()
            .starts_with("AccessDenied: User: ")
    );
}

#[tokio::test]
async fn a_malformed_external_id_gets_stss_validation_error() {
    let mut a = as_granted();
    a.insert(
        "AssumeRole",
        sts_error(
            400,
            "ValidationError",
            "1 validation error detected: Value 'f2c4 e9' at 'externalId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
        ),
    );
    let (r, _) = run(a, target(None)).await;
    assert_eq!(findings(&r), [Finding::ExternalIdMalformed]);
}

#[tokio::test]
async fn throttling_after_the_sdks_retries_says_run_again() {
    let mut a = as_granted();
    a.insert("AssumeRole", sts_error(400, "Throttling", "Rate exceeded"));
    let (r, sent) = run(a, target(None)).await;
    assert_eq!(findings(&r), [Finding::Throttled]);
    let attempts = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(op, _)| op == "AssumeRole")
        .count();
    assert_eq!(attempts, 2, "the SDK retried before giving up");
}

#[tokio::test]
async fn a_role_iam_no_longer_has_says_access_ended() {
    let mut a = as_granted();
    a.insert(
        "ListRoleTags",
        query_error(
            IAM_NS,
            404,
            "NoSuchEntity",
            "The role with name AUD-1042 cannot be found.",
        ),
    );
    let (r, _) = run(a, target(None)).await;
    assert!(!r.ok);
    assert_eq!(findings(&r), [Finding::RoleMissing]);
    assert!(r.problems[0].fix.contains("does not exist"));
}

#[tokio::test]
async fn bad_own_credentials_stop_before_the_assume() {
    let mut a = as_granted();
    a.insert(
        "GetCallerIdentity",
        sts_error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    );
    let (r, sent) = run(a, target(None)).await;
    assert_eq!(findings(&r), [Finding::Credentials]);
    assert!(
        !sent
            .lock()
            .unwrap()
            .iter()
            .any(|(op, _)| op == "AssumeRole")
    );
}

#[tokio::test]
async fn a_refused_preset_read_and_an_allowed_data_read_both_fail_the_check() {
    let mut a = as_granted();
    a.insert(
        "ListTables",
        json_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/AUD-1042/audit-AUD-1042 is not \
             authorized to perform: dynamodb:ListTables on resource: * with an explicit deny \
             in a service control policy",
        ),
    );
    a.insert(
        "GetSecretValue",
        json_error(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        ),
    );
    let (r, _) = run(a, target(None)).await;
    assert!(!r.ok);
    assert_eq!(
        findings(&r),
        [Finding::ReadRefused, Finding::DataReadAllowed]
    );
    let refused: Vec<_> = r
        .reads
        .iter()
        .filter(|p| p.outcome == "refused")
        .map(|p| p.action.as_str())
        .collect();
    assert_eq!(refused, ["dynamodb:ListTables"]);
    assert_eq!(r.data_read.as_ref().unwrap().outcome, "allowed");
}

#[tokio::test]
async fn several_accounts_give_one_line_each_and_fail_together() {
    let (good, _) = aws(as_granted()).await;
    let mut a = as_granted();
    a.insert("AssumeRole", trust_refusal());
    let (bad, _) = aws(a).await;
    let mut other = target(Some(("2026-12-01T09:00:00Z", "2026-12-04T09:00:00Z")));
    other.account = "444455556666".into();
    other.role_arn = ROLE.replace("123456789012", "444455556666");
    let report = check(&[(target(None), good), (other, bad)], None, now()).await;
    assert!(!report.ok);
    let text = render(&report, now());
    let heads: Vec<_> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(heads.len(), 3, "{text}");
    assert!(heads[0].starts_with("123456789012  ok"));
    assert!(heads[1].starts_with("444455556666  FAILED"));
    assert!(heads[2].starts_with("access is NOT as granted"));
    let json = crate::service::to_json(&report);
    assert_eq!(
        json["accounts"][1]["problems"][0]["finding"],
        "role_refused"
    );
    assert_eq!(json["ok"], false);
}
