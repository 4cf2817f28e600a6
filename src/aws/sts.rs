//! Who we are (once per process), and credentials in other target accounts.

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::aws_error;
use crate::domain::{AccountId, Partition, Ticket};
use crate::ports::{Caller, CallerIdentity};

/// `sts:GetCallerIdentity`, asked once and remembered.
#[derive(Debug)]
pub struct StsIdentity {
    sts: super::Lazy<aws_sdk_sts::Client>,
    cached: OnceCell<Caller>,
}

impl StsIdentity {
    pub fn new(sts: super::Lazy<aws_sdk_sts::Client>) -> Self {
        StsIdentity {
            sts,
            cached: OnceCell::new(),
        }
    }
}

#[async_trait]
impl CallerIdentity for StsIdentity {
    fn seed(&self, caller: Caller) {
        let _ = self.cached.set(caller);
    }

    async fn caller(&self) -> anyhow::Result<Caller> {
        self.cached
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_error("sts:GetCallerIdentity", e))?;
                let account = AccountId::parse(out.account().unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("caller account {e}"))?;
                let partition = out
                    .arn()
                    .and_then(|arn| arn.split(':').nth(1))
                    .map(Partition::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?
                    .unwrap_or(Partition::Aws);
                Ok(Caller { account, partition })
            })
            .await
            .cloned()
    }
}

/// The role session name for work on a ticket in another account: CloudTrail
/// there ties every change to the ticket. `[\w+=,.@-]`, 2–64 characters.
pub fn session_name(ticket: &Ticket) -> String {
    session_name_for(ticket.as_str())
}

/// The session name for work labelled `label` (a ticket, or `reconcile`).
pub fn session_name_for(label: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| if c == ':' || c == '/' { '_' } else { c })
        .take(50)
        .collect();
    format!("audit-grants-{safe}")
}
