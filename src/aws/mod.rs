//! The real adapters: the ports implemented with the AWS SDK for Rust.

pub mod dynamo;
pub mod events;
pub mod iam;
pub mod sts;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The SDK clients, built once per process and shared by every invocation.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl AwsClients {
    /// Region, credentials and endpoint (`AWS_ENDPOINT_URL`) as the SDK reads
    /// them, with retries tuned for IAM's throttling: standard mode (exponential
    /// backoff with jitter), five attempts, and bounded time per attempt.
    pub async fn from_env() -> Self {
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config())
            .load()
            .await;
        Self::from_conf(&conf)
    }

    pub fn from_conf(conf: &SdkConfig) -> Self {
        AwsClients {
            iam: aws_sdk_iam::Client::new(conf),
            sts: aws_sdk_sts::Client::new(conf),
            dynamodb: aws_sdk_dynamodb::Client::new(conf),
            secrets: aws_sdk_secretsmanager::Client::new(conf),
            events: aws_sdk_eventbridge::Client::new(conf),
        }
    }
}

/// Throttling and 5xx are retried by the SDK's standard mode: exponential
/// backoff with full jitter, at most five attempts per call.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5))
}

/// No call may hang an invocation: bounded per attempt and in all.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

/// The error code AWS answered with (`NoSuchEntity`, `Throttling`…), if any.
pub(crate) fn error_code<E: ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

/// An SDK error as an `anyhow` error naming the operation, with the service's
/// code and message (the SDK's own Display says only "service error").
pub fn aws_error(op: &str, e: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{op}: {}", DisplayErrorContext(e))
}
