//! Test harness: the real service and the real SDK against the local AWS
//! emulator (moto server, started by `scripts/moto.sh`, whose address is in
//! `AUDIT_GRANTS_TEST_ENDPOINT`).
//!
//! Each test gets its own AWS account on the one emulator (moto's
//! `x-moto-account-id` header, added by an SDK interceptor), so tests run in
//! parallel without seeing each other. moto is not thread-safe, so every
//! request passes through a small proxy that forwards one request at a time:
//! our side stays truly concurrent, the emulator's side is serialised as real
//! AWS's per-request atomicity would make it.

pub mod faults;
pub mod http1;
pub mod runtime_api;

#[allow(unused_imports)]
pub use faults::{Fault, FaultInjector};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use audit_grants::aws::AwsClients;
use audit_grants::aws::iam::IamRoles;
use audit_grants::aws::sts::StsIdentity;
use audit_grants::config::Settings;
use audit_grants::domain::parse_timestamp;
use audit_grants::lambda::Function;
use audit_grants::lambda::webhook_auth::WebhookAuth;
use audit_grants::ports::{CallerIdentity, Clock};
use audit_grants::service::GrantService;
pub use audit_grants::service::{Mode, SweepOptions};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_iam::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub const AUDITOR: &str = "210987654321";
pub const AUDITOR_ROLE: &str = "arn:aws:iam::210987654321:role/ExternalAuditor";
pub const ROLE_PATH: &str = "/audit-grants/";
/// The demo webhook secret the README names; `events/http-*.json` are signed with it.
pub const DEMO_SECRET: &str = "audit-grants-demo-webhook-secret";
/// The demo bearer token (for senders that cannot sign).
pub const DEMO_BEARER: &str = "audit-grants-demo-bearer-token";

/// The emulator's address; a clear failure when the tests were run without it.
/// Each test binary starts from an empty emulator (cargo runs them one after
/// another): moto slows down as emulated accounts pile up.
pub fn emulator() -> String {
    let endpoint = std::env::var("AUDIT_GRANTS_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "AUDIT_GRANTS_TEST_ENDPOINT is not set: run the tests through `make test` \
             (or `scripts/moto.sh cargo test`), which starts the local AWS emulator"
        )
    });
    static RESET: std::sync::Once = std::sync::Once::new();
    RESET.call_once(|| reset_emulator(&endpoint));
    endpoint
}

fn reset_emulator(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("the emulator answers");
    write!(
        conn,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "moto reset: {answer}");
}

// ---- the serialising proxy -------------------------------------------------

static PROXY: OnceLock<String> = OnceLock::new();

/// The proxy's URL (started once per test process, on its own thread and runtime
/// so it outlives each test's runtime).
pub fn proxy_url() -> String {
    PROXY
        .get_or_init(|| start_proxy(ProxyOptions::default()))
        .clone()
}

/// Called with the number (from 1) of each request; `false` drops it unanswered.
pub type ProxyHook = Arc<dyn Fn(usize) -> bool + Send + Sync>;

#[derive(Default, Clone)]
pub struct ProxyOptions {
    /// Act in this emulated account (for clients that cannot add the header,
    /// such as the binary).
    pub account: Option<String>,
    pub hook: Option<ProxyHook>,
}

/// Starts a serialising proxy to the emulator; its URL.
pub fn start_proxy(options: ProxyOptions) -> String {
    let upstream = emulator().trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve_proxy(listener, upstream, options));
    });
    format!("http://{addr}")
}

async fn serve_proxy(listener: std::net::TcpListener, upstream: String, options: ProxyOptions) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let options = Arc::new(options);
    let seq = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let (lock, upstream, options, seq) =
            (lock.clone(), upstream.clone(), options.clone(), seq.clone());
        tokio::spawn(async move {
            let _ = proxy_connection(conn, &upstream, &lock, &options, &seq).await;
        });
    }
}

/// Forwards one request, one at a time across all connections.
async fn proxy_connection(
    mut conn: tokio::net::TcpStream,
    upstream: &str,
    lock: &tokio::sync::Mutex<()>,
    options: &ProxyOptions,
    seq: &AtomicU64,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let Some(request) = http1::read_request(&mut conn).await? else {
        return Ok(());
    };
    let account = options.account.as_deref().map(|a| ("x-moto-account-id", a));
    let forwarded = request.forwarded(account.as_slice());
    let response = {
        let _one_at_a_time = lock.lock().await;
        let n = seq.fetch_add(1, Ordering::SeqCst) as usize + 1;
        if let Some(hook) = &options.hook
            && !hook(n)
        {
            return Ok(());
        }
        http1::exchange(upstream, &forwarded).await?
    };
    conn.write_all(&response).await
}

// ---- per-test accounts --------------------------------------------------------

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
pub struct CallLog(pub Arc<Mutex<Vec<String>>>, pub Arc<Mutex<Vec<String>>>);

impl CallLog {
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
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
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
            format!("{service}:{action}")
        };
        self.0.lock().unwrap().push(op);
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
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        ),
        sts: aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&conf)
                .interceptor(log.clone())
                .build(),
        ),
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
        iam: client!(aws_sdk_iam),
        sts: client!(aws_sdk_sts),
        dynamodb: client!(aws_sdk_dynamodb),
        secrets: client!(aws_sdk_secretsmanager),
    }
}

// ---- a clock the test controls ------------------------------------------------

pub use audit_grants::fakes::FakeClock as TestClock;

// ---- the environment of one test ----------------------------------------------

pub struct TestEnv {
    pub account: String,
    pub calls: CallLog,
    pub faults: FaultInjector,
    pub clients: AwsClients,
    pub settings: Arc<Settings>,
    pub clock: TestClock,
    pub service: Arc<GrantService>,
    pub identity: Arc<dyn CallerIdentity>,
    pub function: Function,
}

pub fn settings_for(account: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("GRANTS_TABLE".into(), "audit-grants-test".into()),
        ("WEBHOOK_SECRET".into(), DEMO_SECRET.into()),
        ("WEBHOOK_BEARER_TOKEN".into(), DEMO_BEARER.into()),
        (
            "PERMISSIONS_BOUNDARY_ARN".into(),
            format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary"),
        ),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings are valid")
}

impl TestEnv {
    /// A new account with the table and boundary set up, and a clock at real now.
    pub async fn new() -> Self {
        Self::with(&[], Utc::now()).await
    }

    pub async fn at(now: &str) -> Self {
        Self::with(&[], parse_timestamp(now).unwrap()).await
    }

    pub async fn with(extra: &[(&str, &str)], now: DateTime<Utc>) -> Self {
        let account = fresh_account();
        let calls = CallLog::default();
        let faults = FaultInjector::default();
        let clients = clients_with(&account, &calls, &faults).await;
        let settings = Arc::new(settings_for(&account, extra));
        audit_grants::wiring::setup(&clients, &settings)
            .await
            .expect("setup");
        let clock = TestClock::at(now);
        let identity: Arc<dyn CallerIdentity> = Arc::new(StsIdentity::new(clients.sts.clone()));
        let service = Arc::new(Self::service_over(&clients, &settings, &identity, &clock));
        calls.take();
        let function = Function {
            service: service.clone(),
            webhook_auth: Arc::new(WebhookAuth::new(&settings, clients.secrets.clone())),
        };
        TestEnv {
            function,
            account,
            calls,
            faults,
            clients,
            settings,
            clock,
            service,
            identity,
        }
    }

    pub fn service_over(
        clients: &AwsClients,
        settings: &Arc<Settings>,
        identity: &Arc<dyn CallerIdentity>,
        clock: &TestClock,
    ) -> GrantService {
        audit_grants::wiring::grant_service(
            clients,
            settings.clone(),
            identity.clone(),
            Arc::new(clock.clone()),
        )
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The real IAM adapter on this test's clients.
    pub fn iam_roles(&self) -> IamRoles {
        audit_grants::wiring::iam_roles(&self.clients, &self.settings, self.identity.clone())
    }

    /// Another service on the same table and clock, over `provisioner`.
    pub fn service_with(
        &self,
        provisioner: Arc<dyn audit_grants::ports::RoleProvisioner>,
    ) -> GrantService {
        GrantService::new(
            Arc::new(audit_grants::wiring::grant_store(
                &self.clients,
                &self.settings,
            )),
            provisioner,
            self.identity.clone(),
            Arc::new(self.clock.clone()),
            self.settings.clone(),
        )
    }

    pub fn boundary_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy/audit-grants/audit-grants-boundary",
            self.account
        )
    }

    /// Names of the roles under the grant path.
    pub async fn roles(&self) -> Vec<String> {
        let roles: Result<Vec<_>, _> = self
            .clients
            .iam
            .list_roles()
            .path_prefix(ROLE_PATH)
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let mut names: Vec<String> = roles
            .unwrap()
            .iter()
            .map(|r| r.role_name().to_owned())
            .collect();
        names.sort();
        names
    }

    pub async fn role(&self, name: &str) -> Option<aws_sdk_iam::types::Role> {
        match self.clients.iam.get_role().role_name(name).send().await {
            Ok(out) => out.role,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_no_such_entity_exception()) =>
            {
                None
            }
            Err(e) => panic!("GetRole: {e:?}"),
        }
    }

    /// The role's trust policy, URL-decoded (IAM and moto return it encoded).
    pub async fn trust_policy(&self, name: &str) -> Value {
        let role = self.role(name).await.expect("role exists");
        let doc = role
            .assume_role_policy_document()
            .expect("has a trust policy");
        serde_json::from_str(&url_decode(doc)).expect("trust policy is JSON")
    }

    pub async fn attached(&self, name: &str) -> Vec<String> {
        let out = self
            .clients
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        let mut arns: Vec<String> = out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        arns.sort();
        arns
    }

    pub async fn inline(&self, name: &str) -> Vec<String> {
        let out = self
            .clients
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        out.policy_names().to_vec()
    }

    /// Every item of the grants table (grants and history).
    pub async fn table_items(&self) -> usize {
        let items: Result<Vec<_>, _> = self
            .clients
            .dynamodb
            .scan()
            .table_name(&self.settings.table_name)
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        items.unwrap().len()
    }

    /// What a rejected request must leave unchanged: roles and table items.
    pub async fn snapshot(&self) -> (Vec<String>, usize) {
        (self.roles().await, self.table_items().await)
    }
}

pub use audit_grants::aws::iam::url_decode;

/// The built binary, set up for the emulator at `endpoint` (directly or through
/// a proxy), the table `table`, and the permissions boundary of `account`.
pub fn binary(endpoint: &str, table: &str, account: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary_path());
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("GRANTS_TABLE", table)
        .env(
            "PERMISSIONS_BOUNDARY_ARN",
            format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary"),
        );
    cmd
}

/// A valid grant request for `ticket` (fields can be changed by the caller).
pub fn request(ticket: &str) -> Value {
    serde_json::json!({
        "ticket": ticket,
        "requested_by": "jane.doe@example.com",
        "auditor_account": AUDITOR,
        "principals": [AUDITOR_ROLE],
        "duration": "72h",
        "reason": "FY26 SOC 2 fieldwork",
    })
}

/// The events/ file `name`, parsed.
pub fn event(name: &str) -> Value {
    let path = project_dir().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An HTTP API (payload 2.0) request event, signed with `DEMO_SECRET` unless
/// `signature` says otherwise (`Some("")` leaves the header out).
pub fn http_event(method: &str, path: &str, body: &[u8], signature: Option<&str>) -> Value {
    let sig = match signature {
        None => audit_grants::lambda::webhook_auth::sign(DEMO_SECRET.as_bytes(), body),
        Some(s) => s.to_owned(),
    };
    let mut headers = serde_json::json!({"content-type": "application/json"});
    if !sig.is_empty() {
        headers["x-hub-signature-256"] = Value::String(sig);
    }
    let (text, b64) = match std::str::from_utf8(body) {
        Ok(t) => (t.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": text,
        "isBase64Encoded": b64,
    })
}

/// Status and parsed body of an HTTP response from the handler.
pub fn http_result(response: &Value) -> (u64, Value) {
    assert_eq!(
        response["headers"]["content-type"], "application/json",
        "{response}"
    );
    let body = serde_json::from_str(response["body"].as_str().expect("a string body"))
        .expect("a JSON body");
    (response["statusCode"].as_u64().expect("a status"), body)
}

// ---- commands as the edges build them -------------------------------------------

/// Creates a grant from a request as sent (JSON), through the same shape check
/// every edge applies.
pub async fn create(
    service: &GrantService,
    request: &Value,
) -> audit_grants::error::Result<audit_grants::service::Created> {
    service
        .create(&audit_grants::domain::GrantRequestBody::from_json(request)?)
        .await
}

/// A revoke reason (valid by construction in tests).
pub fn reason(text: &str) -> audit_grants::domain::Reason {
    audit_grants::domain::Reason::parse(text).expect("a valid reason")
}

/// A sweep as of `as_of` that changes things.
pub fn sweep_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::Apply,
        deadline: None,
    }
}

/// A sweep as of `as_of` that only reports.
pub fn dry_run_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::DryRun,
        deadline: None,
    }
}

/// The `audit-grants` binary cargo built next to the running test or example
/// (`target/<profile>/deps/…` or `target/<profile>/examples/…`).
pub fn binary_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/<dir>/<exe>");
    profile_dir.join("audit-grants")
}

/// The project's root (where `events/` and the templates are).
pub fn project_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ lies in the project")
        .to_path_buf()
}
