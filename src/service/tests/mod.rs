//! Every rule of the service, over in-memory fakes of every port: no emulator,
//! milliseconds each, a file per use case, each test named after the rule it
//! checks. The same behaviours end to end, through the real SDK, are in
//! `tests/emulator/`.

mod accounts;
mod create;
mod evidence;
mod extend;
mod notify;
mod reads;
mod reconcile;
mod sweep;
mod teardown;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    Created, GrantService, Mode, ROLE_DELETED_OUT_OF_BAND, ReconcileOptions, SweepOptions,
};
use crate::config::Settings;
use crate::domain::{
    Ending, Grant, GrantRequestBody, GrantStatus, Reason, TAG_EXPIRES_AT, TAG_MANAGED_BY,
    TAG_TICKET, Ticket, format_timestamp, parse_timestamp,
};
use crate::error::{Error, ErrorCode};
use crate::fakes::FakeStore;
use crate::fakes::{FakeClock, FakeIam, FakeNotifier, FixedIdentity, IamOp, StoreOp};
use crate::ports::{ProvisionError, StoreError};

const OWN: &str = "123456789012";
const AUDITOR: &str = "210987654321";
const AUDITOR_ROLE: &str = "arn:aws:iam::210987654321:role/ExternalAuditor";
const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/audit-grants/audit-grants-boundary";

struct Harness {
    store: FakeStore,
    iam: FakeIam,
    clock: FakeClock,
    notifier: FakeNotifier,
    service: GrantService,
}

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-12-01T09:00:00Z").unwrap()
}

fn harness() -> Harness {
    harness_with(&[])
}

fn harness_with(extra: &[(&str, &str)]) -> Harness {
    let mut env: Vec<(String, String)> = vec![
        ("GRANTS_TABLE".into(), "grants".into()),
        ("PERMISSIONS_BOUNDARY_ARN".into(), BOUNDARY.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::from_lookup(|k| {
        env.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    })
    .expect("valid settings");
    let (store, iam, clock) = (
        FakeStore::default(),
        FakeIam::default(),
        FakeClock::at(now()),
    );
    let notifier = FakeNotifier::default();
    let service = GrantService::new(
        Arc::new(store.clone()),
        Arc::new(iam.clone()),
        Arc::new(FixedIdentity::in_account(OWN)),
        Arc::new(clock.clone()),
        Arc::new(settings),
    )
    .with_notifier(Arc::new(notifier.clone()));
    Harness {
        store,
        iam,
        clock,
        notifier,
        service,
    }
}

fn request_json(ticket: &str) -> Value {
    json!({
        "ticket": ticket,
        "requested_by": "jane.doe@example.com",
        "auditor_account": AUDITOR,
        "principals": [AUDITOR_ROLE],
        "duration": "72h",
        "reason": "FY26 SOC 2 fieldwork",
    })
}

fn body(v: &Value) -> GrantRequestBody {
    GrantRequestBody::from_json(v).expect("a well-shaped request")
}

fn ticket(t: &str) -> Ticket {
    Ticket::parse(t).unwrap()
}

fn code(e: &Error) -> (ErrorCode, Option<&str>) {
    (e.code(), e.field_name())
}

/// Who asks, in these tests.
fn operator() -> crate::domain::Origin {
    crate::domain::Origin::cli("test-operator")
}

fn sweep_at(as_of: DateTime<Utc>) -> SweepOptions {
    SweepOptions {
        as_of,
        mode: Mode::Apply,
        deadline: None,
    }
}

impl Harness {
    /// Another service over the same fakes, with only these settings (and the
    /// table and boundary), and no notifier.
    fn service_with_only(&self, extra: &[(&str, &str)]) -> GrantService {
        let settings = Settings::from_lookup(|k| match k {
            "GRANTS_TABLE" => Some("grants".into()),
            "PERMISSIONS_BOUNDARY_ARN" => Some(BOUNDARY.into()),
            other => extra
                .iter()
                .find(|(key, _)| *key == other)
                .map(|(_, v)| v.to_string()),
        })
        .expect("valid settings");
        GrantService::new(
            Arc::new(self.store.clone()),
            Arc::new(self.iam.clone()),
            Arc::new(FixedIdentity::in_account(OWN)),
            Arc::new(self.clock.clone()),
            Arc::new(settings),
        )
    }

    async fn create(&self, v: &Value) -> Result<Created, Error> {
        self.service.create(&body(v), &operator()).await
    }

    async fn active(&self, t: &str) -> Grant {
        let g = self.create(&request_json(t)).await.unwrap().grant().clone();
        assert_eq!(g.status, GrantStatus::Active);
        g
    }

    fn statuses(&self, t: &str) -> Vec<GrantStatus> {
        self.store.events(t).iter().map(|e| e.to).collect()
    }
}
