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
}

/// A provider change feed.
#[async_trait]
pub trait ChangeSource: Send + Sync {
    fn name(&self) -> &str;
    /// The page after `cursor`; with no cursor, the first page of changes since `since`.
    async fn fetch(&self, cursor: Option<&str>, since: OffsetDateTime)
        -> Result<Page, SourceError>;
}

#[derive(Debug, Clone, Copy)]
pub struct ReconcileSettings {
    pub settle: Duration,
    pub lookback: Duration,
    pub max_pages: usize,
    pub deadline: Option<Instant>,
    pub dry_run: bool,
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
    /// One run. A source error ends the run with the cursor where the last complete page
    /// left it, reported in `error`; a store error is returned.
    pub async fn run(
        &self,
        settings: &ReconcileSettings,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started = Instant::now();
        let name = self.source.name().to_string();
        let now = self.clock.now();
        let cursor_before = self.cursors.load(&name).await?;
        let since = now - settings.lookback;
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
        };
        let mut cursor = cursor_before;
        loop {
            if report.pages as usize >= settings.max_pages {
                report.stopped = Some("page limit".into());
                break;
            }
            if settings.deadline.is_some_and(|d| Instant::now() >= d) {
                report.stopped = Some("deadline".into());
                break;
            }
            let page = match self.source.fetch(cursor.as_deref(), since).await {
                Ok(p) => p,
                Err(e) => {
                    self.metrics
                        .incr(names::RECONCILE_ERRORS, &[("source", &name)], 1);
                    warn!(source = %name, error = %e, "reconciliation fetch failed");
                    report.error = Some(e.to_string());
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
                let env = change.envelope;
                if self.ledger.lookup(&env.key, now).await?.is_some() {
                    report.already_handled += 1;
                    continue;
                }
                warn!(
                    source = %name,
                    key = %env.key,
                    event_type = env.event_type.as_deref().unwrap_or(""),
                    age_secs = age.whole_seconds(),
                    dry_run = settings.dry_run,
                    "missed webhook recovered"
                );
                if !settings.dry_run {
                    let env = Envelope {
                        source: Source::Reconciliation,
                        ..env
                    };
                    self.queue.send(&env).await?;
                }
                report.recovered += 1;
            }
            if !settled_all {
                report.stopped = Some("settle window".into());
                break;
            }
            crate::failpoint::hit("before_cursor_save");
            if let Some(next) = page.next_cursor {
                if !settings.dry_run {
                    self.cursors.save(&name, &next).await?;
                }
                report.cursor_after = Some(next.clone());
                cursor = Some(next);
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
