//! Inlet's release webhook and worker binaries beside their Python peers, in one run on the
//! same emulator and the same Stripe `invoice.paid` events, each under the loopback Lambda
//! Runtime API (the peers under awslambdaric, the client Lambda's Python runtime uses):
//!
//! - worker peer: AWS Lambda Powertools for Python as documented for an idempotent SQS
//!   consumer (`BatchProcessor` + `process_partial_response`, `@idempotent_function` on a
//!   `DynamoDBPersistenceLayer`), publishing each event to the same EventBridge bus;
//! - webhook peer: `stripe.Webhook.construct_event` + boto3 `send_message`.
//!
//! Prints, as medians of `REPS` repetitions with their ranges: CPU per record (the function
//! process only, from the scheduler's accounting — not moto), wall per invocation with and
//! without `LATENCY` added to every AWS call, AWS calls per record by operation, peak RSS,
//! init time, the ratios, and an estimate of the AWS bill for a million webhooks.
//! Asserts nothing. Run by `scripts/bench` (moto started around it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_tests::bench::{
    calls_between, calls_seen, init_time, median_range, median_text, peers, spawn_binary,
    spawn_python, stack_env, Counts, Function,
};
use inlet_tests::faults::{Action, FaultProxy};
use inlet_tests::moto::Moto;
use inlet_tests::runtime_api::RuntimeApi;
use inlet_tests::*;

const REPS: usize = 3;
/// Events per repetition (batches of ten).
const EVENTS: usize = 200;
/// Round trip added to every AWS call for the wall-time runs (a function and its services
/// in one region see ~5–20 ms; 20 ms is the pessimistic end).
const LATENCY: Duration = Duration::from_millis(20);
const LATENCY_BATCHES: usize = 5;
const MEMORY_GB: f64 = 0.25; // the template's 256 MB for both functions

/// us-east-1 list prices in USD, from the AWS pricing pages named beside each (as published
/// in 2025; re-read them before quoting a figure).
mod price {
    /// <https://aws.amazon.com/api-gateway/pricing/> HTTP APIs, first 300 million.
    pub const HTTP_API_PER_MILLION: f64 = 1.00;
    /// <https://aws.amazon.com/lambda/pricing/> Arm, first 7.5 billion GB-s.
    pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
    pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
    /// <https://aws.amazon.com/sqs/pricing/> standard queue, per 64 KB request chunk.
    pub const SQS_PER_MILLION: f64 = 0.40;
    /// <https://aws.amazon.com/dynamodb/pricing/on-demand/> (on-demand, from 2024-11-01).
    pub const DYNAMODB_PER_MILLION_WRU: f64 = 0.625;
    pub const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
    /// <https://aws.amazon.com/eventbridge/pricing/> custom events, per 64 KB chunk.
    pub const EVENTBRIDGE_PER_MILLION: f64 = 1.00;
}

/// Wall on AWS, modelled: sequential round trips × LATENCY + the function's CPU.
const MODEL_BATCH: &str = "worker wall per batch on AWS (model), +20 ms";
const MODEL_HOOK: &str = "webhook wall per request on AWS (model), +20 ms";

fn short(op: &str) -> &str {
    op.rsplit('.').next().unwrap_or(op)
}

/// "PutItem 1.00, UpdateItem 2.00, …" per record.
fn per_record(calls: &Counts, records: usize) -> String {
    let mut ops: Vec<(&String, &usize)> = calls.iter().collect();
    ops.sort();
    let total: usize = calls.values().sum();
    let list: Vec<String> = ops
        .iter()
        .map(|(op, n)| format!("{} {:.2}", short(op), **n as f64 / records as f64))
        .collect();
    format!("{:.2} ({})", total as f64 / records as f64, list.join(", "))
}

struct Side {
    name: &'static str,
    webhook: (Function, RuntimeApi),
    worker: (Function, RuntimeApi),
    init_ms: (f64, f64),
    queue: String,
    cpu_webhook: Vec<f64>,
    cpu_new: Vec<f64>,
    cpu_dup: Vec<f64>,
    wall_webhook: Vec<f64>,
    wall_batch: Vec<f64>,
    wall_webhook_latency: Vec<f64>,
    wall_batch_latency: Vec<f64>,
    /// Sequential AWS round trips: wall added by LATENCY per call, divided by LATENCY.
    round_trips_batch: Vec<f64>,
    round_trips_webhook: Vec<f64>,
    calls_webhook: Counts,
    calls_new: Counts,
    calls_dup: Counts,
    /// Write requests inside BatchWriteItem calls while handling new records.
    batch_items_new: usize,
    /// Write units of one history write beyond the first (its item's size past 1 KB) plus
    /// the index's write: what a history write bills above a small item's one unit.
    extra_write_units: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn event_body(rep: usize, i: usize) -> String {
    // ~2.2 KB, like the measurement: an invoice with lines. (Until 2026-11-29
    // this had 8 lines, ~1.4 KB.)
    stripe_invoice_with_lines(
        &format!("evt_peer_{rep}_{i}"),
        &format!("in_peer_{rep}_{i}"),
        14,
    )
}

async fn invoke(api: &RuntimeApi, id: &str, event: serde_json::Value) -> Duration {
    let t = Instant::now();
    api.invoke(id, event);
    let r = api.response(id, Duration::from_secs(120)).await;
    assert!(matches!(r, Some(Ok(_))), "{id}: {r:?}");
    t.elapsed()
}

/// Everything on `queue` as SQS batches of ten.
async fn batches(moto: &Moto, queue: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let b = moto
            .sqs_event(queue, "arn:aws:sqs:us-east-1:123456789012:bench", 600)
            .await;
        if b["Records"].as_array().unwrap().is_empty() {
            return out;
        }
        out.push(b);
    }
}

#[tokio::main]
async fn main() {
    let (python, peer_dir) = peers();
    let latency_ms = Arc::new(AtomicU64::new(0));
    let moto = Moto::connect().await;
    let delay = latency_ms.clone();
    // Write requests inside BatchWriteItem calls (each bills like a single write).
    let batch_items = Arc::new(AtomicUsize::new(0));
    let items_seen = batch_items.clone();
    let proxy = FaultProxy::start(
        &moto.endpoint,
        Arc::new(move |target, _, body| {
            if target.ends_with(".BatchWriteItem") {
                let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let n: usize = req["RequestItems"]
                    .as_object()
                    .map(|t| t.values().filter_map(|r| r.as_array()).map(Vec::len).sum())
                    .unwrap_or(0);
                items_seen.fetch_add(n, Ordering::Relaxed);
            }
            match delay.load(Ordering::Relaxed) {
                0 => Action::Forward,
                d => Action::Delay(Duration::from_millis(d), Box::new(Action::Forward)),
            }
        }),
    )
    .await;
    let bus = moto.bus().await;
    let (inlet_q, inlet_dlq) = moto.queues(5, false).await;
    let inlet_table = moto.table().await;
    let (peer_q, _) = moto.queues(5, false).await;
    let peer_table = moto.table().await;
    let inlet_env = stack_env(&inlet_q, &inlet_dlq, &inlet_table, &bus);
    let peer_env: Vec<(&'static str, String)> = vec![
        ("PEER_EVENT_BUS", bus.clone()),
        ("PEER_TABLE", peer_table.clone()),
        ("PEER_QUEUE_URL", peer_q.clone()),
        ("PEER_STRIPE_SECRET", STRIPE_SECRET.into()),
    ];

    let mut sides = Vec::new();
    for name in ["inlet", "powertools"] {
        let start = |function: &'static str| {
            let api_env = if name == "inlet" {
                &inlet_env
            } else {
                &peer_env
            };
            let endpoint = proxy.endpoint.clone();
            let python = python.clone();
            let peer_dir = peer_dir.clone();
            async move {
                let api = RuntimeApi::start().await;
                let (f, started) = if name == "inlet" {
                    spawn_binary(function, &api, &endpoint, api_env)
                } else {
                    let handler = format!("{function}.lambda_handler");
                    spawn_python(&python, &peer_dir, &handler, &api, &endpoint, api_env)
                };
                let init = init_time(&api, started).await;
                (f, api, ms(init))
            }
        };
        let (wf, wapi, winit) = start("webhook").await;
        let (kf, kapi, kinit) = start("worker").await;
        sides.push(Side {
            name,
            webhook: (wf, wapi),
            worker: (kf, kapi),
            init_ms: (winit, kinit),
            queue: if name == "inlet" {
                inlet_q.clone()
            } else {
                peer_q.clone()
            },
            cpu_webhook: Vec::new(),
            cpu_new: Vec::new(),
            cpu_dup: Vec::new(),
            wall_webhook: Vec::new(),
            wall_batch: Vec::new(),
            wall_webhook_latency: Vec::new(),
            wall_batch_latency: Vec::new(),
            round_trips_batch: Vec::new(),
            round_trips_webhook: Vec::new(),
            calls_webhook: Counts::new(),
            calls_new: Counts::new(),
            calls_dup: Counts::new(),
            batch_items_new: 0,
            extra_write_units: 0.0,
        });
    }

    // Warm both sides (first-call costs: connections, lazy imports) before measuring.
    for (rep, s) in sides.iter_mut().enumerate() {
        let body = event_body(1000 + rep, 0);
        invoke(
            &s.webhook.1,
            "warm",
            stripe_http_event(&body, STRIPE_SECRET),
        )
        .await;
        for (i, b) in batches(&moto, &s.queue).await.into_iter().enumerate() {
            invoke(&s.worker.1, &format!("warm-{i}"), b).await;
        }
    }

    for rep in 0..REPS {
        for s in sides.iter_mut() {
            // Webhook: EVENTS signed requests.
            let (cpu0, calls0) = (s.webhook.0.cpu_ns(), calls_seen(&proxy));
            let t = Instant::now();
            for i in 0..EVENTS {
                let body = event_body(rep, i);
                invoke(
                    &s.webhook.1,
                    &format!("{}-w-{rep}-{i}", s.name),
                    stripe_http_event(&body, STRIPE_SECRET),
                )
                .await;
            }
            s.wall_webhook.push(ms(t.elapsed()) / EVENTS as f64);
            s.cpu_webhook
                .push((s.webhook.0.cpu_ns() - cpu0) as f64 / 1e6 / EVENTS as f64);
            s.calls_webhook = calls_between(&calls_seen(&proxy), &calls0);

            // Worker: the queue in batches of ten, then the same batches again (duplicates).
            let work = batches(&moto, &s.queue).await;
            let records: usize = work
                .iter()
                .map(|b| b["Records"].as_array().unwrap().len())
                .sum();
            for new in [true, false] {
                let phase = if new { "new" } else { "dup" };
                let (cpu0, calls0) = (s.worker.0.cpu_ns(), calls_seen(&proxy));
                let items0 = batch_items.load(Ordering::Relaxed);
                let t = Instant::now();
                for (i, b) in work.iter().enumerate() {
                    invoke(
                        &s.worker.1,
                        &format!("{}-{phase}-{rep}-{i}", s.name),
                        b.clone(),
                    )
                    .await;
                }
                let cpu_per = (s.worker.0.cpu_ns() - cpu0) as f64 / 1e6 / records as f64;
                let calls_d = calls_between(&calls_seen(&proxy), &calls0);
                if new {
                    s.batch_items_new = batch_items.load(Ordering::Relaxed) - items0;
                    s.cpu_new.push(cpu_per);
                    s.wall_batch.push(ms(t.elapsed()) / work.len() as f64);
                    s.calls_new = calls_d;
                } else {
                    s.cpu_dup.push(cpu_per);
                    s.calls_dup = calls_d;
                }
            }
        }
    }

    // Wall time with and without LATENCY on every AWS call, batches alternating on fresh
    // events: the difference is what the sequential round trips cost, measured apart from
    // the emulator's own time (moto answers concurrent calls one at a time on the cores
    // everything here shares; DynamoDB answers them in parallel).
    for s in sides.iter_mut() {
        for rep in 0..REPS {
            for i in 0..2 * LATENCY_BATCHES * 10 {
                let body = event_body(100 + rep, i);
                invoke(
                    &s.webhook.1,
                    &format!("{}-lq-{rep}-{i}", s.name),
                    stripe_http_event(&body, STRIPE_SECRET),
                )
                .await;
            }
            let work = batches(&moto, &s.queue).await;
            let mut batch_walls = Alternating::default();
            for (i, b) in work.iter().enumerate() {
                let id = format!("{}-l-{rep}-{i}", s.name);
                batch_walls
                    .run(&latency_ms, i, invoke(&s.worker.1, &id, b.clone()))
                    .await;
            }
            let mut hook_walls = Alternating::default();
            for i in 0..20 {
                let (id, body) = (format!("{}-lw-{rep}-{i}", s.name), event_body(200 + rep, i));
                let event = stripe_http_event(&body, STRIPE_SECRET);
                hook_walls
                    .run(&latency_ms, i, invoke(&s.webhook.1, &id, event))
                    .await;
            }
            let (slow, round_trips) = batch_walls.medians();
            s.wall_batch_latency.push(slow);
            s.round_trips_batch.push(round_trips);
            let (slow, round_trips) = hook_walls.medians();
            s.wall_webhook_latency.push(slow);
            s.round_trips_webhook.push(round_trips);
            // Drain what the latency webhooks queued, so the next round starts empty.
            for (i, b) in batches(&moto, &s.queue).await.into_iter().enumerate() {
                invoke(&s.worker.1, &format!("{}-ld-{rep}-{i}", s.name), b).await;
            }
        }
    }

    // Write units by item size: a write bills one unit per KB of the item
    // (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html>),
    // and a write to an item in the `events` index one more for the index.
    let history = moto
        .stored_item(&inlet_table, "E#stripe:evt_peer_0_0")
        .await;
    if !history.is_empty() {
        let units = inlet_tests::dynamodb_item_size_and_units(&history).1 as f64;
        // Its units beyond the one its call already counts (units - 1), and the index's
        // one: `units` in all.
        sides[0].extra_write_units = units;
    }

    // The SDK alone, making the functions' calls for as many records: the floor under them.
    let mut floor = Floor::default();
    for _ in 0..REPS {
        floor.add(sdk_floor(&proxy.endpoint, &inlet_table, &bus, &inlet_q).await);
    }
    report(&mut sides, &mut floor);
}

/// Invocations timed alternately without and with LATENCY on every AWS call.
#[derive(Default)]
struct Alternating {
    plain: Vec<f64>,
    slow: Vec<f64>,
}

impl Alternating {
    /// Run the `i`th invocation, with LATENCY added when `i` is odd, and keep its wall.
    async fn run(
        &mut self,
        latency_ms: &AtomicU64,
        i: usize,
        call: impl Future<Output = Duration>,
    ) {
        let added = i % 2 == 1;
        if added {
            latency_ms.store(LATENCY.as_millis() as u64, Ordering::Relaxed);
        }
        let wall = ms(call.await);
        latency_ms.store(0, Ordering::Relaxed);
        if added {
            &mut self.slow
        } else {
            &mut self.plain
        }
        .push(wall);
    }

    /// The median wall with LATENCY, and the sequential round trips: what LATENCY added to
    /// the median, in LATENCYs.
    fn medians(&mut self) -> (f64, f64) {
        let slow = median_range(&mut self.slow).0;
        let plain = median_range(&mut self.plain).0;
        (slow, (slow - plain) / ms(LATENCY))
    }
}

/// `sdk-floor`'s CPU per new record, per duplicate and per webhook request, each run.
#[derive(Default)]
struct Floor {
    new: Vec<f64>,
    duplicate: Vec<f64>,
    webhook: Vec<f64>,
}

impl Floor {
    fn add(&mut self, run: serde_json::Value) {
        let ms = |name: &str| {
            run[name]
                .as_f64()
                .unwrap_or_else(|| panic!("sdk-floor printed no {name}: {run}"))
        };
        self.new.push(ms("new_ms"));
        self.duplicate.push(ms("duplicate_ms"));
        self.webhook.push(ms("webhook_ms"));
    }
}

/// One run of `sdk-floor` (functions/worker/src/bin/sdk_floor.rs).
async fn sdk_floor(endpoint: &str, table: &str, bus: &str, queue: &str) -> serde_json::Value {
    let path = std::env::var("INLET_FUNCTION_DIR")
        .map(|d| PathBuf::from(d).join("sdk-floor"))
        .unwrap_or_else(|_| inlet_tests::runtime_api::binary("sdk-floor"));
    let out = tokio::process::Command::new(path)
        .args([table, bus, queue, &(EVENTS / 10).to_string()])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Calls of `op` (a suffix such as ".PutItem") per record.
fn per_event(calls: &Counts, op: &str) -> f64 {
    calls
        .iter()
        .filter(|(k, _)| k.ends_with(op))
        .map(|(_, v)| *v)
        .sum::<usize>() as f64
        / EVENTS as f64
}

/// DynamoDB write units per new event: single writes, the requests inside batch writes,
/// and what history items bill beyond one unit.
fn write_units(s: &Side) -> f64 {
    per_event(&s.calls_new, ".PutItem")
        + per_event(&s.calls_new, ".UpdateItem")
        + per_event(&s.calls_new, ".DeleteItem")
        + s.batch_items_new as f64 / EVENTS as f64
        + s.extra_write_units
        + per_event(&s.calls_webhook, ".PutItem")
}

fn report(sides: &mut [Side], floor: &mut Floor) {
    println!(
        "# Inlet vs the Powertools peer (release build, {}; {REPS} repetitions × {EVENTS} Stripe events of ~2.2 KB; medians [range])",
        std::env::consts::ARCH
    );
    let mut medians: HashMap<(&str, &str), f64> = HashMap::new();
    for s in sides.iter_mut() {
        println!("\n## {}", s.name);
        let rows: [(&str, &mut Vec<f64>, &str); 9] = [
            ("worker CPU per new record", &mut s.cpu_new, "ms"),
            ("worker CPU per duplicate", &mut s.cpu_dup, "ms"),
            ("webhook CPU per request", &mut s.cpu_webhook, "ms"),
            ("worker wall per batch of 10", &mut s.wall_batch, "ms"),
            (
                "worker wall per batch, +20 ms per AWS call",
                &mut s.wall_batch_latency,
                "ms",
            ),
            ("webhook wall per request", &mut s.wall_webhook, "ms"),
            (
                "webhook wall per request, +20 ms per AWS call",
                &mut s.wall_webhook_latency,
                "ms",
            ),
            (
                "worker sequential AWS round trips per batch",
                &mut s.round_trips_batch,
                "",
            ),
            (
                "webhook sequential AWS round trips",
                &mut s.round_trips_webhook,
                "",
            ),
        ];
        for (label, values, unit) in rows {
            medians.insert((s.name, label), median_range(values).0);
            println!("{label:<48} {}", median_text(values, unit));
        }
        // On AWS the services answer a wave of concurrent calls in parallel, so a batch
        // takes its sequential round trips plus the function's own CPU; on moto it also
        // waits for the emulator answering every call in turn. The model is what the
        // bill below uses.
        let m = |label: &str| medians[&(s.name, label)];
        let aws_batch = m("worker sequential AWS round trips per batch") * ms(LATENCY)
            + 10.0 * m("worker CPU per new record");
        let aws_hook =
            m("webhook sequential AWS round trips") * ms(LATENCY) + m("webhook CPU per request");
        medians.insert((s.name, MODEL_BATCH), aws_batch);
        medians.insert((s.name, MODEL_HOOK), aws_hook);
        println!("{MODEL_BATCH:<48} {aws_batch:.1} ms");
        println!("{MODEL_HOOK:<48} {aws_hook:.1} ms");
        println!(
            "{:<48} {}",
            "AWS calls per new record (worker)",
            per_record(&s.calls_new, EVENTS)
        );
        println!(
            "{:<48} {:.2}",
            "DynamoDB write units per new record",
            write_units(s)
        );
        println!(
            "{:<48} {}",
            "AWS calls per duplicate (worker)",
            per_record(&s.calls_dup, EVENTS)
        );
        println!(
            "{:<48} {}",
            "AWS calls per request (webhook)",
            per_record(&s.calls_webhook, EVENTS)
        );
        println!(
            "{:<48} webhook {:.1} MiB, worker {:.1} MiB",
            "peak RSS",
            s.webhook.0.peak_rss_kib() as f64 / 1024.0,
            s.worker.0.peak_rss_kib() as f64 / 1024.0
        );
        println!(
            "{:<48} webhook {:.1} ms, worker {:.1} ms",
            "init (start → first Runtime API poll)", s.init_ms.0, s.init_ms.1
        );
    }
    println!(
        "\n## the AWS SDK's floor: the functions' AWS calls alone, same SDK and runtime, nothing else"
    );
    for (label, values, function, what) in [
        (
            "SDK-only CPU per new record",
            &mut floor.new,
            "worker CPU per new record",
            "claim, version, PutEvents/10, completions/10, history/10",
        ),
        (
            "SDK-only CPU per duplicate",
            &mut floor.duplicate,
            "worker CPU per duplicate",
            "the claim",
        ),
        (
            "SDK-only CPU per webhook request",
            &mut floor.webhook,
            "webhook CPU per request",
            "one SendMessage",
        ),
    ] {
        let (f, _, _) = median_range(values);
        let measured = medians[&("inlet", function)];
        println!(
            "{label:<48} {} ({what}); the function spends {:.3} ms above it ({:.0}% of its CPU is the SDK's)",
            median_text(values, "ms"),
            measured - f,
            100.0 * f / measured.max(1e-9)
        );
    }
    println!("\n## ratios (powertools ÷ inlet)");
    for label in [
        "worker CPU per new record",
        "worker CPU per duplicate",
        "webhook CPU per request",
        "worker wall per batch, +20 ms per AWS call",
        "webhook wall per request, +20 ms per AWS call",
        MODEL_BATCH,
        MODEL_HOOK,
    ] {
        let (i, p) = (medians[&("inlet", label)], medians[&("powertools", label)]);
        println!("{label:<48} {:.1}×", p / i.max(1e-9));
    }

    println!("\n## estimated AWS bill per million webhooks (us-east-1 list prices, 256 MB arm64, +20 ms per AWS call)");
    println!("{:<28} {:>10} {:>12}", "", "inlet", "powertools");
    let bill = |s: &Side| -> Vec<(&'static str, f64)> {
        let m = |label: &str| medians[&(s.name, label)];
        // Lambda bills each invocation's duration rounded up to the millisecond.
        let webhook_gbs = m(MODEL_HOOK).ceil() * 1e-3 * MEMORY_GB * 1e6;
        let worker_gbs = m(MODEL_BATCH).ceil() * 1e-3 * MEMORY_GB * 1e5;
        let writes = write_units(s);
        let reads = per_event(&s.calls_new, ".GetItem");
        // SQS: the webhook's sends, the mapping's receive and delete per batch of ten,
        // and the worker's own calls (visibility changes, dead letters).
        let sqs = per_event(&s.calls_webhook, "SendMessage")
            + 0.2
            + per_event(&s.calls_new, "ChangeMessageVisibility")
            + per_event(&s.calls_new, "SendMessage");
        let events = per_event(&s.calls_new, "PutEvents").max(0.0);
        vec![
            ("API Gateway (HTTP API)", price::HTTP_API_PER_MILLION),
            ("Lambda requests", 1.1 * price::LAMBDA_PER_MILLION_REQUESTS),
            (
                "Lambda duration, webhook",
                webhook_gbs * price::LAMBDA_ARM_GB_SECOND,
            ),
            (
                "Lambda duration, worker",
                worker_gbs * price::LAMBDA_ARM_GB_SECOND,
            ),
            ("SQS requests", sqs * price::SQS_PER_MILLION),
            (
                "DynamoDB writes/reads",
                writes * price::DYNAMODB_PER_MILLION_WRU + reads * price::DYNAMODB_PER_MILLION_RRU,
            ),
            (
                "EventBridge events",
                // One event per record whatever the batching: billed per entry.
                if events > 0.0 {
                    price::EVENTBRIDGE_PER_MILLION
                } else {
                    0.0
                },
            ),
        ]
    };
    let (a, b) = (bill(&sides[0]), bill(&sides[1]));
    let mut totals = (0.0, 0.0);
    for ((label, x), (_, y)) in a.iter().zip(&b) {
        println!("{label:<28} {:>9.2}$ {:>11.2}$", x, y);
        totals.0 += x;
        totals.1 += y;
    }
    println!("{:<28} {:>9.2}$ {:>11.2}$", "total", totals.0, totals.1);
}
