//! One test per rule of the contract's grant-request table.

use super::*;
use crate::domain::format_timestamp;
use serde_json::json;

const OWN: &str = "123456789012";

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-12-01T09:00:00Z").unwrap()
}

fn accounts(list: &[&str]) -> Vec<AccountId> {
    list.iter().map(|t| AccountId::parse(t).unwrap()).collect()
}

fn parse_with(req: &Value, targets: &[&str]) -> Result<GrantRequest> {
    parse_with_auditors(req, targets, &[])
}

fn parse_with_auditors(req: &Value, targets: &[&str], auditors: &[&str]) -> Result<GrantRequest> {
    let own = AccountId::parse(OWN).unwrap();
    let (targets, auditors) = (accounts(targets), accounts(auditors));
    let rules = RequestRules {
        now: now(),
        own_account: &own,
        partition: Partition::Aws,
        allowed_targets: &targets,
        allowed_auditors: &auditors,
        max_grant_duration: Duration::days(30),
    };
    GrantRequest::parse(&GrantRequestBody::from_json(req)?, &rules)
}

fn parse(req: &Value) -> Result<GrantRequest> {
    parse_with(req, &[])
}

fn valid() -> Value {
    json!({
        "ticket": "AUD-1042",
        "requested_by": "jane.doe@example.com",
        "auditor_account": "210987654321",
        "principals": ["arn:aws:iam::210987654321:role/ExternalAuditor"],
        "duration": "72h",
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut v = valid();
    v[field] = value;
    v
}

fn without(field: &str) -> Value {
    let mut v = valid();
    v.as_object_mut().unwrap().remove(field);
    v
}

#[track_caller]
fn rejects(req: Value, code: ErrorCode, field: &str) {
    let err = parse(&req).expect_err("must be rejected");
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(err.field_name(), Some(field), "{err}");
}

fn ts(d: Duration) -> String {
    format_timestamp(now() + d)
}

#[test]
fn a_minimal_request_gets_its_defaults() {
    let r = parse(&valid()).unwrap();
    assert_eq!(r.access, AccessPreset::SecurityAudit);
    assert_eq!(r.window.start(), now());
    assert_eq!(r.window.end(), now() + Duration::hours(72));
    assert_eq!(r.target_accounts[0].as_str(), OWN);
    assert!(r.external_id.as_str().len() >= 32);
    assert_eq!(r.reason, None);
}

#[test]
fn the_request_must_be_a_json_object() {
    for bad in [json!(null), json!("x"), json!([1]), json!(42)] {
        assert_eq!(parse(&bad).unwrap_err().code(), ErrorCode::InvalidRequest);
    }
}

#[test]
fn unknown_fields_are_rejected() {
    rejects(
        with("role_arn", json!("x")),
        ErrorCode::UnknownField,
        "role_arn",
    );
    rejects(
        with("Ticket", json!("x")),
        ErrorCode::UnknownField,
        "Ticket",
    );
}

#[test]
fn ticket_is_required_and_checked() {
    rejects(without("ticket"), ErrorCode::MissingField, "ticket");
    rejects(with("ticket", json!(42)), ErrorCode::InvalidField, "ticket");
    rejects(with("ticket", json!("")), ErrorCode::InvalidField, "ticket");
    rejects(
        with("ticket", json!("AUD 1")),
        ErrorCode::InvalidField,
        "ticket",
    );
    rejects(
        with("ticket", json!("A".repeat(129))),
        ErrorCode::InvalidField,
        "ticket",
    );
    assert!(parse(&with("ticket", json!("SNOW:CHG0042/a.b_c-1"))).is_ok());
}

#[test]
fn requested_by_is_required_1_to_256_chars() {
    rejects(
        without("requested_by"),
        ErrorCode::MissingField,
        "requested_by",
    );
    rejects(
        with("requested_by", json!("")),
        ErrorCode::InvalidField,
        "requested_by",
    );
    rejects(
        with("requested_by", json!("x".repeat(257))),
        ErrorCode::InvalidField,
        "requested_by",
    );
    rejects(
        with("requested_by", json!("a\nb")),
        ErrorCode::InvalidField,
        "requested_by",
    );
    assert!(
        parse(&with(
            "requested_by",
            json!("Jane Doe (Security) <jane@example.com>")
        ))
        .is_ok()
    );
    assert!(parse(&with("requested_by", json!("é".repeat(256)))).is_ok());
}

#[test]
fn auditor_account_is_exactly_12_digits_and_not_the_target() {
    rejects(
        without("auditor_account"),
        ErrorCode::MissingField,
        "auditor_account",
    );
    rejects(
        with("auditor_account", json!("2109876543")),
        ErrorCode::InvalidField,
        "auditor_account",
    );
    rejects(
        with("auditor_account", json!(210987654321u64)),
        ErrorCode::InvalidField,
        "auditor_account",
    );
    let mut own = with("auditor_account", json!(OWN));
    own["principals"] = json!([format!("arn:aws:iam::{OWN}:root")]);
    rejects(own, ErrorCode::InvalidField, "auditor_account");
}

#[test]
fn principals_are_1_to_5_distinct_arns_of_the_auditor_account() {
    rejects(without("principals"), ErrorCode::MissingField, "principals");
    rejects(
        with("principals", json!("arn:aws:iam::210987654321:root")),
        ErrorCode::InvalidField,
        "principals",
    );
    rejects(
        with("principals", json!([])),
        ErrorCode::InvalidField,
        "principals",
    );
    let six: Vec<String> = (0..6)
        .map(|i| format!("arn:aws:iam::210987654321:user/u{i}"))
        .collect();
    rejects(
        with("principals", json!(six)),
        ErrorCode::InvalidField,
        "principals",
    );
    let five: Vec<String> = (0..5)
        .map(|i| format!("arn:aws:iam::210987654321:user/u{i}"))
        .collect();
    assert_eq!(
        parse(&with("principals", json!(five)))
            .unwrap()
            .principals
            .len(),
        5
    );
    rejects(
        with("principals", json!(["arn:aws:iam::210987654321:root", 7])),
        ErrorCode::InvalidField,
        "principals[1]",
    );
    rejects(
        with(
            "principals",
            json!([
                "arn:aws:iam::210987654321:root",
                "arn:aws:iam::210987654321:root"
            ]),
        ),
        ErrorCode::InvalidField,
        "principals[1]",
    );
    rejects(
        with("principals", json!(["arn:aws:iam::111111111111:root"])),
        ErrorCode::InvalidField,
        "principals[0]",
    );
}

#[test]
fn principals_never_contain_wildcards_services_or_federation() {
    for bad in [
        "*",
        "arn:aws:iam::210987654321:*",
        "arn:aws:iam::210987654321:role/*",
        "arn:aws:iam::210987654321:role/Audit?",
        "arn:aws:iam::*:root",
        "cloudtrail.amazonaws.com",
        "arn:aws:iam::210987654321:saml-provider/idp",
        "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
        "arn:aws:sts::210987654321:federated-user/bob",
        "arn:aws:sts::210987654321:assumed-role/R/s",
    ] {
        rejects(
            with("principals", json!([bad])),
            ErrorCode::InvalidField,
            "principals[0]",
        );
    }
}

#[test]
fn principals_must_be_in_our_partition() {
    rejects(
        with("principals", json!(["arn:aws-cn:iam::210987654321:root"])),
        ErrorCode::InvalidField,
        "principals[0]",
    );
}

#[test]
fn external_id_is_2_to_1224_chars_of_its_alphabet() {
    assert_eq!(
        parse(&with("external_id", json!("ab")))
            .unwrap()
            .external_id
            .as_str(),
        "ab"
    );
    rejects(
        with("external_id", json!("a")),
        ErrorCode::InvalidField,
        "external_id",
    );
    rejects(
        with("external_id", json!("x".repeat(1225))),
        ErrorCode::InvalidField,
        "external_id",
    );
    rejects(
        with("external_id", json!("no spaces")),
        ErrorCode::InvalidField,
        "external_id",
    );
    rejects(
        with("external_id", json!(12345)),
        ErrorCode::InvalidField,
        "external_id",
    );
}

#[test]
fn access_is_one_of_the_presets_and_defaults_to_security_audit() {
    assert_eq!(
        parse(&with("access", json!("view-only"))).unwrap().access,
        AccessPreset::ViewOnly
    );
    assert_eq!(
        parse(&with("access", json!("read-only"))).unwrap().access,
        AccessPreset::ReadOnly
    );
    assert_eq!(
        parse(&with("access", json!(null))).unwrap().access,
        AccessPreset::SecurityAudit
    );
    rejects(
        with("access", json!("admin")),
        ErrorCode::InvalidField,
        "access",
    );
    rejects(
        with(
            "access",
            json!("arn:aws:iam::aws:policy/AdministratorAccess"),
        ),
        ErrorCode::InvalidField,
        "access",
    );
}

#[test]
fn start_may_be_at_most_5_minutes_past_and_90_days_ahead() {
    assert!(parse(&with("start", json!(ts(-Duration::minutes(5))))).is_ok());
    rejects(
        with(
            "start",
            json!(ts(-Duration::minutes(5) - Duration::seconds(1))),
        ),
        ErrorCode::InvalidField,
        "start",
    );
    assert!(parse(&with("start", json!(ts(Duration::days(90))))).is_ok());
    rejects(
        with(
            "start",
            json!(ts(Duration::days(90) + Duration::seconds(1))),
        ),
        ErrorCode::InvalidField,
        "start",
    );
    rejects(
        with("start", json!("2026-12-01")),
        ErrorCode::InvalidField,
        "start",
    );
}

#[test]
fn start_is_compared_with_now_at_whole_seconds() {
    let own = AccountId::parse(OWN).unwrap();
    let rules = RequestRules {
        now: now() + Duration::milliseconds(900),
        own_account: &own,
        partition: Partition::Aws,
        allowed_targets: &[],
        allowed_auditors: &[],
        max_grant_duration: Duration::days(30),
    };
    let req = with("start", json!(ts(-Duration::minutes(5))));
    let body = GrantRequestBody::from_json(&req).unwrap();
    assert!(GrantRequest::parse(&body, &rules).is_ok());
}

#[test]
fn exactly_one_of_end_and_duration() {
    rejects(without("duration"), ErrorCode::MissingField, "end");
    rejects(
        with("end", json!(ts(Duration::hours(1)))),
        ErrorCode::InvalidField,
        "duration",
    );
    let mut by_end = without("duration");
    by_end["end"] = json!(ts(Duration::hours(5)));
    assert_eq!(
        parse(&by_end).unwrap().window.end(),
        now() + Duration::hours(5)
    );
}

#[test]
fn end_must_follow_start() {
    let mut req = without("duration");
    req["start"] = json!(ts(Duration::hours(2)));
    req["end"] = json!(ts(Duration::hours(2)));
    rejects(req.clone(), ErrorCode::InvalidField, "end");
    req["end"] = json!(ts(Duration::hours(1)));
    rejects(req, ErrorCode::InvalidField, "end");
}

#[test]
fn the_window_is_at_most_max_grant_duration() {
    assert!(parse(&with("duration", json!("30d"))).is_ok());
    rejects(
        with("duration", json!("30d1s")),
        ErrorCode::InvalidField,
        "duration",
    );
    let mut req = without("duration");
    req["end"] = json!(ts(Duration::days(30) + Duration::seconds(1)));
    rejects(req, ErrorCode::InvalidField, "end");
}

#[test]
fn duration_is_whole_positive_units() {
    for ok in ["72h", "3d", "1h30m", "90s"] {
        assert!(parse(&with("duration", json!(ok))).is_ok(), "{ok}");
    }
    for bad in ["0s", "1.5h", "-1h", "1w", "h", "P1D", ""] {
        rejects(
            with("duration", json!(bad)),
            ErrorCode::InvalidField,
            "duration",
        );
    }
}

#[test]
fn with_auditor_accounts_set_only_those_auditors_can_ever_be_trusted() {
    let e = parse_with_auditors(&valid(), &[], &["111122223333"]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AuditorNotAllowed);
    assert_eq!(e.field_name(), Some("auditor_account"));
    assert_eq!(e.code().as_str(), "auditor_not_allowed");
    assert!(parse_with_auditors(&valid(), &[], &["111122223333", "210987654321"]).is_ok());
    assert!(
        parse_with_auditors(&valid(), &[], &[]).is_ok(),
        "unset: any account"
    );
}

#[test]
fn target_account_defaults_to_ours_and_others_must_be_listed() {
    assert_eq!(
        parse(&with("target_account", json!(OWN)))
            .unwrap()
            .target_accounts[0]
            .as_str(),
        OWN
    );
    rejects(
        with("target_account", json!("222222222222")),
        ErrorCode::TargetNotAllowed,
        "target_account",
    );
    rejects(
        with("target_account", json!("2222")),
        ErrorCode::InvalidField,
        "target_account",
    );
    let r = parse_with(
        &with("target_account", json!("222222222222")),
        &["222222222222"],
    )
    .unwrap();
    assert_eq!(r.target_accounts[0].as_str(), "222222222222");
}

#[test]
fn target_accounts_lists_1_to_50_distinct_allowed_accounts_never_with_target_account() {
    let mut allowed: Vec<String> = (0..60).map(|i| format!("3000000000{i:02}")).collect();
    allowed.push("210987654321".into()); // the auditor's, allowed as a target elsewhere
    let allowed_refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let req = |list: Value| with("target_accounts", list);
    let rejects_with = |req: Value, code: ErrorCode, field: &str| {
        let err = parse_with(&req, &allowed_refs).expect_err("must be rejected");
        assert_eq!((err.code(), err.field_name()), (code, Some(field)), "{err}");
    };
    // One role per account, in the order asked; our own account may be one.
    let r = parse_with(&req(json!([allowed[1], OWN, allowed[0]])), &allowed_refs).unwrap();
    assert_eq!(
        r.target_accounts,
        accounts(&[&allowed[1], OWN, &allowed[0]])
    );
    let fifty: Vec<&str> = allowed_refs[..50].to_vec();
    assert_eq!(
        parse_with(&req(json!(fifty)), &allowed_refs)
            .unwrap()
            .target_accounts
            .len(),
        50
    );
    rejects_with(
        req(json!(allowed_refs[..51])),
        ErrorCode::InvalidField,
        "target_accounts",
    );
    rejects_with(req(json!([])), ErrorCode::InvalidField, "target_accounts");
    rejects_with(
        req(json!(allowed[0])),
        ErrorCode::InvalidField,
        "target_accounts",
    );
    rejects_with(
        req(json!([allowed[0], 7])),
        ErrorCode::InvalidField,
        "target_accounts[1]",
    );
    rejects_with(
        req(json!([allowed[0], "12"])),
        ErrorCode::InvalidField,
        "target_accounts[1]",
    );
    rejects_with(
        req(json!([allowed[0], allowed[1], allowed[0]])),
        ErrorCode::InvalidField,
        "target_accounts[2]",
    );
    rejects_with(
        req(json!([allowed[0], "444444444444"])),
        ErrorCode::TargetNotAllowed,
        "target_accounts[1]",
    );
    rejects_with(
        req(json!([allowed[0], "210987654321"])),
        ErrorCode::InvalidField,
        "auditor_account",
    );
    let mut both = req(json!([allowed[0]]));
    both["target_account"] = json!(allowed[1]);
    rejects_with(both, ErrorCode::InvalidField, "target_accounts");
    // Part of the request as sent: another list is another request.
    let a = GrantRequestBody::from_json(&req(json!([allowed[0], allowed[1]]))).unwrap();
    let b = GrantRequestBody::from_json(&req(json!([allowed[1], allowed[0]]))).unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
}

#[test]
fn reason_is_at_most_1024_chars() {
    assert!(parse(&with("reason", json!("r".repeat(1024)))).is_ok());
    assert!(parse(&with("reason", json!(""))).is_ok());
    rejects(
        with("reason", json!("r".repeat(1025))),
        ErrorCode::InvalidField,
        "reason",
    );
}

#[test]
fn the_fingerprint_is_of_the_request_as_sent_not_its_key_order() {
    let a: Value = serde_json::from_str(r#"{"ticket":"T","duration":"1h"}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"duration":"1h","ticket":"T"}"#).unwrap();
    let c: Value = serde_json::from_str(r#"{"duration":"2h","ticket":"T"}"#).unwrap();
    let d: Value = serde_json::from_str(r#"{"duration":"1h","ticket":"T","reason":null}"#).unwrap();
    let fingerprint = |v: &Value| GrantRequestBody::from_json(v).unwrap().fingerprint();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_eq!(fingerprint(&a), fingerprint(&d), "null is not given");
    assert_ne!(fingerprint(&a), fingerprint(&c));
    // The same digest version 1 stored: SHA-256 of the sorted, compact JSON.
    let v1 = hex::encode(Sha256::digest(br#"{"duration":"1h","ticket":"T"}"#));
    assert_eq!(fingerprint(&a), v1, "records written before keep matching");
}
