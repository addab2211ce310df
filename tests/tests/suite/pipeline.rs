//! The worker's guarantees end to end in `inlet dev`: effectively-once under duplicates and
//! concurrency, retries with backoff, permanent failures to the DLQ and back, stale
//! versions superseded, restarts without loss.

use std::collections::HashMap;
use std::time::Duration;

use inlet_core::metrics::names;
use inlet_core::ports::{DeadLetters, RedriveSelector};
use inlet_core::signature::{HmacSpec, Scheme};
use inlet_tests::*;

fn count_by_key(keys: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for k in keys {
        *m.entry(k.clone()).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_and_concurrent_duplicates_yield_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let base = dev.url("");

    // A provider retry, seconds later.
    let body = stripe_event("evt_dup", "invoice.paid", "in_d", now_unix());
    assert_eq!(post_stripe(&client, &base, &body).await.0, 202);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    assert_eq!(post_stripe(&client, &base, &body).await.0, 202);

    // 25 copies of another event at once, plus 10 distinct events interleaved.
    let body = stripe_event("evt_storm", "invoice.paid", "in_s", now_unix());
    let mut tasks = Vec::new();
    for i in 0..35 {
        let (client, base) = (client.clone(), base.clone());
        let body = if i < 25 {
            body.clone()
        } else {
            stripe_event(
                &format!("evt_other_{i}"),
                "invoice.paid",
                &format!("in_o{i}"),
                now_unix(),
            )
        };
        tasks.push(tokio::spawn(async move {
            post_stripe(&client, &base, &body).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    assert!(wait_until(Duration::from_secs(15), || read_jsonl(&events).len() >= 12).await);
    // Let any straggling duplicate finish processing before counting.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let s = futures::executor::block_on(dev.store().status()).unwrap();
            s.queue_depth == 0 && s.in_flight == 0
        })
        .await
    );
    let keys: Vec<String> = read_jsonl(&events)
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    let counts = count_by_key(&keys);
    assert_eq!(counts.len(), 12, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    dev.stop().await;

    // The counters saw the duplicates (flushed at shutdown).
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        Default::default(),
        std::sync::Arc::new(inlet_core::clock::SystemClock),
    )
    .unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.total(names::PROCESSED), 12);
    assert_eq!(status.total(names::DUPLICATES), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_sink_failures_are_retried_with_backoff_then_delivered_once() {
    let sink = SinkServer::start().await;
    sink.plan.lock().unwrap().extend([503, 502, 429]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        http_sink_toml(&sink.url)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let body = stripe_event("evt_flaky", "invoice.paid", "in_f", now_unix());
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );
    assert!(wait_until(Duration::from_secs(15), || sink.delivered_keys().len() == 1).await);
    assert_eq!(sink.hit_count(), 4, "three failures, then success");
    assert_eq!(
        sink.delivered_keys(),
        ["stripe:evt_flaky"],
        "Idempotency-Key is the event key"
    );
    assert!(settled(dev.store()).await, "the event was settled");
    assert_eq!(sink.hit_count(), 4, "nothing after the success");
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_goes_to_the_dlq_with_the_reason_then_redrives() {
    let sink = SinkServer::start().await;
    *sink.default_status.lock().unwrap() = 422;
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        http_sink_toml(&sink.url)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let body = stripe_event("evt_rejected", "invoice.paid", "in_r", now_unix());
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );

    let store = dev.store().clone();
    assert!(
        wait_until(Duration::from_secs(10), || futures::executor::block_on(
            store.list(10)
        )
        .unwrap()
        .len()
            == 1)
        .await
    );
    let dead = store.list(10).await.unwrap();
    assert_eq!(dead[0].key.as_deref(), Some("stripe:evt_rejected"));
    assert!(
        dead[0].reason.as_deref().unwrap().contains("422"),
        "{:?}",
        dead[0].reason
    );
    assert_eq!(sink.hit_count(), 1, "a permanent failure is not retried");

    // The downstream is fixed; the operator redrives.
    *sink.default_status.lock().unwrap() = 200;
    assert_eq!(
        store
            .redrive(&RedriveSelector::Key("stripe:evt_rejected".into()))
            .await
            .unwrap(),
        1
    );
    assert!(wait_until(Duration::from_secs(10), || sink.delivered_keys().len() == 1).await);
    assert!(store.list(10).await.unwrap().is_empty());
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_dead_letters_with_the_last_error() {
    let sink = SinkServer::start().await;
    *sink.default_status.lock().unwrap() = 503;
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(3),
        providers_toml(),
        http_sink_toml(&sink.url)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let body = stripe_event("evt_down", "invoice.paid", "in_x", now_unix());
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );
    let store = dev.store().clone();
    assert!(
        wait_until(Duration::from_secs(15), || futures::executor::block_on(
            store.list(10)
        )
        .unwrap()
        .len()
            == 1)
        .await
    );
    let dead = store.list(10).await.unwrap();
    let reason = dead[0].reason.clone().unwrap();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("503"),
        "{reason}"
    );
    assert_eq!(sink.hit_count(), 3);
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_event_never_overwrites_newer_state() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let spec = HmacSpec {
        header: "x-erp-signature".into(),
        prefix: "sha256=".into(),
        timestamp_header: Some("x-erp-timestamp".into()),
        template: HmacSpec::parse_template("{timestamp}.{body}").unwrap(),
        ..HmacSpec::github()
    };
    let send = |id: &str, version: i64| {
        let body = format!(r#"{{"event_id":"{id}","order":{{"id":"SO-9","version":{version}}}}}"#)
            .into_bytes();
        let h = signed(
            &Scheme::Hmac(spec.clone()),
            ERP_SECRET,
            &body,
            now_unix(),
            "",
        );
        (h, body)
    };
    // Version 2 arrives and is processed; then the older version 1 arrives late.
    let (h, b) = send("E-v2", 2);
    assert_eq!(post(&client, &dev.url("/webhooks/erp"), &h, b).await.0, 202);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    let (h, b) = send("E-v1", 1);
    assert_eq!(post(&client, &dev.url("/webhooks/erp"), &h, b).await.0, 202);
    let (h, b) = send("E-v3", 3);
    assert_eq!(post(&client, &dev.url("/webhooks/erp"), &h, b).await.0, 202);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 2).await);
    assert!(settled(dev.store()).await, "all three were handled");
    let versions: Vec<i64> = read_jsonl(&events)
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 3], "version 1 was superseded, not delivered");
    dev.stop().await;
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        Default::default(),
        std::sync::Arc::new(inlet_core::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(store.status().await.unwrap().total(names::SUPERSEDED), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_mid_stream_delivers_every_accepted_event() {
    // A slow downstream keeps a backlog, so every graceful stop leaves accepted events in
    // the queue for the next start. Each round sends twice what the workers hold in flight
    // at once (4 loops × batch 10): a stop lets the batches in progress finish, so fewer
    // events would all be delivered before it returns.
    let sink = SinkServer::start().await;
    *sink.delay.lock().unwrap() = Duration::from_millis(100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        http_sink_toml(&sink.url)
    );
    let client = reqwest::Client::new();
    let mut accepted = Vec::new();
    let mut backlog_seen = false;
    for round in 0..3 {
        let dev = Dev::start(&cfg, dir.path()).await;
        let base = dev.url("");
        let mut tasks = Vec::new();
        for i in 0..80 {
            let (client, base) = (client.clone(), base.clone());
            let body = stripe_event(
                &format!("evt_r{round}_{i}"),
                "invoice.paid",
                &format!("in_{round}_{i}"),
                now_unix(),
            );
            tasks.push(tokio::spawn(async move {
                let resp = stripe_request(&client, &base, &body).send().await.ok()?;
                (resp.status().as_u16() == 202).then(|| format!("stripe:evt_r{round}_{i}"))
            }));
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        let stopping = tokio::spawn(dev.stop());
        for t in tasks {
            if let Some(key) = t.await.unwrap() {
                accepted.push(key);
            }
        }
        stopping.await.unwrap();
        let delivered = sink.delivered_keys().len();
        backlog_seen |= delivered < accepted.len();
        eprintln!(
            "round {round}: {} accepted so far, {delivered} delivered",
            accepted.len()
        );
    }
    assert!(backlog_seen, "the restarts happened with a backlog");
    *sink.delay.lock().unwrap() = Duration::ZERO;
    let dev = Dev::start(&cfg, dir.path()).await;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let got = sink.delivered_keys();
            accepted.iter().all(|k| got.contains(k))
        })
        .await,
        "every 202'd event is delivered"
    );
    let keys = sink.delivered_keys();
    assert!(
        count_by_key(&keys).values().all(|&n| n == 1),
        "graceful restarts deliver nothing twice"
    );
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_a_handled_event_again_with_source_replay() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let body = stripe_event("evt_replay", "invoice.paid", "in_rp", now_unix());
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);

    assert_eq!(dev.store().replay("stripe:nope").await.unwrap(), 0);
    assert_eq!(dev.store().replay("stripe:evt_replay").await.unwrap(), 1);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 2).await);
    let records = read_jsonl(&events);
    assert_eq!(records[1]["key"], "stripe:evt_replay");
    assert_eq!(records[1]["source"], "replay");
    assert_eq!(records[1]["payload"], records[0]["payload"]);
    // A provider retry after the replay is still a duplicate.
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );
    assert!(settled(dev.store()).await, "the retry was handled");
    assert_eq!(read_jsonl(&events).len(), 2);
    dev.stop().await;
}

/// A sink that records the keys of each call it gets.
#[derive(Default)]
struct RecordingSink {
    calls: std::sync::Mutex<Vec<Vec<String>>>,
}

#[async_trait::async_trait]
impl inlet_core::ports::Sink for RecordingSink {
    fn name(&self) -> &str {
        "recording"
    }

    async fn deliver(
        &self,
        record: &inlet_core::envelope::SinkRecord,
    ) -> Result<(), inlet_core::ports::SinkError> {
        self.calls.lock().unwrap().push(vec![record.key.clone()]);
        Ok(())
    }

    async fn deliver_batch(
        &self,
        records: &[&inlet_core::envelope::SinkRecord],
    ) -> Vec<Result<(), inlet_core::ports::SinkError>> {
        let keys = records.iter().map(|r| r.key.clone()).collect();
        self.calls.lock().unwrap().push(keys);
        records.iter().map(|_| Ok(())).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_worker_delivers_a_batch_in_one_sink_call_keeping_entity_order() {
    use inlet_core::ports::Queue as _;
    use inlet_core::usecase::process::{run_once, Processor, WorkerStores};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(inlet_core::clock::SystemClock);
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        inlet_local::StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    let event = |id: &str, entity: &str, version: i64| {
        let mut e = stripe_envelope(&stripe_event(id, "invoice.paid", "in_x", 1_800_000_000));
        e.entity = Some(entity.to_string());
        e.version = Some(version);
        e
    };
    let mut arrivals = vec![
        event("evt_a1", "orders/a", 1),
        event("evt_b2", "orders/b", 2),
        event("evt_a2", "orders/a", 2),
        event("evt_b1", "orders/b", 1), // older than b2: superseded, never delivered
        event("evt_a1", "orders/a", 1), // a second copy of a1 in the same batch
        event("evt_a3", "orders/a", 3),
    ];
    arrivals.extend((0..6).map(|i| event(&format!("evt_c{i}"), &format!("orders/c{i}"), 1)));
    for e in &arrivals {
        store.send(e).await.unwrap();
    }
    let sink = Arc::new(RecordingSink::default());
    let metrics = Arc::new(inlet_local::LocalMetrics::new());
    let config = parse_config(&format!(
        "{}[[sinks]]\nkind = \"stdout\"\n",
        providers_toml()
    ));
    let processor = Processor::from_config(
        &config,
        WorkerStores::all(Arc::new(store.clone())),
        vec![sink.clone()],
        metrics.clone(),
        clock,
    );

    // The local queue hands out one message per entity at a time (the oldest), so the
    // batches are: every entity's first message; then a2 and b1 (older than b2:
    // superseded, never delivered); then a1's second copy (a duplicate); then a3.
    let mut received = Vec::new();
    loop {
        match run_once(&processor, &store, 100, Duration::from_secs(30))
            .await
            .unwrap()
        {
            0 => break,
            n => received.push(n),
        }
    }
    assert_eq!(received, [8, 2, 1, 1]);
    let calls = sink.calls.lock().unwrap().clone();
    let mut first = vec!["stripe:evt_a1".to_string(), "stripe:evt_b2".to_string()];
    first.extend((0..6).map(|i| format!("stripe:evt_c{i}")));
    assert_eq!(
        calls,
        vec![
            first,
            vec!["stripe:evt_a2".into()],
            vec!["stripe:evt_a3".into()]
        ],
        "one sink call per batch, arrival order kept"
    );
    // Every message is settled: the queue and the DLQ are empty, the duplicate counted.
    assert!(store
        .receive(100, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    assert!(DeadLetters::list(&store, 10).await.unwrap().is_empty());
    metrics.flush(&store).await.unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.total(names::DUPLICATES), 1);
    assert_eq!(status.total(names::SUPERSEDED), 1);
}

#[tokio::test]
async fn the_file_sink_writes_a_batch_in_order_and_a_failed_write_fails_every_record() {
    use inlet_core::ports::{Sink as _, SinkError};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out").join("events.jsonl");
    let records: Vec<_> = (0..3)
        .map(|i| {
            stripe_envelope(&stripe_event(
                &format!("evt_f{i}"),
                "invoice.paid",
                "in_f",
                1,
            ))
            .to_record()
        })
        .collect();
    let refs: Vec<_> = records.iter().collect();

    let sink = inlet_sinks::FileSink::open(path.clone()).unwrap();
    assert!(sink.deliver_batch(&refs).await.iter().all(Result::is_ok));
    let keys: Vec<_> = read_jsonl(&path)
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["stripe:evt_f0", "stripe:evt_f1", "stripe:evt_f2"]);

    // A device that is always full: the write fails, so no record may count as delivered.
    let full = inlet_sinks::FileSink::open("/dev/full".into()).unwrap();
    let results = full.deliver_batch(&refs).await;
    assert_eq!(results.len(), 3);
    for r in results {
        match r {
            Err(SinkError::Transient { message, .. }) => {
                assert!(message.contains("/dev/full"), "{message}")
            }
            other => panic!("expected a transient failure, got {other:?}"),
        }
    }
}

// Staged rows are delivered once; published rows past the ledger's retention are deleted
// (the table does not grow without end), fresh ones are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_events_are_delivered_and_old_published_rows_purged() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let app = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&app).unwrap();
    inlet_outbox::sqlite::install(&conn).unwrap();
    let old = inlet_outbox::OutboxEvent::new("order", "o_old", "order.paid", serde_json::json!({}));
    let new =
        inlet_outbox::OutboxEvent::new("order", "o_new", "order.paid", serde_json::json!({"n": 1}))
            .with_idempotency_key("order.paid:o_new");
    inlet_outbox::sqlite::stage(&conn, &old).unwrap();
    inlet_outbox::sqlite::Drain::open(&app)
        .unwrap()
        .mark_published(&[old.id.as_str()], 1_000)
        .unwrap();
    inlet_outbox::sqlite::stage(&conn, &new).unwrap();
    let cfg = format!(
        "{}{}{}\n[[outboxes]]\nname = \"shop\"\nsqlite = {:?}\npoll_interval_ms = 20\n",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&events),
        app.display().to_string()
    );
    let dev = Dev::start(&cfg, &dir.path().join("data")).await;
    assert!(
        wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await,
        "the staged event is delivered"
    );
    let record = &read_jsonl(&events)[0];
    assert_eq!(record["key"], "shop:order.paid:o_new");
    assert_eq!(record["source"], "outbox");
    let drain = inlet_outbox::sqlite::Drain::open(&app).unwrap();
    assert!(
        drain.get(&old.id).unwrap().is_none(),
        "published long ago: purged"
    );
    let kept = drain.get(&new.id).unwrap().unwrap();
    assert_eq!(kept.status, inlet_outbox::Status::Published);
    assert!(kept.published_at.is_some());
    dev.stop().await;
}

/// A webhook older than its provider's `max_event_age_secs` (by the event's own creation
/// time) is acknowledged and recorded as stale, not delivered; a fresh one is delivered;
/// a reconciliation copy of the old change is exempt (it is old on purpose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_webhook_is_recorded_not_delivered() {
    use inlet_core::ports::{History as _, Queue as _};
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}{}\n[[providers]]\nname = \"aged\"\nscheme = \"hmac\"\nsecrets = [\"aged-secret\"]\nheader = \"x-aged-signature\"\nid_pointer = \"/id\"\nmax_event_age_secs = 300\nevent_time_pointer = \"/created\"\n",
        fast_worker_toml(5),
        file_sink_toml(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let spec = HmacSpec {
        header: "x-aged-signature".into(),
        ..HmacSpec::default()
    };
    let send = |id: &str, created: i64| {
        let body = format!(r#"{{"id":"{id}","created":{created}}}"#).into_bytes();
        let h = signed(
            &Scheme::Hmac(spec.clone()),
            "aged-secret",
            &body,
            now_unix(),
            "",
        );
        (h, body)
    };
    let (h, b) = send("old-1", now_unix() - 3600);
    assert_eq!(
        post(&client, &dev.url("/webhooks/aged"), &h, b.clone())
            .await
            .0,
        202
    );
    let (h2, b2) = send("new-1", now_unix() - 5);
    assert_eq!(
        post(&client, &dev.url("/webhooks/aged"), &h2, b2).await.0,
        202
    );
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = futures::executor::block_on(dev.store().status()).unwrap();
            s.queue_depth == 0 && s.in_flight == 0
        })
        .await
    );
    let keys: Vec<String> = read_jsonl(&events)
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["aged:new-1"]);
    let record = dev
        .store()
        .event("aged:old-1", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state.as_str(), "stale");
    let detail = record.attempts.last().unwrap().detail.clone().unwrap();
    assert!(detail.contains("max_event_age_secs is 300"), "{detail}");

    // The same old change found by reconciliation is delivered: exempt.
    let mut recovered = record.envelope.clone();
    recovered.source = inlet_core::envelope::Source::Reconciliation;
    recovered.body = b;
    dev.store().send(&recovered).await.unwrap();
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 2).await);
    dev.stop().await;
}

/// A destination that keeps throttling never walks an event to the DLQ: each 429 puts it
/// back without counting the receive, so with `max_receive = 2` four throttles in a row
/// still end in one delivery (counted, they would have dead-lettered it at the second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_does_not_use_up_the_receive_count() {
    let sink = SinkServer::start().await;
    for _ in 0..4 {
        sink.plan.lock().unwrap().push_back(429);
    }
    *sink.retry_after.lock().unwrap() = Some("1".into());
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}\n[[sinks]]\nkind = \"http\"\nurl = {:?}\nattempts = 1\ntimeout_ms = 700\n",
        fast_worker_toml(2),
        providers_toml(),
        sink.url
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let body = stripe_event("evt_storm_0", "invoice.paid", "in_s0", now_unix());
    assert_eq!(
        post_stripe(&reqwest::Client::new(), &dev.url(""), &body)
            .await
            .0,
        202
    );
    assert!(wait_until(Duration::from_secs(30), || sink.delivered_keys().len() == 1).await);
    let statuses: Vec<u16> = sink.hits.lock().unwrap().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [429, 429, 429, 429, 200]);
    assert!(
        dev.store().list(10).await.unwrap().is_empty(),
        "nothing dead-lettered"
    );
    dev.stop().await;
}

/// A destination that answers 429 with `Retry-After: 2` gets the event again after those
/// two seconds — a delay, counted as a throttle, not a failure on the way to the DLQ; and a
/// sink with `rate_per_minute` sends no faster than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_waits_for_retry_after_and_keeps_its_rate() {
    let sink = SinkServer::start().await;
    sink.plan.lock().unwrap().push_back(429);
    *sink.retry_after.lock().unwrap() = Some("2".into());
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}\n[[sinks]]\nkind = \"http\"\nurl = {:?}\nattempts = 1\ntimeout_ms = 700\nrate_per_minute = 120\n",
        fast_worker_toml(2),
        providers_toml(),
        sink.url
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let body = stripe_event("evt_paced_0", "invoice.paid", "in_p0", now_unix());
    assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);
    assert!(wait_until(Duration::from_secs(15), || sink.delivered_keys().len() == 1).await);
    {
        let hits = sink.hits.lock().unwrap();
        assert_eq!(hits[0].status, 429);
        let waited = hits[1].at - hits[0].at;
        assert!(
            waited >= Duration::from_millis(1900),
            "retried after {waited:?}"
        );
    }
    // max_receive is 2: a throttle that counted as a failure twice would have dead-lettered.
    assert!(dev.store().list(10).await.unwrap().is_empty());

    // Five more at once, at 120 a minute (one token at a time, two a second).
    for i in 1..=5 {
        let body = stripe_event(
            &format!("evt_paced_{i}"),
            "invoice.paid",
            &format!("in_p{i}"),
            now_unix(),
        );
        assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);
    }
    assert!(wait_until(Duration::from_secs(20), || sink.delivered_keys().len() == 6).await);
    let ok: Vec<_> = sink
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.status == 200)
        .map(|h| h.at)
        .collect();
    let span = ok[5] - ok[1];
    assert!(
        span >= Duration::from_millis(1900),
        "five deliveries in {span:?}: faster than 2/s"
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let s = futures::executor::block_on(dev.store().status()).unwrap();
            s.total(names::SINK_THROTTLED) >= 1
        })
        .await
    );
    dev.stop().await;
}

/// `max_in_flight` keeps the destination's concurrency: with each answer taking 300 ms and
/// one slot, no request arrives while another is being answered; the events over it wait
/// (delayed, not failed: nothing is dead-lettered with `max_receive = 2`) and each is
/// delivered once. Without the setting the same batch arrives concurrently (checked first,
/// so the test cannot pass on a worker that happens to deliver one at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_keeps_its_max_in_flight() {
    let delay = Duration::from_millis(300);
    let mut overlaps = Vec::new();
    for limit in ["", "max_in_flight = 1\n"] {
        let sink = SinkServer::start().await;
        *sink.delay.lock().unwrap() = delay;
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "{}{}\n[[sinks]]\nkind = \"http\"\nurl = {:?}\nattempts = 1\ntimeout_ms = 700\n{limit}",
            fast_worker_toml(2),
            providers_toml(),
            sink.url
        );
        let dev = Dev::start(&cfg, dir.path()).await;
        let client = reqwest::Client::new();
        for i in 0..4 {
            let body = stripe_event(
                &format!("evt_slot_{i}"),
                "invoice.paid",
                &format!("in_sl{i}"),
                now_unix(),
            );
            assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);
        }
        assert!(wait_until(Duration::from_secs(30), || sink.delivered_keys().len() == 4).await);
        let mut arrivals: Vec<_> = sink.hits.lock().unwrap().iter().map(|h| h.at).collect();
        arrivals.sort();
        overlaps.push(arrivals.windows(2).filter(|w| w[1] - w[0] < delay).count());
        assert!(
            inlet_core::ports::DeadLetters::list(dev.store(), 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing dead-lettered"
        );
        assert_eq!(sink.delivered_keys().len(), 4, "each once");
        dev.stop().await;
    }
    assert!(
        overlaps[0] > 0,
        "without a limit the batch arrives concurrently: {overlaps:?}"
    );
    assert_eq!(overlaps[1], 0, "one in flight at a time: {overlaps:?}");
}
