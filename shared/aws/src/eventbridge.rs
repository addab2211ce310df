//! A sink that publishes each record to an EventBridge bus: `source = inlet.<provider>`,
//! `detail-type` = the event type, `detail` = the record.
//!
//! Records delivered at about the same time (a worker batch runs its groups concurrently)
//! are gathered into one `PutEvents` of up to ten entries: each `deliver` waits at most
//! `linger` for company. Entries that fail inside a `PutEvents` are retried (only those);
//! whatever still fails is reported to its own record as a transient error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use tokio::sync::{oneshot, Mutex};

use inlet_core::envelope::SinkRecord;
use inlet_core::ports::{Sink, SinkError};

/// EventBridge's limit on entries per PutEvents.
pub const MAX_BATCH: usize = 10;
/// How long a record waits for others to share its PutEvents.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(10);

type Waiting = Vec<(PutEventsRequestEntry, oneshot::Sender<Result<(), String>>)>;

pub struct EventBridgeSink {
    inner: Arc<Inner>,
    linger: Duration,
}

struct Inner {
    client: Client,
    bus: String,
    waiting: Mutex<Waiting>,
}

impl EventBridgeSink {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self::with_linger(client, bus, DEFAULT_LINGER)
    }

    pub fn with_linger(client: Client, bus: impl Into<String>, linger: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                bus: bus.into(),
                waiting: Mutex::new(Vec::new()),
            }),
            linger,
        }
    }

    fn entry(&self, record: &SinkRecord) -> Result<PutEventsRequestEntry, SinkError> {
        let detail = serde_json::to_string(record)
            .map_err(|e| SinkError::permanent(format!("record does not serialize: {e}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.inner.bus)
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
}

impl Inner {
    /// One PutEvents for `entries`, retrying only failed entries; a result per entry.
    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Vec<Result<(), String>> {
        let mut results: Vec<Result<(), String>> = vec![Err("not sent".into()); entries.len()];
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        for attempt in 1..=3u32 {
            let batch: Vec<PutEventsRequestEntry> =
                pending.iter().map(|&i| entries[i].clone()).collect();
            let out = match self
                .client
                .put_events()
                .set_entries(Some(batch))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let msg = format!("EventBridge PutEvents failed: {e}");
                    for &i in &pending {
                        results[i] = Err(msg.clone());
                    }
                    tracing::warn!(attempt, error = %e, "PutEvents failed");
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    continue;
                }
            };
            let answers = out.entries.unwrap_or_default();
            let mut still = Vec::new();
            for (pos, &i) in pending.iter().enumerate() {
                match answers.get(pos).and_then(|a| a.error_code()) {
                    None if answers.get(pos).is_some() => results[i] = Ok(()),
                    code => {
                        let msg = answers
                            .get(pos)
                            .and_then(|a| a.error_message())
                            .unwrap_or_default();
                        results[i] = Err(format!(
                            "EventBridge entry failed: {} {msg}",
                            code.unwrap_or("missing result")
                        ));
                        still.push(i);
                    }
                }
            }
            if still.is_empty() {
                break;
            }
            tracing::warn!(
                failed = still.len(),
                attempt,
                "PutEvents partially failed; retrying the failed entries"
            );
            pending = still;
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        results
    }

    /// Send whatever is waiting (up to ten) and answer each waiter.
    async fn flush(&self) {
        let batch: Waiting = {
            let mut w = self.waiting.lock().await;
            let n = w.len().min(MAX_BATCH);
            w.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let (entries, senders): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        for (tx, result) in senders.into_iter().zip(self.put(entries).await) {
            let _ = tx.send(result);
        }
    }
}

#[async_trait]
impl Sink for EventBridgeSink {
    fn name(&self) -> &str {
        "eventbridge"
    }

    /// Ten records per `PutEvents`, only failed entries retried.
    async fn deliver_batch(&self, records: &[&SinkRecord]) -> Vec<Result<(), SinkError>> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            let mut slots = Vec::with_capacity(chunk.len());
            for r in chunk {
                match self.entry(r) {
                    Ok(e) => {
                        slots.push(Ok(entries.len()));
                        entries.push(e);
                    }
                    Err(e) => slots.push(Err(e)),
                }
            }
            let results = self.inner.put(entries).await;
            for slot in slots {
                out.push(match slot {
                    Ok(i) => match results.get(i) {
                        Some(Ok(())) => Ok(()),
                        Some(Err(e)) => Err(SinkError::transient(e.clone())),
                        None => Err(SinkError::transient("no result for the entry")),
                    },
                    Err(e) => Err(e),
                });
            }
        }
        out
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let entry = self.entry(record)?;
        let (tx, rx) = oneshot::channel();
        let full = {
            let mut w = self.inner.waiting.lock().await;
            w.push((entry, tx));
            w.len() >= MAX_BATCH
        };
        if full {
            self.inner.flush().await;
        } else {
            let inner = Arc::clone(&self.inner);
            let linger = self.linger;
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                inner.flush().await;
            });
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SinkError::transient(e)),
            Err(_) => Err(SinkError::transient("EventBridge batch was dropped")),
        }
    }
}

/// Replay the archive's events from `from` to `to` onto `bus` (by name); returns the
/// replay's name.
pub async fn start_replay(
    client: &Client,
    archive_arn: &str,
    bus: &str,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<String, inlet_core::ports::StoreError> {
    use aws_sdk_eventbridge::primitives::DateTime;
    use aws_sdk_eventbridge::types::ReplayDestination;
    let bus_arn = client
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .map_err(crate::unavailable("EventBridge DescribeEventBus failed"))?
        .arn
        .ok_or_else(|| {
            inlet_core::ports::StoreError::Invalid(format!("event bus {bus} has no ARN"))
        })?;
    let name = format!("inlet-replay-{}", to.unix_timestamp());
    let destination = ReplayDestination::builder()
        .arn(bus_arn)
        .build()
        .map_err(|e| inlet_core::ports::StoreError::Invalid(e.to_string()))?;
    client
        .start_replay()
        .replay_name(&name)
        .event_source_arn(archive_arn)
        .event_start_time(DateTime::from_secs(from.unix_timestamp()))
        .event_end_time(DateTime::from_secs(to.unix_timestamp()))
        .destination(destination)
        .send()
        .await
        .map_err(crate::unavailable("EventBridge StartReplay failed"))?;
    Ok(name)
}

/// The configured sinks on AWS: `eventbridge` sinks publish to their bus, or to
/// `stack_bus` (the stack's `INLET_EVENT_BUS`); every other kind comes from `inlet-sinks`.
pub fn build_sinks(
    configs: &[inlet_core::config::SinkConfig],
    sdk: &aws_config::SdkConfig,
    stack_bus: Option<&str>,
) -> Result<Vec<Arc<dyn Sink>>, SinkError> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for c in configs {
        match c {
            inlet_core::config::SinkConfig::Eventbridge { bus } => {
                let bus = bus.as_deref().or(stack_bus).ok_or_else(|| {
                    SinkError::permanent("the eventbridge sink needs `bus` or INLET_EVENT_BUS")
                })?;
                sinks.push(Arc::new(EventBridgeSink::new(Client::new(sdk), bus)));
            }
            other => sinks.extend(inlet_sinks::build(std::slice::from_ref(other))?),
        }
    }
    Ok(sinks)
}
