//! Wiring: settings and SDK clients into one `GrantService`, built once.

use std::sync::Arc;

use crate::aws::AwsClients;
use crate::aws::cloudtrail::CloudTrailActivity;
use crate::aws::dynamo::DynamoGrantStore;
use crate::aws::iam::IamRoles;
use crate::aws::s3::S3Evidence;
use crate::aws::sts::StsIdentity;
use crate::config::Settings;
use crate::ports::{CallerIdentity, Clock, SystemClock};
use crate::service::GrantService;

/// The grants table.
pub fn grant_store(clients: &AwsClients, settings: &Settings) -> DynamoGrantStore {
    DynamoGrantStore::new(clients.dynamodb.clone(), settings.table_name.clone())
}

/// The IAM adapter (through the provisioner role in other accounts).
pub fn iam_roles(
    clients: &AwsClients,
    settings: &Settings,
    identity: Arc<dyn CallerIdentity>,
) -> IamRoles {
    IamRoles::new(
        clients.iam.clone(),
        clients.sts.clone(),
        identity,
        settings.provisioner_role_name.clone(),
        settings.boundary.clone(),
    )
}

/// The service over real AWS clients. `identity` is shared by the service and
/// the IAM adapter so the caller is asked at most once per process.
pub fn grant_service(
    clients: &AwsClients,
    settings: Arc<Settings>,
    identity: Arc<dyn CallerIdentity>,
    clock: Arc<dyn Clock>,
) -> GrantService {
    // The region the auditor's profiles name: AWS_REGION, else the SDK's.
    let settings = match (&settings.region, clients.region()) {
        (None, Some(region)) => Arc::new(Settings {
            region: Some(region.to_string()),
            ..(*settings).clone()
        }),
        _ => settings,
    };
    let notifier = settings.notify_event_bus.as_ref().map(|bus| {
        Arc::new(crate::aws::events::EventBridgeNotifier::new(
            clients.events.clone(),
            bus.clone(),
        ))
    });
    let roles = Arc::new(iam_roles(clients, &settings, identity.clone()));
    // CloudTrail in other target accounts through the same provisioner sessions.
    let activity = Arc::new(CloudTrailActivity::new(
        clients.cloudtrail.clone(),
        roles.clone(),
    ));
    let evidence_store = settings
        .evidence_bucket
        .clone()
        .map(|bucket| Arc::new(S3Evidence::new(clients.s3.clone(), bucket)));
    let mut service = GrantService::new(
        Arc::new(grant_store(clients, &settings)),
        roles,
        identity,
        clock,
        settings,
    )
    .with_activity(activity);
    if let Some(store) = evidence_store {
        service = service.with_evidence_store(store);
    }
    match notifier {
        Some(n) => service.with_notifier(n),
        None => service,
    }
}

/// The function (service and webhook authentication) over real clients.
pub fn function(
    clients: &AwsClients,
    settings: Arc<Settings>,
    metrics: crate::metrics::Metrics,
) -> crate::lambda::Function {
    let webhook_auth =
        crate::lambda::webhook_auth::WebhookAuth::new(&settings, clients.secrets.clone());
    let service = grant_service(
        clients,
        settings,
        sts_identity(clients),
        Arc::new(SystemClock),
    )
    .with_metrics(metrics);
    crate::lambda::Function {
        service: Arc::new(service),
        webhook_auth: Arc::new(webhook_auth),
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
    let store = grant_store(clients, settings);
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
