//! The worker function: an SQS batch (ReportBatchItemFailures) → the core's process use
//! case. On a standard queue every record is claimed and version-checked first (groups —
//! entities — concurrently, each in order), then everything due is delivered together, so
//! the EventBridge sink publishes ten events per PutEvents, then completed. Duplicates and
//! superseded events are successes; a retry changes the record's visibility (backoff) and
//! reports it as a failure; a permanent failure is sent to the DLQ with its reason and
//! reported as a success, so SQS deletes it. On a FIFO queue records go one at a time and a
//! retried record stops its group: the group's later records are reported as failures
//! unprocessed, so order holds.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_aws::{EmfMetrics, SqsQueue};
use inlet_core::envelope::Envelope;
use inlet_core::ports::{Receipt, Received, StoreError};
use inlet_core::usecase::process::{Disposition, Processor};
use tracing::warn;

pub struct Deps {
    pub processor: Processor,
    pub queue: SqsQueue,
    pub metrics: std::sync::Arc<EmfMetrics>,
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

/// Handle one batch; returns the records SQS should redeliver.
pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let fifo = event
        .records
        .first()
        .and_then(|m| m.event_source_arn.as_deref())
        .is_some_and(|arn| arn.ends_with(".fifo"));
    let failed: Vec<String> = if fifo {
        fifo_batch(deps, &event.records).await
    } else {
        standard_batch(deps, &event.records).await
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
async fn fifo_batch(deps: &Deps, records: &[SqsMessage]) -> Vec<String> {
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

/// Standard queue: claim and check every record (groups concurrently, each in order), then
/// deliver all that are due together — the EventBridge sink publishes ten per PutEvents —
/// and complete them. A second copy of a key in the same batch waits until the first is
/// settled, so it is acknowledged as the duplicate it is.
async fn standard_batch(deps: &Deps, records: &[SqsMessage]) -> Vec<String> {
    let mut failed = Vec::new();
    let mut first: Vec<Vec<(usize, String, Received)>> = Vec::new();
    let mut later: Vec<(usize, String, Received)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut by_group: BTreeMap<String, usize> = BTreeMap::new();
    let resolved = join_all(records.iter().map(|m| resolve(deps, m))).await;
    for (i, r) in resolved.into_iter().enumerate() {
        let (raw, received) = match r {
            Ok(x) => x,
            Err(true) => continue,
            Err(false) => {
                failed.push(i);
                continue;
            }
        };
        let env = received.envelope.as_ref().ok();
        if let Some(key) = env.map(|e| e.key.to_string()) {
            if !seen.insert(key) {
                later.push((i, raw, received));
                continue;
            }
        }
        let group = group_of(&records[i], env).unwrap_or_else(|| format!("#{i}"));
        let slot = *by_group.entry(group).or_insert_with(|| {
            first.push(Vec::new());
            first.len() - 1
        });
        first[slot].push((i, raw, received));
    }
    let phase_one = join_all(first.into_iter().map(|members| async move {
        let mut ready = Vec::new();
        let mut failed = Vec::new();
        for (i, raw, received) in members {
            match deps.processor.prepare(&received).await {
                Ok(()) => ready.push((i, raw, received)),
                Err(d) => {
                    if !apply(deps, d, &raw, &received).await {
                        failed.push(i);
                    }
                }
            }
        }
        (ready, failed)
    }))
    .await;
    let mut prepared = Vec::new();
    for (ready, f) in phase_one {
        prepared.extend(ready);
        failed.extend(f);
    }
    let refs: Vec<&Received> = prepared.iter().map(|(_, _, r)| r).collect();
    let dispositions = deps.processor.deliver_prepared(&refs).await;
    for ((i, raw, received), d) in prepared.iter().zip(dispositions) {
        if !apply(deps, d, raw, received).await {
            failed.push(*i);
        }
    }
    for (i, raw, received) in later {
        if !apply(
            deps,
            deps.processor.handle(&received).await,
            &raw,
            &received,
        )
        .await
        {
            failed.push(i);
        }
    }
    failed.sort();
    failed
        .into_iter()
        .map(|i| records[i].message_id.clone().unwrap_or_default())
        .collect()
}

/// The record's real body (claim check resolved) as a `Received`; `Err(success)` when the
/// record is settled already (dead-lettered: `true`) or must come back (`false`).
async fn resolve(deps: &Deps, m: &SqsMessage) -> Result<(String, Received), bool> {
    let raw = m.body.clone().unwrap_or_default();
    let body = match deps.queue.resolve(&raw).await {
        Ok(b) => b,
        // The claim-check store is unreachable: retry the record later.
        Err(StoreError::Unavailable { .. }) => return Err(false),
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
        envelope: Envelope::from_json(body.as_bytes()).map_err(|e| e.to_string()),
    };
    Ok((raw, received))
}

/// Carry out a disposition; `true` when SQS may delete the record.
async fn apply(deps: &Deps, disposition: Disposition, raw: &str, received: &Received) -> bool {
    match disposition {
        Disposition::Ack(_) => true,
        Disposition::Retry { delay, reason } => {
            if let Err(e) = deps
                .queue
                .change_visibility(&received.receipt.0, delay)
                .await
            {
                warn!(error = %e, reason, "could not set the retry delay; SQS's visibility timeout applies");
            }
            false
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
