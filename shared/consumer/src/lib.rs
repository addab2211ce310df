//! # inlet-consumer
//!
//! For a Rust Lambda subscribed to Inlet's event bus — directly by an EventBridge rule, or
//! through an SQS queue the rule targets — this crate gives:
//!
//! - [`InletEvent<T>`]: the sink record Inlet publishes (`key`, `provider`, `event_id`,
//!   `type`, `source`, `received_at`, `correlation_id`, `entity`, `version`, `payload`),
//!   with the payload typed as you declare it.
//! - **Large events resolved**: an event over EventBridge's 256 KB arrives with
//!   `payload: null` and a `payload_ref`; the object is read from S3 and its SHA-256 and size
//!   checked before your code sees it. A tampered or truncated object is refused.
//! - **Idempotent handling with AWS Lambda Powertools' semantics**, on DynamoDB: a key
//!   (`detail.key` unless you choose another), an in-progress record whose expiry is the
//!   invocation's deadline (so a crashed attempt is taken over once its time is up), a
//!   completion record kept for a window (one hour by default), the *same stored result*
//!   returned to a duplicate, and a duplicate whose payload differs refused as a mismatch.
//! - **Partial batch failures** for SQS: only the records that failed are retried.
//!
//! ```no_run
//! use inlet_consumer::{Consumer, InletEvent};
//! use lambda_runtime::{service_fn, LambdaEvent};
//! use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Invoice { id: String, amount_paid: i64 }
//!
//! async fn ship(event: InletEvent<serde_json::Value>) -> Result<String, std::io::Error> {
//!     // The business effect: runs once per key while its completion record lives.
//!     Ok(format!("shipped for {}", event.key))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let consumer = Consumer::from_env().await?; // INLET_IDEMPOTENCY_TABLE
//!     let consumer = &consumer;
//!     lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
//!         Ok::<SqsBatchResponse, lambda_runtime::Error>(consumer.handle_sqs(e.payload, &e.context, ship).await)
//!     }))
//!     .await
//! }
//! ```
//!
//! The table needs a string partition key named `pk` (the Inlet stack's state table has
//! one; its `StateTableName` output names it) and, to sweep old records, TTL on `ttl`.
//! Records are `I#{namespace}#{key}`; the namespace is the function's name unless set.

#![deny(missing_docs)]

mod consumer;
mod event;
mod idempotency;

pub use consumer::{Consumer, ConsumerError, KeyFn, Settings};
pub use event::{InletEvent, PayloadRef, MAX_PAYLOAD_BYTES};
pub use idempotency::IdempotencyStore;
