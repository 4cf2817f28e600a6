//! One binary: the Lambda bootstrap when `AWS_LAMBDA_RUNTIME_API` is set, the
//! operator CLI otherwise.
#![recursion_limit = "256"]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_runtime::tracing::init_default_subscriber();
        // A bad setting stops start-up with one line, before the first event.
        return match audit_grants::config::Settings::from_env() {
            Ok(settings) => audit_grants::lambda::run(settings).await,
            Err(e) => {
                eprintln!("audit-grants: {e}");
                ExitCode::from(1)
            }
        };
    }
    let cli = audit_grants::cli::Cli::parse();
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    audit_grants::cli::run(cli).await
}
