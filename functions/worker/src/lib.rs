//! The worker function: an SQS batch (ReportBatchItemFailures) → the core's process use
//! case. Records of one group (FIFO `MessageGroupId`, else the entity) run in order,
//! groups concurrently. Duplicates and superseded events are successes; a retry changes
//! the record's visibility (backoff) and reports it as a failure; a permanent failure is
//! sent to the DLQ with its reason and reported as a success, so SQS deletes it. In a FIFO
//! queue, a retried record stops its group: the group's later records are reported as
//! failures unprocessed, so order holds.

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
    // Group the records, keeping arrival order within each group.
    let mut groups: BTreeMap<String, Vec<&SqsMessage>> = BTreeMap::new();
    for (i, m) in event.records.iter().enumerate() {
        let env = m
            .body
            .as_deref()
            .and_then(|b| Envelope::from_json(b.as_bytes()).ok());
        let group = group_of(m, env.as_ref()).unwrap_or_else(|| format!("#{i}"));
        groups.entry(group).or_default().push(m);
    }
    let results = join_all(groups.into_values().map(|records| async move {
        let mut failed = Vec::new();
        let mut stopped = false;
        for m in records {
            let id = m.message_id.clone().unwrap_or_default();
            if stopped {
                failed.push(id);
                continue;
            }
            if !handle_record(deps, m).await {
                failed.push(id);
                stopped = fifo;
            }
        }
        failed
    }))
    .await;
    deps.metrics.flush();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = results
        .into_iter()
        .flatten()
        .map(|id| failure(&id))
        .collect();
    response
}

/// Process one record; `true` when SQS may delete it.
async fn handle_record(deps: &Deps, m: &SqsMessage) -> bool {
    let raw = m.body.clone().unwrap_or_default();
    let body = match deps.queue.resolve(raw.clone()).await {
        Ok(b) => b,
        // The claim-check store is unreachable: retry the record later.
        Err(StoreError::Unavailable { .. }) => return false,
        // Its chunks are gone: dead-letter the pointer with the reason.
        Err(e) => {
            let key = None;
            return deps
                .queue
                .send_to_dlq(&raw, key, &e.to_string())
                .await
                .is_ok();
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
    match deps.processor.handle(&received).await {
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
            match deps.queue.send_to_dlq(&raw, key.as_deref(), &reason).await {
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
