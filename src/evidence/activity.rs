//! From CloudTrail events to the pack's activity summary: the sessions the
//! role issued (its `AssumeRole` events), then what each session's access key
//! did. Pure: the lookups happen in the service, through `ActivityLog`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::pack::{ActionCount, Activity, CallRecord, IpCount, Session};
use crate::domain::format_timestamp_precise;
use crate::ports::TrailEvent;

/// What CloudTrail records as an authorisation failure.
pub fn is_denied(error_code: &str) -> bool {
    let c = error_code.trim_start_matches("Client.");
    c.starts_with("AccessDenied")
        || c.starts_with("Unauthorized")
        || c.contains("NotAuthorized")
        || c == "AuthorizationError"
        || c == "Forbidden"
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `iam` for `iam.amazonaws.com`.
fn service_of(event_source: &str) -> String {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
        .to_owned()
}

/// One event as a call record.
pub fn call_record(e: &TrailEvent) -> CallRecord {
    let record: Value = serde_json::from_str(&e.record).unwrap_or(Value::Null);
    CallRecord {
        at: format_timestamp_precise(e.event_time),
        service: service_of(&e.event_source),
        action: e.event_name.clone(),
        error_code: text(&record, &["errorCode"]).map(str::to_owned),
        error_message: text(&record, &["errorMessage"]).map(str::to_owned),
        source_ip: text(&record, &["sourceIPAddress"]).map(str::to_owned),
        by: text(&record, &["userIdentity", "arn"]).map(str::to_owned),
        access_key_id: e
            .access_key_id
            .clone()
            .or_else(|| text(&record, &["userIdentity", "accessKeyId"]).map(str::to_owned)),
        event_id: e.event_id.clone(),
    }
}

/// The sessions `role_arn` issued, and the refused attempts to assume it,
/// from the events a lookup by the role's ARN returned (other events that
/// name the role, such as our own IAM changes, are not sessions).
pub fn sessions(assume_events: &[TrailEvent], role_arn: &str) -> Sessions {
    let mut found = Sessions::default();
    for e in assume_events
        .iter()
        .filter(|e| e.event_name == "AssumeRole")
    {
        let record: Value = serde_json::from_str(&e.record).unwrap_or(Value::Null);
        if text(&record, &["requestParameters", "roleArn"]).is_some_and(|r| r != role_arn) {
            continue;
        }
        if text(&record, &["errorCode"]).is_some() {
            found.refused.push(call_record(e));
            continue;
        }
        let Some(key) = text(&record, &["responseElements", "credentials", "accessKeyId"]) else {
            found.keyless += 1;
            continue;
        };
        found.sessions.push(Session {
            access_key_id: key.to_owned(),
            assumed_at: format_timestamp_precise(e.event_time),
            assumed_by: text(&record, &["userIdentity", "arn"]).map(str::to_owned),
            session_name: text(&record, &["requestParameters", "roleSessionName"])
                .map(str::to_owned),
            source_identity: text(&record, &["requestParameters", "sourceIdentity"])
                .map(str::to_owned),
            source_ip: text(&record, &["sourceIPAddress"]).map(str::to_owned),
            calls: 0,
        });
    }
    found
}

/// What a role's `AssumeRole` events tell.
#[derive(Debug, Default)]
pub struct Sessions {
    /// The sessions it issued.
    pub sessions: Vec<Session>,
    /// Refused attempts to assume it.
    pub refused: Vec<CallRecord>,
    /// Successful `AssumeRole` events that name no issued access key (the
    /// pack says their calls could not be looked up).
    pub keyless: usize,
}

/// Adds the calls of every session to `activity`: totals, first and last
/// use, calls by service and action, source IPs, and each denied call.
pub fn summarise(activity: &mut Activity, calls: &[TrailEvent]) {
    let mut by_action: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut ips: BTreeMap<String, u64> = BTreeMap::new();
    let mut sorted: Vec<&TrailEvent> = calls.iter().collect();
    sorted.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    sorted.dedup_by(|a, b| a.event_id == b.event_id);
    for e in &sorted {
        let call = call_record(e);
        let denied = call.error_code.as_deref().is_some_and(is_denied);
        let counts = by_action
            .entry((call.service.clone(), call.action.clone()))
            .or_default();
        counts.0 += 1;
        counts.1 += u64::from(denied);
        if let Some(ip) = &call.source_ip {
            *ips.entry(ip.clone()).or_default() += 1;
        }
        if let Some(s) = activity
            .sessions
            .iter_mut()
            .find(|s| Some(&s.access_key_id) == call.access_key_id.as_ref())
        {
            s.calls += 1;
        }
        if denied {
            activity.denied_calls.push(call);
        }
    }
    activity.total_calls = sorted.len() as u64;
    activity.first_use = sorted
        .first()
        .map(|e| format_timestamp_precise(e.event_time));
    activity.last_use = sorted
        .last()
        .map(|e| format_timestamp_precise(e.event_time));
    let mut actions: Vec<ActionCount> = by_action
        .into_iter()
        .map(|((service, action), (calls, denied))| ActionCount {
            service,
            action,
            calls,
            denied,
        })
        .collect();
    actions.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| (&a.service, &a.action).cmp(&(&b.service, &b.action)))
    });
    activity.by_action = actions;
    let mut ips: Vec<IpCount> = ips
        .into_iter()
        .map(|(ip, calls)| IpCount { ip, calls })
        .collect();
    ips.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.ip.cmp(&b.ip)));
    activity.source_ips = ips;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/audit-grants/audit-grant-AUD-1";

    fn at(s: &str) -> DateTime<Utc> {
        crate::domain::parse_timestamp(s).unwrap()
    }

    fn event(
        id: &str,
        time: &str,
        source: &str,
        name: &str,
        key: Option<&str>,
        record: Value,
    ) -> TrailEvent {
        TrailEvent {
            event_id: id.into(),
            event_time: at(time),
            event_name: name.into(),
            event_source: source.into(),
            access_key_id: key.map(str::to_owned),
            record: record.to_string(),
        }
    }

    fn assume(id: &str, time: &str, key: &str) -> TrailEvent {
        event(
            id,
            time,
            "sts.amazonaws.com",
            "AssumeRole",
            Some("AKIAAUDITOR"),
            json!({
                "userIdentity": {"arn": "arn:aws:iam::210987654321:role/ExternalAuditor"},
                "sourceIPAddress": "198.51.100.7",
                "requestParameters": {"roleArn": ROLE, "roleSessionName": "audit-AUD-1", "sourceIdentity": "alice"},
                "responseElements": {"credentials": {"accessKeyId": key}}
            }),
        )
    }

    #[test]
    fn sessions_come_from_the_roles_assume_role_events_only() {
        let refused = event(
            "e3",
            "2026-12-01T09:02:00Z",
            "sts.amazonaws.com",
            "AssumeRole",
            None,
            json!({
                "userIdentity": {"arn": "arn:aws:iam::999999999999:user/mallory"},
                "sourceIPAddress": "203.0.113.9",
                "errorCode": "AccessDenied", "errorMessage": "not authorized",
                "requestParameters": {"roleArn": ROLE, "roleSessionName": "x"}
            }),
        );
        let ours = event(
            "e4",
            "2026-12-01T08:59:00Z",
            "iam.amazonaws.com",
            "CreateRole",
            None,
            json!({}),
        );
        let other_role = event(
            "e5",
            "2026-12-01T09:03:00Z",
            "sts.amazonaws.com",
            "AssumeRole",
            None,
            json!({
                "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/other"},
                "responseElements": {"credentials": {"accessKeyId": "ASIAOTHER"}}
            }),
        );
        // A successful AssumeRole whose record lacks the issued key.
        let keyless = event(
            "e6",
            "2026-12-01T09:30:00Z",
            "sts.amazonaws.com",
            "AssumeRole",
            None,
            json!({"requestParameters": {"roleArn": ROLE}}),
        );
        let found = sessions(
            &[
                assume("e1", "2026-12-01T09:00:00Z", "ASIA1"),
                refused,
                ours,
                other_role,
                keyless,
                assume("e2", "2026-12-01T10:00:00Z", "ASIA2"),
            ],
            ROLE,
        );
        assert_eq!(found.keyless, 1);
        let (sessions, refused) = (found.sessions, found.refused);
        let keys: Vec<&str> = sessions.iter().map(|s| s.access_key_id.as_str()).collect();
        assert_eq!(keys, ["ASIA1", "ASIA2"]);
        let s = &sessions[0];
        assert_eq!(s.assumed_at, "2026-12-01T09:00:00.000Z");
        assert_eq!(
            s.assumed_by.as_deref(),
            Some("arn:aws:iam::210987654321:role/ExternalAuditor")
        );
        assert_eq!(s.source_identity.as_deref(), Some("alice"));
        assert_eq!(s.session_name.as_deref(), Some("audit-AUD-1"));
        assert_eq!(s.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(refused.len(), 1);
        assert_eq!(
            refused[0].by.as_deref(),
            Some("arn:aws:iam::999999999999:user/mallory")
        );
        assert_eq!(refused[0].error_code.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn calls_are_counted_by_service_and_action_with_every_denial_listed() {
        let call = |id: &str,
                    time: &str,
                    source: &str,
                    name: &str,
                    key: &str,
                    ip: &str,
                    error: Option<&str>| {
            let mut r = json!({"sourceIPAddress": ip, "userIdentity": {"arn": "arn:aws:sts::123456789012:assumed-role/audit-grant-AUD-1/audit-AUD-1", "accessKeyId": key}});
            if let Some(code) = error {
                r["errorCode"] = json!(code);
                r["errorMessage"] = json!(format!("{code} for {name}"));
            }
            event(id, time, source, name, Some(key), r)
        };
        let mut activity = Activity {
            sessions: sessions(
                &[
                    assume("a1", "2026-12-01T09:00:00Z", "ASIA1"),
                    assume("a2", "2026-12-01T11:00:00Z", "ASIA2"),
                ],
                ROLE,
            )
            .sessions,
            ..Activity::default()
        };
        let calls = [
            call(
                "c3",
                "2026-12-01T09:10:00Z",
                "iam.amazonaws.com",
                "ListRoles",
                "ASIA1",
                "198.51.100.7",
                None,
            ),
            call(
                "c1",
                "2026-12-01T09:05:00Z",
                "iam.amazonaws.com",
                "GetAccountSummary",
                "ASIA1",
                "198.51.100.7",
                None,
            ),
            call(
                "c2",
                "2026-12-01T09:06:00Z",
                "iam.amazonaws.com",
                "ListRoles",
                "ASIA1",
                "198.51.100.7",
                None,
            ),
            call(
                "c4",
                "2026-12-01T11:01:00Z",
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                "ASIA2",
                "198.51.100.8",
                Some("AccessDenied"),
            ),
            call(
                "c5",
                "2026-12-01T11:02:00Z",
                "ec2.amazonaws.com",
                "GetConsoleOutput",
                "ASIA2",
                "198.51.100.8",
                Some("Client.UnauthorizedOperation"),
            ),
            call(
                "c6",
                "2026-12-01T11:03:00Z",
                "iam.amazonaws.com",
                "GetRole",
                "ASIA2",
                "198.51.100.8",
                Some("NoSuchEntity"),
            ),
            // The same event from two lookups counts once.
            call(
                "c2",
                "2026-12-01T09:06:00Z",
                "iam.amazonaws.com",
                "ListRoles",
                "ASIA1",
                "198.51.100.7",
                None,
            ),
        ];
        summarise(&mut activity, &calls);
        assert_eq!(activity.total_calls, 6);
        assert_eq!(
            activity.first_use.as_deref(),
            Some("2026-12-01T09:05:00.000Z")
        );
        assert_eq!(
            activity.last_use.as_deref(),
            Some("2026-12-01T11:03:00.000Z")
        );
        assert_eq!(
            activity.by_action[0],
            ActionCount {
                service: "iam".into(),
                action: "ListRoles".into(),
                calls: 2,
                denied: 0
            }
        );
        let denied: Vec<(&str, &str)> = activity
            .by_action
            .iter()
            .filter(|a| a.denied > 0)
            .map(|a| (a.service.as_str(), a.action.as_str()))
            .collect();
        assert_eq!(
            denied,
            [
                ("ec2", "GetConsoleOutput"),
                ("secretsmanager", "GetSecretValue")
            ]
        );
        let listed: Vec<(&str, Option<&str>)> = activity
            .denied_calls
            .iter()
            .map(|c| (c.action.as_str(), c.error_code.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("GetSecretValue", Some("AccessDenied")),
                ("GetConsoleOutput", Some("Client.UnauthorizedOperation"))
            ]
        );
        assert_eq!(
            activity.denied_calls[0].error_message.as_deref(),
            Some("AccessDenied for GetSecretValue")
        );
        assert_eq!(
            activity.source_ips,
            [
                IpCount {
                    ip: "198.51.100.7".into(),
                    calls: 3
                },
                IpCount {
                    ip: "198.51.100.8".into(),
                    calls: 3
                }
            ]
        );
        assert_eq!(
            (activity.sessions[0].calls, activity.sessions[1].calls),
            (3, 3)
        );
    }

    #[test]
    fn only_authorisation_failures_count_as_denied() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "AuthorizationError",
            "NotAuthorizedException",
            "Client.UnauthorizedOperation",
            "UnauthorizedOperation",
        ] {
            assert!(is_denied(code), "{code}");
        }
        for code in [
            "NoSuchEntity",
            "ThrottlingException",
            "ValidationError",
            "ResourceNotFoundException",
        ] {
            assert!(!is_denied(code), "{code}");
        }
    }
}
