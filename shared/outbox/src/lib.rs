//! inlet-outbox: the transactional outbox, for the events your own code must tell other
//! systems about.
//!
//! "Update the database, then publish" loses the event whenever the process dies between
//! the two. Instead, stage the event in the **same transaction** as the business write:
//!
//! ```no_run
//! use inlet_outbox::{sqlite, OutboxEvent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut db = rusqlite::Connection::open("app.db")?;
//! sqlite::install(&db)?; // once: creates the `inlet_outbox` table
//! let tx = db.transaction()?;
//! tx.execute("UPDATE orders SET status = 'paid' WHERE id = ?1", ["ord_42"])?;
//! sqlite::stage(
//!     &tx,
//!     &OutboxEvent::new("order", "ord_42", "order.paid", serde_json::json!({"total": 1200})),
//! )?;
//! tx.commit()?; // both, or neither
//! # Ok(()) }
//! ```
//!
//! `inlet dev` (an `[[outboxes]]` entry in its config) drains the table into Inlet's queue
//! with [`publish_due`]: each event is enqueued under the key `{outbox}:{idempotency_key}`
//! *before* it is marked published, so a crash in between publishes it again and the
//! worker's ledger drops the copy — the sinks see it once, with the key as
//! `Idempotency-Key`.
//!
//! On AWS (feature `dynamodb`), [`dynamodb::stage`] gives the `TransactWriteItem` to add
//! to your own `TransactWriteItems` call: it writes the event into the Inlet stack's table,
//! whose stream feeds the publisher function, which enqueues it the same way.
//!
//! This crate is the piece applications import; it knows nothing of HTTP.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod publish;
pub mod sqlite;

pub use publish::{publish_due, PublishReport};

use serde::{Deserialize, Serialize};

/// One event to publish: what happened to which aggregate, and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Unique per event (a UUID unless you set one).
    pub id: String,
    /// The kind of thing that changed (`order`).
    pub aggregate_type: String,
    /// Which one (`ord_42`); events of one aggregate are published in the order staged.
    pub aggregate_id: String,
    /// What happened (`order.paid`).
    pub event_type: String,
    pub payload: serde_json::Value,
    /// Carried into logs and the sink record, so one request can be followed end to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// What consumers dedupe on; `{aggregate_type}:{aggregate_id}:{id}` unless set. Set it
    /// to a business key (`order.paid:ord_42`) to make staging the same fact twice
    /// publish it once.
    pub idempotency_key: String,
}

impl OutboxEvent {
    /// A new event with a fresh id.
    pub fn new(
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<String>,
        event_type: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let aggregate_type = aggregate_type.into();
        let aggregate_id = aggregate_id.into();
        Self {
            idempotency_key: format!("{aggregate_type}:{aggregate_id}:{id}"),
            id,
            aggregate_type,
            aggregate_id,
            event_type: event_type.into(),
            payload,
            correlation_id: None,
        }
    }

    /// Use a business key for deduplication instead of the event's id.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = key.into();
        self
    }

    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Check what the key and the record need, before anything is written.
    fn check(&self) -> Result<(), OutboxError> {
        let fields = [
            ("id", &self.id),
            ("aggregate_type", &self.aggregate_type),
            ("aggregate_id", &self.aggregate_id),
            ("event_type", &self.event_type),
            ("idempotency_key", &self.idempotency_key),
        ];
        for (name, value) in fields {
            if value.is_empty() {
                return Err(OutboxError::Invalid(format!("{name} is empty")));
            }
            if value.chars().any(char::is_control) {
                return Err(OutboxError::Invalid(format!(
                    "{name} contains a control character"
                )));
            }
        }
        // The queue key is `{outbox}:{idempotency_key}`, at most 512 bytes with the name.
        if self.idempotency_key.len() > MAX_KEY_BYTES {
            return Err(OutboxError::Invalid(format!(
                "idempotency_key is {} bytes; at most {MAX_KEY_BYTES}",
                self.idempotency_key.len()
            )));
        }
        Ok(())
    }
}

/// The longest idempotency key: Inlet's keys are at most 512 bytes, and the outbox's
/// name (at most 64) and a `:` come first.
pub const MAX_KEY_BYTES: usize = 512 - 65;

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Published,
    /// Publishing failed `max_attempts` times; an operator looks (`last_error`).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Published => "published",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
            "published" => Some(Status::Published),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// A staged event with its publishing state. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub event: OutboxEvent,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub published_at: Option<i64>,
    pub created_at: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The event cannot be staged as it is (an empty or oversized field).
    #[error("outbox event rejected: {0}")]
    Invalid(String),
    #[error("outbox database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("outbox payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The store did not take the write (DynamoDB); retryable.
    #[error("outbox store: {message}")]
    Store {
        message: String,
        #[source]
        source: inlet_core::BoxError,
    },
}
