//! Running the reconcile use case on a backend's ports: the `inlet dev` scheduler and
//! `inlet reconcile`.

use std::sync::Arc;

use crate::backend::Ports;
use inlet_core::clock::Clock;
use inlet_core::metrics::Metrics;
use inlet_core::usecase::reconcile::{
    ChangeSource, Reconcile, ReconcileError, ReconcileReport, ReconcileSettings,
};
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tracing::warn;

/// One run of one feed; on the embedded store the report is kept for `inlet status`
/// (unless a dry run).
pub async fn run_feed(
    feed: &dyn ChangeSource,
    ports: &Ports,
    metrics: &dyn Metrics,
    clock: &dyn Clock,
    settings: &ReconcileSettings,
) -> Result<ReconcileReport, ReconcileError> {
    let report = Reconcile {
        source: feed,
        ledger: ports.ledger.as_ref(),
        queue: ports.queue.as_ref(),
        cursors: ports.cursors.as_ref(),
        metrics,
        clock,
    }
    .run(settings)
    .await?;
    if let (false, Some(store)) = (settings.dry_run, &ports.local) {
        store.record_reconcile(&report.source, &report).await?;
    }
    Ok(report)
}

/// The `inlet dev` scheduler for one source: a run at start, then every `interval`.
pub async fn schedule(
    built: inlet_sources::BuiltSource,
    ports: Ports,
    metrics: Arc<dyn Metrics>,
    clock: Arc<dyn Clock>,
    wake_worker: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(built.config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        for feed in &built.feeds {
            let s = ReconcileSettings::for_source(&built.config, false, None);
            match run_feed(feed.as_ref(), &ports, metrics.as_ref(), clock.as_ref(), &s).await {
                Ok(r) if r.recovered > 0 => wake_worker.notify_one(),
                Ok(_) => {}
                Err(e) => warn!(source = feed.name(), error = %e, "reconciliation run failed"),
            }
        }
    }
}

/// Parse `--since`: RFC 3339 or Unix seconds.
pub fn parse_since(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            text.parse::<i64>()
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        })
}
