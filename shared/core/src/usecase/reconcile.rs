//! Reconcile: page through a provider's change feed and enqueue every change the ledger
//! has not seen, with `source = reconciliation`.
//!
//! The cursor is saved only after every change of its page is looked up or enqueued, so a
//! crash re-reads a page and never skips one. Changes younger than the settle window stop
//! the run (their page is re-read next time) so the poll does not race webhooks in flight.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::envelope::{Envelope, Source};
use crate::metrics::{names, Metrics};
use crate::ports::{Cursors, Ledger, Queue, StoreError};
use crate::BoxError;

/// One change from a provider's feed, already normalized with the same key the webhook
/// path would produce for it.
#[derive(Debug, Clone)]
pub struct Change {
    pub envelope: Envelope,
    pub occurred_at: OffsetDateTime,
    /// A source's own reference for [`ChangeSource::hydrate`] (e.g. a delivery id).
    pub detail: Option<String>,
}

/// A page of changes, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub changes: Vec<Change>,
    /// The cursor that resumes after this page.
    pub next_cursor: Option<String>,
    /// No more pages now.
    pub done: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("run deadline reached")]
    Deadline,
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("provider response unusable: {0}")]
    BadResponse(String),
    #[error("transient provider error: {message}")]
    Transient {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A call budget is spent (a connection's day, or a minute past the deadline): the
    /// run stops until it resets — not a failure of the provider.
    #[error("{0}")]
    Budget(String),
}

impl SourceError {
    /// A short reason for metrics and alarms (`auth` is the one to page someone for).
    pub fn reason(&self) -> &'static str {
        match self {
            SourceError::Deadline => "deadline",
            SourceError::Auth(_) => "auth",
            SourceError::BadResponse(_) => "bad_response",
            SourceError::Transient { .. } => "transient",
            SourceError::Budget(_) => "budget",
        }
    }
}

/// What to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// Where the last handled page ended; `None` on a first run.
    pub cursor: Option<&'a str>,
    /// Where a first run starts.
    pub since: OffsetDateTime,
    /// Retries and rate-limit waits stop here.
    pub deadline: Option<Instant>,
    /// `cursor` came from the previous page of this same run, so no lookback overlap applies
    /// (a run starting from a stored cursor re-reads the overlap; pages within a run don't).
    pub resume: bool,
}

/// A provider change feed.
#[async_trait]
pub trait ChangeSource: Send + Sync {
    fn name(&self) -> &str;

    /// The page at `req.cursor`, oldest change first.
    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError>;

    /// Complete a change the ledger has not seen, for feeds whose listing lacks the payload
    /// (GitHub deliveries). Called only for changes about to be enqueued.
    async fn hydrate(
        &self,
        change: Change,
        _deadline: Option<Instant>,
    ) -> Result<Envelope, SourceError> {
        Ok(change.envelope)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ReconcileSettings {
    pub settle: Duration,
    pub lookback: Duration,
    pub max_pages: usize,
    pub deadline: Option<Instant>,
    pub dry_run: bool,
    /// A backfill from this time: the stored cursor is neither used nor moved.
    pub backfill_since: Option<OffsetDateTime>,
    /// After this many consecutive runs that read nothing, each further one is reported
    /// silent (`reconcile_silent{source}`): a sync that reads nothing is the other way
    /// integrations die quietly.
    pub alert_after_empty_runs: Option<u32>,
}

impl ReconcileSettings {
    /// A run of `source` as configured, starting now (its deadline is `run_timeout` away).
    pub fn for_source(
        source: &crate::source_config::SourceConfig,
        dry_run: bool,
        backfill_since: Option<OffsetDateTime>,
    ) -> Self {
        Self {
            settle: source.settle,
            lookback: source.lookback,
            max_pages: source.max_pages,
            deadline: Some(Instant::now() + source.run_timeout),
            dry_run,
            backfill_since,
            alert_after_empty_runs: source.alert_after_empty_runs,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconcileReport {
    pub source: String,
    pub scanned: u64,
    pub already_handled: u64,
    pub recovered: u64,
    pub recovery_rate: f64,
    pub pages: u64,
    pub duration_ms: u64,
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
    /// Why the run ended before the feed did, if it did.
    pub stopped: Option<String>,
    pub error: Option<String>,
    /// Consecutive runs, this one included, that read nothing (kept per feed).
    #[serde(default)]
    pub empty_runs: u32,
    /// `empty_runs` reached the source's `alert_after_empty_runs`.
    #[serde(default)]
    pub silent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Reconcile<'a> {
    pub source: &'a dyn ChangeSource,
    pub ledger: &'a dyn Ledger,
    pub queue: &'a dyn Queue,
    pub cursors: &'a dyn Cursors,
    pub metrics: &'a dyn Metrics,
    pub clock: &'a dyn Clock,
}

impl Reconcile<'_> {
    fn fetch_failed(&self, name: &str, e: &SourceError, report: &mut ReconcileReport) {
        self.metrics.incr(
            names::RECONCILE_ERRORS,
            &[("source", name), ("reason", e.reason())],
            1,
        );
        warn!(source = %name, reason = e.reason(), error = %e, "reconciliation fetch failed");
        report.error = Some(e.to_string());
    }

    /// Keep the feed's count of consecutive runs that read nothing (beside its cursor),
    /// and say when it reaches the source's threshold. A run stopped by the settle window
    /// read changes, just not old enough ones: not empty.
    async fn count_empty_runs(
        &self,
        name: &str,
        settings: &ReconcileSettings,
        report: &mut ReconcileReport,
    ) -> Result<(), ReconcileError> {
        let key = format!("{name}#empty-runs");
        let before: u32 = self
            .cursors
            .load(&key)
            .await?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let empty = report.scanned == 0 && report.stopped.as_deref() != Some("settle window");
        report.empty_runs = if empty { before.saturating_add(1) } else { 0 };
        if report.empty_runs != before {
            self.cursors
                .save(&key, &report.empty_runs.to_string())
                .await?;
        }
        if let Some(threshold) = settings.alert_after_empty_runs {
            if report.empty_runs >= threshold {
                report.silent = true;
                self.metrics
                    .incr(names::RECONCILE_SILENT, &[("source", name)], 1);
                warn!(source = %name, empty_runs = report.empty_runs, "source is silent: it has read nothing for {} runs", report.empty_runs);
            }
        }
        Ok(())
    }

    /// One run. A source error ends the run with the cursor where the last complete page
    /// left it, reported in `error`; a store error is returned.
    pub async fn run(
        &self,
        settings: &ReconcileSettings,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started = Instant::now();
        let name = self.source.name().to_string();
        let now = self.clock.now();
        let cursor_before = match settings.backfill_since {
            Some(_) => None,
            None => self.cursors.load(&name).await?,
        };
        let since = settings.backfill_since.unwrap_or(now - settings.lookback);
        let save_cursor = !settings.dry_run && settings.backfill_since.is_none();
        let mut report = ReconcileReport {
            source: name.clone(),
            scanned: 0,
            already_handled: 0,
            recovered: 0,
            recovery_rate: 0.0,
            pages: 0,
            duration_ms: 0,
            cursor_before: cursor_before.clone(),
            cursor_after: cursor_before.clone(),
            stopped: None,
            error: None,
            empty_runs: 0,
            silent: false,
        };
        let mut cursor = cursor_before;
        let mut resume = false;
        // Keys enqueued by this run: a feed that re-anchors on the newest time reads the
        // items at that time again on its next page, before any worker has recorded them.
        let mut enqueued: std::collections::HashSet<crate::ids::EventKey> =
            std::collections::HashSet::new();
        'pages: loop {
            if report.pages as usize >= settings.max_pages {
                report.stopped = Some("page limit".into());
                break;
            }
            if settings.deadline.is_some_and(|d| Instant::now() >= d) {
                report.stopped = Some("deadline".into());
                break;
            }
            let request = FetchRequest {
                cursor: cursor.as_deref(),
                since,
                deadline: settings.deadline,
                resume,
            };
            let page = match self.source.fetch(request).await {
                Ok(p) => p,
                Err(e) => {
                    self.fetch_failed(&name, &e, &mut report);
                    break;
                }
            };
            report.pages += 1;
            let mut settled_all = true;
            for change in page.changes {
                let age = now - change.occurred_at;
                if age < settings.settle {
                    settled_all = false;
                    break;
                }
                report.scanned += 1;
                if enqueued.contains(&change.envelope.key)
                    || self
                        .ledger
                        .lookup(&change.envelope.key, now)
                        .await?
                        .is_some()
                {
                    report.already_handled += 1;
                    continue;
                }
                let env = match self.source.hydrate(change, settings.deadline).await {
                    Ok(env) => env,
                    Err(e) => {
                        // The page is not fully handled: its cursor is not saved.
                        self.fetch_failed(&name, &e, &mut report);
                        break 'pages;
                    }
                };
                warn!(
                    source = %name,
                    key = %env.key,
                    event_type = env.event_type.as_deref().unwrap_or(""),
                    age_secs = age.whole_seconds(),
                    dry_run = settings.dry_run,
                    "missed webhook recovered"
                );
                let key = env.key.clone();
                if !settings.dry_run {
                    // A copy fetched from an API is not byte-identical to the webhook body
                    // (and fields like pending_webhooks change), so it carries no payload
                    // hash: the ledger must not flag the webhook's copy as a mismatch.
                    let env = Envelope {
                        source: Source::Reconciliation,
                        payload_sha256: String::new(),
                        body_guard: false,
                        stale: None,
                        replayed_by: None,
                        ..env
                    };
                    self.queue.send(&env).await?;
                }
                enqueued.insert(key);
                report.recovered += 1;
            }
            if !settled_all {
                report.stopped = Some("settle window".into());
                break;
            }
            crate::failpoint::hit("before_cursor_save");
            if let Some(next) = page.next_cursor {
                if save_cursor {
                    self.cursors.save(&name, &next).await?;
                }
                report.cursor_after = Some(next.clone());
                cursor = Some(next);
                resume = true;
            }
            if page.done {
                break;
            }
        }
        report.recovery_rate = if report.scanned == 0 {
            0.0
        } else {
            report.recovered as f64 / report.scanned as f64
        };
        report.duration_ms = started.elapsed().as_millis() as u64;
        if save_cursor && report.error.is_none() {
            self.count_empty_runs(&name, settings, &mut report).await?;
        }
        self.metrics.incr(
            names::RECONCILE_SCANNED,
            &[("source", &name)],
            report.scanned,
        );
        self.metrics
            .incr(names::RECOVERED, &[("source", &name)], report.recovered);
        info!(
            source = %name,
            scanned = report.scanned,
            already_handled = report.already_handled,
            recovered = report.recovered,
            recovery_rate = report.recovery_rate,
            pages = report.pages,
            duration_ms = report.duration_ms,
            cursor_before = report.cursor_before.as_deref().unwrap_or(""),
            cursor_after = report.cursor_after.as_deref().unwrap_or(""),
            "reconciliation run"
        );
        Ok(report)
    }
}
