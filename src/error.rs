//! The one error type callers see, and the one place it maps to HTTP codes and
//! Lambda outcomes (retryable or not).

use serde_json::{Value, json};

/// Error codes of SPEC.md, in the order it lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidField,
    UnknownField,
    MissingField,
    TargetNotAllowed,
    Conflict,
    TicketEnded,
    NotFound,
    Unauthorized,
    PayloadTooLarge,
    AuditorNotAllowed,
    StaleRequest,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::TargetNotAllowed => "target_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TicketEnded => "ticket_ended",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::AuditorNotAllowed => "auditor_not_allowed",
            ErrorCode::StaleRequest => "stale_request",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidField
            | ErrorCode::UnknownField
            | ErrorCode::MissingField
            | ErrorCode::TargetNotAllowed
            | ErrorCode::AuditorNotAllowed
            | ErrorCode::StaleRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::TicketEnded => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal => 500,
        }
    }
}

/// A rejection (the caller's fault, permanent) or an internal failure (ours,
/// worth retrying). Rejections change nothing; their message is safe to return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Rejected {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn reject(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Rejected {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Rejected {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::InvalidField, field, message)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Rejected { code, .. } => *code,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn field_name(&self) -> Option<&str> {
        match self {
            Error::Rejected { field, .. } => field.as_deref(),
            Error::Internal(_) => None,
        }
    }

    /// Internal failures are worth a retry (EventBridge, the sweeper); rejections never.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Internal(_))
    }

    /// SPEC.md's error body. Internal failures carry no internals: those go to the log.
    pub fn to_json(&self) -> Value {
        match self {
            Error::Rejected {
                code,
                message,
                field,
            } => json!({"error": {"code": code.as_str(), "message": message, "field": field}}),
            Error::Internal(_) => json!({"error": {
                "code": "internal",
                "message": "internal error; it has been logged and the request may be retried",
                "field": null,
            }}),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
