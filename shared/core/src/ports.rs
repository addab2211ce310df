//! Ports: the small traits adapters implement (SQLite locally, SQS/DynamoDB on AWS).
//! Outcomes that are normal in a distributed system (a duplicate claim, a stale version)
//! are domain values, not errors.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::conflict::{EntityState, RuleKind, Stamp};
use crate::envelope::{Envelope, SinkRecord};
use crate::history::{EventFilter, EventPage, EventRecord, HistoryEntry};
use crate::ids::EventKey;
use crate::shape::{Finding, Shape};
use crate::BoxError;

/// A store or queue could not do what was asked. Both variants keep their source.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Try again later (I/O, busy, throttled, unreachable).
    #[error("store unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The store refused for want of capacity (a throttle, a partition's or the
    /// account's throughput): the request was not carried out and is fine as it is. Not a
    /// failure of the event — the worker waits it out without counting an attempt.
    #[error("store throttled: {message}")]
    Throttled {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The request itself is wrong (unknown receipt, invalid data); retrying will not help.
    #[error("store rejected the request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// A throttle: wait and try again; see [`StoreError::Throttled`].
    pub fn is_throttle(&self) -> bool {
        matches!(self, StoreError::Throttled { .. })
    }

    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A failure worth retrying: [`StoreError::Throttled`] when the store refused for want
    /// of capacity, else [`StoreError::Unavailable`].
    pub fn retryable(
        message: impl Into<String>,
        throttled: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        let (message, source) = (message.into(), Some(source.into()));
        if throttled {
            StoreError::Throttled { message, source }
        } else {
            StoreError::Unavailable { message, source }
        }
    }
}

/// An opaque handle for one receive of one message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// A received message. `envelope` is `Err` for a body that does not decode (a poison
/// message), which the worker dead-letters instead of failing the batch.
#[derive(Debug)]
pub struct Received {
    pub receipt: Receipt,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
    pub envelope: Result<Envelope, String>,
}

/// The work queue (SQS semantics).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueue durably: returns `Ok` only once the message survives a crash.
    async fn send(&self, envelope: &Envelope) -> Result<(), StoreError>;

    /// Up to `max` visible messages, each hidden for `visibility` and its receive count
    /// incremented. Messages whose receive count would pass the queue's maximum are moved
    /// to the dead-letter queue instead of being returned. Messages of one entity are
    /// returned one at a time, oldest first, where the queue orders by entity.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, StoreError>;

    /// Delete a message that was handled. Idempotent.
    async fn ack(&self, receipt: &Receipt) -> Result<(), StoreError>;

    /// Acknowledge several messages; a result per receipt, in order. The default acks them
    /// concurrently; a store that can (the embedded one) does it in one transaction.
    async fn ack_many(&self, receipts: &[&Receipt]) -> Vec<Result<(), StoreError>> {
        futures::future::join_all(receipts.iter().map(|r| self.ack(r))).await
    }

    /// Make the message visible again after `delay`, remembering `reason` as its last error.
    async fn retry_later(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Move the message to the dead-letter queue now, with `reason`.
    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), StoreError>;

    /// Make the message visible again after `delay` *without* counting this receive
    /// towards the queue's maximum: the event did not fail, a store or a destination asked
    /// to slow down. The default is [`Queue::retry_later`] (the receive counts), for a
    /// queue that cannot do better.
    async fn defer(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.retry_later(receipt, delay, reason).await
    }
}

/// A dead-lettered message, as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub key: Option<String>,
    pub reason: Option<String>,
    pub receive_count: u32,
    pub dead_at: OffsetDateTime,
}

/// Which dead letters to redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveSelector {
    All,
    Key(String),
}

/// Operator access to the dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Move matching dead letters back to the work queue with a fresh receive count.
    /// Returns how many moved. Atomic per message.
    async fn redrive(&self, which: &RedriveSelector) -> Result<usize, StoreError>;
}

/// The result of a conditional claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker now holds the key (IN_PROGRESS with a lease). `first`: the store knows
    /// no attempt at this key is on record (it had no entry, and releasing leaves one), so
    /// the event's history holds nothing yet and may be written whole, in a batch write. A
    /// store that cannot tell says `false`, which is always safe.
    Acquired { first: bool },
    /// The key was completed before. `same_payload` is false when the earlier event had a
    /// different body hash — flagged, because one id should not carry two payloads. An
    /// empty hash (a copy recovered from a provider API) matches any hash.
    Duplicate { same_payload: bool },
    /// Another worker holds an unexpired lease.
    InFlight { lease_until: OffsetDateTime },
}

/// How a completed key ended; recorded on the ledger entry as [`Completion::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Delivered,
    /// A newer version of the entity was already applied.
    Superseded,
    /// Another provider's change won by a conflict rule.
    SupersededBy(RuleKind),
    /// Held for an operator by a `manual-review` rule.
    Held,
}

impl Completion {
    pub fn as_str(self) -> &'static str {
        match self {
            Completion::Delivered => "delivered",
            Completion::Superseded => "superseded",
            Completion::SupersededBy(RuleKind::LastWriteWins) => "superseded by last-write-wins",
            Completion::SupersededBy(RuleKind::SourcePriority) => "superseded by source-priority",
            Completion::SupersededBy(RuleKind::ManualReview) => "superseded by manual-review",
            Completion::Held => "held for review (manual-review)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerState {
    InProgress {
        lease_until: OffsetDateTime,
    },
    Completed {
        outcome: String,
        expires_at: OffsetDateTime,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub key: String,
    pub payload_sha256: String,
    pub state: LedgerState,
}

/// The idempotency ledger (DynamoDB conditional-write semantics).
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Atomically claim `key`: succeeds when there is no entry, the entry's retention has
    /// expired, or an IN_PROGRESS lease has expired. One write; a duplicate costs no more.
    async fn claim(
        &self,
        key: &EventKey,
        payload_sha256: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError>;

    /// Claim several keys; a result per key, in order. The default claims them
    /// concurrently; a store that can (the embedded one) does it in one transaction.
    async fn claim_many(
        &self,
        claims: &[(&EventKey, &str)],
        now: OffsetDateTime,
        lease: Duration,
    ) -> Vec<Result<Claim, StoreError>> {
        futures::future::join_all(
            claims
                .iter()
                .map(|(key, hash)| self.claim(key, hash, now, lease)),
        )
        .await
    }

    /// Mark a claimed key COMPLETED, kept for `retention`. Idempotent.
    async fn complete(
        &self,
        key: &EventKey,
        outcome: Completion,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError>;

    /// Complete several claimed keys, each with the payload hash its claim recorded; a
    /// result per key, in order. The default writes them concurrently; a store that can
    /// does better (the embedded one in one transaction, DynamoDB in one batch write).
    async fn complete_many(
        &self,
        completions: &[(&EventKey, &str, Completion)],
        now: OffsetDateTime,
        retention: Duration,
    ) -> Vec<Result<(), StoreError>> {
        futures::future::join_all(
            completions
                .iter()
                .map(|(key, _, how)| self.complete(key, *how, now, retention)),
        )
        .await
    }

    /// Whether [`Ledger::claim`] itself counts a duplicate copy on the entry, for the event
    /// history to read, so the worker writes nothing more for a duplicate (DynamoDB: the
    /// claim is the one write a duplicate costs).
    fn counts_duplicates(&self) -> bool {
        false
    }

    /// Drop an IN_PROGRESS claim so a retry can claim at once. Never removes a COMPLETED
    /// entry. A store whose claims say `first` keeps a released mark until `now + retention`
    /// (as long as the history of the attempt that released it), so a later claim of the
    /// key is not taken for the first.
    async fn release(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError>;

    /// The live entry for `key`, if any (expired entries read as absent).
    async fn lookup(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, StoreError>;
}

/// The result of an entity-version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    /// This version is the newest seen (or equal to it); state may be written.
    Current,
    /// A newer version was already applied.
    Stale { current: i64 },
}

/// Per-entity versions, so a stale event never overwrites newer state.
#[async_trait]
pub trait EntityVersions: Send + Sync {
    /// Atomically record `version` for `entity` unless a newer one is recorded.
    async fn advance(&self, entity: &str, version: i64) -> Result<VersionCheck, StoreError>;

    /// Advance several entities; a result per pair, in order — two versions of one entity
    /// are applied one after the other. The default runs distinct entities concurrently;
    /// a store that can (the embedded one) does it in one transaction.
    async fn advance_many(
        &self,
        versions: &[(&str, i64)],
    ) -> Vec<Result<VersionCheck, StoreError>> {
        let entities: Vec<&str> = versions.iter().map(|(e, _)| *e).collect();
        let groups = group_by_entity(&entities);
        let mut results: Vec<(usize, Result<VersionCheck, StoreError>)> =
            futures::future::join_all(groups.iter().map(|members| async move {
                let mut out = Vec::with_capacity(members.len());
                for &i in members {
                    out.push((i, self.advance(versions[i].0, versions[i].1).await));
                }
                out
            }))
            .await
            .into_iter()
            .flatten()
            .collect();
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
}

/// The indices of `entities` grouped by entity, each group in order: what may run
/// concurrently (distinct entities) and what must run one after the other (one entity).
pub fn group_by_entity(entities: &[&str]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, entity) in entities.iter().enumerate() {
        match groups.iter_mut().find(|g| entities[g[0]] == *entity) {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Pending,
    /// An operator released it: applied and delivered (as a replay).
    Released,
    /// An operator discarded it: never delivered.
    Discarded,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Released => "released",
            ReviewStatus::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ReviewStatus::Pending,
            ReviewStatus::Released,
            ReviewStatus::Discarded,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A change held for an operator by a conflict rule, with both versions: the held event
/// and the applied change it conflicts with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Review {
    pub key: String,
    pub entity: String,
    pub rule: RuleKind,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub held_at: OffsetDateTime,
    /// The applied change the held one conflicts with, on `field` (`None`: the whole
    /// entity).
    pub against: Stamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The held event, as it would be delivered.
    pub envelope: Envelope,
    pub status: ReviewStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

/// Conflict-rule state per entity (compare-and-set) and the review queue.
#[async_trait]
pub trait ConflictStore: Send + Sync {
    /// The entity's recorded state and its revision (0 when none is recorded).
    async fn load_entity(&self, entity: &str) -> Result<(EntityState, u64), StoreError>;

    /// Record `state` as revision `expected + 1` if the entity is still at revision
    /// `expected`; `false` when another writer changed it first.
    async fn save_entity(
        &self,
        entity: &str,
        state: &EntityState,
        expected: u64,
    ) -> Result<bool, StoreError>;

    /// Put a held change in the review queue (again, if it is there: idempotent by key).
    async fn hold(&self, review: &Review) -> Result<(), StoreError>;

    /// Pending reviews, oldest first.
    async fn pending_reviews(&self, limit: usize) -> Result<Vec<Review>, StoreError>;

    /// One review, whatever its status (closed ones are kept for the retention period).
    async fn review(&self, key: &str) -> Result<Option<Review>, StoreError>;

    /// Close a pending review; `false` when it is not pending (already closed).
    async fn close_review(
        &self,
        key: &str,
        status: ReviewStatus,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Event history (see [`crate::history`]).
#[async_trait]
pub trait History: Send + Sync {
    /// Add each entry's attempt to its event's record (creating it), in one call; entries
    /// of one key apply in order.
    async fn record(&self, entries: &[HistoryEntry<'_>]) -> Result<(), StoreError>;

    /// One event's record (expired records read as absent).
    async fn event(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<EventRecord>, StoreError>;

    /// Events matching `filter`, newest first, at most `limit`, starting after the
    /// cursor `after` of a previous page.
    async fn events(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<EventPage, StoreError>;
}

/// Reconciliation cursors.
#[async_trait]
pub trait Cursors: Send + Sync {
    async fn load(&self, source: &str) -> Result<Option<String>, StoreError>;
    /// Persist durably; called only after the page the cursor ends is handled.
    async fn save(&self, source: &str, cursor: &str) -> Result<(), StoreError>;
}

/// Learned payload shapes and their drift findings (see [`crate::shape`]).
#[async_trait]
pub trait Shapes: Send + Sync {
    /// Every provider's event types and what was learned of each.
    async fn load_shapes(&self) -> Result<Vec<StoredShape>, StoreError>;

    /// Add `learned` to the stored shape of `provider`'s `event_type` (creating it) and
    /// return the sum: what every worker has learned so far.
    async fn merge_shape(
        &self,
        provider: &str,
        event_type: &str,
        learned: &Shape,
    ) -> Result<Shape, StoreError>;

    /// Record findings not recorded before (by id); `true` for each that is new.
    async fn add_findings(&self, findings: &[Finding]) -> Result<Vec<bool>, StoreError>;

    /// Findings, newest first: the open ones, or all of them.
    async fn findings(
        &self,
        include_accepted: bool,
        limit: usize,
    ) -> Result<Vec<Finding>, StoreError>;

    /// Accept an open finding and take it into its shape (see [`Shape::accept`]): `None`
    /// when there is no such finding, else the finding as it now stands (already accepted
    /// ones are returned unchanged).
    async fn accept_finding(
        &self,
        id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Finding>, StoreError>;
}

/// One provider event type's learned shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShape {
    pub provider: String,
    pub event_type: String,
    pub shape: Shape,
}

/// Why a sink did not take a record.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Timeouts, 5xx, 408, 429, I/O: retry with backoff.
    #[error("transient: {message}")]
    Transient {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The destination asked us to slow down (429/503 with `Retry-After`, or the sink's
    /// own rate is spent): try again after `retry_after`, a delay, not a failure.
    #[error("throttled: {message}")]
    Throttled {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A 4xx other than 408/429, a record the sink can never accept: dead-letter.
    #[error("permanent: {message}")]
    Permanent {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl SinkError {
    pub fn transient(message: impl Into<String>) -> Self {
        SinkError::Transient {
            message: message.into(),
            source: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SinkError::Permanent {
            message: message.into(),
            source: None,
        }
    }
}

/// Where processed events go. The record's `key` is the idempotency key: a sink that can
/// dedupe (an HTTP API with `Idempotency-Key`) should.
#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError>;

    /// Deliver several records; one result per record, in order. The default delivers them
    /// concurrently; a sink with a batch API (EventBridge) overrides it.
    async fn deliver_batch(&self, records: &[&SinkRecord]) -> Vec<Result<(), SinkError>> {
        futures::future::join_all(records.iter().map(|r| self.deliver(r))).await
    }
}

/// HTTPS GETs the webhook makes on a provider's behalf: its signing certificate (cached by
/// the adapter) and the URL that confirms a subscription. Callers pass only URLs already
/// checked against the provider's own hosts (`signature::certificate_url`).
#[async_trait]
pub trait ProviderHttp: Send + Sync {
    /// The PEM certificate at `url`.
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String>;
    /// GET `url` and succeed on a 2xx.
    async fn visit(&self, url: &str) -> Result<(), String>;
    /// The object at `url` from a provider's API (JSON), with `token` as a bearer token;
    /// `None` when the provider says there is no such object (404).
    async fn fetch_object(
        &self,
        url: &str,
        token: Option<&crate::secret::Secret>,
    ) -> Result<Option<Vec<u8>>, String>;
}
