//! The reconciler function: a scheduled event → the reconcile use case over every
//! configured source (DynamoDB cursors and ledger, SQS for what was missed), stopping
//! cleanly — cursor saved after the last complete page — before the function's deadline.
//! A run the deadline stopped before it read a single page is a failure, not an empty
//! success: it counts in `reconcile_errors` (reason `deadline`, the reconciler alarm) and
//! is listed under `failures` — otherwise "the safety net is off" would look like "nothing
//! was missed".

use std::time::{Duration, Instant};

use inlet_aws::{DynamoStore, EmfMetrics, SqsQueue};
use inlet_core::clock::SystemClock;
use inlet_core::metrics::{names, Metrics};
use inlet_core::usecase::reconcile::{Reconcile, ReconcileReport, ReconcileSettings};
use inlet_sources::BuiltSource;
use tracing::error;

mod wiring;

/// Time kept back from the function's deadline for saving and reporting.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

pub struct Deps {
    pub sources: Vec<BuiltSource>,
    /// The configured connections (their idle limits for the refresh-token warning).
    pub connections: Vec<inlet_core::connection::ConnectionConfig>,
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub metrics: EmfMetrics,
}

/// A run stopped by the deadline before it read any page.
fn starved(report: &ReconcileReport) -> bool {
    report.pages == 0 && report.stopped.as_deref() == Some("deadline")
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
                Ok(report) if starved(&report) => {
                    let message = "the invocation's deadline came before the first page was read; nothing was reconciled";
                    error!(source = feed.name(), "{message}");
                    deps.metrics.incr(
                        names::RECONCILE_ERRORS,
                        &[("source", feed.name()), ("reason", "deadline")],
                        1,
                    );
                    failures.push(serde_json::json!({"source": feed.name(), "error": message}));
                    reports.push(report);
                }
                Ok(report) => reports.push(report),
                Err(e) => {
                    error!(source = feed.name(), error = %e, "reconciliation failed");
                    failures
                        .push(serde_json::json!({"source": feed.name(), "error": e.to_string()}));
                }
            }
        }
    }
    // A broken connection is said on every run (its alarm fires on the first), a refresh
    // token in its last week too.
    let now = inlet_core::clock::unix_millis(inlet_core::clock::Clock::now(&SystemClock));
    let alerts = match inlet_core::connection::report_alerts(
        &deps.store,
        &deps.connections,
        &deps.metrics,
        now,
    )
    .await
    {
        Ok(alerts) => alerts,
        Err(e) => {
            error!(error = %e, "could not read the connections' state");
            Vec::new()
        }
    };
    let connections: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(name, alert)| match alert {
            inlet_core::connection::Alert::Broken { reason } => {
                error!(connection = %name, reason = %reason, "connection broken: re-authorize it");
                serde_json::json!({"connection": name, "state": "broken", "reason": reason})
            }
            inlet_core::connection::Alert::RefreshExpiring { days_left } => {
                serde_json::json!({"connection": name, "state": "refresh_expiring", "days_left": days_left})
            }
        })
        .collect();
    deps.metrics.flush();
    serde_json::json!({ "reports": reports, "failures": failures, "connections": connections })
}
