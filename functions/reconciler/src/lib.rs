//! The reconciler function: a scheduled event → the reconcile use case over every
//! configured source (DynamoDB cursors and ledger, SQS for what was missed), stopping
//! cleanly — cursor saved after the last complete page — before the function's deadline.

use std::time::{Duration, Instant};

use inlet_aws::{DynamoStore, EmfMetrics, SqsQueue};
use inlet_core::clock::SystemClock;
use inlet_core::usecase::reconcile::{Reconcile, ReconcileReport, ReconcileSettings};
use inlet_sources::BuiltSource;
use tracing::error;

/// Time kept back from the function's deadline for saving and reporting.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

pub struct Deps {
    pub sources: Vec<BuiltSource>,
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub metrics: EmfMetrics,
}

/// Run every source once; `time_left` is what the invocation has before its deadline.
pub async fn handle(deps: &Deps, time_left: Duration) -> serde_json::Value {
    let deadline = Instant::now() + time_left.saturating_sub(DEADLINE_MARGIN);
    let mut reports: Vec<ReconcileReport> = Vec::new();
    let mut failures = Vec::new();
    for built in &deps.sources {
        for feed in &built.feeds {
            let mut settings = ReconcileSettings::for_source(&built.config, false, None);
            // Whichever comes first: the source's run timeout or the invocation's deadline.
            settings.deadline = settings.deadline.map(|d| d.min(deadline));
            let run = Reconcile {
                source: feed.as_ref(),
                ledger: &deps.store,
                queue: &deps.queue,
                cursors: &deps.store,
                metrics: &deps.metrics,
                clock: &SystemClock,
            };
            match run.run(&settings).await {
                Ok(report) => reports.push(report),
                Err(e) => {
                    error!(source = feed.name(), error = %e, "reconciliation failed");
                    failures
                        .push(serde_json::json!({"source": feed.name(), "error": e.to_string()}));
                }
            }
        }
    }
    deps.metrics.flush();
    serde_json::json!({ "reports": reports, "failures": failures })
}
