//! What an operator reads about a running pipeline — queue numbers, counters, activity over
//! time, reconciliation runs — behind one port, so `inlet status` and the console ask the
//! same question of either backend. The embedded store keeps all of it; on AWS the queue
//! numbers come from SQS and the rest is in CloudWatch, which the answers say.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::ports::StoreError;

/// A counter summed over one set of dimensions (`dims` is `k=v,k=v`, sorted).
#[derive(Debug, Clone, Serialize)]
pub struct CounterRow {
    pub name: String,
    pub dims: String,
    pub value: u64,
}

/// A timing's samples over one set of dimensions.
#[derive(Debug, Clone, Serialize)]
pub struct TimingRow {
    pub name: String,
    pub dims: String,
    pub count: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
}

/// One reconciliation run: which source, when, and its report as the reconciler wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRun {
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub report: serde_json::Value,
}

/// The numbers `inlet status` prints. What a backend does not keep is absent (and left out
/// of the JSON), not zero.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub queue_depth: u64,
    pub in_flight: u64,
    pub dlq_depth: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_message_age_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_keys: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Vec<CounterRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Vec<TimingRow>>,
    /// The newest reconciliation run (none yet, or kept elsewhere).
    pub last_reconcile: Option<ReconcileRun>,
}

impl StatusReport {
    /// The sum of a counter over all its dimensions (0 where counters are kept elsewhere).
    pub fn total(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .flatten()
            .filter(|c| c.name == name)
            .map(|c| c.value)
            .sum()
    }
}

/// A span of time cut into equal buckets, ending with the bucket that holds "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub buckets: u32,
    pub bucket: Duration,
}

impl Window {
    /// The last hour, per minute.
    pub const HOUR_BY_MINUTE: Window = Window {
        buckets: 60,
        bucket: Duration::from_secs(60),
    };
    /// The last day, per hour.
    pub const DAY_BY_HOUR: Window = Window {
        buckets: 24,
        bucket: Duration::from_secs(3_600),
    };

    /// The start of the first bucket, so that the last one holds `now` (Unix milliseconds).
    pub fn start_ms(&self, now_ms: i64) -> i64 {
        let bucket = self.bucket_ms();
        let end = now_ms
            .div_euclid(bucket)
            .saturating_add(1)
            .saturating_mul(bucket);
        end.saturating_sub(bucket.saturating_mul(i64::from(self.buckets)))
    }

    pub fn bucket_ms(&self) -> i64 {
        (self.bucket.as_millis() as i64).max(1)
    }

    /// Which bucket a moment falls in, if inside the window.
    pub fn index_of(&self, start_ms: i64, at_ms: i64) -> Option<usize> {
        let i = (at_ms - start_ms).div_euclid(self.bucket_ms());
        (0..i64::from(self.buckets))
            .contains(&i)
            .then_some(i as usize)
    }
}

/// What happened in each bucket of a [`Window`]: events received, delivered and failed
/// (an attempt retried or dead-lettered), and the queue as sampled (the deepest and oldest
/// seen; `None` where nothing was sampled, e.g. while `inlet dev` was not running).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub bucket_secs: u64,
    pub received: Vec<u64>,
    pub delivered: Vec<u64>,
    pub failed: Vec<u64>,
    pub queue_depth: Vec<Option<u64>>,
    pub oldest_age_ms: Vec<Option<u64>>,
}

/// One source's reconciliation over a span: how many records its runs read, and how many of
/// those the webhooks had missed (recovered).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRecovery {
    pub source: String,
    pub scanned: u64,
    pub recovered: u64,
}

impl SourceRecovery {
    /// Recovered per record read, in percent (`None` before anything was read).
    pub fn rate_percent(&self) -> Option<f64> {
        (self.scanned > 0).then(|| self.recovered as f64 * 100.0 / self.scanned as f64)
    }
}

/// The operator's view of a pipeline. Methods answer `None` for what the backend keeps
/// elsewhere; [`PipelineStatus::kept_elsewhere`] says where.
#[async_trait]
pub trait PipelineStatus: Send + Sync {
    async fn report(&self) -> Result<StatusReport, StoreError>;
    /// Activity over `window`, its last bucket holding `now`.
    async fn activity(
        &self,
        window: Window,
        now: OffsetDateTime,
    ) -> Result<Option<Activity>, StoreError>;
    /// Reconciliation runs, newest first.
    async fn reconcile_runs(&self, limit: usize) -> Result<Option<Vec<ReconcileRun>>, StoreError>;
    /// Per source, what its runs since `since` read and recovered (sources in name order).
    async fn recovery_by_source(
        &self,
        since: OffsetDateTime,
    ) -> Result<Option<Vec<SourceRecovery>>, StoreError>;
    /// Where the counters, activity and runs are, when not here.
    fn kept_elsewhere(&self) -> Option<&'static str>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ends_with_the_bucket_holding_now() {
        let w = Window::HOUR_BY_MINUTE;
        let now = 10 * 60_000 + 30_000; // 00:10:30
        let start = w.start_ms(now);
        assert_eq!(start, 11 * 60_000 - 60 * 60_000);
        assert_eq!(w.index_of(start, now), Some(59));
        assert_eq!(w.index_of(start, start), Some(0));
        assert_eq!(w.index_of(start, start - 1), None);
        assert_eq!(
            w.index_of(start, 11 * 60_000),
            None,
            "the future is outside"
        );
    }

    #[test]
    fn recovery_rate_needs_something_read() {
        let mut r = SourceRecovery {
            source: "s".into(),
            scanned: 0,
            recovered: 0,
        };
        assert_eq!(r.rate_percent(), None);
        r.scanned = 8;
        r.recovered = 2;
        assert_eq!(r.rate_percent(), Some(25.0));
    }
}
