//! The outbox on AWS: stage an event in the same DynamoDB `TransactWriteItems` as your
//! business write, into the Inlet stack's table (`INLET_TABLE`). A transaction may span
//! tables, so the business item stays in your table. The table's stream feeds the
//! publisher function, which enqueues the event and marks it published.
//!
//! ```no_run
//! # async fn example(db: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
//! use inlet_outbox::{dynamodb, OutboxEvent};
//!
//! let paid = TransactWriteItem::builder()
//!     .put(Put::builder()
//!         .table_name("orders")
//!         .item("id", AttributeValue::S("ord_42".into()))
//!         .item("status", AttributeValue::S("paid".into()))
//!         .build()?)
//!     .build();
//! let event = OutboxEvent::new("order", "ord_42", "order.paid", serde_json::json!({"total": 1200}));
//! db.transact_write_items()
//!     .transact_items(paid)
//!     .transact_items(dynamodb::stage("inlet-state-table", "shop", &event)?)
//!     .send()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Item layout (one item per event): `pk = O#{id}`, the event's fields, `outbox`,
//! `status` (`pending` → `published`; `failed` with `last_error` and `failed_at` when it can
//! never become an event as staged), `attempts`, `created_at` and `published_at` (Unix
//! ms), and `ttl` (Unix seconds, [`RETENTION_SECS`] after staging). Until it is published
//! an item also carries `pq = "outbox#{n}"` and `pa` (= `created_at`), the keys of the table's
//! sparse [`PENDING_INDEX`], spread over [`pending_shards`] partitions (`outbox#0` …, by
//! the event id's hash, so staging is not one hot partition): what was staged and never
//! published (the stream gave up on it) is a Query per partition away, merged oldest first,
//! for [`pending`] and [`republish`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::Deserialize;

use inlet_core::spread::Spread;

use crate::{OutboxError, OutboxEvent, OutboxRecord, Status};

/// Outbox items' partition keys start with this (the stream filter selects on it).
pub const PK_PREFIX: &str = "O#";
/// The table's sparse index over items waiting on someone (`template.yaml`; the same
/// index holds reviews held by conflict rules, `pq = "review"`).
pub const PENDING_INDEX: &str = "pending";
/// Unpublished items, spread over index partitions `outbox#0` … by the event id's hash (and
/// `outbox`, where items staged before the spread sit: still read, never written). One
/// partition of an index absorbs about 1,000 write units a second, and a throttled index
/// throttles the application's own `TransactWriteItems` (docs.aws.amazon.com/amazondynamodb/
/// latest/developerguide/GSI.html#GSI.ThroughputConsiderations, read 2026-12-06). An event
/// costs the index two writes (staged, then `pq` removed when published), each a write unit
/// per KB of the item (the index projects it whole): a constant partition capped staging at
/// ~500 events a second.
const PENDING: Spread = Spread::new("outbox", MAX_PENDING_SHARDS).with_legacy();
/// Partitions written by default: 32 hold 16,000 events of up to 1 KB a second, past the
/// 10,000 the capacity model (docs/capacity.md) plans for. `INLET_OUTBOX_SHARDS` (the
/// stack's `OutboxShards` output) sets it, 1 to [`MAX_PENDING_SHARDS`].
pub const PENDING_SHARDS: u16 = 32;
/// Readers query this many partitions whatever the writers' count, so the count can change
/// at any time without hiding an item: the operator's listings, not the publisher's stream
/// path, pay for it (65 queries of 0.5 read units each when empty).
pub const MAX_PENDING_SHARDS: u16 = 64;

/// The writers' partition count: `INLET_OUTBOX_SHARDS` if it is a number from 1 to
/// [`MAX_PENDING_SHARDS`], else [`PENDING_SHARDS`]. Read once.
pub fn pending_shards() -> u16 {
    static SHARDS: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *SHARDS.get_or_init(|| {
        std::env::var("INLET_OUTBOX_SHARDS")
            .ok()
            .and_then(|v| v.trim().parse::<u16>().ok())
            .filter(|n| (1..=MAX_PENDING_SHARDS).contains(n))
            .unwrap_or(PENDING_SHARDS)
    })
}

/// Items that can never become an event as they are (their payload is not JSON, a field is
/// missing): out of the pending partitions, so `pending` and `redrive` pass them by, and
/// listed with their reason until fixed or discarded. Spread like the pending items (a
/// storm of malformed stagings must not throttle the publisher), `outbox-failed` read too.
const FAILED: Spread = Spread::new("outbox-failed", 16).with_legacy();

/// Query every partition of `spread` at once (a bounded number in flight) and concatenate
/// what each returns, in partition order.
async fn each_partition<T, F, Fut>(spread: Spread, query: F) -> Result<Vec<T>, OutboxError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, OutboxError>>,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    let pages: Vec<Vec<T>> = stream::iter(spread.partitions().into_iter().map(query))
        .buffered(16)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}
/// How long a staged event's item is kept (the table's TTL deletes it after).
pub const RETENTION_SECS: i64 = 7 * 86_400;
/// DynamoDB's item limit is 400 KB, names and values included
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items>,
/// checked 2026-11-28); the payload gets what the other attributes leave.
pub const MAX_PAYLOAD_BYTES: usize = 350 * 1024;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The `TransactWriteItem` staging `event` for the outbox named `outbox` in `table`, in
/// one of [`pending_shards`] index partitions.
pub fn stage(
    table: &str,
    outbox: &str,
    event: &OutboxEvent,
) -> Result<TransactWriteItem, OutboxError> {
    stage_in(table, outbox, event, pending_shards())
}

/// [`stage`] over `shards` index partitions (1 to [`MAX_PENDING_SHARDS`]; the stack's
/// `OutboxShards` output), for an application that passes the count itself.
pub fn stage_in(
    table: &str,
    outbox: &str,
    event: &OutboxEvent,
    shards: u16,
) -> Result<TransactWriteItem, OutboxError> {
    event.check()?;
    inlet_core::ids::ProviderName::parse(outbox)
        .map_err(|e| OutboxError::Invalid(format!("outbox name {outbox:?}: {e}")))?;
    let payload = serde_json::to_string(&event.payload)?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(OutboxError::Invalid(format!(
            "payload is {} bytes; a DynamoDB item holds at most {MAX_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    let now_ms = inlet_core::clock::unix_millis(now);
    let mut item = HashMap::from([
        ("pk".to_string(), s(&format!("{PK_PREFIX}{}", event.id))),
        ("outbox".to_string(), s(outbox)),
        ("id".to_string(), s(&event.id)),
        ("aggregate_type".to_string(), s(&event.aggregate_type)),
        ("aggregate_id".to_string(), s(&event.aggregate_id)),
        ("event_type".to_string(), s(&event.event_type)),
        ("payload".to_string(), s(&payload)),
        ("idempotency_key".to_string(), s(&event.idempotency_key)),
        ("status".to_string(), s(Status::Pending.as_str())),
        ("attempts".to_string(), n(0)),
        ("created_at".to_string(), n(now_ms)),
        (
            "pq".to_string(),
            s(&PENDING
                .with_shards(shards.min(MAX_PENDING_SHARDS))
                .partition_of(&event.id)),
        ),
        ("pa".to_string(), n(now_ms)),
        ("ttl".to_string(), n(now.unix_timestamp() + RETENTION_SECS)),
    ]);
    if let Some(c) = &event.correlation_id {
        item.insert("correlation_id".to_string(), s(c));
    }
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(|e| OutboxError::Store {
            message: "the outbox Put cannot be built".into(),
            source: Box::new(e),
        })?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An outbox item as the table's stream carries it (`NewImage`), for the publisher.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredItem {
    pub pk: String,
    pub outbox: String,
    pub id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    pub idempotency_key: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: i64,
    #[serde(default)]
    pub published_at: Option<i64>,
}

impl StoredItem {
    /// The outbox's name and the record, checked as staging checks it.
    pub fn into_record(self) -> Result<(String, OutboxRecord), OutboxError> {
        if !self.pk.starts_with(PK_PREFIX) {
            return Err(OutboxError::Invalid(format!(
                "{:?} is not an outbox item",
                self.pk
            )));
        }
        let event = OutboxEvent {
            id: self.id,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            event_type: self.event_type,
            payload: serde_json::from_str(&self.payload).map_err(|e| {
                OutboxError::Invalid(format!("outbox item {} payload is not JSON: {e}", self.pk))
            })?,
            correlation_id: self.correlation_id,
            idempotency_key: self.idempotency_key,
        };
        event.check()?;
        let status = Status::parse(&self.status).ok_or_else(|| {
            OutboxError::Invalid(format!(
                "outbox item {} has status {:?}",
                self.pk, self.status
            ))
        })?;
        Ok((
            self.outbox,
            OutboxRecord {
                event,
                status,
                attempts: self.attempts,
                next_attempt_at: self.created_at,
                published_at: self.published_at,
                created_at: self.created_at,
                last_error: None,
            },
        ))
    }
}

impl StoredItem {
    /// The envelope the item travels as in the pipeline, and the event's id.
    pub fn into_envelope(self) -> Result<(inlet_core::envelope::Envelope, String), OutboxError> {
        let (outbox, record) = self.into_record()?;
        let outbox = inlet_core::ids::ProviderName::parse(&outbox)
            .map_err(|e| OutboxError::Invalid(format!("outbox name {outbox:?}: {e}")))?;
        let envelope = crate::publish::to_envelope(&outbox, &record)?;
        Ok((envelope, record.event.id))
    }
}

/// Mark the item of event `id` published at `now_ms` (one more attempt). An item the TTL
/// already removed is left removed.
pub async fn mark_published(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
    now_ms: i64,
) -> Result<(), OutboxError> {
    client
        .update_item()
        .table_name(table)
        .key("pk", s(&format!("{PK_PREFIX}{id}")))
        .update_expression("SET #st = :published, published_at = :now ADD attempts :one REMOVE pq")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":published", s(Status::Published.as_str()))
        .expression_attribute_values(":now", n(now_ms))
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .map_err(|e| OutboxError::Store {
            message: format!("DynamoDB UpdateItem (outbox {id} published) failed"),
            source: Box::new(e),
        })?;
    Ok(())
}

/// One outbox item by event id, as stored (for `inlet` and tests).
pub async fn get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, OutboxError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", s(&format!("{PK_PREFIX}{id}")))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| OutboxError::Store {
            message: format!("DynamoDB GetItem (outbox {id}) failed"),
            source: Box::new(e),
        })?;
    Ok(out.item)
}

/// Up to `limit` outbox items staged at or before `staged_before_ms` and never published,
/// oldest first: those the stream did not get through (the publisher gave up, or the
/// stream's 24-hour retention passed) — or is still working on, if the cutoff is recent.
pub async fn pending(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    staged_before_ms: i64,
    limit: usize,
) -> Result<Vec<StoredItem>, OutboxError> {
    // Each partition's oldest `limit`, merged oldest first across the partitions.
    let mut items = each_partition(PENDING, |partition| async move {
        pending_in(client, table, &partition, staged_before_ms, limit).await
    })
    .await?;
    items.sort_by_key(|i: &StoredItem| i.created_at);
    items.truncate(limit);
    Ok(items)
}

/// Up to `limit` items of one pending partition, oldest first.
async fn pending_in(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    partition: &str,
    staged_before_ms: i64,
    limit: usize,
) -> Result<Vec<StoredItem>, OutboxError> {
    let mut items = Vec::new();
    let mut start = None;
    while items.len() < limit {
        let page = i32::try_from(limit - items.len())
            .unwrap_or(i32::MAX)
            .min(100);
        let out = client
            .query()
            .table_name(table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pq = :outbox AND pa <= :before")
            .expression_attribute_values(":outbox", s(partition))
            .expression_attribute_values(":before", n(staged_before_ms))
            .limit(page)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| OutboxError::Store {
                message: "DynamoDB Query (pending outbox items) failed".into(),
                source: Box::new(e),
            })?;
        for item in out.items.unwrap_or_default() {
            items.push(
                serde_dynamo::from_item(item).map_err(|e| {
                    OutboxError::Invalid(format!("outbox item does not parse: {e}"))
                })?,
            );
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    items.truncate(limit);
    Ok(items)
}

/// How many outbox items are staged and not published, and when the oldest was staged.
pub async fn pending_count(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(u64, Option<i64>), OutboxError> {
    let partitions = each_partition(PENDING, |partition| async move {
        Ok(vec![pending_count_in(client, table, &partition).await?])
    })
    .await?;
    let mut count = 0u64;
    let mut oldest: Option<i64> = None;
    for (n, first) in partitions {
        count += n;
        oldest = match (oldest, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((count, oldest))
}

/// One pending partition's count and its oldest item's staging time.
async fn pending_count_in(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    partition: &str,
) -> Result<(u64, Option<i64>), OutboxError> {
    let store_err = |what: &'static str| {
        move |e: aws_sdk_dynamodb::error::SdkError<_, _>| OutboxError::Store {
            message: format!("DynamoDB Query ({what}) failed"),
            source: Box::new(e),
        }
    };
    let oldest = client
        .query()
        .table_name(table)
        .index_name(PENDING_INDEX)
        .key_condition_expression("pq = :outbox")
        .expression_attribute_values(":outbox", s(partition))
        .limit(1)
        .send()
        .await
        .map_err(store_err("oldest pending outbox item"))?
        .items
        .unwrap_or_default()
        .first()
        .and_then(|i| i.get("pa"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok());
    let mut count = 0u64;
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pq = :outbox")
            .expression_attribute_values(":outbox", s(partition))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(store_err("pending outbox count"))?;
        count += u64::try_from(out.count).unwrap_or(0);
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok((count, oldest))
}

/// Publish one stored item: enqueue its envelope on `queue`, then mark it published (the
/// publisher's path for a stream record, and the operator's for an item the stream gave
/// up on). Returns its idempotency key in the pipeline. Enqueue first: a crash in between
/// enqueues it again, and the worker's ledger drops the copy.
pub async fn republish(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    queue: &dyn inlet_core::ports::Queue,
    item: StoredItem,
    now_ms: i64,
) -> Result<String, OutboxError> {
    let (envelope, id) = item.into_envelope()?;
    queue
        .send(&envelope)
        .await
        .map_err(|e| OutboxError::Store {
            message: format!("enqueueing {} failed", envelope.key),
            source: Box::new(e),
        })?;
    mark_published(client, table, &id, now_ms).await?;
    Ok(envelope.key.to_string())
}

/// An item that could not become an event, as an operator sees it. Read leniently: the
/// item is broken by definition, so only `pk` is certain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedItem {
    pub pk: String,
    pub outbox: Option<String>,
    pub idempotency_key: Option<String>,
    pub reason: String,
    pub failed_at_ms: i64,
}

impl FailedItem {
    /// The event id `--id` takes (`pk` without its prefix).
    pub fn id(&self) -> &str {
        self.pk.trim_start_matches(PK_PREFIX)
    }

    fn from_item(item: &HashMap<String, AttributeValue>) -> Option<FailedItem> {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(FailedItem {
            pk: text("pk")?,
            outbox: text("outbox"),
            idempotency_key: text("idempotency_key"),
            reason: text("last_error").unwrap_or_default(),
            failed_at_ms: item
                .get("failed_at")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }
}

/// Mark the pending item `pk` failed with `reason`: `status = failed`, moved from the
/// pending partition of the index to the failed one. An item that is gone or no longer
/// pending (published meanwhile) is left alone: returns whether it was marked.
pub async fn mark_unpublishable(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    reason: &str,
    now_ms: i64,
) -> Result<bool, OutboxError> {
    let reason: String = reason.chars().take(1_000).collect();
    let out = client
        .update_item()
        .table_name(table)
        .key("pk", s(pk))
        .update_expression(
            "SET #st = :failed, last_error = :reason, failed_at = :now, pq = :failedq, pa = :now",
        )
        .condition_expression("attribute_exists(pk) AND #st = :pending")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":failed", s(Status::Failed.as_str()))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":reason", s(&reason))
        .expression_attribute_values(":now", n(now_ms))
        .expression_attribute_values(":failedq", s(&FAILED.partition_of(pk)))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(OutboxError::Store {
            message: format!("DynamoDB UpdateItem (outbox {pk} failed) failed"),
            source: Box::new(e),
        }),
    }
}

fn is_condition_failure<R>(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        R,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

/// Up to `limit` failed items, oldest failure first.
pub async fn failed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: usize,
) -> Result<Vec<FailedItem>, OutboxError> {
    let mut items = each_partition(FAILED, |partition| async move {
        failed_in(client, table, &partition, limit).await
    })
    .await?;
    items.sort_by_key(|i: &FailedItem| i.failed_at_ms);
    items.truncate(limit);
    Ok(items)
}

/// Up to `limit` failed items of one partition, oldest failure first.
async fn failed_in(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    partition: &str,
    limit: usize,
) -> Result<Vec<FailedItem>, OutboxError> {
    let mut items = Vec::new();
    let mut start = None;
    while items.len() < limit {
        let out = client
            .query()
            .table_name(table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pq = :failed")
            .expression_attribute_values(":failed", s(partition))
            .limit(
                i32::try_from(limit - items.len())
                    .unwrap_or(i32::MAX)
                    .min(100),
            )
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| OutboxError::Store {
                message: "DynamoDB Query (failed outbox items) failed".into(),
                source: Box::new(e),
            })?;
        items.extend(
            out.items
                .unwrap_or_default()
                .iter()
                .filter_map(FailedItem::from_item),
        );
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    items.truncate(limit);
    Ok(items)
}

/// Publish the failed item of event `id` once the application has fixed it: it must
/// parse now, or the answer says why it still cannot become an event (and it stays
/// failed). Returns its key in the pipeline.
pub async fn redrive_failed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    queue: &dyn inlet_core::ports::Queue,
    id: &str,
    now_ms: i64,
) -> Result<String, OutboxError> {
    let item = get(client, table, id)
        .await?
        .ok_or_else(|| OutboxError::Invalid(format!("no outbox item {id}")))?;
    let still = |e: &dyn std::fmt::Display| {
        OutboxError::Invalid(format!(
            "outbox item {id} still cannot become an event: {e}"
        ))
    };
    let stored: StoredItem = serde_dynamo::from_item(item).map_err(|e| still(&e))?;
    // Checked before anything is sent: a broken item stays failed, untouched.
    stored.clone().into_envelope().map_err(|e| still(&e))?;
    republish(client, table, queue, stored, now_ms).await
}

/// Remove the failed item of event `id` (it will never be published). Only a failed item:
/// a pending or published one is refused.
pub async fn discard_failed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> Result<(), OutboxError> {
    let out = client
        .delete_item()
        .table_name(table)
        .key("pk", s(&format!("{PK_PREFIX}{id}")))
        .condition_expression("#st = :failed")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":failed", s(Status::Failed.as_str()))
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Err(OutboxError::Invalid(format!("no failed outbox item {id}")))
        }
        Err(e) => Err(OutboxError::Store {
            message: format!("DynamoDB DeleteItem (outbox {id}) failed"),
            source: Box::new(e),
        }),
    }
}
