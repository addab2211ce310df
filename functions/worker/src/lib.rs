//! The worker function: an SQS batch (ReportBatchItemFailures) → the core's process use
//! case. On a standard queue every record is claimed and version-checked first (groups —
//! entities — concurrently, each in order), then everything due is delivered together, so
//! the EventBridge sink publishes ten events per PutEvents, then completed. Duplicates and
//! superseded events are successes; a retry changes the record's visibility (backoff) and
//! reports it as a failure; a permanent failure is sent to the DLQ with its reason and
//! reported as a success, so SQS deletes it. On a FIFO queue records go one at a time and a
//! retried record stops its group: the group's later records are reported as failures
//! unprocessed, so order holds.
//!
//! The invocation's deadline is respected: records not yet delivered when less than
//! [`DEADLINE_MARGIN`] is left are given back (claims released, a short retry delay) and
//! reported as failures, instead of Lambda killing the batch mid-write.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_aws::{EmfMetrics, SqsQueue};
use inlet_core::envelope::Envelope;
use inlet_core::ports::{Receipt, Received, StoreError};
use inlet_core::usecase::process::{Disposition, Processor, GIVE_BACK_DELAY};
use tracing::warn;

mod wiring;

pub struct Deps {
    pub processor: Processor,
    pub queue: SqsQueue,
    pub metrics: std::sync::Arc<EmfMetrics>,
}

/// Time kept back from the invocation's deadline to give records back and answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// When to stop starting work: the deadline less the margin (none: no deadline).
#[derive(Debug, Clone, Copy)]
struct Cutoff(Option<Instant>);

impl Cutoff {
    fn new(time_left: Option<Duration>) -> Self {
        Cutoff(time_left.map(|t| Instant::now() + t.saturating_sub(DEADLINE_MARGIN)))
    }

    fn passed(self) -> bool {
        self.0.is_some_and(|c| Instant::now() >= c)
    }
}

fn group_of(m: &SqsMessage, env: Option<&Envelope>) -> Option<String> {
    m.attributes
        .get("MessageGroupId")
        .cloned()
        .or_else(|| env.and_then(|e| e.entity.clone()))
}

fn failure(id: &str) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id.to_string();
    f
}

/// Handle one batch with `time_left` before the invocation's deadline (`None`: no
/// deadline); returns the records SQS should redeliver.
pub async fn handle(deps: &Deps, event: SqsEvent, time_left: Option<Duration>) -> SqsBatchResponse {
    let cutoff = Cutoff::new(time_left);
    let fifo = event
        .records
        .first()
        .and_then(|m| m.event_source_arn.as_deref())
        .is_some_and(|arn| arn.ends_with(".fifo"));
    let failed: Vec<String> = if fifo {
        fifo_batch(deps, &event.records, cutoff).await
    } else {
        standard_batch(deps, &event.records, cutoff).await
    };
    deps.metrics.flush();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed.iter().map(|id| failure(id)).collect();
    response
}

/// Records by group (FIFO `MessageGroupId`, else the entity), arrival order kept.
fn groups(records: &[SqsMessage]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, m) in records.iter().enumerate() {
        let env = m
            .body
            .as_deref()
            .and_then(|b| Envelope::from_json(b.as_bytes()).ok());
        let group = group_of(m, env.as_ref()).unwrap_or_else(|| format!("#{i}"));
        groups.entry(group).or_default().push(i);
    }
    groups.into_values().collect()
}

/// FIFO: each group in order, one record at a time; a failure stops its group.
async fn fifo_batch(deps: &Deps, records: &[SqsMessage], cutoff: Cutoff) -> Vec<String> {
    let results = join_all(groups(records).into_iter().map(|members| async move {
        let mut failed = Vec::new();
        let mut stopped = false;
        for i in members {
            let m = &records[i];
            let id = m.message_id.clone().unwrap_or_default();
            if stopped {
                failed.push(id);
                continue;
            }
            if cutoff.passed() {
                // Out of time: this record and the rest of its group come back later.
                failed.push(id);
                stopped = true;
                continue;
            }
            let ok = match resolve(deps, m).await {
                Ok((raw, received)) => {
                    apply(
                        deps,
                        deps.processor.handle(&received).await,
                        &raw,
                        &received,
                    )
                    .await
                }
                Err(ok) => ok,
            };
            if !ok {
                failed.push(id);
                stopped = true;
            }
        }
        failed
    }))
    .await;
    results.into_iter().flatten().collect()
}

/// Standard queue: the core's batch waves ([`Processor::handle_batch_until`]) — claims
/// concurrent, everything due delivered together (the EventBridge sink publishes ten events
/// per PutEvents), completions concurrent — then every disposition carried out at once.
async fn standard_batch(deps: &Deps, records: &[SqsMessage], cutoff: Cutoff) -> Vec<String> {
    if cutoff.passed() {
        // No time to claim anything: every record comes back after a short delay.
        return give_back_all(deps, records).await;
    }
    let mut failed = Vec::new();
    let mut resolved = Vec::new();
    for (i, r) in join_all(records.iter().map(|m| resolve(deps, m)))
        .await
        .into_iter()
        .enumerate()
    {
        match r {
            Ok((raw, received)) => resolved.push((i, raw, received)),
            Err(true) => {}
            Err(false) => failed.push(i),
        }
    }
    let batch: Vec<&Received> = resolved.iter().map(|(_, _, r)| r).collect();
    let dispositions = deps
        .processor
        .handle_batch_until(&batch, &|| !cutoff.passed())
        .await;
    let settled = join_all(
        resolved
            .iter()
            .zip(dispositions)
            .map(
                |((i, raw, received), d)| async move { (*i, apply(deps, d, raw, received).await) },
            ),
    )
    .await;
    failed.extend(settled.into_iter().filter(|(_, ok)| !ok).map(|(i, _)| i));
    failed.sort();
    failed
        .into_iter()
        .map(|i| records[i].message_id.clone().unwrap_or_default())
        .collect()
}

/// Report every record as a failure, each visible again in a second.
async fn give_back_all(deps: &Deps, records: &[SqsMessage]) -> Vec<String> {
    join_all(records.iter().map(|m| async move {
        let receipt = m.receipt_handle.as_deref().unwrap_or_default();
        retry_after(deps, receipt, GIVE_BACK_DELAY, "out of time").await;
        m.message_id.clone().unwrap_or_default()
    }))
    .await
}

/// Make a record visible again after `delay` (the worker's backoff before the next
/// attempt); if that fails, SQS's own visibility timeout applies.
async fn retry_after(deps: &Deps, receipt: &str, delay: Duration, reason: &str) {
    if let Err(e) = deps.queue.change_visibility(receipt, delay).await {
        warn!(error = %e, reason, "could not set the retry delay; SQS's visibility timeout applies");
    }
}

/// The record's real body (claim check resolved) as a `Received`; `Err(success)` when the
/// record is settled already (dead-lettered: `true`) or must come back (`false`).
async fn resolve(deps: &Deps, m: &SqsMessage) -> Result<(String, Received), bool> {
    let raw = m.body.clone().unwrap_or_default();
    let body = match deps.queue.resolve(&raw).await {
        Ok(b) => b,
        // The claim-check store is unreachable: retry the record later.
        Err(StoreError::Unavailable { .. } | StoreError::Throttled { .. }) => return Err(false),
        // Its chunks are gone: dead-letter the pointer with the reason.
        Err(e) => {
            return Err(deps
                .queue
                .send_to_dlq(&raw, None, &e.to_string())
                .await
                .is_ok())
        }
    };
    let receive_count = m
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let received = Received {
        receipt: Receipt(m.receipt_handle.clone().unwrap_or_default()),
        receive_count,
        envelope: Envelope::decode(body.as_bytes()),
    };
    Ok((raw, received))
}

/// Carry out a disposition; `true` when SQS may delete the record.
async fn apply(deps: &Deps, disposition: Disposition, raw: &str, received: &Received) -> bool {
    match disposition {
        Disposition::Ack(_) => true,
        Disposition::Retry { delay, reason } => {
            retry_after(deps, &received.receipt.0, delay, &reason).await;
            false
        }
        Disposition::Defer { delay, reason } => {
            // A fresh copy, delayed, and this one reported done: the throttled receive
            // does not count towards the redrive policy. If the copy cannot be sent (or
            // the queue is FIFO), an ordinary retry, which counts.
            let key = received.envelope.as_ref().ok().map(|e| e.key.to_string());
            match deps.queue.requeue(raw, key.as_deref(), delay).await {
                Ok(true) => true,
                Ok(false) => {
                    retry_after(deps, &received.receipt.0, delay, &reason).await;
                    false
                }
                Err(e) => {
                    warn!(error = %e, "could not re-send a deferred record; retrying it instead");
                    retry_after(deps, &received.receipt.0, delay, &reason).await;
                    false
                }
            }
        }
        Disposition::DeadLetter { reason } => {
            let key = received.envelope.as_ref().ok().map(|e| e.key.to_string());
            match deps.queue.send_to_dlq(raw, key.as_deref(), &reason).await {
                Ok(()) => true,
                Err(e) => {
                    // Not moved: let SQS redeliver; its redrive policy is the backstop.
                    warn!(error = %e, "could not dead-letter explicitly");
                    false
                }
            }
        }
    }
}
