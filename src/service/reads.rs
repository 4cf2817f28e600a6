//! Reads: one grant, its history, and lists.

use crate::domain::{Grant, GrantStatus, HistoryEvent, Ticket};
use crate::error::Result;

use super::{GrantService, store_err};

impl GrantService {
    /// A grant and every change of it, oldest first.
    pub async fn show(&self, ticket: &Ticket) -> Result<(Grant, Vec<HistoryEvent>)> {
        let grant = self.existing_grant(ticket).await?;
        let history = self.store.history(ticket).await.map_err(store_err)?;
        Ok((grant, history))
    }

    pub async fn get(&self, ticket: &Ticket) -> Result<Grant> {
        self.existing_grant(ticket).await
    }

    /// Grants (of one status, if given), oldest first.
    pub async fn list(&self, status: Option<GrantStatus>) -> Result<Vec<Grant>> {
        let mut grants = self.store.list(status).await.map_err(store_err)?;
        grants.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.ticket.cmp(&b.ticket))
        });
        Ok(grants)
    }
}
