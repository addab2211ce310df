//! A sink that publishes each record to an EventBridge bus: `source = inlet.<provider>`,
//! `detail-type` = the event type, `detail` = the record. Failed entries of a `PutEvents`
//! call are retried (only those); throttling is transient.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use inlet_core::envelope::SinkRecord;
use inlet_core::ports::{Sink, SinkError};

/// EventBridge's limit on entries per PutEvents.
pub const MAX_BATCH: usize = 10;

pub struct EventBridgeSink {
    client: Client,
    bus: String,
}

impl EventBridgeSink {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    fn entry(&self, record: &SinkRecord) -> Result<PutEventsRequestEntry, SinkError> {
        let detail = serde_json::to_string(record)
            .map_err(|e| SinkError::permanent(format!("record does not serialize: {e}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(format!("inlet.{}", record.provider))
            .detail_type(
                record
                    .event_type
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            )
            .detail(detail)
            .build())
    }

    /// Publish up to ten records; retries only the entries that failed.
    pub async fn put_batch(&self, records: &[&SinkRecord]) -> Result<(), SinkError> {
        let mut pending: Vec<PutEventsRequestEntry> = records
            .iter()
            .map(|r| self.entry(r))
            .collect::<Result<_, _>>()?;
        for attempt in 1..=3u32 {
            let out = self
                .client
                .put_events()
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|e| SinkError::Transient {
                    message: "EventBridge PutEvents failed".into(),
                    source: Some(Box::new(e)),
                })?;
            if out.failed_entry_count == 0 {
                return Ok(());
            }
            let results = out.entries.unwrap_or_default();
            let mut retry = Vec::new();
            let mut last_error = String::new();
            for (entry, result) in pending.iter().zip(results.iter()) {
                if let Some(code) = result.error_code() {
                    last_error = format!("{code}: {}", result.error_message().unwrap_or_default());
                    retry.push(entry.clone());
                }
            }
            tracing::warn!(failed = retry.len(), attempt, error = %last_error, "PutEvents partially failed; retrying the failed entries");
            pending = retry;
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        Err(SinkError::transient(format!(
            "{} EventBridge entries still failing",
            pending.len()
        )))
    }
}

#[async_trait]
impl Sink for EventBridgeSink {
    fn name(&self) -> &str {
        "eventbridge"
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        self.put_batch(&[record]).await
    }
}
