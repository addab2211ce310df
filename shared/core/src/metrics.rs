//! One metrics interface for every use case. `inlet dev` aggregates into SQLite for
//! `inlet status`; the Lambda functions write CloudWatch Embedded Metric Format.

/// Metric names: one place, so dashboards and `inlet status` agree.
pub mod names {
    pub const RECEIVED: &str = "received";
    pub const SIGNATURE_FAILURES: &str = "signature_failures";
    pub const REJECTED: &str = "rejected";
    pub const ENQUEUED: &str = "enqueued";
    pub const ENQUEUE_FAILURES: &str = "enqueue_failures";
    pub const DUPLICATES: &str = "duplicates";
    pub const PAYLOAD_MISMATCHES: &str = "payload_mismatches";
    /// A signed body seen before under another key (an unsigned delivery id changed), by
    /// `provider`: acknowledged, recorded, not delivered.
    pub const REPLAYS_REFUSED: &str = "replays_refused";
    /// Webhooks older than their provider's `max_event_age_secs`, by `provider`:
    /// acknowledged, recorded, not delivered.
    pub const STALE: &str = "stale_events";
    /// Deliveries a destination asked to delay (429/503 with `Retry-After`, or the sink's
    /// own rate), by `sink`.
    pub const SINK_THROTTLED: &str = "sink_throttled";
    /// Events put back without counting an attempt because the state store refused for
    /// want of capacity, by `provider` and `cause` (`store`).
    pub const DEFERRED: &str = "deferred";
    /// A connection the provider refused (broken until re-authorized), by `connection`;
    /// emitted by every reconciler run while it stays broken (an alarm on the first).
    pub const CONNECTION_FAILURES: &str = "connection_failures";
    /// A connection whose refresh token dies unused within a week, by `connection`.
    pub const CONNECTION_REFRESH_EXPIRING: &str = "connection_refresh_expiring";
    pub const PROCESSED: &str = "processed";
    pub const SUPERSEDED: &str = "superseded";
    /// Conflict-rule decisions, by `rule` and `decision` (applied / superseded / held).
    pub const CONFLICT_DECISIONS: &str = "conflict_decisions";
    /// Event-history writes that failed (the events were handled; only their history is
    /// missing).
    pub const HISTORY_FAILURES: &str = "history_failures";
    pub const RETRIED: &str = "retried";
    pub const DEAD_LETTERED: &str = "dead_lettered";
    pub const RECOVERED: &str = "recovered";
    pub const RECONCILE_SCANNED: &str = "reconcile_scanned";
    pub const RECONCILE_ERRORS: &str = "reconcile_errors";
    /// A source whose feed read nothing for `alert_after_empty_runs` runs in a row, by
    /// `source` (the template alarms on the first).
    pub const RECONCILE_SILENT: &str = "reconcile_silent";
    /// A schema-drift finding recorded for the first time (once, whichever worker met it),
    /// by `provider` and `kind` (added / missing / retyped).
    pub const SCHEMA_DRIFT: &str = "schema_drift";
    pub const END_TO_END_MS: &str = "end_to_end_ms";
    pub const SINK_MS: &str = "sink_ms";
}

/// A dimension: `("provider", "stripe")`.
pub type Dim<'a> = (&'static str, &'a str);

pub trait Metrics: Send + Sync {
    /// Add `by` to a counter.
    fn incr(&self, name: &'static str, dims: &[Dim<'_>], by: u64);
    /// Record one timing, in milliseconds.
    fn observe_ms(&self, name: &'static str, dims: &[Dim<'_>], ms: f64);
}

/// Discards everything (tools that do not report).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn incr(&self, _: &'static str, _: &[Dim<'_>], _: u64) {}
    fn observe_ms(&self, _: &'static str, _: &[Dim<'_>], _: f64) {}
}
