//! The auditor's recorded activity: CloudTrail's event history
//! (`cloudtrail:LookupEvents`), in this account with the function's own
//! credentials, in another target account through the provisioner role.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};

use super::error_code;
use super::iam::IamRoles;
use crate::domain::AccountId;
use crate::ports::{ActivityLog, ActivityQuery, Lookup, LookupBy, TrailEvent};

/// CloudTrail answers `LookupEvents` about twice a second per account and
/// region: calls to one account are spaced this far apart.
pub const LOOKUP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The most events one page holds.
const PAGE_SIZE: i32 = 50;

/// A lookup stops after this many pages (50,000 events) and says so.
const MAX_PAGES: u32 = 1000;

pub struct CloudTrailActivity {
    client: super::Lazy<Client>,
    /// The provisioner sessions of other target accounts.
    sessions: Arc<IamRoles>,
    /// When each account may be asked next.
    next_call: tokio::sync::Mutex<HashMap<AccountId, tokio::time::Instant>>,
    interval: std::time::Duration,
}

impl CloudTrailActivity {
    pub fn new(client: super::Lazy<Client>, sessions: Arc<IamRoles>) -> Self {
        CloudTrailActivity {
            client,
            sessions,
            next_call: Default::default(),
            interval: LOOKUP_INTERVAL,
        }
    }

    async fn client_for(&self, account: &AccountId, label: &str) -> anyhow::Result<Client> {
        Ok(match self.sessions.credentials_for(account, label).await? {
            None => (*self.client).clone(),
            Some(creds) => Client::from_conf(
                self.client
                    .config()
                    .to_builder()
                    .credentials_provider(creds)
                    .build(),
            ),
        })
    }

    /// Waits for `account`'s turn: at most one call per interval. `false`
    /// (at once, nothing reserved) when the turn would come after `deadline`.
    async fn pace(&self, account: &AccountId, deadline: Option<tokio::time::Instant>) -> bool {
        let wait_until = {
            let mut next = self.next_call.lock().await;
            let now = tokio::time::Instant::now();
            let at = next.get(account).copied().unwrap_or(now).max(now);
            if deadline.is_some_and(|d| at >= d) {
                return false;
            }
            next.insert(account.clone(), at + self.interval);
            at
        };
        tokio::time::sleep_until(wait_until).await;
        true
    }
}

fn attribute(by: &LookupBy) -> anyhow::Result<LookupAttribute> {
    let (key, value) = match by {
        LookupBy::ResourceName(v) => (LookupAttributeKey::ResourceName, v),
        LookupBy::AccessKeyId(v) => (LookupAttributeKey::AccessKeyId, v),
    };
    Ok(LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(value)
        .build()?)
}

fn smithy_time(t: DateTime<Utc>) -> aws_sdk_cloudtrail::primitives::DateTime {
    aws_sdk_cloudtrail::primitives::DateTime::from_millis(t.timestamp_millis())
}

fn event_of(e: &aws_sdk_cloudtrail::types::Event) -> Option<TrailEvent> {
    let time = e.event_time()?;
    Some(TrailEvent {
        event_id: e.event_id()?.to_owned(),
        // Epoch seconds as a float: rounded to the millisecond it meant.
        event_time: DateTime::from_timestamp_millis(
            time.secs() * 1000 + i64::from((time.subsec_nanos() + 500_000) / 1_000_000),
        )?,
        event_name: e.event_name().unwrap_or_default().to_owned(),
        event_source: e.event_source().unwrap_or_default().to_owned(),
        access_key_id: e.access_key_id().map(str::to_owned),
        record: e.cloud_trail_event().unwrap_or("{}").to_owned(),
    })
}

/// Why a lookup stopped, in words a reader of the pack can act on.
fn stopped_because(
    e: &aws_sdk_cloudtrail::error::SdkError<
        aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError,
    >,
    pages: u32,
) -> String {
    let detail = aws_sdk_cloudtrail::error::DisplayErrorContext(e).to_string();
    let read = format!("after {pages} page(s)");
    match error_code(e) {
        Some(code) if code.contains("AccessDenied") || code == "UnauthorizedOperation" => format!(
            "CloudTrail refused the lookup ({code}) {read}: the function, or the provisioner role in that account, needs cloudtrail:LookupEvents. {detail}"
        ),
        Some(code) if code.contains("Throttl") || code == "TooManyRequestsException" => format!(
            "CloudTrail kept throttling the lookup ({code}) {read}, after the SDK's retries: run `audit-grants evidence` again later. {detail}"
        ),
        Some(code) => format!("CloudTrail answered {code} {read}: {detail}"),
        // No CloudTrail answer at all: say what came back, not its body.
        None => match e.raw_response() {
            Some(r) => format!(
                "the CloudTrail endpoint answered HTTP {} with no CloudTrail answer {read}: LookupEvents is not available there",
                r.status().as_u16()
            ),
            None => format!("CloudTrail could not be reached {read}: {e}"),
        },
    }
}

#[async_trait]
impl ActivityLog for CloudTrailActivity {
    async fn lookup(&self, query: &ActivityQuery) -> Lookup {
        let mut found = Lookup::default();
        let client = match self.client_for(&query.account, &query.label).await {
            Ok(c) => c,
            Err(e) => {
                found.stopped = Some(format!(
                    "no session in account {} to read its CloudTrail: {e:#}",
                    query.account
                ));
                return found;
            }
        };
        let attribute = match attribute(&query.by) {
            Ok(a) => a,
            Err(e) => {
                found.stopped = Some(format!("{e:#}"));
                return found;
            }
        };
        let mut token: Option<String> = None;
        loop {
            if found.pages >= MAX_PAGES {
                found.stopped = Some(format!(
                    "stopped after {MAX_PAGES} pages ({} events)",
                    found.events.len()
                ));
                break;
            }
            let time_limit = || {
                format!(
                    "stopped at the time limit after {} page(s): run `audit-grants evidence` for the whole record",
                    found.pages
                )
            };
            if !self.pace(&query.account, query.deadline).await {
                found.stopped = Some(time_limit());
                break;
            }
            let send = client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(smithy_time(query.start))
                .end_time(smithy_time(query.end))
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send();
            // A call (with the SDK's retries) never outlasts the deadline.
            let answer = match query.deadline {
                Some(d) => match tokio::time::timeout_at(d, send).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        found.stopped = Some(time_limit());
                        break;
                    }
                },
                None => send.await,
            };
            match answer {
                Ok(page) => {
                    found.pages += 1;
                    found
                        .events
                        .extend(page.events().iter().filter_map(event_of));
                    match page.next_token() {
                        Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                        _ => break,
                    }
                }
                Err(e) => {
                    found.stopped = Some(stopped_because(&e, found.pages));
                    break;
                }
            }
        }
        found
            .events
            .sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        found.events.dedup_by(|a, b| a.event_id == b.event_id);
        found
    }
}

#[cfg(test)]
mod tests {
    //! The adapter through the real SDK client, with CloudTrail's answers in
    //! its real wire format (JSON 1.1, `CloudTrailEvent` as a JSON string,
    //! `EventTime` in epoch seconds) served by an in-process HTTP client.

    use std::sync::{Arc, Mutex};

    use aws_config::retry::RetryConfig;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_cloudtrail::config::{Credentials, SharedCredentialsProvider};
    use aws_smithy_http_client::test_util::infallible_client_fn;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::parse_timestamp;

    const ROLE: &str = "arn:aws:iam::123456789012:role/audit-grants/AUD-1042";

    /// One recorded answer: HTTP status and body.
    type Answer = (u16, Value);

    /// A request as sent: when (on the test's clock) and its JSON body.
    type Sent = Arc<Mutex<Vec<(tokio::time::Instant, Value)>>>;

    fn event(id: &str, epoch: i64, name: &str, record: Value) -> Value {
        json!({
            "EventId": id, "EventName": name, "ReadOnly": "true",
            "AccessKeyId": "ASIAJEXAMPLEXEG2JICEA", "EventTime": epoch,
            "EventSource": "iam.amazonaws.com", "Username": "audit-AUD-1042",
            "Resources": [{"ResourceType": "AWS::IAM::Role", "ResourceName": ROLE}],
            "CloudTrailEvent": record.to_string()
        })
    }

    fn page(events: Vec<Value>, next: Option<&str>) -> Answer {
        let mut body = json!({ "Events": events });
        if let Some(t) = next {
            body["NextToken"] = json!(t);
        }
        (200, body)
    }

    fn error(code: &str, message: &str) -> Answer {
        (400, json!({"__type": code, "Message": message}))
    }

    /// The adapter over a client answering `answers` in order.
    async fn activity(answers: Vec<Answer>) -> (CloudTrailActivity, Sent) {
        let sent: Sent = Arc::default();
        let log = sent.clone();
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let http =
            infallible_client_fn(move |req: http::Request<aws_smithy_types::body::SdkBody>| {
                assert_eq!(
                    req.headers().get("x-amz-target").unwrap(),
                    "CloudTrail_20131101.LookupEvents"
                );
                let body: Value = serde_json::from_slice(req.body().bytes().unwrap()).unwrap();
                log.lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), body));
                let (status, body) = answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .expect("an answer recorded for every request");
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/x-amz-json-1.1")
                    .body(body.to_string())
                    .unwrap()
            });
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url("http://127.0.0.1:9")
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .load()
            .await;
        let identity = Arc::new(crate::fakes::FixedIdentity::in_account("123456789012"));
        let roles = Arc::new(IamRoles::new(
            super::super::Lazy::new(&conf, aws_sdk_iam::Client::new),
            super::super::Lazy::new(&conf, aws_sdk_sts::Client::new),
            identity,
            "audit-grants-provisioner".into(),
            crate::config::BoundaryArn {
                partition: crate::domain::Partition::Aws,
                account: AccountId::parse("123456789012").unwrap(),
                path: "/audit-grants/".into(),
                name: "audit-grants-boundary".into(),
            },
        ));
        (
            CloudTrailActivity::new(super::super::Lazy::new(&conf, Client::new), roles),
            sent,
        )
    }

    fn query(by: LookupBy) -> ActivityQuery {
        ActivityQuery {
            account: AccountId::parse("123456789012").unwrap(),
            label: "AUD-1042".into(),
            by,
            start: parse_timestamp("2026-12-01T08:00:00Z").unwrap(),
            end: parse_timestamp("2026-12-02T10:00:00Z").unwrap(),
            deadline: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_page_is_read_at_two_requests_a_second_oldest_event_first() {
        let record = json!({"eventVersion": "1.08", "sourceIPAddress": "198.51.100.7",
            "requestParameters": {"roleArn": ROLE},
            "responseElements": {"credentials": {"accessKeyId": "ASIAJEXAMPLEXEG2JICEA"}}});
        let (log, sent) = activity(vec![
            page(
                vec![
                    event("e3", 1_764_583_200, "AssumeRole", record.clone()),
                    event("e2", 1_764_579_600, "AssumeRole", record.clone()),
                ],
                Some("token-1"),
            ),
            page(
                vec![event("e1", 1_764_576_000, "AssumeRole", record.clone())],
                Some("token-2"),
            ),
            page(vec![], None),
        ])
        .await;
        let found = log
            .lookup(&query(LookupBy::ResourceName(ROLE.into())))
            .await;
        assert_eq!(found.stopped, None);
        assert_eq!(found.pages, 3);
        let ids: Vec<&str> = found.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3"], "oldest first");
        assert_eq!(
            found.events[0].event_time,
            DateTime::from_timestamp(1_764_576_000, 0).unwrap()
        );
        assert_eq!(
            found.events[0].access_key_id.as_deref(),
            Some("ASIAJEXAMPLEXEG2JICEA")
        );
        let recorded: Value = serde_json::from_str(&found.events[0].record).unwrap();
        assert_eq!(recorded["sourceIPAddress"], "198.51.100.7");

        let sent = sent.lock().unwrap();
        let bodies: Vec<&Value> = sent.iter().map(|(_, b)| b).collect();
        assert_eq!(
            bodies[0]["LookupAttributes"],
            json!([{"AttributeKey": "ResourceName", "AttributeValue": ROLE}])
        );
        assert_eq!(bodies[0]["MaxResults"], 50);
        assert_eq!(bodies[0]["StartTime"].as_f64(), Some(1_796_112_000.0));
        assert_eq!(bodies[0]["EndTime"].as_f64(), Some(1_796_205_600.0));
        assert!(bodies[0].get("NextToken").is_none());
        assert_eq!(bodies[1]["NextToken"], "token-1");
        assert_eq!(bodies[2]["NextToken"], "token-2");
        for pair in sent.windows(2) {
            assert!(
                pair[1].0 - pair[0].0 >= LOOKUP_INTERVAL,
                "calls to one account are 500 ms apart"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_by_access_key_names_the_key() {
        let (log, sent) = activity(vec![page(vec![], None)]).await;
        let found = log
            .lookup(&query(LookupBy::AccessKeyId(
                "ASIAJEXAMPLEXEG2JICEA".into(),
            )))
            .await;
        assert_eq!((found.pages, found.stopped), (1, None));
        assert_eq!(
            sent.lock().unwrap()[0].1["LookupAttributes"],
            json!([{"AttributeKey": "AccessKeyId", "AttributeValue": "ASIAJEXAMPLEXEG2JICEA"}])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_and_when_it_persists_the_pages_read_are_kept_and_the_reason_given()
     {
        let one = || {
            page(
                vec![event("e1", 1_764_576_000, "ListRoles", json!({}))],
                Some("token-1"),
            )
        };
        // Once throttled, then answered: the SDK's retry makes it invisible.
        let (log, sent) = activity(vec![
            error("ThrottlingException", "Rate exceeded"),
            page(vec![], None),
        ])
        .await;
        let found = log
            .lookup(&query(LookupBy::AccessKeyId("ASIA1".into())))
            .await;
        assert_eq!((found.pages, found.stopped), (1, None));
        assert_eq!(sent.lock().unwrap().len(), 2, "retried once");

        // Throttled on every attempt of the second page.
        let throttled = || error("ThrottlingException", "Rate exceeded");
        let (log, sent) = activity(vec![one(), throttled(), throttled(), throttled()]).await;
        let found = log
            .lookup(&query(LookupBy::AccessKeyId("ASIA1".into())))
            .await;
        assert_eq!(found.pages, 1);
        assert_eq!(found.events.len(), 1, "the page read is kept");
        let why = found.stopped.expect("says why it stopped");
        assert!(
            why.contains("throttling")
                && why.contains("ThrottlingException")
                && why.contains("after 1 page(s)"),
            "{why}"
        );
        assert_eq!(
            sent.lock().unwrap().len(),
            4,
            "three attempts at the second page"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_says_which_permission_is_missing() {
        let (log, _) = activity(vec![error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/audit-grants-fn/x is not authorized to perform: cloudtrail:LookupEvents",
        )])
        .await;
        let found = log
            .lookup(&query(LookupBy::ResourceName(ROLE.into())))
            .await;
        assert_eq!((found.pages, found.events.len()), (0, 0));
        let why = found.stopped.unwrap();
        assert!(
            why.contains("refused")
                && why.contains("needs cloudtrail:LookupEvents")
                && why.contains("is not authorized"),
            "{why}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paging_stops_at_the_deadline_and_says_so() {
        let (log, sent) = activity(vec![
            page(
                vec![event("e1", 1_764_576_000, "ListRoles", json!({}))],
                Some("t1"),
            ),
            page(
                vec![event("e2", 1_764_576_001, "ListRoles", json!({}))],
                Some("t2"),
            ),
            page(vec![], None),
        ])
        .await;
        let mut q = query(LookupBy::AccessKeyId("ASIA1".into()));
        // Room for two paced calls, not three.
        q.deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_millis(700));
        let found = log.lookup(&q).await;
        assert_eq!(found.pages, 2);
        assert!(found.stopped.unwrap().contains("time limit"));
        assert_eq!(sent.lock().unwrap().len(), 2);
    }
}
