//! Event history on both backends: the `History` contract (timeline, duplicates, payload
//! kept or not, filters, newest-first paging across days, expiry), the worker recording
//! every attempt with its full error, and `inlet events` as an operator uses it.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use inlet_core::clock::{Clock, ManualClock, SystemClock};
use inlet_core::envelope::{Envelope, SinkRecord, Source};
use inlet_core::history::{Attempt, EventFilter, EventState, HistoryEntry};
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{History, Queue, Receipt, Received, Sink, SinkError, StoreError};
use inlet_core::usecase::process::{Disposition, Done, Processor, WorkerStores};
use inlet_tests::{stripe_envelope, stripe_event};

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap()
}

/// A Stripe event `id` of `kind`, received `secs` after T0.
fn event(id: &str, kind: &str, secs: i64) -> Envelope {
    let mut e = stripe_envelope(&stripe_event(id, kind, &format!("in_{id}"), T0));
    e.received_at = at(secs);
    e
}

fn entry(e: &Envelope, state: EventState, secs: i64, keep: bool) -> HistoryEntry<'_> {
    HistoryEntry {
        envelope: e,
        attempt: Attempt::new(
            at(secs),
            state,
            1,
            (state == EventState::Retrying).then_some("sink http: 503 Service Unavailable"),
        ),
        keep_payload: keep,
        expires_at: at(secs + 30 * 86_400),
        first: false,
    }
}

async fn records_lists_and_pages(h: &dyn History) {
    let now = at(10 * 86_400);
    // Over several days, so a listing crosses day partitions.
    let a = event("evt_a", "invoice.paid", 0);
    let b = event("evt_b", "invoice.paid", 86_400 + 5);
    let c = event("evt_c", "customer.updated", 3 * 86_400);
    let d = event("evt_d", "invoice.paid", 3 * 86_400 + 1);
    h.record(&[
        entry(&a, EventState::Retrying, 1, true),
        entry(&b, EventState::Delivered, 86_400 + 6, false),
        entry(&a, EventState::Delivered, 2, true),
        entry(&c, EventState::DeadLettered, 3 * 86_400 + 1, true),
    ])
    .await
    .unwrap();
    h.record(&[
        entry(&a, EventState::Duplicate, 3, true),
        entry(&d, EventState::Delivered, 3 * 86_400 + 2, true),
    ])
    .await
    .unwrap();

    // An operator's redrive is a mark in the timeline; the state stays the worker's.
    h.record(&[entry(&c, EventState::Redriven, 3 * 86_400 + 5, false)])
        .await
        .unwrap();
    let rc = h.event("stripe:evt_c", now).await.unwrap().unwrap();
    assert_eq!((rc.state, rc.attempt_count), (EventState::DeadLettered, 1));
    assert_eq!(
        rc.attempts.iter().map(|a| a.state).collect::<Vec<_>>(),
        [EventState::DeadLettered, EventState::Redriven]
    );
    assert!(
        rc.payload_kept,
        "a mark without the payload keeps the one kept"
    );

    let ra = h.event("stripe:evt_a", now).await.unwrap().unwrap();
    assert_eq!(
        (ra.state, ra.attempt_count, ra.duplicates),
        (EventState::Delivered, 2, 1)
    );
    let timeline: Vec<_> = ra
        .attempts
        .iter()
        .map(|x| (x.state, x.detail.clone()))
        .collect();
    assert_eq!(
        timeline,
        [
            (
                EventState::Retrying,
                Some("sink http: 503 Service Unavailable".to_string())
            ),
            (EventState::Delivered, None)
        ]
    );
    assert_eq!(ra.envelope.received_at, at(0));
    let replay = ra.replay_envelope("a test").unwrap();
    assert_eq!(
        (replay.source, replay.key.as_str()),
        (Source::Replay, "stripe:evt_a")
    );
    assert_eq!(replay.body, a.body, "the payload is kept byte for byte");
    let rb = h.event("stripe:evt_b", now).await.unwrap().unwrap();
    assert!(!rb.payload_kept && rb.replay_envelope("a test").is_none());
    assert!(h.event("stripe:evt_none", now).await.unwrap().is_none());
    // Expired history reads as absent.
    assert!(h
        .event("stripe:evt_a", at(31 * 86_400))
        .await
        .unwrap()
        .is_none());

    let keys = |page: &inlet_core::history::EventPage| -> Vec<String> {
        page.events
            .iter()
            .map(|r| r.envelope.key.to_string())
            .collect()
    };
    let all = EventFilter {
        since: Some(at(-86_400)),
        ..EventFilter::default()
    };
    let page = h.events(&all, 10, None, now).await.unwrap();
    assert_eq!(
        keys(&page),
        [
            "stripe:evt_d",
            "stripe:evt_c",
            "stripe:evt_b",
            "stripe:evt_a"
        ]
    );
    assert!(page.next.is_none());
    assert_eq!(page.events[1].state, EventState::DeadLettered);

    // Paged two at a time, newest first, nothing repeated or skipped.
    let first = h.events(&all, 2, None, now).await.unwrap();
    assert_eq!(keys(&first), ["stripe:evt_d", "stripe:evt_c"]);
    let second = h.events(&all, 2, first.next.as_deref(), now).await.unwrap();
    assert_eq!(keys(&second), ["stripe:evt_b", "stripe:evt_a"]);
    assert!(second.next.is_none());

    let only = |f: EventFilter| async move { keys(&h.events(&f, 10, None, now).await.unwrap()) };
    assert_eq!(
        only(EventFilter {
            event_type: Some("invoice.paid".into()),
            ..all.clone()
        })
        .await,
        ["stripe:evt_d", "stripe:evt_b", "stripe:evt_a"]
    );
    assert_eq!(
        only(EventFilter {
            state: Some(EventState::DeadLettered),
            ..all.clone()
        })
        .await,
        ["stripe:evt_c"]
    );
    assert_eq!(
        only(EventFilter {
            key_contains: Some("evt_b".into()),
            ..all.clone()
        })
        .await,
        ["stripe:evt_b"]
    );
    assert_eq!(
        only(EventFilter {
            since: Some(at(86_400)),
            until: Some(at(3 * 86_400 + 1)),
            ..all.clone()
        })
        .await,
        ["stripe:evt_c", "stripe:evt_b"]
    );
    assert_eq!(
        only(EventFilter {
            entity: Some("invoice/in_evt_c".into()),
            ..all.clone()
        })
        .await,
        ["stripe:evt_c"]
    );
    assert!(only(EventFilter {
        provider: Some("github".into()),
        ..all.clone()
    })
    .await
    .is_empty());
    assert!(matches!(
        h.events(&all, 2, Some("not a cursor"), now).await,
        Err(StoreError::Invalid(_))
    ));
}

// ---- the worker records every attempt ----------------------------------------------------

/// Refuses its first `fail` calls with a 503, then takes everything.
struct Flaky {
    fail: std::sync::Mutex<u32>,
    got: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl Sink for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let mut fail = self.fail.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(SinkError::transient(
                "HTTP 503 Service Unavailable from https://erp.example",
            ));
        }
        self.got
            .lock()
            .unwrap()
            .push((record.key.clone(), record.source.as_str().to_string()));
        Ok(())
    }
}

fn message(e: &Envelope, receive_count: u32) -> Received {
    Received {
        receipt: Receipt(format!("r{receive_count}")),
        receive_count,
        envelope: Ok(e.clone()),
    }
}

/// A worker delivering to `sink` that records its history, payloads kept, no versions.
fn recording_processor(
    mut stores: WorkerStores,
    sink: Arc<Flaky>,
    clock: Arc<dyn Clock>,
) -> Processor {
    stores.versions = Arc::new(NoVersions);
    let config = inlet_tests::worker_config(
        "[history]\nmax_payload_bytes = 65536\n[schema]\nenabled = false\n",
    );
    Processor::from_config(&config, stores, vec![sink], Arc::new(NoMetrics), clock)
}

async fn the_worker_records_every_attempt(
    stores: WorkerStores,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
) {
    let sink = Arc::new(Flaky {
        fail: std::sync::Mutex::new(1),
        got: Default::default(),
    });
    let history = Arc::clone(&stores.history);
    let processor = recording_processor(stores, sink.clone(), clock.clone());
    let mut e = event("evt_w", "invoice.paid", 0);
    e.received_at = clock.now();
    let d = processor.handle_batch(&[message(&e, 1)]).await;
    assert!(matches!(&d[0].1, Disposition::Retry { reason, .. } if reason.contains("503")));
    let d = processor
        .handle_batch(&[message(&e, 2), message(&e, 2)])
        .await;
    assert_eq!(d[0].1, Disposition::Ack(Done::Delivered));
    assert_eq!(d[1].1, Disposition::Ack(Done::Duplicate));

    let r = history
        .event("stripe:evt_w", clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.state, r.attempt_count, r.duplicates),
        (EventState::Delivered, 2, 1)
    );
    let detail = r.attempts[0].detail.clone().unwrap();
    assert!(
        detail.contains("sink flaky")
            && detail.contains("HTTP 503 Service Unavailable from https://erp.example"),
        "the full error: {detail}"
    );
    assert_eq!(
        (r.attempts[0].receive_count, r.attempts[1].receive_count),
        (1, 2)
    );

    // Replayed from the history: delivered again under its key, recorded as replayed.
    queue
        .send(&r.replay_envelope("a test").unwrap())
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..30 {
        got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        processor.handle_batch(&got).await[0].1,
        Disposition::Ack(Done::Delivered)
    );
    let r = history
        .event("stripe:evt_w", clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.state, r.attempt_count), (EventState::Replayed, 3));
    // The timeline says who asked for the replay.
    assert_eq!(r.attempts.last().unwrap().detail.as_deref(), Some("a test"));
    assert_eq!(
        sink.got.lock().unwrap().clone(),
        [
            ("stripe:evt_w".to_string(), "webhook".to_string()),
            ("stripe:evt_w".to_string(), "replay".to_string())
        ]
    );
}

/// Versions are not what this suite is about.
struct NoVersions;

#[async_trait::async_trait]
impl inlet_core::ports::EntityVersions for NoVersions {
    async fn advance(
        &self,
        _: &str,
        _: i64,
    ) -> Result<inlet_core::ports::VersionCheck, StoreError> {
        Ok(inlet_core::ports::VersionCheck::Current)
    }
}

// ---- SQLite --------------------------------------------------------------------------------

fn sqlite() -> (tempfile::TempDir, inlet_local::Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(T0));
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        inlet_local::StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    (dir, store, clock)
}

#[tokio::test]
async fn sqlite_history_records_lists_and_pages() {
    let (_dir, store, _) = sqlite();
    records_lists_and_pages(&store).await;
}

#[tokio::test]
async fn sqlite_the_worker_records_every_attempt() {
    let (_dir, store, clock) = sqlite();
    let s = Arc::new(store);
    the_worker_records_every_attempt(WorkerStores::all(s.clone()), s, clock).await;
}

/// On the embedded store an event no worker has handled yet is found in the queue.
#[tokio::test]
async fn sqlite_an_event_still_in_the_queue_is_queued() {
    let (_dir, store, clock) = sqlite();
    let mut e = event("evt_q", "invoice.paid", 0);
    e.received_at = clock.now();
    store.send(&e).await.unwrap();
    let r = store
        .event("stripe:evt_q", clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.state, r.attempt_count), (EventState::Queued, 0));
    assert!(store
        .event("stripe:evt_none", clock.now())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn sqlite_history_expires_with_the_purge() {
    let (_dir, store, clock) = sqlite();
    let e = event("evt_p", "invoice.paid", 0);
    store
        .record(&[entry(&e, EventState::Delivered, 0, true)])
        .await
        .unwrap();
    clock.advance(Duration::from_secs(31 * 86_400));
    store.purge_expired().await.unwrap();
    let rows: i64 = store
        .run(|c| {
            c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .map_err(|e| StoreError::Invalid(e.to_string()))
        })
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

// ---- DynamoDB and SQS on the emulator ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_history_records_lists_and_pages() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    records_lists_and_pages(&store).await;
}

/// The reason for the shards, under DynamoDB's per-partition ceiling as the strict layer
/// accounts it (`inlet_tests::partitions`, scaled to 10 units/s): a burst of 200 new
/// events is refused on one index partition a day and taken whole on sixteen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_history_shards_take_a_burst_one_partition_refuses() {
    let partitions = inlet_tests::partitions::Partitions::new(10.0);
    let moto =
        inlet_tests::moto::Moto::connect_with(partitions.rule(inlet_tests::faults::forward_all()))
            .await;
    let events: Vec<Envelope> = (0..200)
        .map(|i| event(&format!("evt_burst_{i:03}"), "invoice.paid", 60))
        .collect();
    let entries: Vec<HistoryEntry<'_>> = events
        .iter()
        .map(|e| HistoryEntry {
            first: true,
            ..entry(e, EventState::Delivered, 61, false)
        })
        .collect();
    let one =
        inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await).with_history_shards(1);
    let refused = one.record(&entries).await.unwrap_err();
    assert!(refused.is_throttle(), "{refused}");
    assert!(partitions.ledger().throttled.contains_key("index events"));
    partitions.reset();
    let sixteen =
        inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await).with_history_shards(16);
    sixteen.record(&entries).await.unwrap();
    let ledger = partitions.ledger();
    assert!(ledger.throttled.is_empty(), "{:?}", ledger.throttled);
    assert_eq!(
        ledger.units.get("index events"),
        Some(&200.0),
        "one unit per event"
    );
}

/// The contract holds at any shard count, and a stack that raised `HistoryShards` lists
/// the days written at the lower count whole, newest first, without a gap or a repeat —
/// also when a page ends inside a day (found here: the inclusive range's copy of the last
/// event shown took a place of the next page, which then ended early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_history_shard_count_can_be_raised_without_losing_a_day() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let table = moto.table().await;
    records_lists_and_pages(
        &inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await).with_history_shards(64),
    )
    .await;
    let written = inlet_aws::DynamoStore::new(moto.dynamodb(), &table).with_history_shards(4);
    let events: Vec<Envelope> = (0..40)
        .map(|i| event(&format!("evt_s{i:02}"), "invoice.paid", i * 3_600))
        .collect();
    let entries: Vec<HistoryEntry<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| entry(e, EventState::Delivered, i as i64 * 3_600 + 1, false))
        .collect();
    written.record(&entries).await.unwrap();
    let newest_first: Vec<String> = events.iter().rev().map(|e| e.key.to_string()).collect();
    let all = EventFilter {
        since: Some(at(-86_400)),
        ..EventFilter::default()
    };
    for shards in [4, 16, 256] {
        let reader =
            inlet_aws::DynamoStore::new(moto.dynamodb(), &table).with_history_shards(shards);
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let page = reader
                .events(&all, 7, cursor.as_deref(), at(3 * 86_400))
                .await
                .unwrap();
            listed.extend(page.events.iter().map(|r| r.envelope.key.to_string()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(listed, newest_first, "read at {shards} shards");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn aws_the_worker_records_every_attempt() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(5, false).await;
    let store = Arc::new(inlet_aws::DynamoStore::new(
        moto.dynamodb(),
        moto.table().await,
    ));
    the_worker_records_every_attempt(
        WorkerStores::all(store),
        Arc::new(moto.queue(&q, &dlq)),
        Arc::new(SystemClock),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_full_timeline_still_moves_the_state() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    let e = event("evt_many", "invoice.paid", 0);
    for i in 0..105 {
        store
            .record(&[entry(&e, EventState::Retrying, i, false)])
            .await
            .unwrap();
    }
    store
        .record(&[entry(&e, EventState::DeadLettered, 200, false)])
        .await
        .unwrap();
    let r = store
        .event("stripe:evt_many", at(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.state, r.attempt_count), (EventState::DeadLettered, 106));
    assert_eq!(r.attempts.len(), inlet_core::history::MAX_ATTEMPTS_KEPT);
}

/// `inlet events` against a deployed stack (the emulator): the operator's view of the
/// table the worker writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn events_cli_on_aws_lists_shows_and_replays() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let table = moto.table().await;
    let (q, dlq) = moto.queues(3, false).await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
    let now = OffsetDateTime::now_utc();
    let mut e = event("evt_cli", "invoice.paid", 0);
    e.received_at = now - Duration::from_secs(60);
    let mut entry = entry(&e, EventState::DeadLettered, 0, true);
    entry.attempt.at = now;
    entry.attempt.detail = Some("gave up after 5 attempts: EventBridge PutEvents failed: ThrottlingException: Rate exceeded (HTTP 400, request id 1f3…)".into());
    entry.expires_at = now + Duration::from_secs(86_400);
    store.record(&[entry]).await.unwrap();
    let env = crate::outbox_aws::stack_env(&q, &dlq, &table);
    let run = |args: &[&str]| crate::outbox_aws::inlet_aws(args, &moto, &env);
    let (code, out, err) = run(&[
        "events",
        "list",
        "--backend",
        "aws",
        "--json",
        "--state",
        "dead-lettered",
    ]);
    assert_eq!(code, 0, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (line["key"].as_str(), line["attempts"].as_u64()),
        (Some("stripe:evt_cli"), Some(1))
    );
    let (code, out, err) = run(&[
        "events",
        "show",
        "stripe:evt_cli",
        "--backend",
        "aws",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        shown["timeline"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException: Rate exceeded"),
        "{shown}"
    );
    let (code, _, _) = run(&["events", "show", "stripe:evt_none", "--backend", "aws"]);
    assert_eq!(code, 4);
    let (code, out, err) = run(&[
        "events",
        "replay",
        "--backend",
        "aws",
        "--state",
        "dead-lettered",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stripe:evt_cli: enqueued for replay"), "{out}");
    let got = moto
        .queue(&q, &dlq)
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    let replayed = got[0].envelope.as_ref().unwrap();
    assert_eq!(
        (replayed.key.as_str(), replayed.source),
        ("stripe:evt_cli", Source::Replay)
    );
    assert_eq!(replayed.body, e.body);
}

/// A kept ~2.2 KB JSON payload is stored compressed: its record stays within one write
/// unit (a write bills one per KB of the whole item, again on every later attempt) and the
/// payload reads back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_kept_json_payload_is_stored_compressed_in_one_write_unit() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let table = moto.table().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
    let body = inlet_tests::stripe_invoice_with_lines("evt_zip", "in_zip", 14);
    assert!((2048..2600).contains(&body.len()), "{} bytes", body.len());
    let mut e = stripe_envelope(&body);
    e.received_at = at(0);
    store
        .record(&[entry(&e, EventState::Retrying, 0, true)])
        .await
        .unwrap();
    store
        .record(&[entry(&e, EventState::Delivered, 5, true)])
        .await
        .unwrap();
    let item = moto.stored_item(&table, "E#stripe:evt_zip").await;
    let (size, units) = inlet_tests::dynamodb_item_size_and_units(&item);
    assert_eq!(units, 1, "the record is {size} bytes after two attempts");
    assert!(item.contains_key("plz") && !item.contains_key("pl"));
    let r = store
        .event("stripe:evt_zip", at(10))
        .await
        .unwrap()
        .unwrap();
    assert!(r.payload_kept);
    assert_eq!(r.attempt_count, 2);
    assert_eq!(r.replay_envelope("a test").unwrap().body, body.as_bytes());
}

/// A payload larger than a DynamoDB item is kept beside the record and replays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_payload_larger_than_an_item_is_kept_and_replays_whole() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    let mut e = event("evt_big", "invoice.paid", 0);
    // 700 KB, not valid UTF-8 throughout: kept byte for byte.
    e.body = (0..700 * 1024).map(|i| (i % 251) as u8).collect();
    store
        .record(&[entry(&e, EventState::Delivered, 0, true)])
        .await
        .unwrap();
    store
        .record(&[entry(&e, EventState::Replayed, 1, true)])
        .await
        .unwrap();
    let r = store
        .event("stripe:evt_big", at(10))
        .await
        .unwrap()
        .unwrap();
    assert!(r.payload_kept);
    assert_eq!(r.replay_envelope("a test").unwrap().body, e.body);
    let listed = store
        .events(
            &EventFilter {
                since: Some(at(-10)),
                ..EventFilter::default()
            },
            5,
            None,
            at(10),
        )
        .await
        .unwrap();
    assert!(
        listed.events[0].payload_kept,
        "the list says it can be replayed"
    );
}

/// A recording worker on DynamoDB whose AWS calls are counted (a forwarding proxy in front
/// of moto), with its store and sink.
async fn counted_dynamodb_worker() -> (
    inlet_tests::moto::Moto,
    inlet_tests::faults::FaultProxy,
    Arc<inlet_aws::DynamoStore>,
    Arc<Flaky>,
    Processor,
) {
    use inlet_tests::faults::{Action, FaultProxy};
    let moto = inlet_tests::moto::Moto::connect().await;
    let proxy = FaultProxy::start(&moto.endpoint, Arc::new(|_, _, _| Action::Forward)).await;
    let sdk = inlet_tests::moto::sdk_for(&proxy.endpoint).await;
    let store = Arc::new(inlet_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        moto.table().await,
    ));
    let sink = Arc::new(Flaky {
        fail: std::sync::Mutex::new(0),
        got: Default::default(),
    });
    let processor = recording_processor(
        WorkerStores::all(store.clone()),
        sink.clone(),
        Arc::new(SystemClock),
    );
    (moto, proxy, store, sink, processor)
}

/// On DynamoDB a duplicate is the one write of its claim, no read, nothing more for the
/// history; the history still counts it, on the event and in the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_duplicate_is_one_write_and_the_history_counts_it() {
    let (_moto, proxy, store, sink, processor) = counted_dynamodb_worker().await;
    let mut e = event("evt_dup_once", "invoice.paid", 0);
    e.received_at = OffsetDateTime::now_utc();
    let first = processor.handle_batch(&[message(&e, 1)]).await;
    assert_eq!(first[0].1, Disposition::Ack(Done::Delivered));
    let before = proxy.seen.lock().unwrap().clone();
    for copy in 0..2 {
        let again = processor.handle_batch(&[message(&e, 1)]).await;
        assert_eq!(again[0].1, Disposition::Ack(Done::Duplicate), "copy {copy}");
    }
    let after = proxy.seen.lock().unwrap().clone();
    let calls: std::collections::BTreeMap<&str, usize> = after
        .iter()
        .map(|(op, n)| (op.as_str(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        calls,
        std::collections::BTreeMap::from([("DynamoDB_20120810.UpdateItem", 2)]),
        "one write per duplicate, no read"
    );
    assert_eq!(sink.got.lock().unwrap().len(), 1, "delivered once");

    let now = OffsetDateTime::now_utc();
    let r = store
        .event("stripe:evt_dup_once", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.state, r.attempt_count, r.duplicates),
        (EventState::Delivered, 1, 2)
    );
    let page = store
        .events(&EventFilter::default(), 10, None, now)
        .await
        .unwrap();
    let listed = page
        .events
        .iter()
        .find(|x| x.envelope.key.as_str() == "stripe:evt_dup_once")
        .unwrap();
    assert_eq!(listed.duplicates, 2);
}

/// On DynamoDB the first attempts of a batch's new events are written whole, in one
/// `BatchWriteItem` beside the completions' one, not an `UpdateItem` each; what that writes
/// is exactly the record merging the same attempt into nothing makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_new_events_write_their_history_in_one_batch_write() {
    let (moto, proxy, store, _sink, processor) = counted_dynamodb_worker().await;
    let events: Vec<Envelope> = (0..5)
        .map(|i| {
            let mut e = event(&format!("evt_whole{i}"), "invoice.paid", 0);
            e.received_at = OffsetDateTime::now_utc();
            e
        })
        .collect();
    let batch: Vec<Received> = events.iter().map(|e| message(e, 1)).collect();
    let done = processor.handle_batch(&batch).await;
    assert!(
        done.iter()
            .all(|(_, d)| *d == Disposition::Ack(Done::Delivered)),
        "{done:?}"
    );
    let calls: std::collections::BTreeMap<String, usize> =
        proxy.seen.lock().unwrap().clone().into_iter().collect();
    assert_eq!(
        calls,
        std::collections::BTreeMap::from([
            ("DynamoDB_20120810.UpdateItem".to_string(), 5),
            ("DynamoDB_20120810.BatchWriteItem".to_string(), 2),
        ]),
        "five claims, then the completions and the history in one batch write each"
    );
    let now = OffsetDateTime::now_utc();
    for e in &events {
        let r = store.event(e.key.as_str(), now).await.unwrap().unwrap();
        assert_eq!(
            (r.state, r.attempt_count, r.duplicates, r.payload_kept),
            (EventState::Delivered, 1, 0, true),
            "{}",
            e.key
        );
        assert_eq!(r.replay_envelope("a test").unwrap().body, e.body);
    }

    // Written whole or merged into nothing: the same item, attribute for attribute.
    let (whole, merged) = (moto.table().await, moto.table().await);
    let e = event("evt_same", "invoice.paid", 0);
    for (table, first) in [(&whole, true), (&merged, false)] {
        let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
        let mut attempt = entry(&e, EventState::Retrying, 1, true);
        attempt.first = first;
        store.record(&[attempt]).await.unwrap();
    }
    let written = moto.stored_item(&whole, "E#stripe:evt_same").await;
    assert!(written.contains_key("att") && written.contains_key("plz"));
    assert_eq!(
        written,
        moto.stored_item(&merged, "E#stripe:evt_same").await
    );

    // A key twice in one call, its first attempt marked first: a batch write takes a key
    // once, so both attempts are merged, in order, and neither is lost.
    let twice = event("evt_twice", "invoice.paid", 0);
    let mut first = entry(&twice, EventState::Retrying, 1, true);
    first.first = true;
    let then = entry(&twice, EventState::Delivered, 2, true);
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), whole.clone());
    store.record(&[first, then]).await.unwrap();
    let r = store
        .event("stripe:evt_twice", OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.state, r.attempt_count), (EventState::Delivered, 2));
}

/// A claim given back leaves a mark on DynamoDB, so the key's next claim is not its first
/// (whose history would be written whole over the attempt that gave it back); the mark
/// reads as no entry and lives as long as that attempt's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_released_key_is_not_claimed_as_its_first() {
    use inlet_core::ports::{Claim, Ledger};
    let moto = inlet_tests::moto::Moto::connect().await;
    let table = moto.table().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
    let key = inlet_core::ids::EventKey::parse("stripe:evt_given_back").unwrap();
    let (now, lease, retention) = (
        OffsetDateTime::now_utc(),
        Duration::from_secs(30),
        Duration::from_secs(30 * 86_400),
    );
    assert_eq!(
        store.claim(&key, "h", now, lease).await.unwrap(),
        Claim::Acquired { first: true }
    );
    store.release(&key, now, retention).await.unwrap();
    assert_eq!(store.lookup(&key, now).await.unwrap(), None);
    let mark = moto.stored_item(&table, "L#stripe:evt_given_back").await;
    let ttl: i64 = mark["ttl"].as_n().unwrap().parse().unwrap();
    assert!(ttl >= (now + retention).unix_timestamp(), "{mark:?}");
    // Claimable at once, but not the first; the mark's life is kept by the new claim.
    assert_eq!(
        store.claim(&key, "h", now, lease).await.unwrap(),
        Claim::Acquired { first: false }
    );
    let claimed = moto.stored_item(&table, "L#stripe:evt_given_back").await;
    assert_eq!(claimed["st"].as_s().unwrap(), "IN_PROGRESS");
    assert_eq!(claimed["ttl"], mark["ttl"]);
    assert!(matches!(
        store.claim(&key, "h", now, lease).await.unwrap(),
        Claim::InFlight { .. }
    ));
}
