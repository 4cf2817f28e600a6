//! A stand-in for CloudTrail's event history, which the emulator lacks:
//! `LookupEvents` in its real wire format (JSON 1.1, `EventTime` in epoch
//! seconds, `CloudTrailEvent` as a JSON string), answering from recorded
//! events: filtered by the one lookup attribute and the time range, newest
//! first, two events a page (so every lookup pages), and, when asked, a
//! `ThrottlingException` every n-th request (the SDK's retries must absorb it).
//! Every request is kept with the time it arrived.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::http1;

/// Events per page: small, so that paging is always exercised.
pub const TRAIL_PAGE: usize = 2;

#[derive(Default)]
struct TrailState {
    events: Vec<Value>,
    requests: Vec<(Instant, Value)>,
    /// The access key each request was signed with.
    signers: Vec<String>,
    throttle_every: Option<usize>,
    throttled: usize,
}

#[derive(Clone)]
pub struct TrailStandIn {
    pub url: String,
    state: Arc<Mutex<TrailState>>,
}

/// One event as `LookupEvents` returns it. `record` is the CloudTrail record
/// (identity, source IP, errors…); its `eventTime`, `eventName` and
/// `eventSource` are filled in.
pub fn trail_event(
    id: &str,
    at: DateTime<Utc>,
    source: &str,
    name: &str,
    access_key: Option<&str>,
    resources: &[&str],
    mut record: Value,
) -> Value {
    record["eventVersion"] = json!("1.09");
    record["eventID"] = json!(id);
    record["eventTime"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    record["eventSource"] = json!(source);
    record["eventName"] = json!(name);
    let mut e = json!({
        "EventId": id,
        "EventName": name,
        "ReadOnly": "true",
        "EventTime": at.timestamp_millis() as f64 / 1000.0,
        "EventSource": source,
        "Resources": resources.iter().map(|r| json!({"ResourceType": "AWS::IAM::Role", "ResourceName": r})).collect::<Vec<_>>(),
        "CloudTrailEvent": record.to_string(),
    });
    if let Some(key) = access_key {
        e["AccessKeyId"] = json!(key);
    }
    e
}

impl TrailStandIn {
    /// Starts it on 127.0.0.1, on its own thread and runtime.
    pub fn start() -> TrailStandIn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the trail stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let trail = TrailStandIn {
            url,
            state: Arc::default(),
        };
        let server = trail.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(server.serve(listener));
        });
        trail
    }

    /// Adds recorded events (in `trail_event`'s shape).
    pub fn record(&self, events: impl IntoIterator<Item = Value>) {
        self.state.lock().unwrap().events.extend(events);
    }

    /// Every `n`-th request is answered `ThrottlingException`.
    pub fn throttle_every(&self, n: usize) {
        self.state.lock().unwrap().throttle_every = Some(n);
    }

    /// Requests as received (with when), and how many were throttled.
    pub fn requests(&self) -> Vec<(Instant, Value)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The access key each request was signed with, with its lookup value.
    pub fn signers(&self) -> Vec<(String, String)> {
        let s = self.state.lock().unwrap();
        s.signers
            .iter()
            .zip(&s.requests)
            .map(|(key, (_, body))| {
                let value = body["LookupAttributes"][0]["AttributeValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (key.clone(), value)
            })
            .collect()
    }

    pub fn throttled(&self) -> usize {
        self.state.lock().unwrap().throttled
    }

    /// A CloudTrail client of the product's own configuration, pointed here.
    pub async fn client(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&crate::standin::sdk_config_for(&self.url).await)
    }

    async fn serve(self, listener: std::net::TcpListener) {
        http1::serve(listener, move |request| {
            let me = self.clone();
            async move {
                let (status, body) = me.answer(&request);
                (status, "application/x-amz-json-1.1", body)
            }
        })
        .await
    }

    fn answer(&self, request: &http1::Request) -> (u16, String) {
        let header = |name: &str| {
            request.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let target = header("x-amz-target");
        // Credential=<key>/<date>/<region>/<service>/aws4_request
        let signer = header("authorization")
            .and_then(|a| {
                let credential = a.split("Credential=").nth(1)?;
                Some(credential.split('/').next()?.to_owned())
            })
            .unwrap_or_default();
        if target.as_deref() != Some("CloudTrail_20131101.LookupEvents") {
            let e = json!({"__type": "UnknownOperationException", "Message": format!("the trail stand-in answers LookupEvents only, not {target:?}")});
            return (400, e.to_string());
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut s = self.state.lock().unwrap();
        s.requests.push((Instant::now(), body.clone()));
        s.signers.push(signer);
        if s.throttle_every
            .is_some_and(|n| s.requests.len().is_multiple_of(n))
        {
            s.throttled += 1;
            let e = json!({"__type": "ThrottlingException", "Message": "Rate exceeded"});
            return (400, e.to_string());
        }
        let attribute = &body["LookupAttributes"][0];
        let (key, value) = (
            attribute["AttributeKey"].as_str().unwrap_or_default(),
            attribute["AttributeValue"].as_str().unwrap_or_default(),
        );
        let start = body["StartTime"].as_f64().unwrap_or(f64::MIN);
        let end = body["EndTime"].as_f64().unwrap_or(f64::MAX);
        let mut matching: Vec<&Value> = s
            .events
            .iter()
            .filter(|e| {
                let t = e["EventTime"].as_f64().unwrap_or_default();
                let hit = match key {
                    "ResourceName" => e["Resources"]
                        .as_array()
                        .is_some_and(|rs| rs.iter().any(|r| r["ResourceName"] == value)),
                    "AccessKeyId" => e["AccessKeyId"] == value,
                    _ => false,
                };
                hit && t >= start && t <= end
            })
            .collect();
        matching.sort_by(|a, b| {
            b["EventTime"]
                .as_f64()
                .partial_cmp(&a["EventTime"].as_f64())
                .unwrap()
        });
        let offset: usize = body["NextToken"]
            .as_str()
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let page: Vec<&Value> = matching
            .iter()
            .skip(offset)
            .take(TRAIL_PAGE)
            .copied()
            .collect();
        let mut answer = json!({"Events": page});
        if offset + TRAIL_PAGE < matching.len() {
            answer["NextToken"] = json!(format!("page-{}", offset + TRAIL_PAGE));
        }
        (200, answer.to_string())
    }
}
