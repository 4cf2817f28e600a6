//! What the function does between process start and its first `next`, phase
//! by phase, timed in a fresh process: run it many times (`make bench` does,
//! through scripts/bench.sh) and compare medians. Prints one JSON line of
//! microseconds per phase; asserts nothing.
//!
//! The phases are those of `main` and `lambda::run`, in order: the tracing
//! subscriber, the settings, the SDK configuration (`aws_config` defaults:
//! region and credential chains, and the HTTPS client with its root
//! certificates: `TLS_TRUST`), the SDK clients, and the service's wiring.
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
    // `AwsClients::from_env_trusting`, as `lambda::run` calls it, without
    // the clients (the next phase).
    let conf = audit_grants::aws::sdk_config_from_env(settings.tls_aws_roots).await;
    lap("sdk_config", &mut t);
    let clients = audit_grants::aws::AwsClients::from_conf(&conf);
    lap("clients", &mut t);
    // What `warm_up` does on a worker thread while the runtime asks for the
    // first event (timed here on its own, after the rest).
    std::hint::black_box(&*clients.dynamodb);
    std::hint::black_box(&*clients.iam);
    let warm_up = t.elapsed().as_micros();
    t = Instant::now();
    let function = audit_grants::wiring::function(
        &clients,
        Arc::new(settings),
        audit_grants::metrics::Metrics::emf(),
    );
    lap("wiring", &mut t);
    std::hint::black_box(&function);
    phases.push(("warm_up_off_the_start_path", warm_up));
    let fields: Vec<String> = phases
        .iter()
        .map(|(name, us)| format!("\"{name}\":{us}"))
        .collect();
    println!("{{{}}}", fields.join(","));
}
