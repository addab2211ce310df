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
