//! The outbox on AWS (moto): staging inside a real `TransactWriteItems` with a business
//! write in another table, and the publisher function fed the DynamoDB Stream event JSON
//! AWS documents for those items (`Records[].dynamodb.NewImage`, `SequenceNumber`, …).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use inlet_aws::EmfMetrics;
use inlet_outbox::{dynamodb, OutboxEvent};
use inlet_tests::moto::Moto;
use inlet_tests::{dynamodb_json, stream_record as record};

async fn orders_table(moto: &Moto) -> String {
    moto.table_keyed("id").await
}

fn order_paid(table: &str, order: &str, only_if_new: bool) -> TransactWriteItem {
    let mut put = Put::builder()
        .table_name(table)
        .item("id", AttributeValue::S(order.into()))
        .item("status", AttributeValue::S("paid".into()));
    if only_if_new {
        put = put.condition_expression("attribute_not_exists(id)");
    }
    TransactWriteItem::builder()
        .put(put.build().unwrap())
        .build()
}

async fn stored(moto: &Moto, table: &str, id: &str) -> HashMap<String, AttributeValue> {
    dynamodb::get(&moto.dynamodb(), table, id)
        .await
        .unwrap()
        .expect("the outbox item is stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn staged_with_the_business_write_or_not_at_all() {
    let moto = Moto::connect().await;
    let table = moto.table().await;
    let orders = orders_table(&moto).await;
    let db = moto.dynamodb();
    let event = OutboxEvent::new(
        "order",
        "ord_1",
        "order.paid",
        serde_json::json!({"total": 1200}),
    );
    db.transact_write_items()
        .transact_items(order_paid(&orders, "ord_1", true))
        .transact_items(dynamodb::stage(&table, "shop", &event).unwrap())
        .send()
        .await
        .unwrap();
    let item = stored(&moto, &table, &event.id).await;
    assert_eq!(item["status"].as_s().unwrap(), "pending");
    assert_eq!(
        item["idempotency_key"].as_s().unwrap(),
        &event.idempotency_key
    );
    assert!(item.contains_key("ttl"));

    // The business write's condition fails: the transaction is cancelled, outbox item too.
    let again = OutboxEvent::new("order", "ord_1", "order.paid", serde_json::json!({}));
    let err = db
        .transact_write_items()
        .transact_items(order_paid(&orders, "ord_1", true))
        .transact_items(dynamodb::stage(&table, "shop", &again).unwrap())
        .send()
        .await;
    assert!(
        err.is_err(),
        "the order exists: the transaction is cancelled"
    );
    assert!(dynamodb::get(&db, &table, &again.id)
        .await
        .unwrap()
        .is_none());

    // Refused before anything is sent.
    let too_big = OutboxEvent::new(
        "order",
        "o",
        "x",
        serde_json::json!({"blob": "x".repeat(400 * 1024)}),
    );
    assert!(dynamodb::stage(&table, "shop", &too_big).is_err());
    assert!(dynamodb::stage(&table, "Not A Name", &event).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn the_publisher_enqueues_outbox_inserts_parks_poison_and_marks_published() {
    let moto = Moto::connect().await;
    let table = moto.table().await;
    let (q, dlq) = moto.queues(5, false).await;
    let db = moto.dynamodb();
    let event = OutboxEvent::new(
        "order",
        "ord_7",
        "order.paid",
        serde_json::json!({"total": 1200}),
    )
    .with_idempotency_key("order.paid:ord_7")
    .with_correlation_id("req-7");
    db.transact_write_items()
        .transact_items(dynamodb::stage(&table, "shop", &event).unwrap())
        .send()
        .await
        .unwrap();
    let image = dynamodb_json(&stored(&moto, &table, &event.id).await);
    let mut poison = image.clone();
    poison["pk"] = serde_json::json!({ "S": "O#poison" });
    poison["payload"] = serde_json::json!({ "S": "{not json" });
    let mut modified = image.clone();
    modified["status"] = serde_json::json!({ "S": "published" });
    let not_outbox =
        serde_json::json!({ "pk": { "S": "stripe:evt_1" }, "st": { "S": "COMPLETED" } });
    let stream_event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(serde_json::json!({
            "Records": [
                record("INSERT", "100", image),
                record("INSERT", "200", poison),
                record("MODIFY", "300", modified),
                record("INSERT", "400", not_outbox),
            ]
        }))
        .unwrap();

    let deps = inlet_publisher_fn::Deps {
        queue: moto.queue(&q, &dlq),
        db: db.clone(),
        table: table.clone(),
        metrics: EmfMetrics::new(),
    };
    let response = inlet_publisher_fn::handle(&deps, stream_event.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // One envelope on the work queue, keyed for the consumers to dedupe.
    let got = moto
        .sqs()
        .receive_message()
        .queue_url(&q)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = got.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    let env =
        inlet_core::envelope::Envelope::from_json(messages[0].body().unwrap().as_bytes()).unwrap();
    assert_eq!(env.key.as_str(), "shop:order.paid:ord_7");
    assert_eq!(env.source, inlet_core::envelope::Source::Outbox);
    assert_eq!(env.entity.as_deref(), Some("order/ord_7"));
    assert_eq!(env.correlation_id, "req-7");
    // The poison item is in the DLQ with its reason, not blocking the shard.
    let dead = moto
        .sqs()
        .receive_message()
        .queue_url(&dlq)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    let reason = format!("{:?}", dead[0].message_attributes);
    assert!(reason.contains("payload is not JSON"), "{reason}");
    // Observable: published, when, after how many attempts.
    let item = stored(&moto, &table, &event.id).await;
    assert_eq!(item["status"].as_s().unwrap(), "published");
    assert!(item.contains_key("published_at"));
    assert_eq!(item["attempts"].as_n().unwrap(), "1");

    // A queue that does not take the message: the record is reported for the stream to
    // retry from, by its sequence number.
    let broken = inlet_publisher_fn::Deps {
        queue: moto.queue(&format!("{q}-gone"), &format!("{dlq}-gone")),
        db,
        table,
        metrics: EmfMetrics::new(),
    };
    let response = inlet_publisher_fn::handle(&broken, stream_event).await;
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["100", "200"]);
}

/// The on-failure record Lambda sends for a DynamoDB stream batch it gave up on, as AWS
/// documents it (Lambda developer guide, "services-dynamodb-errors": an invocation record
/// with `DDBStreamBatchInfo`).
fn stream_batch_failure(last_record_at: &str) -> String {
    serde_json::json!({
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:publisher",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-28T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001573689847184-864758bb",
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276362",
            "approximateArrivalOfFirstRecord": last_record_at,
            "approximateArrivalOfLastRecord": last_record_at,
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/inlet/stream/2026-11-14T00:04:06.388"
        }
    })
    .to_string()
}

/// The stack's pieces an operator's outbox commands use: the table, the work queue and its
/// DLQ, and the OutboxFailures queue.
struct OutboxStack {
    table: String,
    q: String,
    dlq: String,
    failures: String,
}

impl OutboxStack {
    async fn new(moto: &Moto) -> OutboxStack {
        let table = moto.table().await;
        let (q, dlq) = moto.queues(3, false).await;
        let failures = moto
            .sqs()
            .create_queue()
            .queue_name(inlet_tests::moto::unique("outbox-failures"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        OutboxStack {
            table,
            q,
            dlq,
            failures,
        }
    }

    /// The environment `inlet … --backend aws` reads them from.
    fn env<'a>(
        table: &'a str,
        q: &'a str,
        dlq: &'a str,
        failures: &'a str,
    ) -> [(&'static str, &'a str); 4] {
        [
            ("INLET_QUEUE_URL", q),
            ("INLET_DLQ_URL", dlq),
            ("INLET_TABLE", table),
            ("INLET_OUTBOX_FAILURES_URL", failures),
        ]
    }
}

/// The variables that name a stack's work queue, DLQ and table (what `inlet … --backend
/// aws` and the functions read).
pub(crate) fn stack_env<'a>(
    queue: &'a str,
    dlq: &'a str,
    table: &'a str,
) -> [(&'static str, &'a str); 3] {
    [
        ("INLET_QUEUE_URL", queue),
        ("INLET_DLQ_URL", dlq),
        ("INLET_TABLE", table),
    ]
}

/// `inlet ARGS --backend aws` against the stack `env` names on the emulator.
pub(crate) fn inlet_on_stack(
    args: &[&str],
    moto: &Moto,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.extend(["--backend", "aws"]);
    inlet_aws(&all, moto, env)
}

/// `inlet` as an operator runs it against a deployed stack (here the emulator).
pub(crate) fn inlet_aws(args: &[&str], moto: &Moto, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stream gave up on some staged events (the publisher never marked them): the
/// operator sees them and the failed batches, and `inlet outbox redrive` publishes them
/// exactly as the publisher would, then clears the failure records it covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn events_the_stream_gave_up_on_are_seen_and_redriven() {
    let moto = Moto::connect().await;
    let OutboxStack {
        table,
        q,
        dlq,
        failures,
    } = OutboxStack::new(&moto).await;
    let sqs = moto.sqs();
    let db = moto.dynamodb();
    let events: Vec<OutboxEvent> = (0..3)
        .map(|i| {
            OutboxEvent::new(
                "order",
                format!("ord_{i}"),
                "order.paid",
                serde_json::json!({"n": i}),
            )
        })
        .collect();
    for e in &events {
        db.transact_write_items()
            .transact_items(dynamodb::stage(&table, "shop", e).unwrap())
            .send()
            .await
            .unwrap();
    }
    // The publisher got the first one through; the stream gave up on the other two.
    dynamodb::mark_published(&db, &table, &events[0].id, 1)
        .await
        .unwrap();
    // One batch whose records arrived as they were staged (now), one from the future
    // (records a redrive with any cutoff cannot have covered).
    let now = (time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for at in [now.as_str(), "2999-01-01T00:00:00Z"] {
        sqs.send_message()
            .queue_url(&failures)
            .message_body(stream_batch_failure(at))
            .send()
            .await
            .unwrap();
    }
    let env = OutboxStack::env(&table, &q, &dlq, &failures);

    let (code, out, err) = inlet_aws(&["outbox", "--backend", "aws", "--json"], &moto, &env);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["pending"], 2, "{status}");
    assert_eq!(status["failed_stream_batches"], 2, "{status}");
    // Younger than five minutes: not yet called stuck.
    assert_eq!(
        status["stuck_events"].as_array().unwrap().len(),
        0,
        "{status}"
    );
    let (code, _, err) = inlet_aws(&["dlq", "list", "--backend", "aws"], &moto, &env);
    assert_eq!(code, 0);
    assert!(
        err.contains("the outbox publisher gave up on 2 stream batch(es)"),
        "{err}"
    );

    // Items staged in the last five minutes may still be on their way: left alone, and
    // so are the failure records of batches that recent.
    let (code, out, err) = inlet_aws(&["outbox", "redrive", "--backend", "aws"], &moto, &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("published 0 outbox event(s)"), "{out}");
    assert!(
        out.contains("cleared 0 failed stream batch record(s); kept 2"),
        "{out}"
    );
    let (code, out, err) = inlet_aws(
        &["outbox", "redrive", "--backend", "aws", "--older-than", "0"],
        &moto,
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("published 2 outbox event(s)"), "{out}");
    assert!(
        out.contains("cleared 1 failed stream batch record(s); kept 1"),
        "{out}"
    );

    // On the work queue as the publisher enqueues them: the worker takes it from here.
    let queue = moto.queue(&q, &dlq);
    use inlet_core::ports::Queue as _;
    let got = queue
        .receive(10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let mut keys: Vec<String> = got
        .iter()
        .map(|m| {
            let env = m.envelope.as_ref().unwrap();
            assert_eq!(env.source, inlet_core::envelope::Source::Outbox);
            env.key.to_string()
        })
        .collect();
    keys.sort();
    let mut want: Vec<String> = events[1..]
        .iter()
        .map(|e| format!("shop:{}", e.idempotency_key))
        .collect();
    want.sort();
    assert_eq!(keys, want);
    for e in &events[1..] {
        let item = stored(&moto, &table, &e.id).await;
        assert_eq!(item["status"].as_s().unwrap(), "published");
        assert!(!item.contains_key("pq"), "out of the pending index");
    }
    let (_, out, _) = inlet_aws(&["outbox", "--backend", "aws", "--json"], &moto, &env);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            status["pending"].as_u64(),
            status["failed_stream_batches"].as_u64()
        ),
        (Some(0), Some(1))
    );
}

/// An item that can never be published as staged: marked failed with its reason and out of
/// the pending index, named in the DLQ, listed by `inlet outbox` (with the failed stream
/// batches by shard and sequence), passed by `redrive`, published by `redrive --id` once
/// fixed, removed by `discard --id`; the good item beside it is published once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn an_unpublishable_item_is_marked_failed_named_and_out_of_the_way() {
    let moto = Moto::connect().await;
    let OutboxStack {
        table,
        q,
        dlq,
        failures,
    } = OutboxStack::new(&moto).await;
    let sqs = moto.sqs();
    let db = moto.dynamodb();
    let staged: Vec<OutboxEvent> = ["good", "broken", "hopeless"]
        .iter()
        .map(|n| {
            OutboxEvent::new(
                "order",
                format!("ord_{n}"),
                "order.paid",
                serde_json::json!({"n": n}),
            )
            .with_idempotency_key(format!("order.paid:{n}"))
        })
        .collect();
    for e in &staged {
        db.transact_write_items()
            .transact_items(dynamodb::stage(&table, "shop", e).unwrap())
            .send()
            .await
            .unwrap();
    }
    // The application wrote two items wrong (as a bug would): a payload that is not JSON.
    for e in &staged[1..] {
        db.update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("O#{}", e.id)))
            .update_expression("SET payload = :p")
            .expression_attribute_values(":p", AttributeValue::S("{not json".into()))
            .send()
            .await
            .unwrap();
    }
    let mut records = Vec::new();
    for (i, e) in staged.iter().enumerate() {
        let image = dynamodb_json(&stored(&moto, &table, &e.id).await);
        records.push(record("INSERT", &format!("{}00", i + 1), image));
    }
    let stream_event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let deps = inlet_publisher_fn::Deps {
        queue: moto.queue(&q, &dlq),
        db: db.clone(),
        table: table.clone(),
        metrics: EmfMetrics::new(),
    };
    let response = inlet_publisher_fn::handle(&deps, stream_event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // Marked failed with the reason, out of the pending index.
    for e in &staged[1..] {
        let item = stored(&moto, &table, &e.id).await;
        assert_eq!(item["status"].as_s().unwrap(), "failed");
        assert!(item["last_error"]
            .as_s()
            .unwrap()
            .contains("payload is not JSON"));
        // Spread like pending items: a storm of bad stagings is no hot partition.
        assert!(item["pq"].as_s().unwrap().starts_with("outbox-failed#"));
    }
    // One as the layout before the spread marked it: still listed.
    db.update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("O#{}", staged[1].id)))
        .update_expression("SET pq = :legacy")
        .expression_attribute_values(":legacy", AttributeValue::S("outbox-failed".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(dynamodb::pending_count(&db, &table).await.unwrap().0, 0);
    let listed = dynamodb::failed(&db, &table, 10).await.unwrap();
    assert_eq!(listed.len(), 2);

    // The dead letters name the outbox and item.
    let env = OutboxStack::env(&table, &q, &dlq, &failures);
    let (code, out, err) = inlet_aws(&["dlq", "list", "--backend", "aws", "--json"], &moto, &env);
    assert_eq!(code, 0, "{err}");
    let keys: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{out}");
    for d in &keys {
        let key = d["key"].as_str().unwrap();
        assert!(key.starts_with("outbox:shop:order.paid:"), "{d}");
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("outbox shop item O#") && reason.contains("payload is not JSON"),
            "{reason}"
        );
    }
    // A redriven dead letter meets a worker that says what to do, not a parse error.
    let image = dynamodb_json(&stored(&moto, &table, &staged[1].id).await).to_string();
    let why = inlet_core::envelope::Envelope::decode(image.as_bytes()).unwrap_err();
    assert!(
        why.contains(&format!("inlet outbox redrive --id {}", staged[1].id)),
        "{why}"
    );

    // `inlet outbox` lists them under failed with the reason, and a failed stream batch
    // by shard and sequence range — twice alike (listing consumes nothing).
    sqs.send_message()
        .queue_url(&failures)
        .message_body(stream_batch_failure("2026-11-28T00:13:40Z"))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let (code, out, err) = inlet_aws(&["outbox", "--backend", "aws"], &moto, &env);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("pending 0"), "{out}");
        assert!(
            out.contains("failed shop:order.paid:broken") && out.contains("payload is not JSON"),
            "{out}"
        );
        assert!(
            out.contains("shard shardId-00000001573689847184-864758bb"),
            "{out}"
        );
        assert!(
            out.contains("sequence 800000000003126276362..800000000003126276362"),
            "{out}"
        );
    }
    let (_, out, _) = inlet_aws(&["outbox", "--backend", "aws", "--json"], &moto, &env);
    let status: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        status["failed_events"].as_array().unwrap().len(),
        2,
        "{status}"
    );
    assert_eq!(status["failed_batches"][0]["batch_size"], 1, "{status}");

    // `redrive` passes them by (a clean run); `--id` on a still-broken item says why.
    let (code, out, err) = inlet_aws(
        &["outbox", "redrive", "--backend", "aws", "--older-than", "0"],
        &moto,
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published 0 outbox event(s)"), "{out}");
    let broken = staged[1].id.as_str();
    let (code, _, err) = inlet_aws(
        &["outbox", "redrive", "--backend", "aws", "--id", broken],
        &moto,
        &env,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("still cannot become an event"), "{err}");
    // Fixed by the application: published once, by id.
    db.update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("O#{broken}")))
        .update_expression("SET payload = :p")
        .expression_attribute_values(":p", AttributeValue::S("{\"n\":\"broken\"}".into()))
        .send()
        .await
        .unwrap();
    let (code, out, err) = inlet_aws(
        &["outbox", "redrive", "--backend", "aws", "--id", broken],
        &moto,
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("published as shop:order.paid:broken"), "{out}");
    assert_eq!(
        stored(&moto, &table, broken).await["status"]
            .as_s()
            .unwrap(),
        "published"
    );
    // The hopeless one is discarded; a second discard finds nothing.
    let hopeless = staged[2].id.as_str();
    let (code, out, err) = inlet_aws(
        &["outbox", "discard", "--backend", "aws", "--id", hopeless],
        &moto,
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("discarded"), "{out}");
    assert!(dynamodb::get(&db, &table, hopeless)
        .await
        .unwrap()
        .is_none());
    let (code, _, err) = inlet_aws(
        &["outbox", "discard", "--backend", "aws", "--id", hopeless],
        &moto,
        &env,
    );
    assert_eq!(code, 4, "{err}");
    assert!(dynamodb::failed(&db, &table, 10).await.unwrap().is_empty());

    // The work queue holds the good event and the fixed one, once each.
    let mut keys = Vec::new();
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(&q)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            let env =
                inlet_core::envelope::Envelope::from_json(m.body().unwrap().as_bytes()).unwrap();
            keys.push(env.key.to_string());
        }
    }
    keys.sort();
    assert_eq!(keys, ["shop:order.paid:broken", "shop:order.paid:good"]);
}

/// Staged items spread over the pending index's partitions (no one hot partition for the
/// application's writes), and reading them back stays whole and oldest first — an item
/// staged before the sharding (`pq = "outbox"`) included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn pending_items_spread_over_partitions_and_read_back_oldest_first() {
    let moto = Moto::connect().await;
    let table = moto.table().await;
    let db = moto.dynamodb();
    let mut ids = Vec::new();
    for i in 0..40 {
        let e = OutboxEvent::new(
            "order",
            format!("ord_{i}"),
            "order.paid",
            serde_json::json!({"n": i}),
        );
        db.transact_write_items()
            .transact_items(dynamodb::stage(&table, "shop", &e).unwrap())
            .send()
            .await
            .unwrap();
        ids.push(e.id);
    }
    // One item as the unsharded layout staged it, older than all the others.
    db.update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("O#{}", ids[0])))
        .update_expression("SET pq = :legacy, pa = :old, created_at = :old")
        .expression_attribute_values(":legacy", AttributeValue::S("outbox".into()))
        .expression_attribute_values(":old", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let partitions: std::collections::BTreeSet<String> = {
        let mut p = std::collections::BTreeSet::new();
        for id in &ids[1..] {
            p.insert(
                stored(&moto, &table, id).await["pq"]
                    .as_s()
                    .unwrap()
                    .clone(),
            );
        }
        p
    };
    assert!(
        partitions.len() >= 8,
        "40 items in {} partitions: {partitions:?}",
        partitions.len()
    );
    assert!(partitions.iter().all(|p| p.starts_with("outbox#")));

    let (count, oldest) = dynamodb::pending_count(&db, &table).await.unwrap();
    assert_eq!((count, oldest), (40, Some(1)));
    let all = dynamodb::pending(&db, &table, i64::MAX, 100).await.unwrap();
    assert_eq!(all.len(), 40);
    assert!(
        all.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "oldest first"
    );
    assert_eq!(all[0].id, ids[0], "the legacy item is read too");
    let first5 = dynamodb::pending(&db, &table, i64::MAX, 5).await.unwrap();
    assert_eq!(
        first5.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        all[..5].iter().map(|i| i.id.clone()).collect::<Vec<_>>()
    );
}
