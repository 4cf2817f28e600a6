//! The grant store on DynamoDB.
//!
//! One item per grant (`pk = GRANT#<ticket>`, `sk = GRANT`) and one per history
//! event (`sk = EVENT#<time>#<version>`) under the same key, so `show` is one
//! query. Live grants carry `due_bucket`/`due_at`, the keys of the sparse index
//! `due`: the sweeper queries `due_at <= as_of` and never scans. Every write of a
//! grant is a transaction with its event, conditional on the version it read.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::{aws_error, error_code};
use crate::domain::{
    AccessPreset, AccountId, Ending, ExternalId, Grant, GrantRole, GrantStatus, HistoryEvent,
    Notice, NoticeKind, PrincipalArn, Ticket, Window, format_timestamp, format_timestamp_precise,
};
use crate::ports::{GrantStore, NoticeOutcome, ReconcileCursor, StoreError};

pub const DUE_INDEX: &str = "due";
/// The one item that is not a grant: where the last reconcile stopped. Its key
/// cannot collide with a grant's (`GRANT#…`), and it carries no due keys.
const CURSOR_PK: &str = "RECONCILE";
/// The sparse index of notices still to send (`outbox_bucket`, `outbox_at`).
pub const OUTBOX_INDEX: &str = "outbox";
const OUTBOX_BUCKET: &str = "pending";
const CURSOR_SK: &str = "CURSOR";
/// The single partition of the sparse due index: only live grants are in it.
const DUE_BUCKET: &str = "live";

type Item = HashMap<String, AttributeValue>;

pub struct DynamoGrantStore {
    client: super::Lazy<Client>,
    table: String,
}

impl DynamoGrantStore {
    pub fn new(client: super::Lazy<Client>, table: impl Into<String>) -> Self {
        DynamoGrantStore {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with its index if it does not exist. Returns whether it
    /// was created. The SAM template declares the same shape.
    pub async fn ensure_table(&self) -> anyhow::Result<bool> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let has_outbox = out
                    .table()
                    .map(|t| t.global_secondary_indexes())
                    .unwrap_or_default()
                    .iter()
                    .any(|i| i.index_name() == Some(OUTBOX_INDEX));
                if !has_outbox {
                    self.add_outbox_index().await?;
                }
                return Ok(false);
            }
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(aws_error("dynamodb:DescribeTable", e)),
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("due_bucket")?)
            .attribute_definitions(attr("due_at")?)
            .attribute_definitions(attr("outbox_bucket")?)
            .attribute_definitions(attr("outbox_at")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(DUE_INDEX)
                    .key_schema(key("due_bucket", KeyType::Hash)?)
                    .key_schema(key("due_at", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            )
            .global_secondary_indexes(outbox_index()?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some("ResourceInUseException") => Ok(false),
            Err(e) => Err(aws_error("dynamodb:CreateTable", e)),
        }
    }

    /// A table made by an earlier version gets the outbox index.
    async fn add_outbox_index(&self) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::{
            CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
        };
        let index = outbox_index()?;
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(OUTBOX_INDEX)
            .set_key_schema(Some(index.key_schema().to_vec()))
            .set_projection(index.projection().cloned())
            .build()?;
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        self.client
            .update_table()
            .table_name(&self.table)
            .attribute_definitions(attr("outbox_bucket")?)
            .attribute_definitions(attr("outbox_at")?)
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:UpdateTable", e))?;
        Ok(())
    }

    fn put(
        &self,
        item: Item,
        condition: &str,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(anyhow::Error::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An unconditional put in a transaction (a notice: its key is new).
    fn put_always(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(anyhow::Error::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes the grant and its event in one transaction; the grant's write is
    /// conditional. `AlreadyExists`/`VersionConflict` when that condition fails.
    async fn write(
        &self,
        grant_put: TransactWriteItem,
        event: Item,
        notices: &[Notice],
        on_conflict: StoreError,
    ) -> Result<(), StoreError> {
        let event_put = self.put(event, "attribute_not_exists(pk)", None)?;
        let notice_puts = notices
            .iter()
            .map(|n| self.put_always(notice_item(n, None)))
            .collect::<Result<Vec<_>, _>>()?;
        // The token makes a retried write (the SDK retries after a timeout or a
        // 5xx) idempotent instead of failing its own condition.
        let mut transaction = self
            .client
            .transact_write_items()
            .client_request_token(write_token())
            .transact_items(grant_put)
            .transact_items(event_put);
        for put in notice_puts {
            transaction = transaction.transact_items(put);
        }
        let result = transaction.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                // A failed condition (the version read is no longer current) and
                // a conflict with another transaction on the item are the same
                // thing to us: another writer got there first; re-read and retry.
                let conflicted = matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(tc))
                        if tc.cancellation_reasons().iter().any(|r| {
                            matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict"))
                        })
                );
                if conflicted {
                    Err(on_conflict)
                } else {
                    Err(StoreError::Other(aws_error(
                        "dynamodb:TransactWriteItems",
                        e,
                    )))
                }
            }
        }
    }

    async fn query_all(
        &self,
        build: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let pages: Result<Vec<_>, _> = build().into_paginator().items().send().collect().await;
        pages.map_err(|e| StoreError::Other(aws_error("dynamodb:Query", e)))
    }
}

impl DynamoGrantStore {
    /// Writes grants (no history) in batches of 25, bypassing the conditional
    /// writes: for seeding a benchmark table only, never used by the service.
    #[doc(hidden)]
    pub async fn seed_for_benchmark(&self, grants: &[Grant]) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in grants.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|g| {
                    let put = PutRequest::builder()
                        .set_item(Some(grant_item(g)))
                        .build()?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<_>>()?;
            for _ in 0..10 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| aws_error("dynamodb:BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Live grants from the sparse index: all of them, or those due by `as_of`.
    async fn query_due_index(
        &self,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Grant>, StoreError> {
        let items = self
            .query_all(|| {
                let q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(DUE_INDEX)
                    .expression_attribute_values(":b", s(DUE_BUCKET));
                match as_of {
                    Some(t) => q
                        .key_condition_expression("due_bucket = :b AND due_at <= :t")
                        .expression_attribute_values(":t", s(format_timestamp(t))),
                    None => q.key_condition_expression("due_bucket = :b"),
                }
            })
            .await?;
        items
            .iter()
            .map(grant_from_item)
            .collect::<anyhow::Result<_>>()
            .map_err(StoreError::Other)
    }
}

/// One write of one version of a grant: its idempotency token (≤ 36 chars).
/// A fresh `ClientRequestToken` for one write. The SDK retries the very
/// request it built, token and all, so a retry after a timeout or a 5xx whose
/// write was applied is answered as done; two writers never share a token (a
/// token derived from the grant would make a concurrent identical write look
/// like a retry of the other's, and DynamoDB would answer both as applied).
fn write_token() -> String {
    use rand::RngExt;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(36)
        .map(char::from)
        .collect()
}

fn pk(ticket: &Ticket) -> String {
    format!("GRANT#{ticket}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn outbox_index() -> anyhow::Result<GlobalSecondaryIndex> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    Ok(GlobalSecondaryIndex::builder()
        .index_name(OUTBOX_INDEX)
        .key_schema(key("outbox_bucket", KeyType::Hash)?)
        .key_schema(key("outbox_at", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?)
}

/// A notice, under its grant's key (`sk = NOTICE#<key>`): in the outbox
/// index while `outcome` is `None`, out of it (with how and when) after.
fn notice_item(n: &Notice, outcome: Option<&NoticeOutcome>) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(pk(&n.ticket))),
        ("sk".into(), s(format!("NOTICE#{}", n.key))),
        ("ticket".into(), s(n.ticket.as_str())),
        ("key".into(), s(&n.key)),
        ("detail_type".into(), s(n.kind.detail_type())),
        ("send_at".into(), s(format_timestamp_precise(n.send_at))),
        ("detail".into(), s(n.detail.to_string())),
    ]);
    if let Some(end) = n.for_end {
        item.insert("for_end".into(), s(format_timestamp(end)));
    }
    match outcome {
        None => {
            item.insert("outbox_bucket".into(), s(OUTBOX_BUCKET));
            item.insert("outbox_at".into(), s(format_timestamp_precise(n.send_at)));
        }
        Some(NoticeOutcome::Sent { at }) => {
            item.insert("state".into(), s("sent"));
            item.insert("settled_at".into(), s(format_timestamp_precise(*at)));
        }
        Some(NoticeOutcome::Skipped { at, why }) => {
            item.insert("state".into(), s("skipped"));
            item.insert("settled_at".into(), s(format_timestamp_precise(*at)));
            item.insert("why".into(), s(why));
        }
    }
    item
}

fn notice_from_item(item: &Item) -> anyhow::Result<Notice> {
    let r = Reader(item);
    let detail_type = r.str("detail_type")?;
    Ok(Notice {
        ticket: parse(Ticket::parse(r.str("ticket")?), "ticket")?,
        key: r.str("key")?.to_owned(),
        kind: NoticeKind::parse_detail_type(detail_type)
            .ok_or_else(|| anyhow::anyhow!("stored notice of unknown type {detail_type:?}"))?,
        send_at: r.time("send_at")?,
        for_end: r.opt_time("for_end")?,
        detail: serde_json::from_str(r.str("detail")?)?,
    })
}

fn grant_item(g: &Grant) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(pk(&g.ticket))),
        ("sk".into(), s("GRANT")),
        ("ticket".into(), s(g.ticket.as_str())),
        ("status".into(), s(g.status.as_str())),
        ("fingerprint".into(), s(&g.fingerprint)),
        ("requested_by".into(), s(&g.requested_by)),
        ("auditor_account".into(), s(g.auditor_account.as_str())),
        (
            "principals".into(),
            AttributeValue::L(g.principals.iter().map(|p| s(p.as_str())).collect()),
        ),
        ("external_id".into(), s(g.external_id.as_str())),
        ("access".into(), s(g.access.as_str())),
        ("start".into(), s(format_timestamp(g.window.start()))),
        ("end".into(), s(format_timestamp(g.window.end()))),
        // The first account's, as in the view (and as version 1 stored them).
        ("target_account".into(), s(g.target_account().as_str())),
        ("role_name".into(), s(&g.role_name)),
        ("role_arn".into(), s(g.role_arn())),
        (
            "roles".into(),
            AttributeValue::L(
                g.roles
                    .iter()
                    .map(|r| {
                        let mut m = HashMap::from([
                            ("account".to_owned(), s(r.account.as_str())),
                            ("role_arn".to_owned(), s(&r.role_arn)),
                        ]);
                        if let Some(id) = &r.role_id {
                            m.insert("role_id".to_owned(), s(id));
                        }
                        AttributeValue::M(m)
                    })
                    .collect(),
            ),
        ),
        (
            "created_at".into(),
            s(format_timestamp_precise(g.created_at)),
        ),
        (
            "updated_at".into(),
            s(format_timestamp_precise(g.updated_at)),
        ),
        ("attempts".into(), n(g.attempts)),
        ("version".into(), n(g.version)),
    ]);
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            item.insert(k.into(), s(v));
        }
    };
    opt("reason", g.reason.clone());
    opt("ended_at", g.ended_at.map(format_timestamp_precise));
    opt("end_reason", g.end_reason.clone());
    opt("ending", g.ending.map(|e| e.as_str().to_owned()));
    opt("last_error", g.last_error.clone());
    opt("role_id", g.first_role().role_id.clone());
    opt("region", g.region.clone());
    if let Some(due) = g.due_at() {
        opt("due_bucket", Some(DUE_BUCKET.into()));
        opt("due_at", Some(format_timestamp(due)));
    }
    if g.refused {
        item.insert("refused".into(), AttributeValue::Bool(true));
    }
    if g.recheck {
        item.insert("recheck".into(), AttributeValue::Bool(true));
    }
    if g.evidence_pending {
        item.insert("evidence_pending".into(), AttributeValue::Bool(true));
    }
    item
}

fn event_item(ticket: &Ticket, e: &HistoryEvent) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(pk(ticket))),
        (
            "sk".into(),
            s(format!(
                "EVENT#{}#{:010}",
                format_timestamp_precise(e.at),
                e.version
            )),
        ),
        ("at".into(), s(format_timestamp_precise(e.at))),
        ("to".into(), s(e.to.as_str())),
        ("reason".into(), s(&e.reason)),
        ("version".into(), n(e.version)),
    ]);
    if let Some(from) = e.from {
        item.insert("from".into(), s(from.as_str()));
    }
    if let Some(origin) = &e.origin {
        item.insert(
            "origin".into(),
            s(serde_json::to_string(origin).expect("an origin serialises")),
        );
    }
    if !e.removal.is_empty() {
        item.insert(
            "removal".into(),
            s(serde_json::to_string(&e.removal).expect("a removal serialises")),
        );
    }
    if let Some(copy) = &e.evidence {
        item.insert(
            "evidence".into(),
            s(serde_json::to_string(copy).expect("a copy serialises")),
        );
    }
    item
}

/// Reading back what we wrote: a bad item is our fault, not the caller's.
struct Reader<'a>(&'a Item);

impl Reader<'_> {
    fn opt(&self, k: &str) -> Option<&str> {
        self.0
            .get(k)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }
    fn str(&self, k: &str) -> anyhow::Result<&str> {
        self.opt(k)
            .ok_or_else(|| anyhow::anyhow!("stored grant lacks {k}"))
    }
    fn num(&self, k: &str) -> anyhow::Result<u64> {
        self.0
            .get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("stored grant lacks number {k}"))
    }
    fn time(&self, k: &str) -> anyhow::Result<DateTime<Utc>> {
        parse_time(self.str(k)?)
    }
    fn opt_time(&self, k: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        self.opt(k).map(parse_time).transpose()
    }
}

fn parse_time(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(raw)?.with_timezone(&Utc))
}

fn parse<T>(r: Result<T, String>, what: &str) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("stored {what} {e}"))
}

/// The grant's roles: the `roles` list, or (a grant stored by version 1) the
/// one role its `target_account`, `role_arn` and `role_id` describe.
fn roles_from_item(item: &Item, r: &Reader<'_>) -> anyhow::Result<Vec<GrantRole>> {
    let Some(list) = item.get("roles").and_then(|v| v.as_l().ok()) else {
        return Ok(vec![GrantRole {
            account: parse(AccountId::parse(r.str("target_account")?), "target_account")?,
            role_arn: r.str("role_arn")?.to_owned(),
            role_id: r.opt("role_id").map(str::to_owned),
        }]);
    };
    let roles = list
        .iter()
        .map(|v| {
            let m = v
                .as_m()
                .map_err(|_| anyhow::anyhow!("stored role is not a map"))?;
            let text = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
            Ok(GrantRole {
                account: parse(
                    AccountId::parse(&text("account").unwrap_or_default()),
                    "role account",
                )?,
                role_arn: text("role_arn")
                    .ok_or_else(|| anyhow::anyhow!("stored role lacks role_arn"))?,
                role_id: text("role_id"),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!roles.is_empty(), "stored grant has no roles");
    Ok(roles)
}

fn grant_from_item(item: &Item) -> anyhow::Result<Grant> {
    let r = Reader(item);
    let principals = item
        .get("principals")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| anyhow::anyhow!("stored grant lacks principals"))?
        .iter()
        .map(|p| {
            parse(
                PrincipalArn::parse(p.as_s().map(String::as_str).unwrap_or_default()),
                "principal",
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let window = parse(Window::new(r.time("start")?, r.time("end")?), "window")?;
    Ok(Grant {
        ticket: parse(Ticket::parse(r.str("ticket")?), "ticket")?,
        status: parse(GrantStatus::parse(r.str("status")?), "status")?,
        fingerprint: r.str("fingerprint")?.to_owned(),
        requested_by: r.str("requested_by")?.to_owned(),
        auditor_account: parse(
            AccountId::parse(r.str("auditor_account")?),
            "auditor_account",
        )?,
        principals,
        external_id: parse(ExternalId::parse(r.str("external_id")?), "external_id")?,
        access: parse(AccessPreset::parse(r.str("access")?), "access")?,
        window,
        reason: r.opt("reason").map(str::to_owned),
        role_name: r.str("role_name")?.to_owned(),
        roles: roles_from_item(item, &r)?,
        region: r.opt("region").map(str::to_owned),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        ended_at: r.opt_time("ended_at")?,
        end_reason: r.opt("end_reason").map(str::to_owned),
        ending: r
            .opt("ending")
            .map(Ending::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        attempts: u32::try_from(r.num("attempts")?)?,
        last_error: r.opt("last_error").map(str::to_owned),
        recheck: flag(item, "recheck"),
        evidence_pending: flag(item, "evidence_pending"),
        refused: flag(item, "refused"),
        version: r.num("version")?,
    })
}

/// A boolean attribute written only when true.
fn flag(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

fn event_from_item(item: &Item) -> anyhow::Result<HistoryEvent> {
    let r = Reader(item);
    Ok(HistoryEvent {
        at: r.time("at")?,
        from: r
            .opt("from")
            .map(GrantStatus::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        to: parse(GrantStatus::parse(r.str("to")?), "status")?,
        reason: r.str("reason")?.to_owned(),
        version: r.num("version")?,
        origin: r
            .opt("origin")
            .map(serde_json::from_str)
            .transpose()
            .map_err(anyhow::Error::from)?,
        removal: r
            .opt("removal")
            .map(serde_json::from_str)
            .transpose()
            .map_err(anyhow::Error::from)?
            .unwrap_or_default(),
        evidence: r
            .opt("evidence")
            .map(serde_json::from_str)
            .transpose()
            .map_err(anyhow::Error::from)?,
    })
}

#[async_trait]
impl GrantStore for DynamoGrantStore {
    async fn get(&self, ticket: &Ticket) -> Result<Option<Grant>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(ticket)))
            .key("sk", s("GRANT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Other(aws_error("dynamodb:GetItem", e)))?;
        out.item
            .as_ref()
            .map(grant_from_item)
            .transpose()
            .map_err(StoreError::Other)
    }

    async fn insert(&self, grant: &Grant, event: &HistoryEvent) -> Result<(), StoreError> {
        let put = self.put(grant_item(grant), "attribute_not_exists(pk)", None)?;
        self.write(
            put,
            event_item(&grant.ticket, event),
            &[],
            StoreError::AlreadyExists,
        )
        .await
    }

    async fn update(
        &self,
        grant: &Grant,
        event: &HistoryEvent,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        let expected = grant
            .version
            .checked_sub(1)
            .ok_or(StoreError::VersionConflict)?;
        let put = self.put(
            grant_item(grant),
            "version = :expected",
            Some(HashMap::from([(":expected".into(), n(expected))])),
        )?;
        self.write(
            put,
            event_item(&grant.ticket, event),
            notices,
            StoreError::VersionConflict,
        )
        .await
    }

    async fn history(&self, ticket: &Ticket) -> Result<Vec<HistoryEvent>, StoreError> {
        let items = self
            .query_all(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :event)")
                    .expression_attribute_values(":pk", s(pk(ticket)))
                    .expression_attribute_values(":event", s("EVENT#"))
                    .consistent_read(true)
            })
            .await?;
        items
            .iter()
            .map(event_from_item)
            .collect::<anyhow::Result<_>>()
            .map_err(StoreError::Other)
    }

    /// An operator's listing (not a hot path): a scan of grant items.
    async fn list(&self, status: Option<GrantStatus>) -> Result<Vec<Grant>, StoreError> {
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(if status.is_some() {
                "sk = :grant AND #status = :status"
            } else {
                "sk = :grant"
            })
            .expression_attribute_values(":grant", s("GRANT"));
        if let Some(st) = status {
            scan = scan
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(st.as_str()));
        }
        let items: Result<Vec<_>, _> = scan.into_paginator().items().send().collect().await;
        items
            .map_err(|e| StoreError::Other(aws_error("dynamodb:Scan", e)))?
            .iter()
            .map(grant_from_item)
            .collect::<anyhow::Result<_>>()
            .map_err(StoreError::Other)
    }

    async fn live(&self) -> Result<Vec<Grant>, StoreError> {
        self.query_due_index(None).await
    }

    async fn due_notices(&self, as_of: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
        let items = self
            .query_all(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(OUTBOX_INDEX)
                    .key_condition_expression("outbox_bucket = :b AND outbox_at <= :t")
                    .expression_attribute_values(":b", s(OUTBOX_BUCKET))
                    .expression_attribute_values(":t", s(format_timestamp_precise(as_of)))
            })
            .await?;
        items
            .iter()
            .map(notice_from_item)
            .collect::<anyhow::Result<_>>()
            .map_err(StoreError::Other)
    }

    async fn settle_notice(
        &self,
        notice: &Notice,
        outcome: &NoticeOutcome,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(notice_item(notice, Some(outcome))))
            .send()
            .await
            .map_err(|e| StoreError::Other(aws_error("dynamodb:PutItem", e)))?;
        Ok(())
    }

    async fn reconcile_cursor(&self) -> Result<Option<ReconcileCursor>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(CURSOR_PK))
            .key("sk", s(CURSOR_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Other(aws_error("dynamodb:GetItem", e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let (Some(account), Some(role_name)) = (text("after_account"), text("after_role")) else {
            return Ok(None); // the last reconcile finished
        };
        let account = AccountId::parse(&account)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("reconcile cursor: {e}")))?;
        Ok(Some(ReconcileCursor { account, role_name }))
    }

    async fn save_reconcile_cursor(
        &self,
        cursor: Option<&ReconcileCursor>,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(CURSOR_PK))
            .item("sk", s(CURSOR_SK))
            .item("saved_at", s(format_timestamp_precise(Utc::now())));
        if let Some(c) = cursor {
            put = put
                .item("after_account", s(c.account.as_str()))
                .item("after_role", s(&c.role_name));
        }
        put.send()
            .await
            .map_err(|e| StoreError::Other(aws_error("dynamodb:PutItem", e)))?;
        Ok(())
    }

    async fn due(&self, as_of: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        self.query_due_index(Some(as_of)).await
    }
}
