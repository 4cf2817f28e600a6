//! Notifications through the emulator's EventBridge: a bus, a rule with an
//! SQS target (what an e-mail or chat subscription does in production), and
//! the test reading the queue.

use crate::common;

use audit_grants::domain::{GrantStatus, Ticket};
use audit_grants::ports::GrantStore;
use common::*;
use serde_json::{Value, json};

/// A test environment whose notifications go to a bus there, with a rule
/// sending every audit-grants notification to a new queue.
async fn notifying_env() -> (TestEnv, aws_sdk_sqs::Client, String) {
    let bus = format!("audit-grants-notify-{}", fresh_account());
    let env = TestEnv::with(&[("NOTIFY_EVENT_BUS", &bus)], chrono::Utc::now()).await;
    let (sqs, queue) = bus_to_queue(&env.clients, &env.account, &bus).await;
    (env, sqs, queue)
}

async fn bus_to_queue(
    env_clients: &audit_grants::aws::AwsClients,
    account: &str,
    bus: &str,
) -> (aws_sdk_sqs::Client, String) {
    env_clients
        .events
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .unwrap();
    let sqs = sqs_in(account).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("notify-{}", fresh_account()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    env_clients
        .events
        .put_rule()
        .name("audit-grants-to-queue")
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["audit-grants"]}).to_string())
        .send()
        .await
        .unwrap();
    env_clients
        .events
        .put_targets()
        .rule("audit-grants-to-queue")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (sqs, queue_url)
}

async fn sqs_in(account: &str) -> aws_sdk_sqs::Client {
    let conf = sdk_config(&proxy_url()).await;
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&conf)
            .interceptor(MotoAccount(account.to_owned()))
            .build(),
    )
}

/// Every message on the queue now: (detail-type, detail).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, Value)> {
    let mut out = vec![];
    loop {
        let msgs = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(event["source"], json!("audit-grants"));
            out.push((
                event["detail-type"].as_str().unwrap().to_owned(),
                event["detail"].clone(),
            ));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn each_transition_reaches_the_queue_once_with_the_get_view_and_expiring_notices_wait_in_the_outbox_index()
 {
    let (env, sqs, queue) = notifying_env().await;

    let created = create(&env.service, &request("AUD-NOTE")).await.unwrap();
    let grant = created.grant().clone();
    assert_eq!(grant.status, GrantStatus::Active);
    let activated = drain(&sqs, &queue).await;
    assert_eq!(activated.len(), 1, "{activated:?}");
    assert_eq!(activated[0].0, "Audit Grant Activated");
    let detail = &activated[0].1;
    assert_eq!(detail["ticket"], json!("AUD-NOTE"));
    assert_eq!(detail["status"], json!("active"));
    assert_eq!(detail["role_arn"], json!(grant.role_arn()));
    assert!(detail.get("external_id").is_none() && detail.get("aws_config_profile").is_none());
    assert_eq!(
        detail["notice_id"],
        json!(format!("AUD-NOTE/activated#v{}", grant.version))
    );

    // The expiring notices wait in DynamoDB, found through the outbox index.
    let store = audit_grants::wiring::grant_store(&env.clients, &env.settings);
    let end = grant.window.end();
    assert!(
        store
            .due_notices(end - chrono::Duration::hours(25))
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.due_notices(end).await.unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    env.clock.set(end - chrono::Duration::hours(24));
    let swept = env
        .service
        .sweep(audit_grants::service::SweepOptions {
            as_of: end - chrono::Duration::hours(24),
            mode: audit_grants::service::Mode::Apply,
            deadline: None,
        })
        .await
        .unwrap();
    assert_eq!(swept.notices.sent.len(), 1, "{:?}", swept.notices);
    let expiring = drain(&sqs, &queue).await;
    assert_eq!(
        expiring.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["Audit Grant Expiring"]
    );

    // Revoke: one Ended; the 1 h notice is skipped when its time comes.
    env.service
        .revoke(
            &Ticket::parse("AUD-NOTE").unwrap(),
            Some(&reason("done")),
            &operator(),
        )
        .await
        .unwrap();
    env.clock.set(end);
    let swept = env
        .service
        .sweep(audit_grants::service::SweepOptions {
            as_of: end,
            mode: audit_grants::service::Mode::Apply,
            deadline: None,
        })
        .await
        .unwrap();
    assert_eq!(swept.notices.skipped.len(), 1, "{:?}", swept.notices);
    let ended = drain(&sqs, &queue).await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].0, "Audit Grant Ended");
    assert_eq!(ended[0].1["status"], json!("revoked"));
    assert!(
        store
            .due_notices(end + chrono::Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_publish_stays_in_the_outbox_and_the_next_sweep_sends_it_once() {
    let (env, sqs, queue) = notifying_env().await;
    env.faults
        .fail_matching(Fault::ServerError, false, |op, _| op.ends_with("PutEvents"));
    let created = create(&env.service, &request("AUD-NOTE-RETRY"))
        .await
        .unwrap();
    assert_eq!(
        created.grant().status,
        GrantStatus::Active,
        "the grant does not wait for it"
    );
    assert!(drain(&sqs, &queue).await.is_empty());
    env.faults.clear();
    let sweep = env.service.sweep(sweep_at(env.now())).await.unwrap();
    assert_eq!(sweep.notices.sent.len(), 1, "{:?}", sweep.notices);
    env.service.sweep(sweep_at(env.now())).await.unwrap();
    let got = drain(&sqs, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "Audit Grant Activated");
}
