//! The example consumer (`examples/consumer`, inlet-consumer) beside its Powertools-for-Python
//! peer (`infra/peer/consumer.py`), in one run on the same emulator with the same Inlet
//! events (Stripe `invoice.paid` sink records in EventBridge envelopes, ~2.2 KB, SQS batches
//! of ten), each under the loopback Lambda Runtime API (the peer under awslambdaric).
//!
//! Prints, as medians of `REPS` repetitions with their ranges: CPU per record for new
//! events and for duplicates (the function process only, from the scheduler's accounting —
//! not moto), AWS calls per record by operation, peak RSS, init time, and the ratios.
//! Asserts nothing. Run by `scripts/bench consumer` (moto started around it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_tests::bench::{
    calls_between, calls_seen, init_time, median_range, median_text, peers, spawn_binary,
    spawn_python, Counts, Function,
};
use inlet_tests::faults::{Action, FaultProxy};
use inlet_tests::moto::{unique, Moto};
use inlet_tests::runtime_api::RuntimeApi;
use inlet_tests::stripe_invoice_with_lines;
use serde_json::{json, Value};

const REPS: usize = 3;
/// Events per repetition (batches of ten).
const EVENTS: usize = 200;

struct Side {
    name: &'static str,
    function: Function,
    api: RuntimeApi,
    init_ms: f64,
    cpu_new: Vec<f64>,
    cpu_dup: Vec<f64>,
    calls_new: Counts,
    calls_dup: Counts,
}

/// "1.00 (PutItem 1.00)" per record.
fn per_record(calls: &Counts) -> String {
    let total: usize = calls.values().sum();
    let mut list: Vec<String> = calls
        .iter()
        .map(|(op, n)| {
            let op = op.rsplit('.').next().unwrap_or(op);
            format!("{op} {:.2}", *n as f64 / EVENTS as f64)
        })
        .collect();
    list.sort();
    format!("{:.2} ({})", total as f64 / EVENTS as f64, list.join(", "))
}

/// One Inlet event as the rule's SQS target receives it: the EventBridge envelope.
fn message(rep: usize, i: usize) -> String {
    let id = format!("evt_consumer_{rep}_{i}");
    let body = stripe_invoice_with_lines(&id, &format!("in_consumer_{rep}_{i}"), 14);
    let payload: Value = serde_json::from_str(&body).unwrap();
    json!({
        "version": "0", "id": format!("eb-{rep}-{i}"), "detail-type": "invoice.paid",
        "source": "inlet.stripe", "account": "123456789012", "time": "2026-12-07T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {
            "key": format!("stripe:{id}"), "provider": "stripe", "event_id": id,
            "type": "invoice.paid", "source": "webhook", "received_at": "2026-12-07T00:00:00Z",
            "correlation_id": format!("c-{rep}-{i}"), "payload": payload
        }
    })
    .to_string()
}

/// The repetition's events as SQS batches of ten, shaped as the event source mapping
/// delivers them.
fn batches(rep: usize) -> Vec<Value> {
    (0..EVENTS / 10)
        .map(|b| {
            let records: Vec<Value> = (0..10)
                .map(|j| {
                    let i = b * 10 + j;
                    json!({
                        "messageId": format!("m-{rep}-{i}"), "receiptHandle": format!("r-{rep}-{i}"),
                        "body": message(rep, i), "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:consumer",
                        "awsRegion": "us-east-1"
                    })
                })
                .collect();
            json!({ "Records": records })
        })
        .collect()
}

async fn invoke(api: &RuntimeApi, id: &str, event: Value) {
    api.invoke(id, event);
    let r = api.response(id, Duration::from_secs(120)).await;
    let Some(Ok(failures)) = r else {
        panic!("{id}: {r:?}")
    };
    assert!(
        failures["batchItemFailures"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{id}: {failures}"
    );
}

#[tokio::main]
async fn main() {
    let (python, peer_dir) = peers();
    let moto = Moto::connect().await;
    let proxy = FaultProxy::start(&moto.endpoint, Arc::new(|_, _, _| Action::Forward)).await;

    let mut sides = Vec::new();
    for name in ["inlet-consumer", "powertools"] {
        let table = moto.table().await;
        let api = RuntimeApi::start().await;
        let (function, started) = if name == "inlet-consumer" {
            let env = [
                ("INLET_IDEMPOTENCY_TABLE", table.clone()),
                ("INLET_IDEMPOTENCY_NAMESPACE", unique("bench")),
            ];
            spawn_binary("consumer", &api, &proxy.endpoint, &env)
        } else {
            let env = [
                ("PEER_TABLE", table.clone()),
                ("POWERTOOLS_SERVICE_NAME", "consumer".to_string()),
            ];
            spawn_python(
                &python,
                &peer_dir,
                "consumer.lambda_handler",
                &api,
                &proxy.endpoint,
                &env,
            )
        };
        let init_ms = init_time(&api, started).await.as_secs_f64() * 1000.0;
        sides.push(Side {
            name,
            function,
            api,
            init_ms,
            cpu_new: Vec::new(),
            cpu_dup: Vec::new(),
            calls_new: Counts::new(),
            calls_dup: Counts::new(),
        });
    }

    // Warm both (connections, lazy imports) on events of their own.
    for s in &sides {
        for (i, b) in batches(1000).into_iter().take(2).enumerate() {
            invoke(&s.api, &format!("{}-warm-{i}", s.name), b).await;
        }
    }

    let t = Instant::now();
    for rep in 0..REPS {
        let work = batches(rep);
        for s in sides.iter_mut() {
            for new in [true, false] {
                let phase = if new { "new" } else { "dup" };
                let (cpu0, calls0) = (s.function.cpu_ns(), calls_seen(&proxy));
                for (i, b) in work.iter().enumerate() {
                    invoke(&s.api, &format!("{}-{phase}-{rep}-{i}", s.name), b.clone()).await;
                }
                let cpu = (s.function.cpu_ns() - cpu0) as f64 / 1e6 / EVENTS as f64;
                let calls = calls_between(&calls_seen(&proxy), &calls0);
                if new {
                    s.cpu_new.push(cpu);
                    s.calls_new = calls;
                } else {
                    s.cpu_dup.push(cpu);
                    s.calls_dup = calls;
                }
            }
        }
    }

    println!(
        "\n== consumer: inlet-consumer (examples/consumer, release) beside Powertools for Python ==\n\
         {EVENTS} Inlet events per repetition in SQS batches of ten, each handled new and then again as a duplicate; \
         medians of {REPS} (range); {:.0} s",
        t.elapsed().as_secs_f64()
    );
    for s in sides.iter_mut() {
        println!("-- {}", s.name);
        println!(
            "  CPU per new record        {}",
            median_text(&mut s.cpu_new, "ms")
        );
        println!(
            "  CPU per duplicate         {}",
            median_text(&mut s.cpu_dup, "ms")
        );
        println!("  AWS calls per new record  {}", per_record(&s.calls_new));
        println!("  AWS calls per duplicate   {}", per_record(&s.calls_dup));
        println!(
            "  peak RSS                  {} KiB",
            s.function.peak_rss_kib()
        );
        println!("  init                      {:.0} ms", s.init_ms);
    }
    let ratio = |f: fn(&mut Side) -> &mut Vec<f64>, sides: &mut Vec<Side>| {
        let a = median_range(f(&mut sides[1])).0;
        let b = median_range(f(&mut sides[0])).0;
        a / b
    };
    println!(
        "-- Powertools ÷ inlet-consumer: CPU per new record {:.1}×, per duplicate {:.1}×",
        ratio(|s| &mut s.cpu_new, &mut sides),
        ratio(|s| &mut s.cpu_dup, &mut sides)
    );
}
