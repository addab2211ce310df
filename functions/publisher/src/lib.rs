//! The outbox publisher: the state table's stream, filtered to newly staged outbox items
//! (`pk` starting `O#`), → each item enqueued on the work queue as an envelope (key
//! `{outbox}:{idempotency_key}`, source `outbox`) → the item marked `published`. The worker
//! then delivers it like any webhook: claimed once, to the sinks (the stack's event bus),
//! with the key as the idempotency key. Why the queue and not the bus directly: one path
//! with one set of guarantees — the ledger drops the copy a retried stream batch sends
//! again, failures retry with backoff and end in the DLQ `inlet dlq` shows, and PutEvents is
//! batched by the worker's sink.
//!
//! A record that cannot be enqueued is reported in `batchItemFailures` (the stream retries
//! from it); an item that can never become an event (it does not parse) goes to the DLQ
//! with the reason instead of blocking its shard.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::future::join_all;
use inlet_aws::{EmfMetrics, SqsQueue};
use inlet_core::metrics::Metrics;
use inlet_core::ports::Queue;
use inlet_outbox::dynamodb::{mark_published, StoredItem};
use tracing::warn;

mod wiring;

pub struct Deps {
    pub queue: SqsQueue,
    pub db: aws_sdk_dynamodb::Client,
    pub table: String,
    pub metrics: EmfMetrics,
}

/// Metric names of the publisher.
pub mod names {
    pub const PUBLISHED: &str = "outbox_published";
    pub const UNPUBLISHABLE: &str = "outbox_unpublishable";
    pub const ENQUEUE_FAILURES: &str = "outbox_enqueue_failures";
}

/// What became of one stream record.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Enqueued (or not an outbox insert): done.
    Done,
    /// Can never be an event: parked in the DLQ with the reason.
    Parked,
    /// Not enqueued now: the stream retries it.
    Retry,
}

/// Handle one batch of stream records.
pub async fn handle(deps: &Deps, event: Event) -> DynamoDbEventResponse {
    let now_ms = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let outcomes = join_all(event.records.iter().map(|r| publish(deps, r, now_ms))).await;
    deps.metrics.flush();
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| *outcome == Outcome::Retry)
        .map(|(record, _)| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            failure
        })
        .collect();
    response
}

/// The envelope of the event a stream record stages, and the event's id; or why it
/// cannot be one.
fn envelope_of(record: &EventRecord) -> Result<(inlet_core::envelope::Envelope, String), String> {
    let item: StoredItem = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|e| format!("outbox item does not parse: {e}"))?;
    item.into_envelope().map_err(|e| e.to_string())
}

/// A stream record's string attribute, read leniently (the item may be broken).
fn text(item: &serde_dynamo::Item, name: &str) -> Option<String> {
    item.get(name)
        .and_then(|v| serde_dynamo::from_attribute_value::<_, String>(v.clone()).ok())
}

/// An item that can never become an event as staged: marked `failed` with the reason
/// (out of the pending index, so `inlet outbox redrive` passes it by), and its image
/// parked in the DLQ named `outbox:{outbox}:{idempotency key or id}`, the reason naming
/// the outbox, the item and what is wrong.
async fn park(deps: &Deps, record: &EventRecord, reason: &str, now_ms: i64) -> Outcome {
    let pk = text(&record.change.keys, "pk").unwrap_or_default();
    let image = &record.change.new_image;
    let outbox = text(image, "outbox").unwrap_or_else(|| "?".into());
    let id = pk.trim_start_matches(inlet_outbox::dynamodb::PK_PREFIX);
    let name = text(image, "idempotency_key").unwrap_or_else(|| id.to_string());
    let key = format!("outbox:{outbox}:{name}");
    let reason = format!("outbox {outbox} item {pk}: {reason}");
    warn!(key = %key, reason = %reason, "outbox item marked failed and parked in the DLQ");
    deps.metrics.incr(names::UNPUBLISHABLE, &[], 1);
    if let Err(e) =
        inlet_outbox::dynamodb::mark_unpublishable(&deps.db, &deps.table, &pk, &reason, now_ms)
            .await
    {
        warn!(key = %key, error = %e, "outbox item not marked failed; the stream retries it");
        return Outcome::Retry;
    }
    let raw = serde_json::to_string(image).unwrap_or_default();
    match deps.queue.send_to_dlq(&raw, Some(&key), &reason).await {
        Ok(()) => Outcome::Parked,
        Err(_) => Outcome::Retry,
    }
}

async fn publish(deps: &Deps, record: &EventRecord, now_ms: i64) -> Outcome {
    // The event source mapping's filter sends only outbox inserts; anything else is not ours.
    let is_outbox = record
        .change
        .keys
        .get("pk")
        .and_then(|pk| serde_dynamo::from_attribute_value::<_, String>(pk.clone()).ok())
        .is_some_and(|pk| pk.starts_with(inlet_outbox::dynamodb::PK_PREFIX));
    if record.event_name != "INSERT" || !is_outbox {
        return Outcome::Done;
    }
    let (envelope, id) = match envelope_of(record) {
        Ok(e) => e,
        Err(reason) => return park(deps, record, &reason, now_ms).await,
    };
    if let Err(e) = deps.queue.send(&envelope).await {
        warn!(key = %envelope.key, error = %e, "outbox event not enqueued; the stream retries it");
        deps.metrics.incr(
            names::ENQUEUE_FAILURES,
            &[("outbox", envelope.provider.as_str())],
            1,
        );
        return Outcome::Retry;
    }
    inlet_core::failpoint::hit("outbox_after_enqueue");
    deps.metrics.incr(
        names::PUBLISHED,
        &[("outbox", envelope.provider.as_str())],
        1,
    );
    // Enqueued is what counts; a failed status update only leaves `status` behind.
    if let Err(e) = mark_published(&deps.db, &deps.table, &id, now_ms).await {
        warn!(key = %envelope.key, error = %e, "outbox item enqueued but not marked published");
    }
    Outcome::Done
}
