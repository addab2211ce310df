//! The Lambda binaries as Lambda runs them (a loopback Runtime API, moto behind a counting
//! proxy): binary size, cold start (process start → first poll of the Runtime API, and →
//! first event answered), peak RSS, and AWS API calls per event next to the floor.
//! Prints numbers; asserts nothing. Run by `scripts/bench` (moto started around it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use inlet_tests::bench::spawn_binary as spawn;
use inlet_tests::faults::{forward_all, FaultProxy};
use inlet_tests::moto::Moto;
use inlet_tests::runtime_api::{binary, RuntimeApi};
use inlet_tests::*;

fn webhook_event(id: &str) -> serde_json::Value {
    stripe_http_event(
        &stripe_event(id, "invoice.paid", &format!("in_{id}"), now_unix()),
        STRIPE_SECRET,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let moto = Moto::connect().await;
    let proxy = FaultProxy::start(&moto.endpoint, forward_all()).await;
    let (q, dlq) = moto.queues(5, false).await;
    let table = moto.table().await;
    let bus = moto.bus().await;
    let env = inlet_tests::bench::stack_env(&q, &dlq, &table, &bus);

    println!(
        "# Lambda functions (release build, {} — Lambda runs arm64)",
        std::env::consts::ARCH
    );
    println!("\n## size and cold start (median of 5 starts)");
    for name in ["webhook", "worker", "reconciler"] {
        let size = std::fs::metadata(binary(name)).unwrap().len();
        let mut polls = Vec::new();
        for _ in 0..5 {
            let api = RuntimeApi::start().await;
            let (_f, started) = spawn(name, &api, &proxy.endpoint, &env);
            while api.first_poll.lock().unwrap().is_none()
                && started.elapsed() < Duration::from_secs(10)
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            polls.push(
                api.first_poll
                    .lock()
                    .unwrap()
                    .map(|t| t - started)
                    .unwrap_or_default(),
            );
        }
        polls.sort();
        println!(
            "{name:<11} {:>6.1} MiB   start → first Runtime API poll {:>6.1} ms (target ≤ 30 ms)",
            size as f64 / 1048576.0,
            ms(polls[2])
        );
    }

    println!(
        "\n## events through the webhook and the worker; AWS API calls per event vs the floor"
    );
    let n = 100usize;
    let api = RuntimeApi::start().await;
    let (webhook, started) = spawn("webhook", &api, &proxy.endpoint, &env);
    let before = proxy.count("AmazonSQS.SendMessage");
    api.invoke("w-0", webhook_event("evt_bench_0"));
    let first = api
        .response("w-0", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["statusCode"], 202);
    let first_event = started.elapsed();
    let t = Instant::now();
    for i in 1..n {
        api.invoke(&format!("w-{i}"), webhook_event(&format!("evt_bench_{i}")));
    }
    api.response(&format!("w-{}", n - 1), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let per_event = t.elapsed() / (n as u32 - 1);
    let sends = proxy.count("AmazonSQS.SendMessage") - before;
    println!(
        "webhook     first event answered {:>6.1} ms after start; warm {:>5.2} ms/event; peak RSS {:>5.1} MiB; SendMessage {:.2}/event (floor 1)",
        ms(first_event),
        ms(per_event),
        webhook.peak_rss_kib() as f64 / 1024.0,
        sends as f64 / n as f64
    );

    // The worker gets the queue's messages in batches of 10, as the event source mapping would.
    let api = RuntimeApi::start().await;
    let (worker, _) = spawn("worker", &api, &proxy.endpoint, &env);
    let mut batches: Vec<serde_json::Value> = Vec::new();
    loop {
        // Hidden long enough for the whole queue to be taken into batches.
        let batch = moto
            .sqs_event(&q, "arn:aws:sqs:us-east-1:123456789012:inlet-work", 300)
            .await;
        if batch["Records"].as_array().unwrap().is_empty() {
            break;
        }
        batches.push(batch);
    }
    let events: usize = batches
        .iter()
        .map(|b| b["Records"].as_array().unwrap().len())
        .sum();
    let count = |t: &str| proxy.count(t);
    let (put0, upd0, pe0, get0) = (
        count("DynamoDB_20120810.PutItem"),
        count("DynamoDB_20120810.UpdateItem"),
        count("AWSEvents.PutEvents"),
        count("DynamoDB_20120810.GetItem"),
    );
    let t = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        api.invoke(&format!("b-{i}"), b.clone());
        api.response(&format!("b-{i}"), Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
    }
    let elapsed = t.elapsed();
    let per = |now: usize, before: usize| (now - before) as f64 / events as f64;
    println!(
        "worker      {events} events in {} batches, {:>5.2} ms/event; peak RSS {:>5.1} MiB",
        batches.len(),
        ms(elapsed) / events as f64,
        worker.peak_rss_kib() as f64 / 1024.0
    );
    println!(
        "            claim PutItem {:.2}/event (floor 1), complete UpdateItem {:.2}/event (floor 1), PutEvents {:.2}/event (floor 0.1), GetItem {:.2}/event (floor 0)",
        per(count("DynamoDB_20120810.PutItem"), put0),
        per(count("DynamoDB_20120810.UpdateItem"), upd0),
        per(count("AWSEvents.PutEvents"), pe0),
        per(count("DynamoDB_20120810.GetItem"), get0)
    );
    // The same batches again: every record a duplicate.
    let (put0, upd0, pe0, get0) = (
        count("DynamoDB_20120810.PutItem"),
        count("DynamoDB_20120810.UpdateItem"),
        count("AWSEvents.PutEvents"),
        count("DynamoDB_20120810.GetItem"),
    );
    for (i, b) in batches.iter().enumerate() {
        api.invoke(&format!("d-{i}"), b.clone());
        api.response(&format!("d-{i}"), Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
    }
    println!(
        "duplicates  PutItem {:.2}/event (one failed conditional write; floor 1), UpdateItem {:.2}, PutEvents {:.2}, GetItem {:.2} (floor 0)",
        per(count("DynamoDB_20120810.PutItem"), put0),
        per(count("DynamoDB_20120810.UpdateItem"), upd0),
        per(count("AWSEvents.PutEvents"), pe0),
        per(count("DynamoDB_20120810.GetItem"), get0)
    );
}
