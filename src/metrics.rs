//! CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per
//! metric, which CloudWatch Logs turns into a metric (namespace `AuditGrants`,
//! dimension `Function`). No API call, no added latency.

use std::sync::{Arc, Mutex};

use serde_json::json;

pub const NAMESPACE: &str = "AuditGrants";

/// The metrics the function emits (README lists them with the alarms they feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    GrantsCreated,
    GrantsRevoked,
    GrantsExpired,
    GrantsRejected,
    SweepDue,
    SweepTornDown,
    SweepFailed,
    /// Milliseconds from the start of a teardown to its recorded end.
    TeardownLatency,
    /// A grant failed again after `ATTEMPTS_BEFORE_ALARM` attempts.
    GrantStuck,
    DriftRepaired,
    OrphansRemoved,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::GrantsCreated => "GrantsCreated",
            Metric::GrantsRevoked => "GrantsRevoked",
            Metric::GrantsExpired => "GrantsExpired",
            Metric::GrantsRejected => "GrantsRejected",
            Metric::SweepDue => "SweepDue",
            Metric::SweepTornDown => "SweepTornDown",
            Metric::SweepFailed => "SweepFailed",
            Metric::TeardownLatency => "TeardownLatency",
            Metric::GrantStuck => "GrantStuck",
            Metric::DriftRepaired => "DriftRepaired",
            Metric::OrphansRemoved => "OrphansRemoved",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::TeardownLatency => "Milliseconds",
            _ => "Count",
        }
    }
}

#[derive(Clone)]
enum Sink {
    /// Nowhere (the CLI: stdout carries its results).
    Null,
    /// EMF lines on stdout (the Lambda).
    Stdout { function: String },
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<(Metric, f64)>>>),
}

#[derive(Clone)]
pub struct Metrics(Sink);

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Sink::Null)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// EMF on stdout, dimensioned by the Lambda function's name.
    pub fn emf() -> Self {
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "audit-grants".into());
        Metrics(Sink::Stdout { function })
    }

    /// Kept in memory; read with [`Metrics::recorded`].
    pub fn memory() -> Self {
        Metrics(Sink::Memory(Arc::default()))
    }

    pub fn recorded(&self) -> Vec<(Metric, f64)> {
        match &self.0 {
            Sink::Memory(m) => m.lock().expect("not poisoned").clone(),
            _ => vec![],
        }
    }

    pub fn count(&self, metric: Metric, n: usize) {
        if n > 0 {
            self.put(metric, n as f64);
        }
    }

    pub fn put(&self, metric: Metric, value: f64) {
        match &self.0 {
            Sink::Null => {}
            Sink::Memory(m) => m.lock().expect("not poisoned").push((metric, value)),
            Sink::Stdout { function } => {
                println!("{}", emf_line(function, metric, value, now_ms()))
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One EMF document.
pub fn emf_line(function: &str, metric: Metric, value: f64, timestamp_ms: i64) -> String {
    let name = metric.name();
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": name, "Unit": metric.unit()}],
            }],
        },
        "Function": function,
        name: value,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_follow_the_embedded_metric_format() {
        let line = emf_line(
            "stack-audit-grants",
            Metric::SweepFailed,
            2.0,
            1_796_112_000_000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_796_112_000_000i64);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "AuditGrants"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "SweepFailed", "Unit": "Count"}])
        );
        assert_eq!(v["Function"], "stack-audit-grants");
        assert_eq!(v["SweepFailed"], 2.0);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn zero_counts_are_not_emitted() {
        let m = Metrics::memory();
        m.count(Metric::SweepDue, 0);
        m.count(Metric::SweepDue, 3);
        assert_eq!(m.recorded(), vec![(Metric::SweepDue, 3.0)]);
    }
}
