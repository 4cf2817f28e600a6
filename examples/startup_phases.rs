//! What the function does between process start and its first `next`, phase
//! by phase, timed in a fresh process: run it many times (`make bench` does,
//! through scripts/bench.sh) and compare medians. Prints one JSON line of
//! microseconds per phase; asserts nothing.
//!
//! The phases are those of `main` and `lambda::run`, in order: the tracing
//! subscriber, the settings, the SDK configuration (`aws_config` defaults:
//! region and credential chains), the SDK clients, and the service's wiring.
//! The tokio runtime is built before `main`'s first line, as in the function
//! and in the do-nothing baseline alike.

use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let mut phases: Vec<(&str, u128)> = vec![];
    let mut t = Instant::now();
    let mut lap = |name: &'static str, t: &mut Instant| {
        phases.push((name, t.elapsed().as_micros()));
        *t = Instant::now();
    };
    lambda_runtime::tracing::init_default_subscriber();
    lap("tracing", &mut t);
    let settings = audit_grants::config::Settings::from_env().expect("settings");
    lap("settings", &mut t);
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(audit_grants::aws::retry_config())
        .timeout_config(audit_grants::aws::timeout_config())
        .load()
        .await;
    lap("sdk_config", &mut t);
    let clients = audit_grants::aws::AwsClients::from_conf(&conf);
    lap("clients", &mut t);
    let function = audit_grants::wiring::function(
        &clients,
        Arc::new(settings),
        audit_grants::metrics::Metrics::emf(),
    );
    lap("wiring", &mut t);
    std::hint::black_box(&function);
    let fields: Vec<String> = phases
        .iter()
        .map(|(name, us)| format!("\"{name}\":{us}"))
        .collect();
    println!("{{{}}}", fields.join(","));
}
