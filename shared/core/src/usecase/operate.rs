//! What an operator does to a running pipeline, written once for the CLI and the console:
//! redrive dead letters (and say so in each event's history), ask whether a worker holds an
//! event now, replay an event from its kept payload, list and clear the outbox
//! publisher's failure records.

use time::OffsetDateTime;

use crate::history::{Attempt, EventRecord, EventState, HistoryEntry};
use crate::ids::EventKey;
use crate::outbox_failures::{FailedBatch, OutboxFailures};
use crate::ports::{
    DeadLetters, History, Ledger, LedgerEntry, LedgerState, Queue, RedriveSelector, StoreError,
};

/// What the history says about a redriven event.
const REDRIVEN: &str = "moved from the DLQ to the work queue by an operator";

/// Move the selected dead letters back to the work queue; returns how many moved. Each
/// event redriven by its key gets a `redriven` mark in its history (a failure to write the
/// mark is logged, not returned: the messages have moved). Take `at` before the call, so
/// the worker's next attempt comes after the mark in the timeline.
pub async fn redrive(
    dead_letters: &dyn DeadLetters,
    history: &dyn History,
    selectors: &[RedriveSelector],
    at: OffsetDateTime,
) -> Result<usize, StoreError> {
    let mut moved = 0;
    let mut marked = Vec::new();
    for selector in selectors {
        let n = dead_letters.redrive(selector).await?;
        moved += n;
        if let (RedriveSelector::Key(k), 1..) = (selector, n) {
            marked.push(k.as_str());
        }
    }
    mark_redriven(history, &marked, at).await;
    Ok(moved)
}

async fn mark_redriven(history: &dyn History, keys: &[&str], at: OffsetDateTime) {
    let mut records = Vec::new();
    for key in keys {
        if let Ok(Some(r)) = history.event(key, at).await {
            records.push(r);
        }
    }
    let entries: Vec<HistoryEntry<'_>> = records
        .iter()
        .map(|r| HistoryEntry {
            envelope: &r.envelope,
            attempt: Attempt::new(at, EventState::Redriven, 0, Some(REDRIVEN)),
            keep_payload: false,
            expires_at: r.expires_at,
            // A mark on a record that exists.
            first: false,
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    if let Err(e) = history.record(&entries).await {
        tracing::warn!(error = %e, "redrive not recorded in the event history");
    }
}

/// Until when a worker holds `key` (its claim's lease), if one does at `now`: the history
/// records attempts once they end, the ledger knows one is under way.
pub async fn in_progress_until(
    ledger: &dyn Ledger,
    key: &str,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let key = EventKey::parse(key).ok()?;
    match ledger.lookup(&key, now).await.ok()?? {
        LedgerEntry {
            state: LedgerState::InProgress { lease_until },
            ..
        } if lease_until > now => Some(lease_until),
        _ => None,
    }
}

/// Why an event could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no event {0} in the history (or it has expired)")]
    NotFound(String),
    #[error("{0}: its payload was not kept ([history] keep_payloads, max_payload_bytes), so there is nothing to send; nothing changed")]
    PayloadNotKept(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Enqueue `key` again from its kept payload, under its key with `source = replay` (the
/// worker delivers a replay even though the ledger knows the key). `by` says who asked, for
/// the log.
pub async fn replay(
    history: &dyn History,
    queue: &dyn Queue,
    key: &str,
    by: &str,
    now: OffsetDateTime,
) -> Result<(), ReplayError> {
    let record = history
        .event(key, now)
        .await?
        .ok_or_else(|| ReplayError::NotFound(key.to_string()))?;
    replay_record(queue, &record, by).await
}

/// [`replay`] of a record already read.
pub async fn replay_record(
    queue: &dyn Queue,
    record: &EventRecord,
    by: &str,
) -> Result<(), ReplayError> {
    let envelope = record
        .replay_envelope(by)
        .ok_or_else(|| ReplayError::PayloadNotKept(record.envelope.key.to_string()))?;
    queue.send(&envelope).await?;
    Ok(())
}

/// The most failure records one listing or clearing reads.
pub const OUTBOX_FAILURES_READ: usize = 100;

/// The outbox publisher's failure records, read without consuming them: each is taken
/// once, then made visible again (a failed release only delays its next listing).
pub async fn outbox_failures(
    failures: &dyn OutboxFailures,
) -> Result<Vec<FailedBatch>, StoreError> {
    let taken = failures.take(OUTBOX_FAILURES_READ).await?;
    for t in &taken {
        if let Err(e) = failures.release(&t.handle).await {
            tracing::warn!(error = %e, "an outbox failure record stays hidden until its visibility timeout");
        }
    }
    Ok(taken.into_iter().map(|t| t.batch).collect())
}

/// What clearing the failure records did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Records of batches whose last record arrived by the cutoff: deleted.
    pub deleted: usize,
    /// Newer records (or records without a readable arrival time): kept.
    pub kept: usize,
}

/// Delete the failure records of batches whose last record arrived at or before `cutoff`
/// — call it once every item staged before `cutoff` is published — and release the others.
pub async fn clear_outbox_failures(
    failures: &dyn OutboxFailures,
    cutoff: OffsetDateTime,
) -> Result<Cleared, StoreError> {
    let mut cleared = Cleared::default();
    for t in failures.take(OUTBOX_FAILURES_READ).await? {
        if t.batch.last_record_at().is_some_and(|at| at <= cutoff) {
            failures.delete(&t.handle).await?;
            cleared.deleted += 1;
        } else {
            failures.release(&t.handle).await?;
            cleared.kept += 1;
        }
    }
    Ok(cleared)
}
