//! `inlet-consumer` against the emulator, behind the strict AWS layer, fed the way a
//! deployed consumer is: Inlet's EventBridge sink publishes real sink records (large ones
//! through S3), a rule sends them to an SQS queue, and the consumer handles the batch the
//! event source mapping would deliver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use inlet_aws::large_events::{s3_client, LargeEvents};
use inlet_aws::EventBridgeSink;
use inlet_consumer::{Consumer, ConsumerError, IdempotencyStore, InletEvent, Settings};
use inlet_core::envelope::SinkRecord;
use inlet_core::ports::Sink;
use inlet_tests::moto::Moto;
use inlet_tests::sink_record;
use lambda_runtime::Context;
use serde_json::{json, Value};

const T0: i64 = 1_900_000_000_000;

struct Stack {
    moto: Moto,
    table: String,
    bucket: String,
    sink: EventBridgeSink,
    observer: String,
    /// The consumer's clock, Unix ms.
    now: Arc<AtomicI64>,
}

async fn stack() -> Stack {
    let moto = Moto::connect().await;
    let table = moto.table().await;
    let bucket = moto.bucket().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let sink = EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&moto.sdk), bus)
        .with_large_events(LargeEvents::new(s3_client(&moto.sdk), bucket.clone()));
    Stack {
        moto,
        table,
        bucket,
        sink,
        observer,
        now: Arc::new(AtomicI64::new(T0)),
    }
}

impl Stack {
    fn consumer(&self) -> Consumer {
        let now = self.now.clone();
        Consumer::new(
            IdempotencyStore::new(self.moto.dynamodb(), &self.table, "billing"),
            Some(s3_client(&self.moto.sdk)),
        )
        .with_settings(Settings {
            clock: Arc::new(move || now.load(Ordering::SeqCst)),
            ..Settings::default()
        })
    }

    /// An invocation context ending `secs` after the consumer's now.
    fn context(&self, secs: i64) -> Context {
        let mut ctx = Context::default();
        ctx.deadline = (self.now.load(Ordering::SeqCst) + secs * 1000) as u64;
        ctx
    }

    async fn publish(&self, records: &[SinkRecord]) {
        for r in records {
            self.sink.deliver(r).await.unwrap();
        }
    }

    /// The next `n` messages on the subscribed queue, as Lambda's SQS event.
    async fn batch(&self, n: usize) -> SqsEvent {
        let arn = self.moto.queue_arn(&self.observer).await;
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while records.len() < n && Instant::now() < deadline {
            let event = self.moto.sqs_event(&self.observer, &arn, 60).await;
            let got = event["Records"].as_array().cloned().unwrap_or_default();
            if got.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            records.extend(got);
        }
        assert_eq!(records.len(), n, "messages on the subscribed queue");
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    /// The one message on the subscribed queue, as the EventBridge event it carries.
    async fn event(&self) -> Value {
        let batch = self.batch(1).await;
        serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap()
    }
}

fn record(id: &str, payload: Value) -> SinkRecord {
    SinkRecord {
        entity: Some("in_1".into()),
        version: Some(7),
        ..sink_record("stripe", "invoice.paid", id, payload)
    }
}

/// Counts calls per key and answers a receipt numbered by that count.
#[derive(Clone, Default)]
struct Effects(Arc<Mutex<HashMap<String, usize>>>);

impl Effects {
    fn apply(&self, key: &str) -> String {
        let mut calls = self.0.lock().unwrap();
        let n = calls.entry(key.to_string()).or_default();
        *n += 1;
        format!("receipt {key} #{n}")
    }

    /// A handler that applies the effect and answers its receipt.
    fn handler(
        &self,
    ) -> impl Fn(InletEvent<Value>) -> std::future::Ready<Result<String, std::io::Error>> {
        let effects = self.clone();
        move |e| std::future::ready(Ok(effects.apply(&e.key)))
    }

    fn calls(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn each_key_is_handled_once_in_a_batch_and_across_invocations_with_the_stored_result() {
    let s = stack().await;
    let consumer = s.consumer();
    let effects = Effects::default();
    let a = record("evt_a", json!({"amount_paid": 1200}));
    let b = record("evt_b", json!({"amount_paid": 500}));
    // At-least-once publishing: evt_a is on the bus twice.
    s.publish(&[a.clone(), b, a.clone()]).await;

    let batch = s.batch(3).await;
    let handler = |e: InletEvent<Value>| {
        let effects = effects.clone();
        async move {
            assert!(e.payload["amount_paid"].is_i64());
            Ok::<_, std::io::Error>(effects.apply(&e.key))
        }
    };
    let response = consumer.handle_sqs(batch, &s.context(30), handler).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(effects.calls("stripe:evt_a"), 1);
    assert_eq!(effects.calls("stripe:evt_b"), 1);

    // A later invocation (the reconciliation poll found it again): the handler does not
    // run, and the caller gets the first handling's result.
    s.publish(&[a]).await;
    let event = s.event().await;
    let result: String = consumer
        .handle_eventbridge(event, &s.context(30), effects.handler())
        .await
        .unwrap();
    assert_eq!(result, "receipt stripe:evt_a #1");
    assert_eq!(effects.calls("stripe:evt_a"), 1);

    // Past the completion window it is news again (Powertools' expires_after_seconds).
    s.now.fetch_add(3601 * 1000, Ordering::SeqCst);
    s.publish(&[record("evt_a", json!({"amount_paid": 1200}))])
        .await;
    let event = s.event().await;
    let result: String = consumer
        .handle_eventbridge(event, &s.context(30), effects.handler())
        .await
        .unwrap();
    assert_eq!(result, "receipt stripe:evt_a #2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_crash_after_the_effect_holds_the_key_until_the_deadline_then_is_taken_over() {
    let s = stack().await;
    let consumer = s.consumer();
    let effects = Effects::default();
    s.publish(&[record("evt_crash", json!({"amount_paid": 10}))])
        .await;
    let event = s.event().await;

    // The effect happens, then the invocation dies before completing (its future is
    // dropped, as a killed sandbox's would be).
    let crashed = tokio::time::timeout(
        Duration::from_millis(300),
        consumer.process(event.clone(), s.now.load(Ordering::SeqCst) + 20_000, {
            let effects = effects.clone();
            move |e: InletEvent<Value>| async move {
                effects.apply(&e.key);
                std::future::pending::<Result<String, std::io::Error>>().await
            }
        }),
    )
    .await;
    assert!(crashed.is_err(), "the attempt was cut off");
    assert_eq!(effects.calls("stripe:evt_crash"), 1);

    // The retry inside the crashed invocation's time sees it in progress.
    s.now.fetch_add(10_000, Ordering::SeqCst);
    let retry = consumer
        .process(
            event.clone(),
            s.now.load(Ordering::SeqCst) + 20_000,
            effects.handler(),
        )
        .await;
    assert!(
        matches!(retry, Err(ConsumerError::InProgress { ref key, until_ms }) if key == "stripe:evt_crash" && until_ms == T0 + 20_000),
        "{retry:?}"
    );
    assert_eq!(effects.calls("stripe:evt_crash"), 1);

    // After the deadline the claim is taken over and the handler runs (at least once:
    // the crash lost the first result).
    s.now.fetch_add(10_001, Ordering::SeqCst);
    let taken: String = consumer
        .process(
            event.clone(),
            s.now.load(Ordering::SeqCst) + 20_000,
            effects.handler(),
        )
        .await
        .unwrap();
    assert_eq!(taken, "receipt stripe:evt_crash #2");
    let again: String = consumer
        .process(
            event,
            s.now.load(Ordering::SeqCst) + 20_000,
            |_: InletEvent<Value>| async { Ok::<_, std::io::Error>("must not run".to_string()) },
        )
        .await
        .unwrap();
    assert_eq!(again, taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn concurrent_invocations_with_one_key_run_the_handler_once() {
    let s = stack().await;
    s.publish(&[record("evt_race", json!({"amount_paid": 3}))])
        .await;
    let event = s.event().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let deadline = s.now.load(Ordering::SeqCst) + 30_000;
    let attempts = (0..4).map(|_| {
        let consumer = s.consumer();
        let event = event.clone();
        let runs = runs.clone();
        tokio::spawn(async move {
            consumer
                .process(event, deadline, move |_: InletEvent<Value>| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Long enough that every other attempt arrives while it runs.
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Ok::<_, std::io::Error>("done".to_string())
                })
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{results:?}");
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(ConsumerError::InProgress { .. }))),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_large_event_is_read_from_s3_and_a_tampered_object_is_refused() {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Invoice {
        lines: Vec<String>,
    }
    let s = stack().await;
    let consumer = s.consumer();
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("line {i:04} {}", "x".repeat(90)))
        .collect();
    s.publish(&[record("evt_big", json!({ "lines": lines }))])
        .await;
    let event = s.event().await;
    assert!(
        event["detail"]["payload"].is_null(),
        "published by reference"
    );
    let reference = event["detail"]["payload_ref"].clone();
    assert_eq!(reference["bucket"], s.bucket.as_str());

    // Tampered: same size, one byte changed. Refused before the handler, nothing claimed.
    let s3 = s3_client(&s.moto.sdk);
    let key = reference["key"].as_str().unwrap();
    let original = s3
        .get_object()
        .bucket(&s.bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec();
    let tampered =
        String::from_utf8(original.clone())
            .unwrap()
            .replacen("line 0001", "line 9991", 1);
    assert_eq!(tampered.len(), original.len());
    let put = |body: Vec<u8>| {
        s3.put_object()
            .bucket(&s.bucket)
            .key(key)
            .body(body.into())
            .send()
    };
    put(tampered.into_bytes()).await.unwrap();
    let refused = consumer
        .process(event.clone(), 0, |_: InletEvent<Invoice>| async {
            Ok::<_, std::io::Error>(0usize)
        })
        .await;
    assert!(
        matches!(&refused, Err(ConsumerError::Payload(m)) if m.contains("does not match")),
        "{refused:?}"
    );
    // Truncated: refused too.
    put(original[..original.len() / 2].to_vec()).await.unwrap();
    let refused = consumer
        .process(event.clone(), 0, |_: InletEvent<Invoice>| async {
            Ok::<_, std::io::Error>(0usize)
        })
        .await;
    assert!(
        matches!(refused, Err(ConsumerError::Payload(_))),
        "{refused:?}"
    );

    // The real object back: the handler sees the whole payload, typed.
    put(original).await.unwrap();
    let lines_seen = consumer
        .process(event, 0, |e: InletEvent<Invoice>| async move {
            assert_eq!(e.key, "stripe:evt_big");
            Ok::<_, std::io::Error>(e.payload.lines.len())
        })
        .await
        .unwrap();
    assert_eq!(lines_seen, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_changed_payload_is_a_mismatch_and_a_failed_handler_runs_again() {
    let s = stack().await;
    let consumer = s.consumer();
    let effects = Effects::default();
    s.publish(&[record("evt_f", json!({"amount_paid": 1}))])
        .await;
    let event = s.event().await;

    // The handler fails: its claim is given back, so the retry runs it.
    let failed = consumer
        .process(event.clone(), 0, |_: InletEvent<Value>| async {
            Err::<String, _>(std::io::Error::other("the ERP is down"))
        })
        .await;
    assert!(
        matches!(failed, Err(ConsumerError::Handler(_))),
        "{failed:?}"
    );
    let ok: String = consumer
        .process(event.clone(), 0, effects.handler())
        .await
        .unwrap();
    assert_eq!(ok, "receipt stripe:evt_f #1");

    // The same key with another payload: refused, the handler not run.
    s.publish(&[record("evt_f", json!({"amount_paid": 999}))])
        .await;
    let changed = s.event().await;
    let mismatch = consumer
        .process(changed, 0, |_: InletEvent<Value>| async {
            Ok::<_, std::io::Error>("must not run".to_string())
        })
        .await;
    assert!(
        matches!(&mismatch, Err(ConsumerError::PayloadMismatch { key }) if key == "stripe:evt_f"),
        "{mismatch:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn malformed_hostile_and_truncated_messages_fail_alone_in_their_batch() {
    let s = stack().await;
    let consumer = s.consumer();
    s.publish(&[record("evt_ok", json!({"amount_paid": 2}))])
        .await;
    let mut batch = s.batch(1).await;
    let good = batch.records[0].body.clone().unwrap();
    let hostile = [
        ("not-json", "{{{".to_string()),
        ("truncated", good[..good.len() / 2].to_string()),
        ("array", "[1,2]".to_string()),
        ("detail-not-object", r#"{"detail": "x"}"#.to_string()),
        ("no-key", r#"{"detail": {"provider": "stripe"}}"#.to_string()),
        (
            "huge-ref",
            json!({"detail": {"key": "stripe:evt_h", "payload": null, "payload_ref": {
                "uri": "s3://b/k", "bucket": "b", "key": "k", "bytes": 1u64 << 40, "sha256": "00"}}})
            .to_string(),
        ),
        (
            "missing-object",
            json!({"detail": {"key": "stripe:evt_m", "payload": null, "payload_ref": {
                "uri": format!("s3://{}/events/none.json", s.bucket), "bucket": s.bucket,
                "key": "events/none.json", "bytes": 10, "sha256": "00"}}})
            .to_string(),
        ),
    ];
    let template = batch.records[0].clone();
    for (id, body) in &hostile {
        let mut r = template.clone();
        r.message_id = Some(id.to_string());
        r.body = Some(body.clone());
        batch.records.push(r);
    }
    let mut empty = template.clone();
    empty.message_id = Some("no-body".into());
    empty.body = None;
    batch.records.push(empty);

    let runs = Arc::new(AtomicUsize::new(0));
    let response = consumer
        .handle_sqs(batch, &s.context(30), |_: InletEvent<Value>| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            }
        })
        .await;
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    let mut expected: Vec<String> = hostile.iter().map(|(id, _)| id.to_string()).collect();
    expected.push("no-body".into());
    expected.sort();
    assert_eq!(failed, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "only the good message ran");
}
