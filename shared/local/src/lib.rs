//! inlet-local: the embedded backend `inlet dev` runs on.
//!
//! One SQLite database (WAL, `synchronous = FULL`) holds the work queue and its DLQ, the
//! idempotency ledger, entity versions, conflict-rule state and reviews, reconciliation cursors, learned payload shapes and drift findings, and the metrics `inlet
//! status` reads. It is a first-class sibling of the AWS adapters, not a mock: the same
//! contract tests run against both.

pub mod conflicts;
pub mod connections;
mod cursors;
pub mod history;
mod ledger;
pub mod metrics;
mod queue;
mod schema;
pub mod shapes;
pub mod status;
pub mod store;

/// The local sinks live in `inlet-sinks` (shared with the Lambda worker).
pub use inlet_sinks as sinks;

pub use metrics::LocalMetrics;
pub use status::Status;
pub use store::{Store, StoreOptions};
