//! The operator CLI: the same service and handlers as the Lambda.

mod print;

pub use print::{ends_in, list_table};
use print::{print_grant, print_history, print_json, print_reconcile, print_sweep};

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::aws::AwsClients;
use crate::command::{Command, Outcome, SweepOptions};
use crate::config::Settings;
use crate::domain::{
    ExtendRequest, GrantRequestBody, GrantStatus, Origin, RevokeRequest, Ticket, parse_reason,
    parse_ticket_field, parse_timestamp,
};
use crate::error::Error;
use crate::lambda::Function;
use crate::service::{Mode, ReconcileOptions};

#[derive(Debug, Parser)]
#[command(
    name = "audit-grants",
    version,
    about = "Time-boxed, least-privilege, cross-account access for external auditors.",
    long_about = "Time-boxed, least-privilege, cross-account access for external auditors.\n\n\
        The same binary is the Lambda bootstrap (when AWS_LAMBDA_RUNTIME_API is set).\n\
        Settings come from the environment: GRANTS_TABLE and PERMISSIONS_BOUNDARY_ARN are required."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the Lambda handler once on an event JSON file (`-` = stdin); print its result.
    Invoke { file: String },
    /// Create, where missing, the grants table and the permissions-boundary policy.
    Setup {
        #[arg(long)]
        json: bool,
    },
    /// Create a grant.
    Grant {
        #[arg(long)]
        ticket: String,
        #[arg(long)]
        auditor_account: String,
        /// An auditor principal ARN (repeat for several).
        #[arg(long = "principal", required = true)]
        principals: Vec<String>,
        #[arg(long)]
        access: Option<String>,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        #[arg(long)]
        duration: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
        #[arg(long)]
        target_account: Option<String>,
        /// Several accounts, comma-separated (one role each, one window).
        #[arg(long, value_delimiter = ',', conflicts_with = "target_account")]
        target_accounts: Vec<String>,
        /// Who asks (defaults to the local user name).
        #[arg(long)]
        requested_by: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a grant and its history.
    Show {
        ticket: String,
        #[arg(long)]
        json: bool,
    },
    /// The evidence pack of one grant: the approval, the role as granted,
    /// every change, the proof of removal and the auditor's recorded activity.
    Evidence {
        ticket: String,
        #[arg(long, value_enum, default_value = "json")]
        format: crate::evidence::Format,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// List grants.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant now.
    Revoke {
        ticket: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Move the end of an active grant.
    Extend {
        ticket: String,
        #[arg(long)]
        end: String,
        #[arg(long)]
        json: bool,
    },
    /// Compare IAM with the records and mend drift and orphans (see README).
    Reconcile {
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the permissions-boundary policy document (as `setup` creates it and
    /// the SAM templates deploy it).
    BoundaryPolicy,
    /// For the auditor, with their own credentials: assume the granted role(s)
    /// as the handed-over profile does, and check that access is as granted.
    /// Exit 0 only when it is.
    #[command(group = clap::ArgGroup::new("role").required(true).args(["profile", "role_arn"]))]
    CheckAccess {
        /// The handed-over profile (for several accounts: the ticket's profile
        /// name without the account, to check every `<name>-<account>`).
        #[arg(long)]
        profile: Option<String>,
        /// The role to check (repeat for several accounts).
        #[arg(long = "role-arn", requires = "external_id")]
        role_arn: Vec<String>,
        #[arg(long, requires = "role_arn")]
        external_id: Option<String>,
        /// The session's source identity (default: your user or session name).
        #[arg(long)]
        source_identity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Tear down what is due as of a time (default now).
    Sweep {
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Prints a rejection or failure on stderr: exit 1.
fn fail(e: &Error) -> ExitCode {
    match e {
        Error::Rejected { .. } => {
            let field = e
                .field_name()
                .map(|f| format!(" (field: {f})"))
                .unwrap_or_default();
            eprintln!("error: {}: {e}{field}", e.code().as_str());
        }
        Error::Internal(inner) => eprintln!("error: {inner:#}"),
    }
    ExitCode::from(1)
}

fn ticket_arg(raw: &str) -> Result<Ticket, Error> {
    parse_ticket_field(raw)
}

fn time_arg(field: &str, raw: &str) -> Result<DateTime<Utc>, Error> {
    parse_timestamp(raw).map_err(|e| Error::invalid(field, format!("{field} {e}")))
}

pub async fn run(cli: Cli) -> ExitCode {
    if let CliCommand::BoundaryPolicy = cli.command {
        print_json(&crate::service::to_json(
            &crate::policy::permissions_boundary(),
        ));
        return ExitCode::SUCCESS;
    }
    if let CliCommand::CheckAccess {
        profile,
        role_arn,
        external_id,
        source_identity,
        json,
    } = cli.command
    {
        return check_access(profile, role_arn, external_id, source_identity, json).await;
    }
    let settings = match Settings::from_env() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("audit-grants: {e}");
            return ExitCode::from(1);
        }
    };
    let clients = AwsClients::from_env().await;
    if let CliCommand::Setup { json } = cli.command {
        return match crate::wiring::setup(&clients, &settings).await {
            Ok(report) => {
                if json {
                    print_json(&crate::service::to_json(&report));
                } else {
                    let state = |created| if created { "created" } else { "exists" };
                    println!(
                        "table    {}  ({})",
                        report.table,
                        state(report.table_created)
                    );
                    println!(
                        "boundary {}  ({})",
                        report.boundary_arn,
                        state(report.boundary_created)
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: setup: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    // Metrics are the Lambda's; the CLI's stdout carries its results.
    let function = crate::wiring::function(&clients, settings, crate::metrics::Metrics::default());
    match execute(&function, cli.command).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// The command a CLI invocation asks for, parsed by the same rules as every
/// other trigger's, and whether to print JSON.
fn command_of(cli: CliCommand, now: DateTime<Utc>) -> Result<(Command, bool), Error> {
    Ok(match cli {
        CliCommand::Setup { .. }
        | CliCommand::BoundaryPolicy
        | CliCommand::Invoke { .. }
        | CliCommand::CheckAccess { .. } => {
            unreachable!("not a service command")
        }
        CliCommand::Grant {
            ticket,
            auditor_account,
            principals,
            access,
            start,
            end,
            duration,
            external_id,
            target_account,
            target_accounts,
            requested_by,
            reason,
            json,
        } => {
            let body = GrantRequestBody {
                ticket: Some(ticket),
                requested_by: Some(requested_by.unwrap_or_else(local_user)),
                auditor_account: Some(auditor_account),
                principals: Some(principals),
                external_id,
                access,
                start,
                end,
                duration,
                target_account,
                target_accounts: (!target_accounts.is_empty()).then_some(target_accounts),
                reason,
            };
            (Command::Create(Box::new(body)), json)
        }
        CliCommand::Show { ticket, json } => (Command::Show(ticket_arg(&ticket)?), json),
        CliCommand::Evidence { ticket, .. } => {
            (Command::Evidence(ticket_arg(&ticket)?, None), false)
        }
        CliCommand::List { status, json } => {
            let status = status
                .map(|s| GrantStatus::parse(&s).map_err(|e| Error::invalid("status", e)))
                .transpose()?;
            (Command::List(status), json)
        }
        CliCommand::Revoke {
            ticket,
            reason,
            json,
        } => {
            let request = RevokeRequest {
                ticket: ticket_arg(&ticket)?,
                reason: parse_reason(reason.as_deref())?,
            };
            (Command::Revoke(request), json)
        }
        CliCommand::Extend { ticket, end, json } => {
            let request = ExtendRequest {
                ticket: ticket_arg(&ticket)?,
                end: time_arg("end", &end)?,
            };
            (Command::Extend(request), json)
        }
        CliCommand::Reconcile { dry_run, json } => (
            Command::Reconcile(ReconcileOptions {
                mode: Mode::from_dry_run(dry_run),
                deadline: None,
            }),
            json,
        ),
        CliCommand::Sweep {
            as_of,
            dry_run,
            json,
        } => {
            let as_of = match as_of {
                Some(raw) => time_arg("as_of", &raw)?,
                None => now,
            };
            let options = SweepOptions {
                as_of,
                mode: Mode::from_dry_run(dry_run),
                deadline: None,
            };
            (Command::Sweep(options), json)
        }
    })
}

async fn execute(function: &Function, cli: CliCommand) -> Result<ExitCode, Error> {
    if let CliCommand::Invoke { file } = cli {
        let text =
            read_input(&file).map_err(|e| Error::Internal(e.context(format!("reading {file}"))))?;
        let event: Value = serde_json::from_str(&text).map_err(|e| {
            Error::reject(
                crate::error::ErrorCode::InvalidRequest,
                format!("{file} is not JSON: {e}"),
            )
        })?;
        let result = crate::lambda::handle_event(function, event, None).await?;
        print_json(&result);
        return Ok(ExitCode::SUCCESS);
    }
    let now = function.service.now();
    let written = match &cli {
        CliCommand::Evidence { format, out, .. } => Some((*format, out.clone())),
        _ => None,
    };
    let (command, json) = command_of(cli, now)?;
    let origin = Origin::cli(&local_user());
    let outcome = crate::command::execute(&function.service, command, &origin).await?;
    let failed = match outcome {
        Outcome::Created(created) => {
            print_grant(created.grant(), json);
            false
        }
        Outcome::Grant(grant) => {
            print_grant(&grant, json);
            false
        }
        Outcome::Shown(grant, history) => {
            print_history(&grant, &history, json);
            false
        }
        Outcome::Evidence(pack) => {
            let (format, out) = written.unwrap_or_default();
            write_evidence(&pack, format, out.as_deref())?;
            false
        }
        Outcome::Listed(grants) => {
            if json {
                print_json(&grants.iter().map(|g| g.view(false)).collect());
            } else {
                print!("{}", list_table(&grants, now));
            }
            false
        }
        Outcome::Reconciled(report) => {
            if json {
                print_json(&crate::service::to_json(&report));
            } else {
                print_reconcile(&report);
            }
            !report.failed.is_empty()
        }
        Outcome::Swept(report) => {
            if json {
                print_json(&crate::service::to_json(&report));
            } else {
                print_sweep(&report);
            }
            !report.failed.is_empty()
        }
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes a pack to `out` (or stdout); says on stderr what a reader must
/// not miss: a role still there, activity not fully read.
fn write_evidence(
    pack: &crate::evidence::pack::Pack,
    format: crate::evidence::Format,
    out: Option<&std::path::Path>,
) -> Result<(), Error> {
    let text = format.render(pack);
    match out {
        Some(path) => std::fs::write(path, &text).map_err(|e| {
            Error::Internal(anyhow::Error::new(e).context(format!("writing {}", path.display())))
        })?,
        None => print!("{text}"),
    }
    for a in &pack.accounts {
        if a.removal.state == "role_still_exists" {
            eprintln!(
                "warning: account {}: the role still exists ({})",
                a.account, a.role.role_arn
            );
        }
        if !a.activity.complete {
            eprintln!(
                "note: account {}: the recorded activity is incomplete: {}",
                a.account,
                a.activity.notes.last().map(String::as_str).unwrap_or("")
            );
        }
    }
    if let Some(path) = out {
        eprintln!(
            "evidence pack of {} written to {}",
            pack.ticket,
            path.display()
        );
    }
    Ok(())
}

/// `check-access`: no settings, no table; only the auditor's credentials.
async fn check_access(
    profile: Option<String>,
    role_arns: Vec<String>,
    external_id: Option<String>,
    source_identity: Option<String>,
    json: bool,
) -> ExitCode {
    use crate::access::{Source, check, render, targets_from_profiles, targets_from_role_arns};
    let targets = match (profile, external_id) {
        (Some(name), _) => {
            let set = aws_config::profile::load(
                &aws_types::os_shim_internal::Fs::real(),
                &aws_types::os_shim_internal::Env::real(),
                &Default::default(),
                None,
            )
            .await;
            match set {
                Ok(set) => targets_from_profiles(&set, &name),
                Err(e) => Err(format!("reading your AWS config file: {e}")),
            }
        }
        (None, Some(external_id)) => targets_from_role_arns(&role_arns, &external_id),
        (None, None) => unreachable!("clap requires --profile or --role-arn with --external-id"),
    };
    let targets = match targets {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: check-access: {e}");
            return ExitCode::from(2);
        }
    };
    // One SDK configuration per (credentials source, region): a grant's
    // profiles across 50 accounts usually share both.
    let mut confs: std::collections::HashMap<(Source, Option<String>), aws_config::SdkConfig> =
        std::collections::HashMap::new();
    let mut with_conf = Vec::with_capacity(targets.len());
    for target in targets {
        let key = (target.source.clone(), target.region.clone());
        if !confs.contains_key(&key) {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .retry_config(crate::aws::retry_config())
                .timeout_config(crate::aws::timeout_config());
            if let Source::Profile(p) = &target.source {
                loader = loader.profile_name(p);
            }
            if let Some(region) = &target.region {
                loader = loader.region(aws_config::Region::new(region.clone()));
            }
            confs.insert(key.clone(), loader.load().await);
        }
        with_conf.push((target, confs[&key].clone()));
    }
    let now = chrono::Utc::now();
    let report = check(&with_conf, source_identity.as_deref(), now).await;
    if json {
        print_json(&crate::service::to_json(&report));
    } else {
        print!("{}", render(&report, now));
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn read_input(file: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file)?;
    }
    Ok(text)
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
