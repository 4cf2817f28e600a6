//! `make bench-levels`: how many sequential AWS round trips a grant and a
//! teardown take. Every call to the stand-in for IAM, STS and DynamoDB
//! (testkit/src/standin.rs) costs the same fixed latency, and concurrent calls
//! overlap as they do against AWS, so a command's wall time divided by that
//! latency is its number of sequential levels. Prints figures; asserts nothing.
//!
//! Knobs (environment): LEVEL_MS (50), LEVEL_RUNS (5: the median is printed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_grants::domain::Ticket;
use audit_grants::ports::CallerIdentity;
use audit_grants::service::GrantService;
use testkit::standin::{StandIn, StandInConfig, clients_for};
use testkit::{create, operator, request, settings_for, sweep_at};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const HOME: &str = "123456789012";

fn targets(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:012}", 400_000_000_000usize + i))
        .collect()
}

async fn service(standin: &StandIn) -> GrantService {
    let clients = clients_for(&standin.url).await;
    let allowed = targets(10).join(",");
    let settings = Arc::new(settings_for(HOME, &[("TARGET_ACCOUNTS", &allowed)]));
    let identity: Arc<dyn CallerIdentity> = Arc::new(audit_grants::aws::sts::StsIdentity::new(
        clients.sts.clone(),
    ));
    // Who we are is asked once per process, before the first command.
    identity.caller().await.expect("the stand-in answers");
    let clock = testkit::TestClock::at(chrono::Utc::now());
    testkit::TestEnv::service_over(&clients, &settings, &identity, &clock)
}

struct Figure {
    what: String,
    wall: Duration,
    calls: u64,
}

fn median(mut runs: Vec<(Duration, u64)>) -> (Duration, u64) {
    runs.sort();
    runs[runs.len() / 2]
}

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(env_or("LEVEL_MS", 50));
    let runs: usize = env_or("LEVEL_RUNS", 5);
    let standin = StandIn::start(StandInConfig {
        iam_latency: latency,
        sts_latency: latency,
        dynamodb_latency: latency,
        iam_writes_per_second: None,
    });
    let svc = service(&standin).await;
    println!(
        "# sequential AWS round trips: every call to the stand-in takes {latency:?}, concurrent calls overlap; median of {runs} runs\n"
    );
    let mut figures = vec![];
    let scenarios: [(&str, Option<usize>); 3] = [
        ("grant, our own account", None),
        ("grant, one target account", Some(1)),
        ("grant, 10 target accounts", Some(10)),
    ];
    let mut n = 0;
    for (what, accounts) in scenarios {
        let mut grant_runs = vec![];
        let mut revoke_runs = vec![];
        let mut sweep_runs = vec![];
        for _ in 0..runs {
            n += 1;
            let ticket = format!("LEVELS-{n}");
            let mut req = request(&ticket);
            if let Some(k) = accounts {
                req["target_accounts"] = serde_json::json!(targets(k));
            }
            standin.reset_counters();
            let t = Instant::now();
            create(&svc, &req).await.expect("granted");
            grant_runs.push((t.elapsed(), standin.total_calls()));

            standin.reset_counters();
            let t = Instant::now();
            svc.revoke(&Ticket::parse(&ticket).unwrap(), None, &operator())
                .await
                .expect("revoked");
            revoke_runs.push((t.elapsed(), standin.total_calls()));

            // A sweep ending one due grant (its due query included).
            n += 1;
            let ticket = format!("LEVELS-{n}");
            let mut req = request(&ticket);
            if let Some(k) = accounts {
                req["target_accounts"] = serde_json::json!(targets(k));
            }
            create(&svc, &req).await.expect("granted");
            let after = chrono::Utc::now() + chrono::Duration::hours(80);
            standin.reset_counters();
            let t = Instant::now();
            let report = svc.sweep(sweep_at(after)).await.expect("swept");
            assert_eq!(report.torn_down.len(), 1, "{report:?}");
            sweep_runs.push((t.elapsed(), standin.total_calls()));
        }
        for (label, set) in [
            ("create", grant_runs),
            ("revoke", revoke_runs),
            ("sweep (one due)", sweep_runs),
        ] {
            let (wall, calls) = median(set);
            figures.push(Figure {
                what: format!("{what}: {label}"),
                wall,
                calls,
            });
        }
    }
    println!(
        "| {:<44} | {:>10} | {:>5} | {:>6} |",
        "command", "latency", "calls", "levels"
    );
    println!("|{:-<46}|{:->12}|{:->7}|{:->8}|", "", ":", ":", ":");
    for f in &figures {
        println!(
            "| {:<44} | {:>7.1} ms | {:>5} | {:>6.1} |",
            f.what,
            f.wall.as_secs_f64() * 1000.0,
            f.calls,
            f.wall.as_secs_f64() / latency.as_secs_f64()
        );
    }
}
