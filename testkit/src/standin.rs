//! A fast, thread-safe stand-in for the dozen IAM, STS and DynamoDB operations
//! audit-grants uses, speaking their real wire protocols (IAM and STS: the AWS
//! query protocol with XML answers; DynamoDB: JSON 1.0) to the real SDK
//! clients. Unlike the emulator it never serialises requests: each one waits
//! its service's configured latency on its own, so concurrent calls overlap as
//! they do against AWS. It also does what the emulator cannot: IAM's
//! per-account throttling of mutating calls (a `Throttling` error above a
//! configured rate), so a benchmark sees the retries the SDK absorbs.
//!
//! Scope: what a grant, a sweep and a teardown call — IAM `GetRole`,
//! `CreateRole`, `TagRole`, `AttachRolePolicy`, `PutRolePolicy`,
//! `UpdateAssumeRolePolicy`, `PutRolePermissionsBoundary`,
//! `ListAttachedRolePolicies`, `DetachRolePolicy`, `ListRolePolicies`,
//! `DeleteRolePolicy`, `DeleteRole`; STS `AssumeRole`, `GetCallerIdentity`;
//! DynamoDB `GetItem`, `PutItem`, `Query` (key conditions `=`, `<=`,
//! `begins_with`, on the table or an index), `TransactWriteItems` (puts with
//! `attribute_not_exists(…)` or `a = :v` conditions), `BatchWriteItem`.
//! Anything else is answered with an error naming the operation.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http1;

/// The account of requests signed with keys that are not ours (the caller).
pub const HOME_ACCOUNT: &str = "123456789012";

/// Per-call latency and IAM's per-account rate of mutating calls.
#[derive(Debug, Clone, Copy)]
pub struct StandInConfig {
    pub iam_latency: Duration,
    pub sts_latency: Duration,
    pub dynamodb_latency: Duration,
    /// Mutating IAM calls per second per account before `Throttling`
    /// (a token bucket of this rate and burst); `None`: never throttled.
    pub iam_writes_per_second: Option<f64>,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            iam_latency: Duration::from_millis(60),
            sts_latency: Duration::from_millis(30),
            dynamodb_latency: Duration::from_millis(10),
            iam_writes_per_second: Some(10.0),
        }
    }
}

/// A role as the stand-in holds it.
#[derive(Debug, Clone, Default)]
pub struct StandInRole {
    pub path: String,
    pub role_id: String,
    pub trust: String,
    pub boundary: Option<String>,
    pub tags: Vec<(String, String)>,
    pub attached: Vec<String>,
    pub inline: BTreeMap<String, String>,
    pub max_session: i64,
}

#[derive(Default)]
struct State {
    roles: HashMap<(String, String), StandInRole>,
    items: BTreeMap<(String, String), serde_json::Map<String, Value>>,
    buckets: HashMap<String, (f64, Instant)>,
    next_id: u64,
}

#[derive(Default)]
struct Counters {
    calls: Mutex<BTreeMap<String, u64>>,
    throttled: AtomicU64,
    /// IAM requests in flight per account.
    in_flight: Mutex<HashMap<String, InFlight>>,
}

/// IAM requests in flight in one account: per role name now, and the most
/// requests, and the most distinct roles, there ever were at once.
#[derive(Default)]
struct InFlight {
    by_role: HashMap<String, u64>,
    max_requests: u64,
    max_roles: u64,
}

/// A running stand-in: its URL, its state, and what it counted.
#[derive(Clone)]
pub struct StandIn {
    pub url: String,
    state: Arc<Mutex<State>>,
    counters: Arc<Counters>,
}

impl StandIn {
    /// Starts the stand-in on 127.0.0.1, on its own thread and runtime.
    pub fn start(config: StandInConfig) -> StandIn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let standin = StandIn {
            url,
            state: Arc::default(),
            counters: Arc::default(),
        };
        let server = standin.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(server.serve(listener, config));
        });
        standin
    }

    /// Puts a role in place without a request (seeding a benchmark).
    pub fn seed_role(&self, account: &str, name: &str, role: StandInRole) {
        let mut s = self.state.lock().unwrap();
        s.roles.insert((account.to_owned(), name.to_owned()), role);
    }

    pub fn role(&self, account: &str, name: &str) -> Option<StandInRole> {
        let s = self.state.lock().unwrap();
        s.roles.get(&(account.to_owned(), name.to_owned())).cloned()
    }

    pub fn role_count(&self) -> usize {
        self.state.lock().unwrap().roles.len()
    }

    /// Calls answered, by `service:Operation` (throttled ones included).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.counters.calls.lock().unwrap().clone()
    }

    pub fn total_calls(&self) -> u64 {
        self.calls().values().sum()
    }

    /// `Throttling` errors answered (each one a retry the SDK absorbed or not).
    pub fn throttled(&self) -> u64 {
        self.counters.throttled.load(Ordering::Relaxed)
    }

    /// The most IAM requests that were ever in flight at once in `account`.
    pub fn max_iam_in_flight(&self, account: &str) -> u64 {
        self.counters
            .in_flight
            .lock()
            .unwrap()
            .get(account)
            .map_or(0, |f| f.max_requests)
    }

    /// The most distinct roles IAM requests were in flight for at once in
    /// `account` (requests naming no role count as one of their own).
    pub fn max_roles_in_flight(&self, account: &str) -> u64 {
        self.counters
            .in_flight
            .lock()
            .unwrap()
            .get(account)
            .map_or(0, |f| f.max_roles)
    }

    pub fn reset_counters(&self) {
        self.counters.calls.lock().unwrap().clear();
        self.counters.throttled.store(0, Ordering::Relaxed);
        self.counters.in_flight.lock().unwrap().clear();
    }

    async fn serve(self, listener: std::net::TcpListener, config: StandInConfig) {
        http1::serve(listener, move |request| {
            let me = self.clone();
            async move { me.answer(&request, &config).await }
        })
        .await
    }

    async fn answer(
        &self,
        request: &http1::Request,
        config: &StandInConfig,
    ) -> (u16, &'static str, String) {
        let header = |name: &str| {
            request.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let auth = header("authorization").unwrap_or_default();
        // Credential=<key>/<date>/<region>/<service>/aws4_request
        let scope: Vec<&str> = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split([',', ' ']).next())
            .unwrap_or_default()
            .split('/')
            .collect();
        let key = scope.first().copied().unwrap_or_default();
        let service = scope.get(3).copied().unwrap_or_default();
        let account = match key.strip_prefix("ASIA") {
            Some(rest) if rest.len() >= 12 => rest[..12].to_owned(),
            _ => HOME_ACCOUNT.to_owned(),
        };
        if let Some(target) = header("x-amz-target") {
            tokio::time::sleep(config.dynamodb_latency).await;
            let op = target.rsplit('.').next().unwrap_or_default().to_owned();
            self.count(&format!("dynamodb:{op}"));
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let (status, answer) = self.dynamodb(&op, &body);
            return (status, "application/x-amz-json-1.0", answer.to_string());
        }
        let form = parse_form(&request.body);
        let action = form.get("Action").cloned().unwrap_or_default();
        if service == "sts" || matches!(action.as_str(), "AssumeRole" | "GetCallerIdentity") {
            tokio::time::sleep(config.sts_latency).await;
            self.count(&format!("sts:{action}"));
            let (status, xml) = self.sts(&action, &form, &account);
            return (status, "text/xml", xml);
        }
        let role = form.get("RoleName").cloned().unwrap_or_default();
        {
            let mut flights = self.counters.in_flight.lock().unwrap();
            let f = flights.entry(account.clone()).or_default();
            *f.by_role.entry(role.clone()).or_default() += 1;
            let requests: u64 = f.by_role.values().sum();
            f.max_requests = f.max_requests.max(requests);
            f.max_roles = f.max_roles.max(f.by_role.len() as u64);
        }
        tokio::time::sleep(config.iam_latency).await;
        if let Some(f) = self.counters.in_flight.lock().unwrap().get_mut(&account)
            && let Some(n) = f.by_role.get_mut(&role)
        {
            *n -= 1;
            if *n == 0 {
                f.by_role.remove(&role);
            }
        }
        self.count(&format!("iam:{action}"));
        if is_mutating(&action)
            && let Some(rate) = config.iam_writes_per_second
            && !self.take_token(&account, rate)
        {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return (400, "text/xml", iam_error("Throttling", "Rate exceeded"));
        }
        let (status, xml) = self.iam(&action, &form, &account);
        (status, "text/xml", xml)
    }

    fn count(&self, op: &str) {
        *self
            .counters
            .calls
            .lock()
            .unwrap()
            .entry(op.to_owned())
            .or_default() += 1;
    }

    /// A token bucket per account: `rate` per second, burst `rate`.
    fn take_token(&self, account: &str, rate: f64) -> bool {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = s.buckets.entry(account.to_owned()).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn sts(&self, action: &str, form: &HashMap<String, String>, account: &str) -> (u16, String) {
        match action {
            "GetCallerIdentity" => (
                200,
                format!(
                    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/standin</Arn><UserId>AIDASTANDIN</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
                ),
            ),
            "AssumeRole" => {
                let arn = form.get("RoleArn").cloned().unwrap_or_default();
                let target = arn.split(':').nth(4).unwrap_or(HOME_ACCOUNT).to_owned();
                let session = form.get("RoleSessionName").cloned().unwrap_or_default();
                let role = arn.rsplit('/').next().unwrap_or_default();
                (
                    200,
                    format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{target}STANDIN</AccessKeyId><SecretAccessKey>standin</SecretAccessKey><SessionToken>standin</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASTANDIN:{}</AssumedRoleId><Arn>arn:aws:sts::{target}:assumed-role/{}/{}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></AssumeRoleResponse>",
                        xml_escape(&session),
                        xml_escape(role),
                        xml_escape(&session)
                    ),
                )
            }
            other => (
                400,
                iam_error("InvalidAction", &format!("not in the stand-in: {other}")),
            ),
        }
    }

    fn iam(&self, action: &str, form: &HashMap<String, String>, account: &str) -> (u16, String) {
        let name = form.get("RoleName").cloned().unwrap_or_default();
        let key = (account.to_owned(), name.clone());
        let mut s = self.state.lock().unwrap();
        let ok = |result: String| (200, iam_ok(action, &result));
        let no_role = || {
            (
                404,
                iam_error(
                    "NoSuchEntity",
                    &format!("The role with name {name} cannot be found."),
                ),
            )
        };
        match action {
            "CreateRole" => {
                if s.roles.contains_key(&key) {
                    return (409, iam_error("EntityAlreadyExists", "Role exists"));
                }
                s.next_id += 1;
                let role = StandInRole {
                    path: form.get("Path").cloned().unwrap_or_else(|| "/".into()),
                    role_id: format!("AROASTANDIN{:09}", s.next_id),
                    trust: form
                        .get("AssumeRolePolicyDocument")
                        .cloned()
                        .unwrap_or_default(),
                    boundary: form.get("PermissionsBoundary").cloned(),
                    tags: members(form, "Tags", &["Key", "Value"])
                        .into_iter()
                        .map(|m| (m[0].clone(), m[1].clone()))
                        .collect(),
                    max_session: form
                        .get("MaxSessionDuration")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(3600),
                    ..Default::default()
                };
                let xml = role_xml(account, &name, &role);
                s.roles.insert(key, role);
                ok(xml)
            }
            "GetRole" => match s.roles.get(&key) {
                Some(role) => ok(role_xml(account, &name, role)),
                None => no_role(),
            },
            "ListAttachedRolePolicies" => match s.roles.get(&key) {
                Some(role) => ok(format!(
                    "<AttachedPolicies>{}</AttachedPolicies><IsTruncated>false</IsTruncated>",
                    role.attached
                        .iter()
                        .map(|a| format!(
                            "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                            xml_escape(a.rsplit('/').next().unwrap_or_default()),
                            xml_escape(a)
                        ))
                        .collect::<String>()
                )),
                None => no_role(),
            },
            "ListRolePolicies" => match s.roles.get(&key) {
                Some(role) => ok(format!(
                    "<PolicyNames>{}</PolicyNames><IsTruncated>false</IsTruncated>",
                    role.inline
                        .keys()
                        .map(|n| format!("<member>{}</member>", xml_escape(n)))
                        .collect::<String>()
                )),
                None => no_role(),
            },
            "GetRolePolicy" => {
                let policy = form.get("PolicyName").cloned().unwrap_or_default();
                match s.roles.get(&key).and_then(|r| r.inline.get(&policy)) {
                    Some(doc) => ok(format!(
                        "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                        xml_escape(&name),
                        xml_escape(&policy),
                        xml_escape(&percent_encode(doc))
                    )),
                    None => no_role(),
                }
            }
            _ => {
                let Some(role) = s.roles.get_mut(&key) else {
                    return no_role();
                };
                let arg = |k: &str| form.get(k).cloned().unwrap_or_default();
                match action {
                    "TagRole" => {
                        for m in members(form, "Tags", &["Key", "Value"]) {
                            role.tags.retain(|(k, _)| *k != m[0]);
                            role.tags.push((m[0].clone(), m[1].clone()));
                        }
                    }
                    "AttachRolePolicy" => {
                        let arn = arg("PolicyArn");
                        if !role.attached.contains(&arn) {
                            role.attached.push(arn);
                        }
                    }
                    "DetachRolePolicy" => {
                        let arn = arg("PolicyArn");
                        if !role.attached.contains(&arn) {
                            return (404, iam_error("NoSuchEntity", "Policy is not attached"));
                        }
                        role.attached.retain(|a| *a != arn);
                    }
                    "PutRolePolicy" => {
                        role.inline.insert(arg("PolicyName"), arg("PolicyDocument"));
                    }
                    "DeleteRolePolicy" => {
                        if role.inline.remove(&arg("PolicyName")).is_none() {
                            return (404, iam_error("NoSuchEntity", "No such inline policy"));
                        }
                    }
                    "UpdateAssumeRolePolicy" => role.trust = arg("PolicyDocument"),
                    "PutRolePermissionsBoundary" => {
                        role.boundary = Some(arg("PermissionsBoundary"))
                    }
                    "UpdateRole" => {}
                    "DeleteRole" => {
                        if !role.attached.is_empty() || !role.inline.is_empty() {
                            return (
                                409,
                                iam_error(
                                    "DeleteConflict",
                                    "Cannot delete entity, must remove policies first.",
                                ),
                            );
                        }
                        s.roles.remove(&key);
                    }
                    other => {
                        return (
                            400,
                            iam_error("InvalidAction", &format!("not in the stand-in: {other}")),
                        );
                    }
                }
                ok(String::new())
            }
        }
    }

    fn dynamodb(&self, op: &str, body: &Value) -> (u16, Value) {
        let mut s = self.state.lock().unwrap();
        let key_of = |item: &Value| {
            (
                item["pk"]["S"].as_str().unwrap_or_default().to_owned(),
                item["sk"]["S"].as_str().unwrap_or_default().to_owned(),
            )
        };
        match op {
            "GetItem" => match s.items.get(&key_of(&body["Key"])) {
                Some(item) => (200, json!({"Item": item})),
                None => (200, json!({})),
            },
            "PutItem" => {
                let item = body["Item"].as_object().cloned().unwrap_or_default();
                s.items.insert(key_of(&body["Item"]), item);
                (200, json!({}))
            }
            "BatchWriteItem" => {
                for requests in body["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    for r in requests.as_array().into_iter().flatten() {
                        let item = &r["PutRequest"]["Item"];
                        s.items
                            .insert(key_of(item), item.as_object().cloned().unwrap_or_default());
                    }
                }
                (200, json!({"UnprocessedItems": {}}))
            }
            "TransactWriteItems" => {
                let puts: Vec<&Value> = body["TransactItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| &t["Put"])
                    .collect();
                let reasons: Vec<&str> = puts
                    .iter()
                    .map(|p| {
                        let existing = s.items.get(&key_of(&p["Item"]));
                        if condition_holds(p, existing) {
                            "None"
                        } else {
                            "ConditionalCheckFailed"
                        }
                    })
                    .collect();
                if reasons.contains(&"ConditionalCheckFailed") {
                    return (
                        400,
                        json!({
                            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                            "CancellationReasons": reasons.iter().map(|r| json!({"Code": r})).collect::<Vec<_>>(),
                        }),
                    );
                }
                for p in puts {
                    s.items.insert(
                        key_of(&p["Item"]),
                        p["Item"].as_object().cloned().unwrap_or_default(),
                    );
                }
                (200, json!({}))
            }
            "Query" => {
                let values = &body["ExpressionAttributeValues"];
                let terms: Vec<String> = body["KeyConditionExpression"]
                    .as_str()
                    .unwrap_or_default()
                    .split(" AND ")
                    .map(str::to_owned)
                    .collect();
                let mut matched: Vec<&serde_json::Map<String, Value>> = s
                    .items
                    .values()
                    .filter(|item| terms.iter().all(|t| key_term_holds(t, item, values)))
                    .collect();
                // Sorted by the range key of what was queried (the last term's attribute).
                let range = terms.last().map(|t| term_attribute(t)).unwrap_or_default();
                matched.sort_by_key(|a| attr_text(a, &range));
                (
                    200,
                    json!({"Items": matched, "Count": matched.len(), "ScannedCount": matched.len()}),
                )
            }
            "DescribeTable" => (
                200,
                json!({"Table": {"TableName": body["TableName"], "TableStatus": "ACTIVE",
                    "GlobalSecondaryIndexes": [{"IndexName": "due"}, {"IndexName": "outbox"}]}}),
            ),
            other => (
                400,
                json!({"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                    "message": format!("not in the stand-in: {other}")}),
            ),
        }
    }
}

fn is_mutating(action: &str) -> bool {
    [
        "Create", "Delete", "Put", "Update", "Attach", "Detach", "Tag", "Untag", "Remove", "Add",
    ]
    .iter()
    .any(|p| action.starts_with(p))
}

/// `attribute_not_exists(x)` or `x = :v` (what the grant store writes with).
fn condition_holds(put: &Value, existing: Option<&serde_json::Map<String, Value>>) -> bool {
    let Some(condition) = put["ConditionExpression"].as_str() else {
        return true;
    };
    let condition = condition.trim();
    if let Some(attr) = condition
        .strip_prefix("attribute_not_exists(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return existing.is_none_or(|item| !item.contains_key(attr.trim()));
    }
    if let Some((attr, placeholder)) = condition.split_once(" = ") {
        let want = &put["ExpressionAttributeValues"][placeholder.trim()];
        return existing.is_some_and(|item| item.get(attr.trim()) == Some(want));
    }
    false
}

fn term_attribute(term: &str) -> String {
    let t = term.trim();
    if let Some(inner) = t.strip_prefix("begins_with(") {
        return inner
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
    }
    t.split_whitespace().next().unwrap_or_default().to_owned()
}

fn attr_text(item: &serde_json::Map<String, Value>, attr: &str) -> String {
    item.get(attr)
        .and_then(|v| v["S"].as_str().or(v["N"].as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// `a = :v`, `a <= :v`, `begins_with(a, :v)` on string keys.
fn key_term_holds(term: &str, item: &serde_json::Map<String, Value>, values: &Value) -> bool {
    let t = term.trim();
    if let Some(inner) = t
        .strip_prefix("begins_with(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (attr, placeholder) = inner.split_once(',').unwrap_or_default();
        let prefix = values[placeholder.trim()]["S"].as_str().unwrap_or_default();
        return item.contains_key(attr.trim()) && attr_text(item, attr.trim()).starts_with(prefix);
    }
    let parts: Vec<&str> = t.split_whitespace().collect();
    let [attr, op, placeholder] = parts[..] else {
        return false;
    };
    if !item.contains_key(attr) {
        return false;
    }
    let have = attr_text(item, attr);
    let want = values[placeholder]["S"].as_str().unwrap_or_default();
    match op {
        "=" => have == want,
        "<=" => have.as_str() <= want,
        "<" => have.as_str() < want,
        ">=" => have.as_str() >= want,
        ">" => have.as_str() > want,
        _ => false,
    }
}

fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body).replace('+', " ");
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let d = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((d(k), d(v)))
        })
        .collect()
}

/// `Tags.member.1.Key`, `Tags.member.1.Value`, … as rows of the named fields.
fn members(form: &HashMap<String, String>, list: &str, fields: &[&str]) -> Vec<Vec<String>> {
    (1..)
        .map_while(|i| {
            let row: Option<Vec<String>> = fields
                .iter()
                .map(|f| form.get(&format!("{list}.member.{i}.{f}")).cloned())
                .collect();
            row
        })
        .collect()
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn role_xml(account: &str, name: &str, role: &StandInRole) -> String {
    let boundary = role
        .boundary
        .as_ref()
        .map(|b| {
            format!(
                "<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>{}</PermissionsBoundaryArn></PermissionsBoundary>",
                xml_escape(b)
            )
        })
        .unwrap_or_default();
    let tags: String = role
        .tags
        .iter()
        .map(|(k, v)| {
            format!(
                "<member><Key>{}</Key><Value>{}</Value></member>",
                xml_escape(k),
                xml_escape(v)
            )
        })
        .collect();
    format!(
        "<Role><Path>{path}</Path><Arn>arn:aws:iam::{account}:role{path}{name}</Arn><RoleName>{name}</RoleName><AssumeRolePolicyDocument>{trust}</AssumeRolePolicyDocument><CreateDate>2026-01-01T00:00:00Z</CreateDate><RoleId>{id}</RoleId><MaxSessionDuration>{max}</MaxSessionDuration>{boundary}<Tags>{tags}</Tags></Role>",
        path = xml_escape(&role.path),
        name = xml_escape(name),
        trust = xml_escape(&percent_encode(&role.trust)),
        id = xml_escape(&role.role_id),
        max = role.max_session,
    )
}

fn iam_ok(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></{action}Response>"
    )
}

fn iam_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>standin</RequestId></ErrorResponse>",
        xml_escape(message)
    )
}

/// SDK clients (every service the product uses) pointed at `url`, with the
/// product's own retry and timeout settings.
pub async fn clients_for(url: &str) -> audit_grants::aws::AwsClients {
    audit_grants::aws::AwsClients::from_conf(&sdk_config_for(url).await)
}

/// The SDK configuration of [`clients_for`]: `url`, us-east-1, a home key,
/// and the product's own retry and timeout settings.
pub async fn sdk_config_for(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "AKIASTANDINHOME",
            "standin",
            None,
            None,
            "standin",
        ))
        .retry_config(audit_grants::aws::retry_config())
        .timeout_config(audit_grants::aws::timeout_config())
        .load()
        .await
}
