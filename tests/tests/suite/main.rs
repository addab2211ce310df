//! Inlet's integration suite: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_faults;
mod aws_production;
mod certificates;
mod cli;
mod conflicts;
mod connections;
mod console;
mod contract;
mod crash;
mod deployed_config;
mod fetch_by_id;
mod functions;
mod history;
mod independent;
mod lambda_smoke;
mod model;
mod outbox_aws;
mod pipeline;
mod presets;
mod reconcile;
mod records;
mod replay;
mod schema_drift;
mod sources;
mod webhook_http;
