//! The use cases, written once against the ports: `ingest` (webhook → queue), `process`
//! (queue → ledger → sinks), `reconcile` (provider API → ledger lookup → queue) and `review`
//! (conflict rules: settle a change, release or discard a held one), `drift` (payload
//! shapes checked for schema drift) and `operate` (redrive, replay, what a worker holds now).

pub mod drift;
pub mod ingest;
pub mod operate;
pub mod process;
pub mod reconcile;
pub mod review;
