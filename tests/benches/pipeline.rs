//! Pipeline benchmarks. Prints numbers and ratios against baselines measured in the same
//! run; asserts nothing (speed is measured, not asserted).
//!
//!   scripts/bench            (cargo bench -p inlet-tests --bench pipeline)
//!
//! 1. Signature verification per scheme (2 KiB body).
//! 2. Durable enqueue on the embedded store: group commit against one fsync per event.
//! 3. HTTP ingest into a running `inlet dev`: requests/s and latency percentiles, and the
//!    time until every accepted event is in the sink.
//! 4. End to end into the fsync'd file sink, by worker batch size (1 = a store round trip
//!    and an fsync per message, the baseline): sustained events/s from 32 clients, and
//!    request→sink latency at a steady 5,000 events/s.
//! 5. Reconciliation sources and source presets: calls and time per feed.
//! 6. Schema drift: the worker's shape check per event beside reading the payload once,
//!    and the store calls it makes for 100,000 events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_core::clock::SystemClock;
use inlet_core::headers::Headers;
use inlet_core::ports::Queue;
use inlet_core::secret::Secret;
use inlet_core::signature::{verify, Scheme, SignRequest, VerifyRequest};
use inlet_local::{Store, StoreOptions};
use inlet_tests::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// A secret that signs as `preset` (public-key presets: a test-only private key).
fn bench_secret(preset: &inlet_core::catalogue::Preset, scheme: &Scheme) -> Secret {
    use inlet_core::catalogue::Verify;
    use inlet_core::signature::{BodyScheme, KeyAlgorithm};
    Secret::new(match (&preset.verify, scheme) {
        (Verify::Key(row), _) => match row.algorithm {
            KeyAlgorithm::Ed25519 => include_str!("../fixtures/ed25519-test-key.pem"),
            KeyAlgorithm::EcdsaP256 => include_str!("../fixtures/p256-test-key.pem"),
            KeyAlgorithm::RsaSha256 => {
                include_str!("../../shared/signatures/src/catalogue/testdata/rsa-test-key.pem")
            }
        },
        (_, Scheme::StandardWebhooks | Scheme::Svix) => "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=",
        (_, Scheme::BasicAuth) => "user:bench-password",
        (_, Scheme::Body(BodyScheme::Adyen)) => {
            "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
        }
        _ => "bench-secret",
    })
}

/// The public half of the bench's test key, in the form each provider hands it out.
fn bench_public_key(scheme: &Scheme) -> Option<&'static str> {
    use inlet_core::signature::KeyAlgorithm;
    let Scheme::PublicKey(spec) = scheme else {
        return None;
    };
    Some(match spec.algorithm {
        KeyAlgorithm::Ed25519 => include_str!("../fixtures/ed25519-test-key.pub.hex"),
        KeyAlgorithm::EcdsaP256 => include_str!("../fixtures/p256-test-key.pub.b64"),
        KeyAlgorithm::RsaSha256 => {
            include_str!("../../shared/signatures/src/catalogue/testdata/rsa-test-key.pub.pem")
        }
    })
}

/// The body a preset signs (its provider's shape where the signature lives inside it),
/// about 2 KiB.
fn bench_body(scheme: &Scheme) -> Vec<u8> {
    use inlet_core::signature::BodyScheme;
    let filler = "x".repeat(1900);
    match scheme {
        Scheme::Twilio { .. } => format!("MessageSid=SM1&Body={filler}").into_bytes(),
        Scheme::Body(BodyScheme::Adyen) => serde_json::json!({"live": "false", "notificationItems": [{"NotificationRequestItem": {
            "pspReference": "7914073381342284", "merchantAccountCode": "Shop", "merchantReference": filler,
            "amount": {"value": 1130, "currency": "EUR"}, "eventCode": "AUTHORISATION", "success": "true"}}]})
        .to_string()
        .into_bytes(),
        Scheme::Body(BodyScheme::GraphClientState) => {
            serde_json::json!({"value": [{"subscriptionId": "s", "changeType": "updated", "resource": filler}]})
                .to_string()
                .into_bytes()
        }
        _ => serde_json::json!({"id": "evt_1", "type": "invoice.paid", "note": filler}).to_string().into_bytes(),
    }
}

fn bench_verify() {
    use hmac::Mac as _;
    use inlet_core::catalogue::{Settings, PRESETS};
    use inlet_core::signature::sign_request;
    println!(
        "\n## signature verification per preset, ~2 KiB body, 3 active secrets (match on the last)"
    );
    let n = 20_000;
    // The baseline: what a hand-written check does with the same three secrets — a bare
    // HMAC-SHA256 of the same body under each, compared in constant time.
    let body = bench_body(&Scheme::Stripe);
    let start = Instant::now();
    for _ in 0..n {
        for key in [&b"old-secret-1"[..], b"old-secret-2", b"bench-secret"] {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(&body);
            std::hint::black_box(mac.verify_slice(&[0u8; 32]).is_ok());
        }
    }
    let bare = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "{:<18} {:<36} {:>8.2} µs/verify",
        "(baseline)", "bare HMAC-SHA256 × 3 secrets", bare
    );
    let mut slowest: (f64, &str) = (0.0, "");
    for preset in PRESETS {
        let settings = Settings {
            public_url: preset
                .takes_url()
                .then_some("https://hooks.example.com/webhooks/p"),
            header: preset.takes_header().then_some("x-hook-token"),
        };
        let scheme = preset.scheme(settings).unwrap();
        if matches!(scheme, Scheme::Unsigned | Scheme::Certificate(_)) {
            continue; // nothing to verify / measured in the certificate section below
        }
        let secret = bench_secret(preset, &scheme);
        let signed = sign_request(
            &scheme,
            &SignRequest {
                body: &bench_body(&scheme),
                secret: &secret,
                timestamp: 1_700_000_000,
                id: "msg_1",
            },
        )
        .unwrap();
        let mut h = Headers::new();
        for (k, v) in &signed.headers {
            h.insert(k, v.as_str());
        }
        // Public-key presets verify with the provider's public key, as deployed.
        let secrets = if let Some(public) = bench_public_key(&scheme) {
            vec![Secret::new(public)]
        } else {
            vec![
                Secret::new("old-secret-1"),
                Secret::new("old-secret-2"),
                secret,
            ]
        };
        let req = VerifyRequest {
            body: &signed.body,
            headers: &h,
            secrets: &secrets,
            now: 1_700_000_000,
            tolerance_secs: 300,
        };
        let rounds = if preset.family().contains("rsa") || preset.family().contains("ecdsa") {
            n / 20
        } else {
            n
        };
        let start = Instant::now();
        for _ in 0..rounds {
            assert!(verify(&scheme, &req).is_ok(), "{}", preset.name);
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        let public_key = matches!(scheme, Scheme::PublicKey(_));
        if !public_key && per / bare > slowest.0 {
            slowest = (per / bare, preset.name);
        }
        println!(
            "{:<18} {:<36} {:>8.2} µs/verify {:>6.2}× bare HMAC{}",
            preset.name,
            preset.family(),
            per,
            per / bare,
            if public_key {
                "  (public key)"
            } else if per / bare > 5.0 {
                "  (over 5×)"
            } else {
                ""
            }
        );
    }
    println!(
        "slowest shared-secret preset: {} at {:.2}× the bare HMAC (target ≤ 5×)",
        slowest.1, slowest.0
    );

    // Certificate presets: parsing the (cached) certificate and an RSA verify, per request.
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/independent_vectors.json")).unwrap();
    for name in ["aws-sns", "paypal"] {
        let case = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scheme"] == name)
            .unwrap();
        let scheme = inlet_core::catalogue::preset(name)
            .unwrap()
            .scheme(Settings::default())
            .unwrap();
        let mut h = Headers::new();
        for (k, v) in case["headers"].as_object().unwrap() {
            h.insert(k, v.as_str().unwrap());
        }
        let secrets = vec![Secret::new(case["secret"].as_str().unwrap())];
        let req = VerifyRequest {
            body: case["body"].as_str().unwrap().as_bytes(),
            headers: &h,
            secrets: &secrets,
            now: case["now"].as_i64().unwrap(),
            tolerance_secs: 300,
        };
        let pem = case["certificate"].as_str().unwrap().as_bytes();
        let rounds = n / 20;
        let start = Instant::now();
        for _ in 0..rounds {
            assert!(inlet_core::signature::verify_with_certificate(&scheme, &req, pem).is_ok());
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "{:<18} {:<36} {:>8.2} µs/verify {:>6.2}× bare HMAC  (certificate, fetched once)",
            name,
            "rsa with the provider's X.509 certificate",
            per,
            per / bare
        );
    }
}

async fn enqueue_rate(group_commit_max: usize, events: usize, concurrency: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("inlet.db"),
        StoreOptions {
            group_commit_max,
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let body = stripe_event("evt_bench", "invoice.paid", "in_1", now_unix());
    let envelope = {
        let p = inlet_core::ids::ProviderName::parse("stripe").unwrap();
        inlet_core::normalize::normalize(
            &inlet_core::normalize::Incoming {
                provider: &p,
                scheme: &Scheme::Stripe,
                headers: &Headers::new(),
                body: body.as_bytes(),
                received_at: time::OffsetDateTime::now_utc(),
                correlation_id: "bench",
                source: inlet_core::envelope::Source::Webhook,
            },
            &Default::default(),
        )
        .unwrap()
    };
    let start = Instant::now();
    let per_task = events / concurrency;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (store, envelope) = (store.clone(), envelope.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                store.send(&envelope).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per_task * concurrency) as f64 / start.elapsed().as_secs_f64()
}

async fn bench_enqueue() {
    println!("\n## durable enqueue (WAL, synchronous=FULL), 64 concurrent senders");
    let baseline = enqueue_rate(1, 2_000, 64).await;
    let grouped = enqueue_rate(256, 20_000, 64).await;
    println!("one fsync per event (baseline) {baseline:>9.0} events/s");
    println!(
        "group commit                   {grouped:>9.0} events/s   {:.1}× baseline",
        grouped / baseline
    );
}

/// `concurrency` clients post `total` signed Stripe events (ids tagged with `tag`) as fast
/// as they can; the latency of each 202.
async fn post_concurrently(
    client: &reqwest::Client,
    base: &str,
    concurrency: usize,
    total: usize,
    tag: &str,
) -> Vec<Duration> {
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let (client, base, tag) = (client.clone(), base.to_string(), tag.to_string());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for i in 0..total / concurrency {
                    let body = stripe_event(
                        &format!("evt_{tag}_{c}_{i}"),
                        "invoice.paid",
                        &format!("in_{tag}_{c}_{i}"),
                        now_unix(),
                    );
                    let t = Instant::now();
                    assert_eq!(post_stripe(&client, &base, &body).await.0, 202);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat
}

async fn bench_http() {
    println!("\n## HTTP ingest into inlet dev (file sink, fsync per record), loopback");
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let base = dev.url("");
    for (concurrency, total) in [(1usize, 500usize), (32, 5_000)] {
        let before = read_jsonl(&events).len();
        let start = Instant::now();
        let mut lat = post_concurrently(
            &client,
            &base,
            concurrency,
            total,
            &format!("h{concurrency}"),
        )
        .await;
        let ingest = start.elapsed();
        let n = lat.len();
        wait_until(Duration::from_secs(120), || {
            read_jsonl(&events).len() >= before + n
        })
        .await;
        let drained = start.elapsed();
        lat.sort();
        println!(
            "{concurrency:>2} client(s): {:>6.0} req/s accepted   p50 {:>6.2} ms  p99 {:>6.2} ms   all {n} in the sink after {:.2} s ({:.0} events/s end to end)",
            n as f64 / ingest.as_secs_f64(),
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            drained.as_secs_f64(),
            n as f64 / drained.as_secs_f64()
        );
    }
    dev.stop().await;
}

/// Follows the file sink on a thread of its own: the moment each key's line appears
/// (polled every millisecond, reading only what was appended). Stops when dropped.
struct SinkFollower {
    seen: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl SinkFollower {
    fn start(path: std::path::PathBuf) -> SinkFollower {
        use std::io::{Read, Seek, SeekFrom};
        let follower = SinkFollower {
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let (seen, halt) = (follower.seen.clone(), follower.stop.clone());
        std::thread::spawn(move || {
            let mut offset = 0u64;
            let mut partial = Vec::new();
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(mut f) = std::fs::File::open(&path) {
                    f.seek(SeekFrom::Start(offset)).unwrap();
                    let mut buf = Vec::new();
                    offset += f.read_to_end(&mut buf).unwrap() as u64;
                    let now = Instant::now();
                    partial.extend_from_slice(&buf);
                    let complete = partial
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |p| p + 1);
                    let mut seen = seen.lock().unwrap();
                    for line in partial[..complete]
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                    {
                        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                        seen.entry(v["key"].as_str().unwrap().to_string())
                            .or_insert(now);
                    }
                    partial.drain(..complete);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        follower
    }

    /// Wait until `n` keys are in the sink.
    async fn wait_for(&self, n: usize) {
        wait_until(Duration::from_secs(300), || {
            self.seen.lock().unwrap().len() >= n
        })
        .await;
    }

    /// When each key's line appeared.
    fn arrivals(&self) -> HashMap<String, Instant> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for SinkFollower {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What one row of this section runs: the worker's batch size, and whether the event
/// history is on (the default).
#[derive(Clone, Copy)]
struct Setup {
    batch_size: usize,
    history: bool,
}

/// `inlet dev` with the file sink and `setup`, otherwise the defaults.
async fn dev_with(dir: &std::path::Path, setup: Setup) -> (Dev, std::path::PathBuf) {
    let events = dir.join("events.jsonl");
    let cfg = format!(
        "[worker]\nbatch_size = {}\n[history]\nenabled = {}\n{}{}",
        setup.batch_size,
        setup.history,
        providers_toml(),
        file_sink_toml(&events)
    );
    (Dev::start(&cfg, dir).await, events)
}

async fn bench_end_to_end() {
    println!("\n## end to end into the file sink (fsync'd), worker batch size 1 (baseline) / 10 (the default with an http sink) / 100 (the default with file and stdout sinks)");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let mut baseline = None;
    for batch_size in [1usize, 10, 100] {
        let setup = Setup {
            batch_size,
            history: true,
        };
        let total = 20_000usize;
        println!(
            "batch {batch_size:>3}: worker alone   {:>7.0} events/s (queue → file sink, {total} queued before start)",
            drain_rate(setup, total).await
        );
        let (rate, accepted, drained) = sustained_rate(&client, setup, total).await;
        let ratio = baseline
            .map(|b: f64| format!("  ({:.1}x batch size 1)", rate / b))
            .unwrap_or_default();
        baseline.get_or_insert(rate);
        println!(
            "           sustained      {rate:>7.0} events/s end to end ({total} events; accepted in {:.2} s, in the sink after {:.2} s){ratio}",
            accepted.as_secs_f64(),
            drained.as_secs_f64()
        );
        paced_latency(&client, setup, 5_000, 4).await;
    }
    // What the event history costs here: the default batch again without it.
    let setup = Setup {
        batch_size: 10,
        history: false,
    };
    let (rate, _, _) = sustained_rate(&client, setup, 20_000).await;
    println!(
        "batch  10, history off: worker alone {:>7.0} events/s, sustained {rate:>7.0} events/s end to end",
        drain_rate(setup, 20_000).await
    );
    paced_latency(&client, setup, 5_000, 4).await;
}

/// The worker alone: `total` events already queued, then `inlet dev` starts; events/s
/// until the last is in the sink.
async fn drain_rate(setup: Setup, total: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(
            &dir.path().join("inlet.db"),
            StoreOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let sends = (0..total).map(|i| {
            let store = store.clone();
            async move {
                let body = stripe_event(
                    &format!("evt_q{i}"),
                    "invoice.paid",
                    &format!("in_q{i}"),
                    now_unix(),
                );
                store.send(&stripe_envelope(&body)).await.unwrap();
            }
        });
        futures::future::join_all(sends).await;
    }
    let start = Instant::now();
    let (dev, events) = dev_with(dir.path(), setup).await;
    let sink = SinkFollower::start(events);
    sink.wait_for(total).await;
    let rate = total as f64 / start.elapsed().as_secs_f64();
    dev.stop().await;
    rate
}

/// 32 clients post `total` events as fast as they can: (events/s end to end, time until
/// all were accepted, time until all were in the sink).
async fn sustained_rate(
    client: &reqwest::Client,
    setup: Setup,
    total: usize,
) -> (f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (dev, events) = dev_with(dir.path(), setup).await;
    let sink = SinkFollower::start(events);
    let start = Instant::now();
    post_concurrently(client, &dev.url(""), 32, total, "s").await;
    let accepted = start.elapsed();
    sink.wait_for(total).await;
    let drained = start.elapsed();
    dev.stop().await;
    (total as f64 / drained.as_secs_f64(), accepted, drained)
}

/// A steady `rate` events/s for `secs` s, open loop: each event timed from its request to
/// its line in the sink, and each 202.
async fn paced_latency(client: &reqwest::Client, setup: Setup, rate: usize, secs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (dev, events) = dev_with(dir.path(), setup).await;
    let sink = SinkFollower::start(events);
    let n = rate * secs;
    let sent: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let accepted: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::default();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut next = 0usize;
    while next < n {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as usize).min(n);
        while next < due {
            let (client, base, sent, accepted) =
                (client.clone(), dev.url(""), sent.clone(), accepted.clone());
            let i = next;
            tasks.push(tokio::spawn(async move {
                let body = stripe_event(
                    &format!("evt_p{i}"),
                    "invoice.paid",
                    &format!("in_p{i}"),
                    now_unix(),
                );
                let t = Instant::now();
                sent.lock().unwrap().insert(format!("stripe:evt_p{i}"), t);
                assert_eq!(post_stripe(&client, &base, &body).await.0, 202);
                accepted.lock().unwrap().push(t.elapsed());
            }));
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    sink.wait_for(n).await;
    let arrivals = sink.arrivals();
    let mut lat: Vec<Duration> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(k, t)| {
            arrivals
                .get(k)
                .map_or(Duration::MAX, |s| s.saturating_duration_since(*t))
        })
        .collect();
    lat.sort();
    let mut accept = accepted.lock().unwrap().clone();
    accept.sort();
    println!(
        "           at {rate} events/s offered: request→sink p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  (202 p99 {:.1} ms; {n} events)",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        percentile(&accept, 0.99).as_secs_f64() * 1e3,
    );
    dev.stop().await;
}

/// What the worker would do with up to `n` queued changes: record every key delivered.
async fn mark_delivered(store: &Store, n: usize) {
    use inlet_core::ports::{Completion, Ledger};
    for m in store.receive(n, Duration::from_secs(60)).await.unwrap() {
        let key = m.envelope.unwrap().key;
        let now = time::OffsetDateTime::now_utc();
        store
            .claim(&key, "", now, Duration::from_secs(5))
            .await
            .unwrap();
        store
            .complete(
                &key,
                Completion::Delivered,
                now,
                Duration::from_secs(86_400),
            )
            .await
            .unwrap();
    }
}

/// One run of `feed` (of `built`) as its source is configured: the report, how long it
/// took and the HTTP calls it made.
async fn timed_run(
    built: &inlet_sources::BuiltSource,
    feed: &dyn inlet_core::usecase::reconcile::ChangeSource,
    ports: &inlet_cli::backend::Ports,
) -> (
    inlet_core::usecase::reconcile::ReconcileReport,
    Duration,
    u64,
) {
    let settings =
        inlet_core::usecase::reconcile::ReconcileSettings::for_source(&built.config, false, None);
    let calls_before = built.fetcher.requests();
    let started = Instant::now();
    let report = inlet_cli::reconcile::run_feed(
        feed,
        ports,
        &inlet_core::metrics::NoMetrics,
        &SystemClock,
        &settings,
    )
    .await
    .unwrap();
    (
        report,
        started.elapsed(),
        built.fetcher.requests() - calls_before,
    )
}

/// Reconcile `n` changes from a loopback API, then run again with nothing new.
async fn bench_source(label: &str, sources_toml: &str, source: &str, api: &FakeApi, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse_config(&format!(
        "{}{}{}",
        providers_toml(),
        file_sink_toml(&dir.path().join("e.jsonl")),
        sources_toml
    ));
    let built = inlet_sources::build(cfg.source(source).unwrap()).unwrap();
    let ports =
        inlet_cli::backend::local(dir.path(), StoreOptions::default(), Arc::new(SystemClock))
            .unwrap();
    let store = ports.local.clone().unwrap();
    let (report, elapsed, first_requests) =
        timed_run(&built, built.feeds[0].as_ref(), &ports).await;
    assert_eq!(report.scanned as usize, n, "{report:?}");
    mark_delivered(&store, n).await;
    let (quiet, _, quiet_requests) = timed_run(&built, built.feeds[0].as_ref(), &ports).await;
    println!(
        "{label:<18} {n:>5} changes: {:>7.0} scanned/s ({} requests, {} recovered)   quiet run: {} request(s), {} recovered",
        n as f64 / elapsed.as_secs_f64(),
        first_requests,
        report.recovered,
        quiet_requests,
        quiet.recovered
    );
    let _ = api;
}

async fn bench_sources() {
    use serde_json::json;
    println!("\n## reconciliation sources against a loopback API (page size 100, empty ledger, then a quiet run)");
    let now = now_unix();
    let n = 2000;
    let events = Arc::new(std::sync::Mutex::new(
        (0..n)
            .map(|i| (format!("evt_{i:05}"), now - 3000 + (i as i64 % 2900)))
            .collect::<Vec<_>>(),
    ));
    let api = FakeApi::start(stripe_events_api(events)).await;
    bench_source(
        "stripe-events",
        &stripe_source_toml(&api.base, "page_size = 100\nlookback_secs = 3600"),
        "stripe-events",
        &api,
        n,
    )
    .await;

    let stamp = |secs_ago: i64| {
        time::OffsetDateTime::from_unix_timestamp(now - secs_ago)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let items: Arc<Vec<serde_json::Value>> = Arc::new((0..n).map(|i| json!({"id": 10_000 + i, "updated_at": stamp(3000 - (i as i64 % 2900)), "email": "x@example.com"})).collect());
    let orders = items.clone();
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        let start: usize = r
            .query
            .get("page_info")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let page: Vec<_> = orders.iter().skip(start).take(100).cloned().collect();
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if start + 100 < orders.len() {
            headers.push((
                "link".into(),
                format!(
                    "<https://s.example/o.json?page_info={}>; rel=\"next\"",
                    start + 100
                ),
            ));
        }
        (200, headers, json!({ "orders": page }).to_string())
    }))
    .await;
    let toml = format!("\n[[sources]]\nname = \"shop\"\nprovider = \"shopify\"\nkind = \"shopify\"\napi_base = {:?}\napi_key = \"t\"\npage_size = 100\nsettle_secs = 0\nlookback_secs = 3600\n", api.base);
    // The quiet run re-reads from the cursor minus the overlap: the fake ignores filters,
    // so it is served everything again — a worst case for the quiet run.
    bench_source("shopify", &toml, "shop", &api, n).await;

    let feed = items.clone();
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        let start: usize = r
            .query
            .get("cursor")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let page: Vec<_> = feed.iter().skip(start).take(100).cloned().collect();
        let next = if start + 100 < feed.len() {
            json!((start + 100).to_string())
        } else {
            serde_json::Value::Null
        };
        json_answer(200, json!({"items": page, "next": next}))
    }))
    .await;
    let toml = format!("\n[[sources]]\nname = \"feed\"\nprovider = \"erp\"\nkind = \"http-json\"\napi_base = {:?}\nurl = \"{{api_base}}/c?cursor={{cursor}}\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nitems_pointer = \"/items\"\nnext_cursor_pointer = \"/next\"\npage_size = 100\nsettle_secs = 0\n", api.base);
    bench_source("http-json (token)", &toml, "feed", &api, n).await;
}

/// Every source preset against its documentation-written fake (`preset_fakes`): a busy
/// run (a first sync of 1,000 records) and a quiet one (nothing changed), with the calls
/// and the time each feed takes.
async fn bench_presets() {
    use inlet_tests::preset_fakes::*;
    use std::sync::atomic::AtomicI64;
    println!("\n## source presets against their fakes: a busy run (1,000 records, page size 100 or the API's) then a quiet one");
    println!(
        "{:<34} {:>6} {:>9} {:>10}   {:>6} {:>9}",
        "preset:feed", "calls", "busy ms", "records/s", "calls", "quiet ms"
    );
    type Fake = fn(Shared, Allow) -> Responder;
    let presets: [(&str, &str, Fake); 10] = [
        ("exact-online", "params = { division = \"4242\" }\nauth = \"bearer\"\napi_key = \"test-token\"", |db, allow| exact_api_paged(db, allow, 1000)),
        ("xero", "params = { tenant_id = \"7c1c-tenant\" }\nauth = \"bearer\"\napi_key = \"test-token\"", xero_api),
        ("pipedrive", "auth = \"bearer\"\napi_key = \"test-token\"", pipedrive_api),
        ("hubspot", "auth = \"bearer\"\napi_key = \"test-token\"", hubspot_api),
        ("adobe-commerce", "auth = \"bearer\"\napi_key = \"test-token\"", adobe_api),
        ("dynamics-365", "auth = \"bearer\"\napi_key = \"test-token\"", dataverse_api),
        ("sap-business-one", "auth = \"bearer\"\napi_key = \"test-token\"", sap_api),
        ("quickbooks", "params = { realm_id = \"9130-realm\" }\nauth = \"bearer\"\napi_key = \"test-token\"", quickbooks_api),
        ("woocommerce", "auth = \"basic\"\nusername = \"ck_key\"\napi_key = \"cs_secret\"", woo_api),
        ("shopify-graphql", "auth = \"api-key\"\napi_key_header = \"X-Shopify-Access-Token\"\napi_key = \"shpat_test\"", |db, allow| shopify_graphql_api(db, allow, Arc::new(AtomicI64::new(0)))),
    ];
    for (kind, extra, fake) in presets {
        // Ten seconds apart: the quiet run's overlap (300 s) re-reads 30 of them.
        let db = Db::spaced(1000, 1, 10);
        let api = FakeApi::start(fake(db, Arc::new(AtomicI64::new(-1)))).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = parse_config(&format!(
            "[[providers]]\nname = \"p\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n[[sources]]\nname = \"src\"\nprovider = \"p\"\nkind = \"{kind}\"\napi_base = {:?}\npage_size = 100\nsettle_secs = 0\nlookback_secs = 14400\nmax_pages = 1000\n{extra}\n",
            api.base
        ));
        let built = inlet_sources::build(cfg.source("src").unwrap()).unwrap();
        let ports =
            inlet_cli::backend::local(dir.path(), StoreOptions::default(), Arc::new(SystemClock))
                .unwrap();
        let store = ports.local.clone().unwrap();
        for feed in &built.feeds {
            let mut line = format!("{:<34}", feed.name().replacen("src", kind, 1));
            for busy in [true, false] {
                let (report, elapsed, calls) = timed_run(&built, feed.as_ref(), &ports).await;
                assert!(report.error.is_none(), "{kind}: {report:?}");
                if busy {
                    line += &format!(
                        " {calls:>6} {:>9.1} {:>10.0}",
                        elapsed.as_secs_f64() * 1e3,
                        report.recovered as f64 / elapsed.as_secs_f64()
                    );
                    mark_delivered(&store, 5000).await;
                } else {
                    assert_eq!(report.recovered, 0, "{kind}: a quiet run recovers nothing");
                    line += &format!("   {calls:>6} {:>9.1}", elapsed.as_secs_f64() * 1e3);
                }
            }
            println!("{line}");
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# inlet pipeline benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // `INLET_BENCH_ONLY=end_to_end` (a section's name) runs that section alone.
    let only = std::env::var("INLET_BENCH_ONLY").ok();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("verify") {
        bench_verify();
    }
    if run("enqueue") {
        rt.block_on(bench_enqueue());
    }
    if run("http") {
        rt.block_on(bench_http());
    }
    if run("end_to_end") {
        rt.block_on(bench_end_to_end());
    }
    if run("sources") {
        rt.block_on(bench_sources());
    }
    if run("presets") {
        rt.block_on(bench_presets());
    }
    if run("schema") {
        rt.block_on(bench_schema());
    }
}

/// Counts the calls the schema watch makes to its store (the SQLite store underneath).
struct CountingShapes {
    store: Store,
    calls: std::sync::Mutex<HashMap<&'static str, usize>>,
}

impl CountingShapes {
    fn count(&self, call: &'static str) {
        *self.calls.lock().unwrap().entry(call).or_default() += 1;
    }
}

#[async_trait::async_trait]
impl inlet_core::ports::Shapes for CountingShapes {
    async fn load_shapes(
        &self,
    ) -> Result<Vec<inlet_core::ports::StoredShape>, inlet_core::ports::StoreError> {
        self.count("load");
        self.store.load_shapes().await
    }
    async fn merge_shape(
        &self,
        provider: &str,
        event_type: &str,
        learned: &inlet_core::shape::Shape,
    ) -> Result<inlet_core::shape::Shape, inlet_core::ports::StoreError> {
        self.count("merge");
        self.store.merge_shape(provider, event_type, learned).await
    }
    async fn add_findings(
        &self,
        findings: &[inlet_core::shape::Finding],
    ) -> Result<Vec<bool>, inlet_core::ports::StoreError> {
        self.count("findings");
        self.store.add_findings(findings).await
    }
    async fn findings(
        &self,
        include_accepted: bool,
        limit: usize,
    ) -> Result<Vec<inlet_core::shape::Finding>, inlet_core::ports::StoreError> {
        self.store.findings(include_accepted, limit).await
    }
    async fn accept_finding(
        &self,
        id: &str,
        at: time::OffsetDateTime,
    ) -> Result<Option<inlet_core::shape::Finding>, inlet_core::ports::StoreError> {
        self.store.accept_finding(id, at).await
    }
}

/// What schema-drift detection costs the worker: CPU per event (its JSON read once more
/// and compared with the shape) beside the one read every delivery already pays, and the
/// store calls for 100,000 events of 4 types arriving at 1,000 events/s in batches of 10.
async fn bench_schema() {
    use inlet_core::clock::{Clock, ManualClock};
    use inlet_core::shape::SchemaConfig;
    use inlet_core::usecase::drift::SchemaWatch;
    println!("\n## schema drift: the worker's shape check (in memory; shapes written once a minute per event type)");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = Store::open(
        &dir.path().join("inlet.db"),
        StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    let shapes = Arc::new(CountingShapes {
        store: store.clone(),
        calls: Default::default(),
    });
    let watch = SchemaWatch::new(
        SchemaConfig::default(),
        shapes.clone(),
        Arc::new(store.clone()),
        Arc::new(inlet_core::metrics::NoMetrics),
    );
    let types = [
        "invoice.paid",
        "invoice.created",
        "customer.updated",
        "charge.succeeded",
    ];
    let envs: Vec<inlet_core::envelope::Envelope> = (0..1_000)
        .map(|i| {
            let mut body: serde_json::Value =
                serde_json::from_str(&stripe_invoice_with_lines(&format!("evt_{i}"), "in_1", 14))
                    .unwrap();
            body["type"] = serde_json::json!(types[i % types.len()]);
            stripe_envelope(&body.to_string())
        })
        .collect();
    let size = envs[0].body.len();
    let total = 100_000usize;
    // The baseline: reading each payload once, as every delivery does (`to_record`).
    let started = Instant::now();
    for i in 0..total {
        std::hint::black_box(inlet_core::envelope::payload_value(
            &envs[i % envs.len()].body,
        ));
    }
    let parse = started.elapsed().as_secs_f64() / total as f64 * 1e6;
    let started = Instant::now();
    for batch in 0..total / 10 {
        let refs: Vec<&inlet_core::envelope::Envelope> = (0..10)
            .map(|j| &envs[(batch * 10 + j) % envs.len()])
            .collect();
        std::hint::black_box(watch.observe(&refs, clock.now()).await);
        clock.advance(Duration::from_millis(10));
        watch.flush_if_due(clock.now()).await;
    }
    let check = started.elapsed().as_secs_f64() / total as f64 * 1e6;
    println!(
        "Stripe invoice.paid, {size} B, 14 lines: shape check {check:.1} µs/event, reading the payload {parse:.1} µs/event ({:.2}x)",
        check / parse
    );
    let calls = shapes.calls.lock().unwrap().clone();
    let n = |k: &str| calls.get(k).copied().unwrap_or(0);
    println!(
        "{total} events, 4 types, 100 s at 1,000 events/s: {} store calls ({} load, {} shape merges, {} finding writes) = {:.5} per event; on DynamoDB a merge is 1 GetItem + 1 PutItem",
        n("load") + n("merge") + n("findings"),
        n("load"),
        n("merge"),
        n("findings"),
        (n("load") + n("merge") + n("findings")) as f64 / total as f64
    );
}
