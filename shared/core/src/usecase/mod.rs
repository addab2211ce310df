//! The use cases, written once against the ports: `ingest` (webhook → queue), `process`
//! (queue → ledger → sinks) and `reconcile` (provider API → ledger lookup → queue).

pub mod ingest;
pub mod process;
pub mod reconcile;
