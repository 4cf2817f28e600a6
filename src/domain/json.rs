//! Reading the fields of a JSON object as sent, with SPEC.md's error codes.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

/// `value` as an object, or `invalid_request` naming `what`.
pub fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| {
        Error::reject(
            ErrorCode::InvalidRequest,
            format!("{what} must be a JSON object"),
        )
    })
}

/// Requires `obj` to have only `allowed` keys (reports the first other one).
pub fn only_fields(obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::field(
            ErrorCode::UnknownField,
            k.clone(),
            format!("unknown field {k:?}"),
        )),
        None => Ok(()),
    }
}

/// A field that is absent or `null` is not given.
pub fn get<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

/// A required string field.
pub fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    optional_str(obj, field)?.ok_or_else(|| {
        Error::field(
            ErrorCode::MissingField,
            field,
            format!("{field} is required"),
        )
    })
}

/// An optional string field (`null` is absent).
pub fn optional_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match get(obj, field) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| Error::invalid(field, format!("{field} must be a string"))),
    }
}
