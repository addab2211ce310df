//! inlet-core: the domain of Inlet — the envelope, configuration, normalization, the ports (traits) the adapters implement, and the use cases
//! (`ingest`, `process`, `reconcile`) written once against those ports.
//!
//! It is not an adapter: no AWS SDK, no SQLite, no HTTP server or client live here, so the
//! Lambda functions and `inlet dev` run the very same code. Signature schemes, the provider
//! catalogue and handshakes are the `inlet-signatures` crate, re-exported under their old
//! paths so the rest of Inlet names them as before.

pub use inlet_signatures::{catalogue, handshake, headers, signature};

pub mod claim_check;
pub mod clock;
pub mod config;
pub mod conflict;
pub mod connection;
pub mod envelope;
pub mod failpoint;
pub mod history;
pub mod ids;
pub mod metrics;
pub mod normalize;
pub mod oauth1;
pub mod outbox_failures;
pub mod ports;
pub mod redact;
pub mod reply;
pub mod retry;
pub mod secret;
pub mod shape;
pub mod source_config;
pub mod source_presets;
pub mod spread;
pub mod status;
pub mod times;
pub mod usecase;

/// A boxed error that keeps its source chain; used where an adapter's own error type
/// must cross a port without being stringified.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[cfg(test)]
mod catalogue_tests;
