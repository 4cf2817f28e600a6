//! Property tests on every parser: no input makes one panic, nothing SPEC.md
//! forbids is accepted, and what is accepted round-trips.

use audit_grants::domain::{
    AccountId, ExternalId, GrantRequest, Partition, PrincipalArn, REQUEST_FIELDS, RequestRules,
    Ticket, format_duration, parse_duration, parse_timestamp,
};
use audit_grants::webhook::{WebhookKeys, sign};
use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
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

fn parse_request(v: &Value) -> Result<GrantRequest, audit_grants::error::Error> {
    let own = AccountId::parse("123456789012").unwrap();
    let rules = RequestRules {
        now: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        own_account: &own,
        partition: Partition::Aws,
        allowed_targets: &[],
        max_grant_duration: Duration::days(30),
        trust_policy_max_chars: 2048,
    };
    GrantRequest::parse(v, &rules)
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
    assert_ne!(r.auditor_account, r.target_account);
    assert_eq!(r.target_account.as_str(), "123456789012");
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
        let keys = WebhookKeys::parse("demo-webhook-secret-0123456789").unwrap();
        let right = sign(b"demo-webhook-secret-0123456789", &body);
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
    fn a_valid_request_with_one_field_replaced_by_anything_keeps_every_rule(field in 0..REQUEST_FIELDS.len(), value in any_json()) {
        let mut v = valid_request();
        v[REQUEST_FIELDS[field]] = value;
        if let Ok(r) = parse_request(&v) {
            assert_request_rules(&r);
        }
    }

    #[test]
    fn accepted_requests_have_a_stable_fingerprint(extra in "[a-z]{1,8}") {
        let mut v = valid_request();
        v["reason"] = json!(extra);
        let a = parse_request(&v).unwrap();
        let b = parse_request(&v).unwrap();
        prop_assert_eq!(a.fingerprint, b.fingerprint);
    }
}
