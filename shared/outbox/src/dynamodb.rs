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
//! `status` (`pending` → `published`), `attempts`, `created_at` and `published_at` (Unix
//! ms), and `ttl` (Unix seconds, [`RETENTION_SECS`] after staging).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::Deserialize;

use crate::{OutboxError, OutboxEvent, OutboxRecord, Status};

/// Outbox items' partition keys start with this (the stream filter selects on it).
pub const PK_PREFIX: &str = "O#";
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

/// The `TransactWriteItem` staging `event` for the outbox named `outbox` in `table`.
pub fn stage(
    table: &str,
    outbox: &str,
    event: &OutboxEvent,
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
        .update_expression("SET #st = :published, published_at = :now ADD attempts :one")
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
