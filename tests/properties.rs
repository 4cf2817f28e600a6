//! Property tests on every parser: no input makes one panic, nothing SPEC.md
//! forbids is accepted, and what is accepted round-trips.

use std::sync::atomic::{AtomicUsize, Ordering};

use audit_grants::domain::{
    AccountId, ExternalId, GrantRequest, GrantRequestBody, Partition, PrincipalArn, REQUEST_FIELDS,
    RequestRules, Ticket, format_duration, format_timestamp, parse_duration, parse_timestamp,
};
use audit_grants::lambda::webhook_auth::{WebhookKeys, sign};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn is_ticket_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/-".contains(c)
}

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "arn:aws:iam::[0-9*?]{12}:(role|user|root|\\*)[/A-Za-z*?]{0,12}".prop_map(Value::from),
        "[0-9]{1,4}[dhms]{1,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("ticket".to_owned()),
                    Just("principals".to_owned()),
                    Just("auditor_account".to_owned()),
                    Just("duration".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_request() -> Value {
    json!({
        "ticket": "AUD-1042",
        "requested_by": "jane.doe@example.com",
        "auditor_account": "210987654321",
        "principals": ["arn:aws:iam::210987654321:role/ExternalAuditor"],
        "duration": "72h",
    })
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

/// The request as every edge parses it: its shape, then every rule.
fn parse_request(v: &Value) -> Result<GrantRequest, audit_grants::error::Error> {
    let own = AccountId::parse("123456789012").unwrap();
    let rules = RequestRules {
        now: now(),
        own_account: &own,
        partition: Partition::Aws,
        allowed_targets: &[],
        allowed_auditors: &[],
        max_grant_duration: Duration::days(30),
    };
    GrantRequest::parse(&GrantRequestBody::from_json(v)?, &rules)
}

/// A value for one field of the request: mostly near what the field accepts,
/// so that both the accepting and the refusing branch are reached, and
/// sometimes anything at all.
fn field_value(field: &str) -> BoxedStrategy<Value> {
    let time = (-20i64..60 * 24 * 100)
        .prop_map(|minutes| Value::from(format_timestamp(now() + Duration::minutes(minutes))));
    let principal = prop_oneof![
        "[A-Za-z0-9+=,.@_-]{1,20}".prop_map(|n| format!("arn:aws:iam::210987654321:role/{n}")),
        "[A-Za-z0-9+=,.@_-]{1,20}".prop_map(|n| format!("arn:aws:iam::210987654321:user/{n}")),
        Just("arn:aws:iam::210987654321:root".to_owned()),
        Just("arn:aws:iam::210987654321:role/*".to_owned()),
        Just("arn:aws:iam::111122223333:role/Other".to_owned()),
        Just("arn:aws:sts::210987654321:assumed-role/A/b".to_owned()),
        ".{0,30}",
    ];
    let near: BoxedStrategy<Value> = match field {
        "ticket" => "[A-Za-z0-9._:/-]{1,140}|.{0,12}"
            .prop_map(Value::from)
            .boxed(),
        "requested_by" | "reason" => prop_oneof![
            3 => "[ -~]{0,300}",
            1 => ".{0,1100}",
        ]
        .prop_map(Value::from)
        .boxed(),
        "auditor_account" => prop_oneof![Just("210987654321".to_owned()), "[0-9]{11,13}"]
            .prop_map(Value::from)
            .boxed(),
        "principals" => prop::collection::vec(principal, 0..7)
            .prop_map(|v| json!(v))
            .boxed(),
        "external_id" => "[A-Za-z0-9_+=,.@:/-]{0,1300}|[ #]{1,3}"
            .prop_map(Value::from)
            .boxed(),
        "access" => prop_oneof![
            Just("security-audit".to_owned()),
            Just("view-only".to_owned()),
            Just("read-only".to_owned()),
            "[a-z-]{0,20}",
        ]
        .prop_map(Value::from)
        .boxed(),
        "start" | "end" => time.boxed(),
        "duration" => "[0-9]{1,4}[dhms]|[0-9]{1,2}h[0-9]{1,2}m|[a-z0-9 ]{0,6}"
            .prop_map(Value::from)
            .boxed(),
        "target_account" => prop_oneof![
            Just("123456789012".to_owned()),
            Just("210987654321".to_owned()),
            "[0-9]{12}",
            ".{0,14}",
        ]
        .prop_map(Value::from)
        .boxed(),
        "target_accounts" => prop_oneof![
            2 => Just(vec!["123456789012".to_owned()]),
            3 => prop::collection::vec(
                prop_oneof![
                    Just("123456789012".to_owned()),
                    Just("210987654321".to_owned()),
                    "[0-9]{12}",
                    ".{0,14}",
                ],
                0..4,
            ),
        ]
        .prop_map(|v| json!(v))
        .boxed(),
        other => panic!("no generator for {other}"),
    };
    prop_oneof![5 => near, 1 => any_json()].boxed()
}

/// Everything SPEC.md promises about an accepted request.
fn assert_request_rules(r: &GrantRequest) {
    let t = r.ticket.as_str();
    assert!((1..=128).contains(&t.len()) && t.chars().all(is_ticket_char));
    assert!((1..=5).contains(&r.principals.len()));
    for (i, p) in r.principals.iter().enumerate() {
        let s = p.as_str();
        assert!(!s.contains('*') && !s.contains('?'), "{s}");
        assert!(
            s.starts_with("arn:aws:iam::210987654321:")
                || s.starts_with(&format!("arn:aws:iam::{}:", r.auditor_account))
        );
        assert_eq!(p.account(), &r.auditor_account);
        assert!(!r.principals[..i].contains(p), "duplicate");
    }
    assert!(!r.target_accounts.contains(&r.auditor_account));
    assert_eq!(r.target_accounts.len(), 1);
    assert_eq!(r.target_accounts[0].as_str(), "123456789012");
    assert!(r.window.end() > r.window.start());
    assert!(r.window.length() <= Duration::days(30));
    let trust = audit_grants::policy::trust_policy(&r.principals, &r.external_id, &r.window);
    assert!(trust.serialised_len() <= 2048);
    assert!(!trust.to_json().contains("\"*\""));
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn ticket_parser_never_panics_and_accepts_only_its_alphabet(s in ".{0,200}") {
        if let Ok(t) = Ticket::parse(&s) {
            prop_assert!((1..=128).contains(&s.len()));
            prop_assert!(s.chars().all(is_ticket_char));
            prop_assert_eq!(Ticket::parse(t.as_str()).unwrap(), t.clone());
            let name = t.role_name();
            prop_assert!(name.len() <= 64);
            prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)));
        }
    }

    #[test]
    fn every_string_of_the_ticket_alphabet_is_a_ticket(s in "[A-Za-z0-9._:/-]{1,128}") {
        prop_assert!(Ticket::parse(&s).is_ok());
    }

    #[test]
    fn distinct_tickets_get_distinct_role_names(a in "[A-Za-z0-9._:/-]{1,128}", b in "[A-Za-z0-9._:/-]{1,128}") {
        prop_assume!(a != b);
        let (ra, rb) = (Ticket::parse(&a).unwrap().role_name(), Ticket::parse(&b).unwrap().role_name());
        prop_assert_ne!(ra.to_lowercase(), rb.to_lowercase());
    }

    #[test]
    fn account_ids_are_exactly_twelve_ascii_digits(s in ".{0,20}") {
        let ok = s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(AccountId::parse(&s).is_ok(), ok);
    }

    #[test]
    fn principal_parser_never_accepts_a_wildcard_or_a_non_iam_principal(s in "(arn:)?(aws|aws-cn|aws-us-gov|x)?:?(iam|sts|s3)?::?[0-9*?]{0,13}:?(role/|user/|root|group/|saml-provider/|\\*)?[A-Za-z0-9/*?+=,.@_ -]{0,30}") {
        if let Ok(p) = PrincipalArn::parse(&s) {
            prop_assert!(!s.contains('*') && !s.contains('?'));
            prop_assert!(s.starts_with("arn:"));
            let resource = s.splitn(6, ':').nth(5).unwrap();
            prop_assert!(resource == "root" || resource.starts_with("role/") || resource.starts_with("user/"));
            prop_assert_eq!(p.as_str(), s.as_str());
        }
    }

    #[test]
    fn well_formed_principals_are_accepted(kind in "(role|user)", path in "([A-Za-z0-9]{1,8}/){0,3}", name in "[A-Za-z0-9+=,.@_-]{1,64}") {
        let arn = format!("arn:aws:iam::210987654321:{kind}/{path}{name}");
        prop_assert!(PrincipalArn::parse(&arn).is_ok(), "{}", arn);
        let star = format!("{arn}*");
        prop_assert!(PrincipalArn::parse(&star).is_err());
    }

    #[test]
    fn external_ids_are_2_to_1224_of_their_alphabet(s in "[A-Za-z0-9_+=,.@:/ #-]{0,1300}") {
        let ok = (2..=1224).contains(&s.len()) && !s.contains(' ') && !s.contains('#');
        prop_assert_eq!(ExternalId::parse(&s).is_ok(), ok);
    }

    #[test]
    fn durations_never_panic_and_round_trip(s in "[0-9dhms .+-]{0,24}") {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d > Duration::zero());
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn well_formed_durations_mean_what_they_say(d in 0u32..400, h in 0u32..100, m in 0u32..100, sec in 0u32..100) {
        prop_assume!(d + h + m + sec > 0);
        let mut s = String::new();
        for (v, u) in [(d, "d"), (h, "h"), (m, "m"), (sec, "s")] {
            if v > 0 { s.push_str(&format!("{v}{u}")); }
        }
        let expected = i64::from(d) * 86_400 + i64::from(h) * 3_600 + i64::from(m) * 60 + i64::from(sec);
        prop_assert_eq!(parse_duration(&s).unwrap().num_seconds(), expected);
    }

    #[test]
    fn timestamps_never_panic(s in ".{0,40}") {
        let _ = parse_timestamp(&s);
    }

    #[test]
    fn signatures_other_than_the_right_one_are_refused(body in prop::collection::vec(any::<u8>(), 0..200), sig in "sha256=[0-9a-f]{0,70}") {
        let keys = WebhookKeys::parse("demo-webhook-secret-0123456789-abcdef").unwrap();
        let right = sign(b"demo-webhook-secret-0123456789-abcdef", &body);
        prop_assert_eq!(keys.verify(Some(&sig), None, &body).is_ok(), sig == right);
        prop_assert!(keys.verify(Some(&right), None, &body).is_ok());
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn arbitrary_json_never_panics_the_request_parser_and_what_passes_keeps_every_rule(v in any_json()) {
        if let Ok(r) = parse_request(&v) {
            assert_request_rules(&r);
        }
    }

    #[test]
    fn the_fingerprint_ignores_key_order_and_nulls_and_changes_with_any_value(extra in "[a-z]{1,8}", other in "[a-z]{1,8}") {
        prop_assume!(extra != other);
        let fingerprint = |v: &Value| GrantRequestBody::from_json(v).unwrap().fingerprint();
        let mut v = valid_request();
        v["reason"] = json!(extra);
        let text = serde_json::to_string(&v).unwrap();
        let reversed: serde_json::Map<String, Value> = v.as_object().unwrap().clone().into_iter().rev().collect();
        let mut with_null = v.clone();
        with_null["external_id"] = Value::Null;
        let mut changed = v.clone();
        changed["reason"] = json!(other);
        prop_assert_eq!(fingerprint(&v), fingerprint(&serde_json::from_str(&text).unwrap()));
        prop_assert_eq!(fingerprint(&v), fingerprint(&Value::Object(reversed)));
        prop_assert_eq!(fingerprint(&v), fingerprint(&with_null));
        prop_assert_ne!(fingerprint(&v), fingerprint(&changed));
    }
}

/// From a valid request, one field at a time is replaced by values near what
/// it accepts and by anything at all. Whatever is accepted keeps every rule of
/// SPEC.md; whatever is refused is a rejection (never an internal error). Both
/// branches must be reached for every field, or the test proves nothing: the
/// counts are printed (`--nocapture`) and checked.
#[test]
fn one_field_changed_from_a_valid_request_keeps_every_rule_or_is_refused() {
    let mut counts = vec![];
    for field in REQUEST_FIELDS {
        let accepted = AtomicUsize::new(0);
        let refused = AtomicUsize::new(0);
        let mut runner = TestRunner::new(config(600));
        runner
            .run(&field_value(field), |value| {
                let mut v = valid_request();
                if field == "end" {
                    v.as_object_mut().unwrap().remove("duration");
                }
                v[field] = value;
                match parse_request(&v) {
                    Ok(r) => {
                        assert_request_rules(&r);
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        prop_assert!(!e.is_retryable(), "{field}: {e}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{field}: {e}"));
        counts.push((field, accepted.into_inner(), refused.into_inner()));
    }
    for (field, accepted, refused) in &counts {
        eprintln!("{field:>16}: {accepted:>4} accepted, {refused:>4} refused");
    }
    for (field, accepted, refused) in counts {
        assert!(
            accepted >= 30 && refused >= 30,
            "{field}: {accepted} accepted, {refused} refused: both branches must be exercised"
        );
    }
}
