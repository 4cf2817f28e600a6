//! The evidence pack end to end: a grant created, used, extended and revoked
//! in the emulator, the auditor's activity in recorded CloudTrail answers
//! (the emulator has no `LookupEvents`: `testkit::trail` speaks its wire
//! format, pages two events at a time and throttles), the pack in all three
//! formats from the real binary, the HTML page in a real browser, and the
//! immutable copy in an S3 bucket with versioning and Object Lock.

use std::sync::Arc;

use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::trail::{TrailStandIn, trail_event};
use crate::common::{
    self, AUDITOR_ROLE, CallLog, TestClock, TestEnv, fresh_account, operator, reason,
};
use audit_grants::aws::AwsClients;
use audit_grants::config::Settings;
use audit_grants::domain::{EVIDENCE_DELAY, Ticket, format_timestamp_precise};
use audit_grants::service::GrantService;

const SESSION_KEY: &str = "ASIAEVIDENCESESSION1";
const AUDITOR_IP: &str = "198.51.100.7";

/// A bucket as the template makes it: versioning, Object Lock, a default
/// retention of 400 days in governance mode.
async fn locked_bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = format!("evidence-{}", fresh_account());
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let retention = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .days(400)
        .build();
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(retention)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    bucket
}

/// The service in the emulator's default account (the binary, which cannot
/// add moto's account header, acts there too), on a table of its own, with
/// `extra` settings, its clock at `t0`, and CloudTrail read from a stand-in.
async fn with_trail(
    own: &AwsClients,
    extra: &[(&str, &str)],
    t0: DateTime<Utc>,
) -> (TrailStandIn, Arc<Settings>, TestClock, GrantService) {
    let trail = TrailStandIn::start();
    let mut clients = own.clone();
    clients.cloudtrail = audit_grants::aws::Lazy::ready(trail.client().await);
    let (settings, _, clock) = common::home_service(own, extra).await;
    clock.set(t0);
    let identity: Arc<dyn audit_grants::ports::CallerIdentity> =
        Arc::new(audit_grants::aws::sts::StsIdentity::new(own.sts.clone()));
    let service = TestEnv::service_over(&clients, &settings, &identity, &clock);
    (trail, settings, clock, service)
}

/// The auditor's recorded activity: one session and six calls (two refused),
/// a refused attempt by someone else, and our own IAM change to the role
/// (which names it but is no session).
/// The AssumeRole record carries the external ID the auditor sent, as
/// CloudTrail records it: it must never reach the pack.
fn activity(role_arn: &str, external_id: &str, t0: DateTime<Utc>) -> Vec<Value> {
    let ms = |n| t0 + Duration::milliseconds(n);
    let mut events = vec![
        trail_event(
            "ev-assume",
            ms(100),
            "sts.amazonaws.com",
            "AssumeRole",
            Some("AKIAAUDITORKEY"),
            &[role_arn],
            json!({
            "userIdentity": {"type": "AssumedRole", "arn": AUDITOR_ROLE},
            "sourceIPAddress": AUDITOR_IP,
            "requestParameters": {"roleArn": role_arn, "roleSessionName": "audit-AUD", "sourceIdentity": "alice", "externalId": external_id},
            "responseElements": {"credentials": {"accessKeyId": SESSION_KEY}, "sourceIdentity": "alice"}}),
        ),
        trail_event(
            "ev-mallory",
            ms(150),
            "sts.amazonaws.com",
            "AssumeRole",
            Some("AKIAMALLORY"),
            &[role_arn],
            json!({
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::999999999999:user/mallory"},
            "sourceIPAddress": "203.0.113.9", "errorCode": "AccessDenied",
            "errorMessage": "User is not authorized to perform: sts:AssumeRole",
            "requestParameters": {"roleArn": role_arn, "roleSessionName": "x"}}),
        ),
        trail_event(
            "ev-ours",
            ms(50),
            "iam.amazonaws.com",
            "CreateRole",
            Some("ASIAFUNCTION"),
            &[role_arn],
            json!({
            "userIdentity": {"arn": "arn:aws:sts::123456789012:assumed-role/audit-grants-fn/x"}}),
        ),
    ];
    let session = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/audit/audit-AUD", "accessKeyId": SESSION_KEY});
    for (i, (source, name, error)) in [
        ("iam.amazonaws.com", "GetAccountSummary", None),
        ("iam.amazonaws.com", "ListRoles", None),
        ("iam.amazonaws.com", "ListRoles", None),
        ("dynamodb.amazonaws.com", "ListTables", None),
        (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            Some("AccessDenied"),
        ),
        (
            "ec2.amazonaws.com",
            "GetConsoleOutput",
            Some("Client.UnauthorizedOperation"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = json!({"userIdentity": session, "sourceIPAddress": AUDITOR_IP});
        if let Some(code) = error {
            record["errorCode"] = json!(code);
            record["errorMessage"] = json!(format!("not authorized to perform {name}"));
        }
        events.push(trail_event(
            &format!("ev-call-{i}"),
            ms(200 + 60 * i as i64),
            source,
            name,
            Some(SESSION_KEY),
            &[],
            record,
        ));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_extended_revoked_grant_yields_its_pack_in_three_formats_and_a_locked_copy() {
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    // The default account: the binary (which cannot add moto's account
    // header) acts in it too.
    let own = common::default_account_clients(&CallLog::default()).await;
    let bucket = locked_bucket(&own.s3).await;
    let (trail, settings, clock, service) =
        with_trail(&own, &[("EVIDENCE_BUCKET", &bucket)], t0).await;
    trail.throttle_every(4);

    let ticket = format!("AUD-EV-{}", &fresh_account()[6..]);
    let created = common::create(&service, &common::request(&ticket))
        .await
        .unwrap();
    let granted = created.grant().clone();
    let role_arn = granted.role_arn().to_owned();
    trail.record(activity(&role_arn, granted.external_id.as_str(), t0));
    clock.set(t0 + Duration::seconds(1));
    let t = Ticket::parse(&ticket).unwrap();
    let new_end = granted.window.end() + Duration::hours(24);
    service.extend(&t, new_end, &operator()).await.unwrap();
    clock.set(t0 + Duration::seconds(2));
    service
        .revoke(&t, Some(&reason("fieldwork done")), &operator())
        .await
        .unwrap();
    clock.set(t0 + Duration::seconds(3));

    // The pack as the service makes it, field by field.
    let pack = service.evidence(&t, None).await.unwrap();
    assert_eq!(
        (pack.ticket.as_str(), pack.status.as_str()),
        (ticket.as_str(), "revoked")
    );
    assert_eq!(pack.approval.requested_by, "jane.doe@example.com");
    assert_eq!(
        pack.approval.reason.as_deref(),
        Some("FY26 SOC 2 fieldwork")
    );
    assert_eq!(pack.approval.sender, Some(operator()));
    assert_eq!(
        pack.grant.end,
        audit_grants::domain::format_timestamp(new_end)
    );
    assert_eq!(pack.grant.external_id, "required (value not shown)");
    let whole = serde_json::to_string(&pack).unwrap();
    assert!(
        !whole.contains(granted.external_id.as_str()),
        "the external ID is never in a pack"
    );
    let account = &pack.accounts[0];
    assert_eq!(account.account, "123456789012");
    assert_eq!(account.role.role_arn, role_arn);
    assert_eq!(
        account.role.role_id,
        granted.first_role().role_id,
        "IAM's RoleId"
    );
    assert!(
        account
            .role
            .role_id
            .as_deref()
            .is_some_and(|id| id.starts_with("AROA"))
    );
    assert_eq!(
        account.role.boundary_arn,
        settings.boundary.in_account(&settings.boundary.account)
    );
    assert_eq!(
        account.role.boundary_sha256,
        hex::encode(sha2::Sha256::digest(
            audit_grants::policy::permissions_boundary().to_json()
        ))
    );
    assert_eq!(
        account.role.preset_policy_arn,
        "arn:aws:iam::aws:policy/SecurityAudit"
    );
    assert_eq!(
        account.role.trust_policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        "(present)"
    );
    assert_eq!(account.role.window_deny["Statement"][0]["Effect"], "Deny");
    let history: Vec<(&str, &str)> = pack
        .history
        .iter()
        .map(|e| (e.to.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        history.iter().map(|h| h.0).collect::<Vec<_>>(),
        ["pending", "active", "active", "revoking", "revoked"]
    );
    assert!(history[2].1.starts_with("end moved from"), "{history:?}");
    assert_eq!(history[3].1, "fieldwork done");
    // The proof of removal: the steps as IAM (the emulator) answered them.
    let removal = &account.removal;
    assert_eq!(removal.state, "removed");
    let steps: Vec<&str> = removal.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "sessions_revoked",
            "trust_removed",
            "policies_detached",
            "inline_policies_deleted",
            "role_deleted"
        ]
    );
    let revoked_at = t0 + Duration::seconds(2);
    assert!(
        removal.steps.iter().all(|s| s.at >= revoked_at),
        "{:?}",
        removal.steps
    );
    let verified = removal.verified.as_ref().unwrap();
    assert!(verified.answer.starts_with("NoSuchEntity") && !verified.role_exists);
    assert_eq!(
        verified.checked_at,
        format_timestamp_precise(t0 + Duration::seconds(3))
    );
    // The activity, through the real CloudTrail client: paged, throttled, paced.
    let a = &account.activity;
    assert!(a.complete, "{:?}", a.notes);
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    assert_eq!(
        (
            s.access_key_id.as_str(),
            s.assumed_by.as_deref(),
            s.source_identity.as_deref(),
            s.calls
        ),
        (SESSION_KEY, Some(AUDITOR_ROLE), Some("alice"), 6)
    );
    assert_eq!(a.refused_assumes.len(), 1);
    assert_eq!(
        a.refused_assumes[0].by.as_deref(),
        Some("arn:aws:iam::999999999999:user/mallory")
    );
    assert_eq!(a.total_calls, 6);
    assert_eq!(
        a.first_use,
        Some(format_timestamp_precise(t0 + Duration::milliseconds(200)))
    );
    assert_eq!(
        a.last_use,
        Some(format_timestamp_precise(t0 + Duration::milliseconds(500)))
    );
    assert_eq!(
        (
            a.by_action[0].service.as_str(),
            a.by_action[0].action.as_str(),
            a.by_action[0].calls
        ),
        ("iam", "ListRoles", 2)
    );
    assert_eq!(a.by_action.len(), 5);
    let denied: Vec<(&str, &str)> = a
        .denied_calls
        .iter()
        .map(|c| (c.action.as_str(), c.error_code.as_deref().unwrap()))
        .collect();
    assert_eq!(
        denied,
        [
            ("GetSecretValue", "AccessDenied"),
            ("GetConsoleOutput", "Client.UnauthorizedOperation")
        ]
    );
    assert_eq!(a.source_ips.len(), 1);
    assert_eq!(
        (a.source_ips[0].ip.as_str(), a.source_ips[0].calls),
        (AUDITOR_IP, 6)
    );
    let requests = trail.requests();
    assert!(
        trail.throttled() >= 1,
        "the stand-in throttled, the SDK retried"
    );
    // 3 events naming the role (2 pages), 6 calls (3 pages), plus retries.
    assert_eq!(requests.len(), 5 + trail.throttled(), "{requests:?}");
    // Paced at two a second; only the SDK's retry of a throttled request
    // (every 4th) follows sooner.
    let paced: Vec<_> = requests
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || i % 4 != 0) // the 4th, 8th… are throttled, the next is its retry
        .map(|(_, (at, _))| *at)
        .collect();
    for pair in paced.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= std::time::Duration::from_millis(450),
            "a lookup came {gap:?} after the one before"
        );
    }
    assert_eq!(
        requests[0].1["LookupAttributes"][0]["AttributeKey"],
        "ResourceName"
    );

    // The same pack from the real binary, in all three formats.
    while Utc::now() < t0 + Duration::seconds(3) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let dir = common::project_dir().join("target").join("evidence");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |format: &str, out: Option<&std::path::Path>| {
        let mut cmd = common::binary(&common::proxy_url(), &settings.table_name, "123456789012");
        cmd.env("AWS_ENDPOINT_URL_CLOUDTRAIL", &trail.url)
            .args(["evidence", &ticket, "--format", format]);
        if let Some(path) = out {
            cmd.arg("--out").arg(path);
        }
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let json_text = run("json", None);
    assert!(!json_text.contains(granted.external_id.as_str()));
    let json_pack: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(json_pack["format"], "audit-grants evidence pack");
    assert_eq!(json_pack["ticket"], ticket.as_str());
    assert_eq!(json_pack["accounts"][0]["removal"]["state"], "removed");
    assert_eq!(json_pack["accounts"][0]["activity"]["total_calls"], 6);
    assert_eq!(
        json_pack["accounts"][0]["activity"]["denied_calls"][1]["action"],
        "GetConsoleOutput"
    );
    assert_eq!(
        json_pack["grant"]["auditor_policy"]["Statement"][0]["Resource"],
        json!([role_arn])
    );
    assert_eq!(json_pack["history"].as_array().unwrap().len(), 5);
    let md_path = dir.join("evidence.md");
    run("md", Some(&md_path));
    let md = std::fs::read_to_string(&md_path).unwrap();
    for needle in [
        "# Evidence pack",
        "## Approval",
        "## Access as granted",
        "## State changes",
        "## Proof of removal",
        "## Recorded activity",
    ] {
        assert!(md.contains(needle), "{needle} missing from the markdown");
    }
    // Every field the pack holds, in both formats people read.
    let role_id = granted.first_role().role_id.clone().unwrap();
    let first_use = a.first_use.clone().unwrap();
    let last_use = a.last_use.clone().unwrap();
    let fields: Vec<&str> = vec![
        ticket.as_str(),
        "revoked",
        "jane.doe@example.com",
        "FY26 SOC 2 fieldwork",
        "cli test-operator",
        AUDITOR_ROLE,
        "security-audit",
        &role_arn,
        &role_id,
        &account.role.boundary_arn,
        &account.role.boundary_sha256,
        "arn:aws:iam::aws:policy/SecurityAudit",
        "required (value not shown)",
        "end moved from",
        "fieldwork done",
        "sessions_revoked",
        "trust_removed",
        "policies_detached",
        "inline_policies_deleted",
        "role_deleted",
        "NoSuchEntity",
        SESSION_KEY,
        "alice",
        AUDITOR_IP,
        &first_use,
        &last_use,
        "ListRoles",
        "ListTables",
        "GetAccountSummary",
        "GetSecretValue",
        "AccessDenied",
        "GetConsoleOutput",
        "Client.UnauthorizedOperation",
        "arn:aws:iam::999999999999:user/mallory",
    ];
    for field in &fields {
        assert!(md.contains(field), "{field} missing from the markdown");
    }
    assert!(!md.contains(granted.external_id.as_str()));
    let html_path = dir.join("evidence.html");
    run("html", Some(&html_path));
    let html = std::fs::read_to_string(&html_path).unwrap();
    for id in [
        "summary", "approval", "granted", "timeline", "activity", "removal",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    // (The page offers line breaks inside long identifiers: `<wbr>`.)
    let page_text = html.replace("<wbr>", "");
    for field in &fields {
        assert!(page_text.contains(field), "{field} missing from the page");
    }
    assert!(!html.contains(granted.external_id.as_str()));
    // A real browser renders every section, with one row per action and per
    // denied call, and fetches nothing.
    let shot = dir.join("evidence.png");
    let browser = std::process::Command::new(common::project_dir().join("tests/browser/run.sh"))
        .arg(&html_path)
        .arg(&shot)
        .args(["--expect-rows", "5", "--expect-denied", "2"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(said.contains(", 0 failed"), "{said}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot was taken"
    );

    // Once CloudTrail has caught up, the sweep keeps the pack in the bucket.
    let ended = service.get(&t).await.unwrap();
    assert!(ended.evidence_pending);
    let early = service
        .sweep(common::sweep_at(
            ended.ended_at.unwrap() + EVIDENCE_DELAY - Duration::minutes(1),
        ))
        .await
        .unwrap();
    assert!(!early.evidence_kept.contains(&ticket));
    let report = service
        .sweep(common::sweep_at(ended.ended_at.unwrap() + EVIDENCE_DELAY))
        .await
        .unwrap();
    assert!(report.evidence_kept.contains(&ticket), "{report:?}");
    let (_, history) = service.show(&t).await.unwrap();
    let last = history.last().unwrap();
    let copy = last.evidence.clone().expect("the record names the copy");
    assert_eq!(copy.bucket, bucket);
    assert_eq!(copy.key, format!("evidence/{ticket}.json"));
    let version = copy
        .version_id
        .clone()
        .expect("a versioned bucket names the version");
    assert!(
        last.reason.contains(&format!("s3://{bucket}/{}", copy.key))
            && last.reason.contains(&version)
    );
    let object = own
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&copy.key)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), copy.sha256);
    assert!(!String::from_utf8_lossy(&bytes).contains(granted.external_id.as_str()));
    let kept: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (kept["ticket"].as_str(), kept["status"].as_str()),
        (Some(ticket.as_str()), Some("revoked"))
    );
    assert_eq!(kept["accounts"][0]["activity"]["total_calls"], 6);
    // Locked: governance retention from the bucket's default, and the version
    // cannot be deleted.
    // (HeadObject: moto answers GetObjectRetention with the object itself.)
    let head = own
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&copy.key)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Governance)
    );
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert!(
        until > (Utc::now() + Duration::days(399)).timestamp(),
        "retained 400 days"
    );
    let deleted = own
        .s3
        .delete_object()
        .bucket(&bucket)
        .key(&copy.key)
        .version_id(&version)
        .send()
        .await;
    assert!(deleted.is_err(), "a locked version cannot be deleted");
    let still = own
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&copy.key)
        .version_id(&version)
        .send()
        .await;
    assert!(still.is_ok());

    // Over HTTP: a signed GET, in any format; a bad format changes nothing.
    let function = audit_grants::lambda::Function {
        service: Arc::new(service),
        webhook_auth: Arc::new(audit_grants::lambda::webhook_auth::WebhookAuth::new(
            &settings,
            own.secrets.clone(),
        )),
    };
    let path = format!("/grants/{ticket}/evidence");
    let get = |format: Option<&str>, signature: Option<&str>| {
        let mut event = common::http_event("GET", &path, b"", signature);
        if let Some(f) = format {
            event["queryStringParameters"] = json!({"format": f});
            event["rawQueryString"] = json!(format!("format={f}"));
        }
        event
    };
    let answer = audit_grants::lambda::handle_event(&function, get(Some("html"), None), None)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(
        answer["headers"]["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(answer["body"].as_str().unwrap().contains("id=\"removal\""));
    assert!(
        !answer["body"]
            .as_str()
            .unwrap()
            .contains(granted.external_id.as_str())
    );
    assert_eq!(answer["headers"]["x-content-type-options"], "nosniff");
    assert_eq!(answer["headers"]["cache-control"], "no-store");
    let answer = audit_grants::lambda::handle_event(&function, get(None, None), None)
        .await
        .unwrap();
    let (status, body) = common::http_result(&answer);
    assert_eq!(
        (status, body["ticket"].as_str()),
        (200, Some(ticket.as_str()))
    );
    let (status, body) = common::http_result(
        &audit_grants::lambda::handle_event(&function, get(Some("pdf"), None), None)
            .await
            .unwrap(),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("format"))
    );
    let (status, _) = common::http_result(
        &audit_grants::lambda::handle_event(&function, get(None, Some("sha256=00")), None)
            .await
            .unwrap(),
    );
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_in_another_target_account_is_read_there_through_its_provisioner_role() {
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let own = common::default_account_clients(&CallLog::default()).await;
    let (target, _) = common::target_account_with_provisioner("123456789012").await;
    let (trail, _, clock, service) = with_trail(&own, &[("TARGET_ACCOUNTS", &target)], t0).await;

    let ticket = format!("AUD-XEV-{}", &fresh_account()[6..]);
    let mut request = common::request(&ticket);
    request["target_accounts"] = json!(["123456789012", target]);
    let grant = common::create(&service, &request)
        .await
        .unwrap()
        .grant()
        .clone();
    let theirs = grant
        .role_in(&audit_grants::domain::AccountId::parse(&target).unwrap())
        .unwrap()
        .role_arn
        .clone();
    let ours = grant.role_arn().to_owned();
    // The auditor used the role in the other account only.
    trail.record(activity(&theirs, grant.external_id.as_str(), t0));
    clock.set(t0 + Duration::seconds(1));
    let pack = service
        .evidence(&Ticket::parse(&ticket).unwrap(), None)
        .await
        .unwrap();
    let accounts: Vec<(&str, usize, u64)> = pack
        .accounts
        .iter()
        .map(|a| {
            (
                a.account.as_str(),
                a.activity.sessions.len(),
                a.activity.total_calls,
            )
        })
        .collect();
    assert_eq!(accounts, [("123456789012", 0, 0), (target.as_str(), 1, 6)]);
    assert!(
        pack.accounts.iter().all(|a| a.activity.complete),
        "{:?}",
        pack.accounts[1].activity.notes
    );
    // Each account's event history was read with that account's credentials:
    // ours with the function's own, theirs with the provisioner session's.
    let signers = trail.signers();
    let home_keys: Vec<&str> = signers
        .iter()
        .filter(|(_, v)| *v == ours)
        .map(|(k, _)| k.as_str())
        .collect();
    let their_keys: Vec<&str> = signers
        .iter()
        .filter(|(_, v)| *v == theirs || v.starts_with("ASIAEVIDENCE"))
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(
        !home_keys.is_empty() && !their_keys.is_empty(),
        "{signers:?}"
    );
    assert!(
        their_keys
            .iter()
            .all(|k| k.starts_with("ASIA") && !home_keys.contains(k)),
        "{signers:?}"
    );
}
