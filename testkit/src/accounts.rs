//! Per-test emulated accounts and the SDK clients that act in them: interceptors that pick the account and record every call.

use audit_grants::aws::AwsClients;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_iam::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::*;

/// Adds `x-moto-account-id` so each test acts in its own emulated account.
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ctx.request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// Records every AWS operation a client sends (`iam:CreateRole`,
/// `dynamodb:TransactWriteItems`…), in order.
#[derive(Debug, Clone, Default)]
pub struct CallLog(
    pub Arc<Mutex<Vec<String>>>,
    pub Arc<Mutex<Vec<String>>>,
    /// `sent OP[:PolicyName]` and `done OP[:PolicyName]`, in the order they
    /// happened: what ran before what, and what overlapped.
    pub Arc<Mutex<Vec<String>>>,
);

/// The operation's label, kept in its config bag from send to completion.
#[derive(Debug, Clone)]
struct OpLabel(String);

impl aws_smithy_types::config_bag::Storable for OpLabel {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl CallLog {
    /// Every send and completion since the last call, in order (see the field).
    pub fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut *self.2.lock().unwrap())
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    /// The form bodies of the STS calls (URL-decoded), in order.
    pub fn sts_bodies(&self) -> Vec<String> {
        self.1.lock().unwrap().clone()
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }
    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        let mut policy = None;
        let op = if let Some(target) = req.headers().get("x-amz-target") {
            let service = if target.starts_with("secretsmanager") {
                "secretsmanager"
            } else {
                "dynamodb"
            };
            format!("{service}:{}", target.rsplit('.').next().unwrap_or(target))
        } else {
            let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).to_string();
            let action = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or("?")
                .to_owned();
            let service = if req.uri().contains("sts")
                || action.contains("CallerIdentity")
                || action == "AssumeRole"
            {
                "sts"
            } else {
                "iam"
            };
            if service == "sts" {
                self.1.lock().unwrap().push(url_decode(&body));
            }
            policy = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("PolicyName="))
                .map(url_decode);
            format!("{service}:{action}")
        };
        let label = match policy {
            Some(p) => format!("{op}:{p}"),
            None => op.clone(),
        };
        self.2.lock().unwrap().push(format!("sent {label}"));
        cfg.interceptor_state().store_put(OpLabel(label));
        self.0.lock().unwrap().push(op);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &aws_sdk_iam::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(OpLabel(label)) = cfg.load::<OpLabel>() {
            self.2.lock().unwrap().push(format!("done {label}"));
        }
        Ok(())
    }
}

/// A fresh, random 12-digit account for one test.
pub fn fresh_account() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let n =
        (u64::from(std::process::id()) * 1_000_003 + nanos * 7 + seq * 104_729) % 100_000_000_000;
    format!("3{n:011}")
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        // Retries as in production, with short waits so fault tests stay quick.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        )
        .load()
        .await
}

/// SDK clients acting in the emulator's default account (123456789012) as
/// plain credentials would: no account header, so credentials from AssumeRole
/// act in the account they belong to.
pub async fn default_account_clients(log: &CallLog) -> AwsClients {
    let conf = sdk_config(&proxy_url()).await;
    AwsClients {
        iam: audit_grants::aws::Lazy::ready(aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        sts: audit_grants::aws::Lazy::ready(aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        dynamodb: audit_grants::aws::Lazy::ready(aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        secrets: audit_grants::aws::Lazy::ready(aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        events: audit_grants::aws::Lazy::ready(aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        cloudtrail: audit_grants::aws::Lazy::ready(aws_sdk_cloudtrail::Client::from_conf(
            aws_sdk_cloudtrail::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        )),
        s3: audit_grants::aws::Lazy::ready(aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .interceptor(log.clone())
                .build(),
        )),
    }
}

/// SDK clients acting in `account` on the emulator, through the proxy, with
/// every call recorded in `log`.
pub async fn clients_in(account: &str, log: &CallLog) -> AwsClients {
    clients_with(account, log, &FaultInjector::default()).await
}

/// The same, with `faults` able to fail chosen calls.
pub async fn clients_with(account: &str, log: &CallLog, faults: &FaultInjector) -> AwsClients {
    let conf = sdk_config(&proxy_url()).await;
    let header = MotoAccount(account.to_owned());
    macro_rules! client {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(&conf)
                    .interceptor(header.clone())
                    .interceptor(log.clone())
                    .interceptor(faults.clone())
                    .build(),
            )
        };
    }
    AwsClients {
        iam: audit_grants::aws::Lazy::ready(client!(aws_sdk_iam)),
        sts: audit_grants::aws::Lazy::ready(client!(aws_sdk_sts)),
        dynamodb: audit_grants::aws::Lazy::ready(client!(aws_sdk_dynamodb)),
        secrets: audit_grants::aws::Lazy::ready(client!(aws_sdk_secretsmanager)),
        events: audit_grants::aws::Lazy::ready(client!(aws_sdk_eventbridge)),
        cloudtrail: audit_grants::aws::Lazy::ready(client!(aws_sdk_cloudtrail)),
        s3: audit_grants::aws::Lazy::ready(aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .interceptor(header.clone())
                .interceptor(log.clone())
                .interceptor(faults.clone())
                .build(),
        )),
    }
}

/// A fresh emulated account with what deploy/provisioner-role.yaml deploys
/// there for a function in `home`: the provisioner role trusting the
/// function's role, and the permissions boundary of the same path and name.
pub async fn target_account_with_provisioner(home: &str) -> (String, AwsClients) {
    let account = fresh_account();
    let clients = clients_in(&account, &CallLog::default()).await;
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{home}:role/audit-grants-fn")},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]});
    clients
        .iam
        .create_role()
        .role_name("audit-grants-provisioner")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let boundary = audit_grants::config::BoundaryArn {
        partition: audit_grants::domain::Partition::Aws,
        account: audit_grants::domain::AccountId::parse(&account).unwrap(),
        path: "/audit-grants/".into(),
        name: "audit-grants-boundary".into(),
    };
    audit_grants::aws::iam::ensure_boundary_policy(&clients.iam, &boundary)
        .await
        .unwrap();
    (account, clients)
}
