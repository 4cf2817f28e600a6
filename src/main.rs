//! One binary: the Lambda bootstrap when `AWS_LAMBDA_RUNTIME_API` is set, the
#![recursion_limit = "256"]
//! operator CLI otherwise.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_runtime::tracing::init_default_subscriber();
        return audit_grants::lambda::run().await;
    }
    let cli = audit_grants::cli::Cli::parse();
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    audit_grants::cli::run(cli).await
}
