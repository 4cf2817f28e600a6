//! The real adapters: the ports implemented with the AWS SDK for Rust.

pub mod cloudtrail;
pub mod dynamo;
pub mod events;
pub mod iam;
pub mod s3;
pub mod sts;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The SDK clients, built once per process and shared by every invocation,
/// each on first use (a client costs 0.1–0.3 ms to build). The Lambda builds
/// IAM and DynamoDB, which every grant uses, on a thread of their own while
/// the runtime asks for the first event ([`AwsClients::warm_up`]); STS (other
/// accounts), Secrets Manager (webhooks) and EventBridge (notifications) only
/// when they are used.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: Lazy<aws_sdk_iam::Client>,
    pub sts: Lazy<aws_sdk_sts::Client>,
    pub dynamodb: Lazy<aws_sdk_dynamodb::Client>,
    pub secrets: Lazy<aws_sdk_secretsmanager::Client>,
    pub events: Lazy<aws_sdk_eventbridge::Client>,
    pub cloudtrail: Lazy<aws_sdk_cloudtrail::Client>,
    pub s3: Lazy<aws_sdk_s3::Client>,
}

/// An SDK client built from its configuration on first use (then shared by
/// every clone), or given ready-made. Dereferences to the client.
pub struct Lazy<C>(std::sync::Arc<LazyInner<C>>);

struct LazyInner<C> {
    conf: Option<SdkConfig>,
    make: fn(&SdkConfig) -> C,
    cell: std::sync::OnceLock<C>,
}

impl<C> Lazy<C> {
    /// Built by `make` (`Client::new`) from `conf` when first used.
    pub fn new(conf: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        Lazy(std::sync::Arc::new(LazyInner {
            conf: Some(conf.clone()),
            make,
            cell: std::sync::OnceLock::new(),
        }))
    }

    /// A client built already (tests add interceptors to theirs).
    pub fn ready(client: C) -> Self {
        Lazy(std::sync::Arc::new(LazyInner {
            conf: None,
            make: |_| unreachable!("a ready client is never built"),
            cell: std::sync::OnceLock::from(client),
        }))
    }

    /// Whether it was built yet.
    pub fn is_built(&self) -> bool {
        self.0.cell.get().is_some()
    }

    /// The configuration it is (to be) built from; `None` for a ready client.
    pub fn sdk_config(&self) -> Option<&SdkConfig> {
        self.0.conf.as_ref()
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Lazy(self.0.clone())
    }
}

impl<C> std::ops::Deref for Lazy<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.0.cell.get_or_init(|| {
            (self.0.make)(
                self.0
                    .conf
                    .as_ref()
                    .expect("a lazy client has its configuration"),
            )
        })
    }
}

impl<C> std::fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_built() {
            "Lazy(built)"
        } else {
            "Lazy(not yet built)"
        })
    }
}

impl AwsClients {
    /// Region, credentials and endpoint (`AWS_ENDPOINT_URL`) as the SDK reads
    /// them, with retries tuned for IAM's throttling: standard mode (exponential
    /// backoff with jitter), five attempts, and bounded time per attempt. TLS
    /// trusts the platform's root certificates.
    pub async fn from_env() -> Self {
        Self::from_env_trusting(false).await
    }

    /// The same; with `aws_roots`, TLS trusts only the Amazon Trust Services
    /// roots compiled into the binary ([`aws_roots_http_client`]).
    pub async fn from_env_trusting(aws_roots: bool) -> Self {
        Self::from_conf(&sdk_config_from_env(aws_roots).await)
    }
}

/// The SDK configuration [`AwsClients::from_env_trusting`] builds its clients
/// from.
pub async fn sdk_config_from_env(aws_roots: bool) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if aws_roots {
        loader = loader.http_client(aws_roots_http_client());
    }
    // Where the environment holds the credentials and the region (always,
    // in Lambda), they are what the default chains would pick first:
    // naming them skips building the chains (half a millisecond at start).
    let env = |k| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(_), Some(_), Some(region)) = (
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
        env("AWS_REGION"),
    ) {
        loader = loader
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .region(aws_config::Region::new(region));
    }
    loader.load().await
}

impl AwsClients {
    /// Builds the IAM and DynamoDB clients on one of the runtime's worker
    /// threads (no thread of its own: its memory would count), so that it
    /// overlaps with the runtime's first `next`; the first use waits for it
    /// if it is not done (never building twice). Needs a Tokio runtime.
    pub fn warm_up(&self) {
        let (iam, dynamodb) = (self.iam.clone(), self.dynamodb.clone());
        tokio::spawn(async move {
            let _ = &*dynamodb;
            let _ = &*iam;
        });
    }

    /// The region the clients act in.
    pub fn region(&self) -> Option<String> {
        match self.iam.sdk_config() {
            Some(conf) => conf.region().map(ToString::to_string),
            None => self.iam.config().region().map(ToString::to_string),
        }
    }

    pub fn from_conf(conf: &SdkConfig) -> Self {
        AwsClients {
            iam: Lazy::new(conf, aws_sdk_iam::Client::new),
            sts: Lazy::new(conf, aws_sdk_sts::Client::new),
            dynamodb: Lazy::new(conf, aws_sdk_dynamodb::Client::new),
            secrets: Lazy::new(conf, aws_sdk_secretsmanager::Client::new),
            events: Lazy::new(conf, aws_sdk_eventbridge::Client::new),
            cloudtrail: Lazy::new(conf, aws_sdk_cloudtrail::Client::new),
            // Path-style addressing where the endpoint is given (an emulator):
            // bucket host names exist only on AWS.
            s3: Lazy::new(conf, |conf| {
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(conf)
                        .force_path_style(conf.endpoint_url().is_some())
                        .build(),
                )
            }),
        }
    }
}

/// The root certificates every AWS service endpoint chains to: Amazon Trust
/// Services' four roots and the Starfield root they are cross-signed by
/// (<https://www.amazontrust.com/repository/>), as Debian's ca-certificates
/// ships them (a test compares them with the system's copies).
pub const AWS_ROOTS: [(&str, &str); 5] = [
    (
        "Amazon Root CA 1",
        include_str!("roots/Amazon_Root_CA_1.pem"),
    ),
    (
        "Amazon Root CA 2",
        include_str!("roots/Amazon_Root_CA_2.pem"),
    ),
    (
        "Amazon Root CA 3",
        include_str!("roots/Amazon_Root_CA_3.pem"),
    ),
    (
        "Amazon Root CA 4",
        include_str!("roots/Amazon_Root_CA_4.pem"),
    ),
    (
        "Starfield Services Root Certificate Authority - G2",
        include_str!("roots/Starfield_Services_Root_Certificate_Authority_-_G2.pem"),
    ),
];

/// The SDK's HTTPS client (hyper, rustls with aws-lc, as the SDK's default)
/// trusting only [`AWS_ROOTS`]. The default client reads and parses the
/// platform's whole certificate store when it is built, which was most of the
/// function's start-up (BENCHMARKS.md, "Cold start"); five compiled-in roots
/// cost next to nothing, and trust nothing but AWS.
pub fn aws_roots_http_client() -> aws_sdk_iam::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = AWS_ROOTS
        .iter()
        .fold(tls::TrustStore::empty(), |store, (_, pem)| {
            store.with_pem_certificate(pem.as_bytes())
        });
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store of PEM roots is a valid TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_the_systems_copies_and_build_a_client() {
        let dir = std::path::Path::new("/etc/ssl/certs");
        for (name, pem) in AWS_ROOTS {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
            let file = dir.join(format!("{}.pem", name.replace(' ', "_")));
            if let Ok(system) = std::fs::read_to_string(&file) {
                assert_eq!(system, pem, "{name} differs from {}", file.display());
            }
        }
        // Building it parses nothing it cannot use: it must not panic.
        let _client = aws_roots_http_client();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rarely_used_clients_are_built_on_first_use_once() {
        let conf = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let clients = AwsClients::from_conf(&conf);
        let copy = clients.clone();
        assert!(
            !clients.sts.is_built() && !clients.secrets.is_built() && !clients.events.is_built()
        );
        let region = copy.sts.config().region().map(ToString::to_string);
        assert_eq!(region.as_deref(), Some("us-east-1"));
        assert!(clients.sts.is_built(), "built once, for every clone");
        assert!(!clients.secrets.is_built());
        assert_eq!(clients.region().as_deref(), Some("us-east-1"));
        assert!(
            !clients.iam.is_built(),
            "the region is read without building"
        );
        clients.warm_up();
        for _ in 0..200 {
            if clients.iam.is_built() && clients.dynamodb.is_built() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(clients.iam.is_built() && clients.dynamodb.is_built());
    }
}
