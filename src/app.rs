//! Wiring: settings and SDK clients into one `GrantService`, built once.

use std::sync::Arc;

use crate::aws::AwsClients;
use crate::aws::dynamo::DynamoGrantStore;
use crate::aws::iam::IamRoles;
use crate::aws::sts::StsIdentity;
use crate::config::Settings;
use crate::ports::{CallerIdentity, SystemClock};
use crate::service::GrantService;

/// The service over real AWS clients. `identity` is shared by the service and
/// the IAM adapter so the caller is asked at most once per process.
pub fn grant_service(
    clients: &AwsClients,
    settings: Arc<Settings>,
    identity: Arc<dyn CallerIdentity>,
) -> GrantService {
    let store = DynamoGrantStore::new(clients.dynamodb.clone(), settings.table_name.clone());
    let roles = IamRoles::new(
        clients.iam.clone(),
        clients.sts.clone(),
        identity.clone(),
        settings.provisioner_role_name.clone(),
    );
    GrantService::new(
        Arc::new(store),
        Arc::new(roles),
        identity,
        Arc::new(SystemClock),
        settings,
    )
}

/// The Lambda handler (service and webhook authentication) over real clients.
pub fn handler(
    clients: &AwsClients,
    settings: Arc<Settings>,
    metrics: crate::metrics::Metrics,
) -> crate::lambda::Handler {
    let webhook = crate::webhook::WebhookAuth::new(&settings, clients.secrets.clone());
    let service = grant_service(clients, settings, sts_identity(clients)).with_metrics(metrics);
    crate::lambda::Handler {
        service: Arc::new(service),
        webhook: Arc::new(webhook),
    }
}

pub fn sts_identity(clients: &AwsClients) -> Arc<dyn CallerIdentity> {
    Arc::new(StsIdentity::new(clients.sts.clone()))
}

/// What `audit-grants setup` found or made.
#[derive(Debug, serde::Serialize)]
pub struct SetupReport {
    pub table: String,
    pub table_created: bool,
    pub boundary_arn: String,
    pub boundary_created: bool,
}

/// Creates, where missing, the grants table and the permissions boundary.
pub async fn setup(clients: &AwsClients, settings: &Settings) -> anyhow::Result<SetupReport> {
    let caller = StsIdentity::new(clients.sts.clone()).caller().await?;
    if caller.account != settings.boundary.account {
        anyhow::bail!(
            "PERMISSIONS_BOUNDARY_ARN names account {} but these credentials are in account {}",
            settings.boundary.account,
            caller.account
        );
    }
    let store = DynamoGrantStore::new(clients.dynamodb.clone(), settings.table_name.clone());
    let table_created = store.ensure_table().await?;
    let boundary_created =
        crate::aws::iam::ensure_boundary_policy(&clients.iam, &settings.boundary).await?;
    Ok(SetupReport {
        table: settings.table_name.clone(),
        table_created,
        boundary_arn: settings.boundary.in_account(&settings.boundary.account),
        boundary_created,
    })
}
