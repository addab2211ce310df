//! [`OutboxFailures`] on AWS: the OutboxFailures queue, where the publisher Lambda's
//! on-failure destination puts one record per stream batch it gave up on
//! (`DDBStreamBatchInfo`: shard, sequence range, arrival times).

use async_trait::async_trait;

use inlet_core::outbox_failures::{FailedBatch, OutboxFailures, TakenFailure};
use inlet_core::ports::StoreError;

/// How long a taken record stays hidden from other readers.
const TAKE_VISIBILITY_SECS: i32 = 30;

/// The stack's OutboxFailures queue.
pub struct SqsOutboxFailures {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl SqsOutboxFailures {
    pub fn new(sqs: aws_sdk_sqs::Client, url: String) -> Self {
        SqsOutboxFailures { sqs, url }
    }
}

/// A batch from its on-failure record; what does not parse stays `None` (a record is
/// listed however it reads). Values are cut to 200 characters: they are shown to people.
pub fn parse_failure_record(body: &str) -> FailedBatch {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let info = |k: &str| {
        v.pointer(&format!("/DDBStreamBatchInfo/{k}"))
            .and_then(|x| x.as_str())
            .map(|x| x.chars().take(200).collect::<String>())
    };
    FailedBatch {
        shard: info("shardId"),
        first_sequence: info("startSequenceNumber"),
        last_sequence: info("endSequenceNumber"),
        size: v
            .pointer("/DDBStreamBatchInfo/batchSize")
            .and_then(|x| x.as_u64()),
        first_arrival: info("approximateArrivalOfFirstRecord"),
        last_arrival: info("approximateArrivalOfLastRecord"),
    }
}

#[async_trait]
impl OutboxFailures for SqsOutboxFailures {
    async fn count(&self) -> Result<u64, StoreError> {
        let (visible, in_flight) = crate::status::queue_numbers(&self.sqs, &self.url).await?;
        Ok(visible + in_flight)
    }

    /// Each message once by message id. A short poll samples some of SQS's servers, so
    /// one empty answer is not the end: reading stops after two in a row.
    async fn take(&self, max: usize) -> Result<Vec<TakenFailure>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut empty_polls = 0;
        while out.len() < max && empty_polls < 2 {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .visibility_timeout(TAKE_VISIBILITY_SECS)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(crate::unavailable("SQS ReceiveMessage (OutboxFailures)"))?;
            let messages = got.messages.unwrap_or_default();
            empty_polls = if messages.is_empty() {
                empty_polls + 1
            } else {
                0
            };
            for m in messages {
                if seen.insert(m.message_id.clone().unwrap_or_default()) {
                    out.push(TakenFailure {
                        handle: m.receipt_handle.unwrap_or_default(),
                        batch: parse_failure_record(m.body.as_deref().unwrap_or_default()),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn release(&self, handle: &str) -> Result<(), StoreError> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(crate::unavailable(
                "SQS ChangeMessageVisibility (OutboxFailures)",
            ))?;
        Ok(())
    }

    async fn delete(&self, handle: &str) -> Result<(), StoreError> {
        self.sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(crate::unavailable("SQS DeleteMessage (OutboxFailures)"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_read_as_far_as_it_parses() {
        let body = r#"{"DDBStreamBatchInfo":{"shardId":"shardId-1","startSequenceNumber":"100","endSequenceNumber":"180","batchSize":3,"approximateArrivalOfFirstRecord":"2026-12-06T10:00:00Z","approximateArrivalOfLastRecord":"2026-12-06T10:00:02Z"}}"#;
        let b = parse_failure_record(body);
        assert_eq!(b.shard.as_deref(), Some("shardId-1"));
        assert_eq!(b.size, Some(3));
        assert_eq!(
            b.last_record_at().map(|t| t.unix_timestamp()),
            Some(1_796_551_202)
        );
        // Hostile and truncated records are listed with what they say, nothing invented.
        for body in [
            "",
            "{",
            "null",
            r#"{"DDBStreamBatchInfo":{"batchSize":"3"}}"#,
        ] {
            assert_eq!(parse_failure_record(body), FailedBatch::default(), "{body}");
        }
        let long = format!(
            r#"{{"DDBStreamBatchInfo":{{"shardId":"{}"}}}}"#,
            "x".repeat(5_000)
        );
        assert_eq!(
            parse_failure_record(&long).shard.map(|s| s.len()),
            Some(200)
        );
    }
}
