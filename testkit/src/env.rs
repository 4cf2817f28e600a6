//! The environment of one test: an account with the table and boundary set up, the real service over the real clients, a clock the test moves.

use audit_grants::aws::AwsClients;
use audit_grants::aws::iam::IamRoles;
use audit_grants::aws::sts::StsIdentity;
use audit_grants::config::Settings;
use audit_grants::domain::parse_timestamp;
use audit_grants::lambda::Function;
use audit_grants::lambda::webhook_auth::WebhookAuth;
use audit_grants::ports::{CallerIdentity, Clock};
use audit_grants::service::GrantService;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::*;

pub use audit_grants::fakes::FakeClock as TestClock;

// ---- the environment of one test ----------------------------------------------

pub struct TestEnv {
    pub account: String,
    pub calls: CallLog,
    pub faults: FaultInjector,
    pub clients: AwsClients,
    pub settings: Arc<Settings>,
    pub clock: TestClock,
    pub service: Arc<GrantService>,
    pub identity: Arc<dyn CallerIdentity>,
    pub function: Function,
}

pub fn settings_for(account: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("GRANTS_TABLE".into(), "audit-grants-test".into()),
        ("WEBHOOK_SECRET".into(), DEMO_SECRET.into()),
        ("WEBHOOK_BEARER_TOKEN".into(), DEMO_BEARER.into()),
        (
            "PERMISSIONS_BOUNDARY_ARN".into(),
            format!("arn:aws:iam::{account}:policy/audit-grants/audit-grants-boundary"),
        ),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings are valid")
}

impl TestEnv {
    /// A new account with the table and boundary set up, and a clock at real now.
    pub async fn new() -> Self {
        Self::with(&[], Utc::now()).await
    }

    pub async fn at(now: &str) -> Self {
        Self::with(&[], parse_timestamp(now).unwrap()).await
    }

    pub async fn with(extra: &[(&str, &str)], now: DateTime<Utc>) -> Self {
        let account = fresh_account();
        let calls = CallLog::default();
        let faults = FaultInjector::default();
        let clients = clients_with(&account, &calls, &faults).await;
        let settings = Arc::new(settings_for(&account, extra));
        audit_grants::wiring::setup(&clients, &settings)
            .await
            .expect("setup");
        let clock = TestClock::at(now);
        let identity: Arc<dyn CallerIdentity> = Arc::new(StsIdentity::new(clients.sts.clone()));
        let service = Arc::new(Self::service_over(&clients, &settings, &identity, &clock));
        calls.take();
        let function = Function {
            service: service.clone(),
            webhook_auth: Arc::new(WebhookAuth::new(&settings, clients.secrets.clone())),
        };
        TestEnv {
            function,
            account,
            calls,
            faults,
            clients,
            settings,
            clock,
            service,
            identity,
        }
    }

    pub fn service_over(
        clients: &AwsClients,
        settings: &Arc<Settings>,
        identity: &Arc<dyn CallerIdentity>,
        clock: &TestClock,
    ) -> GrantService {
        audit_grants::wiring::grant_service(
            clients,
            settings.clone(),
            identity.clone(),
            Arc::new(clock.clone()),
        )
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The real IAM adapter on this test's clients.
    pub fn iam_roles(&self) -> IamRoles {
        audit_grants::wiring::iam_roles(&self.clients, &self.settings, self.identity.clone())
    }

    /// Another service on the same table and clock, over `provisioner`.
    pub fn service_with(
        &self,
        provisioner: Arc<dyn audit_grants::ports::RoleProvisioner>,
    ) -> GrantService {
        GrantService::new(
            Arc::new(audit_grants::wiring::grant_store(
                &self.clients,
                &self.settings,
            )),
            provisioner,
            self.identity.clone(),
            Arc::new(self.clock.clone()),
            self.settings.clone(),
        )
    }

    /// Deletes a grant's role (security-audit preset) out of band, as a person
    /// with IAM access would: detach, delete the window deny, delete the role.
    pub async fn delete_role_out_of_band(&self, name: &str) {
        let iam = &self.clients.iam;
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
            .send()
            .await
            .unwrap();
        iam.delete_role_policy()
            .role_name(name)
            .policy_name("AuditGrantWindow")
            .send()
            .await
            .unwrap();
        iam.delete_role().role_name(name).send().await.unwrap();
    }

    pub fn boundary_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy/audit-grants/audit-grants-boundary",
            self.account
        )
    }

    /// Names of the roles under the grant path.
    pub async fn roles(&self) -> Vec<String> {
        let roles: Result<Vec<_>, _> = self
            .clients
            .iam
            .list_roles()
            .path_prefix(ROLE_PATH)
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let mut names: Vec<String> = roles
            .unwrap()
            .iter()
            .map(|r| r.role_name().to_owned())
            .collect();
        names.sort();
        names
    }

    pub async fn role(&self, name: &str) -> Option<aws_sdk_iam::types::Role> {
        match self.clients.iam.get_role().role_name(name).send().await {
            Ok(out) => out.role,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_no_such_entity_exception()) =>
            {
                None
            }
            Err(e) => panic!("GetRole: {e:?}"),
        }
    }

    /// The role's trust policy, URL-decoded (IAM and moto return it encoded).
    pub async fn trust_policy(&self, name: &str) -> Value {
        let role = self.role(name).await.expect("role exists");
        let doc = role
            .assume_role_policy_document()
            .expect("has a trust policy");
        serde_json::from_str(&url_decode(doc)).expect("trust policy is JSON")
    }

    pub async fn attached(&self, name: &str) -> Vec<String> {
        let out = self
            .clients
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        let mut arns: Vec<String> = out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        arns.sort();
        arns
    }

    pub async fn inline(&self, name: &str) -> Vec<String> {
        let out = self
            .clients
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        out.policy_names().to_vec()
    }

    /// Every item of the grants table (grants and history).
    pub async fn table_items(&self) -> usize {
        let items: Result<Vec<_>, _> = self
            .clients
            .dynamodb
            .scan()
            .table_name(&self.settings.table_name)
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        items.unwrap().len()
    }

    /// What a rejected request must leave unchanged: roles and table items.
    pub async fn snapshot(&self) -> (Vec<String>, usize) {
        (self.roles().await, self.table_items().await)
    }
}

/// The service in the emulator's default account (`own`'s clients) with a
/// table of its own, set up, and `extra` settings: for tests that reach other
/// accounts through their provisioner roles.
pub async fn home_service(
    own: &AwsClients,
    extra: &[(&str, &str)],
) -> (Arc<Settings>, GrantService, TestClock) {
    let mut settings = settings_for("123456789012", extra);
    settings.table_name = format!("home-{}", fresh_account());
    let settings = Arc::new(settings);
    audit_grants::wiring::setup(own, &settings)
        .await
        .expect("setup");
    let identity: Arc<dyn CallerIdentity> = Arc::new(StsIdentity::new(own.sts.clone()));
    let clock = TestClock::at(Utc::now());
    let service = TestEnv::service_over(own, &settings, &identity, &clock);
    (settings, service, clock)
}
