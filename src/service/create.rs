//! Create: a grant request becomes a `pending` record, then a role, then `active`.

use futures_util::future::join_all;

use crate::domain::{
    ATTEMPTS_BEFORE_ALARM, AccountId, CreatedRole, Grant, GrantRequest, GrantRequestBody,
    GrantStatus, HistoryEvent, Origin, RequestRules,
};
use crate::error::{Error, ErrorCode, Result};
use crate::metrics::Metric;
use crate::policy;
use crate::ports::{ProvisionError, StoreError};

use super::{GrantService, ended_error, internal, log_change, store_err};

/// What a create did.
#[derive(Debug)]
pub enum Created {
    /// A new grant (HTTP 201).
    New(Grant),
    /// The same request was seen before: the grant as it is (HTTP 200).
    Existing(Grant),
}

impl Created {
    pub fn grant(&self) -> &Grant {
        match self {
            Created::New(g) | Created::Existing(g) => g,
        }
    }
}

impl GrantService {
    /// Creates the grant a request asks for; a replay of the same request returns
    /// the grant as it is. Nothing is written unless the request is valid.
    ///
    /// The claim comes first: a conditional write that only a new ticket
    /// passes. The record is read only when that write loses (a replay, a
    /// concurrent delivery, an ended ticket), or when the request no longer
    /// passes today's rules (a replay whose start is now in the past is
    /// answered from the record). Other target accounts' provisioner sessions
    /// are opened while the claim is in flight.
    pub async fn create(&self, body: &GrantRequestBody, origin: &Origin) -> Result<Created> {
        let ticket = body.ticket()?;
        let request = match self.parse_request(body).await {
            Ok(request) => request,
            Err(rejected) => {
                return match self.store.get(&ticket).await.map_err(store_err)? {
                    Some(existing) => self.redeliver(existing, body, origin).await,
                    None => Err(rejected),
                };
            }
        };
        let grant = self.new_pending_grant(request).await?;
        let event = HistoryEvent {
            at: grant.created_at,
            from: None,
            to: GrantStatus::Pending,
            reason: "grant requested".into(),
            version: grant.version,
            origin: Some(origin.clone()),
            removal: vec![],
            evidence: None,
        };
        let accounts: Vec<AccountId> = grant.accounts().cloned().collect();
        let (inserted, ()) = tokio::join!(
            self.store.insert(&grant, &event),
            self.provisioner.prepare(&accounts, grant.ticket.as_str())
        );
        match inserted {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                // A concurrent delivery of the same ticket won the race, or a
                // transaction on the item was in flight (then nothing may be
                // there yet: ours to retry, not the caller's fault).
                return match self.store.get(&ticket).await.map_err(store_err)? {
                    Some(existing) => self.redeliver(existing, body, origin).await,
                    None => Err(internal(anyhow::anyhow!(
                        "the grant of ticket {ticket} met a concurrent write; retry"
                    ))),
                };
            }
            Err(e) => return Err(store_err(e)),
        }
        log_change(&grant, None, "grant requested");
        self.provision(grant).await.map(Created::New)
    }

    /// Every rule of SPEC.md's request table, and the policy-size limit that
    /// must hold before any IAM call.
    async fn parse_request(&self, body: &GrantRequestBody) -> Result<GrantRequest> {
        let caller = self.caller().await?;
        let rules = RequestRules {
            now: self.clock.now(),
            own_account: &caller.account,
            partition: caller.partition,
            allowed_targets: &self.settings.target_accounts,
            allowed_auditors: &self.settings.auditor_accounts,
            max_grant_duration: self.settings.max_grant_duration,
        };
        let request = GrantRequest::parse(body, &rules)?;
        let trust =
            policy::trust_policy(&request.principals, &request.external_id, &request.window);
        let size = trust.serialised_len();
        let limit = self.settings.trust_policy_max_chars;
        if size > limit {
            return Err(Error::invalid(
                "principals",
                format!(
                    "the trust policy would be {size} characters, over the limit of {limit} \
                     (TRUST_POLICY_MAX_CHARS): use fewer principals or a shorter external_id"
                ),
            ));
        }
        Ok(request)
    }

    async fn new_pending_grant(&self, r: GrantRequest) -> Result<Grant> {
        let caller = self.caller().await?;
        let now = self.now_for_record();
        let role_name = r.ticket.role_name();
        let role_arn = |account: &AccountId| {
            format!(
                "arn:{}:iam::{account}:role{}{role_name}",
                caller.partition, self.settings.role_path,
            )
        };
        Ok(Grant {
            region: self.settings.region.clone(),
            ..Grant::requested(r, role_arn, now)
        })
    }

    /// A ticket seen before: the same request is answered with the grant as it
    /// is (resuming a provisioning that never finished); anything else is a
    /// conflict, and an ended ticket is never granted again.
    async fn redeliver(
        &self,
        existing: Grant,
        body: &GrantRequestBody,
        origin: &Origin,
    ) -> Result<Created> {
        if existing.refused && !existing.is_ended() && existing.ending.is_none() {
            // IAM refused the last attempt and left nothing: the ticket is
            // open for this request, corrected or the same one again.
            let request = self.parse_request(body).await?;
            let fresh = self.new_pending_grant(request).await?;
            let step = |g: &Grant, at| g.request_again(fresh, at).map(|t| t.asked_by(origin));
            return match self.commit(&existing, step).await {
                Ok(pending) => self.provision(pending).await.map(Created::New),
                Err(e) if e.lost_race() => {
                    let current = self.existing_grant(&existing.ticket).await?;
                    Box::pin(self.redeliver(current, body, origin)).await
                }
                Err(e) => Err(e.into()),
            };
        }
        if existing.fingerprint != body.fingerprint() {
            // Report what is wrong with the request itself first.
            self.parse_request(body).await?;
            return Err(if existing.is_ended() {
                ended_error(&existing)
            } else {
                Error::reject(
                    ErrorCode::Conflict,
                    format!(
                        "ticket {} already has a grant ({}) made from a different request",
                        existing.ticket, existing.status
                    ),
                )
            });
        }
        if existing.is_ended() {
            return Err(ended_error(&existing));
        }
        let now = self.clock.now();
        let unfinished = match existing.status {
            GrantStatus::Pending => existing.is_stale(now),
            GrantStatus::Failed => existing.ending.is_none(),
            _ => false,
        };
        if unfinished && existing.window.end() > now {
            return self.provision(existing).await.map(Created::Existing);
        }
        Ok(Created::Existing(existing))
    }

    /// Creates (or completes) the roles of a `pending`/`failed` grant, every
    /// account at once, and marks it `active` once all exist. On failure the
    /// record says why, keeps the roles that were made (a retry leaves them
    /// alone), and the next delivery or sweep resumes; a refusal by IAM in any
    /// account leaves no role anywhere and keeps the ticket open.
    pub(super) async fn provision(&self, grant: Grant) -> Result<Grant> {
        // A provisioning resumed later is held to the allowlists as they are now.
        if let Some(why) = self.no_longer_allowed(&grant).await? {
            self.refuse(&grant, &why, None).await?;
            return Err(Error::reject(ErrorCode::TargetNotAllowed, why));
        }
        let mut specs = vec![];
        for role in grant.roles.iter().filter(|r| r.role_id.is_none()) {
            specs.push(self.role_spec(&grant, role).await?);
        }
        let results = join_all(specs.iter().map(|spec| self.provisioner.provision(spec))).await;
        let mut created = vec![];
        let mut failures = vec![];
        for (spec, result) in specs.iter().zip(results) {
            match result {
                Ok(role) => created.push(CreatedRole {
                    account: spec.target_account.clone(),
                    role_arn: role.arn,
                    role_id: role.role_id,
                }),
                Err(e) => failures.push((spec.target_account.clone(), e)),
            }
        }
        let place = |account: &AccountId| {
            if grant.roles.len() > 1 {
                format!(" in account {account}")
            } else {
                String::new()
            }
        };
        // IAM refused the request itself: nothing is left in any account.
        if let Some((account, why)) = failures.iter().find_map(|(account, e)| match e {
            ProvisionError::Rejected(why) => Some((account, why)),
            _ => None,
        }) {
            let field = refused_principal(&grant, why);
            let why = format!("IAM refused the request{}: {why}", place(account));
            self.refuse(&grant, &why, None).await?;
            return Err(Error::invalid(field, why));
        }
        // A role of that name that is not ours: never adopted, never touched;
        // ours in the other accounts are removed.
        if let Some((account, e)) = failures
            .iter()
            .find(|(_, e)| matches!(e, ProvisionError::ForeignRole(_)))
        {
            let why = format!("{e}{}", place(account));
            self.refuse(&grant, &why, Some(account)).await?;
            return Err(Error::reject(ErrorCode::Conflict, why));
        }
        if !failures.is_empty() {
            let why = failures
                .iter()
                .map(|(account, e)| format!("provisioning failed{}: {e:#}", place(account)))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = self
                .record_failed_attempt_keeping(&grant, &created, &why)
                .await;
            return Err(internal(anyhow::anyhow!(why)));
        }
        match self.commit(&grant, |g, at| g.activate(&created, at)).await {
            Ok(g) => Ok(g),
            // A revoke or sweep moved the grant on while we provisioned;
            // our roles may have been created after its teardown ran.
            Err(e) if e.lost_race() => self.reapply_teardown_if_ending(&grant.ticket).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Why a grant's request would no longer be accepted (`AUDITOR_ACCOUNTS` or
    /// the target accounts changed since it was made), if so.
    async fn no_longer_allowed(&self, grant: &Grant) -> Result<Option<String>> {
        let auditors = &self.settings.auditor_accounts;
        if !auditors.is_empty() && !auditors.contains(&grant.auditor_account) {
            return Ok(Some(format!(
                "auditor account {} is no longer in AUDITOR_ACCOUNTS",
                grant.auditor_account
            )));
        }
        let own = self.caller().await?.account;
        let targets = &self.settings.target_accounts;
        Ok(grant
            .accounts()
            .find(|a| **a != own && !targets.contains(a))
            .map(|a| format!("target account {a} is no longer in TARGET_ACCOUNTS")))
    }

    /// Records that IAM refused the request, after removing whatever of the
    /// grant exists in every account but `not_ours` (where a role of that name
    /// is someone else's): no role of ours is left, and the ticket stays open.
    async fn refuse(
        &self,
        grant: &Grant,
        why: &str,
        not_ours: Option<&AccountId>,
    ) -> Result<Grant> {
        let now = self.clock.now();
        let refs: Vec<_> = grant
            .role_refs()
            .into_iter()
            .filter(|r| Some(&r.target_account) != not_ours)
            .collect();
        let results = join_all(refs.iter().map(|r| self.provisioner.teardown(r, now))).await;
        let mut removed = vec![];
        let mut failure = None;
        for (r, result) in refs.iter().zip(results) {
            match result {
                Ok(_) | Err(ProvisionError::ForeignRole(_)) => {
                    removed.push(r.target_account.clone())
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            // The accounts cleaned up are recorded: a retry makes their roles
            // again rather than trust ids whose roles are gone.
            let why = format!("{why}; cleanup failed: {e:#}");
            let _ = self
                .commit(grant, |g, at| {
                    g.fail_attempt_recording(&[], &removed, &why, at)
                })
                .await;
            return Err(internal(e));
        }
        tracing::warn!(ticket = %grant.ticket, reason = why, "IAM refused the grant; the ticket stays open for a corrected request");
        Ok(self.commit(grant, |g, at| g.refuse(why, at)).await?)
    }

    /// Records a failed attempt. The sweeper retries it for as long as the
    /// window is open (a misconfiguration fixed meanwhile, such as a missing
    /// boundary in a target account, must not have used up the ticket); from
    /// the third attempt on, every failure is an ERROR and a `GrantStuck` metric.
    pub(super) async fn record_failed_attempt(
        &self,
        grant: &Grant,
        why: &str,
    ) -> std::result::Result<Grant, super::CommitError> {
        self.record_failed_attempt_keeping(grant, &[], why).await
    }

    /// `record_failed_attempt`, keeping the roles this attempt created.
    async fn record_failed_attempt_keeping(
        &self,
        grant: &Grant,
        created: &[CreatedRole],
        why: &str,
    ) -> std::result::Result<Grant, super::CommitError> {
        let attempts = grant.attempts + 1;
        if attempts >= ATTEMPTS_BEFORE_ALARM {
            self.metrics.count(Metric::GrantStuck, 1);
            tracing::error!(
                ticket = %grant.ticket, role_arn = %grant.role_arn(), attempts, error = why,
                "grant keeps failing; it is retried by every sweep"
            );
        }
        self.commit(grant, |g, at| g.fail_attempt_keeping(created, why, at))
            .await
    }
}

/// The field IAM's refusal is about: the principal it names (quoted, as IAM
/// quotes it), or all of them.
fn refused_principal(grant: &Grant, message: &str) -> String {
    grant
        .principals
        .iter()
        .position(|p| message.contains(&format!("\"{}\"", p.as_str())))
        .map(|i| format!("principals[{i}]"))
        .unwrap_or_else(|| "principals".to_owned())
}
