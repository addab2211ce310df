//! Publishing: due outbox events into Inlet's queue, as envelopes the worker delivers to
//! the sinks like any webhook. Enqueue first, mark published after: a crash in between
//! publishes the event again, and the worker's ledger drops the copy.

use inlet_core::clock::from_unix_millis;
use inlet_core::envelope::{Envelope, Source};
use inlet_core::ids::{EventKey, ProviderName};
use inlet_core::normalize::sha256_hex;
use inlet_core::ports::Queue;

use crate::sqlite::Drain;
use crate::{OutboxError, OutboxRecord};

/// What one [`publish_due`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub published: usize,
    /// Left pending for a later attempt (or marked `failed` after `max_attempts`).
    pub failed: usize,
}

/// Retry a failed publish after this long, times the attempt number (capped).
const RETRY_STEP_MS: i64 = 1_000;
const RETRY_MAX_MS: i64 = 60_000;

/// The envelope an outbox event travels as: key `{outbox}:{idempotency_key}`, entity
/// `{aggregate_type}/{aggregate_id}` (so the queue keeps an aggregate's order), source
/// `outbox`. The body is the event as staged, byte for byte the same on every attempt.
pub fn to_envelope(outbox: &ProviderName, record: &OutboxRecord) -> Result<Envelope, OutboxError> {
    let e = &record.event;
    let key = EventKey::new(outbox, &e.idempotency_key).map_err(|err| {
        OutboxError::Invalid(format!("idempotency_key {:?}: {err}", e.idempotency_key))
    })?;
    let body = serde_json::to_vec(&serde_json::json!({
        "id": e.id,
        "aggregate_type": e.aggregate_type,
        "aggregate_id": e.aggregate_id,
        "event_type": e.event_type,
        "payload": e.payload,
        "correlation_id": e.correlation_id,
        "created_at_ms": record.created_at,
    }))?;
    let received_at = from_unix_millis(record.created_at);
    Ok(Envelope {
        v: Envelope::SCHEMA_VERSION,
        key,
        provider: outbox.clone(),
        event_id: e.idempotency_key.clone(),
        event_type: Some(e.event_type.clone()),
        source: Source::Outbox,
        received_at,
        correlation_id: e
            .correlation_id
            .clone()
            .unwrap_or_else(|| format!("outbox-{}", e.id)),
        entity: Some(format!("{}/{}", e.aggregate_type, e.aggregate_id)),
        version: None,
        payload_sha256: sha256_hex(&body),
        body_guard: false,
        stale: None,
        replayed_by: None,
        content_type: Some("application/json".into()),
        body,
    })
}

/// Enqueue up to `limit` due events of `drain` on `queue` and mark them published.
///
/// The database calls run inline (short, local SQLite); call it from a task of its own.
/// An event whose enqueue fails stays pending with a later retry, and the events after
/// it of the same aggregate wait for it.
pub async fn publish_due(
    drain: &mut Drain,
    outbox: &ProviderName,
    queue: &dyn Queue,
    now_ms: i64,
    limit: usize,
    max_attempts: u32,
) -> Result<PublishReport, OutboxError> {
    let due = drain.due(now_ms, limit)?;
    let mut report = PublishReport::default();
    let mut published: Vec<&str> = Vec::with_capacity(due.len());
    let mut blocked: Vec<(&str, &str)> = Vec::new();
    for record in &due {
        let aggregate = (
            record.event.aggregate_type.as_str(),
            record.event.aggregate_id.as_str(),
        );
        if blocked.contains(&aggregate) {
            continue;
        }
        let sent = match to_envelope(outbox, record) {
            Ok(envelope) => queue.send(&envelope).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok(()) => published.push(&record.event.id),
            Err(error) => {
                let wait = (RETRY_STEP_MS * i64::from(record.attempts + 1)).min(RETRY_MAX_MS);
                drain.mark_failed(&record.event.id, &error, now_ms + wait, max_attempts)?;
                blocked.push(aggregate);
                report.failed += 1;
            }
        }
    }
    inlet_core::failpoint::hit("outbox_after_enqueue");
    drain.mark_published(&published, now_ms)?;
    report.published = published.len();
    Ok(report)
}
