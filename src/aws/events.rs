//! Notifications on EventBridge (`NOTIFY_EVENT_BUS`).

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::aws_error;
use crate::domain::{NOTICE_SOURCE, Notice};
use crate::ports::Notifier;

pub struct EventBridgeNotifier {
    client: super::Lazy<Client>,
    bus: String,
}

impl EventBridgeNotifier {
    pub fn new(client: super::Lazy<Client>, bus: impl Into<String>) -> Self {
        EventBridgeNotifier {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl Notifier for EventBridgeNotifier {
    /// One `PutEvents` for up to ten notices (its limit): `source`
    /// `audit-grants`, the notice's `detail-type`, the grant view as `detail`.
    /// An entry EventBridge did not accept is reported with its error code.
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), String>> {
        let entries: Vec<PutEventsRequestEntry> = notices
            .iter()
            .map(|n| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(NOTICE_SOURCE)
                    .detail_type(n.kind.detail_type())
                    .detail(n.detail.to_string())
                    .build()
            })
            .collect();
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let results = out.entries();
                notices
                    .iter()
                    .enumerate()
                    .map(|(i, _)| match results.get(i) {
                        Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                        Some(r) => Err(format!(
                            "{}: {}",
                            r.error_code().unwrap_or("not accepted"),
                            r.error_message().unwrap_or_default()
                        )),
                        None => Err("no result for this entry".into()),
                    })
                    .collect()
            }
            Err(e) => {
                let why = format!("{:#}", aws_error("events:PutEvents", e));
                notices.iter().map(|_| Err(why.clone())).collect()
            }
        }
    }
}
