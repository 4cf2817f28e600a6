//! `make bench`: cold start, warm latency, memory, size, AWS calls and the
//! sweep at scale, against the local emulator, with the release build. Prints
//! figures (never asserts them). Run through `scripts/bench.sh`.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_grants::aws::AwsClients;
use audit_grants::aws::dynamo::DynamoGrantStore;
use audit_grants::domain::Grant;
use aws_config::BehaviorVersion;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use testkit::emulator_env;
use testkit::http1;
use testkit::runtime_api::{Outcome, RuntimeApi};
use tokio::io::AsyncWriteExt;

const ACCOUNT: &str = "123456789012";
const WAIT: Duration = Duration::from_secs(60);

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---- a proxy that counts operations and adds a round-trip latency -----------------

#[derive(Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, usize>>>, Arc<AtomicU64>);

impl Counter {
    fn take(&self) -> BTreeMap<String, usize> {
        self.1.store(0, Ordering::SeqCst);
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    /// Items DynamoDB returned to queries and gets since the last take.
    fn items_read(&self) -> u64 {
        self.1.load(Ordering::SeqCst)
    }
}

fn op_of(head: &str, body: &[u8]) -> String {
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("x-amz-target")
        {
            let v = v.trim();
            return format!("dynamodb:{}", v.rsplit('.').next().unwrap_or(v));
        }
    }
    let body = String::from_utf8_lossy(body);
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("?");
    let service = if action.contains("CallerIdentity") || action == "AssumeRole" {
        "sts"
    } else {
        "iam"
    };
    format!("{service}:{action}")
}

async fn start_proxy(upstream: String, latency: Duration, counter: Counter) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let (upstream, counter) = (upstream.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(Some(request)) = http1::read_request(&mut conn).await else {
                    return;
                };
                let op = op_of(&request.head, &request.body);
                *counter.0.lock().unwrap().entry(op.clone()).or_default() += 1;
                tokio::time::sleep(latency).await;
                let Ok(response) = http1::exchange(&upstream, &request.forwarded(&[])).await else {
                    return;
                };
                if op == "dynamodb:Query" || op == "dynamodb:GetItem" {
                    let text = String::from_utf8_lossy(&response);
                    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
                    let items = serde_json::from_str::<Value>(body)
                        .ok()
                        .map(|v| {
                            v.get("Count")
                                .and_then(Value::as_u64)
                                .unwrap_or(u64::from(v.get("Item").is_some()))
                        })
                        .unwrap_or(0);
                    counter.1.fetch_add(items, Ordering::SeqCst);
                }
                let _ = conn.write_all(&response).await;
            });
        }
    });
    format!("http://{addr}")
}

// ---- the function as a Lambda -------------------------------------------------------

struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Function {
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

fn spawn(bin: &str, api: &RuntimeApi, endpoint: &str, table: &str) -> Function {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "audit-grants")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/audit-grants")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN");
    emulator_env(&mut cmd, endpoint, table, ACCOUNT);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    Function(child)
}

fn grant_event(ticket: &str) -> Value {
    json!({
        "version": "0", "id": "bench", "detail-type": "Audit Grant Requested", "source": "bench",
        "account": ACCOUNT, "time": "2026-11-28T09:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "ticket": ticket, "requested_by": "bench@example.com", "auditor_account": "210987654321",
            "principals": ["arn:aws:iam::210987654321:role/ExternalAuditor"], "duration": "72h"
        }
    })
}

fn revoke_event(ticket: &str) -> Value {
    json!({
        "version": "0", "id": "bench", "detail-type": "Audit Grant Revoke Requested", "source": "bench",
        "account": ACCOUNT, "time": "2026-11-28T09:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"ticket": ticket, "reason": "bench"}
    })
}

fn ok(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(v) if v.get("error").is_none() => v,
        other => panic!("the function failed: {other:?}"),
    }
}

fn setup(bin: &str, endpoint: &str, table: &str) {
    let mut cmd = Command::new(bin);
    cmd.arg("setup").env_remove("AWS_LAMBDA_RUNTIME_API");
    emulator_env(&mut cmd, endpoint, table, ACCOUNT);
    let status = cmd.stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "setup");
}

// ---- sweep at scale -------------------------------------------------------------------

fn bench_grant(i: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> Grant {
    audit_grants::fakes::active_grant(&format!("BENCH-{i:06}"), ACCOUNT, start, end)
}

async fn clients(endpoint: &str) -> AwsClients {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .retry_config(audit_grants::aws::retry_config())
        .load()
        .await;
    AwsClients::from_conf(&conf)
}

async fn create_role(iam: &aws_sdk_iam::Client, g: &Grant) {
    let trust = audit_grants::policy::trust_policy(&g.principals, &g.external_id, &g.window);
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    iam.create_role()
        .role_name(&g.role_name)
        .path("/audit-grants/")
        .assume_role_policy_document(trust.to_json())
        .permissions_boundary(format!(
            "arn:aws:iam::{ACCOUNT}:policy/audit-grants/audit-grants-boundary"
        ))
        .tags(tag("audit-grants:ticket", g.ticket.as_str()))
        .tags(tag("audit-grants:managed-by", "audit-grants"))
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(&g.role_name)
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("run through scripts/bench.sh (it starts the emulator)");
    let upstream = endpoint.trim_start_matches("http://").to_owned();
    // BENCH_BIN: another build to compare (an earlier release, say).
    let bin_path =
        std::env::var("BENCH_BIN").unwrap_or_else(|_| "target/release/audit-grants".into());
    let bin = bin_path.as_str();
    let noop = "target/release/examples/noop_lambda";
    let runs = env_or("BENCH_COLD_RUNS", 10);
    let warm = env_or("BENCH_WARM_GRANTS", 30);
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 5) as u64);
    let table = format!("bench-{}", std::process::id());
    setup(bin, &endpoint, &table);

    println!("## Size\n");
    for b in [bin, noop] {
        let bytes = std::fs::metadata(b).map(|m| m.len()).unwrap_or(0);
        println!("- `{b}`: {:.2} MB ({bytes} bytes)", bytes as f64 / 1e6);
    }

    println!(
        "\n## Cold start ({runs} runs each, alternated with the do-nothing binary, emulator on loopback)\n"
    );
    let mut ready: [Vec<f64>; 2] = [vec![], vec![]];
    let mut answered: [Vec<f64>; 2] = [vec![], vec![]];
    for i in 0..runs {
        for (k, path) in [noop, bin].into_iter().enumerate() {
            let api = RuntimeApi::start().await;
            let t0 = Instant::now();
            let _f = spawn(path, &api, &endpoint, &table);
            let at = api.wait_ready(WAIT).await;
            ready[k].push(ms(at - t0));
            let event = if path == noop {
                json!({})
            } else {
                grant_event(&format!("COLD-{}-{i}", std::process::id()))
            };
            let _ = api.invoke(event, WAIT).await;
            answered[k].push(ms(t0.elapsed()));
        }
    }
    println!("| binary | to first `next` p50 | p90 | to first answer p50 | p90 |");
    println!("| --- | --- | --- | --- | --- |");
    for (k, name) in ["noop lambda_runtime", "audit-grants (a grant)"]
        .into_iter()
        .enumerate()
    {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(&mut ready[k], 0.5),
            percentile(&mut ready[k], 0.9),
            percentile(&mut answered[k], 0.5),
            percentile(&mut answered[k], 0.9)
        );
    }
    let (noop_p50, ours_p50) = (
        percentile(&mut ready[0], 0.5),
        percentile(&mut ready[1], 0.5),
    );
    println!(
        "\nstart-up over the do-nothing binary (medians, to first `next`): {:+.1} ms, ratio {:.2}",
        ours_p50 - noop_p50,
        ours_p50 / noop_p50
    );
    if std::env::var_os("BENCH_COLD_ONLY").is_some() {
        return;
    }

    println!("\n## Warm latency and memory ({warm} grants then {warm} revokes, one process)\n");
    let counter = Counter::default();
    let counted = start_proxy(upstream.clone(), Duration::ZERO, counter.clone()).await;
    let api = RuntimeApi::start().await;
    let f = spawn(bin, &api, &counted, &table);
    api.wait_ready(WAIT).await;
    let first = format!("WARM-{}-0", std::process::id());
    ok(api.invoke(grant_event(&first), WAIT).await);
    let (mut grants, mut revokes) = (vec![], vec![]);
    for i in 1..=warm {
        let t = Instant::now();
        ok(api
            .invoke(
                grant_event(&format!("WARM-{}-{i}", std::process::id())),
                WAIT,
            )
            .await);
        grants.push(ms(t.elapsed()));
    }
    for i in 1..=warm {
        let t = Instant::now();
        ok(api
            .invoke(
                revoke_event(&format!("WARM-{}-{i}", std::process::id())),
                WAIT,
            )
            .await);
        revokes.push(ms(t.elapsed()));
    }
    println!("| operation | p50 | p95 |");
    println!("| --- | --- | --- |");
    println!(
        "| grant | {:.1} ms | {:.1} ms |",
        percentile(&mut grants, 0.5),
        percentile(&mut grants, 0.95)
    );
    println!(
        "| revoke (teardown) | {:.1} ms | {:.1} ms |",
        percentile(&mut revokes, 0.5),
        percentile(&mut revokes, 0.95)
    );
    println!(
        "\npeak RSS (VmHWM) after {} invocations: {:.1} MB",
        2 * warm + 1,
        f.peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );

    println!("\n## AWS calls\n");
    counter.take();
    let one = format!("CALLS-{}", std::process::id());
    ok(api.invoke(grant_event(&one), WAIT).await);
    let grant_calls = counter.take();
    ok(api.invoke(revoke_event(&one), WAIT).await);
    let revoke_calls = counter.take();
    drop(f);
    for (what, calls) in [
        ("one grant (warm)", grant_calls),
        ("one teardown (revoke, warm)", revoke_calls),
    ] {
        let n: usize = calls.values().sum();
        let list: Vec<String> = calls.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        println!(
            // Counted, not timed: how many of them overlap (the preset attach and
            // the window deny go together) is measured with injected latency.
            "- {what}: {n} calls: {}",
            list.join(", ")
        );
    }
    // A cold process's first grant: is the caller identity asked?
    let api = RuntimeApi::start().await;
    let f = spawn(bin, &api, &counted, &table);
    api.wait_ready(WAIT).await;
    counter.take();
    ok(api
        .invoke(
            grant_event(&format!("CALLS-COLD-{}", std::process::id())),
            WAIT,
        )
        .await);
    let cold_calls = counter.take();
    drop(f);
    let n: usize = cold_calls.values().sum();
    println!(
        "- one grant (first of a fresh process): {n} calls; sts:GetCallerIdentity ×{} (the account comes from the invocation's function ARN)",
        cold_calls
            .get("sts:GetCallerIdentity")
            .copied()
            .unwrap_or(0)
    );

    sweep_at_scale(bin, &endpoint, &upstream, latency).await;
}

/// Seeds `table` with `total` grants: `sets` groups of `due` that end an hour
/// apart (one group per sweep), the rest ending in 25 days. Roles are created
/// for the due ones when `roles`.
async fn seed(
    bin: &str,
    endpoint: &str,
    table: &str,
    total: usize,
    due: usize,
    sets: usize,
    roles: bool,
) -> DateTime<Utc> {
    setup(bin, endpoint, table);
    let direct = clients(endpoint).await;
    let base = Utc::now() - chrono::Duration::days(1);
    let store = DynamoGrantStore::new(direct.dynamodb.clone(), table.to_owned());
    let all: Vec<Grant> = (0..total)
        .map(|i| {
            let set = i / due;
            let end = if set < sets {
                base + chrono::Duration::hours(set as i64 + 1)
            } else {
                base + chrono::Duration::days(25)
            };
            bench_grant(i, base, end)
        })
        .collect();
    store.seed_for_benchmark(&all).await.unwrap();
    if roles {
        // One writer: moto is not thread-safe.
        for g in all.iter().take(due * sets) {
            create_role(&direct.iam, g).await;
        }
    }
    base
}

/// Runs `audit-grants sweep` (the release binary) through the counting proxy.
fn sweep(
    bin: &str,
    proxy: &str,
    table: &str,
    as_of: DateTime<Utc>,
    concurrency: usize,
    dry_run: bool,
) -> (Value, Duration) {
    let mut args = vec![
        "sweep".to_owned(),
        "--json".into(),
        "--as-of".into(),
        audit_grants::domain::format_timestamp(as_of),
    ];
    if dry_run {
        args.push("--dry-run".into());
    }
    let t = Instant::now();
    let out = Command::new(bin)
        .args(&args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "off")
        .env("AWS_ENDPOINT_URL", proxy)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GRANTS_TABLE", table)
        .env("SWEEP_CONCURRENCY", concurrency.to_string())
        .env(
            "PERMISSIONS_BOUNDARY_ARN",
            format!("arn:aws:iam::{ACCOUNT}:policy/audit-grants/audit-grants-boundary"),
        )
        .output()
        .unwrap();
    let wall = t.elapsed();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("sweep: {}", String::from_utf8_lossy(&out.stderr)));
    (report, wall)
}

async fn sweep_at_scale(bin: &str, endpoint: &str, upstream: &str, latency: Duration) {
    let total = env_or("BENCH_GRANTS", 10_000);
    let due = env_or("BENCH_DUE", 1_000);
    let counter = Counter::default();
    let proxy = start_proxy(upstream.to_owned(), latency, counter.clone()).await;
    let n = |r: &Value, k: &str| r[k].as_array().map(Vec::len).unwrap_or(0);

    println!("\n## Sweep at scale: what is read ({total} grants in the table, {due} due)\n");
    let table = format!("bench-scale-{}", std::process::id());
    let t = Instant::now();
    let base = seed(bin, endpoint, &table, total, due, 1, false).await;
    println!("(seeded in {:.0} s)\n", t.elapsed().as_secs_f64());
    println!("| sweep | due | items read | AWS calls | wall time |");
    println!("| --- | --- | --- | --- | --- |");
    for (label, as_of) in [
        ("nothing due yet", base + chrono::Duration::minutes(30)),
        (
            "1 set due",
            base + chrono::Duration::hours(1) + chrono::Duration::minutes(1),
        ),
    ] {
        counter.take();
        let (report, wall) = sweep(bin, &proxy, &table, as_of, 4, true);
        let items = counter.items_read();
        let calls: BTreeMap<String, usize> = counter.take();
        let list: Vec<String> = calls.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        println!(
            "| dry run, {label} | {} | {items} | {} | {:.2} s |",
            n(&report, "due"),
            list.join(", "),
            wall.as_secs_f64()
        );
    }

    let small_total = env_or("BENCH_SWEEP_GRANTS", 1_000);
    let small_due = env_or("BENCH_SWEEP_DUE", 100);
    let levels = [1usize, 4, 8, 16];
    println!(
        "\n## Sweep at scale: tearing down ({small_due} due per run among {small_total}, {} ms added per AWS round trip)\n",
        latency.as_millis()
    );
    let table = format!("bench-sweep-{}", std::process::id());
    let t = Instant::now();
    let base = seed(
        bin,
        endpoint,
        &table,
        small_total,
        small_due,
        levels.len(),
        true,
    )
    .await;
    println!(
        "(seeded with {} roles in {:.0} s)\n",
        small_due * levels.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "| concurrency | due | torn down | failed | items read | AWS calls | wall time | per grant |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (k, c) in levels.iter().enumerate() {
        let as_of = base + chrono::Duration::hours(k as i64 + 1) + chrono::Duration::minutes(1);
        counter.take();
        let (report, wall) = sweep(bin, &proxy, &table, as_of, *c, false);
        let items = counter.items_read();
        let calls: usize = counter.take().values().sum();
        println!(
            "| {c} | {} | {} | {} | {items} | {calls} | {:.1} s | {:.1} ms |",
            n(&report, "due"),
            n(&report, "torn_down"),
            n(&report, "failed"),
            wall.as_secs_f64(),
            ms(wall) / n(&report, "due").max(1) as f64
        );
    }
}
