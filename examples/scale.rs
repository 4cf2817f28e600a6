//! `make bench-scale`: the sweeper at scale, against the stand-in for IAM, STS
//! and DynamoDB (testkit/src/standin.rs), which answers with a fixed latency
//! per call (concurrent calls overlap, as against AWS) and throttles IAM's
//! mutating calls per account. The emulator cannot show this: it serialises
//! every request. Prints figures; asserts nothing.
//!
//! Knobs (environment): SCALE_ROLES (1000), SCALE_ACCOUNTS (100),
//! SCALE_CONCURRENCY ("1,4,16,32,64"), SCALE_ACCOUNT_CONCURRENCY (1),
//! IAM_MS (60), STS_MS (30), DDB_MS (10), IAM_WRITES_PER_SECOND (10),
//! SCALE_DEADLINE_S (110: one invocation, the template's 120 s timeout less
//! the margin), SCALE_MAX_INVOCATIONS (20).

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_grants::aws::dynamo::DynamoGrantStore;
use audit_grants::domain::{TAG_MANAGED_BY, TAG_TICKET};
use audit_grants::ports::CallerIdentity;
use audit_grants::service::{Mode, SweepOptions};
use chrono::Utc;
use testkit::standin::{StandIn, StandInConfig, StandInRole, clients_for};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn account(i: usize) -> String {
    format!("{:012}", 300_000_000_000usize + i)
}

struct Level {
    concurrency: usize,
    invocations: usize,
    first_invocation: (usize, Duration),
    wall: Duration,
    torn_down: usize,
    failed: usize,
    calls: u64,
    throttled: u64,
    left: usize,
}

#[tokio::main]
async fn main() {
    let roles: usize = env_or("SCALE_ROLES", 1000);
    let accounts: usize = env_or("SCALE_ACCOUNTS", 100);
    let per_account: usize = env_or("SCALE_ACCOUNT_CONCURRENCY", 1);
    let deadline = Duration::from_secs(env_or("SCALE_DEADLINE_S", 110));
    let max_invocations: usize = env_or("SCALE_MAX_INVOCATIONS", 20);
    let levels: Vec<usize> = std::env::var("SCALE_CONCURRENCY")
        .unwrap_or_else(|_| "1,4,16,32,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let config = StandInConfig {
        iam_latency: Duration::from_millis(env_or("IAM_MS", 60)),
        sts_latency: Duration::from_millis(env_or("STS_MS", 30)),
        dynamodb_latency: Duration::from_millis(env_or("DDB_MS", 10)),
        iam_writes_per_second: Some(env_or("IAM_WRITES_PER_SECOND", 10.0)),
    };
    println!(
        "# sweeping {roles} due roles over {accounts} accounts (stand-in: IAM {:?}, STS {:?}, DynamoDB {:?} per call; IAM {} mutating calls/s per account; {per_account} grant(s) per account at once; one invocation = {:?})\n",
        config.iam_latency,
        config.sts_latency,
        config.dynamodb_latency,
        config.iam_writes_per_second.unwrap_or(0.0),
        deadline
    );
    let mut results = vec![];
    for &concurrency in &levels {
        results.push(
            run(
                roles,
                accounts,
                concurrency,
                per_account,
                deadline,
                max_invocations,
                config,
            )
            .await,
        );
    }
    println!(
        "| concurrency | first invocation | invocations | wall time, all | torn down | failed | AWS calls | throttles absorbed | left |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {} in {:.1} s | {} | {:.1} s | {} | {} | {} | {} | {} |",
            r.concurrency,
            r.first_invocation.0,
            r.first_invocation.1.as_secs_f64(),
            r.invocations,
            r.wall.as_secs_f64(),
            r.torn_down,
            r.failed,
            r.calls,
            r.throttled,
            r.left
        );
    }
}

async fn run(
    roles: usize,
    accounts: usize,
    concurrency: usize,
    per_account: usize,
    deadline: Duration,
    max_invocations: usize,
    config: StandInConfig,
) -> Level {
    let standin = StandIn::start(config);
    let clients = clients_for(&standin.url).await;
    let targets: Vec<String> = (0..accounts).map(account).collect();
    let settings = Arc::new(testkit::settings_for(
        testkit::standin::HOME_ACCOUNT,
        &[
            ("TARGET_ACCOUNTS", &targets.join(",")),
            ("SWEEP_CONCURRENCY", &concurrency.to_string()),
            ("SWEEP_ACCOUNT_CONCURRENCY", &per_account.to_string()),
        ],
    ));
    // Due grants, each with its role in place in its account.
    let start = Utc::now() - chrono::Duration::hours(3);
    let end = Utc::now() - chrono::Duration::minutes(1);
    let grants: Vec<_> = (0..roles)
        .map(|i| {
            audit_grants::fakes::active_grant(
                &format!("SCALE-{i:05}"),
                &account(i % accounts),
                start,
                end,
            )
        })
        .collect();
    for g in &grants {
        standin.seed_role(
            g.target_account().as_str(),
            &g.role_name,
            StandInRole {
                path: "/audit-grants/".into(),
                role_id: format!("AROASCALE{:011}", g.ticket.as_str().len()),
                trust: audit_grants::policy::trust_policy(&g.principals, &g.external_id, &g.window)
                    .to_json(),
                boundary: Some(settings.boundary.in_account(g.target_account())),
                tags: vec![
                    (TAG_MANAGED_BY.into(), "audit-grants".into()),
                    (TAG_TICKET.into(), g.ticket.to_string()),
                ],
                attached: vec!["arn:aws:iam::aws:policy/SecurityAudit".into()],
                inline: [(
                    "AuditGrantWindow".to_owned(),
                    audit_grants::policy::window_deny(&g.window).to_json(),
                )]
                .into(),
                max_session: 3600,
            },
        );
    }
    DynamoGrantStore::new(clients.dynamodb.clone(), settings.table_name.clone())
        .seed_for_benchmark(&grants)
        .await
        .expect("seed the table");
    let identity: Arc<dyn CallerIdentity> = Arc::new(audit_grants::aws::sts::StsIdentity::new(
        clients.sts.clone(),
    ));
    let service = audit_grants::wiring::grant_service(
        &clients,
        settings,
        identity,
        Arc::new(audit_grants::ports::SystemClock),
    );
    standin.reset_counters();
    let started = Instant::now();
    let (mut torn_down, mut failed, mut invocations) = (0, 0, 0);
    let mut first_invocation = (0, Duration::ZERO);
    while invocations < max_invocations {
        invocations += 1;
        let began = Instant::now();
        let report = service
            .sweep(SweepOptions {
                as_of: Utc::now(),
                mode: Mode::Apply,
                deadline: Some(tokio::time::Instant::now() + deadline),
            })
            .await
            .expect("a sweep");
        if invocations == 1 {
            first_invocation = (report.torn_down.len(), began.elapsed());
        }
        torn_down += report.torn_down.len();
        failed += report.failed.len();
        eprintln!(
            "concurrency {concurrency}, invocation {invocations}: {} torn down, {} failed, {} deferred in {:.1} s",
            report.torn_down.len(),
            report.failed.len(),
            report.deferred.len(),
            began.elapsed().as_secs_f64()
        );
        if report.deferred.is_empty() && report.failed.is_empty() {
            break;
        }
    }
    Level {
        concurrency,
        invocations,
        first_invocation,
        wall: started.elapsed(),
        torn_down,
        failed,
        calls: standin.total_calls(),
        throttled: standin.throttled(),
        left: standin.role_count(),
    }
}
