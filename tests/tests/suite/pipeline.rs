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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    // the queue for the next start.
    let sink = SinkServer::start().await;
    *sink.delay.lock().unwrap() = Duration::from_millis(10);
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
        for i in 0..40 {
            let (client, base) = (client.clone(), base.clone());
            let body = stripe_event(
                &format!("evt_r{round}_{i}"),
                "invoice.paid",
                &format!("in_{round}_{i}"),
                now_unix(),
            );
            tasks.push(tokio::spawn(async move {
                let mut req = client
                    .post(format!("{base}/webhooks/stripe"))
                    .body(body.clone());
                for (k, v) in signed(
                    &inlet_core::signature::Scheme::Stripe,
                    STRIPE_SECRET,
                    body.as_bytes(),
                    now_unix(),
                    "",
                ) {
                    req = req.header(k, v);
                }
                let resp = req.send().await.ok()?;
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read_jsonl(&events).len(), 2);
    dev.stop().await;
}
