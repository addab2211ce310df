//! Production truth on AWS: the request limits, redrive semantics, error detail and
//! deadlines that moto alone hides. Every test here runs behind the strict proxy
//! (`inlet_tests::aws_limits`, `inlet_tests::move_tasks`), so a request AWS would refuse
//! fails here too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsEvent;
use inlet_aws::runtime::{ConfigSource, Resources};
use inlet_aws::{DynamoStore, EmfMetrics, EventBridgeSink};
use inlet_core::clock::SystemClock;
use inlet_core::envelope::SinkRecord;
use inlet_core::ids::EventKey;
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{Claim, DeadLetters, Ledger, Queue, RedriveSelector, Sink, SinkError};
use inlet_core::signature::Scheme;
use inlet_core::usecase::process::{Disposition, Done, Processor, WorkerStores};
use inlet_outbox::OutboxEvent;
use inlet_tests::aws_limits::{json_error, PUT_EVENTS_MAX_BYTES, PUT_EVENTS_MAX_ENTRIES};
use inlet_tests::faults::{chaos, forward_all, Action, Rule};
use inlet_tests::moto::Moto;
use inlet_tests::*;
use sha2::{Digest, Sha256};

fn record(key: &str, payload: serde_json::Value) -> SinkRecord {
    sink_record("github", "push", key, payload)
}

/// (entries, total entry size as AWS counts it) of each PutEvents.
type PutEventsLog = Arc<Mutex<Vec<(usize, usize)>>>;

/// Every PutEvents the proxy forwards.
fn put_events_log() -> (Rule, PutEventsLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let rule: Rule = Arc::new(move |target, _, body| {
        if target == "AWSEvents.PutEvents" {
            let req: serde_json::Value = serde_json::from_slice(body).unwrap();
            let entries = req["Entries"].as_array().unwrap();
            let bytes = entries
                .iter()
                .map(inlet_tests::aws_limits::put_events_entry_size)
                .sum();
            seen.lock().unwrap().push((entries.len(), bytes));
        }
        Action::Forward
    });
    (rule, log)
}

/// One receive from the observer queue: each event's `detail` with its receipt handle.
async fn receive_details(moto: &Moto, observer: &str) -> Vec<(serde_json::Value, String)> {
    let got = moto
        .sqs()
        .receive_message()
        .queue_url(observer)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    got.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            (v["detail"].clone(), m.receipt_handle.unwrap_or_default())
        })
        .collect()
}

/// The `detail` of every event the observer queue received, until `n` or a timeout.
async fn observed(moto: &Moto, observer: &str, n: usize) -> Vec<serde_json::Value> {
    let mut details = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while details.len() < n && Instant::now() < deadline {
        let got = receive_details(moto, observer).await;
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        details.extend(got.into_iter().map(|(detail, _)| detail));
    }
    details
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn put_events_requests_stay_within_ten_entries_and_256_kb() {
    let (rule, log) = put_events_log();
    let moto = Moto::connect_with(rule).await;
    let (bus, observer) = moto.bus_with_observer().await;
    let sink = EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&moto.sdk), bus);
    // Twelve records of ~60 KB: four fit in one request, not ten.
    let records: Vec<SinkRecord> = (0..12)
        .map(|i| {
            record(
                &format!("sized-{i}"),
                serde_json::json!({"blob": "x".repeat(60_000)}),
            )
        })
        .collect();
    let refs: Vec<&SinkRecord> = records.iter().collect();
    let results = sink.deliver_batch(&refs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|&(n, bytes)| n <= PUT_EVENTS_MAX_ENTRIES && bytes <= PUT_EVENTS_MAX_BYTES),
        "{requests:?}"
    );
    assert_eq!(requests.iter().map(|r| r.0).sum::<usize>(), 12);
    // Small records still share one request, ten at a time.
    log.lock().unwrap().clear();
    let small: Vec<SinkRecord> = (0..13)
        .map(|i| record(&format!("small-{i}"), serde_json::json!({"n": i})))
        .collect();
    let refs: Vec<&SinkRecord> = small.iter().collect();
    assert!(sink.deliver_batch(&refs).await.iter().all(Result::is_ok));
    // The requests go out concurrently: their order is not fixed.
    let mut entries: Vec<usize> = log.lock().unwrap().iter().map(|r| r.0).collect();
    entries.sort();
    assert_eq!(entries, [3, 10]);
    // Records delivered one by one at about the same time (FIFO groups, `inlet dev`) share
    // requests within the same limits.
    log.lock().unwrap().clear();
    let lone: Vec<SinkRecord> = (0..6)
        .map(|i| {
            record(
                &format!("lone-{i}"),
                serde_json::json!({"blob": "z".repeat(60_000)}),
            )
        })
        .collect();
    let results = futures::future::join_all(lone.iter().map(|r| sink.deliver(r))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let requests = log.lock().unwrap().clone();
    assert_eq!(
        requests.iter().map(|r| r.0).sum::<usize>(),
        6,
        "{requests:?}"
    );
    assert!(
        requests.len() >= 2,
        "six 60 KB entries do not fit one request: {requests:?}"
    );
    assert_eq!(observed(&moto, &observer, 31).await.len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn an_event_too_large_for_eventbridge_fails_alone_when_there_is_no_payload_bucket() {
    let moto = Moto::connect().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let sink = EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&moto.sdk), bus);
    let records = [
        record("before", serde_json::json!({"n": 1})),
        record("huge", serde_json::json!({"blob": "y".repeat(300_000)})),
        record("after", serde_json::json!({"n": 2})),
    ];
    let refs: Vec<&SinkRecord> = records.iter().collect();
    let results = sink.deliver_batch(&refs).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    match &results[1] {
        Err(SinkError::Permanent { message, .. }) => {
            assert!(message.contains("262144"), "{message}");
            assert!(message.contains("INLET_PAYLOAD_BUCKET"), "{message}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    let mut keys: Vec<String> = observed(&moto, &observer, 2)
        .await
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["github:after", "github:before"]);
}

/// A GitHub push of about `bytes` bytes: many commits, as a big merge sends.
fn github_push(bytes: usize) -> String {
    let commit = |i: usize| {
        serde_json::json!({
            "id": format!("{:040x}", i),
            "message": format!("commit {i}: {}", "refactor the importer ".repeat(8)),
            "author": {"name": "Dev", "email": "dev@example.com"},
            "added": [format!("src/module_{i}.rs")], "removed": [], "modified": ["Cargo.toml"]
        })
    };
    let one = commit(0).to_string().len() + 1;
    let commits: Vec<serde_json::Value> = (0..bytes / one).map(commit).collect();
    serde_json::json!({
        "ref": "refs/heads/main", "before": "0".repeat(40), "after": "f".repeat(40),
        "repository": {"id": 1, "full_name": "acme/shop"}, "commits": commits
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_900_kib_github_push_reaches_a_consumer_through_an_s3_reference() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let bucket = moto.bucket().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let arn = "arn:aws:sqs:us-east-1:123456789012:inlet";

    // Webhook: API Gateway event → verify → claim check (the envelope is over an SQS
    // message) → SQS.
    let body = github_push(900 * 1024);
    assert!(
        body.len() > 880 * 1024 && body.len() < 1024 * 1024,
        "{}",
        body.len()
    );
    let config_text = eventbridge_config(3);
    let webhook = webhook_with(
        &moto,
        &config_text,
        moto.queue_with_claim_check(&q, &dlq, &table),
    )
    .await;
    let mut event = event_fixture("apigw-http-v2.json");
    event["rawPath"] = "/webhooks/github".into();
    event["requestContext"]["http"]["path"] = "/webhooks/github".into();
    event["pathParameters"]["provider"] = "github".into();
    for (k, v) in signed(
        &Scheme::Github,
        GITHUB_SECRET,
        body.as_bytes(),
        now_unix(),
        "",
    ) {
        event["headers"][k.to_ascii_lowercase()] = v.into();
    }
    event["headers"]["x-github-event"] = "push".into();
    event["headers"]["x-github-delivery"] = "big-push-1".into();
    event["body"] = body.clone().into();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = inlet_webhook_fn::handle(&webhook, req).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.body());

    // Worker: SQS batch → claim → PutEvents with a reference, the record in S3.
    let resources = Resources {
        queue_url: q.clone(),
        dlq_url: dlq.clone(),
        table: table.clone(),
        event_bus: Some(bus),
        payload_bucket: Some(bucket.clone()),
        ..Default::default()
    };
    let (worker, _) = worker_with(&moto, &config_text, &resources);
    let batch: SqsEvent = serde_json::from_value(moto.sqs_event(&q, arn, 30).await).unwrap();
    assert_eq!(batch.records.len(), 1);
    let response = inlet_worker_fn::handle(&worker, batch, Some(Duration::from_secs(30))).await;
    assert!(response.batch_item_failures.is_empty());

    // Consumer: the event names the object; the object is the whole record.
    let details = observed(&moto, &observer, 1).await;
    assert_eq!(details.len(), 1);
    let detail = &details[0];
    assert_eq!(detail["key"], "github:big-push-1");
    assert!(detail["payload"].is_null(), "the payload is not inline");
    let reference = &detail["payload_ref"];
    assert_eq!(reference["bucket"], bucket.as_str());
    let object = moto
        .s3()
        .get_object()
        .bucket(reference["bucket"].as_str().unwrap())
        .key(reference["key"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(object.len() as u64, reference["bytes"].as_u64().unwrap());
    assert_eq!(
        hex::encode(Sha256::digest(&object)),
        reference["sha256"].as_str().unwrap()
    );
    let full: serde_json::Value = serde_json::from_slice(&object).unwrap();
    assert_eq!(full["key"], "github:big-push-1");
    assert_eq!(
        full["payload"],
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        "the consumer reads back the whole payload"
    );
}

/// Put `n` envelopes on the DLQ the way the worker does for a permanent failure: received
/// from the work queue, sent to the DLQ with a reason (no source queue in SQS's eyes).
async fn dead_letter_from_worker(queue: &inlet_aws::SqsQueue, prefix: &str, n: usize) {
    for i in 0..n {
        let body = stripe_event(&format!("{prefix}{i}"), "invoice.paid", "in_x", now_unix());
        queue.send(&stripe_envelope(&body)).await.unwrap();
    }
    let mut done = 0;
    while done < n {
        for m in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
            queue
                .dead_letter(&m.receipt, "sink http refused the event permanently: 422")
                .await
                .unwrap();
            done += 1;
        }
    }
}

/// Everything on the work queue: key → copies.
async fn drain(queue: &inlet_aws::SqsQueue) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    loop {
        let got = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if got.is_empty() {
            return copies;
        }
        for m in got {
            *copies
                .entry(m.envelope.unwrap().key.to_string())
                .or_insert(0) += 1;
        }
    }
}

async fn latest_task(
    moto: &Moto,
    dlq_arn: &str,
) -> aws_sdk_sqs::types::ListMessageMoveTasksResultEntry {
    moto.sqs()
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap()
        .results
        .unwrap()
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn redrive_names_the_work_queue_because_worker_dead_letters_have_no_source_queue() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let queue = moto.queue(&q, &dlq);
    dead_letter_from_worker(&queue, "evt_src_", 5).await;
    let dlq_arn = moto.queue_arn(&dlq).await;

    // The trap: a move task without a destination ("back to the source queue", the
    // console's default) fails on a message the worker dead-lettered itself.
    moto.sqs()
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let failed = loop {
        let task = latest_task(&moto, &dlq_arn).await;
        if task.status.as_deref() != Some("RUNNING") {
            break task;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failed.status.as_deref(), Some("FAILED"));
    assert!(
        failed
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("no source queue"),
        "{failed:?}"
    );

    // `inlet dlq redrive --all` names the work queue: everything comes back, once.
    let moved = queue.redrive(&RedriveSelector::All).await.unwrap();
    assert_eq!(moved, 5);
    let task = latest_task(&moto, &dlq_arn).await;
    assert_eq!(task.destination_arn, Some(moto.queue_arn(&q).await));
    let copies = drain(&queue).await;
    assert_eq!(copies.len(), 5, "{copies:?}");
    assert!(copies.values().all(|&c| c == 1), "{copies:?}");
    assert!(queue.list(10).await.unwrap().is_empty(), "the DLQ is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn an_interrupted_redrive_waits_for_the_running_task_instead_of_moving_twice() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let queue = Arc::new(moto.queue(&q, &dlq));
    dead_letter_from_worker(&queue, "evt_int_", 20).await;
    let dlq_arn = moto.queue_arn(&dlq).await;

    // The operator's first redrive is interrupted (Ctrl-C) while the task moves messages.
    let first = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.redrive(&RedriveSelector::All).await })
    };
    loop {
        let listed = moto
            .sqs()
            .list_message_move_tasks()
            .source_arn(&dlq_arn)
            .send()
            .await
            .unwrap()
            .results
            .unwrap_or_default();
        if listed
            .first()
            .is_some_and(|t| t.approximate_number_of_messages_moved >= 3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    assert_eq!(
        latest_task(&moto, &dlq_arn).await.status.as_deref(),
        Some("RUNNING")
    );

    // Run again: it attaches to the running task (SQS allows one per queue) and waits.
    let moved = queue.redrive(&RedriveSelector::All).await.unwrap();
    assert_eq!(moved, 20, "the task's own count, all of it");
    let copies = drain(&queue).await;
    assert_eq!(copies.len(), 20, "nothing lost: {copies:?}");
    assert!(
        copies.values().all(|&c| c == 1),
        "nothing twice: {copies:?}"
    );
    assert!(queue.list(10).await.unwrap().is_empty());
}

/// A sink that counts deliveries per key.
#[derive(Default)]
struct CountingSink(Mutex<HashMap<String, usize>>);

#[async_trait]
impl Sink for CountingSink {
    fn name(&self) -> &str {
        "counting"
    }
    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(record.key.clone())
            .or_insert(0) += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn the_one_by_one_fallback_loses_nothing_and_delivers_nothing_twice_when_interrupted() {
    // An SQS without message-move tasks (the fallback's home), whose DeleteMessage on the
    // DLQ fails for good (three attempts) once, mid-redrive.
    let dlq_deletes = Arc::new(AtomicUsize::new(0));
    let counter = dlq_deletes.clone();
    let rule: Rule = Arc::new(move |target, _, body| match target {
        "AmazonSQS.StartMessageMoveTask" | "AmazonSQS.ListMessageMoveTasks" => json_error(
            400,
            "sqs",
            "UnsupportedOperation",
            "This operation is not available here.",
        ),
        "AmazonSQS.DeleteMessage" if String::from_utf8_lossy(body).contains("-dlq") => {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if (2..5).contains(&n) {
                json_error(
                    500,
                    "sqs",
                    "InternalError",
                    "We encountered an internal error.",
                )
            } else {
                Action::Forward
            }
        }
        _ => Action::Forward,
    });
    let moto = Moto::connect_with(rule).await;
    let (q, dlq) = moto.queues(3, false).await;
    let queue = moto.queue(&q, &dlq);
    dead_letter_from_worker(&queue, "evt_fb_", 6).await;

    let err = queue.redrive(&RedriveSelector::All).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("DeleteMessage") && text.contains("InternalError"),
        "{text}"
    );
    // The rest of the received messages were released at once: the retry sees them now.
    let moved = queue.redrive(&RedriveSelector::All).await.unwrap();
    assert!(moved >= 3, "{moved}");
    assert!(queue.list(10).await.unwrap().is_empty(), "the DLQ is empty");

    // No loss: every key is back. At most the one message being moved has a second copy,
    // and the ledger makes that copy a duplicate, not a second delivery.
    let table = moto.table().await;
    let store = Arc::new(DynamoStore::new(moto.dynamodb(), table));
    let sink = Arc::new(CountingSink::default());
    let processor = Processor::from_config(
        &parse_config(&lambda_like_config()),
        WorkerStores::all(store),
        vec![sink.clone()],
        Arc::new(NoMetrics),
        Arc::new(SystemClock),
    );
    let mut copies = 0;
    let mut duplicates = 0;
    loop {
        let got = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            copies += 1;
            if processor.handle(&m).await == Disposition::Ack(Done::Duplicate) {
                duplicates += 1;
            }
            queue.ack(&m.receipt).await.unwrap();
        }
    }
    let delivered = sink.0.lock().unwrap().clone();
    assert_eq!(delivered.len(), 6, "nothing lost: {delivered:?}");
    assert!(
        delivered.values().all(|&n| n == 1),
        "nothing twice: {delivered:?}"
    );
    assert!(
        copies <= 7 && duplicates == copies - 6,
        "{copies} copies, {duplicates} duplicates"
    );
}

fn lambda_like_config() -> String {
    format!(
        "{}{}\n[[sinks]]\nkind = \"stdout\"\n",
        fast_worker_toml(3),
        providers_toml()
    )
}

/// The webhook function's dependencies on `queue`, secrets from the config text itself.
async fn webhook_with(
    moto: &Moto,
    config_text: &str,
    queue: inlet_aws::SqsQueue,
) -> inlet_webhook_fn::Deps {
    let source = ConfigSource::with_secret(&moto.sdk, config_text.to_string(), None);
    inlet_webhook_fn::Deps {
        config: RwLock::new(Arc::new(source.load().await.unwrap())),
        source,
        queue,
        metrics: EmfMetrics::new(),
        http: inlet_sources::provider_http::HttpProviderClient::for_tests(),
    }
}

/// The worker function's dependencies as its `main` builds them: the configured sinks on
/// the stack's `resources`, the ledger in its table, the queue with the claim check.
fn worker_with(
    moto: &Moto,
    config_text: &str,
    resources: &Resources,
) -> (inlet_worker_fn::Deps, Arc<DynamoStore>) {
    let config = inlet_core::config::Config::from_toml_without_secrets(config_text).unwrap();
    let sinks = inlet_aws::eventbridge::build_sinks(&config.sinks, &moto.sdk, resources, &[], None)
        .unwrap();
    worker_sinks(moto, resources, sinks, &config)
}

/// The worker function's dependencies with the given sinks, wired as its `main` wires them.
fn worker_sinks(
    moto: &Moto,
    resources: &Resources,
    sinks: Vec<Arc<dyn Sink>>,
    config: &inlet_core::config::Config,
) -> (inlet_worker_fn::Deps, Arc<DynamoStore>) {
    let store = Arc::new(DynamoStore::new(moto.dynamodb(), resources.table.clone()));
    let metrics = Arc::new(EmfMetrics::new());
    let deps = inlet_worker_fn::Deps {
        processor: Processor::from_config(
            config,
            WorkerStores::all(store.clone()),
            sinks,
            metrics.clone(),
            Arc::new(SystemClock),
        ),
        queue: moto.queue_with_claim_check(
            &resources.queue_url,
            &resources.dlq_url,
            &resources.table,
        ),
        metrics,
    };
    (deps, store)
}

fn eventbridge_config(max_receive: u32) -> String {
    format!(
        "{}{}\n[[sinks]]\nkind = \"eventbridge\"\n",
        fast_worker_toml(max_receive),
        providers_toml()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn aws_errors_carry_the_service_code_message_and_request_id() {
    let rule: Rule = Arc::new(|target, _, _| {
        match target {
        "AWSEvents.PutEvents" => json_error(
            400,
            "events",
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/inlet-worker is not authorized to perform: events:PutEvents",
        ),
        "DynamoDB_20120810.PutItem" => json_error(
            400,
            "dynamodb",
            "ResourceNotFoundException",
            "Requested resource not found",
        ),
        _ => Action::Forward,
    }
    });
    let moto = Moto::connect_with(rule).await;
    let sink = EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&moto.sdk), "inlet-bus");
    let r = record("denied", serde_json::json!({}));
    let results = sink.deliver_batch(&[&r]).await;
    let message = match &results[0] {
        Err(SinkError::Transient { message, .. }) => message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(message.contains("AccessDeniedException"), "{message}");
    assert!(
        message.contains("not authorized to perform: events:PutEvents"),
        "{message}"
    );
    assert!(
        message.contains("request id inlet-test-AccessDeniedException"),
        "{message}"
    );
    assert!(!message.contains("service error"), "{message}");

    let store = DynamoStore::new(moto.dynamodb(), "no-such-table");
    let key = EventKey::parse("stripe:evt_err").unwrap();
    let err = store
        .claim(
            &key,
            "h",
            time::OffsetDateTime::now_utc(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ResourceNotFoundException: Requested resource not found (HTTP 400"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn the_pipeline_loses_nothing_under_documented_throttling_and_5xx() {
    // Every fourth call of each operation fails: throttles refused before they act,
    // 5xx answered after the request took effect.
    let moto = Moto::connect_with(chaos(4, forward_all())).await;
    let (q, dlq) = moto.queues(5, false).await;
    let table = moto.table().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let arn = "arn:aws:sqs:us-east-1:123456789012:inlet";
    let config_text = eventbridge_config(5);
    let webhook = webhook_with(
        &moto,
        &config_text,
        moto.queue_with_claim_check(&q, &dlq, &table),
    )
    .await;
    let n = 20;
    for i in 0..n {
        let body = stripe_event(
            &format!("evt_chaos_{i}"),
            "invoice.paid",
            &format!("in_{i}"),
            now_unix(),
        );
        let req =
            lambda_http::request::from_str(&stripe_http_event(&body, STRIPE_SECRET).to_string())
                .unwrap();
        let resp = inlet_webhook_fn::handle(&webhook, req).await;
        // A 503 tells the provider to retry; it does.
        if resp.status() != 202 {
            assert_eq!(resp.status(), 503);
            let req = lambda_http::request::from_str(
                &stripe_http_event(&body, STRIPE_SECRET).to_string(),
            )
            .unwrap();
            assert_eq!(inlet_webhook_fn::handle(&webhook, req).await.status(), 202);
        }
    }
    let resources = Resources {
        queue_url: q.clone(),
        dlq_url: dlq.clone(),
        table: table.clone(),
        event_bus: Some(bus),
        ..Default::default()
    };
    let (worker, store) = worker_with(&moto, &config_text, &resources);
    // Typically ~30 s here (leases and backoff after the injected faults); room for a busy CI.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut completed = 0;
    while Instant::now() < deadline {
        let batch: SqsEvent = serde_json::from_value(moto.sqs_event(&q, arn, 30).await).unwrap();
        if !batch.records.is_empty() {
            inlet_worker_fn::handle(&worker, batch, Some(Duration::from_secs(30))).await;
        }
        completed = 0;
        for i in 0..n {
            let key = EventKey::parse(&format!("stripe:evt_chaos_{i}")).unwrap();
            if let Some(entry) = store
                .lookup(&key, time::OffsetDateTime::now_utc())
                .await
                .unwrap()
            {
                if matches!(
                    entry.state,
                    inlet_core::ports::LedgerState::Completed { .. }
                ) {
                    completed += 1;
                }
            }
        }
        if completed == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(completed, n, "every event completed despite the faults");
    let details = observed(&moto, &observer, n).await;
    let mut keys: Vec<String> = details
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_string())
        .collect();
    let published = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "every event reached the bus");
    println!("{published} events published for {n} keys (a 5xx after a PutEvents took effect re-publishes; consumers dedupe on detail.key)");
    assert!(
        moto.queue(&dlq, &dlq).list(10).await.unwrap().is_empty(),
        "nothing dead-lettered"
    );
    // The claims were real: a second claim of any key is a duplicate.
    let key = EventKey::parse("stripe:evt_chaos_0").unwrap();
    assert!(matches!(
        store
            .claim(
                &key,
                "",
                time::OffsetDateTime::now_utc(),
                Duration::from_secs(5)
            )
            .await
            .unwrap(),
        Claim::Duplicate { .. }
    ));
}

/// A minute in which 30 % of every AWS call the webhook function, the worker and the
/// outbox publisher make is throttled (refused before it acts, as AWS does): providers
/// see 503s and retry, the worker waits throttles out without using up receive counts
/// (the queue dead-letters after 3), the stream retries the publisher. Every event reaches
/// the bus exactly once and nothing is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_minute_of_throttling_loses_nothing_and_delivers_nothing_twice() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let (storm, rule) = inlet_tests::faults::Storm::new(30, forward_all());
    let moto = Moto::connect_with(rule).await;
    let aws_side = moto.direct().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let config_text = eventbridge_config(3);
    let webhook = webhook_with(
        &moto,
        &config_text,
        moto.queue_with_claim_check(&q, &dlq, &table),
    )
    .await;
    let resources = Resources {
        queue_url: q.clone(),
        dlq_url: dlq.clone(),
        table: table.clone(),
        event_bus: Some(bus),
        ..Default::default()
    };
    let (worker, _) = worker_with(&moto, &config_text, &resources);
    let publisher = inlet_publisher_fn::Deps {
        queue: moto.queue(&q, &dlq),
        db: moto.dynamodb(),
        table: table.clone(),
        metrics: EmfMetrics::new(),
    };
    let mut expected = std::collections::BTreeSet::new();
    let mut rejected_503 = 0;
    let mut stream_retries = 0;
    storm.start(Duration::from_secs(60));
    let mut i = 0;
    while storm.raging() {
        // A provider's webhook, retried on 503 as providers do.
        let body = stripe_event(
            &format!("evt_storm_{i}"),
            "invoice.paid",
            &format!("in_{i}"),
            now_unix(),
        );
        let mut answered = 0;
        for _ in 0..30 {
            let req = lambda_http::request::from_str(
                &stripe_http_event(&body, STRIPE_SECRET).to_string(),
            )
            .unwrap();
            answered = inlet_webhook_fn::handle(&webhook, req)
                .await
                .status()
                .as_u16();
            if answered == 202 {
                break;
            }
            assert_eq!(answered, 503, "a throttle is a 503 the provider retries");
            rejected_503 += 1;
        }
        assert_eq!(answered, 202);
        expected.insert(format!("stripe:evt_storm_{i}"));

        // An application's outbox write (retried by the application), then the stream's
        // record to the publisher (retried by the stream while it reports a failure).
        let event = OutboxEvent::new(
            "order",
            format!("ord_{i}"),
            "order.paid",
            serde_json::json!({"n": i}),
        );
        while moto
            .dynamodb()
            .transact_write_items()
            .transact_items(inlet_outbox::dynamodb::stage(&table, "shop", &event).unwrap())
            .send()
            .await
            .is_err()
        {}
        let image = aws_side
            .dynamodb()
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("O#{}", event.id)),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let stream_event: aws_lambda_events::event::dynamodb::Event = serde_json::from_value(
            serde_json::json!({ "Records": [stream_record("INSERT", &format!("{i}00"), dynamodb_json(&image))] }),
        )
        .unwrap();
        for attempt in 0.. {
            let response = inlet_publisher_fn::handle(&publisher, stream_event.clone()).await;
            if response.batch_item_failures.is_empty() {
                break;
            }
            assert!(attempt < 30, "the publisher kept failing");
            stream_retries += 1;
        }
        expected.insert(format!("shop:{}", event.idempotency_key));

        worker_tick(&aws_side, &q, &worker).await;
        i += 1;
    }
    let throttled = storm.throttled();

    // After the storm: the queue drains (deferred copies come back within seconds).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen: HashMap<String, usize> = HashMap::new();
    while Instant::now() < deadline {
        worker_tick(&aws_side, &q, &worker).await;
        take_observed(&aws_side, &observer, &mut seen).await;
        if seen.len() >= expected.len() && queue_is_empty(&aws_side, &q).await {
            break;
        }
    }
    // Anything published late (a second copy) would arrive within the poll below.
    tokio::time::sleep(Duration::from_secs(2)).await;
    take_observed(&aws_side, &observer, &mut seen).await;
    println!(
        "{} events ({} webhooks, {} outbox) through a 60 s storm: {throttled} AWS calls throttled, {rejected_503} webhook 503s, {stream_retries} stream retries",
        expected.len(),
        i,
        i
    );
    assert!(throttled > 40, "the storm throttled only {throttled} calls");
    let keys: std::collections::BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(keys, expected, "every event reached the bus");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(
        aws_side
            .queue(&dlq, &dlq)
            .list(10)
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
}

/// One poll of the event source mapping: a batch from `q` to the worker, and what it did
/// not report failed deleted, as the mapping does.
async fn worker_tick(aws_side: &Moto, q: &str, worker: &inlet_worker_fn::Deps) {
    let arn = "arn:aws:sqs:us-east-1:123456789012:inlet";
    let batch: SqsEvent = serde_json::from_value(aws_side.sqs_event(q, arn, 30).await).unwrap();
    if batch.records.is_empty() {
        return;
    }
    let records = batch.records.clone();
    let response = inlet_worker_fn::handle(worker, batch, Some(Duration::from_secs(30))).await;
    let failed: std::collections::HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for r in records {
        if !failed.contains(r.message_id.as_deref().unwrap_or_default()) {
            aws_side
                .sqs()
                .delete_message()
                .queue_url(q)
                .receipt_handle(r.receipt_handle.unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Count by key every event the observer queue holds now, deleting what it read.
async fn take_observed(moto: &Moto, observer: &str, seen: &mut HashMap<String, usize>) {
    loop {
        let got = receive_details(moto, observer).await;
        if got.is_empty() {
            return;
        }
        for (detail, receipt) in got {
            *seen
                .entry(detail["key"].as_str().unwrap().to_string())
                .or_default() += 1;
            moto.sqs()
                .delete_message()
                .queue_url(observer)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
    }
}

/// The queue has nothing visible or in flight (deferred copies count as delayed).
async fn queue_is_empty(moto: &Moto, q: &str) -> bool {
    let attrs = moto
        .sqs()
        .get_queue_attributes()
        .queue_url(q)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    use aws_sdk_sqs::types::QueueAttributeName as A;
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .all(|a| attrs.get(a).is_none_or(|v| v == "0"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_worker_out_of_time_gives_its_records_back_undelivered() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let queue = moto.queue(&q, &dlq);
    for i in 0..3 {
        let body = stripe_event(
            &format!("evt_late_{i}"),
            "invoice.paid",
            "in_late",
            now_unix(),
        );
        queue.send(&stripe_envelope(&body)).await.unwrap();
    }
    let sink = Arc::new(CountingSink::default());
    let resources = Resources {
        queue_url: q.clone(),
        dlq_url: dlq.clone(),
        table,
        ..Default::default()
    };
    let (worker, store) = worker_sinks(
        &moto,
        &resources,
        vec![sink.clone()],
        &parse_config(&lambda_like_config()),
    );
    let batch: SqsEvent = serde_json::from_value(
        moto.sqs_event(&q, "arn:aws:sqs:us-east-1:123456789012:inlet", 600)
            .await,
    )
    .unwrap();
    assert_eq!(batch.records.len(), 3);
    // Less time left than the worker's margin: nothing is claimed or delivered.
    let response = inlet_worker_fn::handle(&worker, batch, Some(Duration::from_millis(500))).await;
    assert_eq!(response.batch_item_failures.len(), 3);
    assert!(sink.0.lock().unwrap().is_empty());
    let key = EventKey::parse("stripe:evt_late_0").unwrap();
    assert!(store
        .lookup(&key, time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .is_none());
    // Given back with a short delay, not the 600 s visibility they were received with.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        queue
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_webhook_out_of_time_answers_503_with_retry_after() {
    use lambda_http::RequestExt;
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let deps = webhook_with(&moto, &lambda_like_config(), moto.queue(&q, &dlq)).await;
    let body = stripe_event("evt_deadline", "invoice.paid", "in_d", now_unix());
    let mut context = lambda_http::Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + 100;
    let req = lambda_http::request::from_str(&stripe_http_event(&body, STRIPE_SECRET).to_string())
        .unwrap()
        .with_lambda_context(context);
    let resp = inlet_webhook_fn::handle(&deps, req).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));

    // With time to spare the same request is accepted.
    let mut context = lambda_http::Context::default();
    context.deadline = now_ms + 10_000;
    let req = lambda_http::request::from_str(&stripe_http_event(&body, STRIPE_SECRET).to_string())
        .unwrap()
        .with_lambda_context(context);
    assert_eq!(inlet_webhook_fn::handle(&deps, req).await.status(), 202);
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn aws_calls_and_the_signature_check_become_xray_subsegments() {
    use inlet_aws::xray::{TracedSpans, XrayLayer};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;
    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let sampled = Arc::new(Mutex::new(true));
    let header = sampled.clone();
    let layer = XrayLayer::new(
        daemon.local_addr().unwrap().to_string(),
        Box::new(move || {
            let s = if *header.lock().unwrap() { 1 } else { 0 };
            Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled={s}"))
        }),
    )
    .unwrap();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(layer.with_filter(TracedSpans)),
    );
    // Other tests run on other threads of this process with no subscriber: a callsite
    // they register at the same moment can keep a cached "never" interest (tracing's
    // global callsite cache), and the SDK's span would be skipped here. Recompute it.
    tracing::callsite::rebuild_interest_cache();

    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let deps = webhook_with(&moto, &lambda_like_config(), moto.queue(&q, &dlq)).await;
    let receive = |daemon: &std::net::UdpSocket| {
        let mut docs = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = daemon.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let (header, doc) = text.split_once('\n').unwrap();
            assert_eq!(header, r#"{"format":"json","version":1}"#);
            docs.push(serde_json::from_str::<serde_json::Value>(doc).unwrap());
        }
        docs
    };
    receive(&daemon); // the set-up's own calls
    let body = stripe_event("evt_traced", "invoice.paid", "in_t", now_unix());
    let req = lambda_http::request::from_str(&stripe_http_event(&body, STRIPE_SECRET).to_string())
        .unwrap();
    assert_eq!(inlet_webhook_fn::handle(&deps, req).await.status(), 202);
    let docs = receive(&daemon);
    let verify = docs
        .iter()
        .find(|d| d["name"] == "verify_signature")
        .unwrap_or_else(|| panic!("{docs:?}"));
    let send = docs
        .iter()
        .find(|d| d["name"] == "SQS" && d["aws"]["operation"] == "SendMessage")
        .unwrap_or_else(|| panic!("{docs:?}"));
    for d in [verify, send] {
        assert_eq!(d["trace_id"], ROOT);
        assert_eq!(d["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(d["type"], "subsegment");
        assert_eq!(d["id"].as_str().unwrap().len(), 16);
        assert!(d["end_time"].as_f64().unwrap() >= d["start_time"].as_f64().unwrap());
    }
    assert_eq!(send["namespace"], "aws");

    // An unsampled invocation sends nothing.
    *sampled.lock().unwrap() = false;
    let body = stripe_event("evt_untraced", "invoice.paid", "in_t", now_unix());
    let req = lambda_http::request::from_str(&stripe_http_event(&body, STRIPE_SECRET).to_string())
        .unwrap();
    assert_eq!(inlet_webhook_fn::handle(&deps, req).await.status(), 202);
    assert!(receive(&daemon).is_empty());
}
