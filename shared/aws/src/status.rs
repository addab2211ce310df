//! [`PipelineStatus`] on AWS: the work queue's and the DLQ's numbers from SQS. Counters,
//! activity and reconciliation runs are CloudWatch metrics and the reconciler's logs, which
//! the answers say instead of inventing zeros.

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as A;
use time::OffsetDateTime;

use inlet_core::ports::StoreError;
use inlet_core::status::{
    Activity, PipelineStatus, ReconcileRun, SourceRecovery, StatusReport, Window,
};

/// The stack's queues, read for `inlet status` and the console.
pub struct SqsStatus {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
}

impl SqsStatus {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String, dlq_url: String) -> Self {
        SqsStatus {
            sqs,
            queue_url,
            dlq_url,
        }
    }
}

/// (visible, in flight) of one queue: SQS's approximate counts.
pub async fn queue_numbers(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), StoreError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(crate::unavailable("SQS GetQueueAttributes"))?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |a: &A| {
        attrs
            .get(a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        n(&A::ApproximateNumberOfMessages),
        n(&A::ApproximateNumberOfMessagesNotVisible),
    ))
}

#[async_trait]
impl PipelineStatus for SqsStatus {
    async fn report(&self) -> Result<StatusReport, StoreError> {
        let ((waiting, in_flight), (dead, dead_in_flight)) = futures::try_join!(
            queue_numbers(&self.sqs, &self.queue_url),
            queue_numbers(&self.sqs, &self.dlq_url)
        )?;
        Ok(StatusReport {
            queue_depth: waiting,
            in_flight,
            dlq_depth: dead + dead_in_flight,
            oldest_message_age_ms: None,
            ledger_keys: None,
            counters: None,
            timings: None,
            last_reconcile: None,
        })
    }

    async fn activity(
        &self,
        _window: Window,
        _now: OffsetDateTime,
    ) -> Result<Option<Activity>, StoreError> {
        Ok(None)
    }

    async fn reconcile_runs(&self, _limit: usize) -> Result<Option<Vec<ReconcileRun>>, StoreError> {
        Ok(None)
    }

    async fn recovery_by_source(
        &self,
        _since: OffsetDateTime,
    ) -> Result<Option<Vec<SourceRecovery>>, StoreError> {
        Ok(None)
    }

    fn kept_elsewhere(&self) -> Option<&'static str> {
        Some("CloudWatch (namespace Inlet) and the stack's dashboard")
    }
}
