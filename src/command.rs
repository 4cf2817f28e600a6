//! The one seam every trigger goes through: EventBridge, the schedule, webhooks
//! and the CLI each parse their input into a `Command` at their edge, and
//! `execute` runs it on the service. Past this point nothing is raw JSON.

use crate::domain::{
    ExtendRequest, Grant, GrantRequestBody, GrantStatus, HistoryEvent, Origin, RevokeRequest,
    Ticket,
};
use crate::error::Result;
use crate::evidence::pack::Pack;
use crate::service::{Created, GrantService, ReconcileOptions, ReconcileReport, SweepReport};

pub use crate::service::SweepOptions;

/// Everything the product can be asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    Create(Box<GrantRequestBody>),
    Revoke(RevokeRequest),
    Extend(ExtendRequest),
    /// One grant, as a `GET` answers it.
    Get(Ticket),
    /// One grant and its history.
    Show(Ticket),
    /// One grant's evidence pack; CloudTrail lookups stop at the deadline.
    Evidence(Ticket, Option<tokio::time::Instant>),
    List(Option<GrantStatus>),
    Sweep(SweepOptions),
    Reconcile(ReconcileOptions),
}

/// What a command came to.
#[derive(Debug)]
pub enum Outcome {
    Created(Created),
    /// The grant after a revoke or extend, or as read.
    Grant(Grant),
    Shown(Grant, Vec<HistoryEvent>),
    Evidence(Box<Pack>),
    Listed(Vec<Grant>),
    Swept(SweepReport),
    Reconciled(ReconcileReport),
}

/// Runs `command` on the service; `origin` (who asked) is recorded with every
/// change it makes.
pub async fn execute(service: &GrantService, command: Command, origin: &Origin) -> Result<Outcome> {
    Ok(match command {
        Command::Create(body) => Outcome::Created(service.create(&body, origin).await?),
        Command::Revoke(r) => {
            Outcome::Grant(service.revoke(&r.ticket, r.reason.as_ref(), origin).await?)
        }
        Command::Extend(r) => Outcome::Grant(service.extend(&r.ticket, r.end, origin).await?),
        Command::Get(ticket) => Outcome::Grant(service.get(&ticket).await?),
        Command::Show(ticket) => {
            let (grant, history) = service.show(&ticket).await?;
            Outcome::Shown(grant, history)
        }
        Command::Evidence(ticket, deadline) => {
            Outcome::Evidence(Box::new(service.evidence(&ticket, deadline).await?))
        }
        Command::List(status) => Outcome::Listed(service.list(status).await?),
        Command::Sweep(options) => Outcome::Swept(service.sweep(options).await?),
        Command::Reconcile(options) => Outcome::Reconciled(service.reconcile(options).await?),
    })
}
