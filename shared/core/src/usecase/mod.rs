//! The use cases, written once against the ports: `ingest` (webhook → queue), `process`
//! (queue → ledger → sinks), `reconcile` (provider API → ledger lookup → queue) and `review`
//! (conflict rules: settle a change, release or discard a held one) and `drift` (payload
//! shapes checked for schema drift).

pub mod drift;
pub mod ingest;
pub mod process;
pub mod reconcile;
pub mod review;
