//! The grant request of SPEC.md, parsed once from the JSON as sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::json::{get, object, optional_str};
use super::values::{
    AccessPreset, AccountId, ExternalId, Partition, PrincipalArn, Ticket, parse_text,
};
use super::window::{
    START_MAX_AHEAD, START_PAST_TOLERANCE, Window, parse_duration, parse_timestamp,
};
use crate::error::{Error, ErrorCode, Result};

pub const MAX_PRINCIPALS: usize = 5;

/// Every field of a grant request, in SPEC.md's order.
pub const REQUEST_FIELDS: [&str; 11] = [
    "ticket",
    "requested_by",
    "auditor_account",
    "principals",
    "external_id",
    "access",
    "start",
    "end",
    "duration",
    "target_account",
    "reason",
];

/// What the rules of a request depend on besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestRules<'a> {
    pub now: DateTime<Utc>,
    pub own_account: &'a AccountId,
    pub partition: Partition,
    pub allowed_targets: &'a [AccountId],
    pub max_grant_duration: Duration,
}

/// A grant request that satisfies every rule of SPEC.md.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub ticket: Ticket,
    pub requested_by: String,
    pub auditor_account: AccountId,
    pub principals: Vec<PrincipalArn>,
    pub external_id: ExternalId,
    pub access: AccessPreset,
    pub window: Window,
    pub target_account: AccountId,
    pub reason: Option<String>,
    /// The request as sent, canonicalised: the idempotency comparison.
    pub fingerprint: String,
}

/// A grant request as sent, in the right shape: a JSON object of known fields,
/// each a string (`principals` a list of strings), `null` meaning absent. Built
/// at every edge (EventBridge detail, webhook body, CLI flags); the rules of
/// SPEC.md are applied by [`GrantRequest::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GrantRequestBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auditor_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl GrantRequestBody {
    /// Checks the shape of a request as sent: an object, no unknown field, each
    /// field of its JSON type. Says which field is at fault.
    pub fn from_json(request: &Value) -> Result<Self> {
        let obj = object(request, "the grant request")?;
        if let Some(unknown) = obj.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
            return Err(Error::field(
                ErrorCode::UnknownField,
                unknown.clone(),
                format!("unknown field {unknown:?}"),
            ));
        }
        let text = |field: &str| optional_str(obj, field).map(|v| v.map(str::to_owned));
        let principals = match get(obj, "principals") {
            None => None,
            Some(Value::Array(list)) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, item)| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            let field = format!("principals[{i}]");
                            Error::invalid(&field, format!("{field} must be a string"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => {
                return Err(Error::invalid(
                    "principals",
                    "principals must be a list of ARNs",
                ));
            }
        };
        Ok(GrantRequestBody {
            ticket: text("ticket")?,
            requested_by: text("requested_by")?,
            auditor_account: text("auditor_account")?,
            principals,
            external_id: text("external_id")?,
            access: text("access")?,
            start: text("start")?,
            end: text("end")?,
            duration: text("duration")?,
            target_account: text("target_account")?,
            reason: text("reason")?,
        })
    }

    /// Only the ticket: enough to look up an earlier delivery before the
    /// time-dependent rules are applied (a replay must still find its grant).
    pub fn ticket(&self) -> Result<Ticket> {
        let raw = required(&self.ticket, "ticket")?;
        Ticket::parse(raw).map_err(|e| Error::invalid("ticket", e))
    }

    /// SHA-256 of the canonical JSON (keys sorted, absent and `null` fields
    /// left out) of the request as sent: the idempotency comparison. A replay
    /// that leaves `start` to default to "now" has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        // Fields serialise in declaration order; the canonical form sorts them.
        let value = serde_json::to_value(self).expect("plain strings serialise");
        let sorted: BTreeMap<String, Value> = match value {
            Value::Object(m) => m.into_iter().collect(),
            _ => unreachable!("a struct serialises to an object"),
        };
        let text = serde_json::to_string(&sorted).expect("JSON values serialise");
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str> {
    value.as_deref().ok_or_else(|| {
        Error::field(
            ErrorCode::MissingField,
            field,
            format!("{field} is required"),
        )
    })
}

fn field_err(field: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::invalid(field, format!("{field} {e}"))
}

impl GrantRequest {
    pub fn parse(body: &GrantRequestBody, rules: &RequestRules<'_>) -> Result<Self> {
        let ticket = body.ticket()?;
        let requested_by = parse_text(required(&body.requested_by, "requested_by")?, 1, 256)
            .map_err(field_err("requested_by"))?;
        let auditor_account = AccountId::parse(required(&body.auditor_account, "auditor_account")?)
            .map_err(field_err("auditor_account"))?;
        let principals = parse_principals(body, &auditor_account, rules.partition)?;
        let external_id = match &body.external_id {
            Some(raw) => ExternalId::parse(raw).map_err(field_err("external_id"))?,
            None => ExternalId::generate(),
        };
        let access = match &body.access {
            Some(raw) => AccessPreset::parse(raw).map_err(field_err("access"))?,
            None => AccessPreset::SecurityAudit,
        };
        let window = parse_window(body, rules)?;
        let target_account = match &body.target_account {
            Some(raw) => AccountId::parse(raw).map_err(field_err("target_account"))?,
            None => rules.own_account.clone(),
        };
        if &target_account != rules.own_account && !rules.allowed_targets.contains(&target_account)
        {
            return Err(Error::field(
                ErrorCode::TargetNotAllowed,
                "target_account",
                format!("target account {target_account} is not in TARGET_ACCOUNTS"),
            ));
        }
        if auditor_account == target_account {
            return Err(Error::invalid(
                "auditor_account",
                "auditor_account must not be the target account itself",
            ));
        }
        let reason = body
            .reason
            .as_deref()
            .map(|r| parse_text(r, 0, 1024).map_err(field_err("reason")))
            .transpose()?;
        Ok(GrantRequest {
            ticket,
            requested_by,
            auditor_account,
            principals,
            external_id,
            access,
            window,
            target_account,
            reason,
            fingerprint: body.fingerprint(),
        })
    }
}

fn parse_principals(
    body: &GrantRequestBody,
    auditor_account: &AccountId,
    partition: Partition,
) -> Result<Vec<PrincipalArn>> {
    let list = body.principals.as_ref().ok_or_else(|| {
        Error::field(
            ErrorCode::MissingField,
            "principals",
            "principals is required",
        )
    })?;
    if list.is_empty() || list.len() > MAX_PRINCIPALS {
        return Err(Error::invalid(
            "principals",
            format!("principals must list 1-{MAX_PRINCIPALS} ARNs"),
        ));
    }
    let mut principals: Vec<PrincipalArn> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let field = format!("principals[{i}]");
        let arn =
            PrincipalArn::parse(raw).map_err(|e| Error::invalid(&field, format!("{field} {e}")))?;
        if arn.account() != auditor_account {
            return Err(Error::invalid(
                &field,
                format!("{field} must be in the auditor account {auditor_account}"),
            ));
        }
        if arn.partition() != partition {
            return Err(Error::invalid(
                &field,
                format!("{field} must be in the {partition} partition"),
            ));
        }
        if principals.contains(&arn) {
            return Err(Error::invalid(&field, format!("{field} is listed twice")));
        }
        principals.push(arn);
    }
    Ok(principals)
}

fn parse_window(body: &GrantRequestBody, rules: &RequestRules<'_>) -> Result<Window> {
    // Windows are whole seconds; so is the "now" they are compared with.
    let now = super::window::truncate_to_second(rules.now);
    let start = match body.start.as_deref() {
        Some(raw) => {
            let start = parse_timestamp(raw).map_err(field_err("start"))?;
            if start < now - START_PAST_TOLERANCE {
                return Err(Error::invalid(
                    "start",
                    "start must not be more than 5 minutes in the past",
                ));
            }
            if start > now + START_MAX_AHEAD {
                return Err(Error::invalid(
                    "start",
                    "start must not be more than 90 days ahead",
                ));
            }
            start
        }
        None => now,
    };
    let end = match (body.end.as_deref(), body.duration.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "duration",
                "give either end or duration, not both",
            ));
        }
        (None, None) => {
            return Err(Error::field(
                ErrorCode::MissingField,
                "end",
                "one of end or duration is required",
            ));
        }
        (Some(raw), None) => {
            let end = parse_timestamp(raw).map_err(field_err("end"))?;
            if end <= start {
                return Err(Error::invalid("end", "end must be after start"));
            }
            end
        }
        (None, Some(raw)) => {
            let d = parse_duration(raw).map_err(field_err("duration"))?;
            start
                .checked_add_signed(d)
                .ok_or_else(|| Error::invalid("duration", "duration is out of range"))?
        }
    };
    let end_field = if body.end.is_some() {
        "end"
    } else {
        "duration"
    };
    if end <= now {
        return Err(Error::invalid(
            end_field,
            "the window must end in the future",
        ));
    }
    let window = Window::new(start, end).map_err(|e| Error::invalid(end_field, e))?;
    if window.length() > rules.max_grant_duration {
        return Err(Error::invalid(
            end_field,
            format!(
                "the window may be at most {} (MAX_GRANT_DURATION)",
                super::window::format_duration(rules.max_grant_duration)
            ),
        ));
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    //! One test per rule of SPEC.md's grant-request table.
    use super::*;
    use crate::domain::format_timestamp;
    use serde_json::json;

    const OWN: &str = "123456789012";

    fn now() -> DateTime<Utc> {
        parse_timestamp("2026-12-01T09:00:00Z").unwrap()
    }

    fn parse_with(req: &Value, targets: &[&str]) -> Result<GrantRequest> {
        let own = AccountId::parse(OWN).unwrap();
        let targets: Vec<AccountId> = targets
            .iter()
            .map(|t| AccountId::parse(t).unwrap())
            .collect();
        let rules = RequestRules {
            now: now(),
            own_account: &own,
            partition: Partition::Aws,
            allowed_targets: &targets,
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
        assert_eq!(r.target_account.as_str(), OWN);
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
    fn target_account_defaults_to_ours_and_others_must_be_listed() {
        assert_eq!(
            parse(&with("target_account", json!(OWN)))
                .unwrap()
                .target_account
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
        assert_eq!(r.target_account.as_str(), "222222222222");
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
        let d: Value =
            serde_json::from_str(r#"{"duration":"1h","ticket":"T","reason":null}"#).unwrap();
        let fingerprint = |v: &Value| GrantRequestBody::from_json(v).unwrap().fingerprint();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&d), "null is not given");
        assert_ne!(fingerprint(&a), fingerprint(&c));
        // The same digest version 1 stored: SHA-256 of the sorted, compact JSON.
        let v1 = hex::encode(Sha256::digest(br#"{"duration":"1h","ticket":"T"}"#));
        assert_eq!(fingerprint(&a), v1, "records written before keep matching");
    }
}
