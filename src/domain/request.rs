//! The grant request of SPEC.md, parsed once from the JSON as sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::values::{
    AccessPreset, AccountId, ExternalId, Partition, PrincipalArn, Ticket, parse_text,
};
use super::window::{
    START_MAX_AHEAD, START_PAST_TOLERANCE, Window, parse_duration, parse_timestamp,
};
use crate::error::{Error, ErrorCode, Result};
use crate::policy;

pub const MAX_PRINCIPALS: usize = 5;

const FIELDS: [&str; 11] = [
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
    pub trust_policy_max_chars: usize,
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

/// SHA-256 of the canonical JSON (keys sorted at every level) of the request as
/// sent. A replay that leaves `start` to default to "now" has the same fingerprint.
pub fn fingerprint(request: &Value) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, canonical(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let text = serde_json::to_string(&canonical(request)).expect("JSON values serialise");
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn as_object(request: &Value) -> Result<&Map<String, Value>> {
    request.as_object().ok_or_else(|| {
        Error::reject(
            ErrorCode::InvalidRequest,
            "the grant request must be a JSON object",
        )
    })
}

/// Reads only the ticket: enough to look up an earlier delivery before the
/// time-dependent rules are applied (a replay must still find its grant).
pub fn parse_ticket(request: &Value) -> Result<Ticket> {
    let obj = as_object(request)?;
    let raw = required_str(obj, "ticket")?;
    Ticket::parse(raw).map_err(|e| Error::invalid("ticket", e))
}

/// A field that is absent or `null` is not given.
fn get<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    match get(obj, field) {
        None => Err(Error::field(
            ErrorCode::MissingField,
            field,
            format!("{field} is required"),
        )),
        Some(v) => v
            .as_str()
            .ok_or_else(|| Error::invalid(field, format!("{field} must be a string"))),
    }
}

fn optional_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match get(obj, field) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| Error::invalid(field, format!("{field} must be a string"))),
    }
}

fn field_err(field: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::invalid(field, format!("{field} {e}"))
}

impl GrantRequest {
    pub fn parse(request: &Value, rules: &RequestRules<'_>) -> Result<Self> {
        let obj = as_object(request)?;
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::field(
                ErrorCode::UnknownField,
                unknown.clone(),
                format!("unknown field {unknown:?}"),
            ));
        }

        let ticket = parse_ticket(request)?;
        let requested_by = parse_text(required_str(obj, "requested_by")?, 1, 256)
            .map_err(field_err("requested_by"))?;
        let auditor_account = AccountId::parse(required_str(obj, "auditor_account")?)
            .map_err(field_err("auditor_account"))?;
        let principals = parse_principals(obj, &auditor_account, rules.partition)?;
        let external_id = match optional_str(obj, "external_id")? {
            Some(raw) => ExternalId::parse(raw).map_err(field_err("external_id"))?,
            None => ExternalId::generate(),
        };
        let access = match optional_str(obj, "access")? {
            Some(raw) => AccessPreset::parse(raw).map_err(field_err("access"))?,
            None => AccessPreset::SecurityAudit,
        };
        let window = parse_window(obj, rules)?;
        let target_account = match optional_str(obj, "target_account")? {
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
        let reason = optional_str(obj, "reason")?
            .map(|r| parse_text(r, 0, 1024).map_err(field_err("reason")))
            .transpose()?;

        let trust = policy::trust_policy(&principals, &external_id, &window);
        let size = trust.serialised_len();
        if size > rules.trust_policy_max_chars {
            return Err(Error::invalid(
                "principals",
                format!(
                    "the trust policy would be {size} characters, over the limit of {} \
                     (TRUST_POLICY_MAX_CHARS): use fewer principals or a shorter external_id",
                    rules.trust_policy_max_chars
                ),
            ));
        }

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
            fingerprint: fingerprint(request),
        })
    }
}

fn parse_principals(
    obj: &Map<String, Value>,
    auditor_account: &AccountId,
    partition: Partition,
) -> Result<Vec<PrincipalArn>> {
    let list = match get(obj, "principals") {
        None => {
            return Err(Error::field(
                ErrorCode::MissingField,
                "principals",
                "principals is required",
            ));
        }
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(Error::invalid(
                "principals",
                "principals must be a list of ARNs",
            ));
        }
    };
    if list.is_empty() || list.len() > MAX_PRINCIPALS {
        return Err(Error::invalid(
            "principals",
            format!("principals must list 1-{MAX_PRINCIPALS} ARNs"),
        ));
    }
    let mut principals: Vec<PrincipalArn> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = format!("principals[{i}]");
        let raw = item
            .as_str()
            .ok_or_else(|| Error::invalid(&field, format!("{field} must be a string")))?;
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

fn parse_window(obj: &Map<String, Value>, rules: &RequestRules<'_>) -> Result<Window> {
    let start = match optional_str(obj, "start")? {
        Some(raw) => {
            let start = parse_timestamp(raw).map_err(field_err("start"))?;
            if start < rules.now - START_PAST_TOLERANCE {
                return Err(Error::invalid(
                    "start",
                    "start must not be more than 5 minutes in the past",
                ));
            }
            if start > rules.now + START_MAX_AHEAD {
                return Err(Error::invalid(
                    "start",
                    "start must not be more than 90 days ahead",
                ));
            }
            start
        }
        None => super::window::truncate_to_second(rules.now),
    };
    let end = match (optional_str(obj, "end")?, optional_str(obj, "duration")?) {
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
    let end_field = if get(obj, "end").is_some() {
        "end"
    } else {
        "duration"
    };
    if end <= rules.now {
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
