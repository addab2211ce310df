//! The work queue on SQS (standard or FIFO), and its dead-letter queue.
//!
//! SQS's redrive policy moves a message to the DLQ after `maxReceiveCount` receives; a
//! permanent failure is moved explicitly (sent to the DLQ with the reason as a message
//! attribute, then deleted). Retries change the visibility timeout (the worker's backoff).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};

use inlet_core::envelope::Envelope;
use inlet_core::ports::{
    DeadLetter, DeadLetters, Queue, Receipt, Received, RedriveSelector, StoreError,
};

use crate::claim_check::{pointer_of, ClaimCheck, THRESHOLD};
use crate::unavailable;

/// The largest message the stack's queues take: 256 KiB, body plus message attributes
/// (each attribute's name, data type and value), SQS's default `MaximumMessageSize`,
/// which the template keeps. SQS allows raising a queue's limit to 1 MiB (since 2025-08),
/// but the worker's event source mapping hands up to ten records to one invocation, and
/// Lambda's synchronous payload limit is 6 MB: ten 1 MiB records would not fit.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>,
/// <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html> (checked 2026-11-28).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// The reason a message was dead-lettered, as a message attribute.
pub const REASON_ATTRIBUTE: &str = "inlet_dead_reason";
pub const KEY_ATTRIBUTE: &str = "inlet_key";

#[derive(Debug, Clone)]
pub struct SqsQueueConfig {
    pub queue_url: String,
    pub dlq_url: String,
    /// Long-poll wait for receives (0 in tests, up to 20).
    pub wait_secs: i32,
}

pub struct SqsQueue {
    client: Client,
    config: SqsQueueConfig,
    fifo: bool,
    claim_check: Option<ClaimCheck>,
    /// Bodies of messages received by this process, so a dead letter can be re-sent; each
    /// with when it was received. Bounded: see [`IN_FLIGHT_MAX`].
    in_flight: Mutex<HashMap<String, InFlight>>,
}

/// A received message's body and key, kept until it is settled.
struct InFlight {
    body: String,
    key: Option<String>,
    at: std::time::Instant,
}

/// Messages remembered at most. A message received and never settled here (its handler
/// gave up, another process settled it after its visibility timeout) would otherwise stay
/// for the life of a long-running receive loop; past this, the oldest are dropped first.
/// A receipt handle is no use after its visibility timeout anyway, at most 12 hours
/// (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
/// sqs-visibility-timeout.html, read 2026-12-06), so older entries go whatever the count.
pub const IN_FLIGHT_MAX: usize = 10_000;
const IN_FLIGHT_MAX_AGE: Duration = Duration::from_secs(12 * 3600);

fn attr(value: &str) -> Result<MessageAttributeValue, StoreError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

impl SqsQueue {
    pub fn new(client: Client, config: SqsQueueConfig) -> Self {
        let fifo = config.queue_url.ends_with(".fifo");
        Self {
            client,
            config,
            fifo,
            claim_check: None,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Route bodies too large for SQS through a claim check.
    pub fn with_claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// The real body of a received message: a claim-check pointer is resolved. An error
    /// is retryable (the message stays on the queue).
    pub async fn resolve<'b>(&self, body: &'b str) -> Result<Cow<'b, str>, StoreError> {
        match (pointer_of(body), &self.claim_check) {
            (Some(Err(reason)), _) => Err(StoreError::Invalid(reason)),
            (Some(Ok(p)), Some(cc)) => cc.load(&p).await.map(Cow::Owned),
            (Some(Ok(p)), None) => Err(StoreError::Invalid(format!(
                "claim check {} but no claim-check store configured",
                p.id
            ))),
            (None, _) => Ok(Cow::Borrowed(body)),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn remember(&self, receipt: &str, body: String, key: Option<String>) {
        if let Ok(mut m) = self.in_flight.lock() {
            if m.len() >= IN_FLIGHT_MAX {
                m.retain(|_, e| e.at.elapsed() < IN_FLIGHT_MAX_AGE);
            }
            if m.len() >= IN_FLIGHT_MAX {
                // Still full of live entries: drop the oldest tenth in one pass.
                let mut ages: Vec<(std::time::Instant, String)> =
                    m.iter().map(|(r, e)| (e.at, r.clone())).collect();
                ages.sort_unstable();
                for (_, r) in ages.into_iter().take(IN_FLIGHT_MAX / 10) {
                    m.remove(&r);
                }
            }
            m.insert(
                receipt.to_string(),
                InFlight {
                    body,
                    key,
                    at: std::time::Instant::now(),
                },
            );
        }
    }

    fn forget(&self, receipt: &str) -> Option<(String, Option<String>)> {
        self.in_flight
            .lock()
            .ok()?
            .remove(receipt)
            .map(|e| (e.body, e.key))
    }

    /// How many received messages this process remembers (for tests and diagnostics).
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Send a raw body with attributes to `url`.
    async fn send_body(
        &self,
        url: &str,
        body: &str,
        key: Option<&str>,
        group: Option<&str>,
        extra: &[(&str, &str)],
        delay: Duration,
    ) -> Result<(), StoreError> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(StoreError::Invalid(format!(
                "message of {} bytes exceeds SQS's {MAX_MESSAGE_BYTES}-byte limit",
                body.len()
            )));
        }
        let mut req = self.client.send_message().queue_url(url).message_body(body);
        if delay.as_secs() > 0 {
            // Whole seconds; SQS's ceiling for a message timer is 15 minutes.
            req = req.delay_seconds(delay.as_secs().min(900) as i32);
        }
        if let Some(k) = key {
            req = req.message_attributes(KEY_ATTRIBUTE, attr(k)?);
        }
        for (name, value) in extra {
            req = req.message_attributes(*name, attr(value)?);
        }
        if url.ends_with(".fifo") {
            let dedup = hex::encode(Sha256::digest(key.unwrap_or(body).as_bytes()));
            req = req
                .message_group_id(group.or(key).unwrap_or("inlet"))
                .message_deduplication_id(dedup);
        }
        req.send()
            .await
            .map_err(unavailable("SQS SendMessage failed"))?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, envelope: &Envelope) -> Result<(), StoreError> {
        let mut body = envelope.to_json();
        if body.len() > THRESHOLD {
            if let Some(cc) = &self.claim_check {
                body = cc.store(&body).await?;
            }
        }
        let group = if self.fifo {
            envelope.entity.as_deref()
        } else {
            None
        };
        self.send_body(
            &self.config.queue_url,
            &body,
            Some(envelope.key.as_str()),
            group,
            &[
                ("inlet_provider", envelope.provider.as_str()),
                ("inlet_correlation_id", envelope.correlation_id.as_str()),
            ],
            Duration::ZERO,
        )
        .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility.as_secs().clamp(0, 43_200) as i32)
            .wait_time_seconds(self.config.wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable("SQS ReceiveMessage failed"))?;
        let mut received = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let Some(handle) = m.receipt_handle.clone() else {
                continue;
            };
            let raw = m.body.clone().unwrap_or_default();
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let key = m
                .message_attributes
                .as_ref()
                .and_then(|a| a.get(KEY_ATTRIBUTE))
                .and_then(|v| v.string_value.clone());
            let envelope = match self.resolve(&raw).await {
                Ok(body) => Envelope::decode(body.as_bytes()),
                // A pointer whose chunks are gone cannot get better: hand it over as
                // undecodable so the worker dead-letters it with the reason.
                Err(StoreError::Invalid(reason)) => Err(reason),
                // Not readable now: leave it; it reappears after its visibility timeout.
                Err(_) => continue,
            };
            // Dead letters re-send the small pointer, not the resolved body.
            self.remember(&handle, raw, key);
            received.push(Received {
                receipt: Receipt(handle),
                receive_count: count,
                envelope,
            });
        }
        Ok(received)
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), StoreError> {
        self.forget(&receipt.0);
        self.client
            .delete_message()
            .queue_url(&self.config.queue_url)
            .receipt_handle(&receipt.0)
            .send()
            .await
            .map_err(unavailable("SQS DeleteMessage failed"))?;
        Ok(())
    }

    async fn retry_later(
        &self,
        receipt: &Receipt,
        delay: Duration,
        _reason: &str,
    ) -> Result<(), StoreError> {
        // SQS cannot annotate a message; the reason is in the worker's logs and metrics.
        self.forget(&receipt.0);
        self.client
            .change_message_visibility()
            .queue_url(&self.config.queue_url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(delay.as_secs().clamp(0, 43_200) as i32)
            .send()
            .await
            .map_err(unavailable("SQS ChangeMessageVisibility failed"))?;
        Ok(())
    }

    async fn defer(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        let remembered = self
            .in_flight
            .lock()
            .ok()
            .and_then(|m| m.get(&receipt.0).map(|e| (e.body.clone(), e.key.clone())));
        let Some((body, key)) = remembered else {
            return self.retry_later(receipt, delay, reason).await;
        };
        if !self.requeue(&body, key.as_deref(), delay).await? {
            return self.retry_later(receipt, delay, reason).await;
        }
        // The copy is queued; a failed delete leaves both, and the ledger makes the
        // second a duplicate.
        self.ack(receipt).await
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), StoreError> {
        let (body, key) = self.forget(&receipt.0).ok_or_else(|| {
            StoreError::Invalid("dead_letter for a message this process did not receive".into())
        })?;
        let reason: String = reason.chars().take(1000).collect();
        self.send_body(
            &self.config.dlq_url,
            &body,
            key.as_deref(),
            key.as_deref(),
            &[(REASON_ATTRIBUTE, &reason)],
            Duration::ZERO,
        )
        .await?;
        self.client
            .delete_message()
            .queue_url(&self.config.queue_url)
            .receipt_handle(&receipt.0)
            .send()
            .await
            .map_err(unavailable("SQS DeleteMessage failed"))?;
        Ok(())
    }
}

#[async_trait]
impl DeadLetters for SqsQueue {
    /// Peek at the DLQ: messages are received with a zero visibility timeout and left in
    /// place (SQS has no browse).
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while out.len() < limit {
            let got = self
                .client
                .receive_message()
                .queue_url(&self.config.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(unavailable("SQS ReceiveMessage (DLQ) failed"))?;
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut fresh = 0;
            for m in messages {
                if !seen.insert(m.message_id.clone().unwrap_or_default()) {
                    continue;
                }
                fresh += 1;
                let attrs = m.message_attributes.unwrap_or_default();
                let sys = m.attributes.unwrap_or_default();
                let sent_ms = sys
                    .get(&MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse::<i64>().ok())
                    .unwrap_or(0);
                out.push(DeadLetter {
                    key: attrs
                        .get(KEY_ATTRIBUTE)
                        .and_then(|v| v.string_value.clone()),
                    reason: attrs
                        .get(REASON_ATTRIBUTE)
                        .and_then(|v| v.string_value.clone()),
                    receive_count: sys
                        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0),
                    dead_at: inlet_core::clock::from_unix_millis(sent_ms),
                });
            }
            if fresh == 0 {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Move dead letters back to the work queue. All: SQS's own message-move task with the
    /// work queue as its destination (see [`SqsQueue::move_all`]), falling back to
    /// receive/send/delete where that API is missing (emulators). By key: always
    /// receive/send/delete.
    async fn redrive(&self, which: &RedriveSelector) -> Result<usize, StoreError> {
        if *which == RedriveSelector::All {
            if let Some(moved) = self.move_all().await? {
                return Ok(moved);
            }
        }
        self.move_one_by_one(which).await
    }
}

/// How a message-move task ended (or stands, while it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MoveTask {
    handle: Option<String>,
    /// RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED.
    status: String,
    moved: u64,
    failure_reason: Option<String>,
}

/// How long `move_all` waits for a move task to finish, and how often it looks.
const MOVE_TASK_WAIT: Duration = Duration::from_secs(600);
const MOVE_TASK_POLL: Duration = Duration::from_millis(500);

impl SqsQueue {
    async fn queue_arn(&self, url: &str) -> Result<String, StoreError> {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(unavailable("SQS GetQueueAttributes failed"))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| StoreError::Invalid(format!("{url} has no QueueArn")))
    }

    /// The newest message-move task of the DLQ, if SQS has one to report.
    async fn latest_move_task(&self, dlq_arn: &str) -> Result<Option<MoveTask>, StoreError> {
        let out = self
            .client
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .max_results(1)
            .send()
            .await
            .map_err(unavailable("SQS ListMessageMoveTasks failed"))?;
        Ok(out
            .results
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|t| MoveTask {
                handle: t.task_handle,
                status: t.status.unwrap_or_default(),
                moved: u64::try_from(t.approximate_number_of_messages_moved).unwrap_or(0),
                failure_reason: t.failure_reason,
            }))
    }

    /// Redrive the whole DLQ with SQS's message-move task and wait for it to end.
    ///
    /// The destination is always the work queue, named explicitly: a task without one
    /// sends each message back to "its source queue", and messages the worker dead-letters
    /// itself (permanent failures, sent with SendMessage) have none, so such a task fails
    /// on them. A task already running (an earlier `redrive` that was interrupted, or one
    /// started from the console) is waited for instead of racing it with a second mover.
    /// `Ok(None)`: this SQS has no message-move API (emulators); move one by one.
    pub async fn move_all(&self) -> Result<Option<usize>, StoreError> {
        let dlq_arn = self.queue_arn(&self.config.dlq_url).await?;
        let running = match self.latest_move_task(&dlq_arn).await {
            Ok(task) => task.filter(|t| t.status == "RUNNING"),
            Err(e) => {
                tracing::info!(error = %e, "message-move tasks unavailable; moving messages one by one");
                return Ok(None);
            }
        };
        let handle = match running {
            Some(task) => {
                tracing::info!(task = ?task.handle, moved = task.moved, "a move task is already running; waiting for it");
                task.handle
            }
            None => {
                let queue_arn = self.queue_arn(&self.config.queue_url).await?;
                let started = self
                    .client
                    .start_message_move_task()
                    .source_arn(&dlq_arn)
                    .destination_arn(queue_arn)
                    .send()
                    .await
                    .map_err(unavailable("SQS StartMessageMoveTask failed"))?;
                started.task_handle
            }
        };
        let waited = std::time::Instant::now();
        loop {
            tokio::time::sleep(MOVE_TASK_POLL).await;
            let Some(task) = self.latest_move_task(&dlq_arn).await? else {
                return Err(StoreError::Invalid(
                    "the message-move task disappeared from ListMessageMoveTasks".into(),
                ));
            };
            if handle.is_some() && task.handle.is_some() && task.handle != handle {
                return Err(StoreError::Invalid(
                    "another message-move task replaced ours; see ListMessageMoveTasks".into(),
                ));
            }
            match task.status.as_str() {
                "COMPLETED" => return Ok(Some(usize::try_from(task.moved).unwrap_or(usize::MAX))),
                "FAILED" | "CANCELLED" => {
                    return Err(StoreError::Invalid(format!(
                        "the message-move task {} after moving {} message(s): {}",
                        task.status.to_lowercase(),
                        task.moved,
                        task.failure_reason.as_deref().unwrap_or("no reason given")
                    )))
                }
                _ if waited.elapsed() > MOVE_TASK_WAIT => {
                    return Err(StoreError::Unavailable {
                        message: format!(
                            "the message-move task is still {} after {}s ({} moved); it goes on in SQS — run the redrive again to keep waiting",
                            task.status,
                            MOVE_TASK_WAIT.as_secs(),
                            task.moved
                        ),
                        source: None,
                    })
                }
                _ => {}
            }
        }
    }

    /// Receive/send/delete, message by message. A message is deleted from the DLQ only
    /// after the work queue accepted its copy, so an interruption loses nothing; it can
    /// leave one extra copy of the message it was moving (sent, not yet deleted), which the
    /// ledger makes a duplicate, not a second delivery. Messages received but not moved
    /// when something fails are made visible again at once.
    async fn move_one_by_one(&self, which: &RedriveSelector) -> Result<usize, StoreError> {
        let mut moved = 0;
        let mut idle_rounds = 0;
        while idle_rounds < 2 {
            let got = self
                .client
                .receive_message()
                .queue_url(&self.config.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(unavailable("SQS ReceiveMessage (DLQ) failed"))?;
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                idle_rounds += 1;
                continue;
            }
            let mut matched_any = false;
            let mut pending: Vec<String> = messages
                .iter()
                .filter_map(|m| m.receipt_handle.clone())
                .collect();
            for m in messages {
                let handle = m.receipt_handle.clone().unwrap_or_default();
                let key = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(KEY_ATTRIBUTE))
                    .and_then(|v| v.string_value.clone());
                let wanted = match which {
                    RedriveSelector::All => true,
                    RedriveSelector::Key(k) => key.as_deref() == Some(k.as_str()),
                };
                if !wanted {
                    continue;
                }
                matched_any = true;
                let body = m.body.unwrap_or_default();
                let group = Envelope::from_json(body.as_bytes())
                    .ok()
                    .and_then(|e| e.entity);
                let result = async {
                    self.send_body(
                        &self.config.queue_url,
                        &body,
                        key.as_deref(),
                        group.as_deref(),
                        &[],
                        Duration::ZERO,
                    )
                    .await?;
                    self.client
                        .delete_message()
                        .queue_url(&self.config.dlq_url)
                        .receipt_handle(&handle)
                        .send()
                        .await
                        .map_err(unavailable("SQS DeleteMessage (DLQ) failed"))?;
                    Ok::<(), StoreError>(())
                }
                .await;
                if let Err(e) = result {
                    // This one too: if its copy reached the work queue, moving it again
                    // makes a second copy, which the ledger turns into a duplicate.
                    self.release_dlq_messages(&pending).await;
                    return Err(e);
                }
                pending.retain(|h| *h != handle);
                moved += 1;
            }
            // Leave what was not wanted (or not reached) for the next look.
            self.release_dlq_messages(&pending).await;
            if !matched_any {
                idle_rounds += 1;
            }
        }
        Ok(moved)
    }

    /// Best effort: make received DLQ messages visible again now.
    async fn release_dlq_messages(&self, handles: &[String]) {
        for handle in handles {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.config.dlq_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }
}

impl SqsQueue {
    /// Move a message a Lambda worker received to the DLQ with `reason` (the event source
    /// mapping deletes the original when the record is reported as a success).
    pub async fn send_to_dlq(
        &self,
        body: &str,
        key: Option<&str>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason: String = reason.chars().take(1000).collect();
        self.send_body(
            &self.config.dlq_url,
            body,
            key,
            key,
            &[(REASON_ATTRIBUTE, &reason)],
            Duration::ZERO,
        )
        .await
    }

    /// Put a received message back as a fresh copy, visible after `delay` (at most 15
    /// minutes, SQS's `DelaySeconds` ceiling), so a receive that was throttled does not
    /// count towards the redrive policy's `maxReceiveCount` (a copy starts at zero). The
    /// caller then deletes the original (a Lambda reports it a success). `Ok(false)` on a
    /// FIFO queue, which takes no per-message delay and would put the copy behind its
    /// group's later messages: there the caller changes the visibility instead (counted).
    /// (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
    /// sqs-message-timers.html, read 2026-12-06.)
    pub async fn requeue(
        &self,
        body: &str,
        key: Option<&str>,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        if self.fifo {
            return Ok(false);
        }
        self.send_body(&self.config.queue_url, body, key, None, &[], delay)
            .await?;
        Ok(true)
    }

    /// Hide a message for `delay` (the worker's backoff before the next attempt).
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.config.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.as_secs().clamp(0, 43_200) as i32)
            .send()
            .await
            .map_err(unavailable("SQS ChangeMessageVisibility failed"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> SqsQueue {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build();
        SqsQueue::new(
            Client::from_conf(conf),
            SqsQueueConfig {
                queue_url: "https://sqs.us-east-1.amazonaws.com/1/q".into(),
                dlq_url: "https://sqs.us-east-1.amazonaws.com/1/dlq".into(),
                wait_secs: 0,
            },
        )
    }

    /// A long-running receive loop whose messages are never settled here keeps at most
    /// `IN_FLIGHT_MAX` of them, dropping the oldest; the newest can still be dead-lettered.
    #[test]
    fn remembered_messages_are_bounded_oldest_first() {
        let q = queue();
        for i in 0..(IN_FLIGHT_MAX * 3) {
            q.remember(&format!("r{i}"), format!("body {i}"), None);
        }
        assert!(q.in_flight_len() <= IN_FLIGHT_MAX, "{}", q.in_flight_len());
        let newest = IN_FLIGHT_MAX * 3 - 1;
        assert_eq!(
            q.forget(&format!("r{newest}")).map(|(b, _)| b),
            Some(format!("body {newest}"))
        );
        assert_eq!(q.forget("r0"), None, "the oldest went first");
    }
}
