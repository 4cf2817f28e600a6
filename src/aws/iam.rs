//! The role provisioner on IAM, in this account or, through the provisioner
//! role, in another target account.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_iam::types::Tag;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use super::{aws_error, error_code};
use crate::domain::{AccountId, TeardownStep, step};
use crate::domain::{MANAGED_BY, RoleRef, TAG_EXPIRES_AT, TAG_MANAGED_BY, TAG_TICKET};
use crate::policy::{self, PolicyDocument, REVOKE_SESSIONS_POLICY_NAME, WINDOW_POLICY_NAME};
use crate::ports::{
    CallerIdentity, ListedRole, ObservedRole, ProvisionError, ProvisionedRole, RoleProvisioner,
    RoleSpec, Teardown, TornDown, WindowUpdate,
};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};

pub struct IamRoles {
    iam: super::Lazy<Client>,
    sts: super::Lazy<aws_sdk_sts::Client>,
    identity: Arc<dyn CallerIdentity>,
    provisioner_role_name: String,
    /// The boundary every grant role carries (the same path and name in every
    /// account): teardown puts it back on a role of ours that lost it, since
    /// the function may write only to roles that carry it.
    boundary: crate::config::BoundaryArn,
    /// Provisioner sessions in other accounts, per (account, label), until
    /// shortly before they expire: opened by `prepare` while the record is
    /// written, used by the work that follows.
    sessions: SessionCache,
}

/// A provisioner session being opened or open: one `AssumeRole` however many
/// callers ask at once.
type SessionCell = Arc<tokio::sync::OnceCell<(SharedCredentialsProvider, std::time::SystemTime)>>;

#[derive(Default)]
struct SessionCache(std::sync::Mutex<std::collections::HashMap<(AccountId, String), SessionCell>>);

/// A session is reused only while it has this much time left.
const SESSION_MARGIN: std::time::Duration = std::time::Duration::from_secs(120);

impl SessionCache {
    /// The cell for (account, label): the open session if it has time left,
    /// or a fresh cell. Expired entries are dropped on the way.
    fn cell(&self, account: &AccountId, label: &str) -> SessionCell {
        let now = std::time::SystemTime::now();
        let fresh = |(_, expires): &(SharedCredentialsProvider, std::time::SystemTime)| {
            *expires > now + SESSION_MARGIN
        };
        let mut map = self.0.lock().expect("not poisoned");
        map.retain(|_, cell| cell.get().is_none_or(fresh));
        map.entry((account.clone(), label.to_owned()))
            .or_default()
            .clone()
    }
}

fn is_code<E: aws_sdk_iam::error::ProvideErrorMetadata>(e: &E, code: &str) -> bool {
    error_code(e) == Some(code)
}

/// "Already done" for a teardown step.
fn gone<E: aws_sdk_iam::error::ProvideErrorMetadata>(e: &E) -> bool {
    is_code(e, "NoSuchEntity")
}

impl IamRoles {
    pub fn new(
        iam: super::Lazy<Client>,
        sts: super::Lazy<aws_sdk_sts::Client>,
        identity: Arc<dyn CallerIdentity>,
        provisioner_role_name: String,
        boundary: crate::config::BoundaryArn,
    ) -> Self {
        IamRoles {
            iam,
            sts,
            identity,
            provisioner_role_name,
            boundary,
            sessions: SessionCache::default(),
        }
    }

    /// The IAM client for a target account: ours, or one acting through the
    /// provisioner role there, with the ticket as session name and source
    /// identity so CloudTrail in that account ties each change to it.
    async fn client_for(&self, target: &AccountId, label: &str) -> anyhow::Result<Client> {
        Ok(match self.credentials_for(target, label).await? {
            None => (*self.iam).clone(),
            Some(creds) => Client::from_conf(
                self.iam
                    .config()
                    .to_builder()
                    .credentials_provider(creds)
                    .build(),
            ),
        })
    }

    /// The provisioner session's credentials in `target` for `label` (opened
    /// once, reused until shortly before it expires); `None` in our own
    /// account, where the function's own credentials act.
    pub async fn credentials_for(
        &self,
        target: &AccountId,
        label: &str,
    ) -> anyhow::Result<Option<SharedCredentialsProvider>> {
        let caller = self.identity.caller().await?;
        if &caller.account == target {
            return Ok(None);
        }
        let cell = self.sessions.cell(target, label);
        let (creds, _) = cell
            .get_or_try_init(|| self.open_session(&caller, target, label))
            .await?;
        Ok(Some(creds.clone()))
    }

    /// `sts:AssumeRole` into the provisioner role of `target`.
    async fn open_session(
        &self,
        caller: &crate::ports::Caller,
        target: &AccountId,
        label: &str,
    ) -> anyhow::Result<(SharedCredentialsProvider, std::time::SystemTime)> {
        let role_arn = format!(
            "arn:{}:iam::{target}:role/{}",
            caller.partition, self.provisioner_role_name
        );
        let session = super::sts::session_name_for(label);
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&session)
            .source_identity(&session)
            .duration_seconds(900)
            .send()
            .await
            .map_err(|e| aws_error(&format!("sts:AssumeRole {role_arn}"), e))?;
        let c = out
            .credentials()
            .ok_or_else(|| anyhow::anyhow!("sts:AssumeRole {role_arn} returned no credentials"))?;
        let expires = std::time::SystemTime::try_from(*c.expiration())
            .unwrap_or_else(|_| std::time::SystemTime::now());
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expires),
            "audit-grants-provisioner",
        );
        Ok((SharedCredentialsProvider::new(creds), expires))
    }

    /// The preset and the window deny: independent, so one round trip.
    async fn attach_preset_and_window(
        &self,
        iam: &Client,
        spec: &RoleSpec,
    ) -> Result<(), ProvisionError> {
        let attach = async {
            iam.attach_role_policy()
                .role_name(&spec.role_name)
                .policy_arn(&spec.policy_arn)
                .send()
                .await
                .map_err(|e| aws_error("iam:AttachRolePolicy", e))
        };
        let window = async {
            put_window_deny(iam, &spec.role_name, &spec.window_deny)
                .await
                .map_err(|e| aws_error("iam:PutRolePolicy", e))
        };
        tokio::try_join!(attach, window)?;
        Ok(())
    }

    /// Brings this ticket's existing role to the spec after an interrupted
    /// provisioning: only if it is ours, under our path, for this ticket.
    async fn converge_existing(
        &self,
        iam: &Client,
        spec: &RoleSpec,
    ) -> Result<ProvisionedRole, ProvisionError> {
        let role = match iam.get_role().role_name(&spec.role_name).send().await {
            Ok(out) => out
                .role
                .ok_or_else(|| anyhow::anyhow!("iam:GetRole returned no role"))?,
            Err(e) if gone(&e) => return Err(ProvisionError::RoleGone),
            Err(e) => return Err(aws_error("iam:GetRole", e).into()),
        };
        let tag = |k: &str| {
            role.tags()
                .iter()
                .find(|t| t.key() == k)
                .map(|t| t.value().to_owned())
        };
        let ours = match &spec.existing_role_id {
            // The role the grant created, whatever its tags say now.
            Some(id) => role.role_id() == id,
            None => {
                role.path() == spec.path
                    && tag(TAG_MANAGED_BY).as_deref() == Some(MANAGED_BY)
                    && tag(TAG_TICKET).as_deref() == Some(spec.ticket.as_str())
            }
        };
        if !ours {
            return Err(ProvisionError::ForeignRole(spec.role_name.clone()));
        }
        // Nothing but the preset may stay attached, and no inline policy but
        // the window deny (put again by `provision`): removed before the trust
        // is written, so the auditor never meets the role with them.
        for arn in attached_policies(iam, &spec.role_name).await? {
            if arn != spec.policy_arn {
                detach(iam, &spec.role_name, &arn).await?;
            }
        }
        for name in inline_policies(iam, &spec.role_name).await? {
            if name != WINDOW_POLICY_NAME {
                delete_inline(iam, &spec.role_name, &name).await?;
            }
        }
        // The boundary first: the function may write to a role only while it
        // carries the boundary (its own IAM policy says so).
        iam.put_role_permissions_boundary()
            .role_name(&spec.role_name)
            .permissions_boundary(&spec.boundary_arn)
            .send()
            .await
            .map_err(|e| aws_error("iam:PutRolePermissionsBoundary", e))?;
        iam.update_assume_role_policy()
            .role_name(&spec.role_name)
            .policy_document(spec.trust.to_json())
            .send()
            .await
            .map_err(|e| aws_error("iam:UpdateAssumeRolePolicy", e))?;
        iam.update_role()
            .role_name(&spec.role_name)
            .max_session_duration(spec.max_session_seconds)
            .send()
            .await
            .map_err(|e| aws_error("iam:UpdateRole", e))?;
        iam.tag_role()
            .role_name(&spec.role_name)
            .set_tags(Some(tags(spec)?))
            .send()
            .await
            .map_err(|e| aws_error("iam:TagRole", e))?;
        Ok(ProvisionedRole {
            arn: role.arn().to_owned(),
            role_id: role.role_id().to_owned(),
        })
    }
}

fn tags(spec: &RoleSpec) -> anyhow::Result<Vec<Tag>> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect()
}

async fn attached_policies(iam: &Client, role: &str) -> Result<Vec<String>, ProvisionError> {
    let items: Result<Vec<_>, _> = iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    match items {
        Ok(list) => Ok(list
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect()),
        Err(e) if gone(&e) => Ok(vec![]),
        Err(e) => Err(aws_error("iam:ListAttachedRolePolicies", e).into()),
    }
}

async fn inline_policies(iam: &Client, role: &str) -> Result<Vec<String>, ProvisionError> {
    let items: Result<Vec<_>, _> = iam
        .list_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    match items {
        Ok(list) => Ok(list),
        Err(e) if gone(&e) => Ok(vec![]),
        Err(e) => Err(aws_error("iam:ListRolePolicies", e).into()),
    }
}

/// The role's `AuditGrantWindow` document, decoded; `None` when it has none.
async fn window_deny_of(
    iam: &Client,
    role: &str,
) -> Result<Option<serde_json::Value>, ProvisionError> {
    match iam
        .get_role_policy()
        .role_name(role)
        .policy_name(WINDOW_POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => Ok(serde_json::from_str(&url_decode(out.policy_document())).ok()),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(aws_error("iam:GetRolePolicy", e).into()),
    }
}

async fn detach(iam: &Client, role: &str, arn: &str) -> Result<(), ProvisionError> {
    match iam
        .detach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(aws_error("iam:DetachRolePolicy", e).into()),
    }
}

async fn delete_inline(iam: &Client, role: &str, name: &str) -> Result<(), ProvisionError> {
    match iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(aws_error("iam:DeleteRolePolicy", e).into()),
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986 percent-encoding).
pub fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn put_window_deny(
    iam: &Client,
    role: &str,
    document: &PolicyDocument,
) -> Result<
    (),
    aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::put_role_policy::PutRolePolicyError>,
> {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(WINDOW_POLICY_NAME)
        .policy_document(document.to_json())
        .send()
        .await
        .map(|_| ())
}

async fn put_session_deny(
    iam: &Client,
    role: &str,
    now: DateTime<Utc>,
) -> Result<
    (),
    aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::put_role_policy::PutRolePolicyError>,
> {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(REVOKE_SESSIONS_POLICY_NAME)
        .policy_document(policy::revoke_older_sessions(now).to_json())
        .send()
        .await
        .map(|_| ())
}

/// Detaches every managed policy (also any attached out of band), deletes every
/// inline policy (the session deny last, so old sessions stay denied until
/// nothing else is left), and deletes the role; instance profiles, which only
/// an out-of-band change adds, are removed when IAM says one holds the role.
async fn remove_everything_and_delete(iam: &Client, name: &str) -> Result<(), ProvisionError> {
    for arn in attached_policies(iam, name).await? {
        detach(iam, name, &arn).await?;
    }
    let mut inline = inline_policies(iam, name).await?;
    inline.sort_by_key(|n| n == REVOKE_SESSIONS_POLICY_NAME);
    for policy_name in inline {
        delete_inline(iam, name, &policy_name).await?;
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => return Ok(()),
        Err(e) if gone(&e) => return Ok(()),
        Err(e) if is_code(&e, "DeleteConflict") => {}
        Err(e) => return Err(aws_error("iam:DeleteRole", e).into()),
    }
    let profiles: Result<Vec<_>, _> = iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    match profiles {
        Ok(list) => {
            for p in list {
                match iam
                    .remove_role_from_instance_profile()
                    .role_name(name)
                    .instance_profile_name(p.instance_profile_name())
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(aws_error("iam:RemoveRoleFromInstanceProfile", e).into()),
                }
            }
        }
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(aws_error("iam:ListInstanceProfilesForRole", e).into()),
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(aws_error("iam:DeleteRole", e).into()),
    }
}

#[async_trait]
impl RoleProvisioner for IamRoles {
    async fn prepare(&self, accounts: &[AccountId], label: &str) {
        join_all(accounts.iter().map(|a| self.client_for(a, label))).await;
    }

    async fn list_roles(
        &self,
        target: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, ProvisionError> {
        let iam = self.client_for(target, "reconcile").await?;
        let listed: Vec<_> = iam
            .list_roles()
            .path_prefix(path)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("iam:ListRoles", e))?;
        // ListRoles matches a prefix: /audit-grants/ also lists
        // /audit-grants/staging/, another deployment's roles. Ours are exactly here.
        Ok(listed
            .iter()
            .filter(|r| r.path() == path)
            .map(|r| ListedRole {
                target_account: target.clone(),
                name: r.role_name().to_owned(),
                role_id: r.role_id().to_owned(),
            })
            .collect())
    }

    async fn inspect_role(
        &self,
        target: &AccountId,
        name: &str,
    ) -> Result<Option<ObservedRole>, ProvisionError> {
        let iam = self.client_for(target, "reconcile").await?;
        let role = match iam.get_role().role_name(name).send().await {
            Ok(out) => out.role,
            Err(e) if gone(&e) => return Ok(None), // deleted meanwhile
            Err(e) => return Err(aws_error("iam:GetRole", e).into()),
        };
        let Some(role) = role else { return Ok(None) };
        let tag = |k: &str| {
            role.tags()
                .iter()
                .find(|t| t.key() == k)
                .map(|t| t.value().to_owned())
        };
        let trust = role
            .assume_role_policy_document()
            .map(|d| serde_json::from_str(&url_decode(d)).unwrap_or(serde_json::Value::Null))
            .unwrap_or(serde_json::Value::Null);
        Ok(Some(ObservedRole {
            target_account: target.clone(),
            name: name.to_owned(),
            arn: role.arn().to_owned(),
            role_id: role.role_id().to_owned(),
            managed: tag(TAG_MANAGED_BY).as_deref() == Some(MANAGED_BY),
            ticket: tag(TAG_TICKET),
            trust,
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_owned),
            max_session_seconds: role.max_session_duration(),
            attached: attached_policies(&iam, name).await?,
            window_deny: window_deny_of(&iam, name).await?,
            inline: inline_policies(&iam, name).await?,
        }))
    }

    async fn provision(&self, spec: &RoleSpec) -> Result<ProvisionedRole, ProvisionError> {
        if !spec.allowed_policy_arns.contains(&spec.policy_arn) {
            // Defence in depth: the domain cannot produce this.
            return Err(ProvisionError::Rejected(format!(
                "{} is not a preset policy",
                spec.policy_arn
            )));
        }
        let iam = self
            .client_for(&spec.target_account, spec.ticket.as_str())
            .await?;
        if spec.existing_role_id.is_some() {
            // A repair: bring that very role back to the spec, never make another.
            let provisioned = self.converge_existing(&iam, spec).await?;
            self.attach_preset_and_window(&iam, spec).await?;
            return Ok(provisioned);
        }
        let created = iam
            .create_role()
            .role_name(&spec.role_name)
            .path(&spec.path)
            .assume_role_policy_document(spec.trust.to_json())
            .permissions_boundary(&spec.boundary_arn)
            .max_session_duration(spec.max_session_seconds)
            .description(&spec.description)
            .set_tags(Some(tags(spec)?))
            .send()
            .await;
        let provisioned = match created {
            Ok(out) => out
                .role
                .map(|r| ProvisionedRole {
                    arn: r.arn,
                    role_id: r.role_id,
                })
                .ok_or_else(|| anyhow::anyhow!("iam:CreateRole returned no role"))?,
            Err(e) if is_code(&e, "EntityAlreadyExists") => {
                self.converge_existing(&iam, spec).await?
            }
            // IAM checks that the principals exist: the one refusal that is the
            // request's fault. Anything else (a missing boundary, …) is ours.
            Err(e)
                if is_code(&e, "MalformedPolicyDocument")
                    && e.message().is_some_and(|m| m.contains("Invalid principal")) =>
            {
                return Err(ProvisionError::Rejected(
                    e.message().unwrap_or_default().to_owned(),
                ));
            }
            Err(e) => return Err(aws_error("iam:CreateRole", e).into()),
        };
        self.attach_preset_and_window(&iam, spec).await?;
        Ok(provisioned)
    }

    async fn update_window(
        &self,
        role: &RoleRef,
        window: &WindowUpdate,
    ) -> Result<(), ProvisionError> {
        let iam = self
            .client_for(&role.target_account, role.ticket.as_str())
            .await?;
        // Only ever the role the grant created: another of the same name never
        // gets the auditor's trust.
        match iam.get_role().role_name(&role.role_name).send().await {
            Ok(out)
                if role.role_id.is_none()
                    || out.role().map(|r| r.role_id()) == role.role_id.as_deref() => {}
            Ok(_) => return Err(ProvisionError::RoleGone),
            Err(e) if gone(&e) => return Err(ProvisionError::RoleGone),
            Err(e) => return Err(aws_error("iam:GetRole", e).into()),
        }
        // The deny first: a window moved earlier shuts live sessions at once.
        match put_window_deny(&iam, &role.role_name, &window.window_deny).await {
            Ok(()) => {}
            Err(e) if gone(&e) => return Err(ProvisionError::RoleGone),
            Err(e) => return Err(aws_error("iam:PutRolePolicy", e).into()),
        }
        match iam
            .update_assume_role_policy()
            .role_name(&role.role_name)
            .policy_document(window.trust.to_json())
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if gone(&e) => return Err(ProvisionError::RoleGone),
            Err(e) => return Err(aws_error("iam:UpdateAssumeRolePolicy", e).into()),
        }
        let tag = Tag::builder()
            .key(TAG_EXPIRES_AT)
            .value(&window.expires_at)
            .build()
            .map_err(anyhow::Error::from)?;
        iam.tag_role()
            .role_name(&role.role_name)
            .tags(tag)
            .send()
            .await
            .map_err(|e| aws_error("iam:TagRole", e))?;
        Ok(())
    }

    async fn teardown(
        &self,
        role: &RoleRef,
        now: DateTime<Utc>,
    ) -> Result<Teardown, ProvisionError> {
        let iam = self
            .client_for(&role.target_account, role.ticket.as_str())
            .await?;
        let name = role.role_name.as_str();
        // When each step was answered, on the caller's clock.
        let started = std::time::Instant::now();
        let clock = || now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();

        // 0. Only ever touch this grant's role: the one whose id was recorded
        // when it was created, whatever its tags say now. Before an id was
        // recorded, the tags say whether a role of this name is ours; one that
        // is not is never deleted: the grant fails loudly instead of ending.
        let current_boundary = match iam.get_role().role_name(name).send().await {
            Ok(out) => {
                let found = out.role();
                let tags = found.map(|r| r.tags()).unwrap_or_default();
                let tag = |k: &str| tags.iter().find(|t| t.key() == k).map(|t| t.value());
                match (&role.role_id, found.map(|r| r.role_id())) {
                    (Some(ours), Some(id)) if ours == id => {}
                    (Some(_), _) => {
                        tracing::error!(
                            ticket = %role.ticket, role = name,
                            "a different role now has this grant's role name: ours is gone; theirs is not touched"
                        );
                        return Ok(Teardown::nothing_found());
                    }
                    (None, _)
                        if tag(TAG_MANAGED_BY) == Some(MANAGED_BY)
                            && tag(TAG_TICKET) == Some(role.ticket.as_str()) => {}
                    (None, _) => {
                        tracing::error!(
                            ticket = %role.ticket, role = name,
                            "a role of this grant's name is not tagged as ours: not deleted; needs a person"
                        );
                        return Err(ProvisionError::ForeignRole(name.to_owned()));
                    }
                }
                found
                    .and_then(|r| r.permissions_boundary())
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned)
            }
            Err(e) if gone(&e) => return Ok(Teardown::nothing_found()),
            Err(e) => return Err(aws_error("iam:GetRole", e).into()),
        };
        // The function may write only to roles that carry the boundary: one
        // stripped or swapped out of band is put back first (ours only, on a
        // role tagged as ours, by the template's policy), or nothing below
        // would be allowed.
        let ours = self.boundary.in_account(&role.target_account);
        if current_boundary.as_deref() != Some(ours.as_str()) {
            tracing::error!(ticket = %role.ticket, role = name, found = ?current_boundary, "drift: the role lost its permissions boundary; putting it back before the teardown");
            match iam
                .put_role_permissions_boundary()
                .role_name(name)
                .permissions_boundary(&ours)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if gone(&e) => return Ok(Teardown::nothing_found()),
                Err(e) => return Err(aws_error("iam:PutRolePermissionsBoundary", e).into()),
            }
        }
        // 1. End every session issued until now, and trust no one, together;
        // what the role carries is listed alongside (reads only). Nothing is
        // detached or deleted before both are in place. If the deny cannot be
        // put (the role's inline-policy quota filled out of band, say), the
        // rest still runs: a deleted role leaves its sessions nothing.
        let trust_no_one = async {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(policy::trust_no_one().to_json())
                .send()
                .await
        };
        let (deny, trust, attached, inline) = tokio::join!(
            put_session_deny(&iam, name, now),
            trust_no_one,
            attached_policies(&iam, name),
            inline_policies(&iam, name),
        );
        let answered = clock();
        let mut steps = vec![];
        match &deny {
            Err(e) if gone(e) => return Ok(Teardown::nothing_found()), // the role is already gone
            Err(e) => {
                tracing::error!(ticket = %role.ticket, role = name, error = %DisplayErrorContext(e), "could not revoke sessions; removing the role's policies anyway")
            }
            Ok(()) => steps.push(TeardownStep::new(step::SESSIONS_REVOKED, answered)),
        }
        match trust {
            Ok(_) => steps.push(TeardownStep::new(step::TRUST_REMOVED, answered)),
            Err(e) if gone(&e) => return Ok(Teardown::nothing_found()),
            Err(e) => return Err(aws_error("iam:UpdateAssumeRolePolicy", e).into()),
        }
        // 2. Detach every managed policy and delete every inline policy but
        // the session deny, all at once; 3. the session deny, last; 4. the role.
        let inline: Vec<String> = inline?
            .into_iter()
            .filter(|n| n != REVOKE_SESSIONS_POLICY_NAME)
            .collect();
        let attached = attached?;
        let detaches = join_all(attached.iter().map(|arn| detach(&iam, name, arn)));
        let deletes = join_all(inline.iter().map(|p| delete_inline(&iam, name, p)));
        let (detached, deleted) = tokio::join!(detaches, deletes);
        detached
            .into_iter()
            .chain(deleted)
            .collect::<Result<Vec<()>, _>>()?;
        steps.push(TeardownStep::new(step::POLICIES_DETACHED, clock()));
        delete_inline(&iam, name, REVOKE_SESSIONS_POLICY_NAME).await?;
        steps.push(TeardownStep::new(step::INLINE_POLICIES_DELETED, clock()));
        let deleted = |mut steps: Vec<TeardownStep>| {
            steps.push(TeardownStep::new(step::ROLE_DELETED, clock()));
            Ok(Teardown {
                found: TornDown::Deleted,
                steps,
            })
        };
        match iam.delete_role().role_name(name).send().await {
            Ok(_) => return deleted(steps),
            Err(e) if gone(&e) => return deleted(steps),
            // Something was added while we worked, or an instance profile
            // holds the role: list again and remove everything, one by one.
            Err(e) if is_code(&e, "DeleteConflict") => {}
            Err(e) => return Err(aws_error("iam:DeleteRole", e).into()),
        }
        remove_everything_and_delete(&iam, name).await?;
        deleted(steps)
    }
}

/// Creates the permissions-boundary policy if it does not exist, from the same
/// document the SAM template deploys. Returns whether it was created.
pub async fn ensure_boundary_policy(
    iam: &Client,
    boundary: &crate::config::BoundaryArn,
) -> anyhow::Result<bool> {
    let arn = boundary.in_account(&boundary.account);
    match iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => return Ok(false),
        Err(e) if gone(&e) => {}
        Err(e) => return Err(aws_error("iam:GetPolicy", e)),
    }
    let created = iam
        .create_policy()
        .policy_name(&boundary.name)
        .path(&boundary.path)
        .policy_document(policy::permissions_boundary().to_json())
        .description("audit-grants: the most any audit grant role may do")
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(e) if is_code(&e, "EntityAlreadyExists") => Ok(false),
        Err(e) => Err(aws_error("iam:CreatePolicy", e)),
    }
}
