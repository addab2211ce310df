//! inlet-local: the embedded backend `inlet dev` runs on.
//!
//! One SQLite database (WAL, `synchronous = FULL`) holds the work queue and its DLQ, the
//! idempotency ledger, entity versions, reconciliation cursors and the metrics `inlet
//! status` reads. It is a first-class sibling of the AWS adapters, not a mock: the same
//! contract tests run against both. The local sinks (file, stdout, HTTP) live here too.

pub mod metrics;
pub mod sinks;
pub mod store;

pub use metrics::LocalMetrics;
pub use store::{Status, Store, StoreOptions};
