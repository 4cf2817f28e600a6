//! `audit-grants check-access`: the auditor's side. Run with the auditor's own
//! credentials, it assumes the granted role(s) exactly as the handed-over
//! profile does, says who they now are and until when, tries the preset's
//! typical reads (which must work) and one data read (which must be refused),
//! and says in plain words what to fix when a step fails.

mod diagnose;
mod target;
#[cfg(test)]
mod tests;

pub use diagnose::{
    AssumeContext, CallError, Finding, KnownWindow, OwnPolicy, Problem, diagnose_assume,
    diagnose_caller, diagnose_data_read, diagnose_read, source_identity_of,
};
pub use target::{Source, Target, targets_from_profiles, targets_from_role_arns};

use aws_config::SdkConfig;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::Serialize;

use crate::cli::ends_in;
use crate::domain::{TAG_EXPIRES_AT, format_timestamp, parse_timestamp};

/// The reads every preset (security-audit, read-only, view-only) allows, and
/// the permissions boundary keeps: each must work.
pub const TYPICAL_READS: [&str; 4] = [
    "iam:GetAccountSummary",
    "iam:ListRoles",
    "dynamodb:ListTables",
    "events:ListRules",
];

/// The data read that must be refused: a secret's value. No preset grants it
/// and the boundary denies it, so IAM answers `AccessDenied` before it looks
/// for the secret; a `ResourceNotFound` would mean the read was allowed.
pub const DATA_READ: &str = "secretsmanager:GetSecretValue";
/// The secret the data read asks for (it need not exist).
pub const DATA_READ_SECRET: &str = "audit-grants/check-access-probe";

/// One call's outcome, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub action: String,
    /// `allowed` or `refused`, or `failed` (throttled, unexpected).
    pub outcome: &'static str,
}

/// One account's check.
#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub account: String,
    pub role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Access is as granted: assumed, the end read, every typical read
    /// worked and the data read was refused.
    pub ok: bool,
    /// Who the caller was before assuming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Who the caller is now (the assumed-role session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// The end of access, from the role's `audit-grants:expires-at` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<i64>,
    pub reads: Vec<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_read: Option<Probe>,
    pub problems: Vec<Problem>,
}

/// The whole check: one report per account.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub checked_at: String,
    pub accounts: Vec<AccountReport>,
}

/// What one SDK call came to, as `CallError` when AWS (or the SDK) refused.
fn answered<T, E, R>(r: Result<T, aws_sdk_sts::error::SdkError<E, R>>) -> Result<T, CallError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    r.map_err(|e| CallError {
        code: e.code().map(str::to_owned),
        message: e
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| DisplayErrorContext(&e).to_string()),
    })
}

/// Checks every target: each with its own base configuration (the caller's
/// credentials, region and endpoint), all at once.
pub async fn check(
    targets: &[(Target, SdkConfig)],
    source_identity: Option<&str>,
    now: DateTime<Utc>,
) -> CheckReport {
    let accounts = join_all(
        targets
            .iter()
            .map(|(target, conf)| check_one(conf, target, source_identity, now)),
    )
    .await;
    CheckReport {
        ok: !accounts.is_empty() && accounts.iter().all(|a| a.ok),
        checked_at: format_timestamp(now),
        accounts,
    }
}

/// Checks one account's role.
pub async fn check_one(
    conf: &SdkConfig,
    target: &Target,
    source_identity: Option<&str>,
    now: DateTime<Utc>,
) -> AccountReport {
    let mut report = AccountReport {
        account: target.account.clone(),
        role_arn: target.role_arn.clone(),
        profile: target.profile.clone(),
        ok: false,
        caller: None,
        assumed: None,
        source_identity: None,
        ends_at: None,
        seconds_left: None,
        reads: Vec::new(),
        data_read: None,
        problems: Vec::new(),
    };
    let sts = aws_sdk_sts::Client::new(conf);
    let caller = match answered(sts.get_caller_identity().send().await) {
        Ok(out) => out.arn().unwrap_or_default().to_owned(),
        Err(e) => {
            report.problems.push(diagnose_caller(&e));
            return report;
        }
    };
    report.caller = Some(caller.clone());
    report.source_identity = source_identity
        .map(str::to_owned)
        .or_else(|| source_identity_of(&caller));
    let assumed = answered(
        sts.assume_role()
            .role_arn(&target.role_arn)
            .role_session_name(&target.session_name)
            .external_id(&target.external_id)
            .set_source_identity(report.source_identity.clone())
            .send()
            .await,
    );
    let out = match assumed {
        Ok(out) => out,
        Err(e) => {
            let own = own_policy(conf, &caller, &target.role_arn).await;
            report.problems.push(diagnose_assume(
                &e,
                &AssumeContext {
                    now,
                    window: target.window,
                    own_policy: &own,
                    caller_arn: Some(&caller),
                    role_arn: &target.role_arn,
                    external_id: &target.external_id,
                },
            ));
            return report;
        }
    };
    report.assumed = out.assumed_role_user().map(|u| u.arn().to_owned());
    let Some(c) = out.credentials() else {
        report.problems.push(diagnose_caller(&CallError {
            code: None,
            message: "AssumeRole answered without credentials".into(),
        }));
        return report;
    };
    let session = conf
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "audit-grants-check-access",
        )))
        .build();
    let (end, reads, data) = futures_util::join!(
        role_end(&session, &target.role_arn),
        typical_reads(&session),
        data_read(&session)
    );
    let end_at = match end {
        Ok(Some(end)) => {
            report.ends_at = Some(format_timestamp(end));
            report.seconds_left = Some((end - now).num_seconds().max(0));
            Some(end)
        }
        Ok(None) => {
            report.problems.push(diagnose::Problem {
                finding: Finding::Unexpected,
                step: "iam:ListRoleTags".into(),
                fix: format!(
                    "The role carries no {TAG_EXPIRES_AT} tag: it was not made by audit-grants, \
                     or the role ARN is wrong. Ask the account owner."
                ),
                aws: None,
            });
            None
        }
        Err(e) => {
            let result = Err(e);
            report
                .problems
                .extend(diagnose_read("iam:ListRoleTags", &result, now, None));
            None
        }
    };
    for (action, result) in TYPICAL_READS.iter().zip(reads) {
        let problem = diagnose_read(action, &result, now, end_at);
        report.reads.push(Probe {
            action: (*action).to_owned(),
            outcome: match (&result, &problem) {
                (Ok(()), _) => "allowed",
                (Err(_), Some(p))
                    if matches!(p.finding, Finding::ReadRefused | Finding::WindowOver) =>
                {
                    "refused"
                }
                _ => "failed",
            },
        });
        report.problems.extend(problem);
    }
    let problem = diagnose_data_read(DATA_READ, &data);
    report.data_read = Some(Probe {
        action: DATA_READ.to_owned(),
        outcome: match &problem {
            None => "refused",
            Some(p) if p.finding == Finding::DataReadAllowed => "allowed",
            Some(_) => "failed",
        },
    });
    report.problems.extend(problem);
    // A read refusal and the role's absence say the same thing many times:
    // keep each finding once.
    let mut seen = Vec::new();
    report.problems.retain(|p| {
        let first = !seen.contains(&p.finding);
        seen.push(p.finding);
        first
    });
    report.ok = report.problems.is_empty();
    report
}

/// The role's end, from its `audit-grants:expires-at` tag (the presets all
/// allow `iam:ListRoleTags`).
async fn role_end(conf: &SdkConfig, role_arn: &str) -> Result<Option<DateTime<Utc>>, CallError> {
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let out = answered(
        aws_sdk_iam::Client::new(conf)
            .list_role_tags()
            .role_name(name)
            .send()
            .await,
    )?;
    Ok(out
        .tags()
        .iter()
        .find(|t| t.key() == TAG_EXPIRES_AT)
        .and_then(|t| parse_timestamp(t.value()).ok()))
}

/// `TYPICAL_READS`, in that order, all at once.
async fn typical_reads(conf: &SdkConfig) -> Vec<Result<(), CallError>> {
    let iam = aws_sdk_iam::Client::new(conf);
    let dynamodb = aws_sdk_dynamodb::Client::new(conf);
    let events = aws_sdk_eventbridge::Client::new(conf);
    let (a, b, c, d) = futures_util::join!(
        iam.get_account_summary().send(),
        iam.list_roles().max_items(1).send(),
        dynamodb.list_tables().limit(1).send(),
        events.list_rules().limit(1).send(),
    );
    vec![
        answered(a).map(drop),
        answered(b).map(drop),
        answered(c).map(drop),
        answered(d).map(drop),
    ]
}

async fn data_read(conf: &SdkConfig) -> Result<(), CallError> {
    answered(
        aws_sdk_secretsmanager::Client::new(conf)
            .get_secret_value()
            .secret_id(DATA_READ_SECRET)
            .send()
            .await,
    )
    .map(drop)
}

/// Whether the caller's own policy allows the assume, simulated in the
/// caller's account (`iam:SimulatePrincipalPolicy`). Only run when STS refused
/// without saying why; many auditors may run it, and when they may not, the
/// answer says so.
async fn own_policy(conf: &SdkConfig, caller: &str, role_arn: &str) -> OwnPolicy {
    let iam = aws_sdk_iam::Client::new(conf);
    // The simulation needs the IAM identity's ARN: a user's is the caller's;
    // an assumed role's comes from IAM (its path is not in the session ARN).
    let source = if caller.contains(":user/") {
        caller.to_owned()
    } else if let Some(role) = caller
        .split(":assumed-role/")
        .nth(1)
        .and_then(|r| r.split('/').next())
    {
        match answered(iam.get_role().role_name(role).send().await) {
            Ok(out) => match out.role() {
                Some(r) => r.arn().to_owned(),
                None => return OwnPolicy::Unknown("iam:GetRole answered no role".into()),
            },
            Err(e) => return OwnPolicy::Unknown(e.said()),
        }
    } else {
        return OwnPolicy::Unknown(format!("{caller} is not an IAM user or role"));
    };
    let out = answered(
        iam.simulate_principal_policy()
            .policy_source_arn(source)
            .action_names("sts:AssumeRole")
            .resource_arns(role_arn)
            .send()
            .await,
    );
    match out {
        Ok(out) => match out.evaluation_results().first().map(|r| r.eval_decision()) {
            Some(aws_sdk_iam::types::PolicyEvaluationDecisionType::Allowed) => OwnPolicy::Allows,
            Some(_) => OwnPolicy::Denies,
            None => OwnPolicy::Unknown("the simulation gave no result".into()),
        },
        Err(e) => OwnPolicy::Unknown(e.said()),
    }
}

/// The report as people read it: one line per account (what is granted, or
/// what failed), then, under a failed account, what to fix.
pub fn render(report: &CheckReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for a in &report.accounts {
        let mut line = format!("{}  {}", a.account, if a.ok { "ok    " } else { "FAILED" });
        if let Some(assumed) = &a.assumed {
            line.push_str(&format!("  as {assumed}"));
        }
        if let Some(end) = &a.ends_at {
            let left = parse_timestamp(end)
                .map(|e| ends_in(e, now))
                .unwrap_or_default();
            line.push_str(&format!("  until {end} ({left} left)"));
        }
        if !a.reads.is_empty() {
            let allowed = a.reads.iter().filter(|r| r.outcome == "allowed").count();
            line.push_str(&format!("  reads {allowed}/{} allowed", a.reads.len()));
        }
        if let Some(d) = &a.data_read {
            line.push_str(&format!("  data read {}", d.outcome));
        }
        if a.assumed.is_none() {
            line.push_str(&format!("  {}", a.role_arn));
        }
        out.push_str(&line);
        out.push('\n');
        for r in a.reads.iter().filter(|r| r.outcome != "allowed") {
            out.push_str(&format!("    {} was {}\n", r.action, r.outcome));
        }
        for p in &a.problems {
            out.push_str(&format!("    fix: {}\n", p.fix));
            if let Some(aws) = &p.aws {
                out.push_str(&format!("         (AWS answered {}: {aws})\n", p.step));
            }
        }
    }
    out.push_str(if report.ok {
        "access is as granted\n"
    } else {
        "access is NOT as granted: see fix above\n"
    });
    out
}
