//! The reconcile use case on the real store: cursor saved only after its page is handled,
//! settle window, ledger lookup, recovered events enqueued with `source = reconciliation`.
//! The feed here is scripted; the provider sources are tested against HTTP servers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::clock::{Clock, ManualClock};
use inlet_core::envelope::{Envelope, Source};
use inlet_core::headers::Headers;
use inlet_core::ids::{EventKey, ProviderName};
use inlet_core::metrics::{names, NoMetrics};
use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
use inlet_core::ports::{Completion, Cursors, Ledger, Queue};
use inlet_core::signature::Scheme;
use inlet_core::usecase::reconcile::{
    Change, ChangeSource, FetchRequest, Page, Reconcile, ReconcileSettings, SourceError,
};
use inlet_local::{Store, StoreOptions};
use time::OffsetDateTime;

/// A feed of pages keyed by cursor ("" = first page); `fail_at` makes one cursor fail.
/// (cursor, [(event id, occurred at)], next cursor, done)
type ScriptedPage = (String, Vec<(String, OffsetDateTime)>, Option<String>, bool);

struct ScriptedFeed {
    pages: Vec<ScriptedPage>,
    fail_at: Mutex<Option<String>>,
    fetched: Mutex<Vec<String>>,
}

fn stripe_envelope(id: &str) -> Envelope {
    let p = ProviderName::parse("stripe").unwrap();
    let body = format!(r#"{{"id":"{id}","type":"invoice.paid","created":1}}"#);
    normalize(
        &Incoming {
            provider: &p,
            scheme: &Scheme::Stripe,
            headers: &Headers::new(),
            body: body.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
            correlation_id: "reconcile",
            source: Source::Reconciliation,
        },
        &NormalizeRules::default(),
    )
    .unwrap()
}

#[async_trait]
impl ChangeSource for ScriptedFeed {
    fn name(&self) -> &str {
        "feed"
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let cursor = req.cursor.unwrap_or("").to_string();
        self.fetched.lock().unwrap().push(cursor.clone());
        if self.fail_at.lock().unwrap().as_deref() == Some(cursor.as_str()) {
            return Err(SourceError::Transient {
                message: "503 from provider".into(),
                source: None,
            });
        }
        let (_, changes, next, done) = self
            .pages
            .iter()
            .find(|(c, ..)| *c == cursor)
            .expect("known cursor");
        Ok(Page {
            changes: changes
                .iter()
                .map(|(id, at)| Change {
                    envelope: stripe_envelope(id),
                    occurred_at: *at,
                    detail: None,
                })
                .collect(),
            next_cursor: next.clone(),
            done: *done,
        })
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = Store::open(
        &dir.path().join("inlet.db"),
        StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    World {
        _dir: dir,
        store,
        clock,
    }
}

fn settings(settle_secs: u64) -> ReconcileSettings {
    ReconcileSettings {
        settle: Duration::from_secs(settle_secs),
        lookback: Duration::from_secs(86_400),
        max_pages: 100,
        deadline: None,
        dry_run: false,
        backfill_since: None,
        alert_after_empty_runs: Some(2),
    }
}

async fn drain_keys(store: &Store) -> Vec<(String, Source)> {
    let got = store.receive(100, Duration::from_secs(30)).await.unwrap();
    let mut out = Vec::new();
    for m in got {
        let e = m.envelope.unwrap();
        out.push((e.key.to_string(), e.source));
        store.ack(&m.receipt).await.unwrap();
    }
    out
}

#[tokio::test]
async fn recovers_only_what_the_ledger_has_not_seen_and_saves_the_cursor_per_page() {
    let w = world();
    let old = w.clock.now() - Duration::from_secs(3600);
    let feed = ScriptedFeed {
        pages: vec![
            (
                "".into(),
                vec![("evt_1".into(), old), ("evt_2".into(), old)],
                Some("c1".into()),
                false,
            ),
            (
                "c1".into(),
                vec![("evt_3".into(), old)],
                Some("c2".into()),
                false,
            ),
            ("c2".into(), vec![], Some("c2".into()), true),
        ],
        fail_at: Mutex::new(None),
        fetched: Mutex::new(Vec::new()),
    };
    // evt_2 came in by webhook and was processed.
    let k2 = EventKey::parse("stripe:evt_2").unwrap();
    w.store
        .claim(&k2, "h", w.clock.now(), Duration::from_secs(5))
        .await
        .unwrap();
    w.store
        .complete(
            &k2,
            Completion::Delivered,
            w.clock.now(),
            Duration::from_secs(86_400),
        )
        .await
        .unwrap();

    let run = Reconcile {
        source: &feed,
        ledger: &w.store,
        queue: &w.store,
        cursors: &w.store,
        metrics: &NoMetrics,
        clock: w.clock.as_ref(),
    };
    let report = run.run(&settings(60)).await.unwrap();
    assert_eq!(
        (
            report.scanned,
            report.already_handled,
            report.recovered,
            report.pages
        ),
        (3, 1, 2, 3)
    );
    assert!((report.recovery_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(report.cursor_before, None);
    assert_eq!(report.cursor_after.as_deref(), Some("c2"));
    assert_eq!(w.store.load("feed").await.unwrap().as_deref(), Some("c2"));
    let queued = drain_keys(&w.store).await;
    assert_eq!(
        queued,
        [
            ("stripe:evt_1".to_string(), Source::Reconciliation),
            ("stripe:evt_3".to_string(), Source::Reconciliation)
        ]
    );

    // The next run resumes from the saved cursor.
    let report = run.run(&settings(60)).await.unwrap();
    assert_eq!((report.scanned, report.recovered), (0, 0));
    assert_eq!(
        feed.fetched.lock().unwrap().last().map(String::as_str),
        Some("c2")
    );
}

#[tokio::test]
async fn a_failed_page_keeps_the_cursor_and_the_settle_window_waits() {
    let w = world();
    let old = w.clock.now() - Duration::from_secs(3600);
    let young = w.clock.now() - Duration::from_secs(5);
    let feed = ScriptedFeed {
        pages: vec![
            (
                "".into(),
                vec![("evt_a".into(), old)],
                Some("c1".into()),
                false,
            ),
            (
                "c1".into(),
                vec![("evt_b".into(), old), ("evt_young".into(), young)],
                Some("c2".into()),
                true,
            ),
        ],
        fail_at: Mutex::new(Some("c1".into())),
        fetched: Mutex::new(Vec::new()),
    };
    let run = Reconcile {
        source: &feed,
        ledger: &w.store,
        queue: &w.store,
        cursors: &w.store,
        metrics: &NoMetrics,
        clock: w.clock.as_ref(),
    };
    let report = run.run(&settings(60)).await.unwrap();
    assert!(report.error.as_deref().unwrap().contains("503"));
    assert_eq!(report.recovered, 1);
    assert_eq!(
        w.store.load("feed").await.unwrap().as_deref(),
        Some("c1"),
        "only the handled page advanced the cursor"
    );

    // The provider recovers; the page holds a change younger than the settle window.
    *feed.fail_at.lock().unwrap() = None;
    let report = run.run(&settings(60)).await.unwrap();
    assert_eq!(report.stopped.as_deref(), Some("settle window"));
    assert_eq!(
        w.store.load("feed").await.unwrap().as_deref(),
        Some("c1"),
        "a page with unsettled changes is re-read"
    );
    // evt_b was enqueued already; re-reading the page enqueues it again, and the ledger
    // makes the second copy a duplicate when the worker gets there.
    w.clock.advance(Duration::from_secs(120));
    let report = run.run(&settings(60)).await.unwrap();
    assert_eq!(report.stopped, None);
    assert_eq!(w.store.load("feed").await.unwrap().as_deref(), Some("c2"));
    let keys: Vec<String> = drain_keys(&w.store)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(keys.contains(&"stripe:evt_young".to_string()));
}

#[tokio::test]
async fn dry_run_reports_without_enqueueing_or_moving_the_cursor() {
    let w = world();
    let old = w.clock.now() - Duration::from_secs(3600);
    let feed = ScriptedFeed {
        pages: vec![(
            "".into(),
            vec![("evt_d".into(), old)],
            Some("c1".into()),
            true,
        )],
        fail_at: Mutex::new(None),
        fetched: Mutex::new(Vec::new()),
    };
    let run = Reconcile {
        source: &feed,
        ledger: &w.store,
        queue: &w.store,
        cursors: &w.store,
        metrics: &NoMetrics,
        clock: w.clock.as_ref(),
    };
    let report = run
        .run(&ReconcileSettings {
            dry_run: true,
            ..settings(60)
        })
        .await
        .unwrap();
    assert_eq!(report.recovered, 1);
    assert!(drain_keys(&w.store).await.is_empty());
    assert_eq!(w.store.load("feed").await.unwrap(), None);
}

/// A feed that reads nothing run after run is reported silent from the configured run on
/// (and counted); one change resets the count. A sync that silently reads nothing is the
/// other way integrations die.
#[tokio::test]
async fn a_feed_that_reads_nothing_is_reported_silent() {
    let w = world();
    let long_ago = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let empty = ScriptedFeed {
        pages: vec![
            (String::new(), vec![], Some("c1".into()), true),
            ("c1".into(), vec![], Some("c1".into()), true),
        ],
        fail_at: Mutex::new(None),
        fetched: Mutex::new(Vec::new()),
    };
    let metrics = inlet_local::LocalMetrics::new();
    let run = |feed| Reconcile {
        source: feed,
        ledger: &w.store,
        queue: &w.store,
        cursors: &w.store,
        metrics: &metrics,
        clock: w.clock.as_ref(),
    };
    let first = run(&empty).run(&settings(60)).await.unwrap();
    assert_eq!((first.empty_runs, first.silent), (1, false));
    let second = run(&empty).run(&settings(60)).await.unwrap();
    assert_eq!((second.empty_runs, second.silent), (2, true));
    let third = run(&empty).run(&settings(60)).await.unwrap();
    assert_eq!((third.empty_runs, third.silent), (3, true));
    metrics.flush(&w.store).await.unwrap();
    assert_eq!(
        w.store
            .status()
            .await
            .unwrap()
            .total(names::RECONCILE_SILENT),
        2
    );
    // One change read: not silent any more.
    let busy = ScriptedFeed {
        pages: vec![(
            "c1".into(),
            vec![("evt_s1".into(), long_ago)],
            Some("c2".into()),
            true,
        )],
        fail_at: Mutex::new(None),
        fetched: Mutex::new(Vec::new()),
    };
    let report = run(&busy).run(&settings(60)).await.unwrap();
    assert_eq!(
        (report.scanned, report.empty_runs, report.silent),
        (1, 0, false)
    );
}
