//! A sink that publishes each record to an EventBridge bus: `source = inlet.<provider>`,
//! `detail-type` = the event type, `detail` = the record (see `docs/aws-reference.md`
//! for the shape a consumer receives).
//!
//! Requests respect PutEvents' documented limits (checked 2026-11-28):
//! - at most [`MAX_ENTRIES`] entries per request
//!   (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>);
//! - at most [`MAX_REQUEST_BYTES`] of entries per request, each entry's size computed as
//!   AWS documents it ([`entry_size`],
//!   <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>).
//!
//! Records are packed in order into as few requests as those limits allow, and the requests
//! of one batch go out concurrently. A record whose entry alone is over the limit is stored
//! in S3 ([`LargeEvents`]) and published with `payload: null` and a `payload_ref` to the
//! object; without a payload bucket it fails permanently, alone — its neighbours are
//! published. Entries that fail inside a PutEvents are retried (only those); what still
//! fails is reported to its own record with the service's error code and message.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use futures::future::join_all;
use tokio::sync::{oneshot, Mutex};

use inlet_core::envelope::SinkRecord;
use inlet_core::ports::{Sink, SinkError};

use crate::error::Describe;
use crate::large_events::LargeEvents;

/// PutEvents' limit on entries per request.
pub const MAX_ENTRIES: usize = 10;
/// PutEvents' limit on the total size of a request's entries (256 KB), per [`entry_size`].
pub const MAX_REQUEST_BYTES: usize = 262_144;
/// How long a record waits for others to share its PutEvents ([`Sink::deliver`] only).
pub const DEFAULT_LINGER: Duration = Duration::from_millis(10);
/// Attempts at entries that fail inside a PutEvents (throttled, internal failure).
const ATTEMPTS: u32 = 3;

/// An entry's size as EventBridge counts it: `Time` 14 bytes if set, plus the UTF-8 bytes
/// of `Source`, `DetailType`, `Detail` and each of `Resources`.
pub fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let time = if entry.time().is_some() { 14 } else { 0 };
    time + entry.source().map_or(0, str::len)
        + entry.detail_type().map_or(0, str::len)
        + entry.detail().map_or(0, str::len)
        + entry.resources().iter().map(String::len).sum::<usize>()
}

/// Indexes of `sizes` packed in order into requests of at most [`MAX_ENTRIES`] entries and
/// [`MAX_REQUEST_BYTES`]. Every size must be at most `MAX_REQUEST_BYTES`.
pub fn pack(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut requests: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        match requests.last_mut() {
            Some(open) if open.len() < MAX_ENTRIES && bytes + size <= MAX_REQUEST_BYTES => {
                open.push(i);
                bytes += size;
            }
            _ => {
                requests.push(vec![i]);
                bytes = size;
            }
        }
    }
    requests
}

/// Why one entry was not published.
#[derive(Debug, Clone)]
struct Failure {
    message: String,
    permanent: bool,
    /// EventBridge refused for want of capacity (the account's PutEvents quota): the
    /// event is delayed, not failed.
    throttled: bool,
}

/// How long an event waits when EventBridge is still throttling after the retries here:
/// PutEvents quotas are per second, so a few seconds is plenty.
const THROTTLE_WAIT: Duration = Duration::from_secs(5);

impl From<Failure> for SinkError {
    fn from(f: Failure) -> Self {
        if f.permanent {
            SinkError::permanent(f.message)
        } else if f.throttled {
            SinkError::Throttled {
                message: f.message,
                retry_after: THROTTLE_WAIT,
            }
        } else {
            SinkError::transient(f.message)
        }
    }
}

/// Entry error codes that no retry can fix (the entry itself is wrong).
fn permanent_entry_code(code: &str) -> bool {
    matches!(
        code,
        "MalformedDetail"
            | "InvalidArgument"
            | "ValidationException"
            | "NotAuthorizedForSourceException"
    )
}

/// Where a waiting record hears how its entry fared.
type Reply = oneshot::Sender<Result<(), Failure>>;
/// Entries waiting for company: (entry, its size, its record's reply).
type Waiting = Vec<(PutEventsRequestEntry, usize, Reply)>;

pub struct EventBridgeSink {
    inner: Arc<Inner>,
    linger: Duration,
    large: Option<LargeEvents>,
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
            large: None,
        }
    }

    /// Publish events too large for EventBridge through `large` (an S3 bucket).
    pub fn with_large_events(mut self, large: LargeEvents) -> Self {
        self.large = Some(large);
        self
    }

    fn entry(&self, record: &SinkRecord, detail: String) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.inner.bus)
            .source(format!("inlet.{}", record.provider))
            .detail_type(
                record
                    .event_type
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            )
            .detail(detail)
            .build()
    }

    /// The entry for `record`, with its size; over the limit, its payload goes to S3 first.
    async fn sized_entry(
        &self,
        record: &SinkRecord,
    ) -> Result<(PutEventsRequestEntry, usize), SinkError> {
        let detail = serde_json::to_string(record)
            .map_err(|e| SinkError::permanent(format!("record does not serialize: {e}")))?;
        let entry = self.entry(record, detail);
        let size = entry_size(&entry);
        if size <= MAX_REQUEST_BYTES {
            return Ok((entry, size));
        }
        let Some(large) = &self.large else {
            return Err(SinkError::permanent(format!(
                "the event is {size} bytes as an EventBridge entry, over PutEvents' \
                 {MAX_REQUEST_BYTES}-byte limit, and no payload bucket is configured \
                 (INLET_PAYLOAD_BUCKET or the sink's payload_bucket)"
            )));
        };
        let full = entry.detail().unwrap_or_default();
        let reference = large.store(full).await?;
        let mut detail = serde_json::to_value(record)
            .map_err(|e| SinkError::permanent(format!("record does not serialize: {e}")))?;
        detail["payload"] = serde_json::Value::Null;
        detail["payload_ref"] = serde_json::to_value(&reference)
            .map_err(|e| SinkError::permanent(format!("reference does not serialize: {e}")))?;
        let entry = self.entry(record, detail.to_string());
        let size = entry_size(&entry);
        if size > MAX_REQUEST_BYTES {
            // Only the record's metadata is left: a key or type this long is not an event.
            return Err(SinkError::permanent(format!(
                "the event's reference entry is still {size} bytes, over PutEvents' limit"
            )));
        }
        Ok((entry, size))
    }
}

impl Inner {
    /// One PutEvents for `entries`, retrying only failed entries; a result per entry.
    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Vec<Result<(), Failure>> {
        let mut results: Vec<Result<(), Failure>> = (0..entries.len())
            .map(|_| {
                Err(Failure {
                    message: "not sent".into(),
                    permanent: false,
                    throttled: false,
                })
            })
            .collect();
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        for attempt in 1..=ATTEMPTS {
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
                    let message = format!("EventBridge PutEvents failed: {}", e.describe());
                    tracing::warn!(attempt, error = %message, "PutEvents failed");
                    let throttled = e.throttled();
                    for &i in &pending {
                        results[i] = Err(Failure {
                            message: message.clone(),
                            permanent: false,
                            throttled,
                        });
                    }
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                    continue;
                }
            };
            let answers = out.entries.unwrap_or_default();
            let mut still = Vec::new();
            for (pos, &i) in pending.iter().enumerate() {
                let Some(answer) = answers.get(pos) else {
                    results[i] = Err(Failure {
                        message: "EventBridge returned no result for the entry".into(),
                        permanent: false,
                        throttled: false,
                    });
                    still.push(i);
                    continue;
                };
                match answer.error_code() {
                    None => results[i] = Ok(()),
                    Some(code) => {
                        let permanent = permanent_entry_code(code);
                        results[i] = Err(Failure {
                            message: format!(
                                "EventBridge entry failed: {code}: {}",
                                answer.error_message().unwrap_or("(no message)")
                            ),
                            permanent,
                            throttled: crate::error::is_throttling_code(Some(code)),
                        });
                        if !permanent {
                            still.push(i);
                        }
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
            if attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        results
    }

    /// `entries` (each with its size) in as few requests as the limits allow, sent
    /// concurrently; a result per entry, in order.
    async fn put_packed(
        &self,
        entries: Vec<(PutEventsRequestEntry, usize)>,
    ) -> Vec<Result<(), Failure>> {
        let sizes: Vec<usize> = entries.iter().map(|(_, size)| *size).collect();
        let mut slots: Vec<Option<PutEventsRequestEntry>> =
            entries.into_iter().map(|(e, _)| Some(e)).collect();
        let requests = pack(&sizes);
        let sent = join_all(requests.iter().map(|members| {
            let batch: Vec<PutEventsRequestEntry> =
                members.iter().filter_map(|&m| slots[m].take()).collect();
            self.put(batch)
        }))
        .await;
        let mut results: Vec<Result<(), Failure>> = (0..sizes.len())
            .map(|_| {
                Err(Failure {
                    message: "no result for the entry".into(),
                    permanent: false,
                    throttled: false,
                })
            })
            .collect();
        for (members, answers) in requests.iter().zip(sent) {
            for (&m, answer) in members.iter().zip(answers) {
                results[m] = answer;
            }
        }
        results
    }

    /// Send everything waiting and answer each waiter.
    async fn flush(&self) {
        let waiting: Waiting = std::mem::take(&mut *self.waiting.lock().await);
        if waiting.is_empty() {
            return;
        }
        let (entries, replies): (Vec<_>, Vec<Reply>) = waiting
            .into_iter()
            .map(|(entry, size, tx)| ((entry, size), tx))
            .unzip();
        for (tx, result) in replies.into_iter().zip(self.put_packed(entries).await) {
            let _ = tx.send(result);
        }
    }
}

#[async_trait]
impl Sink for EventBridgeSink {
    fn name(&self) -> &str {
        "eventbridge"
    }

    /// As few PutEvents as the limits allow, sent concurrently; only failed entries retried.
    async fn deliver_batch(&self, records: &[&SinkRecord]) -> Vec<Result<(), SinkError>> {
        let built = join_all(records.iter().map(|r| self.sized_entry(r))).await;
        let mut out: Vec<Option<Result<(), SinkError>>> = Vec::with_capacity(records.len());
        let mut slots = Vec::new();
        let mut entries = Vec::new();
        for (i, b) in built.into_iter().enumerate() {
            match b {
                Ok(entry) => {
                    slots.push(i);
                    entries.push(entry);
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        for (slot, result) in slots.into_iter().zip(self.inner.put_packed(entries).await) {
            out[slot] = Some(result.map_err(SinkError::from));
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(SinkError::transient("no result for the entry"))))
            .collect()
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let (entry, size) = self.sized_entry(record).await?;
        let (tx, rx) = oneshot::channel();
        let full = {
            let mut w = self.inner.waiting.lock().await;
            w.push((entry, size, tx));
            w.len() >= MAX_ENTRIES
                || w.iter().map(|(_, size, _)| *size).sum::<usize>() > MAX_REQUEST_BYTES
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
            Ok(result) => result.map_err(SinkError::from),
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

/// The configured sinks on AWS: `eventbridge` sinks publish to their bus, or to the
/// stack's (`INLET_EVENT_BUS`), with events too large for EventBridge stored in their
/// `payload_bucket` or the stack's (`INLET_PAYLOAD_BUCKET`); every other kind comes from
/// `inlet-sinks`.
pub fn build_sinks(
    configs: &[inlet_core::config::SinkConfig],
    sdk: &aws_config::SdkConfig,
    stack: &crate::runtime::Resources,
    connections: &[inlet_core::connection::ConnectionConfig],
    connection_store: Option<&Arc<dyn inlet_core::connection::ConnectionStore>>,
) -> Result<Vec<Arc<dyn Sink>>, SinkError> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for c in configs {
        match c {
            inlet_core::config::SinkConfig::Eventbridge {
                bus,
                payload_bucket,
            } => {
                let bus = bus
                    .as_deref()
                    .or(stack.event_bus.as_deref())
                    .ok_or_else(|| {
                        SinkError::permanent("the eventbridge sink needs `bus` or INLET_EVENT_BUS")
                    })?;
                let mut sink = EventBridgeSink::new(Client::new(sdk), bus);
                if let Some(bucket) = payload_bucket
                    .as_deref()
                    .or(stack.payload_bucket.as_deref())
                {
                    sink = sink.with_large_events(LargeEvents::new(
                        crate::large_events::s3_client(sdk),
                        bucket,
                    ));
                }
                sinks.push(Arc::new(sink));
            }
            other => sinks.extend(inlet_sinks::build_with(
                std::slice::from_ref(other),
                connections,
                connection_store,
            )?),
        }
    }
    Ok(sinks)
}
