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
pub const REQUEST_FIELDS: [&str; 12] = [
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
    "target_accounts",
    "reason",
];

/// At most this many accounts in one grant (`target_accounts`).
pub const MAX_TARGET_ACCOUNTS: usize = 50;

/// What the rules of a request depend on besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestRules<'a> {
    pub now: DateTime<Utc>,
    pub own_account: &'a AccountId,
    pub partition: Partition,
    pub allowed_targets: &'a [AccountId],
    /// `AUDITOR_ACCOUNTS`: empty means any.
    pub allowed_auditors: &'a [AccountId],
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
    /// Where the roles go: one per account, in the order asked (never empty).
    pub target_accounts: Vec<AccountId>,
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
    pub target_accounts: Option<Vec<String>>,
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
        let principals = string_list(obj, "principals", "principals must be a list of ARNs")?;
        let target_accounts = string_list(
            obj,
            "target_accounts",
            "target_accounts must be a list of account IDs",
        )?;
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
            target_accounts,
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

/// An optional list of strings; an item of another type is named (`field[i]`).
fn string_list(
    obj: &serde_json::Map<String, Value>,
    field: &str,
    not_a_list: &str,
) -> Result<Option<Vec<String>>> {
    match get(obj, field) {
        None => Ok(None),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    let item_field = format!("{field}[{i}]");
                    Error::invalid(&item_field, format!("{item_field} must be a string"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Error::invalid(field, not_a_list)),
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
        if !rules.allowed_auditors.is_empty() && !rules.allowed_auditors.contains(&auditor_account)
        {
            return Err(Error::field(
                ErrorCode::AuditorNotAllowed,
                "auditor_account",
                format!("auditor account {auditor_account} is not in AUDITOR_ACCOUNTS"),
            ));
        }
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
        let target_accounts = parse_targets(body, &auditor_account, rules)?;
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
            target_accounts,
            reason,
            fingerprint: body.fingerprint(),
        })
    }
}

/// `target_account` or `target_accounts` (not both; default the function's own
/// account): each allowed, distinct, and never the auditor's own account.
fn parse_targets(
    body: &GrantRequestBody,
    auditor_account: &AccountId,
    rules: &RequestRules<'_>,
) -> Result<Vec<AccountId>> {
    let allowed = |account: &AccountId| {
        account == rules.own_account || rules.allowed_targets.contains(account)
    };
    let not_allowed = |field: &str, account: &AccountId| {
        Error::field(
            ErrorCode::TargetNotAllowed,
            field,
            format!("target account {account} is not in TARGET_ACCOUNTS"),
        )
    };
    let targets = match (&body.target_account, &body.target_accounts) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "target_accounts",
                "give target_account or target_accounts, not both",
            ));
        }
        (Some(raw), None) => {
            let account = AccountId::parse(raw).map_err(field_err("target_account"))?;
            if !allowed(&account) {
                return Err(not_allowed("target_account", &account));
            }
            vec![account]
        }
        (None, Some(list)) => {
            if list.is_empty() || list.len() > MAX_TARGET_ACCOUNTS {
                return Err(Error::invalid(
                    "target_accounts",
                    format!("target_accounts must list 1-{MAX_TARGET_ACCOUNTS} accounts"),
                ));
            }
            let mut accounts: Vec<AccountId> = Vec::with_capacity(list.len());
            for (i, raw) in list.iter().enumerate() {
                let field = format!("target_accounts[{i}]");
                let account = AccountId::parse(raw)
                    .map_err(|e| Error::invalid(&field, format!("{field} {e}")))?;
                if accounts.contains(&account) {
                    return Err(Error::invalid(
                        &field,
                        format!("{field}: account {account} is listed twice"),
                    ));
                }
                if !allowed(&account) {
                    return Err(not_allowed(&field, &account));
                }
                accounts.push(account);
            }
            accounts
        }
        (None, None) => vec![rules.own_account.clone()],
    };
    if targets.contains(auditor_account) {
        return Err(Error::invalid(
            "auditor_account",
            "auditor_account must not be the target account itself",
        ));
    }
    Ok(targets)
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
mod tests;
