//! What an answer from AWS means for the auditor, and what to fix: pure
//! functions over the error code and message AWS returned, so every message
//! has a test that runs in microseconds.
//!
//! STS answers a wrong external ID, a role that no longer exists and a
//! principal the role does not name with the same `AccessDenied` (by design:
//! outsiders cannot probe another account's roles). What tells them apart is
//! what the auditor's side can know: the reason clause AWS appends when the
//! denial is on the caller's side, a simulation of the caller's own policy,
//! the window the handed-over profile records, and the external ID's format.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::ends_in;
use crate::domain::format_timestamp;

/// An error AWS answered with: its code (`AccessDenied`, `Throttling`…) and
/// message, as the SDK parsed them from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: Option<String>,
    pub message: String,
}

impl CallError {
    pub fn new(code: &str, message: &str) -> Self {
        CallError {
            code: Some(code.to_owned()),
            message: message.to_owned(),
        }
    }

    fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    fn is_throttling(&self) -> bool {
        matches!(
            self.code(),
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "ProvisionedThroughputExceededException"
                | "RequestThrottled"
        )
    }

    fn is_access_denied(&self) -> bool {
        matches!(
            self.code(),
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Forbidden"
        )
    }

    fn is_bad_credentials(&self) -> bool {
        matches!(
            self.code(),
            "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "UnrecognizedClientException"
                | "InvalidAccessKeyId"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
        )
    }

    /// No answer from AWS because the SDK found no credentials to sign with.
    fn is_missing_credentials(&self) -> bool {
        self.code.is_none() && self.message.to_ascii_lowercase().contains("credential")
    }

    /// `code: message`, as AWS said it.
    pub fn said(&self) -> String {
        match &self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// What went wrong, as a code for scripts (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The caller's own credentials do not work (missing, expired, invalid).
    Credentials,
    /// The caller's own identity policy (or permissions boundary) does not
    /// allow `sts:AssumeRole` on the role.
    OwnPolicy,
    /// An SCP or RCP in the caller's organization denies the assume.
    OrgPolicy,
    /// The grant's window has not opened yet.
    WindowNotStarted,
    /// The grant's window is over.
    WindowOver,
    /// The external ID is not one STS accepts at all.
    ExternalIdMalformed,
    /// The role refused the caller: a wrong external ID, a grant revoked or
    /// ended early (the role is gone), or a principal the grant does not name.
    RoleRefused,
    /// IAM says the role does not exist.
    RoleMissing,
    /// AWS throttled the check (after the SDK's retries).
    Throttled,
    /// A read the preset allows was refused.
    ReadRefused,
    /// A data read succeeded or reached the resource: it must be refused.
    DataReadAllowed,
    /// Anything else, with AWS's words.
    Unexpected,
}

/// One thing to fix: what, at which step, in plain words, and AWS's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub finding: Finding,
    /// The call that showed it (`sts:AssumeRole`, `iam:ListRoles`…).
    pub step: String,
    /// What it means and what to do, for a person.
    pub fix: String,
    /// What AWS answered, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<String>,
}

impl Problem {
    fn new(finding: Finding, step: &str, fix: String, err: Option<&CallError>) -> Self {
        Problem {
            finding,
            step: step.to_owned(),
            fix,
            aws: err.map(CallError::said),
        }
    }
}

/// Whether the caller's own policy allows `sts:AssumeRole` on the role, as
/// `iam:SimulatePrincipalPolicy` in the caller's account answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnPolicy {
    Allows,
    Denies,
    /// The simulation could not be run (no permission for it, or not an IAM
    /// user or role); says why.
    Unknown(String),
}

/// The grant's window as the handed-over profile records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What the check knows when `AssumeRole` fails.
#[derive(Debug, Clone)]
pub struct AssumeContext<'a> {
    pub now: DateTime<Utc>,
    pub window: Option<KnownWindow>,
    pub own_policy: &'a OwnPolicy,
    pub caller_arn: Option<&'a str>,
    pub role_arn: &'a str,
    pub external_id: &'a str,
}

const ASSUME: &str = "sts:AssumeRole";

/// The `AccessDenied` whose reason names the caller's side, which AWS says
/// in a clause after "because".
fn denied_by_own_side(message: &str) -> Option<Finding> {
    let m = message.to_ascii_lowercase();
    if m.contains("service control policy") || m.contains("resource control policy") {
        Some(Finding::OrgPolicy)
    } else if m.contains("identity-based policy") || m.contains("permissions boundary") {
        Some(Finding::OwnPolicy)
    } else {
        None
    }
}

/// What a failed `AssumeRole` means.
pub fn diagnose_assume(err: &CallError, ctx: &AssumeContext<'_>) -> Problem {
    let you = ctx.caller_arn.unwrap_or("your identity");
    if err.is_throttling() {
        return throttled(ASSUME, err);
    }
    if err.is_bad_credentials() || err.is_missing_credentials() {
        return credentials(ASSUME, err);
    }
    if err.code() == "ValidationError" && err.message.to_ascii_lowercase().contains("externalid") {
        return Problem::new(
            Finding::ExternalIdMalformed,
            ASSUME,
            "The external ID is not one STS accepts (2 to 1,224 characters: letters, digits \
             and +=,.@:/-). Copy it again, exactly, from the grant you were handed."
                .into(),
            Some(err),
        );
    }
    if !err.is_access_denied() {
        return unexpected(ASSUME, err);
    }
    match denied_by_own_side(&err.message) {
        Some(Finding::OrgPolicy) => {
            return Problem::new(
                Finding::OrgPolicy,
                ASSUME,
                "A service or resource control policy of your own AWS organization forbids \
                 assuming this role. Ask your organization's administrators to allow \
                 sts:AssumeRole and sts:SetSourceIdentity on the role ARN."
                    .into(),
                Some(err),
            );
        }
        Some(_) => return own_policy(you, ctx.role_arn, err),
        None => {}
    }
    if ctx.own_policy == &OwnPolicy::Denies {
        return own_policy(you, ctx.role_arn, err);
    }
    if let Some(w) = ctx.window {
        if ctx.now < w.start {
            return Problem::new(
                Finding::WindowNotStarted,
                ASSUME,
                format!(
                    "The access window has not opened yet: it opens at {} (in {}). \
                     Run the check again then.",
                    format_timestamp(w.start),
                    ends_in(w.start, ctx.now)
                ),
                Some(err),
            );
        }
        if ctx.now >= w.end {
            return Problem::new(
                Finding::WindowOver,
                ASSUME,
                format!(
                    "The access window is over: it ended at {}. Access cannot be used \
                     any more; ask the account owner for an extension or a new grant.",
                    format_timestamp(w.end)
                ),
                Some(err),
            );
        }
    }
    let yours = match ctx.own_policy {
        OwnPolicy::Allows => "Your own policy allows the assume (simulated in your account)",
        OwnPolicy::Denies => unreachable!("handled above"),
        OwnPolicy::Unknown(_) => "Your own policy could not be checked",
    };
    let window = match ctx.window {
        Some(w) => format!("the window is open until {}", format_timestamp(w.end)),
        None => "the window is not known here (use the handed-over profile to check it)".into(),
    };
    let shown: String = ctx.external_id.chars().take(4).collect();
    Problem::new(
        Finding::RoleRefused,
        ASSUME,
        format!(
            "The role refused you. {yours}, and {window}. STS gives the same answer for \
             each of these, so check them in turn: (1) the external ID must be exactly the \
             one handed over (you sent one starting {shown:?}); (2) the grant may have been \
             revoked or ended early, and then the role no longer exists: ask the account \
             owner; (3) you must call as one of the principals the grant names (you are \
             {you})."
        ),
        Some(err),
    )
}

fn own_policy(you: &str, role_arn: &str, err: &CallError) -> Problem {
    Problem::new(
        Finding::OwnPolicy,
        ASSUME,
        format!(
            "Your own AWS account does not let {you} assume the role: attach the grant's \
             `auditor_policy` (sts:AssumeRole and sts:SetSourceIdentity on {role_arn}) to \
             that principal in your account, and check that no permissions boundary or \
             deny there removes it."
        ),
        Some(err),
    )
}

fn throttled(step: &str, err: &CallError) -> Problem {
    Problem::new(
        Finding::Throttled,
        step,
        "AWS throttled the check, even after retries. Nothing is wrong with the access \
         itself: wait a minute and run the check again."
            .into(),
        Some(err),
    )
}

fn credentials(step: &str, err: &CallError) -> Problem {
    Problem::new(
        Finding::Credentials,
        step,
        "Your own AWS credentials did not work (missing, expired or invalid). Sign in to \
         your account again (the profile's source_profile, or your environment) and rerun."
            .into(),
        Some(err),
    )
}

fn unexpected(step: &str, err: &CallError) -> Problem {
    Problem::new(
        Finding::Unexpected,
        step,
        format!(
            "AWS answered what this check does not expect: {}",
            err.said()
        ),
        Some(err),
    )
}

/// What a failed `sts:GetCallerIdentity` with the caller's own credentials means.
pub fn diagnose_caller(err: &CallError) -> Problem {
    if err.is_throttling() {
        return throttled("sts:GetCallerIdentity", err);
    }
    if err.is_bad_credentials() || err.is_missing_credentials() {
        return credentials("sts:GetCallerIdentity", err);
    }
    unexpected("sts:GetCallerIdentity", err)
}

/// What a preset read with the role's session came to: `None` when it worked.
pub fn diagnose_read(
    step: &str,
    result: &Result<(), CallError>,
    now: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Option<Problem> {
    let err = result.as_ref().err()?;
    Some(if err.is_throttling() {
        throttled(step, err)
    } else if err.code() == "NoSuchEntity" {
        role_missing(step, err)
    } else if err.is_access_denied() && end.is_some_and(|end| now >= end) {
        Problem::new(
            Finding::WindowOver,
            step,
            "The access window ended while this session was open: IAM now refuses every \
             call the role makes. Ask the account owner for an extension if you need more time."
                .into(),
            Some(err),
        )
    } else if err.is_access_denied() {
        Problem::new(
            Finding::ReadRefused,
            step,
            format!(
                "A read the grant's preset allows was refused ({step}). The grant may have \
                 just been revoked (IAM then refuses every live session), or a policy of the \
                 target account blocks it. Ask the account owner, quoting this message."
            ),
            Some(err),
        )
    } else if err.is_bad_credentials() {
        Problem::new(
            Finding::Credentials,
            step,
            "The role's session credentials stopped working (expired or revoked). Run the \
             check again; if it persists, the grant may have been revoked."
                .into(),
            Some(err),
        )
    } else {
        unexpected(step, err)
    })
}

fn role_missing(step: &str, err: &CallError) -> Problem {
    Problem::new(
        Finding::RoleMissing,
        step,
        "The role does not exist: the grant was revoked or has ended, or the role ARN \
         names the wrong account. Access is over unless the account owner grants it again."
            .into(),
        Some(err),
    )
}

/// What the data read came to: `None` when it was refused, as it must be.
pub fn diagnose_data_read(step: &str, result: &Result<(), CallError>) -> Option<Problem> {
    match result {
        Err(err) if err.is_access_denied() => None,
        Err(err) if err.is_throttling() => Some(throttled(step, err)),
        Err(err) if err.code() != "ResourceNotFoundException" => Some(unexpected(step, err)),
        other => Some(Problem::new(
            Finding::DataReadAllowed,
            step,
            "The role was allowed to read data content (a secret's value): an audit grant \
             must never allow that. Stop and tell the account owner: the role may lack its \
             permissions boundary."
                .into(),
            other.as_ref().err(),
        )),
    }
}

/// The caller's name to carry as the session's source identity: an IAM
/// user's name, or the session name of an assumed role, in STS's alphabet
/// (`[\w+=,.@-]`, 2–64 characters). `None` for the root user or a federated
/// caller, which have no such name.
pub fn source_identity_of(caller_arn: &str) -> Option<String> {
    let resource = caller_arn.splitn(6, ':').nth(5)?;
    let name = if let Some(rest) = resource.strip_prefix("user/") {
        rest.rsplit('/').next()?
    } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
        rest.split('/').nth(1)?
    } else {
        return None;
    };
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect();
    (safe.len() >= 2).then_some(safe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/audit-grants/AUD-1042";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

    /// STS's answer when the role's trust does not let the caller in (a wrong
    /// external ID, a deleted role, an unnamed principal, outside the window).
    fn trust_denied() -> CallError {
        CallError::new(
            "AccessDenied",
            &format!(
                "User: {ALICE} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
            ),
        )
    }

    fn ctx<'a>(own: &'a OwnPolicy, window: Option<KnownWindow>) -> AssumeContext<'a> {
        AssumeContext {
            now: at("2026-12-02T09:00:00Z"),
            window,
            own_policy: own,
            caller_arn: Some(ALICE),
            role_arn: ROLE,
            external_id: "f2c4e9a1-secret",
        }
    }

    fn window(start: &str, end: &str) -> Option<KnownWindow> {
        Some(KnownWindow {
            start: at(start),
            end: at(end),
        })
    }

    #[test]
    fn a_denial_on_the_callers_side_names_auditor_policy() {
        let err = CallError::new(
            "AccessDenied",
            &format!(
                "User: {ALICE} is not authorized to perform: sts:AssumeRole on resource: {ROLE} \
                 because no identity-based policy allows the sts:AssumeRole action"
            ),
        );
        let own = OwnPolicy::Unknown("not run".into());
        let p = diagnose_assume(&err, &ctx(&own, None));
        assert_eq!(p.finding, Finding::OwnPolicy);
        assert!(p.fix.contains("auditor_policy"), "{}", p.fix);
        assert!(p.fix.contains(ROLE));
        assert!(p.aws.unwrap().starts_with("AccessDenied: User: "));
    }

    #[test]
    fn a_simulated_implicit_deny_is_the_callers_policy_even_when_sts_says_no_reason() {
        let p = diagnose_assume(&trust_denied(), &ctx(&OwnPolicy::Denies, None));
        assert_eq!(p.finding, Finding::OwnPolicy);
        assert!(p.fix.contains("auditor_policy"));
    }

    #[test]
    fn an_explicit_deny_in_the_callers_boundary_or_scp_is_named() {
        let boundary = CallError::new(
            "AccessDenied",
            "User: x is not authorized to perform: sts:AssumeRole on resource: y with an \
             explicit deny in a permissions boundary",
        );
        let own = OwnPolicy::Allows;
        assert_eq!(
            diagnose_assume(&boundary, &ctx(&own, None)).finding,
            Finding::OwnPolicy
        );
        let scp = CallError::new(
            "AccessDenied",
            "User: x is not authorized to perform: sts:AssumeRole on resource: y with an \
             explicit deny in a service control policy",
        );
        let p = diagnose_assume(&scp, &ctx(&own, None));
        assert_eq!(p.finding, Finding::OrgPolicy);
        assert!(p.fix.contains("organization"));
    }

    #[test]
    fn before_the_window_says_when_it_opens() {
        let own = OwnPolicy::Allows;
        let p = diagnose_assume(
            &trust_denied(),
            &ctx(&own, window("2026-12-02T12:30:00Z", "2026-12-05T09:00:00Z")),
        );
        assert_eq!(p.finding, Finding::WindowNotStarted);
        assert!(
            p.fix.contains("2026-12-02T12:30:00Z (in 3h 30m)"),
            "{}",
            p.fix
        );
    }

    #[test]
    fn after_the_window_says_it_ended() {
        let own = OwnPolicy::Unknown("no permission".into());
        let p = diagnose_assume(
            &trust_denied(),
            &ctx(&own, window("2026-11-28T09:00:00Z", "2026-12-01T09:00:00Z")),
        );
        assert_eq!(p.finding, Finding::WindowOver);
        assert!(p.fix.contains("ended at 2026-12-01T09:00:00Z"), "{}", p.fix);
    }

    #[test]
    fn inside_the_window_a_refusal_lists_external_id_revocation_and_principal() {
        let own = OwnPolicy::Allows;
        let p = diagnose_assume(
            &trust_denied(),
            &ctx(&own, window("2026-12-01T09:00:00Z", "2026-12-04T09:00:00Z")),
        );
        assert_eq!(p.finding, Finding::RoleRefused);
        for needle in [
            "external ID",
            "\"f2c4\"",
            "revoked",
            "no longer exists",
            ALICE,
            "simulated",
            "open until 2026-12-04T09:00:00Z",
        ] {
            assert!(p.fix.contains(needle), "{needle:?} in {}", p.fix);
        }
        assert!(
            !p.fix.contains("f2c4e9a1"),
            "the external ID is not echoed whole"
        );
    }

    #[test]
    fn a_malformed_external_id_is_told_apart() {
        let err = CallError::new(
            "ValidationError",
            "1 validation error detected: Value 'a b' at 'externalId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
        );
        let own = OwnPolicy::Allows;
        let p = diagnose_assume(&err, &ctx(&own, None));
        assert_eq!(p.finding, Finding::ExternalIdMalformed);
    }

    #[test]
    fn throttling_and_bad_credentials_are_told_apart() {
        let own = OwnPolicy::Allows;
        let p = diagnose_assume(
            &CallError::new("Throttling", "Rate exceeded"),
            &ctx(&own, None),
        );
        assert_eq!(p.finding, Finding::Throttled);
        assert!(p.fix.contains("run the check again"));
        for code in [
            "InvalidClientTokenId",
            "ExpiredToken",
            "SignatureDoesNotMatch",
        ] {
            let p = diagnose_assume(&CallError::new(code, "x"), &ctx(&own, None));
            assert_eq!(p.finding, Finding::Credentials, "{code}");
        }
        let no_answer = CallError {
            code: None,
            message: "dispatch failure: no credentials in the chain".into(),
        };
        assert_eq!(
            diagnose_assume(&no_answer, &ctx(&own, None)).finding,
            Finding::Credentials
        );
        assert_eq!(
            diagnose_caller(&CallError::new("ExpiredToken", "x")).finding,
            Finding::Credentials
        );
        let garbled = CallError {
            code: None,
            message: "error parsing XML: no root element (500)".into(),
        };
        assert_eq!(
            diagnose_assume(&garbled, &ctx(&own, None)).finding,
            Finding::Unexpected
        );
    }

    #[test]
    fn reads_are_judged_by_code_and_window() {
        let now = at("2026-12-02T09:00:00Z");
        let end = Some(at("2026-12-04T09:00:00Z"));
        assert_eq!(diagnose_read("iam:ListRoles", &Ok(()), now, end), None);
        let denied = Err(CallError::new(
            "AccessDenied",
            "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: \
             iam:ListRoles with an explicit deny in an identity-based policy",
        ));
        let p = diagnose_read("iam:ListRoles", &denied, now, end).unwrap();
        assert_eq!(p.finding, Finding::ReadRefused);
        assert!(p.fix.contains("iam:ListRoles"));
        let after = at("2026-12-04T09:00:01Z");
        let p = diagnose_read("iam:ListRoles", &denied, after, end).unwrap();
        assert_eq!(p.finding, Finding::WindowOver);
        let gone = Err(CallError::new(
            "NoSuchEntity",
            "The role with name AUD-1042 cannot be found.",
        ));
        let p = diagnose_read("iam:ListRoleTags", &gone, now, end).unwrap();
        assert_eq!(p.finding, Finding::RoleMissing);
        assert!(p.fix.contains("revoked"));
        let slow = Err(CallError::new("ThrottlingException", "Rate exceeded"));
        assert_eq!(
            diagnose_read("dynamodb:ListTables", &slow, now, end)
                .unwrap()
                .finding,
            Finding::Throttled
        );
    }

    #[test]
    fn the_data_read_must_be_refused() {
        let step = "secretsmanager:GetSecretValue";
        let refused = Err(CallError::new(
            "AccessDeniedException",
            "User: x is not authorized to perform: secretsmanager:GetSecretValue on \
             resource: y with an explicit deny in a permissions boundary",
        ));
        assert_eq!(diagnose_data_read(step, &refused), None);
        let reached = Err(CallError::new(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        ));
        let p = diagnose_data_read(step, &reached).unwrap();
        assert_eq!(p.finding, Finding::DataReadAllowed);
        assert!(p.fix.contains("boundary"));
        assert_eq!(
            diagnose_data_read(step, &Ok(())).unwrap().finding,
            Finding::DataReadAllowed
        );
        let slow = Err(CallError::new("ThrottlingException", "Rate exceeded"));
        assert_eq!(
            diagnose_data_read(step, &slow).unwrap().finding,
            Finding::Throttled
        );
    }

    #[test]
    fn the_source_identity_is_the_callers_own_name() {
        assert_eq!(source_identity_of(ALICE).as_deref(), Some("alice"));
        assert_eq!(
            source_identity_of("arn:aws:iam::111122223333:user/team/bob.smith@example.com")
                .as_deref(),
            Some("bob.smith@example.com")
        );
        assert_eq!(
            source_identity_of("arn:aws:sts::111122223333:assumed-role/Auditors/carol").as_deref(),
            Some("carol")
        );
        assert_eq!(source_identity_of("arn:aws:iam::111122223333:root"), None);
        assert_eq!(
            source_identity_of("arn:aws:sts::111122223333:federated-user/x"),
            None
        );
    }
}
