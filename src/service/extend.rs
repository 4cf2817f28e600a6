//! Extend: move the end of an active grant, in the record and in IAM together.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use crate::domain::{Grant, GrantStatus, Origin, Ticket, format_duration, format_timestamp};
use crate::error::{Error, ErrorCode, Result};
use crate::policy;
use crate::ports::WindowUpdate;

use super::{CONFLICT_RETRIES, GrantService, internal};

impl GrantService {
    /// Moves the end of an active grant: record, trust condition and expiry tag.
    /// Later or earlier, never before now, never past `MAX_GRANT_DURATION`
    /// from its start.
    pub async fn extend(
        &self,
        ticket: &Ticket,
        end: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<Grant> {
        for _ in 0..CONFLICT_RETRIES {
            let grant = self.existing_grant(ticket).await?;
            if grant.status != GrantStatus::Active || grant.is_ended() {
                return Err(Error::reject(
                    ErrorCode::Conflict,
                    format!(
                        "grant {ticket} is {}: only an active grant can be extended",
                        grant.status
                    ),
                ));
            }
            let now = self.clock.now();
            if grant.window.end() <= now {
                return Err(Error::reject(
                    ErrorCode::Conflict,
                    format!("grant {ticket} has reached its end and is being torn down"),
                ));
            }
            if end <= now {
                return Err(Error::invalid("end", "end must be in the future"));
            }
            if end > grant.window.end()
                && let Some(retiring) = grant
                    .accounts()
                    .find(|a| self.settings.retiring_target_accounts.contains(a))
            {
                return Err(Error::field(
                    ErrorCode::TargetNotAllowed,
                    "end",
                    format!(
                        "account {retiring} is retiring (RETIRING_TARGET_ACCOUNTS): its grants may end earlier, never later"
                    ),
                ));
            }
            let window = grant
                .window
                .with_end(end)
                .map_err(|e| Error::invalid("end", e))?;
            if window.length() > self.settings.max_grant_duration {
                return Err(Error::invalid(
                    "end",
                    format!(
                        "the window may be at most {} from its start (MAX_GRANT_DURATION)",
                        format_duration(self.settings.max_grant_duration)
                    ),
                ));
            }
            let updated = if grant.window == window {
                grant // a replay, or a retry after IAM failed: re-apply IAM only
            } else {
                let step = |g: &Grant, at| g.move_window(window, at).map(|t| t.asked_by(origin));
                match self.commit(&grant, step).await {
                    Ok(g) => g,
                    Err(e) if e.lost_race() => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let update = WindowUpdate {
                trust: policy::trust_policy(
                    &updated.principals,
                    &updated.external_id,
                    &updated.window,
                ),
                window_deny: policy::window_deny(&updated.window),
                expires_at: format_timestamp(end),
            };
            // Every account's role at once; a failure anywhere is retried by
            // the same request, which re-applies IAM only.
            let refs = updated.role_refs();
            let results = join_all(
                refs.iter()
                    .map(|r| self.provisioner.update_window(r, &update)),
            )
            .await;
            for (r, result) in refs.iter().zip(results) {
                result.map_err(|e| {
                    internal(anyhow::Error::new(e).context(format!(
                        "moving the window of the role in account {}",
                        r.target_account
                    )))
                })?;
            }
            // A teardown that began meanwhile may have had its trust-no-one
            // overwritten by ours: make sure the role goes.
            let after = self.reapply_teardown_if_ending(ticket).await?;
            if after.ending.is_some() || after.is_ended() {
                return Ok(after);
            }
            return Ok(updated);
        }
        Err(internal(anyhow::anyhow!(
            "grant {ticket} kept changing; retry"
        )))
    }
}
