//! The records of outbox stream batches the publisher gave up on — a port. On AWS the
//! publisher Lambda's on-failure destination (the OutboxFailures queue) holds one record
//! per batch; the embedded store's outboxes have no stream and so no such records.
//! Listing and clearing them are operator use cases ([`crate::usecase::operate`]).

use async_trait::async_trait;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::ports::StoreError;

/// One stream batch the publisher gave up on: which shard, which sequence range, when its
/// records arrived. Every field is what the record said, `None` where it said nothing
/// readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FailedBatch {
    pub shard: Option<String>,
    #[serde(rename = "start_sequence")]
    pub first_sequence: Option<String>,
    #[serde(rename = "end_sequence")]
    pub last_sequence: Option<String>,
    #[serde(rename = "batch_size")]
    pub size: Option<u64>,
    /// RFC 3339, as the record gave it.
    #[serde(rename = "first_record_at")]
    pub first_arrival: Option<String>,
    #[serde(rename = "last_record_at")]
    pub last_arrival: Option<String>,
}

impl FailedBatch {
    /// When the batch's last record arrived, if the record says so readably.
    pub fn last_record_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.last_arrival.as_deref()?, &Rfc3339).ok()
    }
}

/// One failure record taken for handling: hidden from other readers until it is released
/// or deleted through `handle`.
#[derive(Debug, Clone)]
pub struct TakenFailure {
    pub handle: String,
    pub batch: FailedBatch,
}

/// Where the failure records are kept.
#[async_trait]
pub trait OutboxFailures: Send + Sync {
    /// How many records there are (approximate, as the store counts).
    async fn count(&self) -> Result<u64, StoreError>;
    /// Up to `max` records, each once, hidden from other readers for a while.
    async fn take(&self, max: usize) -> Result<Vec<TakenFailure>, StoreError>;
    /// Make a taken record visible again at once.
    async fn release(&self, handle: &str) -> Result<(), StoreError>;
    /// Remove a taken record: its batch is dealt with.
    async fn delete(&self, handle: &str) -> Result<(), StoreError>;
}
